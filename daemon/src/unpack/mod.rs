//! Archives: every MIDI file out of every layer of zip, 7z, RAR 4/5, tar (plain, gzip, zstd) and
//! single-file gzip/zstd, with its provenance chain, under budgets that no input can get around.
//!
//! Every byte comes from the internet (DESIGN section 7), so:
//! - containers are recognised by magic bytes, never by extension;
//! - budgets count the bytes decoders actually produce ([`Meter`]), never the sizes headers claim:
//!   per entry, per outer archive, compression ratio, entry count, nesting depth, and the
//!   dictionary or model memory a 7z coder asks for (checked before it is allowed to start);
//! - entry names are data: they become provenance strings (`outer.zip!/inner.7z!/Drums/Kick.mid`)
//!   and are never joined onto a filesystem path;
//! - a damaged archive yields every entry that can still be read; the rest become rejects.
//!
//! The walk is synchronous and depth-first and runs on the shard that read the outer archive, so
//! everything for one archive stays on one core. Nested archives are held in memory up to
//! `max_memory_bytes` and spilled to an unnamed temp file under the data dir beyond that. MIDI
//! members are handed to a [`Sink`] one at a time as they are decoded, so memory holds one member
//! (plus the nested archives being walked), never a whole pack.

pub mod names;
mod rar;
mod sevenz;
mod stream;
mod zip;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::reject::Reason;

/// Budgets for one outer archive and everything nested in it. Defaults are safe on a 2-core,
/// 24 GiB machine: the worst case in memory is one member per level plus `max_memory_bytes` per
/// nested archive being walked.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveLimits {
    /// Deepest nesting: an outer archive is level 1.
    pub max_depth: u32,
    /// Bytes one entry may inflate to (nested archives included).
    pub max_entry_bytes: u64,
    /// Bytes all entries of one outer archive, at every level, may inflate to together.
    pub max_total_bytes: u64,
    /// Inflated bytes per compressed byte, checked once an entry or stream has produced
    /// `ratio_floor_bytes` (small entries legitimately compress far better than large ones).
    pub max_ratio: u64,
    pub ratio_floor_bytes: u64,
    /// Entries of one outer archive, at every level.
    pub max_entries: u64,
    /// Largest dictionary (LZMA/LZMA2) or model memory (PPMd) a 7z coder may ask for.
    pub max_dict_bytes: u64,
    /// A nested archive larger than this is spilled to a temp file instead of held in memory.
    pub max_memory_bytes: u64,
    /// MIDI members larger than this are rejected `too_large` (the loose-file cap).
    pub max_member_bytes: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_depth: 10,
            max_entry_bytes: 1 << 30,
            max_total_bytes: 8 << 30,
            max_ratio: 1000,
            ratio_floor_bytes: 1 << 20,
            max_entries: 1_000_000,
            max_dict_bytes: 256 << 20,
            max_memory_bytes: 64 << 20,
            max_member_bytes: 16 << 20,
        }
    }
}

/// What a byte prefix says a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Zip,
    SevenZ,
    Rar,
    Tar,
    Gzip,
    Zstd,
    Bzip2,
    Xz,
    Midi,
    Other,
}

impl Kind {
    pub fn is_archive(self) -> bool {
        !matches!(self, Kind::Midi | Kind::Other)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Zip => "zip",
            Kind::SevenZ => "7z",
            Kind::Rar => "rar",
            Kind::Tar => "tar",
            Kind::Gzip => "gzip",
            Kind::Zstd => "zstd",
            Kind::Bzip2 => "bzip2",
            Kind::Xz => "xz",
            Kind::Midi => "midi",
            Kind::Other => "other",
        }
    }
}

/// Bytes [`sniff`] wants to see (the tar magic sits at offset 257).
pub const SNIFF_BYTES: usize = 512;

