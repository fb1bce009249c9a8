-- docmerge schema, PostgreSQL. Times are milliseconds since the Unix epoch (UTC), as BIGINT,
-- exactly as in the SQLite schema, so both backends hand the domain the same values.

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL
);
-- SQLite: UNIQUE COLLATE NOCASE.
CREATE UNIQUE INDEX users_username ON users (lower(username));

CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('session', 'api')),
    token_hash   TEXT NOT NULL UNIQUE,
    csrf_hash    TEXT,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at   BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens(user_id, kind);

CREATE TABLE login_failures (
    key        TEXT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX login_failures_key ON login_failures(key, at);
CREATE INDEX login_failures_at ON login_failures(at);

CREATE TABLE folders (
    id         BIGSERIAL PRIMARY KEY,
    owner_id   BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    parent_id  BIGINT REFERENCES folders(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL DEFAULT 'folder' CHECK (kind IN ('home', 'inbox', 'folder')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    trashed_at BIGINT
);
CREATE INDEX folders_parent ON folders(parent_id, name);
CREATE INDEX folders_owner ON folders(owner_id, kind);
CREATE UNIQUE INDEX folders_unique_name ON folders(owner_id, COALESCE(parent_id, 0), name) WHERE trashed_at IS NULL;

CREATE TABLE documents (
    id           BIGSERIAL PRIMARY KEY,
    owner_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    folder_id    BIGINT NOT NULL REFERENCES folders(id),
    title        TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'processing', 'ready', 'failed')),
    error        TEXT,
    current_version_id BIGINT,
    sha256       TEXT NOT NULL,
    duplicate_of BIGINT REFERENCES documents(id) ON DELETE SET NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    trashed_at   BIGINT
);
CREATE INDEX documents_folder ON documents(folder_id, trashed_at, title);
CREATE INDEX documents_owner_created ON documents(owner_id, trashed_at, created_at);
CREATE INDEX documents_owner_sha ON documents(owner_id, sha256);
CREATE INDEX documents_duplicate_of ON documents(duplicate_of) WHERE duplicate_of IS NOT NULL;

CREATE TABLE versions (
    id                BIGSERIAL PRIMARY KEY,
    document_id       BIGINT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    number            INTEGER NOT NULL,
    filename          TEXT NOT NULL,
    mime              TEXT NOT NULL,
    size              BIGINT NOT NULL,
    sha256            TEXT NOT NULL,
    state             TEXT NOT NULL DEFAULT 'queued',
    error             TEXT,
    page_count        INTEGER NOT NULL DEFAULT 0,
    pages_done        INTEGER NOT NULL DEFAULT 0,
    searchable_sha256 TEXT,
    note              TEXT,
    created_at        BIGINT NOT NULL,
    UNIQUE (document_id, number)
);
CREATE INDEX versions_sha ON versions(sha256);
CREATE INDEX versions_searchable_sha ON versions(searchable_sha256) WHERE searchable_sha256 IS NOT NULL;

CREATE TABLE pages (
    id               BIGSERIAL PRIMARY KEY,
    version_id       BIGINT NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    number           INTEGER NOT NULL,
    width            DOUBLE PRECISION NOT NULL,
    height           DOUBLE PRECISION NOT NULL,
    text             TEXT NOT NULL,
    lines_json       TEXT NOT NULL DEFAULT '[]',
    source           TEXT NOT NULL,
    thumbnail_sha256 TEXT,
    preview_sha256   TEXT,
    UNIQUE (version_id, number)
);
-- Blob reference checks on purge.
CREATE INDEX pages_thumbnail ON pages(thumbnail_sha256) WHERE thumbnail_sha256 IS NOT NULL;
CREATE INDEX pages_preview ON pages(preview_sha256) WHERE preview_sha256 IS NOT NULL;

CREATE TABLE tags (
    id       BIGSERIAL PRIMARY KEY,
    owner_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    color    TEXT NOT NULL DEFAULT '#6b7280',
    UNIQUE (owner_id, name)
);

CREATE TABLE document_tags (
    document_id BIGINT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    tag_id      BIGINT NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (document_id, tag_id)
);
CREATE INDEX document_tags_tag ON document_tags(tag_id);

CREATE TABLE folder_tags (
    folder_id BIGINT NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    tag_id    BIGINT NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (folder_id, tag_id)
);
CREATE INDEX folder_tags_tag ON folder_tags(tag_id);

CREATE TABLE jobs (
    id             BIGSERIAL PRIMARY KEY,
    kind           TEXT NOT NULL,
    payload        JSONB NOT NULL DEFAULT '{}',
    state          TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    priority       INTEGER NOT NULL DEFAULT 0,
    run_after      BIGINT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    max_attempts   INTEGER NOT NULL DEFAULT 5,
    unique_key     TEXT,
    locked_by      TEXT,
    locked_until   BIGINT,
    lease_seq      BIGINT NOT NULL DEFAULT 0,
    timeout_secs   BIGINT NOT NULL DEFAULT 600,
    last_error     TEXT,
    progress_done  INTEGER,
    progress_total INTEGER,
    document_id    BIGINT REFERENCES documents(id) ON DELETE CASCADE,
    owner_id       BIGINT REFERENCES users(id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
-- The claim query: due queued jobs by priority, then age.
CREATE INDEX jobs_due ON jobs(priority DESC, run_after, id) WHERE state = 'queued';
CREATE INDEX jobs_running ON jobs(locked_until) WHERE state = 'running';
CREATE INDEX jobs_document ON jobs(document_id);
CREATE INDEX jobs_owner ON jobs(owner_id, id);
CREATE INDEX jobs_done ON jobs(updated_at) WHERE state = 'done';
-- The same work is never queued twice.
CREATE UNIQUE INDEX jobs_unique_key ON jobs(unique_key) WHERE unique_key IS NOT NULL AND state IN ('queued', 'running');

-- The outbox. Ids are handed out in commit order: every transaction that inserts events first
-- takes a transaction-level advisory lock (see db/postgres/mod.rs), so a reader resuming at
-- "id > last seen" never skips an event committed late with a smaller id.
CREATE TABLE events (
    id          BIGSERIAL PRIMARY KEY,
    owner_id    BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    document_id BIGINT,
    folder_id   BIGINT,
    data        JSONB NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL
);
CREATE INDEX events_owner ON events(owner_id, id);
CREATE INDEX events_created ON events(created_at);

-- Full-text index: one row per page of each document's current, ready version, plus one row
-- (page 0) for the title. rowid = the page's id, or -document id for the title row.
-- `tsv` is built by the backend from the body split into words exactly as the query parser
-- splits them (domain::search::words_of), so both databases match the same words; `body` keeps
-- the original text for ts_headline.
CREATE TABLE search_index (
    rowid       BIGINT PRIMARY KEY,
    document_id BIGINT NOT NULL,
    page_number INTEGER NOT NULL,
    body        TEXT NOT NULL,
    tsv         TSVECTOR NOT NULL
);
CREATE INDEX search_index_tsv ON search_index USING GIN (tsv);
CREATE INDEX search_index_document ON search_index(document_id);
