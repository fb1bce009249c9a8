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

