//! The event table (outbox) and change notifications.

use super::*;

#[async_trait]
impl EventStore for PgStore {
    async fn events_after(&self, owner: Option<Id>, after: Id, limit: i64) -> DomainResult<Vec<Event>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT id, owner_id, kind, document_id, folder_id, data::text, created_at FROM events \
             WHERE id > $1 AND ($2::bigint IS NULL OR owner_id = $2) ORDER BY id LIMIT $3",
            &[&after, &owner, &limit],
        )
        .await?;
        all(rows, |r| {
            let data: String = col(r, 5)?;
            Ok(Event {
                id: col(r, 0)?,
                owner_id: col(r, 1)?,
                document_id: col(r, 3)?,
                folder_id: col(r, 4)?,
                data: EventData::from_row(&col::<String>(r, 2)?, serde_json::from_str(&data).unwrap_or_default()),
                created_at: col(r, 6)?,
            })
        })
    }

    async fn latest_event_id(&self) -> DomainResult<Id> {
        let c = self.client().await?;
        count(&c, "SELECT COALESCE(MAX(id), 0)::bigint FROM events", &[]).await
    }

    async fn prune_events(&self, older_than: Millis) -> DomainResult<u64> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let n = exec(&tx, "DELETE FROM events WHERE created_at < $1", &[&older_than]).await?;
        // Finished jobs are kept as long as events, for the jobs API.
        let m = exec(&tx, "DELETE FROM jobs WHERE state = 'done' AND updated_at < $1", &[&older_than]).await?;
        Self::commit(tx, &[], false).await?;
        Ok(n + m)
    }

    async fn wait_for_change(&self, channel: WakeChannel, timeout: Duration) {
        let notify = self.wake(channel);
        if self.listening() {
            let _ = tokio::time::timeout(timeout, notify.notified()).await;
        } else {
            // No LISTEN connection (server restarting): callers poll.
            tokio::time::sleep(timeout).await;
        }
    }
}
