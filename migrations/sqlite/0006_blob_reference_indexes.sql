-- Which rows refer to a stored file: a purge and the sweep job ask for every file they might
-- delete (PostgreSQL has had these indexes since 0001).
CREATE INDEX versions_searchable_sha ON versions(searchable_sha256) WHERE searchable_sha256 IS NOT NULL;
CREATE INDEX pages_thumbnail ON pages(thumbnail_sha256) WHERE thumbnail_sha256 IS NOT NULL;
CREATE INDEX pages_preview ON pages(preview_sha256) WHERE preview_sha256 IS NOT NULL;
