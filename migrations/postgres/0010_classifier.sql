-- The auto classifier (#23): each owner's trained models, newest last (a few are kept; the
-- worker that classifies loads the newest). `fingerprint` says which state of the owner's
-- documents a model learned from, so that an unchanged library is not trained again.
CREATE TABLE classifier_models (
    id          BIGSERIAL PRIMARY KEY,
    owner_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    fingerprint TEXT NOT NULL,
    stats       TEXT NOT NULL,
    model       BYTEA NOT NULL
);
CREATE INDEX classifier_models_owner ON classifier_models(owner_id, id);
