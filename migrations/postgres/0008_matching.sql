-- Matching rules (#23): which text a tag, correspondent, document type or folder belongs to.
-- One rule per target; target_kind names the table target_id points into (rules of a deleted
-- target are deleted with it by the store).
CREATE TABLE match_rules (
    id          BIGSERIAL PRIMARY KEY,
    owner_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    target_kind TEXT NOT NULL,
    target_id   BIGINT NOT NULL,
    algorithm   TEXT NOT NULL,
    pattern     TEXT NOT NULL DEFAULT '',
    insensitive BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at  BIGINT NOT NULL,
    UNIQUE (target_kind, target_id)
);
CREATE INDEX match_rules_owner ON match_rules(owner_id);

-- A target's rule goes with it (however it is deleted: directly, merged, purged, with its owner).
CREATE FUNCTION match_rules_target_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM match_rules WHERE target_kind = TG_ARGV[0] AND target_id = OLD.id;
    RETURN OLD;
END;
$$;
CREATE TRIGGER match_rules_of_tags AFTER DELETE ON tags FOR EACH ROW EXECUTE FUNCTION match_rules_target_gone('tag');
CREATE TRIGGER match_rules_of_correspondents AFTER DELETE ON correspondents FOR EACH ROW EXECUTE FUNCTION match_rules_target_gone('correspondent');
CREATE TRIGGER match_rules_of_document_types AFTER DELETE ON document_types FOR EACH ROW EXECUTE FUNCTION match_rules_target_gone('document_type');
CREATE TRIGGER match_rules_of_folders AFTER DELETE ON folders FOR EACH ROW EXECUTE FUNCTION match_rules_target_gone('folder');
