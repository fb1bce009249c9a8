//! The newest auto-classifier model of each owner (#23), loaded once per process: a worker
//! classifying after processing and `serve` answering "suggestions" both ask here. A newer
//! model in the database replaces the cached one on the next ask (one small query).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::domain::classifier::{ClassifierInfo, Model};
use crate::domain::store::Store;
use crate::domain::{DomainResult, Id};

/// Owners whose models are kept in memory at once (the least recently asked goes).
const CACHED_OWNERS: usize = 16;

/// Per owner: the model's row, the model, when it was last asked for.
type Cache = HashMap<Id, (ClassifierInfo, Arc<Model>, u64)>;

#[derive(Default)]
pub struct Models {
    cached: Mutex<Cache>,
    clock: std::sync::atomic::AtomicU64,
}

impl Models {
    /// The owner's newest model (None: none trained yet).
    pub async fn newest(&self, store: &dyn Store, owner: Id) -> DomainResult<Option<(ClassifierInfo, Arc<Model>)>> {
        let Some(info) = store.newest_classifier(owner).await? else {
            self.lock().remove(&owner);
            return Ok(None);
        };
        let tick = self.clock.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some((i, m, used)) = self.lock().get_mut(&owner)
            && i.id == info.id
        {
            *used = tick;
            return Ok(Some((info, m.clone())));
        }
        let Some(bytes) = store.classifier_model(owner, info.id).await? else { return Ok(None) };
        let model = match tokio::task::spawn_blocking(move || Model::decode(&bytes)).await {
            Ok(Ok(m)) => Arc::new(m),
            Ok(Err(e)) => {
                // A model this version cannot read (written by a newer one): as if none.
                tracing::warn!(owner, model = info.id, error = %e, "cannot read the classifier model");
                return Ok(None);
            }
            Err(_) => return Ok(None),
        };
        let mut cached = self.lock();
        if cached.len() >= CACHED_OWNERS
            && !cached.contains_key(&owner)
            && let Some(oldest) = cached.iter().min_by_key(|(_, v)| v.2).map(|(k, _)| *k)
        {
            cached.remove(&oldest);
        }
        cached.insert(owner, (info.clone(), model.clone(), tick));
        Ok(Some((info, model)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }
}
