//! Deterministic corpus generator: realistic MIDI packs for tests, benchmarks and the README's
//! first command.
//!
//! The pipeline has to be exercised on something that looks like a producer's hoard (nested pack
//! folders, drum loops, basslines, chord progressions, melodies and full songs, exact duplicates,
//! a few broken files) without shipping any third-party MIDI. Everything here is written by hand,
//! byte by byte, from a small built-in PRNG, so the same [`GenSpec`] always gives the same tree with
//! the same bytes, and the [`GenReport`] says exactly what an import of that tree must produce:
//! how many distinct good files, how many duplicates, which rejects with which reason code and
//! which repairs with which repair note (the policy in `reject.rs`).
//!
//! Guarantees the tests rely on:
//! - every good file is byte-distinct (a text meta event carries the seed and the file's index);
//! - a duplicate is a byte-identical copy of a good file, under another folder and name;
//! - every damaged file is byte-distinct, and at most one file per corpus is `empty`;
//! - each damaged file has exactly one defect, so its expected outcome is unambiguous.

pub mod dupes;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::midi::write_varlen;

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/// What to generate. `count` is the total number of files written (good + duplicates + damaged).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenSpec {
    pub count: usize,
    /// Share of `count` that are exact copies of good files (0.0 - 1.0).
    pub duplicate_share: f64,
    /// Share of `count` that are damaged (rejected or repaired), one per damage kind in turn.
    pub damaged_share: f64,
    pub seed: u64,
}

impl Default for GenSpec {
    fn default() -> Self {
        GenSpec { count: 1000, duplicate_share: 0.2, damaged_share: 0.02, seed: 1 }
    }
}

/// What importing one generated file must produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expected {
    /// A distinct good file: one catalog row.
    Imported,
    /// A byte-identical copy of an `Imported` file: an extra source of that row. Which of the
    /// copies is processed first is up to the pipeline; per content exactly one becomes the row.
    Duplicate,
    /// Rejected with this reason code (`reject.rs`).
    Rejected(&'static str),
    /// Imported with this repair note.
    Repaired(&'static str),
}

/// One file written by [`generate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenFile {
    /// Relative to the directory given to [`generate`].
    pub rel_path: PathBuf,
    pub expected: Expected,
    /// File size in bytes.
    pub bytes: usize,
}

/// Everything [`generate`] wrote, in generation order, with the expected totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenReport {
    pub files: Vec<GenFile>,
    /// Distinct good files (`Expected::Imported`); repaired files are not counted here.
    pub unique_good: usize,
    /// Extra copies of good files (`Expected::Duplicate`).
    pub duplicates: usize,
    /// `Expected::Rejected` files.
    pub rejected: usize,
    /// `Expected::Repaired` files (imported with a repair note).
    pub repaired: usize,
    pub total_bytes: u64,
}

impl GenReport {
    /// Rejected files per reason code.
    pub fn count_rejected_by_reason(&self) -> BTreeMap<&'static str, usize> {
        let mut map = BTreeMap::new();
        for f in &self.files {
            if let Expected::Rejected(code) = f.expected {
                *map.entry(code).or_insert(0) += 1;
            }
        }
        map
    }

    /// Repaired files per repair note.
    pub fn count_repaired_by_note(&self) -> BTreeMap<&'static str, usize> {
        let mut map = BTreeMap::new();
        for f in &self.files {
            if let Expected::Repaired(note) = f.expected {
                *map.entry(note).or_insert(0) += 1;
            }
        }
        map
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("writing {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// The kinds [`midi_bytes`] takes, by index (`kind_index % 5`).
pub const KIND_NAMES: [&str; 5] = ["drums", "bass", "chords", "melody", "song"];

/// One good Standard MIDI File of kind `KIND_NAMES[kind_index % 5]`, deterministic in `seed`
/// (distinct seeds give distinct bytes). For unit tests elsewhere.
pub fn midi_bytes(kind_index: usize, seed: u64) -> Vec<u8> {
    labelled_midi(kind_index, seed).0
}

/// What a generated file is, by construction: the truth the analysis tests check against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truth {
    /// One of [`KIND_NAMES`].
    pub kind: &'static str,
    pub bpm: u32,
    pub tonic: u8,
    pub minor: bool,
    pub time_signature: (u8, u16),
    pub bars: u32,
}

/// [`midi_bytes`] with what the file was generated to be.
pub fn labelled_midi(kind_index: usize, seed: u64) -> (Vec<u8>, Truth) {
    let kind = Kind::ALL[kind_index % Kind::ALL.len()];
    let idx = kind_index as u64;
    let pack_genre = Rng::new(seed, idx, STREAM_PACK).below(GENRES.len() as u32) as usize;
    let mut rng = Rng::new(seed, idx, STREAM_PARAMS);
    let mut p = Params::draw(&mut rng, pack_genre, Some(kind), true);
    // Unit tests want the tempo in the file; only the corpus has some files without it.
    p.tempo_meta = true;
    let ts = p.meter.time_signature();
    let truth = Truth {
        kind: KIND_NAMES[kind_index % Kind::ALL.len()],
        bpm: p.bpm,
        tonic: p.tonic,
        minor: p.minor,
        time_signature: (ts[0], 1u16 << ts[1]),
        bars: p.bars,
    };
    (build(&p, seed, idx, false).to_bytes(), truth)
}

/// Writes `spec.count` files under `dir` (created if missing) and reports what each must become.
pub fn generate(dir: &Path, spec: &GenSpec) -> Result<GenReport, GenError> {
    let plan = plan(spec);

    let dirs: BTreeSet<&Path> = plan.iter().filter_map(|e| e.rel.parent()).collect();
    create_dir(dir)?;
    for d in dirs {
        create_dir(&dir.join(d))?;
    }

    let sizes = write_all(dir, spec.seed, &plan)?;

    let mut report = GenReport::default();
    report.files.reserve(plan.len());
    for (entry, bytes) in plan.into_iter().zip(sizes) {
        let expected = entry.role.expected();
        match expected {
            Expected::Imported => report.unique_good += 1,
            Expected::Duplicate => report.duplicates += 1,
            Expected::Rejected(_) => report.rejected += 1,
            Expected::Repaired(_) => report.repaired += 1,
        }
        report.total_bytes += bytes as u64;
        report.files.push(GenFile { rel_path: entry.rel, expected, bytes });
    }
    Ok(report)
}

fn create_dir(path: &Path) -> Result<(), GenError> {
    std::fs::create_dir_all(path).map_err(|source| GenError::Io { path: path.to_path_buf(), source })
}

// ---------------------------------------------------------------------------------------------
// PRNG: splitmix64 to seed, xorshift64* to draw. Each file has its own streams, keyed by
// (corpus seed, file index, stream), so files can be rendered in any order and on any thread.
// ---------------------------------------------------------------------------------------------

