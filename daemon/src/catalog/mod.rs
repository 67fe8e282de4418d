//! The catalog: rows that shards produce, the one writer thread that commits them, and the
//! read side that answers queries.
//!
//! Only the writer thread writes the database (DESIGN section 2). It takes whole batches from a
//! bounded channel (when it falls behind, shards block: backpressure, never memory growth),
//! groups whatever batches are waiting into one transaction, makes the batch's objects durable
//! with one `syncfs` first, and updates job counters only after the commit. Queries use their own
//! read-only connection (SQLite WAL lets readers run beside the writer).

pub mod lang;
pub mod pg_query;
pub mod postgres;
pub mod query;
pub mod row;
pub mod sqlite;
pub mod writer;

use std::path::PathBuf;
use std::sync::Arc;

use crate::analysis::Analysis;
use crate::dedupe::ContentId;
use crate::job::Job;
use crate::midi::Facts;
use crate::reject::Reason;

/// What the shard learned about a new content: the parse's facts and, for files with metrical
/// timing, the musical analysis (whose values take precedence over the parse's first guesses).
pub struct Described {
    pub facts: Facts,
    pub analysis: Option<Analysis>,
}

/// Where a file was found.
pub struct Source {
    pub job: Arc<Job>,
    /// Provenance path: absolute path as discovered (later with `!/` steps into archives).
    pub path: String,
    /// The file's own name, as found (decoded to text).
    pub name: String,
    /// The name's original bytes, kept when they were not UTF-8.
    pub raw_name: Option<Box<[u8]>>,
    /// `library::sanitize::clean_name` of `name`: what exports and parts are named after.
    pub clean_name: String,
    /// Words from the path and the name (BPM, key, role, drum part, genre, pack): they belong to
    /// where the file was found, not to its content.
    pub tags: Vec<String>,
    /// Set when this is a part split from another file (its path is the parent's, `#`, its name).
    /// Parts are counted as `parts`, not as discovered files.
    pub part_of: Option<PartOf>,
}

/// Where a part comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartOf {
    pub parent: ContentId,
    /// Position among the parent's parts, from 1.
    pub index: u16,
    /// The parent's track (0-based).
    pub track: u16,
    /// The channel (0-based) of a part split by channel.
    pub channel: Option<u8>,
}

/// One row-to-be, produced by a shard (or by discovery, for rejects it finds itself).
pub enum Row {
    /// A new distinct content; its object is already written.
    File {
        id: ContentId,
        size: u64,
        file: Box<Described>,
        source: Source,
    },
    /// A content the catalog holds (or a sibling shard is committing): one more source.
    Duplicate {
        id: ContentId,
        source: Source,
    },
    Reject {
        job: Arc<Job>,
        path: String,
        reason: Reason,
        detail: String,
    },
    /// An outer archive after its walk, sent after the rows of its members. `complete` archives
    /// are recorded (a later import of the same bytes is a no-op); `known` ones were recorded
    /// before and were not walked at all. Its commit is what lets a job whose last unit was an
    /// archive with no MIDI members finish.
    Archive {
        id: ContentId,
        size: u64,
        job: Arc<Job>,
        path: String,
        members: u64,
        complete: bool,
        known: bool,
    },
}

pub struct Batch {
    pub rows: Vec<Row>,
}

pub enum WriterMsg {
    Batch(Batch),
    /// Write (insert or update) a job's row now: created, cancelled, finished by discovery.
    JobRow(Arc<Job>),
    /// Replies once everything sent before it is committed.
    Barrier(crossbeam_channel::Sender<()>),
    /// The files an export job wrote or found written.
    Exports {
        job: u64,
        target: String,
        files: Vec<ExportedFile>,
    },
}

/// One file on a drive: its absolute path and the content it holds.
pub type ExportedFile = (String, ContentId);

/// Where the catalog lives: the embedded store in the data dir, or a PostgreSQL database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    /// A `postgres://` URL (or libpq key=value string), as the user gave it.
    Postgres(String),
}

impl Location {
    /// What to print: the SQLite path, or the URL without its password.
    pub fn display(&self) -> String {
        match self {
            Location::Sqlite(p) => format!("sqlite:{}", p.display()),
            Location::Postgres(url) => postgres::redact(url),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{op} on catalog {path}: {source}")]
    Sqlite { op: &'static str, path: String, source: rusqlite::Error },
    #[error("{op} on catalog {url}: {}", pg_message(source))]
    Postgres { op: &'static str, url: String, source: tokio_postgres::Error },
    #[error("{op}: the catalog returned no row")]
    NoRow { op: &'static str },
    #[error("{op} on catalog {url}: no answer within {secs} s")]
    Timeout { op: &'static str, url: String, secs: u64 },
    #[error("starting the PostgreSQL client runtime: {0}")]
    Runtime(std::io::Error),
    #[error("catalog {path} is at schema version {found}, newer than this midid knows ({known})")]
    TooNew { path: String, found: i64, known: i64 },
    #[error(transparent)]
    Store(#[from] crate::objects::StoreError),
}

/// tokio-postgres says only "db error" for an error the server sent; the server's own words
/// (and its SQLSTATE) are what a user needs to act on.
fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {} (SQLSTATE {})", db.severity(), db.message(), db.code().code()),
        None => e.to_string(),
    }
}
