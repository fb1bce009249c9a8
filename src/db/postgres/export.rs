//! `ArchiveStore` for PostgreSQL: the export snapshot is one `REPEATABLE READ, READ ONLY`
//! transaction and every table is fetched through a portal in batches of `FETCH_ROWS` (never a
//! whole table in memory); an import chunk is one transaction that also writes the search index
//! and the progress row. `finish_import` moves the id sequences past the imported ids.

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::Value;
use tokio_postgres::IsolationLevel;
use tokio_postgres::types::ToSql;

use super::{PgStore, Tx, col, exec, query, query_one, query_opt};
use crate::domain::archive::*;
use crate::domain::search::words_of;
use crate::domain::{DomainError, DomainResult, Id, Millis};

const FETCH_ROWS: i32 = 1000;
const PROGRESS_DDL: &str =
    "CREATE TABLE IF NOT EXISTS archive_import (table_name TEXT PRIMARY KEY, archive_id TEXT NOT NULL, lines_done BIGINT NOT NULL)";
/// Tables whose ids come from a BIGSERIAL.
const SERIAL_TABLES: &[&str] = &[
    "users",
    "api_tokens",
    "folders",
    "tags",
    "correspondents",
    "document_types",
    "custom_fields",
    "documents",
    "versions",
    "pages",
    "notes",
    "document_history",
    "saved_views",
    "match_rules",
    "path_templates",
    "workflows",
];

const CHANGED_DOCS: &str = "SELECT id FROM documents WHERE updated_at >= $1::bigint OR created_at >= $1::bigint";

fn filter_sql(t: &TableSpec) -> String {
    match t.changed {
        Changed::Always => "($1::bigint IS NULL OR TRUE)".into(),
        Changed::Documents => "($1::bigint IS NULL OR x.updated_at >= $1::bigint OR x.created_at >= $1::bigint)".into(),
        Changed::Versions => format!("($1::bigint IS NULL OR x.created_at >= $1::bigint OR x.document_id IN ({CHANGED_DOCS}))"),
        Changed::Pages => format!(
            "($1::bigint IS NULL OR x.version_id IN (SELECT id FROM versions WHERE created_at >= $1::bigint OR document_id IN ({CHANGED_DOCS})))"
        ),
        Changed::DocumentLinks => format!("($1::bigint IS NULL OR x.document_id IN ({CHANGED_DOCS}))"),
    }
}

