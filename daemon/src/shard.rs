//! Shards: one pinned thread per core, each running a monoio runtime, taking work units from a
//! shared bounded channel and carrying each one through read → hash → dedupe → parse → object
//! write → row, start to finish, on that core.
//!
//! Bootstrap follows iggy's order: name the thread `shard-N`, pin it, then build the runtime on
//! the pinned thread so the ring and its memory are local to that core. io_uring is probed once
//! before any shard starts; where the kernel or a seccomp profile refuses it, every shard uses
//! monoio's epoll driver and the reason is logged once and shown in `midictl status`.
//!
//! Inside a shard, up to `inflight` files are in flight at once (one pooled aligned buffer each),
//! so the ring stays deep even for tiny files: that queue depth is what beats a thread pool doing
//! blocking reads, especially from a cold page cache. Everything CPU-bound (hash, parse) runs
//! inline between completions; nothing blocks except handing a full batch to the writer, which is
//! the backpressure point.

use std::future::Future;
use std::io;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bumpalo::Bump;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use futures_util::stream::{FuturesUnordered, StreamExt};
use monoio::buf::IoBufMut;
use monoio::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;

use crate::analysis::{self, score::PartSeeds};
use crate::buf::{AlignedBuf, BufPool};
use crate::catalog::writer::repeat_reject_detail;
use crate::catalog::{Batch, Described, PartOf, Row, Source, WriterMsg};
use crate::dedupe::{content_id, to_hex, ContentId, DedupeIndex, Known};
use crate::job::{Counters, Job};
use crate::library;
use crate::midi::{self, MidiLimits};
use crate::objects::{link_fd, tmpfile_unsupported, ObjectStore};
use crate::reject::Reason;
use crate::unpack::{self, ArchiveLimits, Kind, Sink, Walker};

/// One file to import.
pub struct Unit {
    pub job: Arc<Job>,
    /// What to open.
    pub path: PathBuf,
    /// Provenance path as stored (lossy UTF-8 of `path` for loose files).
    pub provenance: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Files larger than this are rejected `too_large` without being read whole.
    pub max_file_bytes: u64,
    /// Outer archives up to this size are read whole into memory through the shard's I/O path;
    /// larger ones are walked from the open file.
    pub max_archive_read: u64,
    pub midi: MidiLimits,
    pub archive: ArchiveLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 16 * 1024 * 1024,
            max_archive_read: 256 * 1024 * 1024,
            midi: MidiLimits::default(),
            archive: ArchiveLimits::default(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ShardTuning {
    /// Files in flight per shard (and pooled buffers per shard).
    pub inflight: usize,
    /// Size of each pooled buffer; files up to this size take a single read.
    pub buf_size: usize,
    /// Rows per batch handed to the writer. Rows queued between the shards and the writer are
    /// most of the memory that grows as an import reaches steady state (about 300 bytes each with
    /// their paths and facts), so batches are small; the writer still commits groups of
    /// `GROUP_ROWS`, so the cost is only more, smaller channel messages.
    pub batch_rows: usize,
    /// A batch older than this is handed over even if not full, so progress stays live.
    pub batch_age: Duration,
    /// Split new multi-part files into parts (`library::split`).
    pub split: bool,
    /// Compute the musical fingerprints (`analysis::fingerprints`) that duplicate tiers 1-3 group by.
    pub fingerprints: bool,
}

impl Default for ShardTuning {
    fn default() -> Self {
        ShardTuning {
            inflight: 64,
            buf_size: 64 * 1024,
            batch_rows: 512,
            batch_age: Duration::from_millis(100),
            split: true,
            fingerprints: true,
        }
    }
}

/// Which I/O driver the shards run on, and why not io_uring when not.
#[derive(Debug, Clone)]
pub struct IoInfo {
    pub uring: bool,
    pub fallback_reason: Option<String>,
}

impl IoInfo {
    pub fn driver(&self) -> &'static str {
        if self.uring {
            "io_uring"
        } else {
            "epoll"
        }
    }
}

/// Decides the driver once. `force_epoll` is for tests and for kernels where io_uring is allowed
/// but unwanted.
pub fn probe_io(force_epoll: bool) -> IoInfo {
    if force_epoll {
        return IoInfo { uring: false, fallback_reason: Some("epoll forced by configuration".into()) };
    }
    match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new().build() {
        Ok(_) if monoio::utils::detect_uring() => IoInfo { uring: true, fallback_reason: None },
        Ok(_) => IoInfo { uring: false, fallback_reason: Some("io_uring lacks an operation monoio needs".into()) },
        Err(e) => IoInfo { uring: false, fallback_reason: Some(format!("io_uring refused: {e}")) },
    }
}

/// What every shard shares (all `Sync`).
pub struct Shared {
    pub index: Arc<DedupeIndex>,
    pub objects: Arc<ObjectStore>,
    pub limits: Limits,
    pub tuning: ShardTuning,
    /// Set at shutdown: units not yet started are dropped, in-flight ones finish.
    pub stop: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("starting shard {shard}: {source}")]
pub struct ShardError {
    pub shard: usize,
    pub source: io::Error,
}

/// Starts `n` shards. They exit when the unit channel is closed and their last batch is sent.
pub fn spawn(
    n: usize,
    io: &IoInfo,
    shared: Arc<Shared>,
    units: Receiver<Unit>,
    writer: Sender<WriterMsg>,
) -> Result<Vec<JoinHandle<()>>, ShardError> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let core = if cores.is_empty() { None } else { Some(cores[i % cores.len()]) };
        let (shared, units, writer, uring) = (Arc::clone(&shared), units.clone(), writer.clone(), io.uring);
        let handle = std::thread::Builder::new()
            .name(format!("shard-{i}"))
            .spawn(move || {
                if let Some(core) = core {
                    if !core_affinity::set_for_current(core) {
                        tracing::warn!(shard = i, "could not pin to core {}", core.id);
                    }
                }
                let shard = Shard::new(i, shared, writer);
                let result = if uring {
                    run_on::<monoio::IoUringDriver>(shard, units)
                } else {
                    run_on::<monoio::LegacyDriver>(shard, units)
                };
                if let Err(e) = result {
                    tracing::error!(shard = i, "runtime failed to start: {e}");
                }
            })
            .map_err(|source| ShardError { shard: i, source })?;
        handles.push(handle);
    }
    Ok(handles)
}

