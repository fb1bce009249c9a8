-- Login attempts for the limiter (domain::login): each attempt is written before the password is
-- checked (so parallel guesses see each other), and deleted again when it succeeds: what stays
-- are failures. `account` is the lower-cased user name as typed, `source` the client address.
CREATE TABLE login_attempts (
    id      BIGSERIAL PRIMARY KEY,
    account TEXT NOT NULL,
    source  TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX login_attempts_account ON login_attempts(account, at);
CREATE INDEX login_attempts_source ON login_attempts(source, at);
CREATE INDEX login_attempts_at ON login_attempts(at);

-- Addresses a user has logged in from: a correct password from one of them passes the
-- per-account limit, so strangers guessing cannot lock the owner out.
CREATE TABLE login_sources (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source  TEXT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, source)
);

DROP TABLE login_failures;
