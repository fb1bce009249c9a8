-- Listing at scale: every list order the API offers has an index in exactly that order
-- (case-insensitive titles, ids as the tie-breaker in the same direction), restricted to what
-- lists show (not trashed), so a page of a list is an index range scan.
DROP INDEX IF EXISTS documents_folder;
DROP INDEX IF EXISTS documents_owner_created;
CREATE INDEX documents_folder_title ON documents(folder_id, lower(title), id) WHERE trashed_at IS NULL;
CREATE INDEX documents_folder_created ON documents(folder_id, created_at, id) WHERE trashed_at IS NULL;
CREATE INDEX documents_owner_title ON documents(owner_id, lower(title), id) WHERE trashed_at IS NULL;
CREATE INDEX documents_owner_created ON documents(owner_id, created_at, id) WHERE trashed_at IS NULL;
CREATE INDEX documents_owner_trashed ON documents(owner_id, trashed_at) WHERE trashed_at IS NOT NULL;
CREATE INDEX documents_folder_trashed ON documents(folder_id) WHERE trashed_at IS NOT NULL;
DROP INDEX IF EXISTS folders_parent;
CREATE INDEX folders_parent ON folders(parent_id, lower(name), id) WHERE trashed_at IS NULL;
CREATE INDEX folders_parent_all ON folders(parent_id);

-- Search at scale: each index row carries its owner, so a search reads only that user's rows,
-- and the newest matches of a very common word come from (owner_id, rowid) in index order
-- without ranking every match. The owner is filled in by the database from the document, so no
-- writer can forget it.
ALTER TABLE search_index ADD COLUMN owner_id BIGINT;
UPDATE search_index s SET owner_id = d.owner_id FROM documents d WHERE d.id = s.document_id;
DELETE FROM search_index WHERE owner_id IS NULL;
ALTER TABLE search_index ALTER COLUMN owner_id SET NOT NULL;
CREATE FUNCTION search_index_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.owner_id IS NULL THEN
        SELECT owner_id INTO NEW.owner_id FROM documents WHERE id = NEW.document_id;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER search_index_owner BEFORE INSERT OR UPDATE OF document_id ON search_index
    FOR EACH ROW EXECUTE FUNCTION search_index_owner();
CREATE INDEX search_index_owner_rowid ON search_index(owner_id, rowid);
