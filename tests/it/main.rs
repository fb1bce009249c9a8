//! One integration test binary. Every conformance test runs against both backends: SQLite (a
//! file in a temp dir) and PostgreSQL (a fresh database on the server named by
//! `DOCMERGE_TEST_PG`, default `postgres://root@127.0.0.1:5432/postgres`; unreachable = FAIL).

#[macro_use]
mod common;
mod queue;
mod store;
