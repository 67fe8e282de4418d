//! The export plan: where every selected file goes on the drive and under which names, decided
//! before anything is written, so `--dry-run` shows exactly what a real run does and the writers
//! (`run.rs`) only copy and convert.
//!
//! Layout (FORMATS.md section 3; `MPC_Documents/...` is our convention, the firmware only looks
//! for `Progressions/` at a volume root):
//! `MPC_Documents/SAMPLES/{Drums/{Kicks,Snares,Hats,Cymbals,Toms,Percussion},Bass,Melody,Chords,FX,
//! Loops}` and `MPC_Documents/Patterns`, routed by the analysed role, dominant drum part and loop
//! flag ([`route`]); `.progression` files flat in `Progressions/`.
//!
//! Names are stable across runs, which is what makes a second export write nothing: a content
//! listed in the drive's previous index keeps the paths it had; a new content gets its clean (or
//! renamed) name, and where that name is taken in its folder, case-insensitively (exFAT matches
//! names through its up-case table), by another content or by a file the user put there, the
//! first 8 hex digits of its hash are appended: derived from the content, never from the order in
//! which files were met. A file already at the wanted path with the very bytes we would write is
//! ours from an interrupted run and is adopted.
//!
//! Folders hold at most [`FOLDER_MAX`] files; a fuller one is sharded into BPM bands
//! (`120-129bpm`), and a band still too full by the name's first character. Paths stay within
//! [`PATH_MAX_UNITS`] UTF-16 units from the drive root and [`COMPONENT_MAX_UNITS`] per name
//! (FORMATS 3.4: what Windows tools can copy), names are cut to fit.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use midictl::protocol::{ExportPlan, FileInfo};
use serde::{Deserialize, Serialize};

use super::progression;
use crate::library::rename::Template;
use crate::library::sanitize;

pub const DOCS: &str = "MPC_Documents";
/// At most this many files (counted by their `.mid`) per folder before it is sharded.
pub const FOLDER_MAX: usize = 1000;
/// The longest path written, from the drive root, in UTF-16 units.
pub const PATH_MAX_UNITS: usize = 240;
/// The longest single name written, in UTF-16 units.
pub const COMPONENT_MAX_UNITS: usize = 100;
/// Songs longer than this are copied as `.mid` only (FORMATS section 4: the pattern-length cap
/// pending hardware tests); loops and parts of any length are converted.
pub const PATTERN_MAX_BARS: f64 = 64.0;
pub const INDEX_JSON: &str = "midid-index.json";
pub const INDEX_CSV: &str = "midid-index.csv";
/// About 500 bytes per file: room for two million files.
const MAX_INDEX_BYTES: u64 = 1 << 30;
/// The longest pattern suffix a name must leave room for (a file may hold thousands of parts).
const PATTERN_SUFFIX_UNITS: usize = "-9999.mpcpattern".len();
/// `_` + 8 hex digits + `_99`: what a collision may append.
const HASH_SUFFIX_UNITS: usize = 12;
/// Each folder a rename template makes is cut to this.
const TEMPLATE_FOLDER_UNITS: usize = 40;

/// Which device the drive is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Mpc,
    Force,
    Both,
}

impl Target {
    pub fn parse(s: &str) -> Option<Target> {
        match s.to_ascii_lowercase().as_str() {
            "mpc" => Some(Target::Mpc),
            "force" => Some(Target::Force),
            "both" => Some(Target::Both),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Target::Mpc => "mpc",
            Target::Force => "force",
            Target::Both => "both",
        }
    }

    /// What the target decides (README, "Export"). Everything FORMATS.md could establish is the
    /// same on both devices today: `.mpcpattern` loads into an MPC track and into a Force clip,
    /// both firmwares read `Progressions/` at a volume root, and exFAT rules are the drive's. The
    /// difference is the plain `.mid` copy: the MPC imports it as a new sequence, while no public
    /// source says the Force loads `.mid` at all (FORMATS section 4), so on a Force-only drive a
    /// song too long for a pattern still gets its `.mid` (for a computer) and is flagged
    /// `device_loads: false` in the index.
    pub fn profile(self) -> Profile {
        Profile { target: self, mid_loads_on_device: !matches!(self, Target::Force) }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Profile {
    pub target: Target,
    /// Whether the device itself opens the `.mid` copies.
    pub mid_loads_on_device: bool,
}

/// One file of the selection and everything the writers need to know about it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub file: FileInfo,
    /// `MPC_Documents/SAMPLES/Bass/120-129bpm`, relative to the drive root, `/`-separated.
    pub folder: String,
    pub stem: String,
    /// Convert to `.mpcpattern` (false: copy the `.mid` only, and why).
    pub convert: Result<(), &'static str>,
    /// `Progressions/<Category>-<Name>.progression` for chord files.
    pub progression: Option<String>,
    /// Listed in the drive's index with every output still present: nothing to write.
    pub unchanged: Option<IndexEntry>,
    /// The paths are ours already (listed in the index, or an interrupted run's `.mid` with these
    /// bytes): a file found at one of them is left as it is, not refused.
    pub ours: bool,
}

impl Entry {
    pub fn mid_path(&self) -> String {
        format!("{}/{}.mid", self.folder, self.stem)
    }

