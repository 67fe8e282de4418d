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

use super::sqlite;
use super::{Row, Source, WriterMsg};
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

pub struct Writer {
    conn: Connection,
    path: PathBuf,
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
    pub fn new(conn: Connection, path: PathBuf, objects: Arc<ObjectStore>, index: Arc<DedupeIndex>) -> Writer {
        Writer { conn, path, objects, index, parked: HashMap::new(), last_job_rows: Instant::now() }
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
            if let Err(e) = sqlite::upsert_exports(&self.conn, job, &target, &files) {
                tracing::error!(job, "recording export files in {}: {e}", self.path.display());
            }
        }
        for j in job_rows {
            if let Err(e) = sqlite::upsert_job(&self.conn, &j) {
                tracing::error!(job = j.id, "writing job row to {}: {e}", self.path.display());
            }
        }
        for b in barriers {
            let _ = b.send(());
        }
    }

    fn commit_rows(&mut self, rows: Vec<Row>) {
        let has_objects = rows.iter().any(|r| matches!(r, Row::File { .. }));
        if has_objects {
            if let Err(e) = self.objects.sync() {
                // Without durable objects the rows must not commit; the batch fails as a whole.
                self.fail_rows(rows, &e.to_string());
                return;
            }
        }
        let mut tallies: HashMap<u64, (Arc<Job>, Tally, u64)> = HashMap::new();
        // A map, not a Vec: every duplicate in the group is looked up in it. The value says the
        // row is new (the index counts files).
        let mut committed_ids: HashMap<ContentId, bool> = HashMap::new();
        // Duplicates whose content is still pending elsewhere: parked after the commit.
        let mut to_park: HashSet<ContentId> = HashSet::new();
        let mut archive_ids: Vec<ContentId> = Vec::new();
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.unchecked_transaction()?;
            for row in &rows {
                match row {
                    Row::File { id, size, file, source } => {
                        let t = tally(&mut tallies, &source.job);
                        let new = sqlite::insert_file(&tx, id, *size, file, source.job.id, source.part_of.as_ref())?;
                        sqlite::insert_source(&tx, id, source, new && source.part_of.is_none())?;
                        if source.part_of.is_some() {
                            // Counted as `parts` by the shard that made it.
                        } else if new {
                            t.1.imported += 1;
                            t.2 += 1;
                        } else {
                            t.1.duplicates += 1;
                            t.2 += 1;
                        }
                        *committed_ids.entry(*id).or_default() |= new;
                        if let Some(waiting) = self.parked.remove(id) {
                            for s in waiting {
                                sqlite::insert_source(&tx, id, &s, false)?;
                                let t = tally(&mut tallies, &s.job);
                                if s.part_of.is_none() {
                                    t.1.duplicates += 1;
                                    t.2 += 1;
                                }
                            }
                        }
                    }
                    Row::Duplicate { .. } | Row::Reject { .. } | Row::Archive { .. } => {}
                }
            }
            for row in &rows {
                match row {
                    Row::Duplicate { id, source } => {
                        // A fingerprint match in the index is confirmed by the catalog's unique index.
                        let in_catalog = committed_ids.contains_key(id)
                            || (self.index.get(id) == Some(Known::Committed) && sqlite::has_file(&tx, id)?);
                        if !in_catalog {
                            // Parking moves the source out; counted when its file row commits.
                            to_park.insert(*id);
                            continue;
                        }
                        sqlite::insert_source(&tx, id, source, false)?;
                        let t = tally(&mut tallies, &source.job);
                        if source.part_of.is_none() {
                            t.1.duplicates += 1;
                            t.2 += 1;
                        }
                    }
                    Row::Reject { job, path, reason, detail } => {
                        sqlite::upsert_reject(&tx, job.id, path, reason.code(), detail)?;
                        let t = tally(&mut tallies, job);
                        t.1.rejected += 1;
                        t.2 += 1;
                    }
                    Row::Archive { id, size, job, path, members, complete, known } => {
                        if *complete && !*known {
                            sqlite::insert_archive(&tx, id, *size, job.id, path, *members)?;
                            archive_ids.push(*id);
                        }
                        // Nothing to count (its members were), but the job is checked for
                        // completion after this commit.
                        tally(&mut tallies, job);
                    }
                    Row::File { .. } => {}
                }
            }
            tx.commit()
        })();

        match result {
            Ok(()) => {
                for (id, new) in &committed_ids {
                    self.index.set_committed(id, *new);
                }
                for id in archive_ids {
                    self.index.set_archive(id);
                }
                // Now park the duplicates whose content is still pending elsewhere.
                for row in rows {
                    if let Row::Duplicate { id, source } = row {
                        if to_park.contains(&id) {
                            self.parked.entry(id).or_default().push(source);
                        }
                    } else if let Row::Reject { job, reason, .. } = row {
                        job.count_reject(reason);
                    }
                }
                for (_, (job, t, n)) in tallies {
                    Counters::add(&job.counters.imported, t.imported);
                    Counters::add(&job.counters.duplicates, t.duplicates);
                    Counters::add(&job.counters.rejected, t.rejected);
                    job.add_cataloged(n);
                    self.maybe_finish(&job);
                    if self.last_job_rows.elapsed() > JOB_ROW_EVERY {
                        let _ = sqlite::upsert_job(&self.conn, &job);
                    }
                }
                if self.last_job_rows.elapsed() > JOB_ROW_EVERY {
                    self.last_job_rows = Instant::now();
                }
            }
            Err(e) => {
                tracing::error!("committing a batch to {}: {e}", self.path.display());
                self.fail_rows(rows, &e.to_string());
            }
        }
    }

    /// A batch that cannot commit: its claims are released and its jobs fail with the reason,
    /// rather than hang waiting for rows that will never arrive.
    fn fail_rows(&mut self, rows: Vec<Row>, why: &str) {
        let mut jobs: HashMap<u64, Arc<Job>> = HashMap::new();
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
                let _ = sqlite::upsert_job(&self.conn, &job);
            }
        }
    }

    fn maybe_finish(&self, job: &Arc<Job>) {
        if job.is_complete() && job.finish(JobState::Done, None) {
            if let Err(e) = sqlite::upsert_job(&self.conn, job) {
                tracing::error!(job = job.id, "writing job row to {}: {e}", self.path.display());
            }
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
