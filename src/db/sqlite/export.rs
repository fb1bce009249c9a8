//! `ArchiveStore` for SQLite: the export snapshot is one read transaction on a read-only
//! connection, each table read by a stepping statement (constant memory); an import chunk is
//! one `BEGIN IMMEDIATE` transaction that also writes the search index and the progress row.

use std::collections::HashMap;

use async_trait::async_trait;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::Value;

use super::SqliteStore;
use crate::domain::archive::*;
use crate::domain::{DomainError, DomainResult, Id, Millis};

/// The import bookkeeping table. Created by the importer (not a migration): it only exists in
/// databases that were filled by `docmerge import`.
const PROGRESS_DDL: &str =
    "CREATE TABLE IF NOT EXISTS archive_import (table_name TEXT PRIMARY KEY, archive_id TEXT NOT NULL, lines_done INTEGER NOT NULL)";

/// Which rows of `t` an export keeps: `?1` is SINCE (ms) or NULL for everything.
fn filter_sql(t: &TableSpec) -> &'static str {
    match t.changed {
        Changed::Always => "(?1 IS NULL OR 1 = 1)",
        Changed::Documents => "(?1 IS NULL OR x.updated_at >= ?1 OR x.created_at >= ?1)",
        Changed::Versions => {
            "(?1 IS NULL OR x.created_at >= ?1 OR x.document_id IN (SELECT id FROM documents WHERE updated_at >= ?1 OR created_at >= ?1))"
        }
        Changed::Pages => {
            "(?1 IS NULL OR x.version_id IN (SELECT id FROM versions WHERE created_at >= ?1 OR document_id IN (SELECT id FROM documents WHERE updated_at >= ?1 OR created_at >= ?1)))"
        }
        Changed::DocumentLinks => "(?1 IS NULL OR x.document_id IN (SELECT id FROM documents WHERE updated_at >= ?1 OR created_at >= ?1))",
    }
}

fn select_sql(t: &TableSpec) -> String {
    let cols = t.columns.iter().map(|c| format!("x.{}", c.name)).collect::<Vec<_>>().join(", ");
    if t.name == "folders" {
        // Parents before children, so every parent exists when its child is imported.
        return format!(
            "WITH RECURSIVE tree(id, depth) AS (SELECT id, 0 FROM folders WHERE parent_id IS NULL \
             UNION ALL SELECT f.id, tree.depth + 1 FROM folders f JOIN tree ON f.parent_id = tree.id) \
             SELECT {cols} FROM folders x JOIN tree ON tree.id = x.id WHERE ?1 IS NULL OR 1 = 1 ORDER BY tree.depth, x.id"
        );
    }
    format!(
        "SELECT {cols} FROM {} x WHERE {} ORDER BY {}",
        t.name,
        filter_sql(t),
        t.key.iter().map(|k| format!("x.{k}")).collect::<Vec<_>>().join(", ")
    )
}

fn blob_sql(with_derived: bool) -> String {
    let versions =
        "(?1 IS NULL OR created_at >= ?1 OR document_id IN (SELECT id FROM documents WHERE updated_at >= ?1 OR created_at >= ?1))";
    let mut parts = vec![format!("SELECT sha256 AS sha, 0 AS derived FROM versions WHERE {versions}")];
    if with_derived {
        parts.push(format!("SELECT searchable_sha256, 1 FROM versions WHERE searchable_sha256 IS NOT NULL AND {versions}"));
        for c in ["thumbnail_sha256", "preview_sha256"] {
            parts.push(format!(
                "SELECT {c}, 1 FROM pages WHERE {c} IS NOT NULL AND version_id IN (SELECT id FROM versions WHERE {versions})"
            ));
        }
    }
    format!("SELECT sha, MIN(derived) FROM ({}) GROUP BY sha ORDER BY sha", parts.join(" UNION ALL "))
}

fn to_json(v: ValueRef<'_>, ty: ColType) -> Value {
    match (v, ty) {
        (ValueRef::Null, _) => Value::Null,
        (ValueRef::Integer(i), ColType::Bool) => Value::Bool(i != 0),
        (ValueRef::Integer(i), ColType::Real) => serde_json::Number::from_f64(i as f64).map(Value::Number).unwrap_or(Value::Null),
        (ValueRef::Integer(i), _) => Value::from(i),
        (ValueRef::Real(f), _) => serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null),
        (ValueRef::Text(t), _) => Value::String(String::from_utf8_lossy(t).into_owned()),
        (ValueRef::Blob(b), _) => Value::String(String::from_utf8_lossy(b).into_owned()),
    }
}

