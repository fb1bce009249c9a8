//! docmerge: one binary, several roles. `main.rs` only parses the command line and dispatches
//! here; tests start any role in-process through the same functions.

pub mod admin;
pub mod app;
pub mod archive;
pub mod auth;
#[cfg(feature = "bench")]
pub mod bench;
pub mod classifiers;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod jobs;
pub mod pageops;
pub mod pipeline;
pub mod roles;
pub mod storage;
pub mod telemetry;
pub mod ws;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `docmerge --version`: the version, the commit it was built from, and the runtime files.
pub const LONG_VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("DOCMERGE_COMMIT"), ")\nruntime files: ", env!("DOCMERGE_RUNTIME"));
