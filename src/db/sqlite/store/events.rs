//! The event table (outbox) and change notifications.

use super::*;

#[async_trait]
impl EventStore for SqliteStore {
    async fn events_after(&self, owner: Option<Id>, after: Id, limit: i64) -> DomainResult<Vec<Event>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT id, owner_id, kind, document_id, folder_id, data, created_at FROM events \
                     WHERE id > ?1 AND (?2 IS NULL OR owner_id = ?2) ORDER BY id LIMIT ?3",
            )?;
            let rows = st.query_map(params![after, owner, limit], |r| {
                let data: String = r.get(5)?;
                Ok(Event {
                    id: r.get(0)?,
                    owner_id: r.get(1)?,
                    document_id: r.get(3)?,
                    folder_id: r.get(4)?,
                    data: EventData::from_row(&r.get::<_, String>(2)?, serde_json::from_str(&data).unwrap_or_default()),
                    created_at: r.get(6)?,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>().map_err(DomainError::from)
        })
        .await
    }

    async fn latest_event_id(&self) -> DomainResult<Id> {
        self.read(|c| c.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0)).map_err(DomainError::from)).await
    }

    async fn prune_events(&self, older_than: Millis) -> DomainResult<u64> {
        self.write(move |tx| {
            let n = tx.execute("DELETE FROM events WHERE created_at < ?1", params![older_than])?;
            // Finished jobs are kept as long as events, for the jobs API.
            let m = tx.execute("DELETE FROM jobs WHERE state = 'done' AND updated_at < ?1", params![older_than])?;
            Ok((n + m) as u64)
        })
        .await
    }

    async fn wait_for_change(&self, channel: WakeChannel, timeout: Duration) {
        let notify = match channel {
            WakeChannel::Jobs => self.jobs_wake.clone(),
            WakeChannel::Events => self.events_wake.clone(),
        };
        let _ = tokio::time::timeout(timeout, notify.notified()).await;
    }
}