fn snapshot(conn: &Connection, filter: SnapshotFilter, sink: &mut dyn RowSink) -> DomainResult<()> {
    let since = filter.since;
    for t in TABLES {
        sink.begin_table(t)?;
        let mut st = conn.prepare(&select_sql(t))?;
        let mut rows = st.query(params![since])?;
        while let Some(r) = rows.next()? {
            let mut row = Row::new();
            for (i, c) in t.columns.iter().enumerate() {
                row.insert(c.name.to_string(), to_json(r.get_ref(i)?, c.ty));
            }
            sink.row(t, row)?;
        }
    }
    let mut st = conn.prepare(&blob_sql(filter.with_derived))?;
    let mut rows = st.query(params![since])?;
    while let Some(r) = rows.next()? {
        sink.blob(BlobRef { sha256: r.get(0)?, derived: r.get::<_, i64>(1)? != 0 })?;
    }
    Ok(())
}

/// A row's value for column `c` as SQLite stores it; a wrong or missing value names the column.
pub(crate) fn sql_value(row: &Row, c: &Column) -> Result<SqlValue, String> {
    let v = row.get(c.name).unwrap_or(&Value::Null);
    let bad = || format!("column {} has the wrong type ({v})", c.name);
    Ok(match (v, c.ty) {
        (Value::Null, _) if c.nullable => SqlValue::Null,
        (Value::Null, _) => return Err(format!("column {} is missing", c.name)),
        (Value::Number(n), ColType::Int) => SqlValue::Integer(n.as_i64().ok_or_else(bad)?),
        (Value::Number(n), ColType::Real) => SqlValue::Real(n.as_f64().ok_or_else(bad)?),
        (Value::Bool(b), ColType::Bool) => SqlValue::Integer(*b as i64),
        (Value::String(s), ColType::Text) => SqlValue::Text(s.clone()),
        _ => return Err(bad()),
    })
}

