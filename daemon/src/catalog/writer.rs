//! The catalog writer thread: group commit of row batches, after the objects are durable.
//!
//! Ordering rule: a duplicate's `sources` row may reach the writer before the `files` row of the
//! content it duplicates (the first copy was claimed on another shard whose batch is still open).
//! Such rows are parked until the `files` row commits, in that same transaction, so no committed
//! source ever names a content the catalog does not hold, even across a crash.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use midictl::protocol::JobState;
use rusqlite::Connection;

use super::row::{Op, Outcome};
use super::{postgres, sqlite};
use super::{CatalogError, Row, Source, WriterMsg};
use crate::dedupe::{ContentId, DedupeIndex, Known};
use crate::job::{Counters, Job};
use crate::objects::ObjectStore;
use crate::reject::Reason;

/// Most rows committed in one transaction: large enough to amortise the `syncfs` and the WAL
/// fsync, small enough that a commit stays well under a second.
const GROUP_ROWS: usize = 4096;
/// How often the jobs rows of running jobs are refreshed in the database (live status is served
/// from memory; the rows are the history).
const JOB_ROW_EVERY: Duration = Duration::from_secs(2);

/// The database a writer commits to. One enum, not a trait object: two stores, each with its
/// own way to write a group (statements in a SQLite transaction; COPY BINARY into staging
/// tables and a merge on PostgreSQL).
pub enum Store {
    Sqlite { conn: Connection, path: PathBuf },
    Postgres(Box<postgres::PgWriter>),
}

impl Store {
    fn write_group(&mut self, ops: &[Op<'_>]) -> Result<Outcome, CatalogError> {
        match self {
            Store::Sqlite { conn, path } => sqlite::write_group(conn, ops).map_err(|source| CatalogError::Sqlite {
                op: "committing a batch",
                path: path.display().to_string(),
                source,
            }),
            Store::Postgres(pg) => pg.write_group(ops),
        }
    }

    fn upsert_job(&mut self, job: &Job) -> Result<(), CatalogError> {
        match self {
            Store::Sqlite { conn, path } => sqlite::upsert_job(conn, job).map_err(|source| CatalogError::Sqlite {
                op: "writing a job row",
                path: path.display().to_string(),
                source,
            }),
            Store::Postgres(pg) => pg.upsert_job(job),
        }
    }

    fn upsert_exports(&mut self, job: u64, target: &str, files: &[super::ExportedFile]) -> Result<(), CatalogError> {
        match self {
            Store::Sqlite { conn, path } => sqlite::upsert_exports(conn, job, target, files).map_err(|source| {
                CatalogError::Sqlite { op: "recording export files", path: path.display().to_string(), source }
            }),
            Store::Postgres(pg) => pg.upsert_exports(job, target, files),
        }
    }
}

pub struct Writer {
    store: Store,
    objects: Arc<ObjectStore>,
    index: Arc<DedupeIndex>,
    parked: HashMap<ContentId, Vec<Source>>,
    last_job_rows: Instant,
}

#[derive(Default)]
struct Tally {
    imported: u64,
    duplicates: u64,
    rejected: u64,
}

impl Writer {
    pub fn new(store: Store, objects: Arc<ObjectStore>, index: Arc<DedupeIndex>) -> Writer {
        Writer { store, objects, index, parked: HashMap::new(), last_job_rows: Instant::now() }
    }

    /// Runs until every sender is gone, then returns after the last commit.
    ///
    /// Batches are unpacked into one group as they arrive: holding the messages instead kept every
    /// batch's full-capacity Vec alive until the commit, and age-flushed batches are mostly empty
    /// capacity, which made the writer's memory grow with the backlog rather than with the rows.
    pub fn run(mut self, rx: Receiver<WriterMsg>) {
        while let Ok(first) = rx.recv() {
            let mut group = Group::default();
            group.add(first);
            while group.rows.len() < GROUP_ROWS {
                match rx.try_recv() {
                    Ok(m) => group.add(m),
                    Err(_) => break,
                }
            }
            self.commit_group(group);
        }
        tracing::debug!("catalog writer: all senders gone, exiting");
    }

