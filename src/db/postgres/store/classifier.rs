//! The auto classifier's examples and models (#23).

use super::*;
use crate::domain::classifier::{self, ClassifierInfo, Example, TEXT_CHARS, TEXT_PAGES, TrainStats};

/// Models kept per owner (the newest is used; the one before stays for a worker still on it).
const KEEP_MODELS: i64 = 3;
/// Documents whose texts are read in one query.
const TEXT_BATCH: usize = 500;

fn info_from(r: &Row) -> DomainResult<ClassifierInfo> {
    let stats: String = col(r, 3)?;
    Ok(ClassifierInfo {
        id: col(r, 0)?,
        created_at: col(r, 1)?,
        fingerprint: col(r, 2)?,
        stats: serde_json::from_str(&stats).unwrap_or_default(),
    })
}

#[async_trait]
impl ClassifierStore for PgStore {
    async fn classifier_owners(&self, min: usize) -> DomainResult<Vec<Id>> {
        let c = self.client().await?;
        let mut out = Vec::new();
        for u in query(&c, "SELECT id FROM users ORDER BY id", &[]).await? {
            let u: Id = col(&u, 0)?;
            let n: i64 = col(
                &query_one(
                    &c,
                    "SELECT COUNT(*) FROM (SELECT 1 FROM documents WHERE owner_id = $1 AND trashed_at IS NULL AND state = 'ready' LIMIT $2) x",
                    &[&u, &(min as i64)],
                )
                .await?,
                0,
            )?;
            if n as usize >= min {
                out.push(u);
            }
        }
        Ok(out)
    }

    async fn training_fingerprint(&self, owner: Id) -> DomainResult<(usize, String)> {
        let c = self.client().await?;
        let r = query_one(
            &c,
            "SELECT COUNT(*), MAX(updated_at), MAX(id) FROM documents WHERE owner_id = $1 AND trashed_at IS NULL AND state = 'ready'",
            &[&owner],
        )
        .await?;
        let (n, changed, last): (i64, Option<i64>, Option<i64>) = (col(&r, 0)?, col(&r, 1)?, col(&r, 2)?);
        Ok((n as usize, format!("{n}:{}:{}", changed.unwrap_or(0), last.unwrap_or(0))))
    }

    async fn training_examples(&self, owner: Id, after: Id, limit: usize) -> DomainResult<Vec<(Id, Example)>> {
        let c = self.client().await?;
        let inbox: Option<Id> = match query_opt(&c, "SELECT id FROM folders WHERE owner_id = $1 AND kind = 'inbox'", &[&owner]).await? {
            Some(r) => Some(col(&r, 0)?),
            None => None,
        };
        let docs = query(
            &c,
            "SELECT id, correspondent_id, document_type_id, folder_id, current_version_id FROM documents \
             WHERE owner_id = $1 AND trashed_at IS NULL AND state = 'ready' AND id > $2 ORDER BY id LIMIT $3",
            &[&owner, &after, &(limit as i64)],
        )
        .await?;
        let ids: Vec<Id> = docs.iter().map(|r| col(r, 0)).collect::<DomainResult<_>>()?;
        let mut tags: HashMap<Id, Vec<Id>> = HashMap::new();
        for r in
            query(&c, "SELECT document_id, tag_id FROM document_tags WHERE document_id = ANY($1) ORDER BY document_id, tag_id", &[&ids])
                .await?
        {
            tags.entry(col(&r, 0)?).or_default().push(col(&r, 1)?);
        }
        let mut out = Vec::with_capacity(docs.len());
        let mut versions = Vec::with_capacity(docs.len());
        for r in &docs {
            let (id, folder): (Id, Id) = (col(r, 0)?, col(r, 3)?);
            versions.push(col::<Option<Id>>(r, 4)?.unwrap_or(0));
            out.push((
                id,
                Example {
                    text: String::new(),
                    correspondent: col(r, 1)?,
                    document_type: col(r, 2)?,
                    folder: (Some(folder) != inbox).then_some(folder),
                    tags: tags.remove(&id),
                },
            ));
        }
        drop(docs);
        let at: HashMap<Id, usize> = versions.iter().enumerate().map(|(i, v)| (*v, i)).collect();
        for batch in versions.chunks(TEXT_BATCH) {
            let rows = query(
                &c,
                "SELECT version_id, left(text, $2) FROM pages WHERE version_id = ANY($1) AND number <= $3 ORDER BY version_id, number",
                &[&batch, &(TEXT_CHARS as i32), &(TEXT_PAGES as i32)],
            )
            .await?;
            for r in rows {
                let v: Id = col(&r, 0)?;
                if let Some((_, e)) = at.get(&v).and_then(|&i| out.get_mut(i))
                    && e.text.len() < TEXT_CHARS
                {
                    classifier::add_page(&mut e.text, &col::<String>(&r, 1)?);
                }
            }
        }
        Ok(out)
    }

    async fn save_classifier(&self, owner: Id, fingerprint: &str, stats: &TrainStats, model: &[u8]) -> DomainResult<ClassifierInfo> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        let json = serde_json::to_string(stats).unwrap_or_default();
        let r = query_one(
            &tx,
            "INSERT INTO classifier_models (owner_id, created_at, fingerprint, stats, model) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&owner, &now, &fingerprint, &json, &model],
        )
        .await?;
        let id: Id = col(&r, 0)?;
        exec(
            &tx,
            "DELETE FROM classifier_models WHERE owner_id = $1 AND id NOT IN \
             (SELECT id FROM classifier_models WHERE owner_id = $1 ORDER BY id DESC LIMIT $2)",
            &[&owner, &KEEP_MODELS],
        )
        .await?;
        Self::commit(tx, &[], false).await?;
        Ok(ClassifierInfo { id, created_at: now, fingerprint: fingerprint.to_string(), stats: stats.clone() })
    }

    async fn newest_classifier(&self, owner: Id) -> DomainResult<Option<ClassifierInfo>> {
        let c = self.client().await?;
        match query_opt(
            &c,
            "SELECT id, created_at, fingerprint, stats FROM classifier_models WHERE owner_id = $1 ORDER BY id DESC LIMIT 1",
            &[&owner],
        )
        .await?
        {
            Some(r) => Ok(Some(info_from(&r)?)),
            None => Ok(None),
        }
    }

    async fn classifier_model(&self, owner: Id, id: Id) -> DomainResult<Option<Vec<u8>>> {
        let c = self.client().await?;
        match query_opt(&c, "SELECT model FROM classifier_models WHERE id = $1 AND owner_id = $2", &[&id, &owner]).await? {
            Some(r) => Ok(Some(col(&r, 0)?)),
            None => Ok(None),
        }
    }
}