    /// The pattern file for pattern `i` of `n` (1-based): one pattern takes the `.mid`'s stem,
    /// several get `-01`, `-02`... in track and channel order.
    pub fn pattern_path(&self, i: usize, n: usize) -> String {
        if n <= 1 {
            format!("{}/{}.mpcpattern", self.folder, self.stem)
        } else {
            format!("{}/{}-{i:02}.mpcpattern", self.folder, self.stem)
        }
    }

    /// Patterns expected from the catalog's part summaries (the writer counts the real ones).
    pub fn expected_patterns(&self) -> usize {
        if self.convert.is_err() {
            return 0;
        }
        expected_patterns(&self.file)
    }
}

/// The drive's index: every exported file with its analysis and provenance; written last.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Index {
    pub version: u32,
    pub target: String,
    pub generated: String,
    pub files: Vec<IndexEntry>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IndexEntry {
    pub hash: String,
    pub mid: String,
    pub patterns: Vec<String>,
    pub progression: Option<String>,
    /// Why no pattern was written (`smpte`, `no notes`, `song longer than 64 bars`).
    pub copy_only: Option<String>,
    /// False where the device is not known to open the `.mid` (Force) and no pattern exists.
    #[serde(default = "yes")]
    pub device_loads: bool,
    pub name: String,
    pub role: Option<String>,
    pub drum: Option<String>,
    pub key: Option<String>,
    pub bpm: Option<f64>,
    pub bars: Option<f64>,
    pub time_signature: Option<String>,
    #[serde(rename = "loop")]
    pub is_loop: Option<bool>,
    pub notes: u64,
    pub parent: Option<String>,
    pub sources: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Index {
    /// The previous index of a drive; None when there is none or it does not parse (a damaged
    /// index costs a rewrite of what it listed, never a wrong skip).
    pub fn read(root: &Path) -> Option<Index> {
        Index::read_named(root, INDEX_JSON)
    }

    /// An index-shaped file at the drive root (the index, or an interrupted run's pending list).
    pub fn read_named(root: &Path, name: &str) -> Option<Index> {
        use std::io::Read;
        // Our own file, but on a drive anyone can write: capped like any input.
        let mut text = String::new();
        std::fs::File::open(root.join(name)).ok()?.take(MAX_INDEX_BYTES).read_to_string(&mut text).ok()?;
        match serde_json::from_str::<Index>(&text) {
            Ok(i) => Some(i),
            Err(e) => {
                tracing::warn!(
                    "{}: not a midid index ({e}); writing everything again",
                    root.join(INDEX_JSON).display()
                );
                None
            }
        }
    }
}

/// What `route` says a file is, as a folder under the drive root.
pub fn route(f: &FileInfo) -> String {
    let samples = format!("{DOCS}/SAMPLES");
    match f.role.as_deref() {
        Some("drums") => {
            let folder = match f.drum_dominant.as_deref() {
                Some("kick") => "Kicks",
                Some("snare") => "Snares",
                Some("hat_closed" | "hat_open") => "Hats",
                Some("crash" | "ride") => "Cymbals",
                Some("toms") => "Toms",
                _ => "Percussion",
            };
            format!("{samples}/Drums/{folder}")
        }
        Some("bass") => format!("{samples}/Bass"),
        Some("chords") => format!("{samples}/Chords"),
        Some("melody") => format!("{samples}/Melody"),
        // Several parts together: a loop to drop on a track, or a song to open as one.
        Some("full") if f.is_loop == Some(true) => format!("{samples}/Loops"),
        Some("full") => format!("{DOCS}/Patterns"),
        _ => format!("{samples}/FX"),
    }
}

const SHORT_NAMES: [&str; 12] = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];

fn key_short(f: &FileInfo) -> Option<String> {
    let t = f.key_tonic?;
    let minor = f.key_mode.as_deref() == Some("minor");
    Some(format!("{}{}", SHORT_NAMES[usize::from(t % 12)], if minor { "m" } else { "" }))
}

fn clean_stem_of(f: &FileInfo) -> String {
    let name = f.sources.first().map(|s| s.clean_name.clone().unwrap_or_else(|| sanitize::clean_name(&s.name)));
    let name = name.unwrap_or_else(|| f.hash.chars().take(8).collect());
    name.strip_suffix(".mid").map(str::to_string).unwrap_or(name)
}

/// The default name: the clean stem with the BPM and key the pattern cannot carry (FORMATS 1.8
/// step 7), unless the name already says them.
fn default_stem(f: &FileInfo) -> String {
    let mut stem = clean_stem_of(f);
    let lower = stem.to_ascii_lowercase();
    if let Some(bpm) = f.bpm.filter(|b| b.is_finite() && *b > 0.0).map(|b| b.round() as u64) {
        if !lower.contains(&bpm.to_string()) {
            stem.push_str(&format!("_{bpm}bpm"));
        }
    }
    if let Some(k) = key_short(f) {
        let words: Vec<&str> = lower.split(['_', '-', ' ', '.']).collect();
        if !words.contains(&k.to_ascii_lowercase().as_str()) {
            stem.push('_');
            stem.push_str(&k);
        }
    }
    stem
}

fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

fn bpm_band(f: &FileInfo) -> String {
    match f.bpm.filter(|b| b.is_finite() && *b > 0.0) {
        Some(b) => {
            let lo = (b.round() as u64 / 10) * 10;
            format!("{lo:03}-{:03}bpm", lo + 9)
        }
        None => "no_bpm".to_string(),
    }
}

fn initial(stem: &str) -> String {
    match stem.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => c.to_ascii_uppercase().to_string(),
        Some(c) if c.is_ascii_digit() => "0-9".to_string(),
        _ => "other".to_string(),
    }
}

