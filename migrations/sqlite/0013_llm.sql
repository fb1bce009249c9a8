-- Language-model requests (#23, domain::llm): one per question about one document, from a
-- workflow's ask_llm action or a user's click; each sent by an `llm_suggest` job. The request
-- keeps what was sent (`prompt`, the exact request body) and what came back (`answer`), the
-- checked `suggestions`, what was `dropped` and why, and what was `applied`. The tokens the
-- server counted make the daily budget. A purged document takes its requests with it.
CREATE TABLE llm_requests (
    id                INTEGER PRIMARY KEY,
    owner_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    document_id       INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    run_id            INTEGER REFERENCES workflow_runs(id) ON DELETE SET NULL,
    origin            TEXT NOT NULL,
    workflow_name     TEXT,
    mode              TEXT NOT NULL,
    fields            TEXT NOT NULL,
    state             TEXT NOT NULL DEFAULT 'pending',
    error             TEXT,
    model             TEXT,
    prompt            TEXT,
    answer            TEXT,
    suggestions       TEXT NOT NULL DEFAULT '[]',
    dropped           TEXT NOT NULL DEFAULT '[]',
    applied           TEXT NOT NULL DEFAULT '[]',
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    attempts          INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    finished_at       INTEGER,
    dismissed_at      INTEGER
);
CREATE INDEX llm_requests_document ON llm_requests(document_id, id);
CREATE INDEX llm_requests_owner_day ON llm_requests(owner_id, created_at);
