//! The websocket server (tokio-tungstenite): authenticates before upgrading, then pushes the
//! caller's events. One hub task tails the event table (LISTEN/NOTIFY wakes it on PostgreSQL,
//! polling on SQLite) and broadcasts; each connection filters by owner, resumes from
//! `?after=<id>` and catches up from the database when it falls behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_util::sync::CancellationToken;

use crate::domain::store::{Store, WakeChannel};
use crate::domain::{Event, EventData, Id};

pub const PROTOCOL_PREFIX: &str = "docmerge.bearer.";
const PING_EVERY: Duration = Duration::from_secs(25);
const DEAD_AFTER: Duration = Duration::from_secs(70);
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const BACKLOG_BATCH: i64 = 500;
/// How often the hub looks for new events when nothing wakes it (SQLite across processes has no
/// notifications). One indexed `id > ?` query per poll is cheap, and this bounds delivery delay.
pub const HUB_POLL: Duration = Duration::from_millis(50);

/// Close code for a socket whose session or token ended (logout, revocation, a new password, a
/// disabled account, expiry): the web UI goes to its sign-in page instead of reconnecting.
pub const CLOSE_SESSION_ENDED: u16 = 4401;
/// How often a connection checks that its session or token is still valid (expiry; revocations
/// arrive at once as `auth.revoked` events).
const REVALIDATE_EVERY: Duration = Duration::from_secs(25);

/// An event ready to send: owner for filtering, the JSON text once for everybody.
#[derive(Debug)]
pub struct Outgoing {
    pub id: Id,
    pub owner_id: Id,
    pub json: String,
    /// Tokens this (internal, never sent) event revokes.
    pub revokes: Option<Vec<Id>>,
}

fn outgoing(e: &Event) -> Arc<Outgoing> {
    if let EventData::TokensRevoked { token_ids } = &e.data {
        let revokes = Some(token_ids.clone());
        return Arc::new(Outgoing { id: e.id, owner_id: e.owner_id, json: String::new(), revokes });
    }
    Arc::new(Outgoing { id: e.id, owner_id: e.owner_id, json: e.to_api_json().to_string(), revokes: None })
}

/// Who may open a websocket from a browser page: a page of the same host (any port: the UI on
/// :8000 talks to the websocket on :8001), or one of `ws.allowed_origins`. Clients that send no
/// `Origin` (not a browser) are not limited by it. A page elsewhere must not ride on a user's
/// session cookie (cross-site websocket hijacking).
fn origin_allowed(req: &Request, allowed: &[String]) -> bool {
    let Some(origin) = req.headers().get("origin").and_then(|v| v.to_str().ok()) else { return true };
    let origin = origin.trim_end_matches('/');
    if allowed.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        return true;
    }
    let host_of = |authority: &str| -> String {
        let a = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if let Some(rest) = a.strip_prefix('[') {
            return rest.split(']').next().unwrap_or("").to_ascii_lowercase();
        }
        a.split(':').next().unwrap_or("").to_ascii_lowercase()
    };
    let Some((_, origin_authority)) = origin.split_once("://") else { return false };
    let Some(host) = req.headers().get("host").and_then(|v| v.to_str().ok()) else { return false };
    !origin_authority.is_empty() && host_of(origin_authority) == host_of(host)
}

#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<Outgoing>>,
    pub connections: Arc<AtomicUsize>,
}

impl Hub {
    /// Starts tailing the event table from its current end.
    pub async fn start(store: Arc<dyn Store>, poll: Duration, shutdown: CancellationToken) -> Hub {
        let (tx, _) = broadcast::channel(8192);
        let hub = Hub { tx: tx.clone(), connections: Arc::new(AtomicUsize::new(0)) };
        let mut last = store.latest_event_id().await.unwrap_or(0);
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                match store.events_after(None, last, 1000).await {
                    Ok(events) => {
                        backoff = Duration::from_millis(200);
                        let full = events.len() == 1000;
                        for e in &events {
                            last = e.id;
                            let _ = tx.send(outgoing(e));
                        }
                        if full {
                            continue;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "reading events failed; retrying");
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = store.wait_for_change(WakeChannel::Events, poll) => {}
                }
            }
        });
        hub
    }
}

