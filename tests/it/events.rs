//! Live events through `docmerge ws`, with `serve`, `worker` and `ws` as separate processes.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::{Db, Stack, db_tests, pdf_pages};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, token: &str) -> Ws {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(req).await.expect("websocket connects");
    ws
}

/// Next JSON event (skipping pings and the hello), or None after `wait`.
async fn next_event(ws: &mut Ws, wait: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "hello" {
                    continue;
                }
                return Some(v);
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) => return None,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => panic!("websocket error: {e}"),
            Err(_) => return None,
        }
    }
}

/// The document's events until it is ready (or failed), as (type, page) pairs.
async fn events_until_ready(ws: &mut Ws, doc: i64) -> Vec<(i64, String, Option<i64>)> {
    let mut out = Vec::new();
    loop {
        let ev = next_event(ws, Duration::from_secs(120)).await.expect("events keep coming until ready");
        if ev["document_id"] != doc {
            continue;
        }
        let kind = ev["type"].as_str().unwrap().to_string();
        out.push((ev["id"].as_i64().unwrap(), kind.clone(), ev["data"]["page"].as_i64()));
        if kind == "document.ready" || kind == "document.failed" {
            return out;
        }
    }
}

async fn live_progress_per_user(db: Db) {
    let stack = Stack::start(db, 2, &[]).await;
    let admin = stack.admin().await;
    for u in ["alice", "bob"] {
        let (s, b) = admin.post("/api/v1/users", &serde_json::json!({"username": u, "password": "password-of-user"})).await;
        assert_eq!(s, 201, "{b}");
    }
    let alice = crate::harness::Api::login(&stack.base, "alice", "password-of-user").await;
    let bob = crate::harness::Api::login(&stack.base, "bob", "password-of-user").await;
    let mut a = connect(&stack.ws, &alice.token).await;
    let mut b = connect(&stack.ws, &bob.token).await;
    let mut a2 = connect(&stack.ws, &alice.token).await;

    let (s, up) = alice.upload("three.pdf", pdf_pages(&["first page words", "second page words", "third page words"]), &[]).await;
    assert_eq!(s, 202, "{up}");
    let doc = up["document"]["id"].as_i64().unwrap();

    // Client a2 disconnects after the first progress event and resumes later with its last id.
    let mut seen_a2 = Vec::new();
    loop {
        let ev = next_event(&mut a2, Duration::from_secs(120)).await.expect("a2 gets events");
        seen_a2.push((ev["id"].as_i64().unwrap(), ev["type"].as_str().unwrap().to_string()));
        if ev["type"] == "job.progress" {
            break;
        }
    }
    let _ = a2.close(None).await;

    let got = events_until_ready(&mut a, doc).await;
    let kinds: Vec<(String, Option<i64>)> = got.iter().map(|(_, k, p)| (k.clone(), *p)).collect();
    assert_eq!(
        kinds,
        vec![
            ("document.created".to_string(), None),
            ("document.processing".to_string(), None),
            ("job.progress".to_string(), Some(1)),
            ("job.progress".to_string(), Some(2)),
            ("job.progress".to_string(), Some(3)),
            ("document.ready".to_string(), None),
        ],
        "alice sees her document's life in order"
    );
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "ids increase");

    // Bob, connected all along, saw nothing of it.
    let leaked = next_event(&mut b, Duration::from_millis(800)).await;
    assert!(leaked.is_none(), "bob must not receive alice's events: {leaked:?}");

    // a2 resumes after its last event: exactly the rest, no duplicates.
    let last = seen_a2.last().unwrap().0;
    let mut resumed = connect(&format!("{}?after={last}", stack.ws), &alice.token).await;
    let rest = events_until_ready(&mut resumed, doc).await;
    let all: Vec<i64> = seen_a2.iter().map(|e| e.0).chain(rest.iter().map(|e| e.0)).collect();
    let expected: Vec<i64> = got.iter().map(|e| e.0).collect();
    assert_eq!(all, expected, "the resumed stream continues exactly where it stopped");
}
db_tests!(live_progress_per_user);

async fn refuses_bad_clients(db: Db) {
    let stack = Stack::start(db, 0, &[]).await;
    let admin = stack.admin().await;
    // No token, a wrong token, a wrong path: refused before the upgrade.
    assert!(tokio_tungstenite::connect_async(stack.ws.as_str()).await.is_err(), "no token");
    let mut req = stack.ws.as_str().into_client_request().unwrap();
    req.headers_mut().insert("Authorization", "Bearer dms_wrong".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!("wrong token must get 401, got {:?}", other.map(|_| ())),
    }
    let wrong_path = stack.ws.replace("/ws", "/other");
    let mut req = wrong_path.as_str().into_client_request().unwrap();
    req.headers_mut().insert("Authorization", format!("Bearer {}", admin.token).parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_err(), "wrong path");
    // The token may also come as a subprotocol (browsers cannot set headers).
    let mut req = stack.ws.as_str().into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", format!("docmerge.bearer.{}", admin.token).parse().unwrap());
    let (mut ok, resp) = tokio_tungstenite::connect_async(req).await.expect("subprotocol auth works");
    assert!(resp.headers().get("sec-websocket-protocol").is_some());

    // Binary garbage, then an oversized frame: each closes only its own connection.
    let mut bad = connect(&stack.ws, &admin.token).await;
    bad.send(Message::Binary(vec![0xde, 0xad, 0xbe, 0xef].into())).await.unwrap();
    assert!(next_event(&mut bad, Duration::from_secs(5)).await.is_none(), "closed after binary");
    let mut big = connect(&stack.ws, &admin.token).await;
    let _ = big.send(Message::text("x".repeat(200_000))).await;
    assert!(next_event(&mut big, Duration::from_secs(5)).await.is_none(), "closed after an oversized frame");
    // The well-behaved connection still gets events.
    let (s, _) = admin.post("/api/v1/tags", &serde_json::json!({"name": "still alive"})).await;
    assert_eq!(s, 201);
    let ev = next_event(&mut ok, Duration::from_secs(10)).await.expect("the good client still receives events");
    assert_eq!(ev["type"], "tag.created");
}
db_tests!(refuses_bad_clients);
