-- Matching rules (#23): which text a tag, correspondent, document type or folder belongs to.
-- One rule per target; target_kind names the table target_id points into (rules of a deleted
-- target are deleted with it by the store).
CREATE TABLE match_rules (
    id          INTEGER PRIMARY KEY,
    owner_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    target_kind TEXT NOT NULL,
    target_id   INTEGER NOT NULL,
    algorithm   TEXT NOT NULL,
    pattern     TEXT NOT NULL DEFAULT '',
    insensitive INTEGER NOT NULL DEFAULT 1,
    updated_at  INTEGER NOT NULL,
    UNIQUE (target_kind, target_id)
);
CREATE INDEX match_rules_owner ON match_rules(owner_id);

-- A target's rule goes with it (however it is deleted: directly, merged, purged, with its owner).
CREATE TRIGGER match_rules_of_tags AFTER DELETE ON tags BEGIN
    DELETE FROM match_rules WHERE target_kind = 'tag' AND target_id = OLD.id;
END;
CREATE TRIGGER match_rules_of_correspondents AFTER DELETE ON correspondents BEGIN
    DELETE FROM match_rules WHERE target_kind = 'correspondent' AND target_id = OLD.id;
END;
CREATE TRIGGER match_rules_of_document_types AFTER DELETE ON document_types BEGIN
    DELETE FROM match_rules WHERE target_kind = 'document_type' AND target_id = OLD.id;
END;
CREATE TRIGGER match_rules_of_folders AFTER DELETE ON folders BEGIN
    DELETE FROM match_rules WHERE target_kind = 'folder' AND target_id = OLD.id;
END;
