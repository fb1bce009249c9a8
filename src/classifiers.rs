//! The newest auto-classifier model of each owner (#23), loaded once per process: a worker
//! classifying after processing and `serve` answering "suggestions" both ask here. A newer
//! model in the database replaces the cached one on the next ask (one small query).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::domain::classifier::{ClassifierInfo, Model};
use crate::domain::store::Store;
use crate::domain::{DomainResult, Id};

/// Models kept in memory at once, by their stored size (the least recently asked go first;
/// the one just loaded always stays).
const CACHE_BYTES: usize = 256 << 20;

/// Per owner: the model's row, the model, its stored size, when it was last asked for.
type Cache = HashMap<Id, (ClassifierInfo, Arc<Model>, usize, u64)>;

#[derive(Default)]
pub struct Models {
    cached: Mutex<Cache>,
    clock: std::sync::atomic::AtomicU64,
    /// One model is read and decoded at a time: many requests arriving together for a model
    /// not yet loaded wait for the first instead of each holding a copy.
    loading: tokio::sync::Mutex<()>,
}

impl Models {
    /// The owner's newest model (None: none trained yet).
    pub async fn newest(&self, store: &dyn Store, owner: Id) -> DomainResult<Option<(ClassifierInfo, Arc<Model>)>> {
        let Some(info) = store.newest_classifier(owner).await? else {
            self.lock().remove(&owner);
            return Ok(None);
        };
        if let Some(m) = self.cached(owner, info.id) {
            return Ok(Some((info, m)));
        }
        let _one = self.loading.lock().await;
        if let Some(m) = self.cached(owner, info.id) {
            return Ok(Some((info, m)));
        }
        let Some(bytes) = store.classifier_model(owner, info.id).await? else { return Ok(None) };
        let size = bytes.len();
        let model = match tokio::task::spawn_blocking(move || Model::decode(&bytes)).await {
            Ok(Ok(m)) => Arc::new(m),
            Ok(Err(e)) => {
                // A model this version cannot read (written by a newer one): as if none.
                tracing::warn!(owner, model = info.id, error = %e, "cannot read the classifier model");
                return Ok(None);
            }
            Err(_) => return Ok(None),
        };
        let tick = self.clock.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut cached = self.lock();
        cached.insert(owner, (info.clone(), model.clone(), size, tick));
        while cached.values().map(|v| v.2).sum::<usize>() > CACHE_BYTES
            && let Some(oldest) = cached.iter().filter(|(k, _)| **k != owner).min_by_key(|(_, v)| v.3).map(|(k, _)| *k)
        {
            cached.remove(&oldest);
        }
        Ok(Some((info, model)))
    }

    /// The cached model of the owner if it is this one (marked as just asked for).
    fn cached(&self, owner: Id, id: Id) -> Option<Arc<Model>> {
        let tick = self.clock.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut cached = self.lock();
        let (info, model, _, used) = cached.get_mut(&owner)?;
        (info.id == id).then(|| {
            *used = tick;
            model.clone()
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }
}