/// What an existing file at a wanted path is.
pub trait Occupant {
    /// None: nothing there. Some(true): a file with exactly `hash`'s bytes. Some(false): another.
    fn at(&self, path: &str, hash: &str) -> Option<bool>;
}

/// The drive as it is.
pub struct OnDisk<'a> {
    pub root: &'a Path,
}

impl Occupant for OnDisk<'_> {
    fn at(&self, path: &str, hash: &str) -> Option<bool> {
        let p = self.root.join(path);
        let meta = std::fs::symlink_metadata(&p).ok()?;
        // An empty hash asks only whether something is there. The file is hashed rather than
        // compared with an object: a split part has no object of its own.
        let same = !hash.is_empty() && meta.is_file() && hash_of(&p, meta.len()).is_some_and(|h| h == hash);
        Some(same)
    }
}

/// The hex content id of the file at `path`, if it is no longer than `len` (its size when it was
/// looked at) and no longer than any object can be.
fn hash_of(path: &Path, len: u64) -> Option<String> {
    use std::io::Read;
    // Objects are at most the import's file cap; anything longer is not one of ours.
    if len > 64 * 1024 * 1024 {
        return None;
    }
    let mut v = Vec::with_capacity(len as usize);
    std::fs::File::open(path).ok()?.take(len + 1).read_to_end(&mut v).ok()?;
    Some(crate::dedupe::to_hex(&crate::dedupe::content_id(&v)))
}

pub struct Plan {
    pub root: PathBuf,
    pub profile: Profile,
    pub entries: Vec<Entry>,
}

impl Plan {
    pub fn summary(&self) -> ExportPlan {
        let mut s = ExportPlan {
            target: self.profile.target.as_str().to_string(),
            to: self.root.display().to_string(),
            ..ExportPlan::default()
        };
        for e in &self.entries {
            s.files += 1;
            *s.folders.entry(e.folder.clone()).or_default() += 1;
            if e.unchanged.is_some() {
                s.unchanged += 1;
                continue;
            }
            s.to_write += 1;
            s.patterns += e.expected_patterns() as u64;
            s.progressions += u64::from(e.progression.is_some());
            s.copy_only += u64::from(e.convert.is_err());
        }
        s
    }

    /// Folders the writers need, each once, parents first.
    pub fn folders(&self) -> Vec<String> {
        let mut set: Vec<String> = self.entries.iter().map(|e| e.folder.clone()).collect();
        if self.entries.iter().any(|e| e.progression.is_some()) {
            set.push(progression::FOLDER.to_string());
        }
        set.sort();
        set.dedup();
        set
    }
}

