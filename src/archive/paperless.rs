//! `docmerge import --from-paperless DIR`: a paperless-ngx `document_exporter` directory.
//!
//! The export is converted into a docmerge archive (the format `docmerge import` reads) in a
//! scratch directory under the storage root, then imported by the ordinary importer — so it
//! is verified before the database is touched, written in chunked transactions that record
//! their progress, and resumable. The scratch archive is named after the paperless manifest's
//! checksum and the owner, so running the command again after an interruption continues the
//! same import instead of starting another.
//!
//! `manifest.json` (a JSON array of Django fixtures, possibly hundreds of MB) is streamed
//! object by object, twice: first the small objects (tags, correspondents, document types,
//! notes, users), then the documents. Each document's original is checked against paperless's
//! MD5 `checksum` while it is copied into the blob store, and its archive PDF against
//! `archive_checksum`. Any missing or damaged file stops the conversion with the document's
//! id and title, before a single row is written.
//!
//! Mapping (also in docs/backup.md): title → title; `created` (date or date-time) → the
//! document's date (`created_at`); `added` → the version's upload time; `modified` →
//! `updated_at`; original → version 1, re-processed by docmerge's own pipeline (queued, like
//! an upload); archive PDF → verified, not stored (docmerge builds its own searchable PDF);
//! `content` → not kept (the page text comes from processing); tags → tags; correspondent →
//! tag `correspondent:NAME`; document type → tag `type:NAME`; notes → the version's note.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use md5::Md5;
use serde::de::{SeqAccess, Visitor};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::export::{BlobLine, HashedFile};
use crate::app::{AppContext, AppError};
use crate::domain::archive::*;
use crate::domain::{Id, Millis};

use crate::domain::archive::PAPERLESS_SOURCE;
const SYNC_EVERY_FILES: u64 = 2000;

fn bad(msg: String) -> AppError {
    AppError::Runtime(msg)
}

/// Calls `each` for every element of the top-level JSON array in `path`, one at a time.
fn for_each_object(path: &Path, each: &mut dyn FnMut(Value) -> Result<(), AppError>) -> Result<(), AppError> {
    struct Elements<'a> {
        each: &'a mut dyn FnMut(Value) -> Result<(), AppError>,
        failed: &'a mut Option<AppError>,
    }
    impl<'de> Visitor<'de> for Elements<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array of objects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(v) = seq.next_element::<Value>()? {
                if let Err(e) = (self.each)(v) {
                    *self.failed = Some(e);
                    return Err(serde::de::Error::custom("stopped"));
                }
            }
            Ok(())
        }
    }
    let file = std::fs::File::open(path).map_err(|e| AppError::Config(format!("cannot read {}: {e}", path.display())))?;
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 20, file));
    let mut failed = None;
    let result = serde::Deserializer::deserialize_seq(&mut de, Elements { each, failed: &mut failed });
    if let Some(e) = failed {
        return Err(e);
    }
    result.and_then(|_| de.end()).map_err(|e| bad(format!("{} is not a paperless-ngx manifest: {e}", path.display())))
}

fn text<'a>(fields: &'a Value, key: &str) -> Option<&'a str> {
    fields.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A paperless date (`2023-04-01`) or date-time (`2023-04-01T10:00:00+02:00`), as ms.
fn parse_time(s: &str) -> Option<Millis> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc().timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis())
}

/// The small objects, gathered in the first pass.
#[derive(Default)]
struct Small {
    tags: BTreeMap<i64, (String, String)>,
    correspondents: HashMap<i64, String>,
    types: HashMap<i64, String>,
    users: HashMap<i64, String>,
    /// document pk → (created, user pk, text)
    notes: HashMap<i64, Vec<(String, Option<i64>, String)>>,
    documents: u64,
}

fn gather(manifest: &Path) -> Result<Small, AppError> {
    let mut s = Small::default();
    for_each_object(manifest, &mut |o| {
        let (model, pk, f) = (o["model"].as_str().unwrap_or(""), o["pk"].as_i64().unwrap_or(0), &o["fields"]);
        let name = || text(f, "name").unwrap_or("").to_string();
        match model {
            "documents.tag" => {
                s.tags.insert(pk, (name(), text(f, "color").unwrap_or("#6b7280").to_string()));
            }
            "documents.correspondent" => {
                s.correspondents.insert(pk, name());
            }
            "documents.documenttype" => {
                s.types.insert(pk, name());
            }
            "auth.user" => {
                s.users.insert(pk, text(f, "username").unwrap_or("").to_string());
            }
            "documents.note" => {
                if let Some(doc) = f["document"].as_i64()
                    && let Some(note) = text(f, "note")
                {
                    s.notes.entry(doc).or_default().push((
                        text(f, "created").unwrap_or("").to_string(),
                        f["user"].as_i64(),
                        note.to_string(),
                    ));
                }
            }
            "documents.document" => s.documents += 1,
            _ => {}
        }
        Ok(())
    })?;
    Ok(s)
}