/// Recognises a container or a MIDI file by its first bytes.
pub fn sniff(head: &[u8]) -> Kind {
    let starts = |m: &[u8]| head.starts_with(m);
    if starts(b"MThd") || (starts(b"RIFF") && head.get(8..12) == Some(b"RMID")) {
        Kind::Midi
    } else if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08") {
        Kind::Zip
    } else if starts(b"7z\xbc\xaf\x27\x1c") {
        Kind::SevenZ
    } else if starts(b"Rar!\x1a\x07") {
        Kind::Rar
    } else if starts(b"\x1f\x8b") {
        Kind::Gzip
    } else if starts(b"\x28\xb5\x2f\xfd") {
        Kind::Zstd
    } else if starts(b"BZh") {
        Kind::Bzip2
    } else if starts(b"\xfd7zXZ\x00") {
        Kind::Xz
    } else if head.get(257..262) == Some(b"ustar") {
        Kind::Tar
    } else {
        Kind::Other
    }
}

/// Where the walk sends what it finds.
pub trait Sink {
    /// A member that is MIDI by name or by magic, fully decoded. `raw_name` holds the entry
    /// name's bytes when they were not UTF-8 (a legacy zip name; `name` is then the decoding).
    fn member(&mut self, path: &str, name: &str, raw_name: Option<&[u8]>, bytes: &[u8]);
    fn reject(&mut self, path: &str, reason: Reason, detail: String);
    /// A member skipped on purpose: its lowercase extension, `(none)`, or `(junk)` for OS litter
    /// (`__MACOSX/`, `._*`, `.DS_Store`, `Thumbs.db`) and `(dir)` for directory entries.
    fn skipped(&mut self, what: &str);
}

/// What one walk did, for the job's archive progress.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// A budget ended the walk early: the archive was not fully walked.
    pub aborted: bool,
    pub archives: u64,
    pub max_depth: u32,
    pub inflated_bytes: u64,
    pub entries: u64,
}

/// A budget failure that ends the walk of the whole outer archive.
#[derive(Debug)]
struct Abort {
    reason: Reason,
    detail: String,
    /// Already recorded as a reject by a nested archive: the enclosing ones only stop.
    reported: bool,
}

impl Abort {
    fn new(reason: Reason, detail: String) -> Abort {
        Abort { reason, detail, reported: false }
    }
}

/// Which budget stopped an entry (a decoder error with none tripped is corruption).
#[derive(Debug)]
enum EntryError {
    /// This entry went over the per-entry byte cap (it alone is rejected).
    Entry(String),
    /// This entry or stream inflates too well for its packed size (it alone is rejected).
    Ratio(String),
    /// The outer archive's budget is spent (the walk ends).
    Total(Abort),
}

/// Counts what a decoder produces and stops it at the first byte over a budget.
struct Meter<R> {
    inner: R,
    produced: u64,
    entry_cap: u64,
    /// Compressed size, where the container says it (zip); ratio is checked against it.
    packed: Option<u64>,
    walk: Rc<Budget>,
    /// False where an enclosing stream's meter already counts these bytes toward the total.
    count_total: bool,
    /// A meter around a whole compressed stream records its trips in the budget too.
    stream: bool,
    tripped: Option<EntryError>,
}

impl<R> Meter<R> {
    fn new(inner: R, entry_cap: u64, packed: Option<u64>, walk: &Rc<Budget>, count_total: bool) -> Meter<R> {
        Meter {
            inner,
            produced: 0,
            entry_cap,
            packed,
            walk: Rc::clone(walk),
            count_total,
            stream: false,
            tripped: None,
        }
    }
}

/// The outer archive's shared counters.
struct Budget {
    limits: ArchiveLimits,
    total: Cell<u64>,
    entries: Cell<u64>,
    /// A trip of a stream meter (gzip/zstd around a tar). The tar reader above it only sees an
    /// I/O error, so whoever catches that error asks here whether it was a budget.
    stream_trip: RefCell<Option<String>>,
}

impl Budget {
    /// The budget failure behind an I/O error seen above a stream meter, if there was one.
    fn take_trip(&self) -> Option<Abort> {
        if self.total.get() > self.limits.max_total_bytes {
            let detail = format!("inflated over the {}-byte budget of one outer archive", self.limits.max_total_bytes);
            return Some(Abort::new(Reason::BombLimit, detail));
        }
        self.stream_trip.borrow_mut().take().map(|detail| Abort::new(Reason::BombLimit, detail))
    }
}

