//! The roles. Each is `async fn run(ctx, shutdown)`; `all` composes the other three.

pub mod all;
pub mod health;
pub mod serve;
pub mod worker;
pub mod ws;

/// Tells systemd (Type=notify) that the role is ready; a no-op outside systemd.
pub fn notify_ready() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
}

pub fn notify_stopping() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
}