const STREAM_PARAMS: u64 = 1;
const STREAM_CONTENT: u64 = 2;
const STREAM_PACK: u64 = 3;
const STREAM_PLAN: u64 = 4;
const STREAM_DAMAGE: u64 = 5;
const STREAM_DUP: u64 = 6;

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64, index: u64, stream: u64) -> Rng {
        let s = splitmix64(seed ^ splitmix64(index ^ splitmix64(stream)));
        Rng(if s == 0 { 0x9E37_79B9_7F4A_7C15 } else { s })
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n` > 0).
    fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }

    /// Uniform in `0..n` for large `n` (`n` > 0).
    fn index(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below(hi - lo + 1)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One element of a non-empty constant table.
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u32) as usize]
    }

    fn weighted<T: Copy>(&mut self, xs: &[(T, u32)]) -> T {
        let total: u32 = xs.iter().map(|x| x.1).sum();
        let mut r = self.below(total);
        for &(v, w) in xs {
            if r < w {
                return v;
            }
            r -= w;
        }
        xs[xs.len() - 1].0
    }

    /// Velocity around `center`, within 1..=127.
    fn vel(&mut self, center: u32, spread: u32) -> u8 {
        let v = center + self.below(spread * 2 + 1);
        v.saturating_sub(spread).clamp(1, 127) as u8
    }
}

// ---------------------------------------------------------------------------------------------
// Musical vocabulary
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Drums,
    Bass,
    Chords,
    Melody,
    Song,
}

impl Kind {
    const ALL: [Kind; 5] = [Kind::Drums, Kind::Bass, Kind::Chords, Kind::Melody, Kind::Song];

    fn folder(self) -> &'static str {
        match self {
            Kind::Drums => "Drums",
            Kind::Bass => "Bass",
            Kind::Chords => "Chords",
            Kind::Melody => "Melodies",
            Kind::Song => "Full Songs",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    FourFloor,
    Trap,
    BoomBap,
    Dnb,
    Dembow,
    Rock,
    Pop,
    Ballad,
}

struct Genre {
    /// Pack folder label.
    pack: &'static str,
    /// File name token.
    token: &'static str,
    bpm: (u32, u32),
    minor: f64,
    /// Chance of 3/4 or 6/8.
    odd_meter: f64,
    style: Style,
    swing: f64,
}

const GENRES: [Genre; 14] = [
    Genre { pack: "Trap", token: "Trap", bpm: (130, 150), minor: 0.9, odd_meter: 0.0, style: Style::Trap, swing: 0.0 },
    Genre {
        pack: "Deep House",
        token: "House",
        bpm: (118, 126),
        minor: 0.6,
        odd_meter: 0.0,
        style: Style::FourFloor,
        swing: 0.3,
    },
    Genre {
        pack: "Techno",
        token: "Techno",
        bpm: (125, 140),
        minor: 0.8,
        odd_meter: 0.0,
        style: Style::FourFloor,
        swing: 0.0,
    },
    Genre {
        pack: "Boom Bap",
        token: "BoomBap",
        bpm: (84, 98),
        minor: 0.7,
        odd_meter: 0.02,
        style: Style::BoomBap,
        swing: 0.7,
    },
    Genre {
        pack: "Lo-Fi Hip Hop",
        token: "LoFi",
        bpm: (70, 90),
        minor: 0.5,
        odd_meter: 0.05,
        style: Style::BoomBap,
        swing: 0.8,
    },
    Genre {
        pack: "Drum & Bass",
        token: "DnB",
        bpm: (170, 174),
        minor: 0.8,
        odd_meter: 0.0,
        style: Style::Dnb,
        swing: 0.0,
    },
    Genre { pack: "Pop", token: "Pop", bpm: (96, 128), minor: 0.3, odd_meter: 0.05, style: Style::Pop, swing: 0.0 },
    Genre { pack: "R&B", token: "RnB", bpm: (70, 100), minor: 0.6, odd_meter: 0.05, style: Style::BoomBap, swing: 0.5 },
    Genre {
        pack: "Reggaetón",
        token: "Reggaeton",
        bpm: (88, 100),
        minor: 0.7,
        odd_meter: 0.0,
        style: Style::Dembow,
        swing: 0.0,
    },
    Genre { pack: "Rock", token: "Rock", bpm: (100, 150), minor: 0.4, odd_meter: 0.08, style: Style::Rock, swing: 0.0 },
    Genre {
        pack: "Afrobeats",
        token: "Afro",
        bpm: (100, 116),
        minor: 0.5,
        odd_meter: 0.0,
        style: Style::Pop,
        swing: 0.4,
    },
    Genre {
        pack: "Future Bass",
        token: "FutureBass",
        bpm: (140, 160),
        minor: 0.5,
        odd_meter: 0.0,
        style: Style::Trap,
        swing: 0.0,
    },
    Genre {
        pack: "Cinematic",
        token: "Cinematic",
        bpm: (70, 110),
        minor: 0.7,
        odd_meter: 0.4,
        style: Style::Ballad,
        swing: 0.0,
    },
    Genre {
        pack: "Soul Ballads",
        token: "Soul",
        bpm: (70, 92),
        minor: 0.4,
        odd_meter: 0.5,
        style: Style::Ballad,
        swing: 0.3,
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meter {
    Four,
    Three,
    SixEight,
}

impl Meter {
    /// Sixteenth-note steps per bar.
    fn steps(self) -> u32 {
        match self {
            Meter::Four => 16,
            Meter::Three | Meter::SixEight => 12,
        }
    }

    /// Time signature meta payload: numerator, log2 denominator, clocks per click, 32nds per
    /// quarter.
    fn time_signature(self) -> [u8; 4] {
        match self {
            Meter::Four => [4, 2, 24, 8],
            Meter::Three => [3, 2, 24, 8],
            Meter::SixEight => [6, 3, 36, 8],
        }
    }

    fn label(self) -> &'static str {
        match self {
            Meter::Four => "",
            Meter::Three => "3-4",
            Meter::SixEight => "6-8",
        }
    }
}

const MAJOR: [u8; 7] = [0, 2, 4, 5, 7, 9, 11];
const MINOR: [u8; 7] = [0, 2, 3, 5, 7, 8, 10];
/// Sharps (+) or flats (-) of the major key on each tonic pitch class.
const MAJOR_SF: [i8; 12] = [0, -5, 2, -3, 4, -1, 6, 1, -4, 3, -2, 5];
const SHARP_NAMES: [&str; 12] = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
const FLAT_NAMES: [&str; 12] = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"];

const MAJOR_PROGS: [[u8; 4]; 7] =
    [[0, 4, 5, 3], [0, 5, 3, 4], [5, 3, 0, 4], [0, 3, 4, 3], [0, 3, 5, 4], [1, 4, 0, 5], [3, 0, 4, 5]];
const MINOR_PROGS: [[u8; 4]; 7] =
    [[0, 5, 2, 6], [0, 3, 4, 0], [0, 6, 5, 6], [0, 5, 3, 4], [0, 3, 6, 2], [0, 4, 5, 3], [5, 6, 0, 0]];

fn key_sf(tonic: u8, minor: bool) -> i8 {
    if minor {
        MAJOR_SF[usize::from((tonic + 3) % 12)]
    } else {
        MAJOR_SF[usize::from(tonic % 12)]
    }
}

fn tonic_name(tonic: u8, minor: bool) -> &'static str {
    if key_sf(tonic, minor) < 0 {
        FLAT_NAMES[usize::from(tonic % 12)]
    } else {
        SHARP_NAMES[usize::from(tonic % 12)]
    }
}

// GM drum notes.
const KICK: u8 = 36;
const SNARE: u8 = 38;
const CLOSED_HAT: u8 = 42;
const OPEN_HAT: u8 = 46;
const DRUM_CH: u8 = 9;

// ---------------------------------------------------------------------------------------------
// Per-file parameters (drawn from the file's params stream; cheap, so the plan can name every
// file before any content is rendered)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Format 0, one track.
    Format0,
    /// Format 1: conductor track + instrument track(s).
    Conductor,
    /// Format 1 with a single track holding everything (some DAWs export this).
    Format1Single,
}

#[derive(Debug, Clone, Copy)]
struct Params {
    kind: Kind,
    genre: usize,
    meter: Meter,
    bpm: u32,
    ppq: u16,
    tonic: u8,
    minor: bool,
    bars: u32,
    /// Chord count (chords kind).
    chords: u32,
    layout: Layout,
    tempo_meta: bool,
    running_status: bool,
    zero_vel_off: bool,
    humanize: bool,
    daw: Daw,
    /// CC automation (and pitch bend) on melodic parts.
    automation: bool,
}

/// What the exporting DAW adds around the notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Daw {
    /// Names and notes only.
    Minimal,
    /// A controller reset block per part (bank, volume, pan, effects, pedal).
    Controllers,
    /// Copyright, instrument name and SMPTE offset metas.
    Annotated,
    /// GM System On sysex, MIDI port and sequencer-specific metas.
    Sysex,
}

impl Params {
    fn draw(rng: &mut Rng, pack_genre: usize, kind: Option<Kind>, allow_song: bool) -> Params {
        let kind = kind.unwrap_or_else(|| {
            let mut k = rng.weighted(&[
                (Kind::Drums, 30),
                (Kind::Bass, 20),
                (Kind::Chords, 20),
                (Kind::Melody, 22),
                (Kind::Song, 8),
            ]);
            if k == Kind::Song && !allow_song {
                k = Kind::Melody;
            }
            k
        });
        let genre = if rng.chance(0.85) { pack_genre } else { rng.below(GENRES.len() as u32) as usize };
        let g = &GENRES[genre];
        let meter = if rng.chance(g.odd_meter) {
            if rng.chance(0.5) {
                Meter::Three
            } else {
                Meter::SixEight
            }
        } else {
            Meter::Four
        };
        let mut bpm = rng.range(g.bpm.0, g.bpm.1);
        if rng.chance(0.4) {
            bpm = (bpm / 5 * 5).max(g.bpm.0);
        }
        let bpm = bpm.clamp(70, 174);
        let ppq = rng.weighted(&[(96u16, 20), (192, 10), (384, 10), (480, 40), (960, 20)]);
        let tonic = rng.below(12) as u8;
        let minor = rng.chance(g.minor);
        let mut chords = 0;
        let bars = match kind {
            Kind::Drums => rng.weighted(&[(1, 10), (2, 30), (3, 5), (4, 55)]),
            Kind::Bass => rng.weighted(&[(1, 3), (2, 22), (4, 50), (8, 25)]),
            Kind::Melody => rng.weighted(&[(1, 3), (2, 22), (4, 50), (8, 25)]),
            Kind::Chords => {
                chords = rng.range(4, 8);
                if chords == 8 && rng.chance(0.5) {
                    4
                } else if chords <= 4 && rng.chance(0.4) {
                    chords * 2
                } else {
                    chords
                }
            }
            Kind::Song => rng.range(2, 16) * 4,
        };
        let layout = if kind == Kind::Song {
            if rng.chance(0.85) {
                Layout::Conductor
            } else {
                Layout::Format0
            }
        } else {
            rng.weighted(&[(Layout::Format0, 50), (Layout::Conductor, 35), (Layout::Format1Single, 15)])
        };
        Params {
            kind,
            genre,
            meter,
            bpm,
            ppq,
            tonic,
            minor,
            bars,
            chords,
            layout,
            tempo_meta: kind == Kind::Song || rng.chance(0.97),
            running_status: rng.chance(0.6),
            zero_vel_off: rng.chance(0.5),
            humanize: rng.chance(0.6),
            daw: rng.weighted(&[(Daw::Minimal, 20), (Daw::Controllers, 40), (Daw::Annotated, 20), (Daw::Sysex, 20)]),
            automation: kind != Kind::Drums && rng.chance(0.55),
        }
    }

    fn key_label(&self) -> String {
        let t = tonic_name(self.tonic, self.minor);
        if self.minor {
            format!("{t}m")
        } else {
            t.to_string()
        }
    }

    fn key_words(&self) -> String {
        let t = tonic_name(self.tonic, self.minor);
        if self.minor {
            format!("{t} Minor")
        } else {
            format!("{t} Major")
        }
    }
}

// ---------------------------------------------------------------------------------------------
// File names
// ---------------------------------------------------------------------------------------------

const NON_ASCII_WORDS: [&str; 12] =
    ["Mañana", "Café", "Noël", "Señal", "Rêve", "Straße", "Ålesund", "Žár", "Ночь", "夜桜", "Düsseldorf", "Canção"];
const TITLE_ADJ: [&str; 12] = [
    "Midnight", "Golden", "Neon", "Velvet", "Broken", "Electric", "Silent", "Crystal", "Summer", "Lost", "Faded",
    "Wild",
];
const TITLE_NOUN: [&str; 12] =
    ["Drive", "Hour", "Rain", "Dreams", "Heart", "City", "Waves", "Lights", "Echoes", "Road", "Fire", "Skies"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum NameStyle {
    Underscore,
    Spaced,
    Dashed,
}

fn join(style: NameStyle, parts: &[String]) -> String {
    let sep = match style {
        NameStyle::Underscore => "_",
        NameStyle::Spaced => " ",
        NameStyle::Dashed => "-",
    };
    let s = parts
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| match style {
            NameStyle::Underscore => p.replace(' ', "_"),
            NameStyle::Spaced => p.replace('_', " "),
            NameStyle::Dashed => p.replace([' ', '_'], "-").to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(sep);
    s
}

/// File stem (without extension) for a file of these parameters; `number` is its running number
/// in its pack folder.
fn file_stem(rng: &mut Rng, p: &Params, number: u32) -> String {
    let g = &GENRES[p.genre];
    let style = rng.weighted(&[(NameStyle::Underscore, 55), (NameStyle::Spaced, 35), (NameStyle::Dashed, 10)]);
    let mut genre = g.token.to_string();
    if rng.chance(0.02) {
        genre = rng.pick(&NON_ASCII_WORDS).to_string();
    }
    let bpm = match style {
        NameStyle::Spaced => format!("{} BPM", p.bpm),
        _ => format!("{}bpm", p.bpm),
    };
    let key = if style == NameStyle::Spaced && rng.chance(0.3) { p.key_words() } else { p.key_label() };
    let num = format!("{number:02}");
    let meter = p.meter.label().to_string();
    let parts: Vec<String> = match p.kind {
        Kind::Drums => {
            let word = rng.pick(&["Drum Loop", "Beat", "Groove", "Kick Loop", "Drum Pattern", "Drums", "Full Kit"]);
            let key = if rng.chance(0.25) { key } else { String::new() };
            vec![genre, word.into(), bpm, key, meter, num]
        }
        Kind::Bass => {
            let word = rng.pick(&["Bass", "808", "Bassline", "Sub Bass", "Bass Loop", "Reese"]);
            vec![genre, word.into(), bpm, key, meter, num]
        }
        Kind::Chords => {
            let word = rng.pick(&["Chords", "Chord Progression", "Keys", "Piano Chords", "Pad Chords", "Progression"]);
            if rng.chance(0.5) {
                vec![key, word.into(), num, bpm, meter]
            } else {
                vec![genre, word.into(), key, bpm, meter, num]
            }
        }
        Kind::Melody => {
            let word = rng.pick(&["Melody", "Lead", "Pluck", "Hook", "Arp", "Topline", "Bells"]);
            vec![genre, word.into(), key, bpm, meter, num]
        }
        Kind::Song => {
            let title = if rng.chance(0.05) {
                format!("{} {}", rng.pick(&NON_ASCII_WORDS), rng.pick(&TITLE_NOUN))
            } else {
                format!("{} {}", rng.pick(&TITLE_ADJ), rng.pick(&TITLE_NOUN))
            };
            let word = rng.pick(&["Full Song", "Arrangement", "Demo", "Full Track", "Song Starter"]);
            if style == NameStyle::Spaced && rng.chance(0.5) {
                return format!("{num} {title} - {word} ({} BPM, {key})", p.bpm);
            }
            vec![title, word.into(), bpm, key, num]
        }
    };
    join(style, &parts)
}

fn extension(rng: &mut Rng) -> &'static str {
    rng.weighted(&[(".mid", 97), (".MID", 2), (".midi", 1)])
}

fn pack_dir(seed: u64, pack: usize) -> PathBuf {
    let genre = pack_genre(seed, pack);
    PathBuf::from(format!("Pack {:02} - {}", pack + 1, GENRES[genre].pack))
}

fn pack_genre(seed: u64, pack: usize) -> usize {
    Rng::new(seed, pack as u64, STREAM_PACK).below(GENRES.len() as u32) as usize
}

const BUNDLES: [&str; 5] =
    ["Ultimate Producer Bundle", "Mega MIDI Collection", "Free Pack Mix", "Best of 2019", "Sample Swap"];

/// Files per pack: a pack's category folders hold roughly 50-250 files each.
const PACK_SIZE: usize = 600;

// ---------------------------------------------------------------------------------------------
// Byte writer
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum EvData {
    /// status, data 1, data 2 (ignored for 0xC0/0xD0).
    Chan(u8, u8, u8),
    Tempo(u32),
    Marker(&'static str),
}

#[derive(Debug, Clone, Copy)]
struct Ev {
    tick: u32,
    /// Order at equal ticks: meta 0, controllers 1, note off 2, note on 3.
    pri: u8,
    data: EvData,
}

fn note(evs: &mut Vec<Ev>, ch: u8, key: u8, vel: u8, start: u32, dur: u32) {
    let dur = dur.max(1);
    evs.push(Ev { tick: start, pri: 3, data: EvData::Chan(0x90 | ch, key, vel.clamp(1, 127)) });
    evs.push(Ev { tick: start + dur, pri: 2, data: EvData::Chan(0x80 | ch, key, 64) });
}

fn chan(evs: &mut Vec<Ev>, tick: u32, status: u8, d1: u8, d2: u8) {
    evs.push(Ev { tick, pri: 1, data: EvData::Chan(status, d1, d2) });
}

fn tempo_uspq(bpm: u32) -> u32 {
    (60_000_000 + bpm / 2) / bpm.max(1)
}

struct TrackBuf {
    out: Vec<u8>,
    last: u32,
    running: Option<u8>,
    use_running: bool,
    zero_vel_off: bool,
    /// Offsets where 3-byte channel events begin (after their delta time), when recorded.
    chan_at: Option<Vec<usize>>,
}

struct TrackOut {
    body: Vec<u8>,
    /// Offset of the End of Track event (its delta time) in `body`.
    eot_at: usize,
    chan_at: Vec<usize>,
}

impl TrackBuf {
    fn new(p: &Params, record: bool) -> TrackBuf {
        TrackBuf {
            out: Vec::with_capacity(256),
            last: 0,
            running: None,
            use_running: p.running_status,
            zero_vel_off: p.zero_vel_off,
            chan_at: record.then(Vec::new),
        }
    }

    fn delta(&mut self, tick: u32) {
        let d = tick.saturating_sub(self.last);
        self.last = self.last.max(tick);
        write_varlen(&mut self.out, d);
    }

    fn meta(&mut self, tick: u32, ty: u8, data: &[u8]) {
        self.delta(tick);
        self.out.push(0xFF);
        self.out.push(ty);
        write_varlen(&mut self.out, data.len() as u32);
        self.out.extend_from_slice(data);
        // Meta events cancel running status.
        self.running = None;
    }

    fn chan(&mut self, tick: u32, status: u8, d1: u8, d2: u8) {
        let (status, d2) =
            if status & 0xF0 == 0x80 && self.zero_vel_off { (0x90 | (status & 0x0F), 0) } else { (status, d2) };
        self.delta(tick);
        let two_data = !matches!(status & 0xF0, 0xC0 | 0xD0);
        if two_data {
            if let Some(v) = &mut self.chan_at {
                v.push(self.out.len());
            }
        }
        if !(self.use_running && self.running == Some(status)) {
            self.out.push(status);
        }
        self.running = Some(status);
        self.out.push(d1 & 0x7F);
        if two_data {
            self.out.push(d2 & 0x7F);
        }
    }

    fn sysex(&mut self, tick: u32, data: &[u8]) {
        self.delta(tick);
        self.out.push(0xF0);
        write_varlen(&mut self.out, data.len() as u32);
        self.out.extend_from_slice(data);
        self.running = None;
    }

    fn tempo(&mut self, tick: u32, bpm: u32) {
        let t = tempo_uspq(bpm).to_be_bytes();
        self.meta(tick, 0x51, &t[1..]);
    }

    fn events(&mut self, evs: &mut [Ev]) {
        evs.sort_by_key(|e| (e.tick, e.pri));
        for e in evs.iter() {
            match e.data {
                EvData::Chan(s, a, b) => self.chan(e.tick, s, a, b),
                EvData::Tempo(bpm) => self.tempo(e.tick, bpm),
                EvData::Marker(m) => self.meta(e.tick, 0x06, m.as_bytes()),
            }
        }
    }

    fn finish(mut self, end_tick: u32) -> TrackOut {
        let eot_at = self.out.len();
        let end = end_tick.max(self.last);
        self.meta(end, 0x2F, &[]);
        TrackOut { body: self.out, eot_at, chan_at: self.chan_at.unwrap_or_default() }
    }
}

/// A Standard MIDI File before assembly, so damage can be applied to its parts.
struct Smf {
    format: u16,
    ntrks: u16,
    division: u16,
    tracks: Vec<TrackOut>,
}

fn push_header(out: &mut Vec<u8>, format: u16, ntrks: u16, division: u16) {
    out.extend_from_slice(b"MThd");
    out.extend_from_slice(&6u32.to_be_bytes());
    out.extend_from_slice(&format.to_be_bytes());
    out.extend_from_slice(&ntrks.to_be_bytes());
    out.extend_from_slice(&division.to_be_bytes());
}

fn push_chunk(out: &mut Vec<u8>, declared_len: u32, body: &[u8]) {
    out.extend_from_slice(b"MTrk");
    out.extend_from_slice(&declared_len.to_be_bytes());
    out.extend_from_slice(body);
}

impl Smf {
    fn to_bytes(&self) -> Vec<u8> {
        let len = 14 + self.tracks.iter().map(|t| 8 + t.body.len()).sum::<usize>();
        let mut out = Vec::with_capacity(len);
        push_header(&mut out, self.format, self.ntrks, self.division);
        for t in &self.tracks {
            push_chunk(&mut out, t.body.len() as u32, &t.body);
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Content
// ---------------------------------------------------------------------------------------------

struct Ctx<'a> {
    p: &'a Params,
    rng: Rng,
    /// Ticks per sixteenth.
    step: u32,
    steps: u32,
    scale: [u8; 7],
    harmonic: bool,
    sevenths: bool,
    /// Sustain pedal on held chords.
    pedal: bool,
}

/// A chord progression laid over time: degree `prog[(step / slot) % len]`.
struct Harmony {
    prog: Vec<u8>,
    /// Steps per chord.
    slot: u32,
}

impl Harmony {
    fn at(&self, global_step: u32) -> u8 {
        let i = (global_step / self.slot.max(1)) as usize % self.prog.len().max(1);
        self.prog.get(i).copied().unwrap_or(0)
    }
}

impl Ctx<'_> {
    fn bar_ticks(&self) -> u32 {
        self.step * self.steps
    }

    /// Pitch class offset (from the tonic) of scale degree `deg` (any integer), in semitones.
    fn degree(&self, deg: i32) -> i32 {
        self.scale[deg.rem_euclid(7) as usize] as i32 + 12 * deg.div_euclid(7)
    }

    /// Semitone offsets of the chord on `root_deg` from its root, diatonic, with the harmonic
    /// minor's major V where chosen.
    fn chord_intervals(&self, root_deg: u8) -> Vec<i32> {
        let d = i32::from(root_deg);
        let base = self.degree(d);
        let n = if self.sevenths { 4 } else { 3 };
        (0..n)
            .map(|k| {
                let mut pitch = self.degree(d + 2 * k) - base;
                if self.harmonic && self.p.minor && root_deg == 4 && k == 1 {
                    pitch += 1;
                }
                pitch
            })
            .collect()
    }

    /// Lowest pitch >= `floor` whose pitch class is that of scale degree `deg`.
    fn root_at_or_above(&self, deg: u8, floor: i32) -> i32 {
        let pc = (i32::from(self.p.tonic) + self.degree(i32::from(deg))).rem_euclid(12);
        floor + (pc - floor).rem_euclid(12)
    }

    fn progression(&mut self, len: usize) -> Vec<u8> {
        let base = if self.p.minor { self.rng.pick(&MINOR_PROGS) } else { self.rng.pick(&MAJOR_PROGS) };
        let mut prog: Vec<u8> = base.iter().copied().cycle().take(len.min(4)).collect();
        while prog.len() < len {
            let d = if self.p.minor { self.rng.pick(&[0u8, 2, 3, 4, 5, 6]) } else { self.rng.pick(&[0u8, 1, 3, 4, 5]) };
            prog.push(d);
        }
        prog
    }
}

struct Groove {
    kick: u32,
    snare: u32,
    hat: u32,
    open: u32,
    /// Quiet snare ghost notes.
    ghosts: u32,
    /// Beats whose hats become a 32nd or triplet roll (trap).
    rolls: bool,
    swing: u32,
}

fn mask(steps: &[u32]) -> u32 {
    steps.iter().fold(0, |m, s| m | (1 << s))
}

fn groove(c: &mut Ctx, dense: bool) -> Groove {
    let style = GENRES[c.p.genre].style;
    let r = &mut c.rng;
    let eighths = mask(&[0, 2, 4, 6, 8, 10, 12, 14]);
    let hats = if dense { 0xFFFF } else { eighths };
    let (kick, snare, mut hat, open) = match c.p.meter {
        Meter::Three => (
            mask(&[0]) | if r.chance(0.4) { mask(&[10]) } else { 0 },
            if r.chance(0.5) { mask(&[4, 8]) } else { mask(&[8]) },
            mask(&[0, 2, 4, 6, 8, 10]),
            0,
        ),
        Meter::SixEight => (
            mask(&[0]) | if r.chance(0.5) { mask(&[10]) } else { 0 },
            mask(&[6]),
            mask(&[0, 2, 4, 6, 8, 10]),
            if r.chance(0.3) { mask(&[10]) } else { 0 },
        ),
        Meter::Four => match style {
            Style::FourFloor => (
                mask(&[0, 4, 8, 12]),
                if r.chance(0.7) { mask(&[4, 12]) } else { 0 },
                hats,
                if r.chance(0.7) { mask(&[2, 6, 10, 14]) } else { mask(&[14]) },
            ),
            Style::Trap => {
                let mut kick = mask(&[0]);
                for _ in 0..r.range(2, 3) {
                    kick |= 1 << r.pick(&[3u32, 6, 7, 10, 11, 14]);
                }
                let open = if r.chance(0.3) { mask(&[14]) } else { 0 };
                (kick, mask(&[8]), hats, open)
            }
            Style::BoomBap => (
                mask(&[0, 10]) | (1 << r.pick(&[6u32, 7])) | if r.chance(0.3) { mask(&[15]) } else { 0 },
                mask(&[4, 12]),
                eighths,
                if r.chance(0.3) { mask(&[14]) } else { 0 },
            ),
            Style::Dnb => (mask(&[0, 10]) | if r.chance(0.4) { mask(&[6]) } else { 0 }, mask(&[4, 12]), eighths, 0),
            Style::Dembow => (mask(&[0, 4, 8, 12]), mask(&[3, 6, 11, 14]), eighths, 0),
            Style::Rock => (
                mask(&[0, 8]) | (1 << r.pick(&[6u32, 10])),
                mask(&[4, 12]),
                eighths,
                if r.chance(0.2) { mask(&[14]) } else { 0 },
            ),
            Style::Pop => (
                mask(&[0, 8]) | if r.chance(0.6) { 1 << r.pick(&[6u32, 10, 11]) } else { 0 },
                mask(&[4, 12]),
                hats,
                if r.chance(0.3) { mask(&[14]) } else { 0 },
            ),
            Style::Ballad => (mask(&[0, 10]), mask(&[8]), eighths, 0),
        },
    };
    hat &= !open;
    let ghost_style = matches!(style, Style::BoomBap | Style::Pop | Style::Rock);
    let ghosts = if c.p.meter == Meter::Four && ghost_style && r.chance(0.4) {
        ((1 << r.pick(&[7u32, 9, 15])) | (1 << r.pick(&[7u32, 9, 15]))) & !snare
    } else {
        0
    };
    let swing = if r.chance(GENRES[c.p.genre].swing) { c.step / 3 } else { 0 };
    Groove { kick, snare, hat, open, ghosts, rolls: style == Style::Trap && c.p.meter == Meter::Four, swing }
}

/// One bar of drums starting at `start`. `fill`: snare fill in the last beat.
fn drum_bar(c: &mut Ctx, evs: &mut Vec<Ev>, g: &Groove, start: u32, fill: bool, sparse: bool) {
    let step = c.step;
    let hum = c.p.humanize;
    let jitter_max = u32::from(c.p.ppq) / 96;
    let hit = step / 2;
    let roll_beat = if g.rolls && c.rng.chance(0.6) { Some(c.rng.below(4)) } else { None };
    let roll_div = if c.rng.chance(0.5) { 8 } else { 6 };
    for s in 0..c.steps {
        let mut tick = start + s * step;
        if s % 2 == 1 {
            tick += g.swing;
        }
        let on = |m: u32| m & (1 << s) != 0;
        let beat = s / 4;
        let mut hits: [(u8, u8); 4] = [(0, 0); 4];
        let mut n = 0;
        if on(g.kick) || (!sparse && !fill && hum && s % 2 == 1 && c.rng.chance(0.03)) {
            let v = if hum { c.rng.vel(112, 12) } else { 120 };
            hits[n] = (KICK, v);
            n += 1;
        }
        let fill_here = fill && s + 4 >= c.steps && s % 2 == 0 || fill && s + 2 >= c.steps;
        if !sparse && (on(g.snare) || fill_here) {
            let v = if fill_here {
                (70 + 12 * (s + 4).saturating_sub(c.steps)).min(127) as u8
            } else if hum {
                c.rng.vel(108, 12)
            } else {
                110
            };
            hits[n] = (SNARE, v);
            n += 1;
        } else if !sparse && on(g.ghosts) {
            hits[n] = (SNARE, c.rng.vel(35, 10));
            n += 1;
        }
        let rolled = roll_beat == Some(beat);
        if on(g.hat) && !rolled {
            let center = if s % 4 == 0 {
                98
            } else if s % 2 == 0 {
                80
            } else {
                62
            };
            let v = if hum { c.rng.vel(center, 10) } else { center as u8 };
            hits[n] = (CLOSED_HAT, v);
            n += 1;
        }
        if on(g.open) && !sparse {
            let v = if hum { c.rng.vel(90, 8) } else { 90 };
            hits[n] = (OPEN_HAT, v);
            n += 1;
        }
        for &(key, vel) in &hits[..n] {
            let j = if hum && jitter_max > 0 { c.rng.below(jitter_max * 2 + 1) } else { jitter_max };
            let t = (tick + j).saturating_sub(jitter_max);
            note(evs, DRUM_CH, key, vel, t, hit);
        }
        if rolled && s % 4 == 0 {
            let sub = u32::from(c.p.ppq) / roll_div;
            for k in 0..roll_div {
                let v = if hum { c.rng.vel(60 + 5 * k, 6) } else { (60 + 5 * k) as u8 };
                note(evs, DRUM_CH, CLOSED_HAT, v, tick + k * sub, sub / 2);
            }
        }
    }
}

/// Bass onsets in one bar: (step, length in steps, legato).
fn bass_pattern(c: &mut Ctx) -> (Vec<(u32, u32)>, bool) {
    let style = GENRES[c.p.genre].style;
    let r = &mut c.rng;
    let onsets: Vec<u32> = match c.p.meter {
        Meter::Three => vec![0, 4, 8],
        Meter::SixEight => {
            if r.chance(0.5) {
                vec![0, 6]
            } else {
                vec![0, 4, 6, 10]
            }
        }
        Meter::Four => match style {
            Style::Trap => {
                let mut v = vec![0, r.pick(&[3, 6, 7]), r.pick(&[10, 11])];
                if r.chance(0.4) {
                    v.push(14);
                }
                v
            }
            Style::FourFloor => {
                if r.chance(0.6) {
                    vec![2, 6, 10, 14]
                } else {
                    vec![2, 3, 6, 7, 10, 11, 14, 15]
                }
            }
            Style::BoomBap | Style::Ballad => {
                let mut v = vec![0, r.pick(&[6, 7]), 10];
                if r.chance(0.5) {
                    v.push(14);
                }
                v
            }
            Style::Dnb => {
                if r.chance(0.5) {
                    vec![0, 10]
                } else {
                    vec![0, 3, 10]
                }
            }
            Style::Dembow => vec![0, 3, 4, 8, 11, 12],
            Style::Rock | Style::Pop => {
                let mut v: Vec<u32> = (0..8).map(|i| i * 2).collect();
                if r.chance(0.5) {
                    v.retain(|&s| s != 6 && s != 14);
                }
                v
            }
        },
    };
    let legato = matches!(style, Style::Trap | Style::Dnb) || r.chance(0.3);
    let steps = c.steps;
    let pattern = onsets
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let next = onsets.get(i + 1).copied().unwrap_or(steps);
            let room = next - s;
            let len = if legato { room } else { room.min(r.range(1, 4)) };
            (s, len.max(1))
        })
        .collect();
    (pattern, legato)
}

/// One bar of bass notes (start, duration, pitch, velocity) appended to `notes`.
fn bass_bar(c: &mut Ctx, notes: &mut Vec<BassNote>, h: &Harmony, bar: u32, pat: &[(u32, u32)], legato: bool) {
    let start = bar * c.bar_ticks();
    for &(s, len) in pat {
        let deg = h.at(bar * c.steps + s);
        let root = c.root_at_or_above(deg, 28);
        let pitch = match c.rng.below(20) {
            0..=13 => root,
            14..=15 => root + 12,
            16..=18 => root + 7,
            _ => c.root_at_or_above((deg + 1) % 7, root),
        };
        let pitch = pitch.clamp(28, 55) as u8;
        let gap = if legato { 0 } else { c.step / 4 };
        let vel = if c.p.humanize { c.rng.vel(100, 12) } else { 100 };
        notes.push((start + s * c.step, len * c.step - gap, pitch, vel));
    }
}

type BassNote = (u32, u32, u8, u8);

fn bend(evs: &mut Vec<Ev>, ch: u8, tick: u32, value: i32) {
    let v = value.clamp(0, 16383) as u16;
    chan(evs, tick, 0xE0 | ch, (v & 0x7F) as u8, (v >> 7) as u8);
}

/// Emits monophonic bass notes; with `glide`, 808-style pitch-bend slides into the next note
/// (bend range +-2 semitones), reset before the next note starts.
fn emit_bass(c: &mut Ctx, evs: &mut Vec<Ev>, ch: u8, notes: &[BassNote], glide: bool) {
    for (i, &(start, dur, pitch, vel)) in notes.iter().enumerate() {
        note(evs, ch, pitch, vel, start, dur);
        let Some(&(next, _, next_pitch, _)) = notes.get(i + 1) else {
            continue;
        };
        let diff = i32::from(next_pitch) - i32::from(pitch);
        if !glide || diff == 0 || start + dur != next || dur < 2 * c.step || !c.rng.chance(0.5) {
            continue;
        }
        let target = diff.clamp(-2, 2) * 4095;
        let from = start + dur - c.step;
        for k in 0..4i32 {
            bend(evs, ch, from + k as u32 * c.step / 4, 8192 + target * (k + 1) / 4);
        }
        bend(evs, ch, next, 8192);
    }
}

/// A controller curve (mod wheel, expression or filter cutoff) over ticks `from..to`.
fn automation(c: &mut Ctx, evs: &mut Vec<Ev>, ch: u8, from: u32, to: u32) {
    let cc = c.rng.pick(&[1u8, 11, 74]);
    let res = if c.p.ppq >= 384 && c.rng.chance(0.3) { c.step / 2 } else { c.step };
    let shape = c.rng.below(3);
    let bar = c.bar_ticks().max(1);
    let period = f64::from(bar * c.rng.range(1, 2));
    let lo = c.rng.range(0, 40);
    let hi = c.rng.range(80, 127);
    let span = f64::from(to.saturating_sub(from).max(1));
    let mut last = u32::MAX;
    let mut t = from;
    while t < to {
        let x = f64::from(t - from);
        let phase = match shape {
            0 => 0.5 - 0.5 * (x / period * std::f64::consts::TAU).cos(),
            1 => x / span,
            _ => f64::from((t - from) % bar) / f64::from(bar),
        };
        let v = (lo + (f64::from(hi - lo) * phase).round() as u32).min(127);
        if v != last {
            chan(evs, t, 0xB0 | ch, cc, v as u8);
            last = v;
        }
        t += res.max(1);
    }
}

/// Held chord voicing for degree `deg` in 48-76 (plus an optional bass note below).
fn chord_notes(c: &mut Ctx, deg: u8, inversion: bool) -> Vec<u8> {
    let root = c.root_at_or_above(deg, 48);
    let mut notes: Vec<i32> = c.chord_intervals(deg).into_iter().map(|i| root + i).collect();
    if inversion {
        notes[0] += 12;
    }
    notes.into_iter().map(|n| n.clamp(48, 76) as u8).collect()
}

fn chords_part(c: &mut Ctx, evs: &mut Vec<Ev>, ch: u8, h: &Harmony, from_step: u32, to_step: u32, with_bass: bool) {
    let slot = h.slot.max(1);
    let mut s = from_step.div_ceil(slot) * slot;
    while s < to_step {
        let end = (s + slot).min(to_step);
        let deg = h.at(s);
        let inversion = c.rng.chance(0.3);
        let notes = chord_notes(c, deg, inversion);
        let start = s * c.step;
        let dur = (end - s) * c.step;
        for n in notes {
            let vel = if c.p.humanize { c.rng.vel(84, 12) } else { 90 };
            note(evs, ch, n, vel, start, dur);
        }
        if with_bass {
            let b = (c.root_at_or_above(deg, 48) - 12).clamp(36, 47) as u8;
            note(evs, ch, b, 80, start, dur);
        }
        if c.pedal && dur > c.step {
            chan(evs, start + c.step / 4, 0xB0 | ch, 64, 127);
            chan(evs, start + dur - c.step / 8, 0xB0 | ch, 64, 0);
        }
        s = end;
    }
}

/// A melody motif for one bar: (step, length, pitch), monophonic, pitches in `lo..=hi`.
fn motif(c: &mut Ctx, h: &Harmony, bar: u32, lo: i32, hi: i32, cur: &mut i32) -> Vec<(u32, u32, u8)> {
    let tonic = 60 + i32::from(c.p.tonic);
    let mut out = Vec::new();
    let mut s = 0;
    while s < c.steps {
        let len = c.rng.weighted(&[(1u32, 12), (2, 40), (3, 10), (4, 25), (6, 8), (8, 5)]).min(c.steps - s);
        if !(s == 0 && c.rng.chance(0.7)) && c.rng.chance(0.18) {
            s += len;
            continue;
        }
        let step_by = c.rng.weighted(&[(-2i32, 10), (-1, 30), (0, 10), (1, 30), (2, 12), (3, 4), (-3, 4)]);
        let mut next = *cur + step_by;
        if s % 4 == 0 && c.rng.chance(0.6) {
            // Land on a chord tone on the beat.
            let chord = i32::from(h.at(bar * c.steps + s));
            for delta in [0, -1, 1, -2, 2, -3, 3] {
                let d = next + delta;
                if matches!((d - chord).rem_euclid(7), 0 | 2 | 4) {
                    next = d;
                    break;
                }
            }
        }
        while tonic + c.degree(next) > hi {
            next -= 7;
        }
        while tonic + c.degree(next) < lo {
            next += 7;
        }
        *cur = next;
        let pitch = (tonic + c.degree(next)).clamp(lo, hi) as u8;
        out.push((s, len, pitch));
        s += len;
    }
    if out.is_empty() {
        out.push((0, 4.min(c.steps), (tonic + c.degree(*cur)).clamp(lo, hi) as u8));
    }
    out
}

fn melody_part(c: &mut Ctx, evs: &mut Vec<Ev>, ch: u8, bars: std::ops::Range<u32>, phrase: &[Vec<(u32, u32, u8)>]) {
    let legato = c.rng.chance(0.5);
    let scoops = c.p.automation && c.rng.chance(0.5);
    for (i, bar) in bars.enumerate() {
        let Some(m) = phrase.get(i % phrase.len().max(1)) else {
            return;
        };
        let start = bar * c.bar_ticks();
        for &(s, len, pitch) in m {
            let gap = if legato { 0 } else { c.step / 4 };
            let vel = if c.p.humanize { c.rng.vel(if s % 4 == 0 { 100 } else { 88 }, 10) } else { 100 };
            let t = start + s * c.step;
            if scoops && len >= 2 && c.rng.chance(0.3) {
                bend(evs, ch, t, 8192 - 1200);
                bend(evs, ch, t + c.step / 4, 8192 - 600);
                bend(evs, ch, t + c.step / 2, 8192);
            }
            note(evs, ch, pitch, vel, t, len * c.step - gap);
        }
    }
}

/// Phrase of `n` bars in the A B A C shape.
fn phrase(c: &mut Ctx, h: &Harmony, first_bar: u32, n: u32, lo: i32, hi: i32) -> Vec<Vec<(u32, u32, u8)>> {
    let mut cur = c.rng.range(0, 4) as i32;
    let a = motif(c, h, first_bar, lo, hi, &mut cur);
    let mut out = vec![a.clone()];
    for i in 1..n {
        let m = if i % 4 == 2 && c.rng.chance(0.7) { a.clone() } else { motif(c, h, first_bar + i, lo, hi, &mut cur) };
        out.push(m);
    }
    out
}

fn arp_part(c: &mut Ctx, evs: &mut Vec<Ev>, ch: u8, h: &Harmony, bars: std::ops::Range<u32>) {
    let rate = if c.rng.chance(0.6) { 1 } else { 2 };
    let up_down = c.rng.chance(0.4);
    for bar in bars {
        let mut s = 0;
        let mut k = 0usize;
        while s < c.steps {
            let deg = h.at(bar * c.steps + s);
            let root = c.root_at_or_above(deg, 60);
            let mut tones: Vec<i32> = c.chord_intervals(deg).into_iter().map(|i| root + i).collect();
            tones.push(root + 12);
            tones.retain(|&t| (60..=84).contains(&t));
            if tones.is_empty() {
                tones.push(root.clamp(60, 84));
            }
            let n = tones.len();
            let idx = if up_down && (k / n) % 2 == 1 { n - 1 - k % n } else { k % n };
            let vel = if c.p.humanize { c.rng.vel(80, 10) } else { 85 };
            note(evs, ch, tones[idx] as u8, vel, bar * c.bar_ticks() + s * c.step, rate * c.step - c.step / 4);
            s += rate;
            k += 1;
        }
    }
}

fn pad_part(c: &mut Ctx, evs: &mut Vec<Ev>, ch: u8, h: &Harmony, from_step: u32, to_step: u32) {
    let saved = c.sevenths;
    c.sevenths = true;
    chords_part(c, evs, ch, h, from_step, to_step, false);
    c.sevenths = saved;
}

fn counter_part(c: &mut Ctx, evs: &mut Vec<Ev>, ch: u8, h: &Harmony, bars: std::ops::Range<u32>) {
    let half = c.steps / 2;
    for bar in bars {
        for k in 0..2 {
            let s = bar * c.steps + k * half;
            let deg = h.at(s);
            let root = c.root_at_or_above(deg, 55);
            let iv = c.chord_intervals(deg);
            let pitch = (root + iv[1 + (k as usize % 2)]).clamp(55, 79) as u8;
            let vel = if c.p.humanize { c.rng.vel(72, 8) } else { 75 };
            note(evs, ch, pitch, vel, s * c.step, half * c.step - c.step / 4);
        }
    }
}

fn program_for(rng: &mut Rng, kind: Kind) -> u8 {
    match kind {
        Kind::Bass => rng.range(32, 39) as u8,
        Kind::Chords => rng.pick(&[0u8, 1, 2, 4, 5, 16, 48, 49, 88, 89, 90]),
        Kind::Melody | Kind::Song => {
            if rng.chance(0.5) {
                rng.range(0, 31) as u8
            } else {
                rng.range(80, 87) as u8
            }
        }
        Kind::Drums => 0,
    }
}

struct Part {
    name: &'static str,
    ch: u8,
    program: Option<u8>,
    evs: Vec<Ev>,
}

fn marker_text(seed: u64, idx: u64) -> String {
    format!("midid-gen {seed:016x}/{idx}")
}

/// Renders the good file `idx` of corpus `seed` with parameters `p`. `record` keeps the offsets
/// of channel events (used to cut a track mid-event).
fn build(p: &Params, seed: u64, idx: u64, record: bool) -> Smf {
    let mut c = Ctx {
        p,
        rng: Rng::new(seed, idx, STREAM_CONTENT),
        step: u32::from(p.ppq) / 4,
        steps: p.meter.steps(),
        scale: if p.minor { MINOR } else { MAJOR },
        harmonic: false,
        sevenths: false,
        pedal: false,
    };
    c.harmonic = p.minor && c.rng.chance(0.5);
    c.sevenths = match p.kind {
        Kind::Chords => c.rng.chance(0.4),
        Kind::Song => c.rng.chance(0.3),
        _ => false,
    };
    let marker = marker_text(seed, idx);
    let (parts, end, tempo_changes, title) = if p.kind == Kind::Song {
        song(&mut c)
    } else {
        let (part, end) = loop_part(&mut c);
        (vec![part], end, Vec::new(), None)
    };

    let ts = p.meter.time_signature();
    let sf = key_sf(p.tonic, p.minor);
    let key_meta = p.kind != Kind::Drums || c.rng.chance(0.3);
    let write_conductor_metas = |t: &mut TrackBuf, p: &Params| {
        t.meta(0, 0x58, &ts);
        if key_meta {
            t.meta(0, 0x59, &[sf as u8, u8::from(p.minor)]);
        }
        if p.tempo_meta {
            t.tempo(0, p.bpm);
        }
    };

    let mut tracks = Vec::new();
    match p.layout {
        Layout::Format0 | Layout::Format1Single => {
            let mut t = TrackBuf::new(p, record);
            let name = title.as_deref().unwrap_or(parts.first().map_or("MIDI 01", |x| x.name));
            t.meta(0, 0x03, name.as_bytes());
            t.meta(0, 0x01, marker.as_bytes());
            file_metas(&mut t, p, &mut c.rng);
            if let (Daw::Annotated, Some(first)) = (p.daw, parts.first()) {
                t.meta(0, 0x04, instrument_name(first.ch, first.program).as_bytes());
            }
            write_conductor_metas(&mut t, p);
            let mut all: Vec<Ev> = tempo_changes;
            for part in parts {
                all.extend(part_prelude(p, &mut c.rng, &part));
                all.extend(part.evs);
            }
            t.events(&mut all);
            tracks.push(t.finish(end));
        }
        Layout::Conductor => {
            let mut t = TrackBuf::new(p, false);
            if let Some(title) = &title {
                t.meta(0, 0x03, title.as_bytes());
            }
            t.meta(0, 0x01, marker.as_bytes());
            file_metas(&mut t, p, &mut c.rng);
            write_conductor_metas(&mut t, p);
            let mut changes = tempo_changes;
            t.events(&mut changes);
            tracks.push(t.finish(end));
            let n = parts.len();
            for (i, part) in parts.into_iter().enumerate() {
                let mut t = TrackBuf::new(p, record && i + 1 == n);
                t.meta(0, 0x03, part.name.as_bytes());
                if p.daw == Daw::Annotated {
                    t.meta(0, 0x04, instrument_name(part.ch, part.program).as_bytes());
                }
                let mut evs = part_prelude(p, &mut c.rng, &part);
                evs.extend(part.evs);
                t.events(&mut evs);
                tracks.push(t.finish(end));
            }
        }
    }
    Smf { format: if p.layout == Layout::Format0 { 0 } else { 1 }, ntrks: tracks.len() as u16, division: p.ppq, tracks }
}

/// What the exporting DAW writes at the start of the first track.
fn file_metas(t: &mut TrackBuf, p: &Params, rng: &mut Rng) {
    match p.daw {
        Daw::Annotated => {
            let year = 2008 + rng.below(17);
            let pack = GENRES[p.genre].pack;
            let copyright = match rng.below(3) {
                // Latin-1, as old sequencers wrote it: not valid UTF-8.
                0 => [&[0xA9u8][..], format!(" {year} {pack} Productions").as_bytes()].concat(),
                1 => format!("© {year} {pack} Productions").into_bytes(),
                _ => format!("(C) {year} All rights reserved").into_bytes(),
            };
            t.meta(0, 0x02, &copyright);
            // SMPTE offset: 30 fps, 00:00:00:00.00.
            t.meta(0, 0x54, &[0x60, 0, 0, 0, 0]);
        }
        Daw::Sysex => {
            t.meta(0, 0x21, &[0]);
            // GM System On.
            t.sysex(0, &[0x7E, 0x7F, 0x09, 0x01, 0xF7]);
            t.meta(0, 0x7F, &[0x00, 0x00, 0x41, rng.below(128) as u8]);
        }
        Daw::Minimal | Daw::Controllers => {}
    }
}

fn instrument_name(ch: u8, program: Option<u8>) -> &'static str {
    if ch == DRUM_CH {
        return "Standard Kit";
    }
    match program.unwrap_or(0) {
        0..=7 => "Grand Piano",
        8..=15 => "Bells",
        16..=23 => "Organ",
        24..=31 => "Guitar",
        32..=39 => "Bass",
        40..=55 => "Strings",
        80..=87 => "Synth Lead",
        88..=95 => "Synth Pad",
        _ => "Instrument",
    }
}

/// Controllers and program change at tick 0 for one part, in the order the DAW writes them.
fn part_prelude(p: &Params, rng: &mut Rng, part: &Part) -> Vec<Ev> {
    let mut evs = Vec::with_capacity(12);
    let ch = part.ch;
    let cc = |evs: &mut Vec<Ev>, n: u8, v: u8| chan(evs, 0, 0xB0 | ch, n, v);
    let program = |evs: &mut Vec<Ev>| {
        if let Some(prog) = part.program {
            chan(evs, 0, 0xC0 | ch, prog, 0);
        }
    };
    match p.daw {
        Daw::Controllers => {
            cc(&mut evs, 121, 0);
            cc(&mut evs, 0, 0);
            cc(&mut evs, 32, 0);
            program(&mut evs);
            cc(&mut evs, 7, rng.range(90, 110) as u8);
            cc(&mut evs, 10, 64);
            cc(&mut evs, 91, rng.range(0, 40) as u8);
            cc(&mut evs, 93, 0);
            cc(&mut evs, 1, 0);
            cc(&mut evs, 64, 0);
        }
        Daw::Annotated | Daw::Sysex => {
            program(&mut evs);
            cc(&mut evs, 7, 100);
            cc(&mut evs, 10, if p.kind == Kind::Song { rng.range(34, 94) as u8 } else { 64 });
        }
        Daw::Minimal => {
            program(&mut evs);
            if p.kind == Kind::Song {
                cc(&mut evs, 7, rng.range(80, 110) as u8);
                cc(&mut evs, 10, rng.range(34, 94) as u8);
            }
        }
    }
    evs
}

/// One loop's single part and its end tick.
fn loop_part(c: &mut Ctx) -> (Part, u32) {
    let p = c.p;
    let bars = p.bars.max(1);
    let end = bars * c.bar_ticks();
    let mut evs = Vec::with_capacity(64 * bars as usize);
    let ch = if p.kind == Kind::Drums { DRUM_CH } else { c.rng.pick(&[0u8, 0, 0, 1, 2]) };
    let h = if p.kind == Kind::Chords {
        let n = p.chords.max(1);
        Harmony { prog: c.progression(n as usize), slot: bars * c.steps / n }
    } else {
        let n = bars.min(4) as usize;
        Harmony { prog: c.progression(n), slot: c.steps }
    };
    let program = match p.kind {
        Kind::Drums => c.rng.chance(0.4).then_some(0),
        k => Some(program_for(&mut c.rng, k)),
    };
    c.pedal = p.kind == Kind::Chords && program.is_some_and(|x| x < 8) && c.rng.chance(0.7);
    let name = match p.kind {
        // Songs are built by `song`; the arm only keeps the match exhaustive.
        Kind::Drums | Kind::Song => {
            let dense = c.rng.chance(0.55);
            let g = groove(c, dense);
            for bar in 0..bars {
                let fill = bars >= 2 && bar + 1 == bars && c.rng.chance(0.4);
                drum_bar(c, &mut evs, &g, bar * c.bar_ticks(), fill, false);
            }
            c.rng.pick(&["Drums", "Drum Loop", "Kit", "MIDI 01", "Beat"])
        }
        Kind::Bass => {
            let (pat, legato) = bass_pattern(c);
            let mut notes = Vec::new();
            for bar in 0..bars {
                bass_bar(c, &mut notes, &h, bar, &pat, legato);
            }
            let glide = legato && (GENRES[p.genre].style == Style::Trap || p.automation);
            emit_bass(c, &mut evs, ch, &notes, glide);
            c.rng.pick(&["Bass", "808", "Sub", "Bassline", "MIDI 01"])
        }
        Kind::Chords => {
            let with_bass = c.rng.chance(0.25);
            chords_part(c, &mut evs, ch, &h, 0, bars * c.steps, with_bass);
            c.rng.pick(&["Chords", "Piano", "Keys", "Pad", "MIDI 01"])
        }
        Kind::Melody => {
            let ph = phrase(c, &h, 0, bars, 60, 84);
            melody_part(c, &mut evs, ch, 0..bars, &ph);
            c.rng.pick(&["Melody", "Lead", "Pluck", "Synth", "MIDI 01"])
        }
    };
    if p.automation && p.kind != Kind::Drums {
        automation(c, &mut evs, ch, 0, end);
    }
    (Part { name, ch, program, evs }, end)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Intro,
    Verse,
    Chorus,
    Bridge,
    Outro,
}

impl Section {
    fn marker(self) -> &'static str {
        match self {
            Section::Intro => "Intro",
            Section::Verse => "Verse",
            Section::Chorus => "Chorus",
            Section::Bridge => "Bridge",
            Section::Outro => "Outro",
        }
    }
}

type SongParts = (Vec<Part>, u32, Vec<Ev>, Option<String>);

/// A multi-track song: drums, bass, chords, melody and up to two extra parts, in sections.
fn song(c: &mut Ctx) -> SongParts {
    let p = c.p;
    let bars = p.bars.max(8);
    let bar_ticks = c.bar_ticks();
    let end = bars * bar_ticks;

    // Sections of 4 or 8 bars.
    let template = [
        (Section::Intro, 4),
        (Section::Verse, 8),
        (Section::Chorus, 8),
        (Section::Verse, 8),
        (Section::Chorus, 8),
        (Section::Bridge, 4),
        (Section::Chorus, 8),
        (Section::Outro, 4),
    ];
    let mut sections: Vec<(Section, u32, u32)> = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < bars {
        let (s, len) = template[i % template.len()];
        let s = if at + len >= bars && bars > 8 { Section::Outro } else { s };
        let len = len.min(bars - at);
        sections.push((s, at, at + len));
        at += len;
        i += 1;
    }

    let slot = if c.rng.chance(0.3) { 2 * c.steps } else { c.steps };
    let verse_h = Harmony { prog: c.progression(4), slot };
    let chorus_h = if c.rng.chance(0.5) {
        Harmony { prog: c.progression(4), slot }
    } else {
        Harmony { prog: verse_h.prog.clone(), slot }
    };
    let harmony = |s: Section| {
        if s == Section::Chorus {
            &chorus_h
        } else {
            &verse_h
        }
    };

    // Tempo changes and section markers (conductor).
    let mut cond = Vec::new();
    if c.rng.chance(0.6) {
        for &(s, from, _) in &sections {
            cond.push(Ev { tick: from * bar_ticks, pri: 0, data: EvData::Marker(s.marker()) });
        }
    }
    if c.rng.chance(0.35) && sections.len() > 2 {
        let (_, from, _) = sections[sections.len() / 2];
        let delta = c.rng.range(3, 12) as i32 * if c.rng.chance(0.5) { 1 } else { -1 };
        let bpm = (p.bpm as i32 + delta).clamp(70, 174) as u32;
        cond.push(Ev { tick: from * bar_ticks, pri: 0, data: EvData::Tempo(bpm) });
        if c.rng.chance(0.5) && bars >= 4 {
            // Ritardando over the last two bars.
            for k in 0..4 {
                cond.push(Ev {
                    tick: end - 2 * bar_ticks + k * bar_ticks / 2,
                    pri: 0,
                    data: EvData::Tempo(bpm.saturating_sub(3 * (k + 1)).clamp(70, 174)),
                });
            }
        }
    }

    let n_tracks = c.rng.range(3, 6);
    let mut channels = 0u8..9;
    let mut next_ch = || channels.next().unwrap_or(8);
    let mut parts = Vec::new();

    // Drums (always).
    {
        let verse_g = groove(c, false);
        let dense = c.rng.chance(0.7);
        let chorus_g = groove(c, dense);
        let mut evs = Vec::with_capacity(48 * bars as usize);
        for &(s, from, to) in &sections {
            let g = if s == Section::Chorus { &chorus_g } else { &verse_g };
            for bar in from..to {
                let sparse = s == Section::Intro || (s == Section::Outro && bar + 1 == to);
                let fill = bar + 1 == to && s != Section::Outro && c.rng.chance(0.6);
                drum_bar(c, &mut evs, g, bar * bar_ticks, fill, sparse);
            }
        }
        parts.push(Part { name: "Drums", ch: DRUM_CH, program: Some(0), evs });
    }
    // Bass.
    if n_tracks >= 2 {
        let ch = next_ch();
        let (pat, legato) = bass_pattern(c);
        let mut notes = Vec::new();
        for &(s, from, to) in &sections {
            if s == Section::Intro {
                continue;
            }
            for bar in from..to {
                bass_bar(c, &mut notes, harmony(s), bar, &pat, legato);
            }
        }
        let mut evs = Vec::new();
        let glide = legato && GENRES[p.genre].style == Style::Trap;
        emit_bass(c, &mut evs, ch, &notes, glide);
        parts.push(Part { name: "Bass", ch, program: Some(program_for(&mut c.rng, Kind::Bass)), evs });
    }
    // Chords.
    {
        let ch = next_ch();
        let mut evs = Vec::new();
        let program = program_for(&mut c.rng, Kind::Chords);
        c.pedal = program < 8 && c.rng.chance(0.6);
        for &(s, from, to) in &sections {
            chords_part(c, &mut evs, ch, harmony(s), from * c.steps, to * c.steps, false);
        }
        c.pedal = false;
        parts.push(Part { name: "Chords", ch, program: Some(program), evs });
    }
    // Melody.
    {
        let ch = next_ch();
        let mut evs = Vec::new();
        let verse_ph = phrase(c, &verse_h, 0, 4, 60, 84);
        let chorus_ph = phrase(c, &chorus_h, 0, 4, 64, 84);
        for &(s, from, to) in &sections {
            match s {
                Section::Verse => melody_part(c, &mut evs, ch, from..to, &verse_ph),
                Section::Chorus => melody_part(c, &mut evs, ch, from..to, &chorus_ph),
                _ => {}
            }
        }
        if c.rng.chance(0.4) {
            automation(c, &mut evs, ch, 0, end);
        }
        parts.push(Part { name: "Lead", ch, program: Some(program_for(&mut c.rng, Kind::Melody)), evs });
    }
    // Extras.
    let mut extras = vec![0u8, 1, 2];
    while parts.len() < n_tracks as usize && !extras.is_empty() {
        let e = extras.remove(c.rng.below(extras.len() as u32) as usize);
        let ch = next_ch();
        let mut evs = Vec::new();
        let (name, program) = match e {
            0 => {
                for &(s, from, to) in &sections {
                    pad_part(c, &mut evs, ch, harmony(s), from * c.steps, to * c.steps);
                }
                ("Pad", c.rng.range(88, 95) as u8)
            }
            1 => {
                for &(s, from, to) in &sections {
                    if matches!(s, Section::Chorus | Section::Bridge) {
                        arp_part(c, &mut evs, ch, harmony(s), from..to);
                    }
                }
                ("Arp", c.rng.pick(&[8u8, 9, 10, 11, 80, 81, 82, 84]))
            }
            _ => {
                for &(s, from, to) in &sections {
                    if s != Section::Intro {
                        counter_part(c, &mut evs, ch, harmony(s), from..to);
                    }
                }
                ("Strings", c.rng.range(48, 51) as u8)
            }
        };
        if !evs.is_empty() {
            if c.rng.chance(0.6) {
                automation(c, &mut evs, ch, 0, end);
            }
            parts.push(Part { name, ch, program: Some(program), evs });
        }
    }
    let title = format!("{} {}", c.rng.pick(&TITLE_ADJ), c.rng.pick(&TITLE_NOUN));
    (parts, end, cond, Some(title))
}

// ---------------------------------------------------------------------------------------------
// Damage
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    Empty,
    NotMidi,
    TruncatedHeader,
    DivisionZero,
    DivisionSmpte,
    AbsurdLength,
    CutMidEvent,
    TrailingGarbage,
    MissingEndOfTrack,
    TrackCountMismatch,
}

/// The order damaged files cycle through after the single `Empty` one.
const DAMAGE_CYCLE: [Damage; 9] = [
    Damage::NotMidi,
    Damage::TruncatedHeader,
    Damage::DivisionZero,
    Damage::AbsurdLength,
    Damage::CutMidEvent,
    Damage::TrailingGarbage,
    Damage::MissingEndOfTrack,
    Damage::TrackCountMismatch,
    Damage::DivisionSmpte,
];

impl Damage {
    fn expected(self) -> Expected {
        match self {
            Damage::Empty => Expected::Rejected("empty"),
            Damage::NotMidi => Expected::Rejected("not_midi"),
            Damage::TruncatedHeader => Expected::Rejected("truncated"),
            Damage::DivisionZero | Damage::DivisionSmpte => Expected::Rejected("bad_division"),
            Damage::AbsurdLength | Damage::CutMidEvent => Expected::Repaired("track_truncated"),
            Damage::TrailingGarbage => Expected::Repaired("trailing_data"),
            Damage::MissingEndOfTrack => Expected::Repaired("missing_end_of_track"),
            Damage::TrackCountMismatch => Expected::Repaired("track_count_mismatch"),
        }
    }
}

fn not_midi(seed: u64, idx: u64, seq: u64, rng: &mut Rng) -> Vec<u8> {
    let id = marker_text(seed, idx);
    match seq % 3 {
        0 => {
            // A short RIFF WAVE (16-bit mono PCM) with the id in a LIST/INFO comment.
            let samples = rng.range(200, 1500) as usize;
            let mut comment = id.into_bytes();
            comment.push(0);
            if comment.len() % 2 == 1 {
                comment.push(0);
            }
            let data_len = samples * 2;
            let list_len = 4 + 8 + comment.len();
            let riff_len = 4 + (8 + 16) + (8 + list_len) + (8 + data_len);
            let mut out = Vec::with_capacity(8 + riff_len);
            out.extend_from_slice(b"RIFF");
            out.extend_from_slice(&(riff_len as u32).to_le_bytes());
            out.extend_from_slice(b"WAVEfmt ");
            out.extend_from_slice(&16u32.to_le_bytes());
            out.extend_from_slice(&1u16.to_le_bytes());
            out.extend_from_slice(&1u16.to_le_bytes());
            out.extend_from_slice(&44_100u32.to_le_bytes());
            out.extend_from_slice(&88_200u32.to_le_bytes());
            out.extend_from_slice(&2u16.to_le_bytes());
            out.extend_from_slice(&16u16.to_le_bytes());
            out.extend_from_slice(b"LIST");
            out.extend_from_slice(&(list_len as u32).to_le_bytes());
            out.extend_from_slice(b"INFOICMT");
            out.extend_from_slice(&(comment.len() as u32).to_le_bytes());
            out.extend_from_slice(&comment);
            out.extend_from_slice(b"data");
            out.extend_from_slice(&(data_len as u32).to_le_bytes());
            let freq = rng.range(2, 40) as f64;
            for i in 0..samples {
                let v = (f64::sin(i as f64 * freq * std::f64::consts::TAU / samples as f64) * 12_000.0) as i16;
                out.extend_from_slice(&v.to_le_bytes());
            }
            out
        }
        1 => format!(
            "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n<body>\n\
             <h1>Not Found</h1>\n<p>The requested URL /downloads/packs/{:04}.mid was not found \
             on this server.</p>\n<!-- {id} -->\n</body></html>\n",
            rng.below(10_000)
        )
        .into_bytes(),
        _ => format!(
            "Thank you for downloading this MIDI pack!\r\n\r\nLicense: royalty free for use in \
             your own productions.\r\nDo not redistribute the MIDI files as they are.\r\n\r\n\
             Order reference: {id}\r\n"
        )
        .into_bytes(),
    }
}

fn damaged(p: &Params, seed: u64, idx: u64, d: Damage, seq: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed, idx, STREAM_DAMAGE);
    match d {
        Damage::Empty => Vec::new(),
        Damage::NotMidi => not_midi(seed, idx, seq, &mut rng),
        Damage::TruncatedHeader => {
            // Ends inside the header chunk: 12 or 13 of its 14 bytes. The track count (and the
            // first division byte) carry the damage ordinal, so each one is byte-distinct.
            let mut out = Vec::with_capacity(14);
            let ntrks = 1 + (seq % 0xFFFF) as u16;
            let div_hi = ((seq / 0xFFFF) % 0x80) as u8;
            push_header(&mut out, 1, ntrks, u16::from(div_hi) << 8 | 0x60);
            out.truncate(if div_hi == 0 && rng.chance(0.5) { 12 } else { 13 });
            out
        }
        _ => {
            let mut smf = build(p, seed, idx, d == Damage::CutMidEvent);
            match d {
                Damage::DivisionZero => {
                    smf.division = 0;
                    smf.to_bytes()
                }
                Damage::DivisionSmpte => {
                    // High byte 0x80 is -128 frames per second: no such SMPTE rate.
                    smf.division = 0x8000 | u16::from(rng.pick(&[4u8, 8, 10, 40, 80, 100]));
                    smf.to_bytes()
                }
                Damage::TrailingGarbage => {
                    // Fewer than 8 bytes, not starting with a letter: cannot be a chunk header.
                    let mut out = smf.to_bytes();
                    let n = rng.range(1, 7);
                    out.push(rng.pick(&[0x00, 0x1A, 0x0D, 0xFF]));
                    for _ in 1..n {
                        out.push(rng.below(256) as u8);
                    }
                    out
                }
                Damage::MissingEndOfTrack => {
                    if let Some(last) = smf.tracks.last_mut() {
                        last.body.truncate(last.eot_at);
                    }
                    smf.to_bytes()
                }
                Damage::TrackCountMismatch => {
                    smf.format = 1;
                    smf.ntrks += rng.range(1, 3) as u16;
                    smf.to_bytes()
                }
                Damage::AbsurdLength => {
                    // The last track declares 0x7FFFFFFF bytes; its real events (with End of
                    // Track) follow and the file ends.
                    let mut out = Vec::new();
                    let n = smf.tracks.len();
                    push_header(&mut out, smf.format, smf.ntrks, smf.division);
                    for (i, t) in smf.tracks.iter().enumerate() {
                        let len = if i + 1 == n { 0x7FFF_FFFF } else { t.body.len() as u32 };
                        push_chunk(&mut out, len, &t.body);
                    }
                    out
                }
                Damage::CutMidEvent => {
                    // The last track keeps its declared length but the file ends one byte into a
                    // note or controller event.
                    let mut out = Vec::new();
                    push_header(&mut out, smf.format, smf.ntrks, smf.division);
                    let n = smf.tracks.len();
                    for (i, t) in smf.tracks.iter().enumerate() {
                        if i + 1 < n {
                            push_chunk(&mut out, t.body.len() as u32, &t.body);
                            continue;
                        }
                        let k = t.chan_at.len();
                        let cut = if k == 0 {
                            t.eot_at.saturating_sub(1).max(1)
                        } else {
                            let lo = k * 2 / 5;
                            let hi = (k * 9 / 10).max(lo + 1);
                            t.chan_at[(lo + rng.index(hi - lo)).min(k - 1)] + 1
                        };
                        push_chunk(&mut out, t.body.len() as u32, &t.body[..cut.min(t.body.len())]);
                    }
                    out
                }
                _ => smf.to_bytes(),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Plan and write
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Role {
    Good,
    /// Byte-identical copy of a good file.
    Dup,
    Damaged {
        damage: Damage,
        seq: u64,
    },
}

impl Role {
    fn expected(self) -> Expected {
        match self {
            Role::Good => Expected::Imported,
            Role::Dup => Expected::Duplicate,
            Role::Damaged { damage, .. } => damage.expected(),
        }
    }
}

struct Entry {
    rel: PathBuf,
    role: Role,
    /// Parameters of the content (the source's for a duplicate).
    params: Params,
    /// Index whose content this is (the source's for a duplicate).
    content_idx: u64,
}

fn share(count: usize, share: f64) -> usize {
    if share.is_nan() || share <= 0.0 {
        0
    } else {
        ((count as f64) * share.min(1.0)).round() as usize
    }
}

/// FNV-1a of the lower-cased path: paths that differ only in case count as taken too, so the
/// tree also unpacks onto case-insensitive file systems. A false match only adds a suffix.
fn path_key(rel: &Path) -> u64 {
    rel.to_string_lossy()
        .to_lowercase()
        .bytes()
        .fold(0xCBF2_9CE4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3))
}

fn unique_path(taken: &mut HashSet<u64>, dir: &Path, stem: &str, ext: &str) -> PathBuf {
    let mut rel = dir.join(format!("{stem}{ext}"));
    let mut n = 2;
    while !taken.insert(path_key(&rel)) {
        rel = dir.join(format!("{stem} ({n}){ext}"));
        n += 1;
    }
    rel
}

fn plan(spec: &GenSpec) -> Vec<Entry> {
    let count = spec.count;
    let seed = spec.seed;
    let n_damaged = share(count, spec.damaged_share).min(count);
    let mut n_dup = share(count, spec.duplicate_share).min(count - n_damaged);
    if n_dup == count - n_damaged {
        // A duplicate needs at least one good file to copy.
        n_dup = n_dup.saturating_sub(1);
    }
    let n_good = count - n_damaged - n_dup;

    // 0 good, 1 duplicate, 2 damaged, shuffled.
    let mut roles: Vec<u8> = Vec::with_capacity(count);
    roles.resize(n_good, 0);
    roles.resize(n_good + n_dup, 1);
    roles.resize(count, 2);
    let mut rng = Rng::new(seed, 0, STREAM_PLAN);
    for i in (1..roles.len()).rev() {
        let j = rng.index(i + 1);
        roles.swap(i, j);
    }
    let good: Vec<usize> = (0..count).filter(|&i| roles[i] == 0).collect();
    let n_packs = count.div_ceil(PACK_SIZE).max(1);

    let mut taken = HashSet::with_capacity(count);
    let mut numbers: HashMap<(usize, u8), u32> = HashMap::new();
    let mut entries: Vec<Option<Entry>> = (0..count).map(|_| None).collect();
    let mut damage_seq = 0u64;

    // Good and damaged files, in their packs.
    for i in 0..count {
        if roles[i] == 1 {
            continue;
        }
        let pack = i / PACK_SIZE;
        let mut prng = Rng::new(seed, i as u64, STREAM_PARAMS);
        let params = Params::draw(&mut prng, pack_genre(seed, pack), None, roles[i] == 0);
        let counter = numbers.entry((pack, params.kind as u8)).or_insert(0);
        *counter += 1;
        let stem = file_stem(&mut prng, &params, *counter);
        let (role, ext) = if roles[i] == 0 {
            (Role::Good, extension(&mut prng))
        } else {
            let damage = if damage_seq == 0 {
                Damage::Empty
            } else {
                DAMAGE_CYCLE[((damage_seq - 1) % DAMAGE_CYCLE.len() as u64) as usize]
            };
            let role = Role::Damaged { damage, seq: damage_seq };
            damage_seq += 1;
            (role, ".mid")
        };
        let dir = pack_dir(seed, pack).join(params.kind.folder());
        let rel = unique_path(&mut taken, &dir, &stem, ext);
        entries[i] = Some(Entry { rel, role, params, content_idx: i as u64 });
    }

    // Duplicates: copies of good files, some very popular, in other packs or in bundles.
    let mut dup_seq = 0usize;
    for i in 0..count {
        if roles[i] != 1 || good.is_empty() {
            continue;
        }
        let mut drng = Rng::new(seed, i as u64, STREAM_DUP);
        let src =
            if drng.chance(0.5) { good[drng.index(good.len().div_ceil(10))] } else { good[drng.index(good.len())] };
        let Some(src_entry) = entries[src].as_ref() else {
            continue;
        };
        let params = src_entry.params;
        let stem = src_entry.rel.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let ext = src_entry.rel.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
        let src_pack = src / PACK_SIZE;
        let dir = if n_packs > 1 && drng.chance(0.5) {
            let mut other = drng.index(n_packs - 1);
            if other >= src_pack {
                other += 1;
            }
            pack_dir(seed, other).join(params.kind.folder())
        } else {
            let bundle = dup_seq / PACK_SIZE;
            PathBuf::from("Bundles")
                .join(format!("{} Vol {}", BUNDLES[bundle % BUNDLES.len()], bundle / BUNDLES.len() + 1))
                .join(params.kind.folder())
        };
        let new_stem = match drng.below(6) {
            0 => format!("{stem} (1)"),
            1 => format!("{stem} copy"),
            2 => format!("Copy of {stem}"),
            3 => format!("{:03} - {stem}", dup_seq % 1000 + 1),
            4 => format!("{stem}_v2"),
            _ => stem,
        };
        let rel = unique_path(&mut taken, &dir, &new_stem, &ext);
        dup_seq += 1;
        entries[i] = Some(Entry { rel, role: Role::Dup, params, content_idx: src as u64 });
    }
    entries.into_iter().flatten().collect()
}

fn render(seed: u64, e: &Entry) -> Vec<u8> {
    match e.role {
        Role::Good | Role::Dup => build(&e.params, seed, e.content_idx, false).to_bytes(),
        Role::Damaged { damage, seq } => damaged(&e.params, seed, e.content_idx, damage, seq),
    }
}

/// Renders and writes every entry, on up to 8 threads; returns the sizes in plan order.
fn write_all(dir: &Path, seed: u64, plan: &[Entry]) -> Result<Vec<usize>, GenError> {
    const BLOCK: usize = 64;
    let threads =
        std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8).min(plan.len().div_ceil(BLOCK).max(1));
    let next = AtomicUsize::new(0);
    let first_error: Mutex<Option<(usize, GenError)>> = Mutex::new(None);
    let work = || -> Vec<(usize, usize)> {
        let mut sizes = Vec::new();
        loop {
            let start = next.fetch_add(BLOCK, Ordering::Relaxed);
            if start >= plan.len() {
                break;
            }
            for (i, e) in plan.iter().enumerate().skip(start).take(BLOCK) {
                let bytes = render(seed, e);
                let path = dir.join(&e.rel);
                if let Err(source) = std::fs::write(&path, &bytes) {
                    let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                    if slot.as_ref().is_none_or(|(j, _)| i < *j) {
                        *slot = Some((i, GenError::Io { path, source }));
                    }
                    next.store(plan.len(), Ordering::Relaxed);
                    return sizes;
                }
                sizes.push((i, bytes.len()));
            }
        }
        sizes
    };
    let mut sizes = vec![0usize; plan.len()];
    std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        for (i, n) in work() {
            sizes[i] = n;
        }
        for h in handles {
            // A worker only panics on a bug; surface it rather than report wrong sizes.
            let part = h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            for (i, n) in part {
                sizes[i] = n;
            }
        }
    });
    if let Some((_, err)) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(err);
    }
    Ok(sizes)
}

// The workspace bans `midly::Smf::parse` and `std::fs::read` for import code (clippy.toml). These
// tests read back only the files they just generated, and use midly as a second, independent
// parser to cross-check the byte writer (the daemon's own `midi::parse` would make the check
// circular); midly is only handed files with a metrical division, never the SMPTE 0x80 ones.
#[cfg(test)]
#[allow(clippy::disallowed_methods, reason = "test-only cross-check on files generated here; see above")]
mod tests {
    use super::*;
    use midly::{MetaMessage, MidiMessage, Timing, TrackEventKind};
    use std::collections::HashMap;

    /// A scratch directory removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("midid-gen-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// (channel, key, velocity; 0 = off) per track, in file order.
    fn notes(smf: &midly::Smf) -> Vec<Vec<(u8, u8, u8)>> {
        smf.tracks
            .iter()
            .map(|t| {
                t.iter()
                    .filter_map(|e| match e.kind {
                        TrackEventKind::Midi { channel, message } => match message {
                            MidiMessage::NoteOn { key, vel } => Some((channel.as_int(), key.as_int(), vel.as_int())),
                            MidiMessage::NoteOff { key, .. } => Some((channel.as_int(), key.as_int(), 0)),
                            _ => None,
                        },
                        _ => None,
                    })
                    .collect()
            })
            .collect()
    }

    fn programs(smf: &midly::Smf) -> Vec<(u8, u8)> {
        let mut out = Vec::new();
        for t in &smf.tracks {
            for e in t {
                if let TrackEventKind::Midi { channel, message: MidiMessage::ProgramChange { program } } = e.kind {
                    out.push((channel.as_int(), program.as_int()));
                }
            }
        }
        out
    }

    /// Most notes sounding at once on `ch`, per track, in file order.
    fn max_polyphony(track: &[(u8, u8, u8)], ch: u8) -> usize {
        let mut on: HashMap<u8, usize> = HashMap::new();
        let mut max = 0;
        for &(_, key, vel) in track.iter().filter(|n| n.0 == ch) {
            let n = on.entry(key).or_insert(0);
            if vel > 0 {
                *n += 1;
            } else {
                *n = n.saturating_sub(1);
            }
            max = max.max(on.values().sum());
        }
        max
    }

    fn metas(smf: &midly::Smf) -> (Vec<u32>, usize, usize) {
        let (mut tempos, mut ts, mut ks) = (Vec::new(), 0, 0);
        for t in &smf.tracks {
            for e in t {
                match e.kind {
                    TrackEventKind::Meta(MetaMessage::Tempo(t)) => tempos.push(t.as_int()),
                    TrackEventKind::Meta(MetaMessage::TimeSignature(n, d, _, _)) => {
                        assert!(matches!((n, d), (4, 2) | (3, 2) | (6, 3)), "meter {n}/{d}");
                        ts += 1;
                    }
                    TrackEventKind::Meta(MetaMessage::KeySignature(sf, _)) => {
                        assert!((-7..=7).contains(&sf));
                        ks += 1;
                    }
                    _ => {}
                }
            }
        }
        (tempos, ts, ks)
    }

    /// What the repair policy in `reject.rs` makes of these bytes, decided from the bytes alone:
    /// `Err(reason)` or `Ok(repair notes)`.
    fn oracle(b: &[u8]) -> Result<BTreeSet<&'static str>, &'static str> {
        if b.is_empty() {
            return Err("empty");
        }
        if !b.starts_with(b"MThd") {
            return Err("not_midi");
        }
        if b.len() < 14 {
            return Err("truncated");
        }
        let be32 = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let hdr_len = be32(4) as usize;
        assert_eq!(hdr_len, 6);
        let ntrks = u16::from_be_bytes([b[10], b[11]]);
        let division = u16::from_be_bytes([b[12], b[13]]);
        if division == 0 {
            return Err("bad_division");
        }
        if division & 0x8000 != 0 {
            let fps = ((division >> 8) as u8 as i8).wrapping_neg();
            if !matches!(fps, 24 | 25 | 29 | 30) {
                return Err("bad_division");
            }
        }
        let mut repairs = BTreeSet::new();
        let mut pos = 14;
        let mut tracks = 0;
        while pos < b.len() {
            if b.len() - pos < 8 || !b[pos..pos + 4].iter().all(u8::is_ascii_alphabetic) {
                repairs.insert("trailing_data");
                break;
            }
            let declared = be32(pos + 4) as usize;
            let start = pos + 8;
            let end = start.saturating_add(declared);
            let truncated = end > b.len();
            let body = &b[start..end.min(b.len())];
            assert_eq!(&b[pos..pos + 4], b"MTrk");
            tracks += 1;
            if truncated {
                repairs.insert("track_truncated");
            } else if !ends_with_eot(body) {
                repairs.insert("missing_end_of_track");
            }
            pos = end.min(b.len());
        }
        if tracks == 0 {
            return Err("malformed");
        }
        if tracks != usize::from(ntrks) {
            repairs.insert("track_count_mismatch");
        }
        Ok(repairs)
    }

    /// Walks a track body event by event: true when it decodes completely and ends with End of
    /// Track.
    fn ends_with_eot(body: &[u8]) -> bool {
        let mut i = 0;
        let mut running = 0u8;
        let varlen = |i: &mut usize| -> Option<usize> {
            let mut v = 0usize;
            for _ in 0..4 {
                let byte = *body.get(*i)?;
                *i += 1;
                v = (v << 7) | usize::from(byte & 0x7F);
                if byte & 0x80 == 0 {
                    return Some(v);
                }
            }
            None
        };
        let mut eot = false;
        while i < body.len() {
            if eot || varlen(&mut i).is_none() {
                return false;
            }
            let Some(&first) = body.get(i) else {
                return false;
            };
            let status = if first & 0x80 != 0 {
                i += 1;
                first
            } else {
                running
            };
            match status {
                0xFF => {
                    let Some(&ty) = body.get(i) else { return false };
                    i += 1;
                    let Some(len) = varlen(&mut i) else { return false };
                    i += len;
                    eot = ty == 0x2F;
                    running = 0;
                }
                0xF0 | 0xF7 => {
                    let Some(len) = varlen(&mut i) else { return false };
                    i += len;
                    running = 0;
                }
                0x80..=0xEF => {
                    running = status;
                    i += if matches!(status & 0xF0, 0xC0 | 0xD0) { 1 } else { 2 };
                }
                _ => return false,
            }
        }
        eot && i == body.len()
    }

    fn oracle_expects(bytes: &[u8], expected: Expected) -> bool {
        match (oracle(bytes), expected) {
            (Err(r), Expected::Rejected(code)) => r == code,
            (Ok(notes), Expected::Repaired(note)) => notes.len() == 1 && notes.contains(note),
            (Ok(notes), Expected::Imported | Expected::Duplicate) => notes.is_empty(),
            _ => false,
        }
    }

    #[test]
    fn every_good_kind_parses_with_midly_and_has_notes() {
        for (kind, name) in KIND_NAMES.iter().enumerate() {
            for seed in 0..40 {
                let bytes = midi_bytes(kind, seed);
                assert_eq!(oracle(&bytes), Ok(BTreeSet::new()), "{name} seed {seed}");
                let smf = midly::Smf::parse(&bytes).expect("parses");
                let Timing::Metrical(ppq) = smf.header.timing else { panic!("{name}: timecode") };
                assert!([96, 192, 384, 480, 960].contains(&ppq.as_int()));
                let (tempos, ts, ks) = metas(&smf);
                assert!(!tempos.is_empty() && ts >= 1, "{name}: tempo and meter");
                for t in tempos {
                    let bpm = 60_000_000.0 / f64::from(t);
                    assert!((69.5..=174.5).contains(&bpm), "{name}: {bpm} bpm");
                }
                let tracks = notes(&smf);
                let all: Vec<_> = tracks.iter().flatten().copied().collect();
                let ons = all.iter().filter(|n| n.2 > 0).count();
                let offs = all.len() - ons;
                assert!(ons > 0, "{name} seed {seed}: no notes");
                assert_eq!(ons, offs, "{name}: every note ends");
                let musical = tracks.iter().find(|t| !t.is_empty()).expect("notes");
                let progs = programs(&smf);
                match kind {
                    0 => {
                        assert!(all.iter().all(|n| n.0 == 9));
                        assert!(all.iter().all(|n| [36, 38, 42, 46].contains(&n.1)));
                        assert!(all.iter().any(|n| n.1 == KICK));
                        assert!(all.iter().any(|n| n.1 == CLOSED_HAT || n.1 == OPEN_HAT));
                    }
                    1 => {
                        assert!(all.iter().all(|n| n.0 != 9 && (28..=55).contains(&n.1)));
                        assert_eq!(max_polyphony(musical, musical[0].0), 1, "bass mono");
                        assert!(progs.iter().all(|p| (32..=39).contains(&p.1)));
                        assert_eq!(progs.len(), 1);
                    }
                    2 => {
                        assert!(ks >= 1);
                        assert!(max_polyphony(musical, musical[0].0) >= 3, "chords");
                    }
                    3 => {
                        assert!(all.iter().all(|n| (60..=84).contains(&n.1)));
                        assert_eq!(max_polyphony(musical, musical[0].0), 1, "melody mono");
                        assert!(progs.iter().all(|p| p.1 <= 31 || (80..=87).contains(&p.1)));
                    }
                    _ => {
                        assert!(ks >= 1);
                        let channels: BTreeSet<u8> = all.iter().map(|n| n.0).collect();
                        assert!(channels.len() >= 3 && channels.contains(&9), "{channels:?}");
                        if smf.header.format == midly::Format::Parallel {
                            assert!((4..=7).contains(&smf.tracks.len()));
                            assert!(tracks[0].is_empty(), "conductor has no notes");
                        }
                        for t in tracks.iter().filter(|t| !t.is_empty()) {
                            if t[0].0 == 1 || t[0].0 == 0 {
                                // Bass or chords: no stuck notes.
                                assert!(max_polyphony(t, t[0].0) <= 5);
                            }
                        }
                    }
                }
            }
            assert_ne!(midi_bytes(kind, 1), midi_bytes(kind, 2));
            assert_eq!(midi_bytes(kind, 3), midi_bytes(kind, 3));
        }
    }

    #[test]
    fn corpus_counts_duplicates_and_damage_are_exact() {
        let dir = Scratch::new("corpus");
        let spec = GenSpec { count: 2000, duplicate_share: 0.25, damaged_share: 0.05, seed: 11 };
        let report = generate(&dir.0, &spec).expect("generates");
        assert_eq!(report.files.len(), spec.count);
        assert_eq!(report.unique_good + report.duplicates + report.rejected + report.repaired, spec.count);
        assert_eq!(report.duplicates, 500);
        assert_eq!(report.rejected + report.repaired, 100);

        let paths: HashSet<&PathBuf> = report.files.iter().map(|f| &f.rel_path).collect();
        assert_eq!(paths.len(), spec.count, "paths are unique");

        let mut good: HashMap<Vec<u8>, &Path> = HashMap::new();
        let mut damaged: HashSet<Vec<u8>> = HashSet::new();
        let mut dups = Vec::new();
        let mut total = 0u64;
        let mut empty = 0;
        for f in &report.files {
            let bytes = std::fs::read(dir.0.join(&f.rel_path)).expect("file exists");
            assert_eq!(bytes.len(), f.bytes, "{}", f.rel_path.display());
            total += bytes.len() as u64;
            assert!(
                oracle_expects(&bytes, f.expected),
                "{}: {:?} but the bytes say {:?}",
                f.rel_path.display(),
                f.expected,
                oracle(&bytes)
            );
            match f.expected {
                Expected::Imported => {
                    let smf = midly::Smf::parse(&bytes).expect("good file parses");
                    assert!(notes(&smf).iter().flatten().any(|n| n.2 > 0));
                    assert!(good.insert(bytes, &f.rel_path).is_none(), "good files distinct");
                }
                Expected::Duplicate => dups.push((bytes, &f.rel_path)),
                Expected::Rejected(_) | Expected::Repaired(_) => {
                    empty += usize::from(bytes.is_empty());
                    assert!(damaged.insert(bytes), "{}", f.rel_path.display());
                }
            }
        }
        assert_eq!(total, report.total_bytes);
        assert_eq!(good.len(), report.unique_good);
        assert_eq!(empty, 1);
        for (bytes, path) in &dups {
            let original = good.get(bytes).expect("duplicate copies a good file");
            assert_ne!(original.parent(), path.parent(), "placed elsewhere");
        }
        assert!(damaged.iter().all(|d| !good.contains_key(d)));

        let by_reason = report.count_rejected_by_reason();
        assert_eq!(by_reason.get("empty"), Some(&1));
        for code in ["not_midi", "truncated", "bad_division"] {
            assert!(by_reason.get(code).copied().unwrap_or(0) >= 10, "{code}");
        }
        assert_eq!(by_reason.values().sum::<usize>(), report.rejected);
        let by_note = report.count_repaired_by_note();
        for note in ["track_truncated", "trailing_data", "missing_end_of_track"] {
            assert!(by_note.get(note).copied().unwrap_or(0) >= 10, "{note}");
        }
        assert!(by_note.contains_key("track_count_mismatch"));
        assert_eq!(by_note.values().sum::<usize>(), report.repaired);

        // Lenient midly reads every repairable file and finds notes in it.
        for f in &report.files {
            if let Expected::Repaired(_) = f.expected {
                let bytes = std::fs::read(dir.0.join(&f.rel_path)).expect("file exists");
                let smf = midly::Smf::parse(&bytes).expect("lenient parse");
                assert!(notes(&smf).iter().flatten().any(|n| n.2 > 0));
            }
        }

        // Realistic layout: pack folders, spaces and non-ASCII somewhere, sizes mostly small.
        assert!(report.files.iter().all(|f| f.rel_path.components().count() >= 3));
        assert!(report.files.iter().any(|f| f.rel_path.to_string_lossy().contains(' ')));
        let small =
            report.files.iter().filter(|f| f.expected == Expected::Imported && (300..=8192).contains(&f.bytes)).count();
        assert!(small * 10 >= report.unique_good * 7, "{small} of {}", report.unique_good);
        assert!(report.files.iter().all(|f| f.bytes <= 80_000));
    }

    #[test]
    fn same_seed_same_corpus() {
        let a = Scratch::new("seed-a");
        let b = Scratch::new("seed-b");
        let spec = GenSpec { count: 700, seed: 42, ..GenSpec::default() };
        let ra = generate(&a.0, &spec).expect("generates");
        let rb = generate(&b.0, &spec).expect("generates");
        assert_eq!(ra, rb);
        for f in &ra.files {
            let x = std::fs::read(a.0.join(&f.rel_path)).expect("a");
            let y = std::fs::read(b.0.join(&f.rel_path)).expect("b");
            assert_eq!(x, y, "{}", f.rel_path.display());
        }
        let c = Scratch::new("seed-c");
        let rc = generate(&c.0, &GenSpec { seed: 43, ..spec }).expect("generates");
        assert_ne!(ra.files, rc.files);
    }

    #[test]
    fn edge_shares() {
        let dir = Scratch::new("edges");
        let r = generate(&dir.0.join("zero"), &GenSpec { count: 0, ..GenSpec::default() }).expect("generates");
        assert_eq!(r.files.len(), 0);

        let all_dups = GenSpec { count: 5, duplicate_share: 1.0, damaged_share: 0.0, seed: 3 };
        let r = generate(&dir.0.join("dups"), &all_dups).expect("generates");
        assert_eq!((r.unique_good, r.duplicates), (1, 4));

        let all_damaged = GenSpec { count: 30, duplicate_share: 0.5, damaged_share: 1.0, seed: 3 };
        let r = generate(&dir.0.join("damaged"), &all_damaged).expect("generates");
        assert_eq!(r.rejected + r.repaired, 30);
        assert_eq!(r.count_rejected_by_reason().get("empty"), Some(&1));

        let odd = GenSpec { count: 10, duplicate_share: f64::NAN, damaged_share: -1.0, seed: 3 };
        let r = generate(&dir.0.join("odd"), &odd).expect("generates");
        assert_eq!(r.unique_good, 10);
    }
}