/// A relative file name from the manifest, refused if it would leave the export directory.
fn exported_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    p.components().all(|c| matches!(c, std::path::Component::Normal(_))).then(|| dir.join(p))
}

/// Copies `src` to a temp file in the blob store, hashing (MD5 and SHA-256) as it goes.
fn copy_hashed(ctx: &AppContext, src: &Path, keep: bool) -> std::io::Result<(String, String, u64, Option<PathBuf>)> {
    let mut input = std::fs::File::open(src)?;
    let tmp = keep.then(|| ctx.blobs.temp_path(".paperless"));
    let mut out = match &tmp {
        Some(t) => Some(std::fs::File::create(t)?),
        None => None,
    };
    let (mut md5, mut sha, mut size) = (<Md5 as md5::Digest>::new(), Sha256::new(), 0u64);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let k = input.read(&mut buf)?;
        if k == 0 {
            break;
        }
        md5::Digest::update(&mut md5, &buf[..k]);
        sha.update(&buf[..k]);
        size += k as u64;
        if let Some(o) = out.as_mut() {
            o.write_all(&buf[..k])?;
        }
    }
    Ok((hex::encode(md5::Digest::finalize(md5).as_slice()), hex::encode(sha.finalize()), size, tmp))
}

pub struct Converted {
    pub root: PathBuf,
    pub documents: u64,
    pub new_tags: u64,
}

/// Paperless tags, then its correspondents and document types as tags `correspondent:NAME` and
/// `type:NAME` (names the owner already has are reused): the tags file, and the new tag id of
/// each paperless tag, correspondent and type.
fn convert_tags(root: &Path, small: &Small, owner: Id, mut tag_ids: HashMap<String, Id>, max_tag: Id) -> Result<ConvertedTags, AppError> {
    let mut tags = HashedFile::create(root, "data/tags.jsonl")?;
    let mut next_tag = max_tag;
    let mut tag_for = |name: &str, color: &str, tags: &mut HashedFile| -> Result<Id, AppError> {
        if let Some(id) = tag_ids.get(name) {
            return Ok(*id);
        }
        next_tag += 1;
        tags.line(&json!({"id": next_tag, "owner_id": owner, "name": name, "color": color}))?;
        tag_ids.insert(name.to_string(), next_tag);
        Ok(next_tag)
    };
    let mut by_tag = HashMap::new();
    for (pk, (name, color)) in &small.tags {
        by_tag.insert(*pk, tag_for(name, color, &mut tags)?);
    }
    let mut by_correspondent = HashMap::new();
    for (pk, name) in &small.correspondents {
        by_correspondent.insert(*pk, tag_for(&format!("correspondent:{name}"), "#6b7280", &mut tags)?);
    }
    let mut by_type = HashMap::new();
    for (pk, name) in &small.types {
        by_type.insert(*pk, tag_for(&format!("type:{name}"), "#6b7280", &mut tags)?);
    }
    let new_tags = tags.finish()?;
    Ok(ConvertedTags { file: new_tags, by_tag, by_correspondent, by_type })
}

/// What `convert_tags` wrote: the tags file and the docmerge tag of each paperless tag,
/// correspondent and document type (by paperless primary key).
struct ConvertedTags {
    file: ManifestFile,
    by_tag: HashMap<i64, Id>,
    by_correspondent: HashMap<i64, Id>,
    by_type: HashMap<i64, Id>,
}

/// The converted archive's manifest (checksummed file list and row counts), written durably
/// under its final name last. Returns the number of new tags.
fn write_manifest(root: &Path, files: Vec<ManifestFile>) -> Result<u64, AppError> {
    let counts: BTreeMap<String, u64> =
        files.iter().map(|f| (f.path.trim_start_matches("data/").trim_end_matches(".jsonl").to_string(), f.rows)).collect();
    let new_tags = counts.get("tags").copied().unwrap_or(0);
    let m = Manifest {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        docmerge_version: crate::VERSION.into(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        source_backend: PAPERLESS_SOURCE.into(),
        incremental_since: None,
        with_derived: false,
        files,
        counts,
    };
    let json = serde_json::to_vec_pretty(&m).map_err(|e| bad(e.to_string()))?;
    let tmp = root.join("manifest.json.partial");
    std::fs::write(&tmp, json)
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|_| std::fs::rename(&tmp, root.join(MANIFEST_FILE)))
        .map_err(|e| bad(format!("cannot write the converted manifest: {e}")))?;
    Ok(new_tags)
}

