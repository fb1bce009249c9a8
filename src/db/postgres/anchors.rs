//! Seek points into long lists. PostgreSQL's OFFSET walks every skipped index entry (about
//! 0.5 µs each: 25 ms for the middle of 100,000 documents). A server keeps, per owner, list
//! scope and order, the sort key of every `STEP`-th row; a deep page then starts at the seek
//! point before it (`(key, id) >= (…)`, an index range scan) and skips fewer than `STEP` rows.
//! The points are exact only while the owner's lists are unchanged: they are tagged with
//! `owner_document_counts.changes` (bumped by a trigger on every change that can move a row of a
//! list) as read in the same statement that built them, and a request uses them only when the
//! counter it reads is the same. Several servers each keep their own; nothing is shared but the
//! database.

use std::collections::HashMap;
use std::sync::Mutex;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::{col, query};
use crate::domain::{DomainResult, Id};

/// Rows between two seek points.
pub(crate) const STEP: i64 = 500;
/// Lists remembered per server (least recently built dropped first).
const MAX_LISTS: usize = 256;

#[derive(Clone, Debug, PartialEq)]
enum Key {
    Text(String),
    Int(i64),
}

#[derive(Hash, PartialEq, Eq, Clone, Debug)]
struct ListId {
    owner: Id,
    folder: Option<Id>,
    order: &'static str,
}

struct Points {
    changes: i64,
    built: u64,
    keys: Vec<(Key, Id)>,
}

#[derive(Default)]
pub(crate) struct Anchors {
    lists: Mutex<HashMap<ListId, Points>>,
    /// Builds so far: the age of each list's points, for dropping the oldest.
    builds: std::sync::atomic::AtomicU64,
}

/// The first sort key of an `ORDER BY` list such as `lower(d.title) ASC, d.id ASC`, and
/// whether it is descending.
fn first_key(order: &str) -> (&str, bool) {
    let first = order.split(", ").next().unwrap_or(order);
    match first.rsplit_once(' ') {
        Some((expr, dir)) => (expr, dir.eq_ignore_ascii_case("DESC")),
        None => (first, false),
    }
}

/// A seek: rows of the list from `(key, id)` on, then `skip` more.
pub(crate) struct Seek {
    pub condition: String,
    pub params: Vec<Box<dyn ToSql + Send + Sync>>,
    pub skip: i64,
}

impl Anchors {
    /// How to reach row `offset` of the list `documents d WHERE {wher} ORDER BY {order}`
    /// (`wher`'s parameters are `args`; `id` = the list's id expression), or None when the
    /// offset is near the start (a plain OFFSET is as cheap) or past the end. `changes` is the
    /// owner's counter as read for this request.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn seek<C: GenericClient>(
        &self,
        c: &C,
        owner: Id,
        folder: Option<Id>,
        order: &'static str,
        wher: &str,
        args: &[&(dyn ToSql + Sync)],
        changes: i64,
        offset: i64,
        next_param: usize,
    ) -> DomainResult<Option<Seek>> {
        if offset < STEP {
            return Ok(None);
        }
        let list = ListId { owner, folder, order };
        let cached = {
            let lists = self.lists.lock().expect("anchors lock");
            lists.get(&list).filter(|p| p.changes == changes).map(|p| p.keys.get((offset / STEP) as usize).cloned())
        };
        let point = match cached {
            Some(p) => p,
            None => {
                let (points, built_at) = self.build(c, owner, order, wher, args).await?;
                let p = points.get((offset / STEP) as usize).cloned();
                self.remember(list, built_at, points);
                // Built from a newer state than this request read: still exact for that state,
                // and this request's page is as of "now" either way.
                p
            }
        };
        let Some((key, id)) = point else { return Ok(None) };
        let (expr, desc) = first_key(order);
        let op = if desc { "<=" } else { ">=" };
        let condition = format!("({expr}, d.id) {op} (${}, ${})", next_param, next_param + 1);
        let key: Box<dyn ToSql + Send + Sync> = match key {
            Key::Text(s) => Box::new(s),
            Key::Int(i) => Box::new(i),
        };
        Ok(Some(Seek { condition, params: vec![key, Box::new(id)], skip: offset % STEP }))
    }

    async fn build<C: GenericClient>(
        &self,
        c: &C,
        owner: Id,
        order: &'static str,
        wher: &str,
        args: &[&(dyn ToSql + Sync)],
    ) -> DomainResult<(Vec<(Key, Id)>, i64)> {
        let (expr, _) = first_key(order);
        let text = expr.starts_with("lower(");
        let key = if text { expr.to_string() } else { format!("{expr}::bigint") };
        let mut params: Vec<&(dyn ToSql + Sync)> = args.to_vec();
        params.push(&owner);
        // One statement: the points and the counter they are exact for come from one snapshot.
        let sql = format!(
            "SELECT x.key, x.id, (SELECT changes FROM owner_document_counts WHERE owner_id = ${}) \
             FROM (SELECT {key} AS key, d.id, row_number() OVER (ORDER BY {order}) AS rn FROM documents d WHERE {wher}) x \
             WHERE x.rn % {STEP} = 1 ORDER BY x.rn",
            params.len()
        );
        let rows = query(c, &sql, &params).await?;
        self.builds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut points = Vec::with_capacity(rows.len());
        let mut changes = -1;
        for r in &rows {
            let k = if text { Key::Text(col(r, 0)?) } else { Key::Int(col(r, 0)?) };
            points.push((k, col::<Id>(r, 1)?));
            changes = col::<Option<i64>>(r, 2)?.unwrap_or(-1);
        }
        Ok((points, changes))
    }

    fn remember(&self, list: ListId, changes: i64, keys: Vec<(Key, Id)>) {
        if changes < 0 {
            return;
        }
        let built = self.builds.load(std::sync::atomic::Ordering::Relaxed);
        let mut lists = self.lists.lock().expect("anchors lock");
        if lists.len() >= MAX_LISTS
            && !lists.contains_key(&list)
            && let Some(oldest) = lists.iter().min_by_key(|(_, p)| p.built).map(|(k, _)| k.clone())
        {
            lists.remove(&oldest);
        }
        lists.insert(list, Points { changes, built, keys });
    }
}

#[cfg(test)]
mod tests {
    use super::first_key;

    #[test]
    fn first_key_and_direction() {
        assert_eq!(first_key("lower(d.title) ASC, d.id ASC"), ("lower(d.title)", false));
        assert_eq!(first_key("d.created_at DESC, d.id DESC"), ("d.created_at", true));
    }
}
