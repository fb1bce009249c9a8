//! The one integration test binary (faster to link than many). Every test that touches a
//! database runs against both backends: SQLite (a file in a temp dir) and PostgreSQL (a fresh
//! database on the server named by `DOCMERGE_TEST_PG`, default
//! `postgres://root@127.0.0.1:5432/postgres`; unreachable = FAIL, never a skip).

#![recursion_limit = "512"]

#[macro_use]
mod common;
mod harness;

mod api;
mod archive;
mod bench;
mod browser;
mod events;
mod first_run;
mod hardening;
mod llm;
mod matching;
mod metadata;
mod packaging;
mod pages;
mod pg_tls;
mod pipeline;
mod placement;
mod processes;
mod queue;
mod store;
mod topology;
mod typed;
mod workflows;