fn run_on<D>(shard: Shard, units: Receiver<Unit>) -> io::Result<()>
where
    D: monoio::Buildable + monoio::Driver,
{
    let mut rt = D::build(monoio::RuntimeBuilder::<D>::new().with_entries(256))?;
    rt.block_on(shard.run(units));
    Ok(())
}

type Pending<'a> = Pin<Box<dyn Future<Output = Done> + 'a>>;

/// A finished I/O step of one file.
enum Done {
    /// `on_disk`: an archive too large to read into memory (its size); `buf` holds its head.
    Read { unit: Unit, buf: Option<AlignedBuf>, res: Result<(), (Reason, String)>, on_disk: Option<u64> },
    Wrote {
        unit: Unit,
        id: ContentId,
        file: Box<Described>,
        buf: AlignedBuf,
        res: io::Result<()>,
        /// The object store's collection mark from before the write (`ObjectStore::ensure`).
        mark: u64,
        /// `Verdict::New`'s `fp_known`, for `split_into_parts`.
        fp_known: bool,
        /// `Verdict::New`'s seeds, for `split_into_parts`.
        seeds: Option<Box<PartSeeds>>,
    },
}

/// What `classify` found.
enum Verdict {
    Duplicate(ContentId),
    Reject(Reason, String),
    /// `fp_known`: the committed fingerprints already matched the id when it was examined (a
    /// 46-bit collision with another content, or a committed content whose object is gone).
    /// The seeds: what the parts' scores are made of, for a file that has parts to split.
    New(ContentId, Box<Described>, bool, Option<Box<PartSeeds>>),
}

/// A new whole file being split: what its parts' rows and scores are made from.
struct Parent<'a> {
    id: ContentId,
    path: &'a str,
    file: &'a Described,
    /// Kept by `describe` when the file had parts to split (`score::PartSeeds`).
    seeds: Option<&'a PartSeeds>,
}

/// What `describe` is given.
#[derive(Clone, Copy)]
enum Content<'s> {
    /// A file as found: loose, or an archive member.
    Whole,
    /// A split part, with its parent's seeds (and the part) when they were kept.
    Part(Option<(&'s PartSeeds, &'s library::split::Part)>),
}

/// An archive unit's bytes: read whole, or left on disk (its size) when over `max_archive_read`.
enum ArchiveData {
    Mem(AlignedBuf),
    File(u64),
}

/// The archive walk's view of the shard.
struct ShardSink<'a> {
    shard: &'a mut Shard,
    job: &'a Arc<Job>,
    shared: &'a Shared,
    members: u64,
}

impl Sink for ShardSink<'_> {
    fn member(&mut self, path: &str, name: &str, raw_name: Option<&[u8]>, bytes: &[u8]) {
        self.members += 1;
        self.shard.member(self.job, path, name, raw_name, bytes, self.shared);
    }

    fn reject(&mut self, path: &str, reason: Reason, detail: String) {
        self.shard.archive_reject(self.job, path, reason, detail);
    }

    fn skipped(&mut self, what: &str) {
        self.job.count_skipped(what);
    }
}

/// A loose file's name bytes when they are not UTF-8 (the catalog keeps them beside the text).
fn raw_file_name(path: &std::path::Path) -> Option<Box<[u8]>> {
    use std::os::unix::ffi::OsStrExt;
    let name = path.file_name()?;
    name.to_str().is_none().then(|| Box::from(name.as_bytes()))
}

/// The content id of a file too large to hold in memory, read in 1 MiB steps.
fn hash_file(path: &std::path::Path) -> io::Result<ContentId> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = crate::dedupe::ContentHasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
    }
}

struct Shard {
    index: usize,
    shared: Arc<Shared>,
    writer: Sender<WriterMsg>,
    pool: BufPool,
    /// Scratch for parsing and analysing one file; reset after each file (what leaves the
    /// shard is owned), so it holds one file's notes at a time, never a batch's.
    arena: Bump,
    rows: Vec<Row>,
    batch_started: Instant,
    seq: u64,
}

impl Shard {
    fn new(index: usize, shared: Arc<Shared>, writer: Sender<WriterMsg>) -> Shard {
        let t = shared.tuning;
        Shard {
            index,
            pool: BufPool::new(t.inflight, t.buf_size),
            arena: Bump::with_capacity(64 * 1024),
            rows: Vec::with_capacity(t.batch_rows),
            batch_started: Instant::now(),
            seq: 0,
            shared,
            writer,
        }
    }

