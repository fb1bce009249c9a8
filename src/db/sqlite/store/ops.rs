//! Migrations, health and totals.

use super::*;

#[async_trait]
impl Operations for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn archive(&self) -> &dyn crate::domain::archive::ArchiveStore {
        self
    }

    async fn migrate(&self) -> DomainResult<()> {
        self.write(|tx| {
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
            )
            ?;
            for (version, name, sql) in MIGRATIONS {
                let done: bool = tx
                    .query_row("SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE version = ?1)", params![version], |r| r.get(0))
                    ?;
                if done {
                    continue;
                }
                tx.execute_batch(sql).map_err(|e| DomainError::database(format!("migration {version} ({name}) failed: {e}")))?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                    params![version, name, now_millis()],
                )
                ?;
            }
            Ok(())
        })
        .await
    }

    async fn migration_status(&self) -> DomainResult<(i64, i64)> {
        let known = MIGRATIONS.len() as i64;
        self.read(move |c| {
            let exists: bool =
                c.query_row("SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations')", [], |r| r.get(0))?;
            if !exists {
                return Ok((0, known));
            }
            let n: i64 = c.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))?;
            Ok((n, known))
        })
        .await
    }

    async fn ping(&self) -> DomainResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(DomainError::from)).await
    }

    async fn totals(&self) -> DomainResult<Totals> {
        let jobs = self.job_counts().await?;
        self.read(move |c| {
            let documents: i64 = c.query_row("SELECT COUNT(*) FROM documents WHERE trashed_at IS NULL", [], |r| r.get(0))?;
            let pages: i64 = c.query_row("SELECT COUNT(*) FROM pages", [], |r| r.get(0))?;
            Ok(Totals { documents, pages, jobs_by_kind_state: jobs })
        })
        .await
    }
}