/// Converts the export in `dir` for `owner` into a docmerge archive (or finds the one an
/// earlier run made).
pub async fn convert(ctx: &AppContext, dir: &Path, owner: &str) -> Result<Converted, AppError> {
    let manifest = dir.join("manifest.json");
    if !manifest.is_file() {
        return Err(AppError::Config(format!(
            "{} has no manifest.json: give the directory written by paperless-ngx's document_exporter",
            dir.display()
        )));
    }
    let user = ctx
        .store
        .user_by_name(owner)
        .await?
        .ok_or_else(|| AppError::Config(format!("there is no user named {owner:?}: create it first or pick another with --owner")))?
        .user;
    let (home, _inbox) = ctx.store.root_folders(user.id).await?;
    let key = {
        let m = manifest.clone();
        let digest = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            let mut h = Sha256::new();
            std::io::copy(&mut std::fs::File::open(m)?, &mut h)?;
            Ok(hex::encode(h.finalize()))
        })
        .await
        .map_err(|e| bad(e.to_string()))?
        .map_err(|e| bad(format!("cannot read {}: {e}", manifest.display())))?;
        hex::encode(Sha256::digest(format!("{digest}|{}", user.id)))
    };
    let root = ctx.blobs.root().join("paperless-import").join(&key[..16]);
    if root.join(MANIFEST_FILE).is_file() {
        let m: Manifest = serde_json::from_slice(&std::fs::read(root.join(MANIFEST_FILE)).map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(format!("{}: {e}", root.display())))?;
        return Ok(Converted {
            root,
            documents: m.counts.get("documents").copied().unwrap_or(0),
            new_tags: m.counts.get("tags").copied().unwrap_or(0),
        });
    }
    // An earlier conversion that did not finish wrote nothing to the database: start over.
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("data")).map_err(|e| bad(format!("cannot create {}: {e}", root.display())))?;
    let existing_tags: HashMap<String, Id> = ctx.store.tags(user.id).await?.into_iter().map(|t| (t.name, t.id)).collect();
    let max_ids = ctx.store.archive().max_ids().await?;
    let (ctx2, dir2, root2) = (ctx.clone(), dir.to_path_buf(), root.clone());
    let (owner_id, home_id) = (user.id, home.id);
    tokio::task::spawn_blocking(move || write_archive(&ctx2, &dir2, &root2, owner_id, home_id, existing_tags, max_ids))
        .await
        .map_err(|e| bad(format!("the conversion crashed: {e}")))?
}

