-- docmerge schema, SQLite. Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('session', 'api')),
    token_hash   TEXT NOT NULL UNIQUE,
    csrf_hash    TEXT,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    expires_at   INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens(user_id, kind);

CREATE TABLE login_failures (
    key        TEXT NOT NULL,
    at         INTEGER NOT NULL
);
CREATE INDEX login_failures_key ON login_failures(key, at);

CREATE TABLE folders (
    id         INTEGER PRIMARY KEY,
    owner_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    parent_id  INTEGER REFERENCES folders(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL DEFAULT 'folder' CHECK (kind IN ('home', 'inbox', 'folder')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    trashed_at INTEGER
);
CREATE INDEX folders_parent ON folders(parent_id, name);
CREATE INDEX folders_owner ON folders(owner_id, kind);
CREATE UNIQUE INDEX folders_unique_name ON folders(owner_id, COALESCE(parent_id, 0), name) WHERE trashed_at IS NULL;

CREATE TABLE documents (
    id           INTEGER PRIMARY KEY,
    owner_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    folder_id    INTEGER NOT NULL REFERENCES folders(id),
    title        TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'processing', 'ready', 'failed')),
    error        TEXT,
    current_version_id INTEGER,
    sha256       TEXT NOT NULL,
    duplicate_of INTEGER REFERENCES documents(id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    trashed_at   INTEGER
);
CREATE INDEX documents_folder ON documents(folder_id, trashed_at, title);
CREATE INDEX documents_owner_created ON documents(owner_id, trashed_at, created_at);
CREATE INDEX documents_owner_sha ON documents(owner_id, sha256);

CREATE TABLE versions (
    id                INTEGER PRIMARY KEY,
    document_id       INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    number            INTEGER NOT NULL,
    filename          TEXT NOT NULL,
    mime              TEXT NOT NULL,
    size              INTEGER NOT NULL,
    sha256            TEXT NOT NULL,
    state             TEXT NOT NULL DEFAULT 'queued',
    error             TEXT,
    page_count        INTEGER NOT NULL DEFAULT 0,
    pages_done        INTEGER NOT NULL DEFAULT 0,
    searchable_sha256 TEXT,
    note              TEXT,
    created_at        INTEGER NOT NULL,
    UNIQUE (document_id, number)
);
CREATE INDEX versions_sha ON versions(sha256);

CREATE TABLE pages (
    id               INTEGER PRIMARY KEY,
    version_id       INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    number           INTEGER NOT NULL,
    width            REAL NOT NULL,
    height           REAL NOT NULL,
    text             TEXT NOT NULL,
    lines_json       TEXT NOT NULL DEFAULT '[]',
    source           TEXT NOT NULL,
    thumbnail_sha256 TEXT,
    preview_sha256   TEXT,
    UNIQUE (version_id, number)
);

CREATE TABLE tags (
    id       INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    color    TEXT NOT NULL DEFAULT '#6b7280',
    UNIQUE (owner_id, name)
);

CREATE TABLE document_tags (
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    tag_id      INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (document_id, tag_id)
);
CREATE INDEX document_tags_tag ON document_tags(tag_id);

CREATE TABLE folder_tags (
    folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    tag_id    INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (folder_id, tag_id)
);

CREATE TABLE jobs (
    id             INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL,
    payload        TEXT NOT NULL DEFAULT '{}',
    state          TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    priority       INTEGER NOT NULL DEFAULT 0,
    run_after      INTEGER NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    max_attempts   INTEGER NOT NULL DEFAULT 5,
    unique_key     TEXT,
    locked_by      TEXT,
    locked_until   INTEGER,
    lease_seq      INTEGER NOT NULL DEFAULT 0,
    timeout_secs   INTEGER NOT NULL DEFAULT 600,
    last_error     TEXT,
    progress_done  INTEGER,
    progress_total INTEGER,
    document_id    INTEGER REFERENCES documents(id) ON DELETE CASCADE,
    owner_id       INTEGER REFERENCES users(id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
-- The claim query: due queued jobs by priority, then age.
CREATE INDEX jobs_due ON jobs(state, priority DESC, run_after, id) WHERE state = 'queued';
CREATE INDEX jobs_running ON jobs(locked_until) WHERE state = 'running';
CREATE INDEX jobs_document ON jobs(document_id);
-- The same work is never queued twice.
CREATE UNIQUE INDEX jobs_unique_key ON jobs(unique_key) WHERE unique_key IS NOT NULL AND state IN ('queued', 'running');

CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id    INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    document_id INTEGER,
    folder_id   INTEGER,
    data        TEXT NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL
);
CREATE INDEX events_owner ON events(owner_id, id);

-- Full-text index: one row per page of each document's current, ready version, plus one row
-- (page 0) for the title. rowid = the page's id, or -document id for the title row.
CREATE VIRTUAL TABLE search_index USING fts5(
    body,
    document_id UNINDEXED,
    page_number UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);