fn insert_sql(t: &TableSpec, mode: ImportMode) -> String {
    let params = (1..=t.columns.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
    let on_conflict = match mode {
        ImportMode::Restore => "ON CONFLICT DO NOTHING".to_string(),
        ImportMode::Apply => {
            let sets: Vec<String> =
                t.columns.iter().filter(|c| !t.key.contains(&c.name)).map(|c| format!("{0} = excluded.{0}", c.name)).collect();
            if sets.is_empty() {
                "ON CONFLICT DO NOTHING".to_string()
            } else {
                format!("ON CONFLICT ({}) DO UPDATE SET {}", t.key.join(", "), sets.join(", "))
            }
        }
    };
    format!("INSERT INTO {} ({}) VALUES ({params}) {on_conflict}", t.name, t.column_list())
}

fn index_row(tx: &Transaction<'_>, t: &TableSpec, row: &Row, mode: ImportMode) -> DomainResult<()> {
    let id = row.get("id").and_then(Value::as_i64).unwrap_or_default();
    match t.name {
        "documents" => {
            if mode == ImportMode::Apply {
                let old: Vec<Id> = {
                    let mut st = tx.prepare_cached("SELECT rowid FROM search_index WHERE document_id = ?1")?;
                    st.query_map(params![id], |r| r.get(0))?.collect::<Result<_, _>>()?
                };
                for rid in old {
                    tx.execute("DELETE FROM search_index WHERE rowid = ?1", params![rid])?;
                }
            }
            let title = row.get("title").and_then(Value::as_str).unwrap_or_default();
            tx.prepare_cached("INSERT INTO search_index (rowid, body, document_id, page_number) VALUES (?1, ?2, ?3, 0)")
                .and_then(|mut st| st.execute(params![-id, title, id]))?;
        }
        "notes" => {
            // A document's notes are searchable with its title.
            let doc = row.get("document_id").and_then(Value::as_i64).unwrap_or_default();
            let Some(title) =
                tx.query_row("SELECT title FROM documents WHERE id = ?1", params![doc], |r| r.get::<_, String>(0)).optional()?
            else {
                return Ok(());
            };
            let notes: Vec<String> = tx
                .prepare_cached("SELECT body FROM notes WHERE document_id = ?1 ORDER BY id")?
                .query_map(params![doc], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let body = crate::domain::metadata::searchable_title(&title, &notes);
            tx.execute("DELETE FROM search_index WHERE rowid = ?1", params![-doc])?;
            tx.execute(
                "INSERT INTO search_index (rowid, body, document_id, page_number) VALUES (?1, ?2, ?3, 0)",
                params![-doc, body, doc],
            )?;
        }
        "pages" => {
            if mode == ImportMode::Apply {
                tx.execute("DELETE FROM search_index WHERE rowid = ?1", params![id])?;
            }
            tx.prepare_cached(
                "INSERT INTO search_index (rowid, body, document_id, page_number) \
                 SELECT p.id, p.text, d.id, p.number FROM pages p JOIN versions v ON v.id = p.version_id \
                 JOIN documents d ON d.id = v.document_id AND d.current_version_id = v.id WHERE p.id = ?1 AND v.state = 'ready' AND p.text != ''",
            )
            .and_then(|mut st| st.execute(params![id]))
            ?;
        }
        _ => {}
    }
    Ok(())
}

fn import_chunk(tx: &Transaction<'_>, t: &TableSpec, rows: &[Row], lines_after: u64, mode: ImportMode) -> DomainResult<u64> {
    let first_line = lines_after - rows.len() as u64 + 1;
    let sql = insert_sql(t, mode);
    let mut written = 0;
    for (i, row) in rows.iter().enumerate() {
        let values = t
            .columns
            .iter()
            .map(|c| sql_value(row, c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DomainError::Invalid(format!("{} line {}: {e}", t.file(), first_line + i as u64)))?;
        let n = tx
            .prepare_cached(&sql)
            .and_then(|mut st| st.execute(rusqlite::params_from_iter(values)))
            .map_err(|e| DomainError::Invalid(format!("{} line {}: {e}", t.file(), first_line + i as u64)))?;
        // A row already there (an earlier, interrupted run) already has its index entries.
        if n == 1 {
            written += 1;
            index_row(tx, t, row, mode)?;
        }
    }
    tx.execute("UPDATE archive_import SET lines_done = ?2 WHERE table_name = ?1", params![t.name, lines_after as i64])?;
    Ok(written)
}

#[async_trait]
impl ArchiveStore for SqliteStore {
    async fn export_snapshot(&self, filter: SnapshotFilter, sink: Box<dyn RowSink>) -> DomainResult<Box<dyn RowSink>> {
        self.read(move |conn| {
            let mut sink = sink;
            snapshot(conn, filter, sink.as_mut())?;
            Ok(sink)
        })
        .await
    }

    async fn import_progress(&self) -> DomainResult<(Option<ImportProgress>, i64)> {
        self.read(|conn| {
            let existing: i64 =
                conn.query_row("SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM documents)", [], |r| r.get(0))?;
            let has_table: bool =
                conn.query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'archive_import'", [], |r| {
                    r.get::<_, i64>(0)
                })? > 0;
            if !has_table {
                return Ok((None, existing));
            }
            let mut st = conn.prepare("SELECT table_name, archive_id, lines_done FROM archive_import")?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((ImportProgress::from_rows(rows), existing))
        })
        .await
    }

    async fn begin_import(&self, archive_id: &str) -> DomainResult<()> {
        let archive_id = archive_id.to_string();
        self.write(move |tx| {
            tx.execute(PROGRESS_DDL, [])?;
            tx.execute("DELETE FROM archive_import WHERE archive_id != ?1", params![archive_id])?;
            for name in std::iter::once(PROGRESS_BEGIN_ROW).chain(TABLES.iter().map(|t| t.name)) {
                tx.execute(
                    "INSERT INTO archive_import (table_name, archive_id, lines_done) VALUES (?1, ?2, 0) ON CONFLICT DO NOTHING",
                    params![name, archive_id],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn import_rows(&self, table: &'static TableSpec, rows: Vec<Row>, lines_done_after: u64, mode: ImportMode) -> DomainResult<u64> {
        self.write(move |tx| import_chunk(tx, table, &rows, lines_done_after, mode)).await
    }

    async fn finish_import(&self) -> DomainResult<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO archive_import (table_name, archive_id, lines_done) \
                 SELECT ?1, archive_id, 1 FROM archive_import WHERE table_name = ?2 ON CONFLICT DO NOTHING",
                params![PROGRESS_FINISHED_ROW, PROGRESS_BEGIN_ROW],
            )?;
            Ok(())
        })
        .await
    }

    async fn versions_after(&self, after_id: Id, limit: i64) -> DomainResult<Vec<VersionNeedingWork>> {
        self.read(move |conn| {
            let mut st = conn.prepare(
                "SELECT d.owner_id, v.document_id, v.id, v.state, v.searchable_sha256, d.current_version_id = v.id \
                     FROM versions v JOIN documents d ON d.id = v.document_id WHERE v.id > ?1 ORDER BY v.id LIMIT ?2",
            )?;
            let mut out: Vec<VersionNeedingWork> = st
                .query_map(params![after_id, limit], |r| {
                    Ok(VersionNeedingWork {
                        owner_id: r.get(0)?,
                        document_id: r.get(1)?,
                        version_id: r.get(2)?,
                        state: r.get(3)?,
                        is_current: r.get::<_, Option<bool>>(5)?.unwrap_or(false),
                        derived: r.get::<_, Option<String>>(4)?.into_iter().collect(),
                    })
                })?
                .collect::<Result<_, _>>()?;
            if let (Some(first), Some(last)) = (out.first().map(|v| v.version_id), out.last().map(|v| v.version_id)) {
                let mut st =
                    conn.prepare("SELECT version_id, thumbnail_sha256, preview_sha256 FROM pages WHERE version_id BETWEEN ?1 AND ?2")?;
                let mut by_version: HashMap<Id, Vec<String>> = HashMap::new();
                let rows = st.query_map(params![first, last], |r| {
                    Ok((r.get::<_, Id>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, Option<String>>(2)?))
                })?;
                for r in rows {
                    let (vid, a, b) = r?;
                    by_version.entry(vid).or_default().extend(a.into_iter().chain(b));
                }
                for v in &mut out {
                    v.derived.extend(by_version.remove(&v.version_id).unwrap_or_default());
                }
            }
            Ok(out)
        })
        .await
    }

    async fn set_derived(&self, version_id: Id, searchable_sha256: &str, pages: Vec<(i32, String, String)>) -> DomainResult<()> {
        let searchable = searchable_sha256.to_string();
        self.write(move |tx| {
            tx.execute("UPDATE versions SET searchable_sha256 = ?2 WHERE id = ?1", params![version_id, searchable])?;
            for (number, thumb, preview) in &pages {
                tx.execute(
                    "UPDATE pages SET thumbnail_sha256 = ?3, preview_sha256 = ?4 WHERE version_id = ?1 AND number = ?2",
                    params![version_id, number, thumb, preview],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn max_ids(&self, tables: &[&'static str]) -> DomainResult<Vec<Id>> {
        let sql = max_ids_sql(tables).ok_or_else(|| DomainError::database(format!("max_ids of unknown tables {tables:?}")))?;
        let n = tables.len();
        self.read(move |conn| {
            conn.query_row(&sql, [], |r| (0..n).map(|i| r.get::<_, Id>(i)).collect::<Result<Vec<_>, _>>()).map_err(DomainError::from)
        })
        .await
    }

    async fn begin_backup(&self, slot: &str, job_id: Id, now: Millis) -> DomainResult<bool> {
        let slot = slot.to_string();
        self.write(move |tx| {
            tx.execute(BACKUP_RUNS_DDL, [])?;
            let n = tx.execute(
                "INSERT INTO backup_runs (slot, job_id, state, started_at) VALUES (?1, ?2, 'running', ?3) \
                     ON CONFLICT (slot) DO UPDATE SET state = 'running', started_at = excluded.started_at \
                     WHERE backup_runs.job_id = excluded.job_id AND backup_runs.state <> 'done'",
                params![slot, job_id, now],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn finish_backup(&self, slot: &str, outcome: BackupOutcome) -> DomainResult<()> {
        let slot = slot.to_string();
        self.write(move |tx| {
            match &outcome {
                BackupOutcome::Done { finished_at, duration_ms, file, size } => tx.execute(
                    "UPDATE backup_runs SET state = 'done', finished_at = ?2, duration_ms = ?3, file = ?4, size = ?5 WHERE slot = ?1",
                    params![slot, finished_at, duration_ms, file, size],
                ),
                BackupOutcome::Failed { at, error } => tx.execute(
                    "UPDATE backup_runs SET state = 'failed', failures = failures + 1, last_error = ?2, failed_at = ?3 WHERE slot = ?1",
                    params![slot, error, at],
                ),
            }?;
            Ok(())
        })
        .await
    }

    async fn backup_state(&self, slot: &str) -> DomainResult<Option<String>> {
        let slot = slot.to_string();
        self.read(move |conn| {
            if !has_backup_runs(conn)? {
                return Ok(None);
            }
            conn.query_row("SELECT state FROM backup_runs WHERE slot = ?1", params![slot], |r| r.get(0))
                .optional()
                .map_err(DomainError::from)
        })
        .await
    }

    async fn backup_status(&self) -> DomainResult<BackupStatus> {
        self.read(|conn| {
            let mut status = BackupStatus::default();
            if !has_backup_runs(conn)? {
                return Ok(status);
            }
            if let Some((at, ms, file, size)) = conn
                .query_row(
                    "SELECT finished_at, duration_ms, file, size FROM backup_runs WHERE state = 'done' ORDER BY finished_at DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?
            {
                (status.last_success_at, status.last_duration_ms, status.last_file, status.last_size) = (at, ms, file, size);
            }
            status.failures_total = conn.query_row("SELECT COALESCE(SUM(failures), 0) FROM backup_runs", [], |r| r.get(0))?;
            if let Some((at, error)) = conn
                .query_row(
                    "SELECT failed_at, last_error FROM backup_runs WHERE failed_at IS NOT NULL ORDER BY failed_at DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
            {
                (status.last_failure_at, status.last_error) = (at, error);
            }
            Ok(status)
        })
        .await
    }
}

fn has_backup_runs(conn: &Connection) -> DomainResult<bool> {
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'backup_runs'", [], |r| r.get(0))?;
    Ok(n > 0)
}