    fn commit_group(&mut self, group: Group) {
        let Group { rows, job_rows, barriers, exports } = group;
        if !rows.is_empty() {
            self.commit_rows(rows);
        }
        // Before the job rows, so a job row never says more than the catalog holds.
        for (job, target, files) in exports {
            if let Err(e) = self.store.upsert_exports(job, &target, &files) {
                tracing::error!(job, "{e}");
            }
        }
        for j in job_rows {
            self.write_job_row(&j);
        }
        for b in barriers {
            let _ = b.send(());
        }
    }

    fn write_job_row(&mut self, job: &Job) {
        if let Err(e) = self.store.upsert_job(job) {
            tracing::error!(job = job.id, "{e}");
        }
    }

    fn commit_rows(&mut self, rows: Vec<Row>) {
        // A whole duplicate counts too: it can make a row catalogued as a part whole, and a part
        // has no object of its own, so the object this copy wrote must be durable first.
        let has_objects = rows.iter().any(|r| match r {
            Row::File { .. } => true,
            Row::Duplicate { source, .. } => source.part_of.is_none(),
            _ => false,
        });
        if has_objects {
            if let Err(e) = self.objects.sync() {
                // Without durable objects the rows must not commit; the batch fails as a whole.
                self.fail_rows(rows, HashMap::new(), &e.to_string());
                return;
            }
        }
        // Sources parked for a content this group commits are written with it.
        let mut unparked: HashMap<ContentId, Vec<Source>> = HashMap::new();
        let mut in_group: HashSet<ContentId> = HashSet::new();
        for row in &rows {
            if let Row::File { id, .. } = row {
                in_group.insert(*id);
                if let Some(waiting) = self.parked.remove(id) {
                    unparked.insert(*id, waiting);
                }
            }
        }
        // Duplicates whose content is still pending elsewhere: parked after the commit.
        let mut to_park: HashSet<ContentId> = HashSet::new();
        let mut ops: Vec<Op<'_>> = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Row::File { id, size, file, source } = row {
                ops.push(Op::File { id, size: *size, file, source });
                if let Some(waiting) = unparked.get(id) {
                    ops.extend(waiting.iter().map(|source| Op::Source { id, source }));
                }
            }
        }
        for row in &rows {
            match row {
                Row::Duplicate { id, source } => {
                    if in_group.contains(id) {
                        ops.push(Op::Source { id, source });
                    } else if self.index.get(id) == Some(Known::Committed) {
                        // A fingerprint match in the index is confirmed by the catalog's unique index.
                        ops.push(Op::Checked { id, source });
                    } else {
                        to_park.insert(*id);
                    }
                }
                Row::Reject { job, path, reason, detail } => {
                    ops.push(Op::Reject { job: job.id, path, reason: reason.code(), detail });
                }
                Row::Archive { id, size, job, path, members, complete, known } => {
                    if *complete && !*known {
                        ops.push(Op::Archive { id, size: *size, job: job.id, path, members: *members });
                    }
                }
                Row::File { .. } => {}
            }
        }
        let result = self.store.write_group(&ops);
        drop(ops);
        let outcome = match result {
            Ok(o) => o,
            Err(e) => {
                tracing::error!("{e}");
                self.fail_rows(rows, unparked, &e.to_string());
                return;
            }
        };

