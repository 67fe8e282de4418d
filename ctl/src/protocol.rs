//! Wire protocol between `midictl` and `midid`: the only types both sides share.
//!
//! Why a separate module: the daemon depends on this crate for these types, so `midictl` never
//! compiles io_uring or database code, and a change to the wire shape is a change to one file.
//!
//! Framing: every message is a 4-byte big-endian length followed by that many bytes of JSON.
//! A frame longer than [`MAX_FRAME`] is refused by both sides before any allocation, so a
//! misbehaving peer cannot make the other side allocate its claimed length. A connection opens
//! with [`Hello`]/[`HelloReply`]; a version mismatch is reported, never guessed around.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change to [`Request`] or [`Response`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame either side accepts (16 MiB): large enough for a `search --limit 20000` reply,
/// small enough that a hostile length prefix cannot exhaust memory.
pub const MAX_FRAME: u32 = 16 * 1024 * 1024;

/// First frame a client sends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Hello {
    pub protocol: u32,
    pub client: String,
}

/// The daemon's answer to [`Hello`]. `ok` is false when the versions differ; `error` says why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HelloReply {
    pub ok: bool,
    pub protocol: u32,
    pub daemon: String,
    pub error: Option<String>,
}

/// One request per frame after the handshake; any number of requests per connection.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Start an import job over absolute paths (the client resolves relative ones).
    Import {
        paths: Vec<String>,
    },
    /// One job (`job: Some`) or the daemon with its recent jobs (`job: None`).
    Status {
        job: Option<u64>,
    },
    /// All jobs, newest first.
    Jobs,
    Cancel {
        job: u64,
    },
    Rejects {
        job: Option<u64>,
        limit: Option<u64>,
    },
    /// A file by its content hash (32 hex digits) or a unique prefix of it.
    Show {
        hash: String,
    },
    Search {
        query: Vec<String>,
        limit: Option<u64>,
        /// `bpm`, `key`, `bars`, `notes`, `duration`, `size` or `name`; `-` first for descending.
        #[serde(default)]
        sort: Option<String>,
    },
    /// What a rename template makes of the catalogued files' names (nothing is renamed: the
    /// names materialize only on export).
    Rename {
        template: String,
        limit: Option<u64>,
    },
    /// Groups of duplicates by tier (0 exact bytes, 1 same notes, 2 same notes in parts, 3
    /// variants); every tier when `tier` is None.
    Dupes {
        tier: Option<u8>,
        limit: Option<u64>,
    },
    Shutdown,
    /// Remove objects no `files` row names, and stale temp files; `dry_run` only lists them.
    Gc {
        dry_run: bool,
    },
    /// Re-hash every object against its name; list the catalogued ones that are missing.
    Verify,
    /// Write the files `query` selects (all when empty) onto a drive at `to` (absolute), in the
    /// formats of `target` (`mpc`, `force`, `both`); a job, or with `dry_run` only its plan.
    /// `rename` names files by `template`, else by the daemon's configured template.
    Export {
        target: String,
        to: String,
        query: Vec<String>,
        rename: bool,
        template: Option<String>,
        dry_run: bool,
    },
}

/// The reply to one [`Request`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Response {
    Job { job: JobInfo },
    Status { daemon: DaemonInfo, jobs: Vec<JobInfo> },
    Jobs { jobs: Vec<JobInfo> },
    Rejects { rejects: Vec<RejectInfo> },
    File { file: Box<FileInfo> },
    Dupes { groups: Vec<DupeGroup> },
    Renames { renames: Vec<RenameInfo> },
    Files { files: Vec<FileInfo> },
    ExportPlan { plan: ExportPlan },
    Ok { message: String },
    Error { kind: ErrorKind, message: String },
    Gc { report: GcReport },
    Verify { report: VerifyReport },
}

/// Why a request failed; maps onto the exit codes of DESIGN section 6.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request could not be decoded or was too large.
    BadRequest,
    /// The thing asked for does not exist (job, hash).
    NotFound,
    /// The daemon could not do it (I/O, database).
    Failed,
    /// The daemon is shutting down and takes no new work.
    ShuttingDown,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed | JobState::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }
}