/// How exFAT compares names: through its up-case table, a one-to-one map of characters
/// (simple uppercase; `ß` stays `ß`, `ı` and `i` both become `I`).
pub fn fold(path: &str) -> String {
    path.chars()
        .map(|c| {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

/// A path from the drive's index, accepted only where we write: relative, no `.`/`..`, under our
/// two roots, with the expected extension. The index sits on a drive anyone can edit; a path
/// that leaves the drive or names someone else's folder is not ours.
pub fn safe_rel(path: &str, ext: &str) -> bool {
    let under_ours = path.starts_with(&format!("{DOCS}/")) || path.starts_with(&format!("{}/", progression::FOLDER));
    under_ours
        && path.ends_with(ext)
        && !path.contains('\\')
        && !path.contains('\0')
        && path.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

fn entry_is_safe(e: &IndexEntry) -> bool {
    safe_rel(&e.mid, ".mid")
        && split_mid_path(&e.mid).is_some()
        && e.patterns.iter().all(|p| safe_rel(p, ".mpcpattern"))
        && e.progression.iter().all(|p| safe_rel(p, progression::EXTENSION) && p.matches('/').count() == 1)
}

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// Decides every path. `files` is the selection in catalog order; `previous` the drive's index
/// with, appended, the entries of an export that was cut short (its pending list).
pub fn plan(
    root: &Path,
    target: Target,
    files: Vec<FileInfo>,
    previous: Option<&Index>,
    rename: Option<&Template>,
    disk: &dyn Occupant,
) -> Plan {
    let profile = target.profile();
    let mut old: HashMap<&str, &IndexEntry> = HashMap::new();
    for e in previous.map(|i| i.files.as_slice()).unwrap_or_default() {
        if entry_is_safe(e) {
            old.entry(e.hash.as_str()).or_insert(e);
        } else {
            tracing::warn!(hash = %e.hash, "the drive's index lists a path outside the export's folders: ignored");
        }
    }
    // Every name the previous index holds stays taken, whether or not it is in this selection;
    // and each folder's files count towards its 1,000.
    let mut taken: HashSet<String> = HashSet::new();
    let mut in_folder: HashMap<String, usize> = HashMap::new();
    for e in old.values() {
        taken.insert(fold(&e.mid));
        taken.extend(e.patterns.iter().map(|p| fold(p)));
        taken.extend(e.progression.iter().map(|p| fold(p)));
        *in_folder.entry(parent_of(&e.mid).to_string()).or_default() += 1;
    }

    // Routing first: shards depend on how many files each folder gets.
    struct Wanted {
        file: FileInfo,
        folder: String,
        stem: String,
    }
    let mut wanted: Vec<Wanted> = Vec::with_capacity(files.len());
    for file in files {
        let mut folder = route(&file);
        let stem = match rename {
            Some(t) => {
                let rendered = t.render(&file);
                let mut comps: Vec<&str> = rendered.split('/').collect();
                let name = comps.pop().unwrap_or("untitled.mid");
                // Template folders are short, so the file name keeps most of the path budget.
                for c in comps {
                    folder.push('/');
                    folder.push_str(&sanitize::clean_stem(c, TEMPLATE_FOLDER_UNITS));
                }
                name.strip_suffix(".mid").unwrap_or(name).to_string()
            }
            None => default_stem(&file),
        };
        wanted.push(Wanted { file, folder, stem });
    }
    // New files per routed folder, added to what the folder already holds: a folder that would
    // pass 1,000 sends its new files into BPM bands, a band that would pass it into initials.
    let is_new = |w: &Wanted| !old.contains_key(w.file.hash.as_str());
    let mut new_per: HashMap<String, usize> = HashMap::new();
    for w in wanted.iter().filter(|w| is_new(w)) {
        *new_per.entry(w.folder.clone()).or_default() += 1;
    }
    let full = |folder: &str, new: &HashMap<String, usize>, have: &HashMap<String, usize>| {
        new.get(folder).copied().unwrap_or(0) + have.get(folder).copied().unwrap_or(0) > FOLDER_MAX
    };
    let mut sharded: Vec<String> = wanted
        .iter()
        .map(|w| {
            if is_new(w) && full(&w.folder, &new_per, &in_folder) {
                format!("{}/{}", w.folder, bpm_band(&w.file))
            } else {
                w.folder.clone()
            }
        })
        .collect();
    let mut new_per_band: HashMap<String, usize> = HashMap::new();
    for (w, f) in wanted.iter().zip(&sharded) {
        if is_new(w) {
            *new_per_band.entry(f.clone()).or_default() += 1;
        }
    }
    for (w, folder) in wanted.iter().zip(sharded.iter_mut()) {
        if is_new(w) && *folder != w.folder && full(folder, &new_per_band, &in_folder) {
            *folder = format!("{folder}/{}", initial(&w.stem));
        }
    }

    let mut entries = Vec::with_capacity(wanted.len());
    for (w, folder) in wanted.into_iter().zip(sharded) {
        let convert = convertible(&w.file);
        if let Some(prev) = old.get(w.file.hash.as_str()) {
            // Same content, same paths as last time; written again only where something is gone.
            let present = std::iter::once(&prev.mid)
                .chain(prev.patterns.iter())
                .chain(prev.progression.iter())
                .all(|p| disk.at(p, "").is_some());
            // Safe entries always split (checked above).
            let (folder, stem) = split_mid_path(&prev.mid).unwrap_or_default();
            entries.push(Entry {
                unchanged: present.then(|| (*prev).clone()),
                ours: true,
                file: w.file,
                folder,
                stem,
                convert,
                progression: prev.progression.clone(),
            });
            continue;
        }
        let patterns = if convert.is_ok() { expected_patterns(&w.file) } else { 0 };
        let stem = fit(&folder, &w.stem);
        let (stem, adopted) = claim_stem(&folder, &stem, &w.file.hash, patterns, &mut taken, disk);
        let progression = (w.file.role.as_deref() == Some("chords") && convert.is_ok())
            .then(|| claim_progression(&w.file, &stem, &mut taken, disk));
        entries.push(Entry { file: w.file, folder, stem, convert, progression, unchanged: None, ours: adopted });
    }
    Plan { root: root.to_path_buf(), profile, entries }
}

fn expected_patterns(f: &FileInfo) -> usize {
    f.parts.iter().filter(|p| p.notes > 0).count().max(1)
}

fn convertible(f: &FileInfo) -> Result<(), &'static str> {
    if f.ppq.is_none() {
        return Err("smpte timing");
    }
    if f.notes == 0 {
        return Err("no notes");
    }
    if f.role.as_deref() == Some("full") && f.is_loop != Some(true) && f.bars.is_some_and(|b| b > PATTERN_MAX_BARS) {
        return Err("song longer than 64 bars");
    }
    Ok(())
}

fn split_mid_path(mid: &str) -> Option<(String, String)> {
    let (folder, name) = mid.rsplit_once('/')?;
    Some((folder.to_string(), name.strip_suffix(".mid")?.to_string()))
}

/// The stem cut so the longest name made from it (a pattern's) fits both limits.
fn fit(folder: &str, stem: &str) -> String {
    let room = PATH_MAX_UNITS.saturating_sub(units(folder) + 1).min(COMPONENT_MAX_UNITS);
    // Room for a hash suffix and a counter too, so a collision never pushes a name over.
    let budget = room.saturating_sub(PATTERN_SUFFIX_UNITS + HASH_SUFFIX_UNITS).max(8);
    if units(stem) <= budget {
        stem.to_string()
    } else {
        sanitize::clean_stem(stem, budget)
    }
}

/// Every name a stem makes in `folder`: the `.mid` and its patterns (one, or `-01`..`-NN`).
pub fn names_of(folder: &str, stem: &str, patterns: usize) -> Vec<String> {
    let mut v = vec![format!("{folder}/{stem}.mid")];
    if patterns > 0 {
        v.push(format!("{folder}/{stem}.mpcpattern"));
    }
    v.extend((1..=patterns).filter(|_| patterns > 1).map(|i| format!("{folder}/{stem}-{i:02}.mpcpattern")));
    v
}

/// A free stem in `folder`, and whether it is adopted (an interrupted export's `.mid` with our
/// bytes is there). Free means: none of its names is taken in this plan or by the index, and
/// none exists on the drive, unless adopted (then its patterns are that run's too).
fn claim_stem(
    folder: &str,
    stem: &str,
    hash: &str,
    patterns: usize,
    taken: &mut HashSet<String>,
    disk: &dyn Occupant,
) -> (String, bool) {
    let tagged = format!("{stem}_{}", &hash[..hash.len().min(8)]);
    let candidates = [stem.to_string(), tagged.clone()].into_iter().chain((2..100).map(|n| format!("{tagged}_{n}")));
    for candidate in candidates {
        let names = names_of(folder, &candidate, patterns);
        if names.iter().any(|n| taken.contains(&fold(n))) {
            continue;
        }
        let adopted = match disk.at(&names[0], hash) {
            Some(true) => true,
            Some(false) => continue,
            None if names[1..].iter().any(|n| disk.at(n, "").is_some()) => continue,
            None => false,
        };
        taken.extend(names.iter().map(|n| fold(n)));
        return (candidate, adopted);
    }
    // 100 names of one stem in one folder all taken: the full hash is unique to the content.
    let last = format!("{stem}_{hash}");
    taken.extend(names_of(folder, &last, patterns).iter().map(|n| fold(n)));
    (last, false)
}

/// The names a chord file's progression may have, in order of preference: its stem, then the
/// stem behind the content's short hash, then the full hash.
pub fn progression_candidates(f: &FileInfo, stem: &str) -> Vec<String> {
    let category = key_short(f).unwrap_or_else(|| "Chords".to_string());
    let hash8 = &f.hash[..f.hash.len().min(8)];
    [stem.to_string(), format!("{hash8} {stem}"), f.hash.clone()]
        .iter()
        .map(|name| format!("{}/{}", progression::FOLDER, progression::file_name(&category, name)))
        .collect()
}

/// A free progression name for a chord file exported under `stem`. A name on the drive is
/// never taken here, whoever's file it is: an adopted entry's earlier progression is recognised
/// by its bytes when the run has made them (`run.rs`, `existing_progression`).
fn claim_progression(f: &FileInfo, stem: &str, taken: &mut HashSet<String>, disk: &dyn Occupant) -> String {
    for path in progression_candidates(f, stem) {
        if !taken.contains(&fold(&path)) && disk.at(&path, "").is_none() {
            taken.insert(fold(&path));
            return path;
        }
    }
    let path = format!("{}/{}", progression::FOLDER, progression::file_name("x", &f.hash));
    taken.insert(fold(&path));
    path
}

#[cfg(test)]
mod tests {
    use midictl::protocol::{PartInfo, SourceInfo};

    use super::*;

    struct Empty;
    impl Occupant for Empty {
        fn at(&self, _: &str, _: &str) -> Option<bool> {
            None
        }
    }

    struct Files(HashMap<String, bool>);
    impl Occupant for Files {
        fn at(&self, path: &str, _: &str) -> Option<bool> {
            self.0.get(path).copied()
        }
    }

    fn file(hash: &str, name: &str, role: &str) -> FileInfo {
        FileInfo {
            hash: format!("{hash:0<32}"),
            ppq: Some(480),
            notes: 10,
            role: Some(role.into()),
            sources: vec![SourceInfo {
                name: name.into(),
                clean_name: Some(sanitize::clean_name(name)),
                ..Default::default()
            }],
            parts: vec![PartInfo { track: 0, channel: 1, notes: 10, role: role.into(), ..Default::default() }],
            ..Default::default()
        }
    }

    #[test]
    fn roles_drum_parts_and_loops_pick_the_folder() {
        let mut kick = file("1", "k.mid", "drums");
        kick.drum_dominant = Some("kick".into());
        assert_eq!(route(&kick), "MPC_Documents/SAMPLES/Drums/Kicks");
        for (part, folder) in [("hat_open", "Hats"), ("ride", "Cymbals"), ("toms", "Toms"), ("perc", "Percussion")] {
            kick.drum_dominant = Some(part.into());
            assert!(route(&kick).ends_with(folder), "{part}");
        }
        assert_eq!(route(&file("2", "b.mid", "bass")), "MPC_Documents/SAMPLES/Bass");
        let mut song = file("3", "s.mid", "full");
        assert_eq!(route(&song), "MPC_Documents/Patterns");
        song.is_loop = Some(true);
        assert_eq!(route(&song), "MPC_Documents/SAMPLES/Loops");
        assert_eq!(route(&file("4", "x.mid", "fx")), "MPC_Documents/SAMPLES/FX");
    }

    #[test]
    fn names_carry_bpm_and_key_once() {
        let mut f = file("1", "Dark Keys.mid", "chords");
        f.bpm = Some(139.6);
        f.key_tonic = Some(9);
        f.key_mode = Some("minor".into());
        assert_eq!(default_stem(&f), "Dark_Keys_140bpm_Am");
        f.sources[0].clean_name = Some("Dark_Keys_140_Am.mid".into());
        assert_eq!(default_stem(&f), "Dark_Keys_140_Am");
    }

    #[test]
    fn case_insensitive_collisions_get_the_hash_and_are_stable() {
        let a = file("aaaaaaaa", "Kick.mid", "bass");
        let b = file("bbbbbbbb", "kick.mid", "bass");
        let p = plan(Path::new("/d"), Target::Mpc, vec![a.clone(), b.clone()], None, None, &Empty);
        assert_eq!(p.entries[0].stem, "Kick");
        assert_eq!(p.entries[1].stem, "kick_bbbbbbbb");
        // In the other order, the first keeps the plain name; the index keeps names across runs.
        let index = Index {
            files: p
                .entries
                .iter()
                .map(|e| IndexEntry { hash: e.file.hash.clone(), mid: e.mid_path(), ..Default::default() })
                .collect(),
            ..Default::default()
        };
        let all = Files(p.entries.iter().map(|e| (e.mid_path(), true)).collect());
        let again = plan(Path::new("/d"), Target::Mpc, vec![b, a], Some(&index), None, &all);
        assert_eq!(again.entries[0].stem, "kick_bbbbbbbb");
        assert_eq!(again.entries[1].stem, "Kick");
        assert!(again.entries.iter().all(|e| e.unchanged.is_some()));
    }

    #[test]
    fn a_users_file_is_never_taken_over_and_our_own_is_adopted() {
        let f = file("cccccccc", "Lead.mid", "melody");
        let user = Files([("MPC_Documents/SAMPLES/Melody/Lead.mid".to_string(), false)].into());
        let p = plan(Path::new("/d"), Target::Mpc, vec![f.clone()], None, None, &user);
        assert_eq!(p.entries[0].stem, "Lead_cccccccc");
        let ours = Files([("MPC_Documents/SAMPLES/Melody/Lead.mid".to_string(), true)].into());
        let p = plan(Path::new("/d"), Target::Mpc, vec![f], None, None, &ours);
        assert_eq!(p.entries[0].stem, "Lead");
    }

    #[test]
    fn full_folders_are_sharded_by_bpm_band() {
        let files: Vec<FileInfo> = (0..FOLDER_MAX + 1)
            .map(|i| {
                let mut f = file(&format!("{i:08x}"), &format!("bass {i}.mid"), "bass");
                f.bpm = Some(if i % 2 == 0 { 90.0 } else { 124.0 });
                f
            })
            .collect();
        let p = plan(Path::new("/d"), Target::Mpc, files, None, None, &Empty);
        let s = p.summary();
        assert_eq!(s.folders.len(), 2, "{:?}", s.folders);
        assert!(s.folders.contains_key("MPC_Documents/SAMPLES/Bass/090-099bpm"));
        assert!(s.folders.contains_key("MPC_Documents/SAMPLES/Bass/120-129bpm"));
        assert!(s.folders.values().all(|n| *n as usize <= FOLDER_MAX));
    }

    #[test]
    fn pattern_names_are_reserved_with_their_mid() {
        // A has three parts (`G-01..03.mpcpattern`); B is named `G-02`: its `.mid` and pattern
        // must not land on A's second pattern.
        let mut a = file("aaaaaaaa", "G.mid", "bass");
        a.parts = (0..3).map(|t| PartInfo { track: t, channel: 1, notes: 5, ..Default::default() }).collect();
        let b = file("bbbbbbbb", "G-02.mpcpattern.mid", "bass");
        let mut b2 = b.clone();
        b2.sources[0].clean_name = Some("G-02.mid".into());
        let p = plan(Path::new("/d"), Target::Mpc, vec![a, b2], None, None, &Empty);
        let mut all: Vec<String> = Vec::new();
        for e in &p.entries {
            all.extend(names_of(&e.folder, &e.stem, e.expected_patterns()).iter().map(|n| fold(n)));
        }
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "{all:?}");
        // A user's pattern beside a wanted name makes the name taken.
        let user = Files([("MPC_Documents/SAMPLES/Bass/Solo.mpcpattern".to_string(), false)].into());
        let p = plan(Path::new("/d"), Target::Mpc, vec![file("cccccccc", "Solo.mid", "bass")], None, None, &user);
        assert_eq!(p.entries[0].stem, "Solo_cccccccc");
    }

    #[test]
    fn names_compare_as_exfat_does() {
        assert_eq!(fold("Kırmızı.mid"), fold("KIRMIZI.MID"));
        assert_eq!(fold("Straße"), "STRAßE", "no one-to-many mapping");
        let a = file("aaaaaaaa", "Kırmızı.mid", "bass");
        let b = file("bbbbbbbb", "kirmizi.mid", "bass");
        let p = plan(Path::new("/d"), Target::Mpc, vec![a, b], None, None, &Empty);
        assert_eq!(p.entries[1].stem, "kirmizi_bbbbbbbb");
    }

    #[test]
    fn index_paths_outside_our_folders_are_not_trusted() {
        for bad in
            ["../../etc/x.mid", "/etc/x.mid", "MPC_Documents/../x.mid", "Elsewhere/x.mid", "MPC_Documents/a/x.txt"]
        {
            assert!(!safe_rel(bad, ".mid"), "{bad}");
        }
        assert!(safe_rel("MPC_Documents/SAMPLES/Bass/x.mid", ".mid"));
        let f = file("aaaaaaaa", "x.mid", "bass");
        let index = Index {
            files: vec![IndexEntry { hash: f.hash.clone(), mid: "../../home/u/x.mid".into(), ..Default::default() }],
            ..Default::default()
        };
        let p = plan(Path::new("/d"), Target::Mpc, vec![f], Some(&index), None, &Empty);
        assert_eq!(p.entries[0].mid_path(), "MPC_Documents/SAMPLES/Bass/x.mid");
        assert!(!p.entries[0].ours);
    }

    #[test]
    fn a_folder_full_from_an_earlier_export_shards_the_new_files() {
        let index = Index {
            files: (0..FOLDER_MAX)
                .map(|i| IndexEntry {
                    hash: format!("{i:032x}"),
                    mid: format!("MPC_Documents/SAMPLES/Bass/b{i}.mid"),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let mut f = file("ffffffff", "new.mid", "bass");
        f.bpm = Some(100.0);
        let p = plan(Path::new("/d"), Target::Mpc, vec![f], Some(&index), None, &Empty);
        assert_eq!(p.entries[0].folder, "MPC_Documents/SAMPLES/Bass/100-109bpm");
    }

    #[test]
    fn long_names_fit_the_path_budget() {
        let long = "x".repeat(300);
        let f = file("dddddddd", &format!("{long}.mid"), "bass");
        let p = plan(Path::new("/d"), Target::Mpc, vec![f], None, None, &Empty);
        let e = &p.entries[0];
        for path in [e.mid_path(), e.pattern_path(9999, 9999)] {
            assert!(units(&path) <= PATH_MAX_UNITS, "{path}");
            assert!(path.split('/').all(|c| units(c) <= COMPONENT_MAX_UNITS), "{path}");
        }
    }

    #[test]
    fn copy_only_for_smpte_empty_and_long_songs() {
        let mut f = file("1", "a.mid", "full");
        f.bars = Some(65.0);
        assert!(convertible(&f).is_err());
        f.is_loop = Some(true);
        assert!(convertible(&f).is_ok());
        f.ppq = None;
        assert!(convertible(&f).is_err());
    }

    #[test]
    fn chord_files_get_a_progression_in_the_flat_folder() {
        let mut f = file("eeeeeeee", "My Chords.mid", "chords");
        f.key_tonic = Some(0);
        f.key_mode = Some("major".into());
        let g = file("ffffffff", "My Chords.mid", "chords");
        let p = plan(Path::new("/d"), Target::Force, vec![f, g], None, None, &Empty);
        let a = p.entries[0].progression.clone().unwrap();
        let b = p.entries[1].progression.clone().unwrap();
        assert!(a.starts_with("Progressions/C-My_Chords"), "{a}");
        assert_ne!(a.to_lowercase(), b.to_lowercase());
        assert_eq!(a.matches('/').count(), 1);
    }

    /// A progression name on the drive is never planned over, even for an adopted entry: only
    /// the run, by comparing bytes, may take an existing one as ours.
    #[test]
    fn a_progression_on_the_drive_is_never_planned_over() {
        let mut f = file("eeeeeeee", "My Chords.mid", "chords");
        f.key_tonic = Some(0);
        f.key_mode = Some("major".into());
        let first = plan(Path::new("/d"), Target::Force, vec![f.clone()], None, None, &Empty);
        let e = &first.entries[0];
        let progression = e.progression.clone().expect("a progression");
        let on_drive = Files([(e.mid_path(), true), (progression.clone(), false)].into_iter().collect());
        let again = plan(Path::new("/d"), Target::Force, vec![f.clone()], None, None, &on_drive);
        assert!(again.entries[0].ours, "our .mid is adopted");
        let planned = again.entries[0].progression.clone().expect("a progression");
        assert_ne!(planned, progression);
        assert_eq!(progression_candidates(&f, &again.entries[0].stem)[..2], [progression, planned]);
    }

    #[test]
    fn a_rename_template_names_and_nests_under_the_routed_folder() {
        let mut f = file("1", "a.mid", "bass");
        f.bpm = Some(120.0);
        let t = Template::parse("{key|nokey}/{bpm}bpm_{name}").unwrap();
        let p = plan(Path::new("/d"), Target::Mpc, vec![f], None, Some(&t), &Empty);
        assert_eq!(p.entries[0].mid_path(), "MPC_Documents/SAMPLES/Bass/nokey/120bpm_a.mid");
    }
}