/// Pulls the token out of the upgrade request: Authorization header, the session cookie, or a
/// `docmerge.bearer.<token>` subprotocol. Returns the token and the subprotocol to echo.
fn token_of(req: &Request) -> Option<(String, Option<String>)> {
    let h = req.headers();
    if let Some(v) = h.get("authorization").and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return Some((t.trim().to_string(), None));
    }
    if let Some(v) = h.get("sec-websocket-protocol").and_then(|v| v.to_str().ok()) {
        for p in v.split(',').map(str::trim) {
            if let Some(t) = p.strip_prefix(PROTOCOL_PREFIX) {
                return Some((t.to_string(), Some(p.to_string())));
            }
        }
    }
    for v in h.get_all("cookie").iter().filter_map(|v| v.to_str().ok()) {
        for part in v.split(';').map(str::trim) {
            if let Some(t) = part.strip_prefix(&format!("{}=", crate::auth::SESSION_COOKIE)) {
                return Some((t.to_string(), None));
            }
        }
    }
    None
}

fn reject(status: StatusCode, msg: &str) -> ErrorResponse {
    let code = crate::http::error::codes::for_status(actix_web::http::StatusCode::from_u16(status.as_u16()).unwrap_or_default());
    let body = crate::http::error::body(code, msg);
    let mut r = ErrorResponse::new(Some(body));
    *r.status_mut() = status;
    r.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    r
}

fn parse_after(query: Option<&str>) -> Result<Option<Id>, ()> {
    let Some(q) = query else { return Ok(None) };
    for pair in q.split('&') {
        if let Some(v) = pair.strip_prefix("after=") {
            return v.parse::<Id>().map(Some).map_err(|_| ());
        }
    }
    Ok(None)
}

pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(1 << 20)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024))
}

/// Who a connection serves: the user, the token it authenticated with (and that token's hash, to
/// check it again later), and where it resumes.
struct Caller {
    owner: Id,
    token_id: Id,
    token_hash: String,
    after: Option<Id>,
}

async fn handle(stream: TcpStream, store: Arc<dyn Store>, hub: Hub, origins: Arc<Vec<String>>, shutdown: CancellationToken) {
    let peer = stream.peer_addr().ok();
    let mut who: Option<Caller> = None;
    let who_ref = &mut who;
    let store2 = store.clone();
    // tungstenite's handshake callback returns its own (large) ErrorResponse: its API fixes the type.
    #[allow(clippy::result_large_err)]
    let callback = move |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        if req.uri().path() != "/ws" {
            return Err(reject(StatusCode::NOT_FOUND, "the websocket is at /ws"));
        }
        if !origin_allowed(req, &origins) {
            return Err(reject(StatusCode::FORBIDDEN, "this page's origin may not open the websocket (see ws.allowed_origins)"));
        }
        let after = parse_after(req.uri().query()).map_err(|_| reject(StatusCode::BAD_REQUEST, "after must be an event id"))?;
        let Some((token, proto)) = token_of(req) else {
            return Err(reject(StatusCode::UNAUTHORIZED, "log in first: send a bearer token or the session cookie"));
        };
        let hash = crate::auth::token_hash(&token);
        let found = tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(store2.principal_by_token(&hash)));
        let principal = match found {
            Ok(Some(p)) => p,
            Ok(None) => return Err(reject(StatusCode::UNAUTHORIZED, "the token or session is not valid or has expired")),
            Err(_) => return Err(reject(StatusCode::SERVICE_UNAVAILABLE, "the database is not available right now")),
        };
        if let Some(p) = proto
            && let Ok(v) = HeaderValue::from_str(&p)
        {
            resp.headers_mut().insert("sec-websocket-protocol", v);
        }
        *who_ref = Some(Caller { owner: principal.user.id, token_id: principal.token_id, token_hash: hash, after });
        Ok(resp)
    };
    // Subscribed before the handshake checks the token: a revocation committed after that check
    // reaches this connection, however soon after the handshake it comes.
    let rx = hub.tx.subscribe();
    let ws = match tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(ws_config())),
    )
    .await
    {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            tracing::debug!(?peer, error = %e, "websocket handshake refused");
            return;
        }
        Err(_) => return,
    };
    let Some(caller) = who else { return };
    hub.connections.fetch_add(1, Ordering::Relaxed);
    run_connection(ws, caller, rx, store, shutdown).await;
    hub.connections.fetch_sub(1, Ordering::Relaxed);
}

