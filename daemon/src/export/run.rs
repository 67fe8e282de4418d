//! Running an export: the selection is read from the catalog, planned (`plan.rs`), and written
//! by one worker per shard, each with its own arena, in parallel; the drive's index comes last.
//!
//! Crash safety, in write order: every file is written to a hidden temp name in its folder and
//! renamed into place, so a name never holds half a file; then `syncfs` on the drive; then the
//! index (temp, fsync, rename), so an index never lists a file that is not whole on the disk. A
//! run cut anywhere leaves whole files and the previous index; the next run adopts the `.mid`
//! files it finds with its own bytes (`plan.rs`) and writes the rest.
//!
//! A converted file's `.mid` is written from the bytes read for the conversion (one open of the
//! object, not two: MIDI files are kilobytes). A copy-only file goes through `std::fs::copy`,
//! which is `copy_file_range` on Linux: a reflink on filesystems that share extents (XFS, Btrfs),
//! an in-kernel copy elsewhere. No hard links: a drive file edited in place would change the
//! object the catalog names.

use std::io::{Read, Write};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bumpalo::Bump;
use midictl::protocol::FileInfo;
use parking_lot::Mutex;

use super::plan::{self, Entry, Index, IndexEntry, OnDisk, Plan, Target, INDEX_CSV, INDEX_JSON};
use super::{mpcpattern, progression};
use crate::catalog::lang::Query;
use crate::catalog::query::CatalogReader;
use crate::catalog::{CatalogError, Location, WriterMsg};
use crate::dedupe::{from_hex, ContentId};
use crate::job::{Counters, Job};
use crate::library::rename::Template;
use crate::objects::ObjectStore;

/// Objects larger than this are not read for conversion (the import's own cap is 16 MiB).
const MAX_OBJECT: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("writing the index {path}: {source}")]
    Index { path: PathBuf, source: serde_json::Error },
    #[error("the export was stopped")]
    Stopped,
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ExportError + 'a {
    move |source| ExportError::Io { op, path: path.to_path_buf(), source }
}

/// What to export and where.
#[derive(Debug, Clone)]
pub struct Request {
    pub target: Target,
    pub to: PathBuf,
    pub query: Query,
    pub rename: Option<Template>,
}

/// The selection, in catalog order.
pub fn select(catalog: &Location, query: &Query) -> Result<Vec<FileInfo>, CatalogError> {
    CatalogReader::open(catalog)?.search(query, u64::MAX)
}

/// Reads the catalog and the drive and decides every path; writes nothing.
pub fn make_plan(catalog: &Location, req: &Request) -> Result<Plan, ExportError> {
    let files = select(catalog, &req.query)?;
    let previous = previous_with_pending(&req.to);
    let disk = OnDisk { root: &req.to };
    Ok(plan::plan(&req.to, req.target, files, previous.as_ref(), req.rename.as_ref(), &disk))
}

/// The drive's index, with the pending list of a run that was cut short appended: its paths are
/// ours (files found there are that run's, adopted, not a user's), so its names stay put.
fn previous_with_pending(root: &Path) -> Option<Index> {
    let index = Index::read(root);
    let pending = Index::read_named(root, PENDING);
    match (index, pending) {
        (Some(mut i), Some(p)) => {
            i.files.extend(p.files);
            Some(i)
        }
        (i, p) => i.or(p),
    }
}

/// Written (durably) before the first file, removed after the index: the new names this run
/// claims, so a crash between cannot make them look like a user's files.
const PENDING: &str = ".midid-pending.json";
/// Held (flock) for the whole write: two exports onto one drive would trip over each other's
/// temp files and indexes.
const LOCK: &str = ".midid-export.lock";

/// One exported file's outputs, for the index.
struct Done {
    at: usize,
    entry: IndexEntry,
}

