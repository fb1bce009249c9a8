-- Metadata people file by (#22): correspondents, document types, custom fields, the date a
-- document was written, archive serial numbers, notes and each document's history.

CREATE TABLE correspondents (
    id         INTEGER PRIMARY KEY,
    owner_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    color      TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (owner_id, name)
);

CREATE TABLE document_types (
    id         INTEGER PRIMARY KEY,
    owner_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    color      TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (owner_id, name)
);

-- kind: text, long_text, integer, number, monetary, date, boolean, url, select, document_link.
-- options: JSON [{"id": "...", "label": "..."}] of a select field (ids never change, labels may).
CREATE TABLE custom_fields (
    id         INTEGER PRIMARY KEY,
    owner_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    currency   TEXT,
    options    TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    UNIQUE (owner_id, name)
);

-- The fields a document of a type is given by default.
CREATE TABLE document_type_fields (
    document_type_id INTEGER NOT NULL REFERENCES document_types(id) ON DELETE CASCADE,
    field_id         INTEGER NOT NULL REFERENCES custom_fields(id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    PRIMARY KEY (document_type_id, field_id)
);

ALTER TABLE documents ADD COLUMN correspondent_id INTEGER REFERENCES correspondents(id) ON DELETE SET NULL;
ALTER TABLE documents ADD COLUMN document_type_id INTEGER REFERENCES document_types(id) ON DELETE SET NULL;
-- ISO 8601 (YYYY-MM-DD): sorts and compares as text on both databases.
ALTER TABLE documents ADD COLUMN document_date TEXT;
-- "user", or "extracted:<rule>" (domain::dates).
ALTER TABLE documents ADD COLUMN date_source TEXT;
ALTER TABLE documents ADD COLUMN asn INTEGER;

CREATE INDEX documents_owner_correspondent ON documents(owner_id, correspondent_id, document_date) WHERE correspondent_id IS NOT NULL;
CREATE INDEX documents_owner_type ON documents(owner_id, document_type_id, document_date) WHERE document_type_id IS NOT NULL;
CREATE INDEX documents_owner_date ON documents(owner_id, trashed_at, document_date);
CREATE UNIQUE INDEX documents_owner_asn ON documents(owner_id, asn) WHERE asn IS NOT NULL;

-- A field on a document; value NULL: the field is there, empty. num: the number, integer or
-- amount; txt: the text, URL, date (ISO), "true"/"false", select option id, or currency.
CREATE TABLE document_fields (
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    field_id    INTEGER NOT NULL REFERENCES custom_fields(id) ON DELETE CASCADE,
    value       TEXT,
    num         REAL,
    txt         TEXT,
    PRIMARY KEY (document_id, field_id)
);
CREATE INDEX document_fields_num ON document_fields(field_id, num) WHERE num IS NOT NULL;
CREATE INDEX document_fields_txt ON document_fields(field_id, txt) WHERE txt IS NOT NULL;

CREATE TABLE notes (
    id          INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    author_id   INTEGER REFERENCES users(id) ON DELETE SET NULL,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX notes_document ON notes(document_id, created_at);

-- Who changed what and when; kept as long as the document. actor_id NULL: docmerge itself.
CREATE TABLE document_history (
    id          INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    actor_id    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    action      TEXT NOT NULL,
    changes     TEXT NOT NULL DEFAULT '{}',
    at          INTEGER NOT NULL
);
CREATE INDEX document_history_document ON document_history(document_id, id);

-- A named search + sort + visible columns, optionally on the dashboard and in the sidebar.
CREATE TABLE saved_views (
    id           INTEGER PRIMARY KEY,
    owner_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    query        TEXT NOT NULL DEFAULT '',
    sort         TEXT NOT NULL DEFAULT '-created_at',
    columns      TEXT NOT NULL DEFAULT '[]',
    on_dashboard INTEGER NOT NULL DEFAULT 0,
    in_sidebar   INTEGER NOT NULL DEFAULT 0,
    position     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    UNIQUE (owner_id, name)
);