        let mut tallies: HashMap<u64, (Arc<Job>, Tally, u64)> = HashMap::new();
        for waiting in unparked.values() {
            for s in waiting {
                let t = tally(&mut tallies, &s.job);
                if s.part_of.is_none() {
                    t.1.duplicates += 1;
                    t.2 += 1;
                }
            }
        }
        drop(unparked);
        for row in rows {
            match row {
                Row::File { id, source, .. } => {
                    let new = outcome.new_files.contains(&id);
                    self.index.set_committed(&id, new);
                    let t = tally(&mut tallies, &source.job);
                    if source.part_of.is_some() {
                        // Counted as `parts` by the shard that made it.
                    } else if new {
                        t.1.imported += 1;
                        t.2 += 1;
                    } else {
                        t.1.duplicates += 1;
                        t.2 += 1;
                    }
                }
                Row::Duplicate { id, source } => {
                    if to_park.contains(&id) || outcome.missing.contains(&id) {
                        // Counted when its file row commits.
                        self.parked.entry(id).or_default().push(source);
                    } else {
                        let t = tally(&mut tallies, &source.job);
                        if source.part_of.is_none() {
                            t.1.duplicates += 1;
                            t.2 += 1;
                        }
                    }
                }
                Row::Reject { job, reason, .. } => {
                    job.count_reject(reason);
                    let t = tally(&mut tallies, &job);
                    t.1.rejected += 1;
                    t.2 += 1;
                }
                Row::Archive { id, job, complete, known, .. } => {
                    if complete && !known {
                        self.index.set_archive(id);
                    }
                    // Nothing to count (its members were), but the job is checked for
                    // completion after this commit.
                    tally(&mut tallies, &job);
                }
            }
        }
        let refresh = self.last_job_rows.elapsed() > JOB_ROW_EVERY;
        for (_, (job, t, n)) in tallies {
            Counters::add(&job.counters.imported, t.imported);
            Counters::add(&job.counters.duplicates, t.duplicates);
            Counters::add(&job.counters.rejected, t.rejected);
            job.add_cataloged(n);
            self.maybe_finish(&job);
            if refresh {
                self.write_job_row(&job);
            }
        }
        if refresh {
            self.last_job_rows = Instant::now();
        }
    }

    /// A batch that cannot commit: its claims are released and its jobs fail with the reason,
    /// rather than hang waiting for rows that will never arrive.
    fn fail_rows(&mut self, rows: Vec<Row>, unparked: HashMap<ContentId, Vec<Source>>, why: &str) {
        let mut jobs: HashMap<u64, Arc<Job>> = HashMap::new();
        for s in unparked.into_values().flatten() {
            jobs.insert(s.job.id, s.job);
        }
        for row in rows {
            match row {
                Row::File { id, source, .. } => {
                    self.index.release(&id);
                    if let Some(waiting) = self.parked.remove(&id) {
                        for s in waiting {
                            jobs.insert(s.job.id, s.job);
                        }
                    }
                    jobs.insert(source.job.id, source.job);
                }
                Row::Duplicate { source, .. } => {
                    jobs.insert(source.job.id, source.job);
                }
                Row::Reject { job, .. } | Row::Archive { job, .. } => {
                    jobs.insert(job.id, job);
                }
            }
        }
        for (_, job) in jobs {
            if job.finish(JobState::Failed, Some(format!("catalog write failed: {why}"))) {
                self.write_job_row(&job);
            }
        }
    }

    fn maybe_finish(&mut self, job: &Arc<Job>) {
        if job.is_complete() && job.finish(JobState::Done, None) {
            self.write_job_row(job);
        }
    }
}

fn tally<'a>(t: &'a mut HashMap<u64, (Arc<Job>, Tally, u64)>, job: &Arc<Job>) -> &'a mut (Arc<Job>, Tally, u64) {
    t.entry(job.id).or_insert_with(|| (Arc::clone(job), Tally::default(), 0))
}

/// What one transaction commits: rows first, then job rows, then the barriers are released.
#[derive(Default)]
struct Group {
    rows: Vec<Row>,
    job_rows: Vec<Arc<Job>>,
    barriers: Vec<crossbeam_channel::Sender<()>>,
    exports: Vec<(u64, String, Vec<super::ExportedFile>)>,
}

impl Group {
    fn add(&mut self, msg: WriterMsg) {
        match msg {
            WriterMsg::Batch(b) => self.rows.extend(b.rows),
            WriterMsg::JobRow(j) => self.job_rows.push(j),
            WriterMsg::Barrier(tx) => self.barriers.push(tx),
            WriterMsg::Exports { job, target, files } => self.exports.push((job, target, files)),
        }
    }
}

/// Finishes a job whose discovery ended after its last row committed (or that found nothing).
pub fn discovery_finished(job: &Arc<Job>) -> bool {
    job.set_discovery_done();
    job.is_complete() && job.finish(JobState::Done, None)
}

/// The reason shared by rejects of a content already rejected once in this daemon's lifetime.
pub fn repeat_reject_detail(reason: Reason) -> String {
    format!("same content as a file rejected earlier ({reason})")
}
