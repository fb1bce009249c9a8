//! Matching rules (#23).

use super::documents::edit_document;
use super::*;
use crate::domain::matching::{self, Algorithm, MatchPlan, MatchRule, TargetKind, TargetRule};

fn rule_from(r: &Row<'_>, kind: TargetKind) -> rusqlite::Result<TargetRule> {
    let algorithm: String = r.get(2)?;
    Ok(TargetRule {
        kind,
        target_id: r.get(0)?,
        target_name: r.get(1)?,
        rule: MatchRule { algorithm: Algorithm::parse(&algorithm).unwrap_or(Algorithm::None), pattern: r.get(3)?, insensitive: r.get(4)? },
    })
}

/// A live target of the owner's (folders in the trash are not).
fn target_owned(c: &Connection, owner: Id, kind: TargetKind, id: Id) -> DomainResult<()> {
    let live = if kind == TargetKind::Folder { " AND trashed_at IS NULL" } else { "" };
    let found: Option<Id> = c
        .prepare_cached(&format!("SELECT id FROM {} WHERE id = ?1 AND owner_id = ?2{live}", kind.table()))?
        .query_row(params![id, owner], |r| r.get(0))
        .optional()?;
    found.map(|_| ()).ok_or_else(|| DomainError::not_found(format!("{} {id}", kind.as_str().replace('_', " "))))
}

fn rules_of(c: &Connection, owner: Id, only: Option<(TargetKind, Id)>) -> DomainResult<Vec<TargetRule>> {
    let mut out = Vec::new();
    for kind in TargetKind::ALL {
        if only.is_some_and(|(k, _)| k != kind) {
            continue;
        }
        let live = if kind == TargetKind::Folder { " AND t.trashed_at IS NULL" } else { "" };
        let sql = format!(
            "SELECT t.id, t.name, r.algorithm, r.pattern, r.insensitive FROM match_rules r JOIN {} t ON t.id = r.target_id AND t.owner_id = r.owner_id \
             WHERE r.owner_id = ?1 AND r.target_kind = ?2 AND (?3 IS NULL OR r.target_id = ?3){live} ORDER BY t.name COLLATE NOCASE, t.id",
            kind.table()
        );
        let rows = c
            .prepare_cached(&sql)?
            .query_map(params![owner, kind.as_str(), only.map(|(_, id)| id)], |r| rule_from(r, kind))?
            .collect::<Result<Vec<_>, _>>()?;
        out.extend(rows);
    }
    Ok(out)
}

fn inbox_of(c: &Connection, owner: Id) -> DomainResult<Id> {
    c.prepare_cached("SELECT id FROM folders WHERE owner_id = ?1 AND kind = 'inbox'")?
        .query_row(params![owner], |r| r.get(0))
        .optional()?
        .ok_or_else(|| DomainError::not_found(format!("inbox folder of user {owner}")))
}

/// The current version's text, pages in order, cut at the matching limit.
pub(super) fn text_of(c: &Connection, version_id: Id) -> DomainResult<String> {
    let mut text = String::new();
    let mut st = c.prepare_cached("SELECT text FROM pages WHERE version_id = ?1 ORDER BY number")?;
    let mut rows = st.query(params![version_id])?;
    while let Some(r) = rows.next()? {
        let page: String = r.get(0)?;
        if !matching::add_page(&mut text, &page) {
            break;
        }
    }
    Ok(text)
}

#[async_trait]
impl MatchStore for SqliteStore {
    async fn match_rules(&self, owner: Id) -> DomainResult<Vec<TargetRule>> {
        self.read(move |c| rules_of(c, owner, None)).await
    }

    async fn set_match_rule(&self, owner: Id, kind: TargetKind, target_id: Id, rule: &MatchRule) -> DomainResult<Option<TargetRule>> {
        let rule = rule.clone();
        self.write(move |tx| {
            target_owned(tx, owner, kind, target_id)?;
            if rule.algorithm == Algorithm::None {
                tx.execute("DELETE FROM match_rules WHERE target_kind = ?1 AND target_id = ?2", params![kind.as_str(), target_id])?;
                return Ok(None);
            }
            tx.execute(
                "INSERT INTO match_rules (owner_id, target_kind, target_id, algorithm, pattern, insensitive, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (target_kind, target_id) DO UPDATE SET algorithm = excluded.algorithm, pattern = excluded.pattern, \
                 insensitive = excluded.insensitive, updated_at = excluded.updated_at",
                params![owner, kind.as_str(), target_id, rule.algorithm.as_str(), rule.pattern, rule.insensitive, now_millis()],
            )?;
            Ok(rules_of(tx, owner, Some((kind, target_id)))?.pop())
        })
        .await
    }

    async fn match_inputs(&self, owner: Id, ids: &[Id]) -> DomainResult<Vec<(matching::DocState, String)>> {
        let ids = ids.to_vec();
        self.read(move |c| {
            let inbox = inbox_of(c, owner)?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let doc = match load_document(c, owner, id) {
                    Ok(d) if d.trashed_at.is_none() => d,
                    Ok(_) | Err(DomainError::NotFound(_)) => continue,
                    Err(e) => return Err(e),
                };
                let text = text_of(c, doc.version.id)?;
                out.push((matching::DocState::of(&doc, inbox), text));
            }
            Ok(out)
        })
        .await
    }

    async fn apply_matches(&self, owner: Id, plans: &[MatchPlan], fence: Option<&ChunkFence>) -> DomainResult<bool> {
        let (plans, fence) = (plans.to_vec(), fence.cloned());
        self.write(move |tx| {
            if let Some(f) = &fence {
                let ours = tx
                    .prepare_cached(
                        "UPDATE jobs SET progress_done = ?4, progress_total = ?5, updated_at = ?6 \
                         WHERE id = ?1 AND locked_by = ?2 AND lease_seq = ?3 AND state = 'running'",
                    )?
                    .execute(params![f.lease.job_id, f.lease.worker_id, f.lease.seq, f.done_after, f.total, now_millis()])?;
                if ours == 0 {
                    return Ok(false);
                }
            }
            let inbox = inbox_of(tx, owner)?;
            for plan in plans.iter().filter(|p| p.changes_something()) {
                let doc = match load_document(tx, owner, plan.document_id) {
                    Ok(d) if d.trashed_at.is_none() => d,
                    Ok(_) | Err(DomainError::NotFound(_)) => continue,
                    Err(e) => return Err(e),
                };
                let Some((patch, add_tags, kept)) = matching::still_applies(plan, &matching::DocState::of(&doc, inbox)) else {
                    continue;
                };
                edit_document(tx, &doc, &patch, (&add_tags, &[]), &matching::edited_by(&kept))?;
            }
            Ok(true)
        })
        .await
    }
}
