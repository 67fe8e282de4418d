//! Jobs: one import (later export) request, its live counters and its state machine.
//!
//! Counters are atomics because four kinds of threads move them at once (discovery, every shard,
//! the catalog writer, status readers). Who counts what is fixed so every file is counted once:
//! discovery counts `discovered`/`skipped`, shards count `read`/`parsed`/`analyzed`/`bytes`, and
//! the catalog writer counts `imported`/`duplicates`/`rejected`/`cataloged` only after the
//! transaction holding the row committed. A job is done when discovery finished and every
//! discovered file is cataloged, so "done" means durable.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use midictl::protocol::{Counts, JobInfo, JobState};
use parking_lot::Mutex;

use crate::reject::Reason;

#[derive(Default)]
pub struct Counters {
    pub discovered: AtomicU64,
    pub read: AtomicU64,
    pub parsed: AtomicU64,
    pub imported: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected: AtomicU64,
    pub parts: AtomicU64,
    pub analyzed: AtomicU64,
    pub cataloged: AtomicU64,
    pub bytes: AtomicU64,
    pub skipped: AtomicU64,
    pub archives: AtomicU64,
    pub archive_depth: AtomicU64,
    pub inflated_bytes: AtomicU64,
    pub archives_known: AtomicU64,
    /// Export jobs: files written to the drive, and files already there from an earlier export.
    pub written: AtomicU64,
    pub unchanged: AtomicU64,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Takes back a count made too early: an archive unit was counted as a file by discovery
    /// and read, and stops being one once its members are counted.
    pub fn sub(c: &AtomicU64, n: u64) {
        c.fetch_sub(n, Ordering::Relaxed);
    }