/// Writes the plan with `workers` threads, then the index. Counts on `job`: `discovered` the
/// files planned, `read` objects read, `analyzed` files converted, `written`/`unchanged` output
/// files, `rejected` files that failed (each logged; the run goes on), `cataloged` files done.
pub fn execute(
    plan: &Plan,
    objects: &ObjectStore,
    job: &Job,
    workers: usize,
    stop: &AtomicBool,
) -> Result<(usize, Vec<(String, ContentId)>), ExportError> {
    std::fs::create_dir_all(&plan.root).map_err(io("creating", &plan.root))?;
    let _lock = lock_drive(&plan.root)?;
    for folder in plan.folders() {
        let dir = plan.root.join(&folder);
        std::fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
    }
    write_pending(plan)?;
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<Done>> = Mutex::new(Vec::with_capacity(plan.entries.len()));
    let failed = AtomicUsize::new(0);
    let started = std::thread::scope(|s| {
        let mut started = 0;
        for w in 0..workers.max(1) {
            let (next, done, failed) = (&next, &done, &failed);
            let spawned = std::thread::Builder::new().name(format!("export-{w}")).spawn_scoped(s, move || {
                let mut arena = Bump::new();
                let mut mine = Vec::new();
                loop {
                    if stop.load(Ordering::Relaxed) || !job.is_live() {
                        break;
                    }
                    let at = next.fetch_add(1, Ordering::Relaxed);
                    let Some(e) = plan.entries.get(at) else { break };
                    // The converters read catalogued bytes, but a panic in them must cost one
                    // file, not the job (which would then never end).
                    let one =
                        std::panic::catch_unwind(AssertUnwindSafe(|| export_one(plan, e, objects, job, &mut arena)))
                            .unwrap_or_else(|_| Err("the converter panicked (a bug; the file is left out)".into()));
                    match one {
                        Ok(entry) => mine.push(Done { at, entry }),
                        Err(why) => {
                            tracing::warn!(hash = %e.file.hash, "export of {} failed: {why}", e.mid_path());
                            failed.fetch_add(1, Ordering::Relaxed);
                            Counters::add(&job.counters.rejected, 1);
                        }
                    }
                    job.add_cataloged(1);
                }
                done.lock().extend(mine);
            });
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::warn!("starting export worker {w}: {e}"),
            }
        }
        started
    });
    if stop.load(Ordering::Relaxed) || !job.is_live() {
        return Err(ExportError::Stopped);
    }
    if started == 0 {
        return Err(ExportError::Io {
            op: "starting export workers for",
            path: plan.root.clone(),
            source: std::io::Error::other("no thread could be started"),
        });
    }
    let mut done = done.into_inner();
    done.sort_by_key(|d| d.at);
    let entries: Vec<IndexEntry> = done.into_iter().map(|d| d.entry).collect();
    // What the catalog's `exports` table records: every file of every entry, by absolute path.
    let mut files = Vec::new();
    for e in &entries {
        let Some(id) = from_hex(&e.hash) else { continue };
        for rel in std::iter::once(&e.mid).chain(&e.patterns).chain(&e.progression) {
            files.push((plan.root.join(rel).to_string_lossy().into_owned(), id));
        }
    }
    sync_drive(&plan.root)?;
    write_index(plan, entries)?;
    let pending = plan.root.join(PENDING);
    std::fs::remove_file(&pending).map_err(io("removing", &pending))?;
    Ok((failed.into_inner(), files))
}

fn lock_drive(root: &Path) -> Result<std::fs::File, ExportError> {
    let path = root.join(LOCK);
    match crate::lockfile::try_exclusive(&path) {
        Ok(Some(f)) => Ok(f),
        Ok(None) => Err(ExportError::Io {
            op: "locking",
            path,
            source: std::io::Error::other("another export is writing to this drive"),
        }),
        Err(e) => Err(io("locking", &path)(e)),
    }
}

/// The pending list: every new entry's claimed names (all pattern names it reserved).
fn write_pending(plan: &Plan) -> Result<(), ExportError> {
    let files = plan
        .entries
        .iter()
        .filter(|e| e.unchanged.is_none() && !e.ours)
        .map(|e| {
            let mut names = plan::names_of(&e.folder, &e.stem, e.expected_patterns());
            let mid = names.remove(0);
            IndexEntry {
                hash: e.file.hash.clone(),
                mid,
                patterns: names,
                progression: e.progression.clone(),
                device_loads: true,
                ..IndexEntry::default()
            }
        })
        .collect();
    let pending =
        Index { version: 1, target: plan.profile.target.as_str().into(), generated: crate::job::now_rfc3339(), files };
    let path = plan.root.join(PENDING);
    let text = serde_json::to_vec(&pending).map_err(|source| ExportError::Index { path: path.clone(), source })?;
    durable_write(&path, &text)
}

