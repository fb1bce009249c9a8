//! Exactly-once under contention, in-process: four claim/complete loops drain 2,000 jobs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use docmerge::domain::Id;
use docmerge::domain::jobs::{JobSpec, NewJob, NoArgs};
use docmerge::domain::store::BulkStore;

const JOBS: usize = 2_000;
const WORKERS: usize = 4;
const KIND: &str = docmerge::domain::jobs::kinds::NOOP;

conformance!(exactly_once_under_contention, 8);
async fn exactly_once_under_contention(store: Arc<dyn BulkStore>) {
    let mut ids = Vec::with_capacity(JOBS);
    for _ in 0..(JOBS / 500) {
        let batch: Vec<NewJob> = (0..500).map(|i| NewJob::new(JobSpec::Noop(NoArgs {})).priority(i % 3)).collect();
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

// A reader tailing the event table by "id > last seen" while several writers commit events
// concurrently must not skip any event (ids become visible in commit order).
conformance!(event_tail_misses_nothing_under_concurrent_writers, 8);
async fn event_tail_misses_nothing_under_concurrent_writers(store: Arc<dyn BulkStore>) {
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 60;
    let mut owners = Vec::new();
    for w in 0..WRITERS {
        owners.push(store.create_user(&format!("writer{w}"), "h", false).await.expect("user").id);
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut last = 0;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let evs = store.events_after(None, last, 1000).await.expect("events");
                for e in &evs {
                    seen.push(e.id);
                    last = e.id;
                }
                if finished && evs.is_empty() {
                    break;
                }
            }
            seen
        })
    };
    let mut writers = Vec::new();
    for (w, owner) in owners.iter().copied().enumerate() {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                store.create_tag(owner, &format!("t{w}-{i}"), "#000").await.expect("tag");
            }
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.await.expect("reader");
    let all: Vec<Id> = store.events_after(None, 0, 100_000).await.expect("events").iter().map(|e| e.id).collect();
    assert_eq!(all.len(), WRITERS * PER_WRITER);
    assert_eq!(seen, all, "the tailing reader skipped events");
}