    pub fn max(c: &AtomicU64, n: u64) {
        c.fetch_max(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Counts {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counts {
            discovered: g(&self.discovered),
            read: g(&self.read),
            parsed: g(&self.parsed),
            imported: g(&self.imported),
            duplicates: g(&self.duplicates),
            rejected: g(&self.rejected),
            parts: g(&self.parts),
            analyzed: g(&self.analyzed),
            cataloged: g(&self.cataloged),
            bytes: g(&self.bytes),
            skipped: g(&self.skipped),
            archives: g(&self.archives),
            archive_depth: g(&self.archive_depth),
            inflated_bytes: g(&self.inflated_bytes),
            archives_known: g(&self.archives_known),
            written: g(&self.written),
            unchanged: g(&self.unchanged),
        }
    }
}

fn state_to_u8(s: JobState) -> u8 {
    match s {
        JobState::Queued => 0,
        JobState::Running => 1,
        JobState::Done => 2,
        JobState::Failed => 3,
        JobState::Cancelled => 4,
    }
}

fn state_from_u8(v: u8) -> JobState {
    match v {
        0 => JobState::Queued,
        1 => JobState::Running,
        2 => JobState::Done,
        3 => JobState::Failed,
        _ => JobState::Cancelled,
    }
}

pub fn now_rfc3339() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    // Civil-from-days (H. Hinnant), so the daemon needs no date crate for one timestamp format.
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

pub struct Job {
    pub id: u64,
    pub kind: &'static str,
    pub paths: Vec<String>,
    pub counters: Counters,
    state: AtomicU8,
    discovery_done: AtomicBool,
    buffered_reads: AtomicBool,
    started_at: Instant,
    started: String,
    finish: Mutex<Option<(f64, String)>>,
    note: Mutex<Option<String>>,
    rejects: Mutex<BTreeMap<Reason, u64>>,
    skipped_ext: Mutex<BTreeMap<String, u64>>,
}

impl Job {
    pub fn new(id: u64, kind: &'static str, paths: Vec<String>) -> Arc<Job> {
        Arc::new(Job {
            id,
            kind,
            paths,
            counters: Counters::default(),
            state: AtomicU8::new(state_to_u8(JobState::Running)),
            discovery_done: AtomicBool::new(false),
            buffered_reads: AtomicBool::new(false),
            started_at: Instant::now(),
            started: now_rfc3339(),
            finish: Mutex::new(None),
            note: Mutex::new(None),
            rejects: Mutex::new(BTreeMap::new()),
            skipped_ext: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn state(&self) -> JobState {
        state_from_u8(self.state.load(Ordering::Acquire))
    }

    /// Units of a job that is no longer running are dropped by shards and discovery.
    pub fn is_live(&self) -> bool {
        self.state() == JobState::Running
    }

    /// Moves Running to `to` exactly once; the caller that wins writes the final jobs row.
    pub fn finish(&self, to: JobState, note: Option<String>) -> bool {
        let won = self
            .state
            .compare_exchange(state_to_u8(JobState::Running), state_to_u8(to), Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if won {
            *self.finish.lock() = Some((self.started_at.elapsed().as_secs_f64(), now_rfc3339()));
            if note.is_some() {
                *self.note.lock() = note;
            }
        }
        won
    }

    pub fn set_discovery_done(&self) {
        // SeqCst here and in `is_complete`/`add_cataloged`: discovery and the writer each check
        // completion after their own store, and one of them must see the other's.
        self.discovery_done.store(true, Ordering::SeqCst);
    }

    pub fn discovery_done(&self) -> bool {
        self.discovery_done.load(Ordering::Acquire)
    }

    /// True when every discovered file has its row committed and discovery is over.
    pub fn is_complete(&self) -> bool {
        self.discovery_done.load(Ordering::SeqCst)
            && self.counters.cataloged.load(Ordering::SeqCst) >= self.counters.discovered.load(Ordering::SeqCst)
    }

    /// Whether reads should still try O_DIRECT: a job usually reads one filesystem, so the first
    /// refusal (tmpfs) switches the whole job to buffered reads instead of paying it per file.
    pub fn direct_io(&self) -> bool {
        !self.buffered_reads.load(Ordering::Relaxed)
    }

    pub fn refuse_direct_io(&self) {
        if !self.buffered_reads.swap(true, Ordering::Relaxed) {
            tracing::info!(job = self.id, "O_DIRECT refused by the filesystem; this job reads buffered");
        }
    }

    pub fn add_cataloged(&self, n: u64) {
        self.counters.cataloged.fetch_add(n, Ordering::SeqCst);
    }

    pub fn count_reject(&self, reason: Reason) {
        *self.rejects.lock().entry(reason).or_insert(0) += 1;
    }

    pub fn count_skipped(&self, ext: &str) {
        Counters::add(&self.counters.skipped, 1);
        *self.skipped_ext.lock().entry(ext.to_string()).or_insert(0) += 1;
    }

    pub fn info(&self) -> JobInfo {
        let counts = self.counters.snapshot();
        let finish = self.finish.lock().clone();
        let elapsed = finish.as_ref().map(|(e, _)| *e).unwrap_or_else(|| self.started_at.elapsed().as_secs_f64());
        let rate = if elapsed > 0.0 { counts.cataloged as f64 / elapsed } else { 0.0 };
        let state = self.state();
        let eta = if state == JobState::Running && self.discovery_done() && rate > 0.0 {
            Some(counts.discovered.saturating_sub(counts.cataloged) as f64 / rate)
        } else {
            None
        };
        JobInfo {
            id: self.id,
            kind: self.kind.to_string(),
            state,
            paths: self.paths.clone(),
            counts,
            discovery_done: self.discovery_done(),
            elapsed_s: elapsed,
            files_per_s: rate,
            eta_s: eta,
            rejects_by_reason: self.rejects.lock().iter().map(|(r, n)| (r.code().to_string(), *n)).collect(),
            skipped_by_ext: self.skipped_ext.lock().clone(),
            started: Some(self.started.clone()),
            finished: finish.map(|(_, at)| at),
            note: self.note.lock().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_happens_once() {
        let j = Job::new(1, "import", vec![]);
        assert!(j.finish(JobState::Done, None));
        assert!(!j.finish(JobState::Cancelled, Some("late".into())));
        assert_eq!(j.state(), JobState::Done);
        assert!(j.info().finished.is_some());
    }

    #[test]
    fn completion_needs_discovery_and_every_row() {
        let j = Job::new(1, "import", vec![]);
        Counters::add(&j.counters.discovered, 2);
        Counters::add(&j.counters.cataloged, 2);
        assert!(!j.is_complete());
        j.set_discovery_done();
        assert!(j.is_complete());
    }

    #[test]
    fn timestamp_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20);
        assert!(t.ends_with('Z'));
    }
}