/// One connection's life: a single `select!` over the client's frames, the hub's events, the
/// missed-event catch-up, the token re-check and shutdown. It reads better whole (every arm
/// sees the same state: the last event id sent and the caller), hence over 120 lines.
async fn run_connection(
    ws: tokio_tungstenite::WebSocketStream<TcpStream>,
    caller: Caller,
    mut rx: broadcast::Receiver<Arc<Outgoing>>,
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
) {
    let (owner, after) = (caller.owner, caller.after);
    let (mut sink, mut source) = ws.split();
    let session_ended =
        |reason: &'static str| Message::Close(Some(CloseFrame { code: CloseCode::from(CLOSE_SESSION_ENDED), reason: reason.into() }));
    // Subscribed (in `handle`) before reading the backlog: nothing falls between the two.
    let mut last_sent: Id = after.unwrap_or(Id::MAX);
    let close = |code: CloseCode, reason: &'static str| Message::Close(Some(CloseFrame { code, reason: reason.into() }));

    // Sends everything of this owner after `last_sent` from the database.
    macro_rules! catch_up {
        () => {{
            let mut ok = true;
            loop {
                match store.events_after(Some(owner), last_sent, BACKLOG_BATCH).await {
                    Ok(events) => {
                        let n = events.len();
                        for e in events {
                            if e.data.is_internal() {
                                // Revocations from before the handshake are moot: the handshake
                                // checked the token after them (and SQLite may reuse the id of a
                                // deleted token for a new one).
                                last_sent = e.id;
                                continue;
                            }
                            let text = e.to_api_json().to_string();
                            if !matches!(tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::text(text))).await, Ok(Ok(()))) {
                                ok = false;
                                break;
                            }
                            last_sent = e.id;
                        }
                        if !ok || (n as i64) < BACKLOG_BATCH {
                            break;
                        }
                    }
                    Err(_) => {
                        let _ = sink.send(close(CloseCode::Again, "database unavailable; reconnect later")).await;
                        ok = false;
                        break;
                    }
                }
            }
            ok
        }};
    }

    if after.is_some() && !catch_up!() {
        return;
    }
    let hello = serde_json::json!({"type": "hello", "last_event_id": if after.is_some() { Some(last_sent) } else { None }}).to_string();
    if sink.send(Message::text(hello)).await.is_err() {
        return;
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut revalidate = tokio::time::interval(REVALIDATE_EVERY);
    revalidate.tick().await;
    let mut last_seen = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = tokio::time::timeout(Duration::from_secs(2), sink.send(close(CloseCode::Away, "server shutting down"))).await;
                break;
            }
            msg = rx.recv() => match msg {
                Ok(ev) => {
                    if ev.owner_id != owner || (last_sent != Id::MAX && ev.id <= last_sent) {
                        continue;
                    }
                    if let Some(revoked) = &ev.revokes {
                        if revoked.contains(&caller.token_id) {
                            let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(session_ended("your session has ended; sign in again"))).await;
                            break;
                        }
                        continue;
                    }
                    match tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::text(ev.json.clone()))).await {
                        Ok(Ok(())) => last_sent = ev.id,
                        Ok(Err(_)) => break,
                        Err(_) => {
                            // The client does not read: drop it rather than buffer without bound.
                            let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close(CloseCode::Policy, "client too slow; reconnect with ?after=<last id>"))).await;
                            break;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Fell behind the hub: fetch what we missed from the database.
                    if last_sent == Id::MAX {
                        last_sent = store.latest_event_id().await.unwrap_or(0);
                    } else if !catch_up!() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            incoming = source.next() => match incoming {
                Some(Ok(Message::Pong(_))) | Some(Ok(Message::Ping(_))) | Some(Ok(Message::Text(_))) => last_seen = tokio::time::Instant::now(),
                Some(Ok(Message::Binary(_))) => {
                    let _ = sink.send(close(CloseCode::Unsupported, "binary frames are not accepted")).await;
                    break;
                }
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(Message::Frame(_))) => {}
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "closing websocket after a protocol error");
                    let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close(CloseCode::Protocol, "malformed or oversized frame"))).await;
                    break;
                }
            },
            _ = revalidate.tick() => {
                // Expired sessions (and anything a missed event would have said) end here.
                if let Ok(found) = store.principal_by_token(&caller.token_hash).await
                    && found.is_none_or(|p| p.token_id != caller.token_id)
                {
                    let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(session_ended("your session has expired; sign in again"))).await;
                    break;
                }
            }
            _ = ping.tick() => {
                if last_seen.elapsed() > DEAD_AFTER {
                    let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close(CloseCode::Away, "no answer to pings"))).await;
                    break;
                }
                if tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Ping(Vec::new().into()))).await.map(|r| r.is_err()).unwrap_or(true) {
                    break;
                }
            }
        }
    }
}

/// Accepts websocket connections on `listener` until `shutdown`.
pub async fn serve_ws(
    store: Arc<dyn Store>,
    listener: TcpListener,
    poll: Duration,
    allowed_origins: Vec<String>,
    shutdown: CancellationToken,
) -> Hub {
    let hub = Hub::start(store.clone(), poll, shutdown.clone()).await;
    let origins = Arc::new(allowed_origins);
    let hub2 = hub.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(handle(stream, store.clone(), hub2.clone(), origins.clone(), shutdown.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a websocket connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
    });
    hub
}