/// Per-stage counters of a job (DESIGN section 6). Every discovered file ends as exactly one of
/// `imported`, `duplicates` or `rejected` once it is `cataloged`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub discovered: u64,
    pub read: u64,
    pub parsed: u64,
    pub imported: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub parts: u64,
    pub analyzed: u64,
    pub cataloged: u64,
    pub bytes: u64,
    /// Files that are not MIDI by their extension (wav, pdf, txt...), counted, not rejected.
    pub skipped: u64,
    /// Archives opened, at every nesting level (an archive is a container, not a file: its MIDI
    /// members are what `discovered` counts).
    #[serde(default)]
    pub archives: u64,
    /// Deepest nesting reached (an outer archive is level 1).
    #[serde(default)]
    pub archive_depth: u64,
    /// Bytes the archive decoders produced.
    #[serde(default)]
    pub inflated_bytes: u64,
    /// Outer archives skipped because the same bytes were fully imported before.
    #[serde(default)]
    pub archives_known: u64,
    /// Export jobs: files written to the drive (`.mid`, `.mpcpattern`, `.progression`).
    #[serde(default)]
    pub written: u64,
    /// Export jobs: files an earlier export already wrote, left as they are.
    #[serde(default)]
    pub unchanged: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobInfo {
    pub id: u64,
    pub kind: String,
    pub state: JobState,
    pub paths: Vec<String>,
    pub counts: Counts,
    /// True once discovery has walked every path: `counts.discovered` is then the final total.
    pub discovery_done: bool,
    pub elapsed_s: f64,
    pub files_per_s: f64,
    /// Seconds left at the current rate; null while the total is not known yet or nothing moved.
    pub eta_s: Option<f64>,
    pub rejects_by_reason: BTreeMap<String, u64>,
    pub skipped_by_ext: BTreeMap<String, u64>,
    pub started: Option<String>,
    pub finished: Option<String>,
    /// Why the job failed or was cancelled, when it was.
    pub note: Option<String>,
}

/// The daemon itself, as `midictl status` shows it above the jobs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DaemonInfo {
    pub version: String,
    pub pid: u32,
    pub shards: u32,
    /// `io_uring` or `epoll`.
    pub io_driver: String,
    /// Why io_uring was not used, when it was not.
    pub io_fallback_reason: Option<String>,
    pub data_dir: String,
    pub database: String,
    pub uptime_s: f64,
    pub catalog_files: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RejectInfo {
    pub job: u64,
    pub path: String,
    pub reason: String,
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SourceInfo {
    pub path: String,
    pub name: String,
    pub clean_name: Option<String>,
    pub job: u64,
    /// Words the path and name say (BPM, key, role, drum part, genre, pack).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// One file's name now and under a rename template.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RenameInfo {
    pub hash: String,
    /// The clean name it has now.
    pub old: String,
    /// The relative path the template gives it.
    pub new: String,
}

/// Files that are the same music at one tier, never deleted: `midictl dupes` lists them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DupeGroup {
    /// 0: the same bytes found in several places; 1: the same notes in other packaging (tier-1
    /// fingerprint); 2: the same notes as a part of other files (a loop inside songs); 3: the
    /// same music transposed or at another speed (the shape fingerprint).
    pub tier: u8,
    /// What the members share: the content hash (tier 0), the fingerprint (1, 2) or the shape (3).
    pub key: String,
    /// Members in all (`files` lists at most the first 50, in import order).
    pub count: u64,
    pub files: Vec<DupeMember>,
}

/// One file of a duplicate group, with every place it was found.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DupeMember {
    pub hash: String,
    /// The file this one was split from, for parts.
    pub parent: Option<String>,
    pub key: Option<String>,
    pub bpm: Option<f64>,
    pub sources: Vec<SourceInfo>,
}

/// One part of a file (a track x channel that holds notes) and what analysis found in it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartInfo {
    pub track: u16,
    /// 1-16.
    pub channel: u8,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub program: Option<u8>,
    #[serde(default)]
    pub notes: u32,
    #[serde(default)]
    pub drums: bool,
    pub role: String,
    /// The drum part with the most notes (`kick`, `snare`...), for drum parts.
    #[serde(default)]
    pub drum_dominant: Option<String>,
}

