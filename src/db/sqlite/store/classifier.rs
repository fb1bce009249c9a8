//! The auto classifier's examples and models (#23).

use super::*;
use crate::domain::classifier::{self, ClassifierInfo, Example, TEXT_CHARS, TEXT_PAGES, TrainStats};

/// Models kept per owner (the newest is used; the one before stays for a worker still on it).
const KEEP_MODELS: i64 = 3;

fn info_from(r: &Row<'_>) -> rusqlite::Result<(Id, Millis, String, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn info((id, created_at, fingerprint, stats): (Id, Millis, String, String)) -> ClassifierInfo {
    ClassifierInfo { id, created_at, fingerprint, stats: serde_json::from_str(&stats).unwrap_or_default() }
}

#[async_trait]
impl ClassifierStore for SqliteStore {
    async fn classifier_owners(&self, min: usize) -> DomainResult<Vec<Id>> {
        self.read(move |c| {
            let users: Vec<Id> =
                c.prepare_cached("SELECT id FROM users ORDER BY id")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            let mut out = Vec::new();
            let mut count = c.prepare_cached(
                "SELECT COUNT(*) FROM (SELECT 1 FROM documents WHERE owner_id = ?1 AND trashed_at IS NULL AND state = 'ready' LIMIT ?2)",
            )?;
            for u in users {
                let n: i64 = count.query_row(params![u, min as i64], |r| r.get(0))?;
                if n as usize >= min {
                    out.push(u);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn training_fingerprint(&self, owner: Id) -> DomainResult<(usize, String)> {
        self.read(move |c| {
            let (n, changed, last): (i64, Option<i64>, Option<i64>) = c
                .prepare_cached(
                    "SELECT COUNT(*), MAX(updated_at), MAX(id) FROM documents WHERE owner_id = ?1 AND trashed_at IS NULL AND state = 'ready'",
                )?
                .query_row(params![owner], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok((n as usize, format!("{n}:{}:{}", changed.unwrap_or(0), last.unwrap_or(0))))
        })
        .await
    }

    async fn training_examples(&self, owner: Id, after: Id, limit: usize) -> DomainResult<Vec<(Id, Example)>> {
        self.read(move |c| {
            let inbox: Option<Id> = c
                .prepare_cached("SELECT id FROM folders WHERE owner_id = ?1 AND kind = 'inbox'")?
                .query_row(params![owner], |r| r.get(0))
                .optional()?;
            let mut tags_of = c.prepare_cached("SELECT tag_id FROM document_tags WHERE document_id = ?1 ORDER BY tag_id")?;
            let mut pages = c.prepare_cached("SELECT text FROM pages WHERE version_id = ?1 AND number <= ?2 ORDER BY number")?;
            let mut st = c.prepare_cached(
                "SELECT id, correspondent_id, document_type_id, folder_id, current_version_id FROM documents \
                 WHERE owner_id = ?1 AND trashed_at IS NULL AND state = 'ready' AND id > ?2 ORDER BY id LIMIT ?3",
            )?;
            let mut rows = st.query(params![owner, after, limit as i64])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let (id, folder, version): (Id, Id, Option<Id>) = (r.get(0)?, r.get(3)?, r.get(4)?);
                let mut text = String::new();
                let mut p = pages.query(params![version, TEXT_PAGES])?;
                while let Some(page) = p.next()? {
                    classifier::add_page(&mut text, &page.get::<_, String>(0)?);
                    if text.len() >= TEXT_CHARS {
                        break;
                    }
                }
                let tags: Vec<Id> = tags_of.query_map(params![id], |t| t.get(0))?.collect::<Result<_, _>>()?;
                out.push((
                    id,
                    Example {
                        text,
                        correspondent: r.get(1)?,
                        document_type: r.get(2)?,
                        folder: (Some(folder) != inbox).then_some(folder),
                        tags: (!tags.is_empty()).then_some(tags),
                    },
                ));
            }
            Ok(out)
        })
        .await
    }

    async fn save_classifier(&self, owner: Id, fingerprint: &str, stats: &TrainStats, model: &[u8]) -> DomainResult<ClassifierInfo> {
        let (fingerprint, stats, model) = (fingerprint.to_string(), stats.clone(), model.to_vec());
        self.write(move |tx| {
            let now = now_millis();
            let json = serde_json::to_string(&stats).unwrap_or_default();
            tx.execute(
                "INSERT INTO classifier_models (owner_id, created_at, fingerprint, stats, model) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![owner, now, fingerprint, json, model],
            )?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "DELETE FROM classifier_models WHERE owner_id = ?1 AND id NOT IN \
                 (SELECT id FROM classifier_models WHERE owner_id = ?1 ORDER BY id DESC LIMIT ?2)",
                params![owner, KEEP_MODELS],
            )?;
            Ok(ClassifierInfo { id, created_at: now, fingerprint: fingerprint.clone(), stats: stats.clone() })
        })
        .await
    }

    async fn newest_classifier(&self, owner: Id) -> DomainResult<Option<ClassifierInfo>> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT id, created_at, fingerprint, stats FROM classifier_models WHERE owner_id = ?1 ORDER BY id DESC LIMIT 1",
            )?
            .query_row(params![owner], info_from)
            .optional()?
            .map(info))
        })
        .await
    }

    async fn classifier_model(&self, owner: Id, id: Id) -> DomainResult<Option<Vec<u8>>> {
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT model FROM classifier_models WHERE id = ?1 AND owner_id = ?2")?
                .query_row(params![id, owner], |r| r.get(0))
                .optional()?)
        })
        .await
    }
}
