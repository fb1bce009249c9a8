//! Matching rules (#23).

use super::documents::edit_document;
use super::*;
use crate::domain::matching::{self, Algorithm, MatchPlan, MatchRule, TargetKind, TargetRule};

fn rule_from(r: &Row, kind: TargetKind) -> DomainResult<TargetRule> {
    let algorithm: String = col(r, 2)?;
    Ok(TargetRule {
        kind,
        target_id: col(r, 0)?,
        target_name: col(r, 1)?,
        rule: MatchRule {
            algorithm: Algorithm::parse(&algorithm).unwrap_or(Algorithm::None),
            pattern: col(r, 3)?,
            insensitive: col(r, 4)?,
        },
    })
}

/// A live target of the owner's (folders in the trash are not).
async fn target_owned<C: GenericClient>(c: &C, owner: Id, kind: TargetKind, id: Id) -> DomainResult<()> {
    let live = if kind == TargetKind::Folder { " AND trashed_at IS NULL" } else { "" };
    let sql = format!("SELECT id FROM {} WHERE id = $1 AND owner_id = $2{live}", kind.table());
    match query_opt(c, &sql, &[&id, &owner]).await? {
        Some(_) => Ok(()),
        None => Err(DomainError::not_found(format!("{} {id}", kind.as_str().replace('_', " ")))),
    }
}

async fn rules_of<C: GenericClient>(c: &C, owner: Id, only: Option<(TargetKind, Id)>) -> DomainResult<Vec<TargetRule>> {
    let mut out = Vec::new();
    for kind in TargetKind::ALL {
        if only.is_some_and(|(k, _)| k != kind) {
            continue;
        }
        let live = if kind == TargetKind::Folder { " AND t.trashed_at IS NULL" } else { "" };
        let sql = format!(
            "SELECT t.id, t.name, r.algorithm, r.pattern, r.insensitive FROM match_rules r JOIN {} t ON t.id = r.target_id AND t.owner_id = r.owner_id \
             WHERE r.owner_id = $1 AND r.target_kind = $2 AND ($3::bigint IS NULL OR r.target_id = $3){live} ORDER BY lower(t.name), t.id",
            kind.table()
        );
        let target = only.map(|(_, id)| id);
        for r in query(c, &sql, &[&owner, &kind.as_str(), &target]).await? {
            out.push(rule_from(&r, kind)?);
        }
    }
    Ok(out)
}

async fn inbox_of<C: GenericClient>(c: &C, owner: Id) -> DomainResult<Id> {
    match query_opt(c, "SELECT id FROM folders WHERE owner_id = $1 AND kind = 'inbox'", &[&owner]).await? {
        Some(r) => col(&r, 0),
        None => Err(DomainError::not_found(format!("inbox folder of user {owner}"))),
    }
}

/// The current version's text, pages in order, cut at the matching limit.
pub(super) async fn text_of<C: GenericClient>(c: &C, version_id: Id) -> DomainResult<String> {
    let rows = query(
        c,
        "SELECT left(text, $2) FROM pages WHERE version_id = $1 ORDER BY number",
        &[&version_id, &(matching::MAX_TEXT_CHARS as i32)],
    )
    .await?;
    let mut text = String::new();
    for r in rows {
        if !matching::add_page(&mut text, &col::<String>(&r, 0)?) {
            break;
        }
    }
    Ok(text)
}

#[async_trait]
impl MatchStore for PgStore {
    async fn match_rules(&self, owner: Id) -> DomainResult<Vec<TargetRule>> {
        let c = self.client().await?;
        rules_of(&c, owner, None).await
    }

    async fn set_match_rule(&self, owner: Id, kind: TargetKind, target_id: Id, rule: &MatchRule) -> DomainResult<Option<TargetRule>> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        target_owned(&tx, owner, kind, target_id).await?;
        let out = if rule.algorithm == Algorithm::None {
            exec(&tx, "DELETE FROM match_rules WHERE target_kind = $1 AND target_id = $2", &[&kind.as_str(), &target_id]).await?;
            None
        } else {
            exec(
                &tx,
                "INSERT INTO match_rules (owner_id, target_kind, target_id, algorithm, pattern, insensitive, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (target_kind, target_id) DO UPDATE SET algorithm = excluded.algorithm, pattern = excluded.pattern, \
                 insensitive = excluded.insensitive, updated_at = excluded.updated_at",
                &[&owner, &kind.as_str(), &target_id, &rule.algorithm.as_str(), &rule.pattern, &rule.insensitive, &now_millis()],
            )
            .await?;
            rules_of(&tx, owner, Some((kind, target_id))).await?.pop()
        };
        Self::commit(tx, &[], false).await?;
        Ok(out)
    }

    async fn match_inputs(&self, owner: Id, ids: &[Id]) -> DomainResult<Vec<(matching::DocState, String)>> {
        let c = self.client().await?;
        let inbox = inbox_of(&c, owner).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let doc = match load_document(&c, owner, *id).await {
                Ok(d) if d.trashed_at.is_none() => d,
                Ok(_) | Err(DomainError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let text = text_of(&c, doc.version.id).await?;
            out.push((matching::DocState::of(&doc, inbox), text));
        }
        Ok(out)
    }

    async fn apply_matches(&self, owner: Id, plans: &[MatchPlan], fence: Option<&ChunkFence>) -> DomainResult<bool> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        if let Some(f) = fence {
            let ours = exec(
                &tx,
                "UPDATE jobs SET progress_done = $4, progress_total = $5, updated_at = $6 \
                 WHERE id = $1 AND locked_by = $2 AND lease_seq = $3 AND state = 'running'",
                &[&f.lease.job_id, &f.lease.worker_id, &f.lease.seq, &(f.done_after as i32), &(f.total as i32), &now_millis()],
            )
            .await?;
            if ours == 0 {
                return Ok(false);
            }
        }
        let inbox = inbox_of(&tx, owner).await?;
        let mut events = Vec::new();
        // Rows locked in id order, so two runs over the same documents cannot deadlock.
        let mut ids: Vec<Id> = plans.iter().filter(|p| p.changes_something()).map(|p| p.document_id).collect();
        ids.sort_unstable();
        exec(&tx, "SELECT id FROM documents WHERE id = ANY($1) AND owner_id = $2 ORDER BY id FOR UPDATE", &[&ids, &owner]).await?;
        for plan in plans.iter().filter(|p| p.changes_something()) {
            let doc = match load_document(&tx, owner, plan.document_id).await {
                Ok(d) if d.trashed_at.is_none() => d,
                Ok(_) | Err(DomainError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let Some((patch, add_tags, kept)) = matching::still_applies(plan, &matching::DocState::of(&doc, inbox)) else {
                continue;
            };
            edit_document(&tx, &doc, &patch, (&add_tags, &[]), &matching::edited_by(&kept), &mut events).await?;
        }
        Self::commit(tx, &events, false).await?;
        Ok(true)
    }
}