/// A catalogued file in the JSON shape of DESIGN section 6, plus the analysis's other results.
/// Analysis fields are null for files it could not judge (SMPTE timing, no notes) and for rows
/// catalogued before it existed; the fields after `repairs` are optional on the wire so older
/// daemons still answer newer clients.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FileInfo {
    pub hash: String,
    pub size: u64,
    pub format: u16,
    pub ppq: Option<u32>,
    pub tracks: u32,
    pub channels: Vec<u8>,
    pub duration_s: f64,
    pub duration_ticks: u64,
    pub bars: Option<f64>,
    pub bpm: Option<f64>,
    pub bpm_source: Option<String>,
    pub tempo_changes: bool,
    pub key: Option<String>,
    pub key_confidence: Option<f64>,
    pub time_signature: Option<String>,
    pub has_drums: Option<bool>,
    pub drum_parts: Option<Vec<String>>,
    pub role: Option<String>,
    #[serde(rename = "loop")]
    pub is_loop: Option<bool>,
    pub notes: u64,
    pub parent: Option<String>,
    pub repairs: Vec<String>,
    pub sources: Vec<SourceInfo>,
    /// How sure `bpm` is, 0-1 (where it came from is `bpm_source`).
    #[serde(default)]
    pub bpm_confidence: Option<f64>,
    /// Tonic pitch class 0-11 (C = 0) and `major`/`minor`.
    #[serde(default)]
    pub key_tonic: Option<u8>,
    #[serde(default)]
    pub key_mode: Option<String>,
    /// `meta` (a key-signature event), `filename` or `analysis`.
    #[serde(default)]
    pub key_source: Option<String>,
    /// The second-best key (short loops confuse relative major and minor).
    #[serde(default)]
    pub key_runner_up: Option<String>,
    /// `meta` or `analysis`.
    #[serde(default)]
    pub meter_source: Option<String>,
    /// A loop's length in whole bars.
    #[serde(default)]
    pub loop_bars: Option<u32>,
    #[serde(default)]
    pub quantized: Option<bool>,
    #[serde(default)]
    pub drum_dominant: Option<String>,
    /// Share of the drum notes per drum part.
    #[serde(default)]
    pub drum_shares: Option<BTreeMap<String, f64>>,
    #[serde(default)]
    pub role_confidence: Option<f64>,
    #[serde(default)]
    pub parts: Vec<PartInfo>,
    /// Block chords in order (`C`, `Am7`, `F/A`).
    #[serde(default)]
    pub chords: Vec<String>,
    #[serde(default)]
    pub pitch_min: Option<u8>,
    #[serde(default)]
    pub pitch_max: Option<u8>,
    #[serde(default)]
    pub polyphony_mean: Option<f64>,
    #[serde(default)]
    pub polyphony_max: Option<u32>,
    /// Notes per second.
    #[serde(default)]
    pub density: Option<f64>,
    #[serde(default)]
    pub velocity_min: Option<u8>,
    #[serde(default)]
    pub velocity_max: Option<u8>,
    /// Hex hash of the canonical notes: the same music in other packaging has the same one.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// What an export would write (`midictl export --dry-run`), before anything is written.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ExportPlan {
    pub target: String,
    pub to: String,
    /// Files selected.
    pub files: u64,
    /// Selected files an earlier export wrote, all still on the drive: skipped.
    pub unchanged: u64,
    /// Files to write (each a `.mid`, plus its patterns and progression).
    pub to_write: u64,
    /// `.mpcpattern` files to write, as the catalog's part summaries count them.
    pub patterns: u64,
    pub progressions: u64,
    /// Files written as `.mid` only (SMPTE timing, no notes, songs over the pattern cap).
    pub copy_only: u64,
    /// Selected files per folder, relative to the drive root.
    pub folders: BTreeMap<String, u64>,
}

/// Entries a [`GcReport`] or [`VerifyReport`] lists at most (each list has its own cap); the counts
/// stay exact. Keeps a report from a badly damaged store far under [`MAX_FRAME`].
pub const REPORT_LIST_MAX: usize = 10_000;

/// What `gc` removed, or with `dry_run` would remove, and what it kept and why.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GcReport {
    pub dry_run: bool,
    /// Object files examined.
    pub scanned: u64,
    /// Kept: a `files` row names them.
    pub referenced: u64,
    /// Objects removed (with `dry_run`: that would be).
    pub removed: u64,
    /// Bytes of the removed objects and temp files.
    pub bytes_freed: u64,
    /// Kept: an import has claimed the content and its row is not committed yet (or was
    /// committed while gc ran).
    pub kept_pending: u64,
    /// Kept: modified less than `grace_s` seconds before gc started.
    pub kept_new: u64,
    pub grace_s: u64,
    /// Stale temp files removed from `objects/tmp` (with `dry_run`: that would be).
    pub temp_removed: u64,
    /// Files under `objects/` whose name is not an object's: never touched.
    pub ignored: u64,
    /// The removed objects and temp files, at most [`REPORT_LIST_MAX`].
    pub paths: Vec<String>,
    /// Files that could not be examined or removed (`path: error`), at most [`REPORT_LIST_MAX`].
    pub errors: Vec<String>,
    pub elapsed_s: f64,
}

impl GcReport {
    /// One line for people (`midictl gc`, the daemon's log after a periodic run).
    pub fn summary(&self) -> String {
        let verb = if self.dry_run { "would remove" } else { "removed" };
        let mut line = format!(
            "scanned {} objects: {verb} {} and {} temp files ({}); kept {} referenced, {} pending, {} newer than {}s",
            self.scanned,
            self.removed,
            self.temp_removed,
            crate::progress::format_bytes(self.bytes_freed),
            self.referenced,
            self.kept_pending,
            self.kept_new,
            self.grace_s,
        );
        if !self.errors.is_empty() {
            line.push_str(&format!("; {} errors", self.errors.len()));
        }
        line
    }
}

