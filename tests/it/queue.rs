//! Exactly-once under contention, in-process: four claim/complete loops drain 2,000 jobs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use docmerge::domain::jobs::NewJob;
use docmerge::domain::store::Store;
use docmerge::domain::Id;
use serde_json::json;

const JOBS: usize = 2_000;
const WORKERS: usize = 4;
const KIND: &str = "test.contention";

conformance!(exactly_once_under_contention, 8);
async fn exactly_once_under_contention(store: Arc<dyn Store>) {
    let mut ids = Vec::with_capacity(JOBS);
    for chunk in 0..(JOBS / 500) {
        let batch: Vec<NewJob> = (0..500).map(|i| NewJob::new(KIND, json!({"n": chunk * 500 + i})).priority((i % 3) as i32)).collect();
        ids.extend(store.enqueue(batch).await.expect("enqueue").into_iter().map(|id| id.expect("no unique key, always added")));
    }
    assert_eq!(ids.len(), JOBS);

    let claims: Arc<Mutex<HashMap<Id, usize>>> = Arc::default();
    let completions: Arc<Mutex<HashMap<Id, usize>>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let (store, claims, completions) = (store.clone(), claims.clone(), completions.clone());
        tasks.push(tokio::spawn(async move {
            let worker = format!("worker-{w}");
            let kinds = vec![KIND.to_string()];
            let mut idle = 0;
            loop {
                let batch = 1 + (w * 3) % 16; // different batch sizes per worker
                let got = store.claim(&worker, &kinds, batch, 60_000).await.expect("claim");
                if got.is_empty() {
                    // Everything may be claimed by others but not yet completed: look again a
                    // few times before deciding the queue is drained.
                    idle += 1;
                    if idle > 20 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                idle = 0;
                {
                    let mut c = claims.lock().unwrap();
                    for j in &got {
                        *c.entry(j.id).or_default() += 1;
                    }
                }
                let leases: Vec<_> = got.iter().map(|j| j.lease(&worker)).collect();
                let ok = store.complete(&leases).await.expect("complete");
                let mut c = completions.lock().unwrap();
                for (j, accepted) in got.iter().zip(ok) {
                    assert!(accepted, "completion of job {} by {worker} was refused", j.id);
                    *c.entry(j.id).or_default() += 1;
                }
            }
        }));
    }
    let all = async {
        for t in tasks {
            t.await.expect("worker task");
        }
    };
    tokio::time::timeout(Duration::from_secs(300), all).await.expect("the queue drained in time");

    let claims = claims.lock().unwrap().clone();
    let completions = completions.lock().unwrap().clone();
    for id in &ids {
        assert_eq!(claims.get(id), Some(&1), "job {id} claimed {:?} times", claims.get(id));
        assert_eq!(completions.get(id), Some(&1), "job {id} completed {:?} times", completions.get(id));
    }
    assert_eq!(claims.len(), JOBS);
    let counts = store.job_counts().await.expect("job counts");
    assert_eq!(counts, vec![(KIND.to_string(), "done".to_string(), JOBS as i64)]);
    for id in ids.iter().step_by(97) {
        let v = store.job(*id).await.expect("job");
        assert_eq!((v.attempts, v.state.as_str()), (1, "done"));
    }
}