impl<R: Read> Read for Meter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        let l = &self.walk.limits;
        let total = self.walk.total.get() + if self.count_total { n as u64 } else { 0 };
        self.walk.total.set(total);
        if total > l.max_total_bytes {
            self.tripped = Some(EntryError::Total(Abort::new(
                Reason::BombLimit,
                format!("inflated over the {}-byte budget of one outer archive", l.max_total_bytes),
            )));
        } else if self.produced > self.entry_cap {
            self.tripped = Some(EntryError::Entry(format!("inflates past the {}-byte cap", self.entry_cap)));
        } else if let Some(packed) = self.packed {
            if self.produced > l.ratio_floor_bytes && self.produced > packed.max(1).saturating_mul(l.max_ratio) {
                self.tripped = Some(EntryError::Ratio(format!(
                    "compression ratio over {}:1 ({packed} bytes packed)",
                    l.max_ratio
                )));
            }
        }
        if let Some(t) = &self.tripped {
            if let (true, EntryError::Entry(detail) | EntryError::Ratio(detail)) = (self.stream, t) {
                *self.walk.stream_trip.borrow_mut() = Some(detail.clone());
            }
            return Err(io::Error::other("budget exceeded"));
        }
        Ok(n)
    }
}

/// Bytes of a nested archive: in memory, or spilled to an unnamed temp file.
enum Held<'b> {
    Mem(Cow<'b, [u8]>),
    Spilled(File),
}

/// The walker for one outer archive.
pub struct Walker<'s> {
    budget: Rc<Budget>,
    /// Set while walking a tar inside a gzip/zstd stream, whose meter counts the bytes.
    upstream: bool,
    /// The raw bytes of the next entry's name, set by a container whose names may not be UTF-8.
    raw_name: Option<Vec<u8>>,
    spill_dir: PathBuf,
    sink: &'s mut dyn Sink,
    stats: Stats,
    aborted: bool,
}