fn export_one(
    plan: &Plan,
    e: &Entry,
    objects: &ObjectStore,
    job: &Job,
    arena: &mut Bump,
) -> Result<IndexEntry, String> {
    let mut entry = index_entry(plan, e);
    if let Some(prev) = &e.unchanged {
        let n = 1 + prev.patterns.len() + usize::from(prev.progression.is_some());
        Counters::add(&job.counters.unchanged, n as u64);
        return Ok(IndexEntry { patterns: prev.patterns.clone(), progression: prev.progression.clone(), ..entry });
    }
    let id = from_hex(&e.file.hash).ok_or("the catalog row's hash is not hex")?;
    let object = objects.path_of(&id);
    let part = part_bytes(objects, &id, &object, e.file.parent.as_deref())?;
    let mid = e.mid_path();
    let out = Output { root: &plan.root, ours: e.ours, job };
    if e.convert.is_err() {
        match &part {
            Some(bytes) => {
                out.put(&mid, |tmp| std::fs::write(tmp, bytes)).map_err(|err| format!("writing {mid}: {err}"))?
            }
            None => out
                .put(&mid, |tmp| std::fs::copy(&object, tmp).map(|_| ()))
                .map_err(|err| format!("copying {} to {mid}: {err}", object.display()))?,
        }
        return Ok(entry);
    }
    // Converted files are read anyway: their `.mid` is written from those bytes (a MIDI file
    // is kilobytes; a second open of the object costs more than the copy).
    let bytes = match part {
        Some(bytes) => bytes,
        None => read_capped(&object).map_err(|err| format!("reading {}: {err}", object.display()))?,
    };
    Counters::add(&job.counters.read, 1);
    out.put(&mid, |tmp| std::fs::write(tmp, &bytes)).map_err(|err| format!("writing {mid}: {err}"))?;
    arena.reset();
    let Some(score) = crate::analysis::score::gather(&bytes, arena) else {
        entry.copy_only = Some("no track could be read".into());
        return Ok(entry);
    };
    let patterns = mpcpattern::patterns(&score);
    let n = patterns.len();
    for (i, p) in patterns.iter().enumerate() {
        let rel = e.pattern_path(i + 1, n);
        out.put(&rel, |tmp| std::fs::write(tmp, p.json.as_bytes())).map_err(|err| format!("writing {rel}: {err}"))?;
        entry.patterns.push(rel);
    }
    if let Some(rel) = &e.progression {
        let drums: Vec<(u16, u8)> =
            e.file.parts.iter().filter(|p| p.drums).map(|p| (p.track, p.channel.saturating_sub(1))).collect();
        let display = e.stem.replace('_', " ");
        let text = progression::progression(&score, &drums, e.file.key_tonic, e.file.key_mode.as_deref(), &display);
        if let Some(text) = text {
            if let Some(earlier) = existing_progression(plan, e, rel, text.as_bytes()) {
                Counters::add(&job.counters.unchanged, 1);
                entry.progression = Some(earlier);
            } else {
                out.put(rel, |tmp| std::fs::write(tmp, text.as_bytes()))
                    .map_err(|err| format!("writing {rel}: {err}"))?;
                entry.progression = Some(rel.clone());
            }
        }
    }
    Counters::add(&job.counters.analyzed, 1);
    Ok(entry)
}

/// For an adopted entry (our `.mid` found in place with no index to say so): an earlier export's
/// progression among the entry's other candidate names, recognised by holding exactly `text`.
/// Without it a second progression would be written beside the first; by bytes, a stranger's
/// file under one of those names is never taken for ours.
fn existing_progression(plan: &Plan, e: &Entry, planned: &str, text: &[u8]) -> Option<String> {
    if !e.ours {
        return None;
    }
    plan::progression_candidates(&e.file, &e.stem).into_iter().filter(|c| c != planned).find(|c| {
        let path = plan.root.join(c);
        // A progression is a few kilobytes; anything of another length is not this one.
        std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == text.len() as u64)
            && read_capped(&path).is_ok_and(|bytes| bytes == text)
    })
}

/// Where one entry's files land.
struct Output<'a> {
    root: &'a Path,
    /// The paths are ours: a file already there is that earlier run's, left as it is.
    ours: bool,
    job: &'a Job,
}

