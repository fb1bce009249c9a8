-- Live (not trashed) document counts per folder and per owner, kept by the database itself, so a
-- list's total is one row read instead of counting up to every document of a library.
-- Every folder and every user has a row from the start; triggers only ever update rows.
CREATE TABLE folder_document_counts (
    folder_id INTEGER PRIMARY KEY REFERENCES folders(id) ON DELETE CASCADE,
    live      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE owner_document_counts (
    owner_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    live     INTEGER NOT NULL DEFAULT 0
);
INSERT INTO folder_document_counts (folder_id, live)
    SELECT f.id, (SELECT COUNT(*) FROM documents d WHERE d.folder_id = f.id AND d.trashed_at IS NULL) FROM folders f;
INSERT INTO owner_document_counts (owner_id, live)
    SELECT u.id, (SELECT COUNT(*) FROM documents d WHERE d.owner_id = u.id AND d.trashed_at IS NULL) FROM users u;

CREATE TRIGGER folders_count_row AFTER INSERT ON folders BEGIN
    INSERT OR IGNORE INTO folder_document_counts (folder_id, live) VALUES (NEW.id, 0);
END;
CREATE TRIGGER users_count_row AFTER INSERT ON users BEGIN
    INSERT OR IGNORE INTO owner_document_counts (owner_id, live) VALUES (NEW.id, 0);
END;
CREATE TRIGGER documents_count_insert AFTER INSERT ON documents WHEN NEW.trashed_at IS NULL BEGIN
    UPDATE folder_document_counts SET live = live + 1 WHERE folder_id = NEW.folder_id;
    UPDATE owner_document_counts SET live = live + 1 WHERE owner_id = NEW.owner_id;
END;
CREATE TRIGGER documents_count_delete AFTER DELETE ON documents WHEN OLD.trashed_at IS NULL BEGIN
    UPDATE folder_document_counts SET live = live - 1 WHERE folder_id = OLD.folder_id;
    UPDATE owner_document_counts SET live = live - 1 WHERE owner_id = OLD.owner_id;
END;
CREATE TRIGGER documents_count_update AFTER UPDATE OF folder_id, owner_id, trashed_at ON documents
    WHEN OLD.folder_id IS NOT NEW.folder_id OR OLD.owner_id IS NOT NEW.owner_id
      OR (OLD.trashed_at IS NULL) IS NOT (NEW.trashed_at IS NULL)
BEGIN
    UPDATE folder_document_counts SET live = live - 1 WHERE folder_id = OLD.folder_id AND OLD.trashed_at IS NULL;
    UPDATE owner_document_counts SET live = live - 1 WHERE owner_id = OLD.owner_id AND OLD.trashed_at IS NULL;
    UPDATE folder_document_counts SET live = live + 1 WHERE folder_id = NEW.folder_id AND NEW.trashed_at IS NULL;
    UPDATE owner_document_counts SET live = live + 1 WHERE owner_id = NEW.owner_id AND NEW.trashed_at IS NULL;
END;