fn select_list(t: &TableSpec) -> String {
    t.columns
        .iter()
        .map(|c| match c.ty {
            ColType::Int => format!("x.{}::bigint", c.name),
            ColType::Real => format!("x.{}::float8", c.name),
            ColType::Text | ColType::Bool => format!("x.{}", c.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn select_sql(t: &TableSpec) -> String {
    let cols = select_list(t);
    if t.name == "folders" {
        // Parents before children, so every parent exists when its child is imported.
        return format!(
            "WITH RECURSIVE tree(id, depth) AS (SELECT id, 0 FROM folders WHERE parent_id IS NULL \
             UNION ALL SELECT f.id, tree.depth + 1 FROM folders f JOIN tree ON f.parent_id = tree.id) \
             SELECT {cols} FROM folders x JOIN tree ON tree.id = x.id WHERE {} ORDER BY tree.depth, x.id",
            filter_sql(t)
        );
    }
    let order = t.key.iter().map(|k| format!("x.{k}")).collect::<Vec<_>>().join(", ");
    format!("SELECT {cols} FROM {} x WHERE {} ORDER BY {order}", t.name, filter_sql(t))
}

fn blob_sql(with_derived: bool) -> String {
    let versions = format!("($1::bigint IS NULL OR created_at >= $1::bigint OR document_id IN ({CHANGED_DOCS}))");
    let mut parts = vec![format!("SELECT sha256 AS sha, 0 AS derived FROM versions WHERE {versions}")];
    if with_derived {
        parts.push(format!("SELECT searchable_sha256, 1 FROM versions WHERE searchable_sha256 IS NOT NULL AND {versions}"));
        for c in ["thumbnail_sha256", "preview_sha256"] {
            parts.push(format!(
                "SELECT {c}, 1 FROM pages WHERE {c} IS NOT NULL AND version_id IN (SELECT id FROM versions WHERE {versions})"
            ));
        }
    }
    format!("SELECT sha, MIN(derived) FROM ({}) b GROUP BY sha ORDER BY sha", parts.join(" UNION ALL "))
}

fn to_json(r: &tokio_postgres::Row, i: usize, c: &Column) -> DomainResult<Value> {
    Ok(match c.ty {
        ColType::Int => col::<Option<i64>>(r, i)?.map(Value::from),
        ColType::Real => col::<Option<f64>>(r, i)?.and_then(serde_json::Number::from_f64).map(Value::Number),
        ColType::Text => col::<Option<String>>(r, i)?.map(Value::String),
        ColType::Bool => col::<Option<bool>>(r, i)?.map(Value::Bool),
    }
    .unwrap_or(Value::Null))
}

/// Runs `sql` through a portal, handing each batch of rows to `each`.
async fn stream<F>(tx: &Tx<'_>, sql: &str, since: Option<i64>, mut each: F) -> DomainResult<()>
where
    F: FnMut(&tokio_postgres::Row) -> DomainResult<()>,
{
    let st = tx.prepare(sql).await?;
    let portal = tx.bind(&st, &[&since]).await?;
    loop {
        let rows = tx.query_portal(&portal, FETCH_ROWS).await?;
        for r in &rows {
            each(r)?;
        }
        if rows.len() < FETCH_ROWS as usize {
            return Ok(());
        }
    }
}

/// A row's value for column `c` as a query parameter; a wrong or missing value names the column.
fn param(row: &Row, c: &Column) -> Result<Box<dyn ToSql + Sync + Send>, String> {
    let v = row.get(c.name).unwrap_or(&Value::Null);
    let bad = || format!("column {} has the wrong type ({v})", c.name);
    if v.is_null() {
        if !c.nullable {
            return Err(format!("column {} is missing", c.name));
        }
        return Ok(match c.ty {
            ColType::Int => Box::new(None::<i64>),
            ColType::Real => Box::new(None::<f64>),
            ColType::Text => Box::new(None::<String>),
            ColType::Bool => Box::new(None::<bool>),
        });
    }
    Ok(match c.ty {
        ColType::Int => Box::new(v.as_i64().ok_or_else(bad)?),
        ColType::Real => Box::new(v.as_f64().ok_or_else(bad)?),
        ColType::Text => Box::new(v.as_str().ok_or_else(bad)?.to_string()),
        ColType::Bool => Box::new(v.as_bool().ok_or_else(bad)?),
    })
}

fn insert_sql(t: &TableSpec, mode: ImportMode) -> String {
    let params = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let ty = match c.ty {
                ColType::Int => "bigint",
                ColType::Real => "float8",
                ColType::Text => "text",
                ColType::Bool => "boolean",
            };
            format!("${}::{ty}", i + 1)
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sets: Vec<String> = t.columns.iter().filter(|c| !t.key.contains(&c.name)).map(|c| format!("{0} = EXCLUDED.{0}", c.name)).collect();
    let on_conflict = if mode == ImportMode::Apply && !sets.is_empty() {
        format!("ON CONFLICT ({}) DO UPDATE SET {}", t.key.join(", "), sets.join(", "))
    } else {
        "ON CONFLICT DO NOTHING".to_string()
    };
    format!("INSERT INTO {} ({}) VALUES ({params}) {on_conflict}", t.name, t.column_list())
}

/// Search entries of one imported row: a document's title (`documents.title_tsv`); a page of its document's
/// current, ready version. `current` caches version → document for the chunk.
async fn index_row(tx: &Tx<'_>, t: &TableSpec, row: &Row, mode: ImportMode, current: &mut HashMap<Id, Option<Id>>) -> DomainResult<()> {
    let id = row.get("id").and_then(Value::as_i64).unwrap_or_default();
    match t.name {
        "documents" => {
            if mode == ImportMode::Apply {
                exec(tx, "DELETE FROM search_index WHERE document_id = $1", &[&id]).await?;
            }
            let title = row.get("title").and_then(Value::as_str).unwrap_or_default();
            exec(tx, "UPDATE documents SET title_tsv = to_tsvector('simple', $2) WHERE id = $1", &[&id, &words_of(title).join(" ")])
                .await?;
        }
        "notes" => {
            // A document's notes are searchable with its title.
            let doc = row.get("document_id").and_then(Value::as_i64).unwrap_or_default();
            let title: String = match query_opt(tx, "SELECT title FROM documents WHERE id = $1", &[&doc]).await? {
                Some(r) => r.try_get(0).map_err(|e| crate::domain::DomainError::database(e.to_string()))?,
                None => return Ok(()),
            };
            let mut notes = Vec::new();
            for r in query(tx, "SELECT body FROM notes WHERE document_id = $1 ORDER BY id", &[&doc]).await? {
                notes.push(r.try_get::<_, String>(0).map_err(|e| crate::domain::DomainError::database(e.to_string()))?);
            }
            let body = crate::domain::metadata::searchable_title(&title, &notes);
            exec(tx, "UPDATE documents SET title_tsv = to_tsvector('simple', $2) WHERE id = $1", &[&doc, &words_of(&body).join(" ")])
                .await?;
        }
        "pages" => {
            let text = row.get("text").and_then(Value::as_str).unwrap_or_default();
            let vid = row.get("version_id").and_then(Value::as_i64).unwrap_or_default();
            let number = row.get("number").and_then(Value::as_i64).unwrap_or_default() as i32;
            if mode == ImportMode::Apply {
                exec(tx, "DELETE FROM search_index WHERE rowid = $1", &[&id]).await?;
            }
            if text.is_empty() {
                return Ok(());
            }
            let doc = match current.get(&vid) {
                Some(d) => *d,
                None => {
                    let r = query_opt(
                        tx,
                        "SELECT d.id FROM versions v JOIN documents d ON d.id = v.document_id AND d.current_version_id = v.id WHERE v.id = $1 AND v.state = 'ready'",
                        &[&vid],
                    )
                    .await?;
                    let d = r.map(|r| col::<Id>(&r, 0)).transpose()?;
                    current.insert(vid, d);
                    d
                }
            };
            if let Some(doc) = doc {
                exec(
                    tx,
                    "INSERT INTO search_index (rowid, document_id, page_number, tsv) VALUES ($1, $2, $3, to_tsvector('simple', $4))",
                    &[&id, &doc, &number, &words_of(text).join(" ")],
                )
                .await?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[async_trait]
impl ArchiveStore for PgStore {
    async fn export_snapshot(&self, filter: SnapshotFilter, sink: Box<dyn RowSink>) -> DomainResult<Box<dyn RowSink>> {
        let mut sink = sink;
        let mut c = self.client().await?;
        let tx = c.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
        for t in TABLES {
            sink.begin_table(t)?;
            stream(&tx, &select_sql(t), filter.since, |r| {
                let mut row = Row::new();
                for (i, c) in t.columns.iter().enumerate() {
                    row.insert(c.name.to_string(), to_json(r, i, c)?);
                }
                sink.row(t, row)
            })
            .await?;
        }
        stream(&tx, &blob_sql(filter.with_derived), filter.since, |r| {
            sink.blob(BlobRef { sha256: col(r, 0)?, derived: col::<i32>(r, 1)? != 0 })
        })
        .await?;
        tx.commit().await?;
        Ok(sink)
    }

    async fn import_progress(&self) -> DomainResult<(Option<ImportProgress>, i64)> {
        let c = self.client().await?;
        let existing: i64 = col(&query_one(&c, "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM documents)", &[]).await?, 0)?;
        let has_table: bool = col(&query_one(&c, "SELECT to_regclass('archive_import') IS NOT NULL", &[]).await?, 0)?;
        if !has_table {
            return Ok((None, existing));
        }
        let rows = query(&c, "SELECT table_name, archive_id, lines_done FROM archive_import", &[]).await?;
        let rows = rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?, col(r, 2)?))).collect::<DomainResult<Vec<_>>>()?;
        Ok((ImportProgress::from_rows(rows), existing))
    }

    async fn begin_import(&self, archive_id: &str) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.batch_execute(PROGRESS_DDL).await?;
        exec(&tx, "DELETE FROM archive_import WHERE archive_id <> $1", &[&archive_id]).await?;
        for name in std::iter::once(PROGRESS_BEGIN_ROW).chain(TABLES.iter().map(|t| t.name)) {
            exec(
                &tx,
                "INSERT INTO archive_import (table_name, archive_id, lines_done) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING",
                &[&name, &archive_id],
            )
            .await?;
        }
        tx.commit().await.map_err(DomainError::from)
    }

    async fn import_rows(&self, table: &'static TableSpec, rows: Vec<Row>, lines_done_after: u64, mode: ImportMode) -> DomainResult<u64> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let first_line = lines_done_after - rows.len() as u64 + 1;
        let sql = insert_sql(table, mode);
        let st = tx.prepare_cached(&sql).await?;
        let mut current = HashMap::new();
        let mut written = 0;
        for (i, row) in rows.iter().enumerate() {
            let line = first_line + i as u64;
            let values = table
                .columns
                .iter()
                .map(|c| param(row, c))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| DomainError::Invalid(format!("{} line {line}: {e}", table.file())))?;
            let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref() as &(dyn ToSql + Sync)).collect();
            let n = tx
                .execute(&st, &refs)
                .await
                .map_err(|e| DomainError::Invalid(format!("{} line {line}: {}", table.file(), DomainError::from(e))))?;
            // A row already there (an earlier, interrupted run) already has its index entries.
            if n == 1 {
                written += 1;
                index_row(&tx, table, row, mode, &mut current).await?;
            }
        }
        exec(&tx, "UPDATE archive_import SET lines_done = $2 WHERE table_name = $1", &[&table.name, &(lines_done_after as i64)]).await?;
        tx.commit().await?;
        Ok(written)
    }

    async fn finish_import(&self) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        for t in SERIAL_TABLES {
            // Each sequence moves past the highest id imported, and never back: a row another
            // transaction is inserting meanwhile (a worker storing a page) has taken an id that
            // MAX(id) cannot see yet, and handing it out again would collide. setval(seq, n, true)
            // hands out n + 1 next; an empty table whose sequence was never used starts at 1.
            tx.batch_execute(&format!(
                "SELECT CASE WHEN x.m IS NULL AND x.used IS NULL THEN setval(x.seq, 1, false) \
                 ELSE setval(x.seq, GREATEST(COALESCE(x.m, 0), COALESCE(x.used, 0)), true) END \
                 FROM (SELECT s.seq, pg_sequence_last_value(s.seq) AS used, (SELECT MAX(id) FROM {t}) AS m \
                       FROM (SELECT pg_get_serial_sequence('{t}', 'id')::regclass AS seq) s) x"
            ))
            .await?;
        }
        exec(
            &tx,
            "INSERT INTO archive_import (table_name, archive_id, lines_done) \
             SELECT $1, archive_id, 1 FROM archive_import WHERE table_name = $2 ON CONFLICT DO NOTHING",
            &[&PROGRESS_FINISHED_ROW, &PROGRESS_BEGIN_ROW],
        )
        .await?;
        tx.commit().await.map_err(DomainError::from)
    }

    async fn versions_after(&self, after_id: Id, limit: i64) -> DomainResult<Vec<VersionNeedingWork>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT d.owner_id, v.document_id, v.id, v.state, v.searchable_sha256, d.current_version_id IS NOT DISTINCT FROM v.id \
             FROM versions v JOIN documents d ON d.id = v.document_id WHERE v.id > $1 ORDER BY v.id LIMIT $2",
            &[&after_id, &limit],
        )
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(VersionNeedingWork {
                    owner_id: col(r, 0)?,
                    document_id: col(r, 1)?,
                    version_id: col(r, 2)?,
                    state: col(r, 3)?,
                    is_current: col(r, 5)?,
                    derived: col::<Option<String>>(r, 4)?.into_iter().collect(),
                })
            })
            .collect::<DomainResult<Vec<_>>>()?;
        if let (Some(first), Some(last)) = (out.first().map(|v| v.version_id), out.last().map(|v| v.version_id)) {
            let mut by_version: HashMap<Id, Vec<String>> = HashMap::new();
            for r in query(
                &c,
                "SELECT version_id, thumbnail_sha256, preview_sha256 FROM pages WHERE version_id BETWEEN $1 AND $2",
                &[&first, &last],
            )
            .await?
            {
                let e = by_version.entry(col(&r, 0)?).or_default();
                e.extend(col::<Option<String>>(&r, 1)?);
                e.extend(col::<Option<String>>(&r, 2)?);
            }
            for v in &mut out {
                v.derived.extend(by_version.remove(&v.version_id).unwrap_or_default());
            }
        }
        Ok(out)
    }

    async fn set_derived(&self, version_id: Id, searchable_sha256: &str, pages: Vec<(i32, String, String)>) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        exec(&tx, "UPDATE versions SET searchable_sha256 = $2 WHERE id = $1", &[&version_id, &searchable_sha256]).await?;
        for (number, thumb, preview) in &pages {
            exec(
                &tx,
                "UPDATE pages SET thumbnail_sha256 = $3, preview_sha256 = $4 WHERE version_id = $1 AND number = $2",
                &[&version_id, number, thumb, preview],
            )
            .await?;
        }
        tx.commit().await.map_err(DomainError::from)
    }

    async fn max_ids(&self, tables: &[&'static str]) -> DomainResult<Vec<Id>> {
        let sql = max_ids_sql(tables).ok_or_else(|| DomainError::database(format!("max_ids of unknown tables {tables:?}")))?;
        let c = self.client().await?;
        let r = query_one(&c, &sql.replace("COALESCE(MAX(id), 0)", "COALESCE(MAX(id), 0)::bigint"), &[]).await?;
        (0..tables.len()).map(|i| col(&r, i)).collect()
    }

    async fn begin_backup(&self, slot: &str, job_id: Id, now: Millis) -> DomainResult<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // Two workers creating the table at once would collide in the catalog.
        exec(&tx, "SELECT pg_advisory_xact_lock(hashtext('docmerge.backup_runs'))", &[]).await?;
        tx.batch_execute(BACKUP_RUNS_DDL).await?;
        let n = exec(
            &tx,
            "INSERT INTO backup_runs (slot, job_id, state, started_at) VALUES ($1, $2, 'running', $3) \
             ON CONFLICT (slot) DO UPDATE SET state = 'running', started_at = excluded.started_at \
             WHERE backup_runs.job_id = excluded.job_id AND backup_runs.state <> 'done'",
            &[&slot, &job_id, &now],
        )
        .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn finish_backup(&self, slot: &str, outcome: BackupOutcome) -> DomainResult<()> {
        let c = self.client().await?;
        match outcome {
            BackupOutcome::Done { finished_at, duration_ms, file, size } => {
                exec(
                    &c,
                    "UPDATE backup_runs SET state = 'done', finished_at = $2, duration_ms = $3, file = $4, size = $5 WHERE slot = $1",
                    &[&slot, &finished_at, &duration_ms, &file, &size],
                )
                .await?
            }
            BackupOutcome::Failed { at, error } => {
                exec(
                    &c,
                    "UPDATE backup_runs SET state = 'failed', failures = failures + 1, last_error = $2, failed_at = $3 WHERE slot = $1",
                    &[&slot, &error, &at],
                )
                .await?
            }
        };
        Ok(())
    }

    async fn backup_state(&self, slot: &str) -> DomainResult<Option<String>> {
        let c = self.client().await?;
        if !has_backup_runs(&c).await? {
            return Ok(None);
        }
        match query_opt(&c, "SELECT state FROM backup_runs WHERE slot = $1", &[&slot]).await? {
            Some(r) => Ok(Some(col(&r, 0)?)),
            None => Ok(None),
        }
    }

    async fn backup_status(&self) -> DomainResult<BackupStatus> {
        let c = self.client().await?;
        let mut status = BackupStatus::default();
        if !has_backup_runs(&c).await? {
            return Ok(status);
        }
        if let Some(r) = query_opt(
            &c,
            "SELECT finished_at, duration_ms, file, size FROM backup_runs WHERE state = 'done' ORDER BY finished_at DESC LIMIT 1",
            &[],
        )
        .await?
        {
            (status.last_success_at, status.last_duration_ms, status.last_file, status.last_size) =
                (col(&r, 0)?, col(&r, 1)?, col(&r, 2)?, col(&r, 3)?);
        }
        status.failures_total = col(&query_one(&c, "SELECT COALESCE(SUM(failures), 0)::bigint FROM backup_runs", &[]).await?, 0)?;
        if let Some(r) =
            query_opt(&c, "SELECT failed_at, last_error FROM backup_runs WHERE failed_at IS NOT NULL ORDER BY failed_at DESC LIMIT 1", &[])
                .await?
        {
            (status.last_failure_at, status.last_error) = (col(&r, 0)?, col(&r, 1)?);
        }
        Ok(status)
    }
}

async fn has_backup_runs(c: &deadpool_postgres::Client) -> DomainResult<bool> {
    col(&query_one(c, "SELECT to_regclass('backup_runs') IS NOT NULL", &[]).await?, 0)
}