impl Output<'_> {
    /// Writes `rel` through a temp file and a rename that refuses to replace: a file that is
    /// there is never overwritten. Ours already there counts as unchanged; any other is an error
    /// (the plan saw the name free, so someone put it there since).
    fn put(&self, rel: &str, fill: impl FnOnce(&Path) -> std::io::Result<()>) -> std::io::Result<()> {
        let dest = self.root.join(rel);
        if self.ours && std::fs::symlink_metadata(&dest).is_ok() {
            Counters::add(&self.job.counters.unchanged, 1);
            return Ok(());
        }
        let tmp = temp_of(&dest);
        let res = fill(&tmp).and_then(|()| rename_noreplace(&tmp, &dest));
        match res {
            Ok(()) => {
                Counters::add(&self.job.counters.written, 1);
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    return Err(std::io::Error::new(e.kind(), format!("{rel} appeared on the drive; not overwritten")));
                }
                Err(e)
            }
        }
    }
}

/// `renameat2(RENAME_NOREPLACE)` (ext4, XFS, Btrfs, exFAT, vfat have it); where the filesystem
/// refuses the flag, a look first (racy only against someone writing the drive meanwhile).
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (f, t) = (c(from)?, c(to)?);
    // SAFETY: two valid NUL-terminated paths for the call's duration.
    let rc = unsafe { libc::renameat2(libc::AT_FDCWD, f.as_ptr(), libc::AT_FDCWD, t.as_ptr(), libc::RENAME_NOREPLACE) };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) => {
            if std::fs::symlink_metadata(to).is_ok() {
                return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
            }
            std::fs::rename(from, to)
        }
        _ => Err(err),
    }
}

fn index_entry(plan: &Plan, e: &Entry) -> IndexEntry {
    let f = &e.file;
    IndexEntry {
        hash: f.hash.clone(),
        mid: e.mid_path(),
        patterns: Vec::new(),
        progression: None,
        copy_only: e.convert.err().map(str::to_string),
        device_loads: plan.profile.mid_loads_on_device || e.convert.is_ok(),
        name: f.sources.first().map(|s| s.name.clone()).unwrap_or_default(),
        role: f.role.clone(),
        drum: f.drum_dominant.clone(),
        key: f.key.clone(),
        bpm: f.bpm,
        bars: f.bars,
        time_signature: f.time_signature.clone(),
        is_loop: f.is_loop,
        notes: f.notes,
        parent: f.parent.clone(),
        sources: f.sources.iter().map(|s| s.path.clone()).collect(),
    }
}

/// A split part's bytes, made again from its parent's object: parts are catalogued without an
/// object of their own (`shard.rs`), and the split is a pure function of the parent's bytes. The
/// part is found by its hash, so what is exported is exactly what was catalogued. None when the
/// content has its own object (whole files, and parts also found whole or catalogued by an older
/// version), which is then read as it is.
fn part_bytes(
    objects: &ObjectStore,
    id: &ContentId,
    object: &Path,
    parent: Option<&str>,
) -> Result<Option<Vec<u8>>, String> {
    let Some(parent) = parent else { return Ok(None) };
    if object.exists() {
        return Ok(None);
    }
    let parent_id = from_hex(parent).ok_or("the catalog row's parent hash is not hex")?;
    let parent_object = objects.path_of(&parent_id);
    let parent_bytes =
        read_capped(&parent_object).map_err(|err| format!("reading the parent {}: {err}", parent_object.display()))?;
    crate::library::split::find_part(&parent_bytes, id)
        .map(Some)
        .ok_or_else(|| format!("no part of the parent {} has this part's hash", parent_object.display()))
}

fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > MAX_OBJECT {
        return Err(std::io::Error::other(format!("{len} bytes, over the {MAX_OBJECT}-byte cap")));
    }
    let mut v = Vec::with_capacity(len as usize);
    file.take(MAX_OBJECT + 1).read_to_end(&mut v)?;
    Ok(v)
}

/// `.name.midid-tmp` beside the final name: same folder, so the rename is atomic.
fn temp_of(dest: &Path) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dest.with_file_name(format!(".{name}.midid-tmp"))
}

