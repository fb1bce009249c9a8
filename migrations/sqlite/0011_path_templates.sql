-- Path templates (#23): a template such as `Finance/{correspondent}/{created:%Y}` places a
-- document in its owner's folder tree from its metadata (domain::path_templates).
CREATE TABLE path_templates (
    id         INTEGER PRIMARY KEY,
    owner_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    template   TEXT NOT NULL,
    fallback   TEXT NOT NULL,
    filename   TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (owner_id, name)
);

-- The template that places a document; a document type's template is given to the documents
-- that get the type.
ALTER TABLE documents ADD COLUMN path_template_id INTEGER REFERENCES path_templates(id) ON DELETE SET NULL;
ALTER TABLE document_types ADD COLUMN path_template_id INTEGER REFERENCES path_templates(id) ON DELETE SET NULL;
CREATE INDEX documents_path_template ON documents(path_template_id) WHERE path_template_id IS NOT NULL;
CREATE INDEX document_types_path_template ON document_types(path_template_id) WHERE path_template_id IS NOT NULL;

-- Documents waiting for the `place_documents` job: a row is written in the transaction that
-- changed what the document's template reads, and deleted in the one that placed it (unless it
-- was written again meanwhile: `stamp` changes with every write).
CREATE TABLE placements_due (
    document_id INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
    owner_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    stamp       INTEGER NOT NULL
);
CREATE INDEX placements_due_owner ON placements_due(owner_id, document_id);

-- Folders a path template made: when the last document leaves one (and it holds nothing else),
-- it goes. Not archived: a restored folder is the user's.
CREATE TABLE template_folders (
    folder_id INTEGER PRIMARY KEY REFERENCES folders(id) ON DELETE CASCADE
);

CREATE TRIGGER match_rules_of_path_templates AFTER DELETE ON path_templates BEGIN
    DELETE FROM match_rules WHERE target_kind = 'path_template' AND target_id = OLD.id;
END;