/// What `verify` found. Every list stops at [`REPORT_LIST_MAX`] entries; `problems` counts all.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct VerifyReport {
    /// Object files re-hashed.
    pub objects: u64,
    pub bytes: u64,
    /// `files` rows checked for their object.
    pub catalogued: u64,
    /// Objects no `files` row names (what `gc` removes): reported, not a problem.
    pub unreferenced: u64,
    /// Files under `objects/` whose name is not an object's.
    pub ignored: u64,
    /// Objects whose bytes do not hash to their name.
    pub mismatched: Vec<ObjectMismatch>,
    /// `files` rows whose object is not on disk.
    pub missing: Vec<MissingObject>,
    /// Objects that could not be read.
    pub unreadable: Vec<UnreadableObject>,
    /// Mismatched + missing + unreadable, counted past the lists' cap.
    pub problems: u64,
    pub elapsed_s: f64,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems == 0
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} objects re-hashed ({}), {} catalogued; {} mismatched, {} missing, {} unreadable; {} unreferenced",
            if self.ok() { "ok" } else { "PROBLEMS" },
            self.objects,
            crate::progress::format_bytes(self.bytes),
            self.catalogued,
            self.mismatched.len(),
            self.missing.len(),
            self.unreadable.len(),
            self.unreferenced,
        )
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectMismatch {
    pub path: String,
    /// The id its name says (32 hex digits).
    pub expected: String,
    /// The id of the bytes it holds.
    pub actual: String,
    /// Whether a `files` row names it (a catalogued content is damaged, not just a stray file).
    pub referenced: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MissingObject {
    pub hash: String,
    /// Where the object should be.
    pub path: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UnreadableObject {
    pub path: String,
    pub error: String,
}

/// Framing and handshake failures.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge { len: u64, max: u32 },
    #[error("connection closed")]
    Closed,
    #[error("i/o on the control socket: {0}")]
    Io(#[from] io::Error),
    #[error("malformed message: {0}")]
    Json(#[from] serde_json::Error),
}

/// Writes one frame. Refuses to send what the peer would refuse to read.
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    let body = serde_json::to_vec(msg)?;
    let len = body.len() as u64;
    if len > u64::from(MAX_FRAME) {
        return Err(FrameError::TooLarge { len, max: MAX_FRAME });
    }
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.extend_from_slice(&body);
    w.write_all(&out)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame's raw body, checking the length prefix before allocating.
pub fn read_frame_bytes<R: Read>(r: &mut R) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge { len: u64::from(len), max: MAX_FRAME });
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            FrameError::Closed
        } else {
            FrameError::Io(e)
        }
    })?;
    Ok(body)
}

/// Reads and decodes one frame.
pub fn read_frame<R: Read, T: for<'de> Deserialize<'de>>(r: &mut R) -> Result<T, FrameError> {
    let body = read_frame_bytes(r)?;
    Ok(serde_json::from_slice(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &Request::Status { job: Some(3) }).unwrap();
        let back: Request = read_frame(&mut buf.as_slice()).unwrap();
        assert_eq!(back, Request::Status { job: Some(3) });
    }

    #[test]
    fn oversized_length_prefix_is_refused_before_allocation() {
        let mut buf = (MAX_FRAME + 1).to_be_bytes().to_vec();
        buf.extend_from_slice(b"{}");
        match read_frame_bytes(&mut buf.as_slice()) {
            Err(FrameError::TooLarge { len, .. }) => assert_eq!(len, u64::from(MAX_FRAME) + 1),
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn truncated_frame_is_closed_not_panic() {
        let mut buf = 10u32.to_be_bytes().to_vec();
        buf.extend_from_slice(b"{\"cm");
        assert!(matches!(read_frame_bytes(&mut buf.as_slice()), Err(FrameError::Closed)));
    }

    #[test]
    fn hygiene_requests_have_stable_wire_names() {
        let gc = serde_json::to_value(Request::Gc { dry_run: true }).unwrap();
        assert_eq!(gc, serde_json::json!({"cmd": "gc", "dry_run": true}));
        assert_eq!(serde_json::to_value(Request::Verify).unwrap(), serde_json::json!({"cmd": "verify"}));
        let reply = serde_json::to_value(Response::Verify { report: VerifyReport::default() }).unwrap();
        assert_eq!(reply["reply"], "verify");
        assert_eq!(reply["report"]["problems"], 0);
    }

    #[test]
    fn unknown_command_is_a_decode_error() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &serde_json::json!({"cmd": "format_disk"})).unwrap();
        assert!(matches!(read_frame::<_, Request>(&mut buf.as_slice()), Err(FrameError::Json(_))));
    }
}