fn sync_drive(root: &Path) -> Result<(), ExportError> {
    use std::os::fd::AsRawFd;
    let dir = std::fs::File::open(root).map_err(io("opening", root))?;
    // SAFETY: a valid open descriptor for the call's duration.
    let rc = unsafe { libc::syncfs(dir.as_raw_fd()) };
    if rc != 0 {
        return Err(ExportError::Io {
            op: "syncing",
            path: root.to_path_buf(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// The index: this run's files, plus what the previous index listed that this selection did not
/// touch (an export of a query must not make the drive forget the rest). JSON, then CSV.
fn write_index(plan: &Plan, mut files: Vec<IndexEntry>) -> Result<(), ExportError> {
    // Entries of the old index this run did not write (not selected, or failed now) stay listed:
    // their files are on the drive and their names must stay taken. Read again here, under the
    // drive lock, not taken from the plan (made before the lock, without the pending list's
    // entries, which must not be listed unless written).
    if let Some(prev) = Index::read(&plan.root) {
        let here: std::collections::HashSet<String> = files.iter().map(|f| f.hash.clone()).collect();
        files.extend(prev.files.into_iter().filter(|f| !here.contains(&f.hash)));
    }
    let index = Index {
        version: 1,
        target: plan.profile.target.as_str().to_string(),
        generated: crate::job::now_rfc3339(),
        files,
    };
    let path = plan.root.join(INDEX_JSON);
    let text = serde_json::to_vec_pretty(&index).map_err(|source| ExportError::Index { path: path.clone(), source })?;
    durable_write(&path, &text)?;
    let csv_path = plan.root.join(INDEX_CSV);
    durable_write(&csv_path, &csv(&index))?;
    Ok(())
}

fn durable_write(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let tmp = temp_of(path);
    let mut f = std::fs::File::create(&tmp).map_err(io("creating", &tmp))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io("writing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("renaming into", path))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io("syncing", dir))?;
    }
    Ok(())
}

fn csv(index: &Index) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "hash",
        "mid",
        "patterns",
        "progression",
        "copy_only",
        "name",
        "role",
        "drum",
        "key",
        "bpm",
        "bars",
        "time_signature",
        "loop",
        "notes",
        "parent",
        "sources",
    ];
    let _ = w.write_record(header);
    for f in &index.files {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let num = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
        let _ = w.write_record([
            f.hash.clone(),
            f.mid.clone(),
            f.patterns.join(";"),
            opt(&f.progression),
            opt(&f.copy_only),
            f.name.clone(),
            opt(&f.role),
            opt(&f.drum),
            opt(&f.key),
            num(f.bpm),
            num(f.bars),
            opt(&f.time_signature),
            f.is_loop.map(|b| b.to_string()).unwrap_or_default(),
            f.notes.to_string(),
            opt(&f.parent),
            f.sources.join(";"),
        ]);
    }
    w.into_inner().unwrap_or_default()
}

/// A job that runs an export on its own thread (the engine's `export`).
pub fn spawn(
    job: Arc<Job>,
    catalog: Location,
    objects: Arc<ObjectStore>,
    req: Request,
    workers: usize,
    stop: Arc<AtomicBool>,
    writer: crossbeam_channel::Sender<WriterMsg>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(format!("export-job-{}", job.id)).spawn(move || {
        let mut recorded = Vec::new();
        let result = make_plan(&catalog, &req).and_then(|plan| {
            Counters::add(&job.counters.discovered, plan.entries.len() as u64);
            job.set_discovery_done();
            tracing::info!(job = job.id, files = plan.entries.len(), to = %req.to.display(), "export planned");
            let (failed, files) = execute(&plan, &objects, &job, workers, &stop)?;
            recorded = files;
            Ok(failed)
        });
        use midictl::protocol::JobState;
        // The files go into the catalog before the job reads done: a client that sees `done`
        // finds them in `exports`.
        if !recorded.is_empty() {
            let target = req.target.as_str().to_string();
            let _ = writer.send(WriterMsg::Exports { job: job.id, target, files: recorded });
            let (tx, rx) = crossbeam_channel::bounded(1);
            if writer.send(WriterMsg::Barrier(tx)).is_ok() {
                let _ = rx.recv_timeout(std::time::Duration::from_secs(600));
            }
        }
        match result {
            Ok(0) => {
                job.finish(JobState::Done, None);
            }
            Ok(n) => {
                job.finish(
                    JobState::Failed,
                    Some(format!("{n} file(s) could not be exported; the daemon's log says why")),
                );
            }
            Err(ExportError::Stopped) => {
                job.finish(
                    JobState::Cancelled,
                    Some("stopped before the export finished; the index was not updated".into()),
                );
            }
            Err(e) => {
                tracing::warn!(job = job.id, "export failed: {e}");
                job.finish(JobState::Failed, Some(e.to_string()));
            }
        }
        let _ = writer.send(WriterMsg::JobRow(Arc::clone(&job)));
    })
}