    async fn run(mut self, units: Receiver<Unit>) {
        let shared = Arc::clone(&self.shared);
        let mut inflight: FuturesUnordered<Pending<'_>> = FuturesUnordered::new();
        let mut open = true;
        loop {
            // Fill the ring while buffers last.
            while open && self.pool.available() > 0 {
                match units.try_recv() {
                    Ok(unit) => {
                        if let Some(fut) = self.start(unit, &shared) {
                            inflight.push(fut);
                        }
                    }
                    Err(crossbeam_channel::TryRecvError::Empty) => break,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => open = false,
                }
            }
            if inflight.is_empty() {
                // Idle: hand over what we have so progress and completion never wait on us.
                self.flush();
                if !open {
                    break;
                }
                match units.recv_timeout(Duration::from_millis(200)) {
                    Ok(unit) => {
                        if let Some(fut) = self.start(unit, &shared) {
                            inflight.push(fut);
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => open = false,
                }
                continue;
            }
            if let Some(done) = inflight.next().await {
                if let Some(fut) = self.complete(done, &shared) {
                    inflight.push(fut);
                }
            }
            if self.rows.len() >= shared.tuning.batch_rows || self.batch_started.elapsed() >= shared.tuning.batch_age {
                self.flush();
            }
        }
        tracing::debug!(shard = self.index, "shard exiting");
    }

    /// Begins reading one unit; None when the unit is dropped on purpose (job cancelled,
    /// shutting down). Callers only start units while the pool has a buffer; should the
    /// allocator still fail us, the file becomes a reject, never a silent loss.
    fn start<'a>(&mut self, unit: Unit, shared: &'a Shared) -> Option<Pending<'a>> {
        if !unit.job.is_live() || shared.stop.load(Ordering::Relaxed) {
            return None;
        }
        let Some(buf) = self.pool.take().or_else(|| AlignedBuf::new(shared.tuning.buf_size)) else {
            self.passed_stages(&unit.job);
            let detail = "no memory for a read buffer".to_string();
            self.rows.push(Row::Reject { job: unit.job, path: unit.provenance, reason: Reason::Io, detail });
            return None;
        };
        Some(Box::pin(read_unit(unit, buf, shared.limits.max_file_bytes, shared.limits.max_archive_read)))
    }

