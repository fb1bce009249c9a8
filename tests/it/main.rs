//! The one integration test binary (faster to link than many).

mod harness;

mod api;
mod processes;
