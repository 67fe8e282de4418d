//! The engine: everything between a request and the catalog, shared by `midid serve` and
//! `midid run` so both run the same pipeline.
//!
//! It owns the shard threads, the catalog writer thread, the job table and the channels between
//! them, and knows the shutdown order: stop intake (discovery, then units not yet started), let
//! shards finish what they hold, commit, close the jobs that did not finish, stop the writer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use midictl::protocol::{DaemonInfo, GcReport, JobInfo, JobState, VerifyReport};
use parking_lot::Mutex;

use crate::catalog::postgres::{PgConn, PgWriter};
use crate::catalog::query::{CatalogReader, Reader};
use crate::catalog::writer::{Store, Writer};
use crate::catalog::{sqlite, CatalogError, Location, WriterMsg};
use crate::dedupe::DedupeIndex;
use crate::discover::Discovery;
use crate::hygiene::gc::{GcOptions, DEFAULT_GRACE};
use crate::hygiene::{self, HygieneError};
use crate::job::Job;
use crate::objects::ObjectStore;
use crate::shard::{self, IoInfo, Limits, ShardTuning, Shared, Unit};

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    /// A PostgreSQL catalog (`--database postgres://...`); None: the embedded one in `data_dir`.
    pub database: Option<String>,
    /// None: one per CPU in the allowed set.
    pub shards: Option<usize>,
    pub force_epoll: bool,
    pub limits: Limits,
    pub tuning: ShardTuning,
    /// Exports rename without `--rename` (config `rename`).
    pub rename: bool,
    /// The template renaming exports use (config `rename_template`).
    pub rename_template: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("creating data dir {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    /// Another `midid` (a daemon, or a `midid run`) holds the data dir's lock.
    #[error("data dir {path} is in use by another midid (its lock file {lock} is held); one midid per data dir")]
    DataDirInUse { path: PathBuf, lock: PathBuf },
    #[error("locking data dir {path}: {source}")]
    DataDirLock { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Shard(#[from] shard::ShardError),
    #[error("starting the catalog writer: {0}")]
    Writer(std::io::Error),
    #[error("no such job {0}")]
    NoSuchJob(u64),
    #[error("the daemon is shutting down")]
    ShuttingDown,
    #[error("{path}: {source}")]
    Path { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Hygiene(#[from] HygieneError),
    #[error("starting the periodic gc thread: {0}")]
    GcThread(std::io::Error),
    #[error(transparent)]
    Export(#[from] crate::export::run::ExportError),
    #[error("{0}")]
    BadRequest(String),
}

/// Work units waiting for a shard. Bounded: discovery blocks when shards are busy.
const UNIT_QUEUE: usize = 1024;
/// Batches waiting for the writer, per shard.
const BATCHES_PER_SHARD: usize = 2;
/// Finished jobs kept in memory for `status`; older ones are read from the catalog.
const KEEP_FINISHED: usize = 64;
/// When the periodic gc falls due while a job runs, it looks again this often (or at its own
/// interval, if shorter) until none does.
const GC_BUSY_RETRY: Duration = Duration::from_secs(60);

pub struct Engine {
    pub data_dir: PathBuf,
    /// Held (flock) for the engine's life: see [`lock_data_dir`].
    _data_dir_lock: std::fs::File,
    pub catalog_path: PathBuf,
    pub catalog: Location,
    pub io: IoInfo,
    pub shards: usize,
    started: Instant,
    jobs: Mutex<BTreeMap<u64, Arc<Job>>>,
    next_job: AtomicU64,
    units: Mutex<Option<Sender<Unit>>>,
    writer: Mutex<Option<Sender<WriterMsg>>>,
    shard_handles: Mutex<Vec<JoinHandle<()>>>,
    writer_handle: Mutex<Option<JoinHandle<()>>>,
    discoveries: Mutex<Vec<JoinHandle<()>>>,
    stop: Arc<AtomicBool>,
    reader: Mutex<CatalogReader>,
    index: Arc<DedupeIndex>,
    objects: Arc<ObjectStore>,
    /// The periodic gc thread and the sender whose drop stops it.
    gc_timer: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
    rename: bool,
    rename_template: String,
}

impl Engine {
    pub fn start(cfg: EngineConfig) -> Result<Arc<Engine>, EngineError> {
        std::fs::create_dir_all(&cfg.data_dir)
            .map_err(|source| EngineError::DataDir { path: cfg.data_dir.clone(), source })?;
        let data_dir_lock = lock_data_dir(&cfg.data_dir)?;
        let catalog_path = cfg.data_dir.join("catalog.db");
        let index = Arc::new(DedupeIndex::new());
        let mut loader = index.loader();
        let mut each = |id, archive| {
            if archive {
                loader.archive(id);
            } else {
                loader.committed(&id);
            }
        };
        let (catalog, store, reader, next_job) = match &cfg.database {
            None => {
                let conn = sqlite::open_writer(&catalog_path)?;
                let failed = sqlite::fail_orphaned_jobs(&conn, &catalog_path)?;
                if failed > 0 {
                    tracing::warn!("{failed} job(s) left running by a previous daemon marked failed");
                }
                let next_job = sqlite::load_ids(&conn, &catalog_path, &mut each)?;
                let reader = CatalogReader::Sqlite(Reader::open(&catalog_path)?);
                (
                    Location::Sqlite(catalog_path.clone()),
                    Store::Sqlite { conn, path: catalog_path.clone() },
                    reader,
                    next_job,
                )
            }
            Some(url) => {
                let mut conn = PgConn::connect(url)?;
                conn.migrate()?;
                let owner = owner_of(&cfg.data_dir);
                let failed = conn.fail_orphaned_jobs(&owner)?;
                if failed > 0 {
                    tracing::warn!("{failed} job(s) this daemon left running marked failed");
                }
                conn.load_ids(&mut each)?;
                let at = Location::Postgres(url.clone());
                let reader = CatalogReader::open(&at)?;
                // Job ids come from the catalog's sequence (`new_job`), not from this counter.
                (at, Store::Postgres(Box::new(PgWriter::new(conn, owner))), reader, 0)
            }
        };
        loader.finish();
        tracing::info!(files = index.files(), "catalog opened at {}", catalog.display());
        let objects = Arc::new(ObjectStore::open(&cfg.data_dir).map_err(CatalogError::from)?);

        let io = shard::probe_io(cfg.force_epoll);
        if let Some(why) = &io.fallback_reason {
            tracing::warn!("shards use epoll, not io_uring: {why}");
        }
        let shards = cfg
            .shards
            .filter(|n| *n > 0)
            .unwrap_or_else(|| core_affinity::get_core_ids().map(|c| c.len()).unwrap_or(1).max(1));

        let (writer_tx, writer_rx) = bounded(shards * BATCHES_PER_SHARD);
        let writer = Writer::new(store, Arc::clone(&objects), Arc::clone(&index));
        let writer_handle = std::thread::Builder::new()
            .name("catalog-writer".into())
            .spawn(move || writer.run(writer_rx))
            .map_err(EngineError::Writer)?;

        let stop = Arc::new(AtomicBool::new(false));
        let (units_tx, units_rx) = bounded(UNIT_QUEUE);
        let shared = Arc::new(Shared {
            index: Arc::clone(&index),
            objects: Arc::clone(&objects),
            limits: cfg.limits,
            tuning: cfg.tuning,
            stop: Arc::clone(&stop),
        });
        let shard_handles = shard::spawn(shards, &io, shared, units_rx, writer_tx.clone())?;
        tracing::info!(shards, driver = io.driver(), "engine started");

        Ok(Arc::new(Engine {
            data_dir: cfg.data_dir,
            _data_dir_lock: data_dir_lock,
            catalog_path,
            catalog,
            io,
            shards,
            started: Instant::now(),
            jobs: Mutex::new(BTreeMap::new()),
            next_job: AtomicU64::new(next_job),
            units: Mutex::new(Some(units_tx)),
            writer: Mutex::new(Some(writer_tx)),
            shard_handles: Mutex::new(shard_handles),
            writer_handle: Mutex::new(Some(writer_handle)),
            discoveries: Mutex::new(Vec::new()),
            stop,
            reader: Mutex::new(reader),
            index,
            objects,
            gc_timer: Mutex::new(None),
            rename: cfg.rename,
            rename_template: cfg.rename_template,
        }))
    }

    /// Starts an import job over `paths` (made absolute here, so provenance is absolute).
    pub fn import(&self, paths: &[PathBuf]) -> Result<Arc<Job>, EngineError> {
        let (Some(units), Some(writer)) = (self.units.lock().clone(), self.writer.lock().clone()) else {
            return Err(EngineError::ShuttingDown);
        };
        let mut abs = Vec::with_capacity(paths.len());
        for p in paths {
            let a = std::path::absolute(p).map_err(|source| EngineError::Path { path: p.clone(), source })?;
            // `..` makes provenance paths ambiguous; resolve it when the path exists, and keep
            // the user's own spelling (symlink names included) otherwise.
            let has_dotdot = a.components().any(|c| matches!(c, std::path::Component::ParentDir));
            abs.push(if has_dotdot { std::fs::canonicalize(&a).unwrap_or(a) } else { a });
        }
        let job = self.new_job("import", abs.iter().map(|p| p.to_string_lossy().into_owned()).collect(), &writer)?;
        let id = job.id;
        let discovery = Discovery { job: Arc::clone(&job), paths: abs, units, writer, stop: Arc::clone(&self.stop) };
        let handle = std::thread::Builder::new()
            .name(format!("discover-{id}"))
            .spawn(move || discovery.run())
            .map_err(|source| EngineError::Path { path: PathBuf::from("(discovery thread)"), source })?;
        let mut d = self.discoveries.lock();
        d.retain(|h| !h.is_finished());
        d.push(handle);
        tracing::info!(job = id, paths = ?job.paths, "import started");
        Ok(job)
    }

    /// The export request a client's fields make: the target, an absolute drive path, the query
    /// (`catalog/lang.rs`) and the template, when renaming.
    pub fn export_request(
        &self,
        target: &str,
        to: &str,
        query: &[String],
        rename: bool,
        template: Option<&str>,
    ) -> Result<crate::export::run::Request, EngineError> {
        use crate::export::plan::Target;
        let target = Target::parse(target)
            .ok_or_else(|| EngineError::BadRequest(format!("export target {target:?}: use mpc, force or both")))?;
        if !to.starts_with('/') {
            return Err(EngineError::BadRequest(format!("export path must be absolute: {to}")));
        }
        let query =
            crate::catalog::lang::Query::parse(query, None).map_err(|e| EngineError::BadRequest(e.to_string()))?;
        let rename = match (template, rename || self.rename) {
            (Some(t), _) => Some(t),
            (None, true) => Some(self.rename_template.as_str()),
            (None, false) => None,
        };
        let rename = rename
            .map(crate::library::rename::Template::parse)
            .transpose()
            .map_err(|e| EngineError::BadRequest(e.to_string()))?;
        Ok(crate::export::run::Request { target, to: PathBuf::from(to), query, rename })
    }

    /// What an export would write; reads the catalog and the drive, writes nothing.
    pub fn export_plan(&self, req: &crate::export::run::Request) -> Result<midictl::protocol::ExportPlan, EngineError> {
        let plan = crate::export::run::make_plan(&self.catalog, req)?;
        Ok(plan.summary())
    }

    /// Starts an export job: planned and written on its own thread by one worker per shard.
    pub fn export(&self, req: crate::export::run::Request) -> Result<Arc<Job>, EngineError> {
        let Some(writer) = self.writer.lock().clone() else {
            return Err(EngineError::ShuttingDown);
        };
        let job = self.new_job("export", vec![req.to.display().to_string()], &writer)?;
        let id = job.id;
        let handle = crate::export::run::spawn(
            Arc::clone(&job),
            self.catalog.clone(),
            Arc::clone(&self.objects),
            req,
            self.shards,
            Arc::clone(&self.stop),
            writer,
        )
        .map_err(|source| EngineError::Path { path: PathBuf::from("(export thread)"), source })?;
        let mut d = self.discoveries.lock();
        d.retain(|h| !h.is_finished());
        d.push(handle);
        tracing::info!(job = id, "export started");
        Ok(job)
    }

    /// A new job: its row written, and kept in the live table, which forgets the oldest finished
    /// jobs beyond [`KEEP_FINISHED`] (the catalog still has them).
    ///
    /// On PostgreSQL the id comes from the catalog's sequence, shared by every daemon on it; when
    /// the catalog cannot give one the request fails (a local counter could repeat another
    /// daemon's id, and its job row would overwrite theirs).
    fn new_job(
        &self,
        kind: &'static str,
        paths: Vec<String>,
        writer: &Sender<WriterMsg>,
    ) -> Result<Arc<Job>, EngineError> {
        let id = match &mut *self.reader.lock() {
            CatalogReader::Sqlite(_) => self.next_job.fetch_add(1, Ordering::Relaxed),
            CatalogReader::Postgres(r) => r.next_job_id()?,
        };
        let job = Job::new(id, kind, paths);
        let _ = writer.send(WriterMsg::JobRow(Arc::clone(&job)));
        let mut jobs = self.jobs.lock();
        jobs.insert(id, Arc::clone(&job));
        let finished: Vec<u64> = jobs.iter().filter(|(_, j)| j.state().is_final()).map(|(k, _)| *k).collect();
        for k in finished.iter().take(finished.len().saturating_sub(KEEP_FINISHED)) {
            jobs.remove(k);
        }
        Ok(job)
    }

    pub fn live_job(&self, id: u64) -> Option<Arc<Job>> {
        self.jobs.lock().get(&id).cloned()
    }

    pub fn job_info(&self, id: u64) -> Result<JobInfo, EngineError> {
        if let Some(j) = self.live_job(id) {
            return Ok(j.info());
        }
        self.reader.lock().job(id)?.ok_or(EngineError::NoSuchJob(id))
    }

    /// Live jobs first (their in-memory counters are current), then history from the catalog.
    pub fn jobs(&self, limit: u64) -> Result<Vec<JobInfo>, EngineError> {
        let live: BTreeMap<u64, JobInfo> = self.jobs.lock().iter().map(|(k, j)| (*k, j.info())).collect();
        let mut out: Vec<JobInfo> = live.values().rev().cloned().collect();
        for j in self.reader.lock().jobs(limit)? {
            if !live.contains_key(&j.id) {
                out.push(j);
            }
        }
        out.sort_by_key(|j| std::cmp::Reverse(j.id));
        out.truncate(limit.min(usize::MAX as u64) as usize);
        Ok(out)
    }

    pub fn cancel(&self, id: u64) -> Result<JobInfo, EngineError> {
        let Some(job) = self.live_job(id) else {
            return self.job_info(id);
        };
        if job.finish(JobState::Cancelled, Some("cancelled by request".into())) {
            if let Some(w) = self.writer.lock().as_ref() {
                let _ = w.send(WriterMsg::JobRow(Arc::clone(&job)));
            }
        }
        Ok(job.info())
    }

    pub fn reader(&self) -> parking_lot::MutexGuard<'_, CatalogReader> {
        self.reader.lock()
    }

    pub fn daemon_info(&self) -> DaemonInfo {
        DaemonInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            shards: self.shards as u32,
            io_driver: self.io.driver().to_string(),
            io_fallback_reason: self.io.fallback_reason.clone(),
            data_dir: self.data_dir.display().to_string(),
            database: self.catalog.display(),
            uptime_s: self.started.elapsed().as_secs_f64(),
            catalog_files: self.index.files(),
        }
    }

    /// Waits until everything sent to the writer so far is committed.
    pub fn barrier(&self) {
        let Some(w) = self.writer.lock().clone() else { return };
        let (tx, rx) = bounded(1);
        if w.send(WriterMsg::Barrier(tx)).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(600));
        }
    }

    /// Whether a job is queued or running.
    pub fn busy(&self) -> bool {
        self.jobs.lock().values().any(|j| !j.state().is_final())
    }

    /// Removes objects no row names, and stale temp files (`hygiene/gc.rs`, which says why this
    /// is safe while imports run). Runs on the caller's thread; one collection at a time.
    pub fn gc(&self, dry_run: bool) -> Result<GcReport, EngineError> {
        let opts = GcOptions { dry_run, grace: DEFAULT_GRACE };
        Ok(hygiene::gc::collect(&self.objects, &self.index, &self.catalog, opts, &self.stop)?)
    }

    /// Re-hashes every object and looks for catalogued ones that are gone (`hygiene/verify.rs`).
    /// Runs on the caller's thread and holds neither the writer nor the query connection.
    pub fn verify(&self) -> Result<VerifyReport, EngineError> {
        Ok(hygiene::verify::verify(&self.objects, &self.catalog, &self.stop)?)
    }

    /// Starts the thread that runs gc every `every`, when no job is queued or running (gc is safe
    /// beside an import, but both want the disk). Stopped by `shutdown`; a second call replaces
    /// the first thread.
    pub fn start_periodic_gc(self: &Arc<Self>, every: Duration) -> Result<(), EngineError> {
        let (tx, rx) = bounded::<()>(0);
        // Weak: the thread must not keep the engine alive, the engine owns the thread.
        let engine = Arc::downgrade(self);
        let handle = std::thread::Builder::new()
            .name("gc-timer".into())
            .spawn(move || {
                let mut due = Instant::now().checked_add(every);
                loop {
                    // An interval too large for the clock never falls due.
                    let waited = match due {
                        Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
                        None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    };
                    if !matches!(waited, Err(RecvTimeoutError::Timeout)) {
                        return;
                    }
                    let Some(engine) = engine.upgrade() else { return };
                    if engine.busy() {
                        due = Instant::now().checked_add(every.min(GC_BUSY_RETRY));
                        continue;
                    }
                    match engine.gc(false) {
                        Ok(report) => tracing::info!("periodic gc: {}", report.summary()),
                        Err(EngineError::Hygiene(HygieneError::Stopped)) => return,
                        Err(e) => tracing::warn!("periodic gc: {e}"),
                    }
                    due = Instant::now().checked_add(every);
                }
            })
            .map_err(EngineError::GcThread)?;
        tracing::info!(every_s = every.as_secs(), "periodic gc on");
        let previous = self.gc_timer.lock().replace((tx, handle));
        if let Some((tx, h)) = previous {
            drop(tx);
            let _ = h.join();
        }
        Ok(())
    }

    /// Orderly stop; idempotent.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // Taken out of the lock before the join: the thread may be inside `gc`, which stops at
        // its next fan-out folder now that `stop` is set.
        let gc_timer = self.gc_timer.lock().take();
        if let Some((tx, h)) = gc_timer {
            drop(tx);
            let _ = h.join();
        }
        for h in std::mem::take(&mut *self.discoveries.lock()) {
            let _ = h.join();
        }
        drop(self.units.lock().take());
        for h in std::mem::take(&mut *self.shard_handles.lock()) {
            let _ = h.join();
        }
        self.barrier();
        let writer = self.writer.lock().take();
        if let Some(w) = writer {
            for job in self.jobs.lock().values() {
                if job.finish(JobState::Cancelled, Some("daemon shut down before the job finished".into())) {
                    let _ = w.send(WriterMsg::JobRow(Arc::clone(job)));
                }
            }
            drop(w);
        }
        if let Some(h) = self.writer_handle.lock().take() {
            let _ = h.join();
        }
        tracing::info!("engine stopped");
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

/// The data dir's lock file, held by one engine at a time.
pub const LOCK_FILE: &str = "midid.lock";

/// Takes an exclusive `flock` on `data_dir/midid.lock`, or fails at once if another process holds
/// it. Everything in a data dir assumes one owner: the dedupe index that gc's safety argument
/// rests on knows only this process's claims (`hygiene/gc.rs`), a PostgreSQL catalog's jobs are
/// owned by the data dir (`owner_of`) and a second daemon's start would fail the first one's, and
/// the embedded catalog has one writer. A crash leaves no lock behind (`lockfile.rs`).
pub fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File, EngineError> {
    let lock = data_dir.join(LOCK_FILE);
    match crate::lockfile::try_exclusive(&lock) {
        Ok(Some(file)) => Ok(file),
        Ok(None) => Err(EngineError::DataDirInUse { path: data_dir.to_path_buf(), lock }),
        Err(source) => Err(EngineError::DataDirLock { path: lock, source }),
    }
}

/// Who runs a job on a shared catalog: this host and data dir, stable across restarts, so a
/// restarted daemon closes the jobs it left running and no other daemon's.
fn owner_of(data_dir: &Path) -> String {
    let mut host = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or fails.
    let ok = unsafe { libc::gethostname(host.as_mut_ptr().cast(), host.len()) } == 0;
    let host = if ok {
        let end = host.iter().position(|&b| b == 0).unwrap_or(host.len());
        String::from_utf8_lossy(&host[..end]).into_owned()
    } else {
        "unknown-host".to_string()
    };
    let dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    format!("{host}:{}", dir.display())
}