    fn complete<'a>(&mut self, done: Done, shared: &'a Shared) -> Option<Pending<'a>> {
        match done {
            Done::Read { unit, buf, res, on_disk } => {
                let job = Arc::clone(&unit.job);
                if let (Some(size), Ok(())) = (on_disk, &res) {
                    Counters::add(&job.counters.read, 1);
                    let kind = buf.as_ref().map_or(Kind::Other, |b| unpack::sniff(b.as_slice()));
                    if let Some(b) = buf {
                        self.pool.give(b);
                    }
                    self.unpack_archive(unit, kind, ArchiveData::File(size), shared);
                    return None;
                }
                match (res, buf) {
                    (Ok(()), Some(buf)) => {
                        Counters::add(&job.counters.read, 1);
                        Counters::add(&job.counters.bytes, buf.len() as u64);
                        self.examine(unit, buf, shared)
                    }
                    (Err((reason, detail)), buf) => {
                        if let Some(buf) = buf {
                            self.pool.give(buf);
                        }
                        self.passed_stages(&job);
                        self.rows.push(Row::Reject { job, path: unit.provenance, reason, detail });
                        None
                    }
                    (Ok(()), None) => {
                        self.passed_stages(&job);
                        let detail = "read finished without a buffer".to_string();
                        self.rows.push(Row::Reject { job, path: unit.provenance, reason: Reason::Io, detail });
                        None
                    }
                }
            }
            Done::Wrote { unit, id, file, buf, res, mark, fp_known, seeds } => {
                let size = buf.len() as u64;
                let raw_name = raw_file_name(&unit.path);
                let tags = file.analysis.as_ref().map(|a| a.tags.clone());
                let source = new_source(unit.job, unit.provenance, unit.name, raw_name, tags);
                let res = res.map_err(|e| format!("writing object {}: {e}", shared.objects.path_of(&id).display()));
                match res {
                    Ok(()) => match shared.index.claim(id) {
                        None => match self.keep_object(&id, buf.as_slice(), mark, shared) {
                            Ok(()) => {
                                self.split_into_parts(&source, id, (&file, seeds), buf.as_slice(), shared, fp_known);
                                self.rows.push(Row::File { id, size, file, source });
                            }
                            Err(detail) => self.rows.push(Row::Reject {
                                job: source.job,
                                path: source.path,
                                reason: Reason::Io,
                                detail,
                            }),
                        },
                        Some(_) => {
                            self.ensure_lost(&id, buf.as_slice(), mark, shared);
                            self.rows.push(Row::Duplicate { id, source });
                        }
                    },
                    Err(detail) => {
                        self.rows.push(Row::Reject { job: source.job, path: source.path, reason: Reason::Io, detail });
                    }
                }
                self.pool.give(buf);
                None
            }
        }
    }

    /// Hash, dedupe, parse: the CPU part, inline between completions. An archive (by its magic
    /// bytes) is walked here instead, synchronously, on this shard.
    fn examine<'a>(&mut self, unit: Unit, buf: AlignedBuf, shared: &'a Shared) -> Option<Pending<'a>> {
        let kind = unpack::sniff(buf.as_slice());
        if kind.is_archive() {
            self.unpack_archive(unit, kind, ArchiveData::Mem(buf), shared);
            return None;
        }
        let job = Arc::clone(&unit.job);
        match self.classify(&job, buf.as_slice(), &unit.provenance, shared) {
            Verdict::Duplicate(id) => {
                self.pool.give(buf);
                let raw_name = raw_file_name(&unit.path);
                let source = new_source(job, unit.provenance, unit.name, raw_name, None);
                self.rows.push(Row::Duplicate { id, source });
                None
            }
            Verdict::Reject(reason, detail) => {
                self.pool.give(buf);
                self.rows.push(Row::Reject { job, path: unit.provenance, reason, detail });
                None
            }
            Verdict::New(id, file, fp_known, seeds) => {
                self.seq += 1;
                let tmp = shared.objects.temp_path(&id, self.index, self.seq);
                let dest = shared.objects.path_of(&id);
                let mark = shared.objects.mark();
                Some(Box::pin(write_object(unit, id, (file, seeds), buf, (tmp, dest), mark, fp_known)))
            }
        }
    }

    /// What the bytes of one file are: a known content, a reject, or a new content with its facts
    /// and analysis (whose object the caller writes). Counts the parse and analyze stages. `path`
    /// is the provenance path: its words are priors for the analysis (a BPM, a key). A new
    /// multi-part file is split only once its claim is won (`split_into_parts`).
    fn classify(&mut self, job: &Arc<Job>, bytes: &[u8], path: &str, shared: &Shared) -> Verdict {
        let verdict = self.describe(bytes, path, Content::Whole, shared);
        self.passed_stages(job);
        verdict
    }

    /// Called by whoever won the claim on a new content, right before its file row goes out, so
    /// its parts' rows go out before it (in the same batch or an earlier one: the job cannot look
    /// complete without them). Splitting after the claim, not in `describe`, is what makes two
    /// copies of one song in flight together (two shards, or two reads on one) split once: the
    /// copy that loses the claim is a duplicate whose parts already exist.
    ///
    /// A claim is also won by a copy examined before another copy's row committed and claimed
    /// after it (a commit clears the claim, leaving the id in the committed fingerprints; the
    /// catalog's unique index then makes that row a duplicate). Such a copy is not split: the
    /// fingerprint matched at the claim but not when it was examined (`fp_known`), so the content
    /// was committed in between, parts and all.
    fn split_into_parts(
        &mut self,
        source: &Source,
        id: ContentId,
        (file, seeds): (&Described, Option<Box<PartSeeds>>),
        bytes: &[u8],
        shared: &Shared,
        fp_known: bool,
    ) {
        // Only a file the analysis found two or more parts in can split; the others skip the
        // split's own pass over the events.
        let wanted = source.part_of.is_none()
            && shared.tuning.split
            && file.analysis.as_ref().is_some_and(|a| a.parts.len() >= 2);
        if !wanted || (!fp_known && shared.index.maybe_committed(&id)) {
            return;
        }
        // The split reads hostile bytes too: a panic costs this file its parts, not the shard.
        match std::panic::catch_unwind(|| library::split::split(bytes)) {
            Ok(parts) if !parts.is_empty() => {
                let job = Arc::clone(&source.job);
                let parent = Parent { id, path: &source.path, file, seeds: seeds.as_deref() };
                self.add_parts(&job, parent, parts, shared);
            }
            Ok(_) => {}
            Err(_) => tracing::warn!(path = %source.path, "the split panicked on this file; it stands without parts"),
        }
    }

    /// Parts become rows like archive members: hashed, deduplicated, parsed, analysed and
    /// claimed here, but with no object of their own (their parent's object, split again, gives
    /// their bytes back: `library::split::find_part`). They are not split again, and count as
    /// `parts`, not as files.
    fn add_parts(&mut self, job: &Arc<Job>, parent: Parent, parts: Vec<library::split::Part>, shared: &Shared) {
        let Parent { id: parent, path: parent_path, file, seeds } = parent;
        Counters::add(&job.counters.parts, parts.len() as u64);
        let parent_name = parent_path.rsplit(['/', '\\']).next().unwrap_or(parent_path);
        let stem = library::sanitize::part_stem(parent_name);
        let summaries = file.analysis.as_ref().map_or(&[][..], |a| a.parts.as_slice());
        for part in parts {
            let role = summaries
                .iter()
                .find(|s| s.track == part.track && part.channel.is_none_or(|c| s.channel == c + 1))
                .map_or("part", |s| s.role);
            let label = if part.label.is_empty() { role } else { part.label.as_str() };
            let name = library::sanitize::part_name_in(&stem, part.index, label);
            let path = format!("{parent_path}#{name}");
            let part_of = PartOf { parent, index: part.index, track: part.track, channel: part.channel };
            let verdict = self.describe(&part.bytes, &path, Content::Part(seeds.map(|s| (s, &part))), shared);
            let source = |tags: Option<Vec<String>>| {
                let mut s = new_source(Arc::clone(job), path.clone(), name.clone(), None, tags);
                s.part_of = Some(part_of);
                s
            };
            match verdict {
                Verdict::Duplicate(id) => self.rows.push(Row::Duplicate { id, source: source(None) }),
                // The parts of a file that parsed are made by our own writer: one that does not
                // parse is a bug to hear about, not the user's problem.
                Verdict::Reject(reason, detail) => {
                    tracing::warn!(part = %path, %reason, "a split part was refused: {detail}");
                }
                // No object: a part's bytes are its parent's object split again
                // (`library::split::find_part`), so a part costs no inode, no write and no copy.
                Verdict::New(id, file, _, _) => {
                    let source = source(file.analysis.as_ref().map(|a| a.tags.clone()));
                    match shared.index.claim(id) {
                        None => self.rows.push(Row::File { id, size: part.bytes.len() as u64, file, source }),
                        Some(_) => self.rows.push(Row::Duplicate { id, source }),
                    }
                }
            }
        }
    }

    /// Dedupe, parse and analyse one content; counts nothing. `Content::Part`: the bytes are
    /// a split part, which is catalogued without an object of its own, with its parent's seeds
    /// when they were kept: its score and facts are then made from them instead of read from
    /// its bytes (the same score and facts: `score::PartSeeds`). A whole file with parts to
    /// split comes back with its own seeds.
    fn describe(&mut self, bytes: &[u8], path: &str, content: Content, shared: &Shared) -> Verdict {
        let (part, derive) = match content {
            Content::Whole => (false, None),
            Content::Part(derive) => (true, derive),
        };
        // A whole file's notes are kept in walk order only where it may be split.
        let keep = !part && shared.tuning.split;
        let id = content_id(bytes);
        let known = shared.index.get(&id);
        match known {
            // A fingerprint match is confirmed by the object store: a committed content's object
            // is named by its full id (two contents sharing 46 bits fall through to a new import).
            // A committed part has no object and is described again; the catalog's unique index
            // makes its row a duplicate.
            Some(Known::Committed) if shared.objects.path_of(&id).exists() => {
                return Verdict::Duplicate(id);
            }
            // A whole file's claim comes after its object is written, a part's comes with no
            // object. A whole copy of a content claimed as a part must write the object (a whole
            // source makes the row whole, and a whole row's object must exist), so for a whole
            // file a claim counts as a duplicate only once the object is there.
            Some(Known::Pending) if part || shared.objects.path_of(&id).exists() => return Verdict::Duplicate(id),
            Some(Known::Rejected(reason)) => {
                return Verdict::Reject(reason, repeat_reject_detail(reason));
            }
            Some(Known::Committed | Known::Pending) | None => {}
        }
        let limits = shared.limits.midi;
        let fingerprints = shared.tuning.fingerprints;
        let arena = &self.arena;
        // midly is fuzzed but still third-party code fed hostile bytes, and the analysis reads
        // the same bytes: a panic in either must cost one file, not a shard.
        let parsed = std::panic::catch_unwind(AssertUnwindSafe(|| {
            // A part with its parent's seeds: score and facts made from them, the bytes unread
            // (the same score and facts: `score::PartSeeds`).
            if let Some((seeds, p)) = derive {
                if let Some(score) = seeds.score_of(p.track, p.channel, p.conductor_end, arena) {
                    return PartSeeds::facts_of(&score, p.events, &limits, arena).map(|facts| {
                        let profiles = analysis::key::PROFILES_USED;
                        let a = analysis::analyze_with(&score, path, facts.duration_ticks, profiles, fingerprints);
                        (Described { facts, analysis: Some(a) }, None)
                    });
                }
            }
            midi::parse(bytes, &limits, arena).map(|facts| {
                // SMPTE-timed files have no beats to analyse; the parse's facts stand alone.
                let (analysis, seeds) = match facts.timing {
                    midi::Timing::Metrical { .. } => match analysis::score::gather_with(bytes, arena, keep) {
                        Some(score) => {
                            let a = analysis::analyze_with(
                                &score,
                                path,
                                facts.duration_ticks,
                                analysis::key::PROFILES_USED,
                                fingerprints,
                            );
                            let seeds = if keep && a.parts.len() >= 2 { PartSeeds::of(&score) } else { None };
                            (Some(a), seeds.map(Box::new))
                        }
                        None => (None, None),
                    },
                    midi::Timing::Timecode { .. } => (None, None),
                };
                (Described { facts, analysis }, seeds)
            })
        }));
        self.arena.reset();
        match parsed {
            Ok(Ok((file, seeds))) => Verdict::New(id, Box::new(file), known == Some(Known::Committed), seeds),
            Ok(Err(rej)) => {
                shared.index.mark_rejected(id, rej.reason);
                Verdict::Reject(rej.reason, rej.detail)
            }
            Err(_) => {
                Verdict::Reject(Reason::Malformed, "the MIDI parser or the analysis panicked on this file".to_string())
            }
        }
    }

    /// Walks an archive unit. Its members become rows like loose files (with `!/` provenance);
    /// the archive itself stops counting as a file (discovery and the read counted it as one)
    /// and ends as a `Row::Archive` after its members' rows.
    fn unpack_archive(&mut self, unit: Unit, kind: Kind, data: ArchiveData, shared: &Shared) {
        let job = Arc::clone(&unit.job);
        let (id, size) = match &data {
            ArchiveData::Mem(buf) => (content_id(buf.as_slice()), buf.len() as u64),
            ArchiveData::File(size) => match hash_file(&unit.path) {
                Ok(id) => (id, *size),
                Err(e) => {
                    self.passed_stages(&job);
                    let detail = format!("reading {}: {e}", unit.path.display());
                    self.rows.push(Row::Reject { job, path: unit.provenance, reason: Reason::from_io(&e), detail });
                    return;
                }
            },
        };
        let known = shared.index.archive_known(&id);
        let mut sink = ShardSink { shard: self, job: &job, shared, members: 0 };
        let mut complete = true;
        if known {
            Counters::add(&job.counters.archives_known, 1);
        } else {
            let limits = shared.limits.archive;
            let spill = shared.objects.tmp_dir().to_path_buf();
            let path = unit.provenance.as_str();
            // Decoders are third-party code fed hostile bytes: a panic costs this archive only.
            let walked = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let walker = Walker::new(limits, &spill, &mut sink);
                match &data {
                    ArchiveData::Mem(buf) => walker.walk_bytes(kind, buf.as_slice(), path),
                    ArchiveData::File(_) => match std::fs::File::open(&unit.path) {
                        Ok(f) => walker.walk_file(kind, f, path),
                        Err(e) => {
                            let reason = Reason::from_io(&e);
                            drop(walker);
                            sink.reject(path, reason, format!("opening {}: {e}", unit.path.display()));
                            unpack::Stats { aborted: true, ..unpack::Stats::default() }
                        }
                    },
                }
            }));
            match walked {
                Ok(stats) => {
                    complete = !stats.aborted;
                    Counters::add(&job.counters.archives, stats.archives);
                    Counters::max(&job.counters.archive_depth, u64::from(stats.max_depth));
                    Counters::add(&job.counters.inflated_bytes, stats.inflated_bytes);
                }
                Err(_) => {
                    complete = false;
                    let detail = "an archive decoder panicked; entries after that point are lost".to_string();
                    sink.reject(path, Reason::CorruptArchive, detail);
                }
            }
        }
        let members = sink.members;
        if let ArchiveData::Mem(buf) = data {
            self.pool.give(buf);
        }
        // The unit was counted as a file by discovery and by the read; from here its members
        // (and its rejects) are what count. The members are already counted, so the job cannot
        // look complete in between.
        Counters::sub(&job.counters.discovered, 1);
        Counters::sub(&job.counters.read, 1);
        self.rows.push(Row::Archive { id, size, job, path: unit.provenance, members, complete, known });
    }

    /// One MIDI member of an archive, decoded: the same stages as a loose file, with the object
    /// written synchronously (the walk is synchronous code).
    fn member(&mut self, job: &Arc<Job>, path: &str, name: &str, raw: Option<&[u8]>, bytes: &[u8], shared: &Shared) {
        Counters::add(&job.counters.discovered, 1);
        Counters::add(&job.counters.read, 1);
        Counters::add(&job.counters.bytes, bytes.len() as u64);
        let raw_name = raw.map(Box::from);
        let (job, path, name) = (Arc::clone(job), path.to_string(), name.to_string());
        match self.classify(&job, bytes, &path, shared) {
            Verdict::Duplicate(id) => {
                let source = new_source(job, path, name, raw_name, None);
                self.rows.push(Row::Duplicate { id, source })
            }
            Verdict::Reject(reason, detail) => self.rows.push(Row::Reject { job, path, reason, detail }),
            Verdict::New(id, file, fp_known, seeds) => {
                let tags = file.analysis.as_ref().map(|a| a.tags.clone());
                let source = new_source(job, path, name, raw_name, tags);
                if let Err(failed) = self.store_sync(id, bytes, (file, seeds), source, shared, fp_known) {
                    let (source, detail) = *failed;
                    self.rows.push(Row::Reject { job: source.job, path: source.path, reason: Reason::Io, detail });
                }
            }
        }
        self.flush_if_full();
    }

    /// A new content found by synchronous code (an archive member, a split part): its object
    /// written here, then the claim; a file row, or a duplicate row when another shard claimed it
    /// first. Err gives the source back with why its object could not be kept.
    fn store_sync(
        &mut self,
        id: ContentId,
        bytes: &[u8],
        (file, seeds): (Box<Described>, Option<Box<PartSeeds>>),
        source: Source,
        shared: &Shared,
        fp_known: bool,
    ) -> Result<(), Box<(Source, String)>> {
        self.seq += 1;
        let mark = shared.objects.mark();
        if let Err(e) = shared.objects.write_sync(&id, bytes, self.index, self.seq) {
            return Err(Box::new((source, format!("writing object {}: {e}", shared.objects.path_of(&id).display()))));
        }
        match shared.index.claim(id) {
            None => match self.keep_object(&id, bytes, mark, shared) {
                Ok(()) => {
                    self.split_into_parts(&source, id, (&file, seeds), bytes, shared, fp_known);
                    self.rows.push(Row::File { id, size: bytes.len() as u64, file, source });
                }
                Err(detail) => return Err(Box::new((source, detail))),
            },
            Some(_) => {
                self.ensure_lost(&id, bytes, mark, shared);
                self.rows.push(Row::Duplicate { id, source });
            }
        }
        Ok(())
    }

    /// After losing the claim on a content whose object this shard wrote: the winner may be a
    /// part, which writes no object, and this copy's source can make the row whole. So, as the
    /// winner does (`keep_object`), the object is checked and written again if a gc took it
    /// since `mark` (a gc may remove an old stray object this write kept by EEXIST). A failure
    /// is logged: the winner's row stands either way.
    fn ensure_lost(&mut self, id: &ContentId, bytes: &[u8], mark: u64, shared: &Shared) {
        self.seq += 1;
        if let Err(e) = shared.objects.ensure(id, bytes, mark, self.index, self.seq) {
            tracing::warn!("writing object {} again after a gc: {e}", shared.objects.path_of(id).display());
        }
    }

    /// Right after winning the claim on a new content: a gc may have removed its object between
    /// the write and the claim (`ObjectStore::ensure`, `hygiene/gc.rs`); it is written again then.
    /// Should that fail, the claim is released and the file becomes a reject. (A duplicate that
    /// saw the claim meanwhile then waits, parked, like one whose first copy's batch failed; this
    /// takes a gc, an old stray object of the same content and a failing disk at one moment.)
    fn keep_object(&mut self, id: &ContentId, bytes: &[u8], mark: u64, shared: &Shared) -> Result<(), String> {
        self.seq += 1;
        match shared.objects.ensure(id, bytes, mark, self.index, self.seq) {
            Ok(false) => Ok(()),
            Ok(true) => {
                tracing::debug!(shard = self.index, "object {} written again after a gc", to_hex(id));
                Ok(())
            }
            Err(e) => {
                shared.index.release(id);
                Err(format!("writing object {} again after a gc: {e}", shared.objects.path_of(id).display()))
            }
        }
    }

    /// A reject found by the archive walk (the archive itself or one of its entries).
    fn archive_reject(&mut self, job: &Arc<Job>, path: &str, reason: Reason, detail: String) {
        Counters::add(&job.counters.discovered, 1);
        Counters::add(&job.counters.read, 1);
        self.passed_stages(job);
        self.rows.push(Row::Reject { job: Arc::clone(job), path: path.to_string(), reason, detail });
        self.flush_if_full();
    }

    /// A long archive walk hands over full batches as it goes, like the run loop does.
    fn flush_if_full(&mut self) {
        if self.rows.len() >= self.shared.tuning.batch_rows {
            self.flush();
        }
    }

    /// A file that got past parse (or needed none: duplicates, rejects) counts for both stages,
    /// so the per-stage bars of a job all reach its total.
    fn passed_stages(&self, job: &Job) {
        Counters::add(&job.counters.parsed, 1);
        Counters::add(&job.counters.analyzed, 1);
    }

    fn flush(&mut self) {
        if !self.rows.is_empty() {
            let rows = std::mem::replace(&mut self.rows, Vec::with_capacity(self.shared.tuning.batch_rows));
            // Blocks when the writer is behind: backpressure on purpose.
            if self.writer.send(WriterMsg::Batch(Batch { rows })).is_err() {
                tracing::error!(shard = self.index, "catalog writer is gone; batch dropped");
            }
        }
        self.batch_started = Instant::now();
    }
}