#[allow(clippy::too_many_arguments)]
fn write_archive(
    ctx: &AppContext,
    dir: &Path,
    root: &Path,
    owner: Id,
    home: Id,
    tag_ids: HashMap<String, Id>,
    [max_tag, max_doc, max_version]: [Id; 3],
) -> Result<Converted, AppError> {
    let manifest = dir.join("manifest.json");
    let small = gather(&manifest)?;
    let mut files = Vec::new();
    for t in ["users", "api_tokens", "folders", "pages", "folder_tags"] {
        files.push(HashedFile::create(root, &format!("data/{t}.jsonl"))?.finish()?);
    }

    let ConvertedTags { file: new_tags, by_tag, by_correspondent, by_type } = convert_tags(root, &small, owner, tag_ids, max_tag)?;

    let mut documents = HashedFile::create(root, "data/documents.jsonl")?;
    let mut versions = HashedFile::create(root, "data/versions.jsonl")?;
    let mut links = HashedFile::create(root, "data/document_tags.jsonl")?;
    let mut blobs = HashedFile::create(root, BLOB_LIST_FILE)?;
    let bar = super::progress_bar("documents");
    bar.set_length(small.documents);
    let (mut n, mut unsynced) = (0i64, 0u64);
    let now = crate::domain::now_millis();
    for_each_object(&manifest, &mut |o| {
        if o["model"] != "documents.document" {
            return Ok(());
        }
        let (pk, f) = (o["pk"].as_i64().unwrap_or(0), &o["fields"]);
        let title = text(f, "title").unwrap_or("(untitled)").to_string();
        let item = format!("document {pk} ({title:?})");
        let original = o["__exported_file_name__"]
            .as_str()
            .and_then(|name| exported_file(dir, name))
            .ok_or_else(|| bad(format!("{item}: the manifest names no original file")))?;
        let (md5, sha, size, tmp) =
            copy_hashed(ctx, &original, true).map_err(|e| bad(format!("{item}: cannot read its original {}: {e}", original.display())))?;
        let tmp = tmp.ok_or_else(|| bad(format!("{item}: no temp file")))?;
        if Some(md5.as_str()) != text(f, "checksum") {
            let _ = std::fs::remove_file(&tmp);
            return Err(bad(format!("{item}: its original {} does not match the manifest's checksum (damaged?)", original.display())));
        }
        ctx.blobs.place_unsynced(&tmp, &sha)?;
        unsynced += 1;
        if unsynced >= SYNC_EVERY_FILES {
            ctx.blobs.sync_all_written()?;
            unsynced = 0;
        }
        if let Some(name) = o["__exported_archive_name__"].as_str().filter(|s| !s.is_empty()) {
            let archive = exported_file(dir, name).ok_or_else(|| bad(format!("{item}: unexpected archive file name {name:?}")))?;
            let (md5, ..) = copy_hashed(ctx, &archive, false)
                .map_err(|e| bad(format!("{item}: cannot read its archive PDF {}: {e}", archive.display())))?;
            if Some(md5.as_str()) != text(f, "archive_checksum") {
                return Err(bad(format!(
                    "{item}: its archive PDF {} does not match the manifest's archive_checksum (damaged?)",
                    archive.display()
                )));
            }
        }
        n += 1;
        let (doc_id, version_id) = (max_doc + n, max_version + n);
        let created = text(f, "created").and_then(parse_time).unwrap_or(now);
        let added = text(f, "added").and_then(parse_time).unwrap_or(created);
        let modified = text(f, "modified").and_then(parse_time).unwrap_or(added);
        let filename = text(f, "original_filename")
            .map(str::to_string)
            .or_else(|| original.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| format!("paperless-{pk}"));
        let note = small.notes.get(&pk).map(|notes| {
            notes
                .iter()
                .map(|(at, user, text)| {
                    let who = user.and_then(|u| small.users.get(&u)).map(|u| format!(" ({u})")).unwrap_or_default();
                    format!("{}{who}: {text}", at.get(..10).unwrap_or(at))
                })
                .collect::<Vec<_>>()
                .join("\n")
        });
        documents.line(&json!({"id": doc_id, "owner_id": owner, "folder_id": home, "title": title, "state": "queued", "error": null,
            "current_version_id": version_id, "sha256": sha, "duplicate_of": null, "created_at": created, "updated_at": modified, "trashed_at": null}))?;
        versions.line(&json!({"id": version_id, "document_id": doc_id, "number": 1, "filename": filename,
            "mime": text(f, "mime_type").unwrap_or("application/octet-stream"), "size": size, "sha256": sha, "state": "queued", "error": null,
            "page_count": 0, "pages_done": 0, "searchable_sha256": null, "note": note, "created_at": added}))?;
        let mut doc_tags: Vec<Id> =
            f["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_i64()).filter_map(|t| by_tag.get(&t).copied()).collect();
        doc_tags.extend(f["correspondent"].as_i64().and_then(|c| by_correspondent.get(&c).copied()));
        doc_tags.extend(f["document_type"].as_i64().and_then(|t| by_type.get(&t).copied()));
        doc_tags.sort_unstable();
        doc_tags.dedup();
        for t in doc_tags {
            links.line(&json!({"document_id": doc_id, "tag_id": t}))?;
        }
        blobs.line(&BlobLine { sha256: sha, size, derived: false })?;
        bar.inc(1);
        Ok(())
    })?;
    bar.finish_and_clear();
    // Every original is durable before the importer commits a row that refers to it.
    ctx.blobs.sync_all_written()?;
    files.extend([new_tags, documents.finish()?, versions.finish()?, links.finish()?, blobs.finish()?]);
    let new_tags = write_manifest(root, files)?;
    Ok(Converted { root: root.to_path_buf(), documents: n as u64, new_tags })
}

/// `docmerge import --from-paperless DIR [--owner USER]`.
pub async fn import_paperless(ctx: &AppContext, dir: &Path, owner: Option<&str>) -> Result<(), AppError> {
    let owner = owner.unwrap_or(&ctx.settings.auth.admin_username).to_string();
    let converted = convert(ctx, dir, &owner).await?;
    let s = super::import(ctx, &converted.root).await?;
    if s.already_done {
        println!("{} was imported already: nothing to do", dir.display());
        return Ok(());
    }
    println!(
        "imported {} paperless-ngx documents from {} for {owner} in {:.1} s ({} new tags){}; queued {} documents to process",
        converted.documents,
        dir.display(),
        s.seconds,
        converted.new_tags,
        if s.resumed { ", continuing an interrupted import" } else { "" },
        s.process_jobs
    );
    Ok(())
}
