//! Migrations, health and totals.

use super::*;

#[async_trait]
impl Operations for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn archive(&self) -> &dyn crate::domain::archive::ArchiveStore {
        self
    }

    async fn migrate(&self) -> DomainResult<()> {
        self.apply_migrations().await
    }

    async fn migration_status(&self) -> DomainResult<(i64, i64)> {
        let known = super::super::MIGRATIONS.len() as i64;
        let c = self.client().await?;
        let exists: bool = col(&query_one(&c, "SELECT to_regclass('schema_migrations') IS NOT NULL", &[]).await?, 0)?;
        if !exists {
            return Ok((0, known));
        }
        Ok((count(&c, "SELECT COUNT(*) FROM schema_migrations", &[]).await?, known))
    }

    async fn ping(&self) -> DomainResult<()> {
        let c = self.client().await?;
        query_one(&c, "SELECT 1", &[]).await.map(|_| ())
    }

    async fn totals(&self) -> DomainResult<Totals> {
        let jobs = self.job_counts().await?;
        let c = self.client().await?;
        let documents = count(&c, "SELECT COUNT(*) FROM documents WHERE trashed_at IS NULL", &[]).await?;
        let pages = count(&c, "SELECT COUNT(*) FROM pages", &[]).await?;
        Ok(Totals { documents, pages, jobs_by_kind_state: jobs })
    }
}