/// Opens with O_DIRECT, falling back to buffered I/O where the filesystem refuses it (tmpfs says
/// EINVAL), and remembers the refusal for the rest of the job.
async fn open_for_read(path: &std::path::Path, job: &Job) -> io::Result<monoio::fs::File> {
    if job.direct_io() {
        match OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(path).await {
            Ok(f) => return Ok(f),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => job.refuse_direct_io(),
            Err(e) => return Err(e),
        }
    }
    OpenOptions::new().read(true).open(path).await
}

/// Size of the first read of every file (see `read_whole`).
const FIRST_READ: usize = 16 * 1024;

/// Reads a whole file into `buf` (or a larger one-off buffer for files over the pool size).
async fn read_unit(unit: Unit, buf: AlignedBuf, max_bytes: u64, max_archive: u64) -> Done {
    let (buf, res, on_disk) = read_whole(&unit, buf, max_bytes, max_archive).await;
    Done::Read { unit, buf, res, on_disk }
}

type ReadResult = (Option<AlignedBuf>, Result<(), (Reason, String)>, Option<u64>);

/// Reads a file whole. MIDI files and anything unrecognised are capped at `max_bytes`; a file
/// whose first bytes say archive may be up to `max_archive` bytes, and beyond that comes back as
/// `on_disk` (with its head in the buffer) to be walked from the open file.
async fn read_whole(unit: &Unit, buf: AlignedBuf, max_bytes: u64, max_archive: u64) -> ReadResult {
    let io_err = |what: &str, e: io::Error| (Reason::from_io(&e), format!("{what} {}: {e}", unit.path.display()));
    let file = match open_for_read(&unit.path, &unit.job).await {
        Ok(f) => f,
        Err(e) => return (Some(buf), Err(io_err("opening", e)), None),
    };
    // The first read asks for FIRST_READ bytes, not the whole pooled buffer: for an O_DIRECT read
    // past the end of a small file ext4 zero-fills the rest of the request (profiled at 8 % of
    // all CPU with 64 KiB requests), and most MIDI files are far under 16 KiB.
    let first = FIRST_READ.min(buf.capacity());
    let (res, slice) = file.read_at(buf.slice_mut(0..first), 0).await;
    let buf = slice.into_inner();
    let mut n = match res {
        Ok(n) => n,
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            // Some filesystems accept O_DIRECT at open and refuse it at read time.
            unit.job.refuse_direct_io();
            let _ = file.close().await;
            return Box::pin(read_whole(unit, buf, max_bytes, max_archive)).await;
        }
        Err(e) => {
            let _ = file.close().await;
            return (Some(buf), Err(io_err("reading", e)), None);
        }
    };
    let is_archive = unpack::sniff(&buf.as_slice()[..n.min(unpack::SNIFF_BYTES)]).is_archive();
    let max_bytes = if is_archive { max_archive } else { max_bytes };
    if n as u64 > max_bytes {
        let _ = file.close().await;
        return (Some(buf), Err((Reason::TooLarge, format!("over the {max_bytes}-byte cap"))), None);
    }
    if n < first {
        let _ = file.close().await;
        return (Some(buf), Ok(()), None);
    }
    // The pooled buffer filled up: a large file. Size it, check the cap before reading it whole.
    let size = match file.metadata().await {
        Ok(m) => m.len(),
        Err(e) => {
            let _ = file.close().await;
            return (Some(buf), Err(io_err("reading metadata of", e)), None);
        }
    };
    if size > max_bytes {
        let _ = file.close().await;
        if is_archive {
            return (Some(buf), Ok(()), Some(size));
        }
        return (Some(buf), Err((Reason::TooLarge, format!("{size} bytes, over the {max_bytes}-byte cap"))), None);
    }
    // One spare block so a file that grew since the stat still ends in a short read we can see.
    let Some(mut big) = AlignedBuf::new(size as usize + crate::buf::ALIGN) else {
        let _ = file.close().await;
        return (Some(buf), Err((Reason::Io, format!("cannot allocate {size} bytes"))), None);
    };
    big.extend_from_slice(buf.as_slice());
    drop(buf);
    loop {
        if n as u64 > max_bytes {
            let _ = file.close().await;
            return (Some(big), Err((Reason::TooLarge, format!("over the {max_bytes}-byte cap"))), None);
        }
        if big.len() == big.capacity() {
            break;
        }
        let start = big.len();
        let (res, slice) = file.read_at(big.slice_mut(start..), start as u64).await;
        big = slice.into_inner();
        match res {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => {
                let _ = file.close().await;
                return (Some(big), Err(io_err("reading", e)), None);
            }
        }
    }
    let _ = file.close().await;
    (Some(big), Ok(()), None)
}

