-- Workflows (#23): a trigger, filters and ordered actions per owner (domain::workflows). The
-- trigger's kind is a column (what the store looks workflows up by); the rest is the spec's JSON.
CREATE TABLE workflows (
    id         INTEGER PRIMARY KEY,
    owner_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    position   INTEGER NOT NULL DEFAULT 0,
    enabled    INTEGER NOT NULL DEFAULT 1,
    trigger    TEXT NOT NULL,
    spec       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (owner_id, name)
);
CREATE INDEX workflows_trigger ON workflows(owner_id, trigger, position, id) WHERE enabled = 1;

-- How a document came in: upload (web interface), api, consume, mail. NULL: imported, or
-- added before workflows existed.
ALTER TABLE documents ADD COLUMN source TEXT;

-- Each run of a workflow on a document: what it did. `event_key` makes a run happen once per
-- event (a retried job finds its run and does not act twice; a scheduled workflow runs once
-- per document).
CREATE TABLE workflow_runs (
    id            INTEGER PRIMARY KEY,
    owner_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    workflow_id   INTEGER REFERENCES workflows(id) ON DELETE SET NULL,
    workflow_name TEXT NOT NULL,
    document_id   INTEGER REFERENCES documents(id) ON DELETE SET NULL,
    trigger       TEXT NOT NULL,
    event_key     TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    steps         TEXT NOT NULL,
    error         TEXT,
    created_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX workflow_runs_once ON workflow_runs(workflow_id, document_id, event_key);
CREATE INDEX workflow_runs_owner ON workflow_runs(owner_id, id);
CREATE INDEX workflow_runs_document ON workflow_runs(document_id, id);

-- Webhooks and emails of runs, each sent by a `deliver` job; `message_id` is the idempotency
-- key the receiver sees on every attempt. `file_sha256` keeps the file it sends from the sweep
-- while it is pending.
CREATE TABLE workflow_deliveries (
    id              INTEGER PRIMARY KEY,
    owner_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    run_id          INTEGER NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    target          TEXT NOT NULL,
    message_id      TEXT NOT NULL UNIQUE,
    request         TEXT NOT NULL,
    file_sha256     TEXT,
    state           TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER,
    last_error      TEXT,
    next_attempt_at INTEGER,
    delivered_at    INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX workflow_deliveries_run ON workflow_deliveries(run_id);
CREATE INDEX workflow_deliveries_pending_file ON workflow_deliveries(file_sha256) WHERE state = 'pending' AND file_sha256 IS NOT NULL;
