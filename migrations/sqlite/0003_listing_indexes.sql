-- Listing at scale: every list order the API offers has an index in exactly that order
-- (case-insensitive titles, ids as the tie-breaker in the same direction), so a page of a list
-- is an index range scan, and its row ids come from the index alone (the rows are read only
-- for the page shown).
DROP INDEX IF EXISTS documents_folder;
DROP INDEX IF EXISTS documents_owner_created;
CREATE INDEX documents_folder_title ON documents(folder_id, trashed_at, title COLLATE NOCASE, id);
CREATE INDEX documents_folder_created ON documents(folder_id, trashed_at, created_at, id);
CREATE INDEX documents_owner_title ON documents(owner_id, trashed_at, title COLLATE NOCASE, id);
CREATE INDEX documents_owner_created ON documents(owner_id, trashed_at, created_at, id);
DROP INDEX IF EXISTS folders_parent;
CREATE INDEX folders_parent ON folders(parent_id, trashed_at, name COLLATE NOCASE, id);

-- Search at scale: the full-text index carries each row's owner as an indexed token ('u' || id),
-- so a search walks only that user's part of a word's list, and the newest matches of a very
-- common word can be found without ranking all of them. Rebuilt once, here, from the old index.
CREATE VIRTUAL TABLE search_index_v3 USING fts5(
    body,
    owner,
    document_id UNINDEXED,
    page_number UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO search_index_v3 (rowid, body, owner, document_id, page_number)
    SELECT s.rowid, s.body, 'u' || d.owner_id, s.document_id, s.page_number
    FROM search_index s JOIN documents d ON d.id = s.document_id;
DROP TABLE search_index;
ALTER TABLE search_index_v3 RENAME TO search_index;