/// A source row; `tags` are the analysis's when it ran (from the same path), else the path's.
fn new_source(
    job: Arc<Job>,
    path: String,
    name: String,
    raw_name: Option<Box<[u8]>>,
    tags: Option<Vec<String>>,
) -> Source {
    let tags = tags.unwrap_or_else(|| analysis::tags::from_path(&path).tags);
    let clean_name = crate::library::sanitize::clean_name(&name);
    Source { job, path, name, raw_name, clean_name, tags, part_of: None }
}

/// Writes a new object. Durability comes from the writer's `syncfs` before the row commits (see
/// `objects.rs`). `paths`: the temp path (for filesystems without O_TMPFILE) and the object's.
async fn write_object(
    unit: Unit,
    id: ContentId,
    (file, seeds): (Box<Described>, Option<Box<PartSeeds>>),
    buf: AlignedBuf,
    paths: (PathBuf, PathBuf),
    mark: u64,
    fp_known: bool,
) -> Done {
    let (tmp, dest) = paths;
    let (buf, res) = match dest.parent() {
        Some(dir) => match write_unnamed_and_link(buf, dir, &dest).await {
            (buf, Err(e)) if tmpfile_unsupported(&e) => write_tmp_and_rename(buf, &tmp, &dest).await,
            other => other,
        },
        None => (buf, Err(io::Error::from(io::ErrorKind::InvalidInput))),
    };
    Done::Wrote { unit, id, file, buf, res, mark, fp_known, seeds }
}