impl<'s> Walker<'s> {
    pub fn new(limits: ArchiveLimits, spill_dir: &Path, sink: &'s mut dyn Sink) -> Walker<'s> {
        Walker {
            budget: Rc::new(Budget {
                limits,
                total: Cell::new(0),
                entries: Cell::new(0),
                stream_trip: RefCell::new(None),
            }),
            upstream: false,
            raw_name: None,
            spill_dir: spill_dir.to_path_buf(),
            sink,
            stats: Stats::default(),
            aborted: false,
        }
    }

    /// Walks an outer archive held in memory. `path` is its provenance (the file's path).
    pub fn walk_bytes(mut self, kind: Kind, bytes: &[u8], path: &str) -> Stats {
        self.archive(kind, Held::Mem(Cow::Borrowed(bytes)), path, 1);
        Stats { aborted: self.aborted, ..self.stats }
    }

    /// Walks an outer archive read from an open file (too large to hold in memory).
    pub fn walk_file(mut self, kind: Kind, file: File, path: &str) -> Stats {
        self.archive(kind, Held::Spilled(file), path, 1);
        Stats { aborted: self.aborted, ..self.stats }
    }

    /// Walks one archive at `depth`; every failure inside becomes a reject or a skip.
    fn archive(&mut self, kind: Kind, held: Held<'_>, path: &str, depth: u32) {
        if self.aborted {
            return;
        }
        if depth > self.budget.limits.max_depth {
            let detail = format!("nested {depth} levels deep, over the limit of {}", self.budget.limits.max_depth);
            self.sink.reject(path, Reason::DepthLimit, detail);
            return;
        }
        self.stats.archives += 1;
        self.stats.max_depth = self.stats.max_depth.max(depth);
        let result = match held {
            // The RAR library reads from a path, not from a Rust reader.
            h if kind == Kind::Rar => rar::walk(self, h, path, depth),
            Held::Mem(v) => self.dispatch(kind, io::Cursor::new(v), path, depth),
            Held::Spilled(f) => self.dispatch(kind, io::BufReader::new(f), path, depth),
        };
        if let Err(a) = result {
            self.aborted = true;
            if !a.reported {
                let detail = format!("{}; the walk of the outer archive stopped here", a.detail);
                self.sink.reject(path, a.reason, detail);
            }
        }
    }

    fn dispatch<R: Read + Seek>(&mut self, kind: Kind, src: R, path: &str, depth: u32) -> Result<(), Abort> {
        match kind {
            Kind::Zip => zip::walk(self, src, path, depth),
            Kind::SevenZ => sevenz::walk(self, src, path, depth),
            Kind::Tar | Kind::Gzip | Kind::Zstd => stream::walk(self, kind, src, path, depth),
            other => {
                let detail = format!("{} archives are not supported yet", other.name());
                self.sink.reject(path, Reason::UnsupportedArchive, detail);
                Ok(())
            }
        }
    }

    /// Counts one entry against the outer archive's entry budget.
    fn count_entry(&mut self) -> Result<(), Abort> {
        let n = self.budget.entries.get() + 1;
        self.budget.entries.set(n);
        self.stats.entries = n;
        if n > self.budget.limits.max_entries {
            return Err(Abort::new(
                Reason::BombLimit,
                format!("more than {} entries in one outer archive", self.budget.limits.max_entries),
            ));
        }
        Ok(())
    }

    /// Decides from the name alone whether an entry is worth decoding. Returns the skip label
    /// when it is not.
    fn skip_label(name: &str) -> Option<String> {
        if names::is_junk(name) {
            return Some("(junk)".into());
        }
        let ext = names::extension(name);
        match ext.as_deref() {
            None => None,
            Some(e) if names::MIDI_EXTENSIONS.contains(&e) || names::ARCHIVE_EXTENSIONS.contains(&e) => None,
            Some(e) => Some(e.to_string()),
        }
    }

    /// One entry: decodes it through the meter, then routes it by magic: a nested archive is
    /// walked, a MIDI file (by magic or by name) goes to the sink, anything else is skipped.
    /// `packed` is the entry's compressed size where the container records it.
    fn entry(
        &mut self,
        reader: &mut dyn Read,
        path: &str,
        name: &str,
        packed: Option<u64>,
        depth: u32,
    ) -> Result<(), Abort> {
        let raw_name = self.raw_name.take();
        self.count_entry()?;
        if let Some(label) = Self::skip_label(name) {
            self.sink.skipped(&label);
            return Ok(());
        }
        let l = self.budget.limits;
        let mut meter = Meter::new(reader, l.max_entry_bytes, packed, &self.budget, !self.upstream);
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        let read_head = (&mut meter).take(SNIFF_BYTES as u64).read_to_end(&mut head);
        if let Err(e) = read_head {
            return self.entry_failed(meter.tripped.take(), e, path);
        }
        let kind = sniff(&head);
        let midi_name = names::extension(name).is_some_and(|e| names::MIDI_EXTENSIONS.contains(&e.as_str()));
        if kind.is_archive() {
            let held = match spill_or_hold(&mut meter, head, l.max_memory_bytes, &self.spill_dir) {
                Ok(h) => h,
                Err(e) => {
                    let tripped = meter.tripped.take();
                    return self.entry_failed(tripped, e, path);
                }
            };
            self.stats.inflated_bytes += meter.produced;
            drop(meter);
            // Bytes a nested archive's decoders produce are new: they count toward the total.
            let was = std::mem::replace(&mut self.upstream, false);
            self.archive(kind, held, path, depth + 1);
            self.upstream = was;
            if self.aborted {
                // A budget of the whole walk ran out inside: the enclosing archives stop too (the
                // reject was recorded on the nested archive's path).
                let a = Abort { reason: Reason::BombLimit, detail: String::new(), reported: true };
                return Err(a);
            }
            return Ok(());
        }
        if kind != Kind::Midi && !midi_name {
            self.stats.inflated_bytes += meter.produced;
            self.sink.skipped(&names::extension(name).unwrap_or_else(|| "(none)".into()));
            return Ok(());
        }
        // A MIDI member: read it whole, one byte past the member cap to see when it is over.
        meter.entry_cap = l.max_entry_bytes.min(l.max_member_bytes);
        let mut bytes = head;
        let rest = (&mut meter)
            .take(l.max_member_bytes.saturating_add(1).saturating_sub(bytes.len() as u64))
            .read_to_end(&mut bytes);
        if let Err(e) = rest {
            let tripped = meter.tripped.take();
            return match tripped {
                Some(EntryError::Entry(_)) if l.max_member_bytes <= l.max_entry_bytes => {
                    let detail = format!("over the {}-byte cap", l.max_member_bytes);
                    self.sink.reject(path, Reason::TooLarge, format!("{}: {detail}", self.entry_label()));
                    Ok(())
                }
                other => self.entry_failed(other, e, path),
            };
        }
        self.stats.inflated_bytes += meter.produced;
        if bytes.len() as u64 > l.max_member_bytes {
            let detail = format!("{}: over the {}-byte cap", self.entry_label(), l.max_member_bytes);
            self.sink.reject(path, Reason::TooLarge, detail);
            return Ok(());
        }
        let raw_last = raw_name.as_deref().map(names::last_component_raw);
        self.sink.member(path, names::last_component(name), raw_last, &bytes);
        Ok(())
    }

    /// Which entry a reject is about: its number among all entries of the outer archive, at every
    /// level, in walk order (1-based), which stays meaningful where names repeat or are empty.
    fn entry_label(&self) -> String {
        format!("entry #{} of the outer archive", self.budget.entries.get())
    }

    /// Reads and discards what is left of an entry, under the same budgets (a streaming reader
    /// must pass over an entry to reach the next one, and that entry may be a bomb).
    /// Ok(None) when drained; Ok(Some(why)) when the rest cannot be passed (over the entry cap or
    /// ratio: `bomb_limit`; undecodable: `corrupt_archive`), and the caller stops there.
    fn drain(&mut self, reader: &mut dyn Read) -> Result<Option<(Reason, String)>, Abort> {
        let mut meter = Meter::new(reader, self.budget.limits.max_entry_bytes, None, &self.budget, !self.upstream);
        match io::copy(&mut meter, &mut io::sink()) {
            Ok(_) => Ok(None),
            Err(e) => match meter.tripped.take() {
                Some(EntryError::Total(a)) => Err(a),
                Some(EntryError::Entry(d) | EntryError::Ratio(d)) => Ok(Some((Reason::BombLimit, d))),
                None => Ok(Some((Reason::CorruptArchive, format!("decoding failed: {e}")))),
            },
        }
    }

    /// Turns a failed entry read into a reject (or the end of the walk).
    fn entry_failed(&mut self, tripped: Option<EntryError>, e: io::Error, path: &str) -> Result<(), Abort> {
        match tripped {
            Some(EntryError::Total(a)) => Err(a),
            Some(EntryError::Entry(detail) | EntryError::Ratio(detail)) => {
                self.sink.reject(path, Reason::BombLimit, format!("{}: {detail}", self.entry_label()));
                Ok(())
            }
            None => {
                if let Some(a) = self.budget.take_trip() {
                    return Err(a);
                }
                self.sink.reject(path, Reason::CorruptArchive, format!("decoding failed: {e}"));
                Ok(())
            }
        }
    }
}

/// Reads the rest of a nested archive: into memory up to `max_mem` bytes, then into an unnamed
/// temp file in `spill_dir` (O_TMPFILE: removed by the kernel when closed, even after a crash).
fn spill_or_hold(reader: &mut dyn Read, head: Vec<u8>, max_mem: u64, spill_dir: &Path) -> io::Result<Held<'static>> {
    let mut mem = head;
    let room = max_mem.saturating_sub(mem.len() as u64);
    reader.take(room + 1).read_to_end(&mut mem)?;
    if mem.len() as u64 <= max_mem {
        return Ok(Held::Mem(Cow::Owned(mem)));
    }
    let mut file = spill_file(spill_dir)?;
    file.write_all(&mem)?;
    drop(mem);
    io::copy(reader, &mut file)?;
    file.rewind()?;
    Ok(Held::Spilled(file))
}

fn spill_file(dir: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir)?;
    match std::fs::OpenOptions::new().read(true).write(true).custom_flags(libc::O_TMPFILE).mode(0o600).open(dir) {
        Ok(f) => Ok(f),
        Err(_) => {
            // No O_TMPFILE here: a named file, unlinked at once.
            let p = dir.join(format!("spill-{}-{:?}", std::process::id(), std::thread::current().id()));
            let f = std::fs::OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&p)?;
            std::fs::remove_file(&p)?;
            Ok(f)
        }
    }
}

#[cfg(test)]
mod tests;