/// O_TMPFILE: an unnamed inode in the object's own fan-out directory, linked into place once
/// written. Compared with a temp name plus rename it takes the directory lock once instead of
/// twice (profiling showed shards queueing on that lock), and a crash leaves no temp file.
async fn write_unnamed_and_link(
    buf: AlignedBuf,
    dir: &std::path::Path,
    dest: &std::path::Path,
) -> (AlignedBuf, io::Result<()>) {
    let file = match OpenOptions::new().write(true).custom_flags(libc::O_TMPFILE).mode(0o644).open(dir).await {
        Ok(f) => f,
        Err(e) => return (buf, Err(e)),
    };
    let (res, buf) = file.write_all_at(buf, 0).await;
    let linked = res.and_then(|()| link_fd(std::os::fd::AsRawFd::as_raw_fd(&file), dest));
    let closed = file.close().await;
    (buf, linked.and(closed))
}

/// Fallback where O_TMPFILE is not supported: a named temp file, then rename.
async fn write_tmp_and_rename(
    buf: AlignedBuf,
    tmp: &std::path::Path,
    dest: &std::path::Path,
) -> (AlignedBuf, io::Result<()>) {
    let file = match OpenOptions::new().write(true).create(true).truncate(true).open(tmp).await {
        Ok(f) => f,
        Err(e) => return (buf, Err(e)),
    };
    let (res, buf) = file.write_all_at(buf, 0).await;
    let closed = file.close().await;
    if let Err(e) = res.and(closed) {
        let _ = std::fs::remove_file(tmp);
        return (buf, Err(e));
    }
    // A plain rename(2): monoio 0.2.4's io_uring rename does not build without its default
    // features, and a rename is a short metadata call next to the write.
    let renamed = std::fs::rename(tmp, dest);
    if renamed.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    (buf, renamed)
}
