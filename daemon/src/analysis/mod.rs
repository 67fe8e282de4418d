//! Musical analysis of one file: tempo, key, meter and loops, drums and drum parts, role,
//! chords, statistics, tags from the path, and a musical fingerprint, each with its source and a
//! confidence where it is a guess.
//!
//! It runs on the shard right after `midi::parse`, on the shard's arena (the notes are gathered
//! once into `score::Score`, every detector reads them), and `midid eval` runs the same function
//! against labelled sets to measure accuracy (README).

pub mod key;
pub mod parts;
pub mod rhythm;
pub mod score;
pub mod tags;
pub mod tempo;

/// Recorded with every analysed row (`files.analysis_version`): raise it when a change to the
/// detectors should make stored results count as stale.
pub const VERSION: u32 = 1;

use bumpalo::Bump;
use serde::Serialize;

use self::key::{KeyGuess, Priors};
use self::score::Score;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    pub bpm: f64,
    pub bpm_initial: f64,
    pub bpm_weighted: f64,
    pub bpm_source: &'static str,
    pub bpm_confidence: f64,
    pub tempo_changes: bool,
    /// "A minor"; None when there are no pitched notes to judge by.
    pub key: Option<String>,
    pub tonic: Option<u8>,
    /// "major" or "minor".
    pub mode: Option<&'static str>,
    pub key_confidence: Option<f64>,
    pub key_source: Option<&'static str>,
    pub key_runner_up: Option<String>,
    pub time_signature: String,
    pub meter_source: &'static str,
    pub bars: f64,
    pub loop_bars: Option<u32>,
    pub repeat_bars: Option<u32>,
    pub quantized: bool,
    pub has_drums: bool,
    /// Share of drum notes per part, over all drum parts (only the non-zero ones).
    pub drum_parts: Vec<(&'static str, f32)>,
    pub drum_dominant: Option<&'static str>,
    pub role: &'static str,
    pub role_confidence: f64,
    /// Each part (a track x channel holding notes), in track order.
    pub parts: Vec<PartSummary>,
    pub chords: Vec<String>,
    pub notes: u64,
    pub pitch_min: Option<u8>,
    pub pitch_max: Option<u8>,
    pub polyphony_mean: f64,
    pub polyphony_max: u32,
    /// Notes per second.
    pub density: f64,
    pub velocity_min: Option<u8>,
    pub velocity_max: Option<u8>,
    /// Hex of a hash over the canonical notes (see [`fingerprints`]).
    pub fingerprint: String,
    /// Hex of a hash over the notes up to transposition and a uniform change of tempo (see
    /// [`fingerprints`]); None for files too small for that to mean anything.
    pub shape: Option<String>,
    pub tags: Vec<String>,
}

/// One part as stored in the catalog (`files.parts`, JSON in the shape of the protocol's
/// `PartInfo`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartSummary {
    pub track: u16,
    /// 1-16.
    pub channel: u8,
    pub name: String,
    pub program: Option<u8>,
    pub notes: u32,
    pub drums: bool,
    pub role: &'static str,
    /// The drum part with the most notes, for drum parts.
    pub drum_dominant: Option<&'static str>,
}

impl PartSummary {
    fn of(p: &parts::Part) -> PartSummary {
        let drum_dominant = p
            .drums
            .then(|| {
                // First of equals, as for the file's dominant part.
                let (i, share) =
                    p.drum_shares.iter().enumerate().fold(
                        (0, 0.0f32),
                        |best, (i, s)| {
                            if *s > best.1 {
                                (i, *s)
                            } else {
                                best
                            }
                        },
                    );
                (share > 0.0).then_some(parts::DRUM_PARTS[i])
            })
            .flatten();
        PartSummary {
            track: p.track,
            channel: p.ch + 1,
            name: p.name.clone(),
            program: p.program,
            notes: p.notes,
            drums: p.drums,
            role: p.role,
            drum_dominant,
        }
    }
}

/// Analyses a file that `midi::parse` accepted. `path` is its provenance path (for tags and
/// priors); `end_tick` the parse's duration in ticks.
pub fn analyze(bytes: &[u8], path: &str, end_tick: u64, arena: &Bump) -> Option<Analysis> {
    analyze_import(bytes, path, end_tick, arena, true)
}

/// [`analyze`] as an import runs it: `fingerprints` false (config `fingerprints`) leaves both
/// fingerprints empty, so the file joins no duplicate tier above exact bytes.
pub fn analyze_import(bytes: &[u8], path: &str, end_tick: u64, arena: &Bump, fingerprints: bool) -> Option<Analysis> {
    let score = score::gather(bytes, arena)?;
    Some(analyze_with(&score, path, end_tick, key::PROFILES_USED, fingerprints))
}

pub fn analyze_score(score: &Score, path: &str, end_tick: u64) -> Analysis {
    analyze_with(score, path, end_tick, key::PROFILES_USED, true)
}

/// [`analyze_score`] with a choice of key profiles (bit n: `key::PROFILES[n]`), for `midid eval`,
/// and of whether to compute the fingerprints.
pub fn analyze_with(score: &Score, path: &str, end_tick: u64, key_profiles: u8, fingerprints: bool) -> Analysis {
    let tags = tags::from_path(path);
    let tempo = tempo::analyze(score, tags.bpm, tags::tempo_floor(&tags.tags));
    let rhythm = rhythm::analyze(score, end_tick);
    let parts = parts::parts(score);
    let drum_keys: Vec<(u16, u8)> = parts.iter().filter(|p| p.drums).map(|p| (p.track, p.ch)).collect();
    // Sorted, as `parts` returns parts in key order.
    let is_drum = |n: &score::Note| drum_keys.binary_search(&(n.track, n.ch)).is_ok();

    // Key: duration-weighted pitch classes of the pitched notes (a note counts at most a bar,
    // so one held pedal tone cannot outweigh the music).
    let cap = u64::from(score.ppq.max(1)) * 4;
    let mut pcp = [0.0f32; 12];
    let (mut first_bass, mut final_bass) = (None, None);
    let pitched: Vec<&score::Note> = score.notes.iter().filter(|n| !is_drum(n)).collect();
    // The same profile per section (16 beats, four 4/4 bars; longer when the piece has more than
    // `key::SECTIONS` of them), for `key::before_step_up`.
    let mut sections = [[0.0f32; 12]; key::SECTIONS];
    let span = pitched.last().map_or(0, |n| n.on).saturating_add(1);
    let section_len = (cap * 4).max(span.div_ceil(key::SECTIONS as u64));
    for n in &pitched {
        let w = n.ticks().clamp(1, cap) as f32;
        pcp[usize::from(n.pitch % 12)] += w;
        let s = usize::try_from(n.on / section_len).unwrap_or(usize::MAX).min(key::SECTIONS - 1);
        sections[s][usize::from(n.pitch % 12)] += w;
    }
    if let (Some(first), Some(last)) = (pitched.first(), pitched.last()) {
        first_bass = pitched.iter().take_while(|n| n.on == first.on).map(|n| n.pitch).min().map(|p| p % 12);
        // The final sonority: notes sounding at the last onset.
        let last_on = last.on;
        final_bass =
            pitched.iter().filter(|n| n.off > last_on || n.on == last_on).map(|n| n.pitch).min().map(|p| p % 12);
    }
    let priors =
        Priors { signature: score.key_sigs.first().map(|k| (k.1, k.2)), name: tags.key, final_bass, first_bass };
    // After a late lift (a last chorus a step higher) the notes before it name the key.
    let profile = key::before_step_up(&sections, key_profiles).unwrap_or(pcp);
    let key = key::detect(&profile, &priors, key_profiles);

    let mut drum_totals = [0.0f32; 8];
    let drum_notes: u32 = parts.iter().filter(|p| p.drums).map(|p| p.notes).sum();
    for p in parts.iter().filter(|p| p.drums) {
        for (i, s) in p.drum_shares.iter().enumerate() {
            drum_totals[i] += s * p.notes as f32 / drum_notes.max(1) as f32;
        }
    }
    let drum_parts: Vec<(&'static str, f32)> = parts::DRUM_PARTS
        .iter()
        .zip(drum_totals)
        .filter(|(_, s)| *s > 0.0)
        .map(|(n, s)| (*n, (s * 1000.0).round() / 1000.0))
        .collect();
    // On a tie the part listed first (kick before snare before hats) is the dominant one, as
    // stored lists sort by share with that same order among equals.
    let drum_dominant = drum_parts.iter().fold(None::<(&'static str, f32)>, |best, d| match best {
        Some(b) if b.1 >= d.1 => Some(b),
        _ => Some(*d),
    });
    let drum_dominant = drum_dominant.map(|d| d.0);
    let (role, role_confidence) = parts::file_role(&parts);
    let chords = parts::chords(score, &parts);
    let stats = stats(score, end_tick);
    let (fingerprint, shape) = if fingerprints { self::fingerprints(score, &drum_keys) } else { (String::new(), None) };

    Analysis {
        bpm: tempo.bpm,
        bpm_initial: tempo.initial_bpm,
        bpm_weighted: tempo.weighted_bpm,
        bpm_source: tempo.source,
        bpm_confidence: tempo.confidence,
        tempo_changes: tempo.changes,
        key: key.as_ref().map(|k| k.key.name()),
        tonic: key.as_ref().map(|k| k.key.tonic),
        mode: key.as_ref().map(|k| if k.key.minor { "minor" } else { "major" }),
        key_confidence: key.as_ref().map(|k| (k.confidence * 100.0).round() / 100.0),
        key_source: key.as_ref().map(|k| k.source),
        key_runner_up: key.as_ref().map(|k| k.runner_up.name()),
        time_signature: format!("{}/{}", rhythm.time_signature.0, rhythm.time_signature.1),
        meter_source: rhythm.meter_source,
        bars: rhythm.bars,
        loop_bars: rhythm.loop_bars,
        repeat_bars: rhythm.repeat_bars,
        quantized: rhythm.quantized,
        has_drums: !drum_keys.is_empty(),
        drum_parts,
        drum_dominant,
        role,
        role_confidence,
        parts: parts.iter().map(PartSummary::of).collect(),
        chords,
        notes: score.notes.len() as u64,
        pitch_min: pitched.iter().map(|n| n.pitch).min(),
        pitch_max: pitched.iter().map(|n| n.pitch).max(),
        polyphony_mean: stats.0,
        polyphony_max: stats.1,
        density: stats.2,
        velocity_min: score.notes.iter().map(|n| n.vel).min(),
        velocity_max: score.notes.iter().map(|n| n.vel).max(),
        fingerprint,
        shape,
        tags: tags.tags,
    }
}

/// (mean polyphony while anything sounds, max polyphony, notes per second).
fn stats(score: &Score, end_tick: u64) -> (f64, u32, f64) {
    let mut edges: Vec<(u64, i32)> = Vec::with_capacity(score.notes.len() * 2);
    for n in score.notes.iter() {
        edges.push((n.on, 1));
        edges.push((n.off.max(n.on + 1), -1));
    }
    // Ends before starts at the same tick: a repeated note is not two at once.
    edges.sort_unstable();
    let (mut cur, mut max, mut last, mut weighted, mut sounding) = (0i32, 0i32, 0u64, 0u128, 0u128);
    for (t, d) in edges {
        if cur > 0 {
            weighted += u128::from(t - last) * cur as u128;
            sounding += u128::from(t - last);
        }
        last = t;
        cur += d;
        max = max.max(cur);
    }
    let mean = if sounding > 0 { weighted as f64 / sounding as f64 } else { 0.0 };
    let secs = score.seconds_at(end_tick.max(score.music_end()));
    let density = if secs > 0.0 { score.notes.len() as f64 / secs } else { 0.0 };
    ((mean * 100.0).round() / 100.0, max.max(0) as u32, (density * 100.0).round() / 100.0)
}

/// Fewest notes and distinct onsets for a shape (tier 3): below them a transposition-free,
/// speed-free summary groups unrelated files (every single note, every lone chord).
const MIN_SHAPE_NOTES: usize = 6;
const MIN_SHAPE_ONSETS: usize = 4;

/// The two musical fingerprints, from one sorted pass over the notes (hex each).
///
/// `fingerprint` (duplicate tier 1): onsets and lengths in 1/48 beat, pitches and the drum flag
/// (`drum_parts` sorted); track layout, names, text, tempo values and velocities do not enter, so
/// the same music in different packaging (format 0 or 1, another PPQ, renamed) hashes the same.
///
/// `shape` (tier 3): the same notes as a variant keeps them: pitched notes relative to the lowest
/// pitched note (a transposed copy matches), drum notes by their key (a kit piece is not
/// transposed); onsets from the first onset and lengths divided by their common divisor (a copy
/// at half or double speed, or with leading silence, matches).
pub fn fingerprints(score: &Score, drum_parts: &[(u16, u8)]) -> (String, Option<String>) {
    match canonical_notes(score, drum_parts) {
        Canon::Packed(keys) => hash_canon(keys.iter().map(|&k| unpack(k)), keys.len()),
        Canon::Tuples(notes) => hash_canon(notes.iter().copied(), notes.len()),
    }
}

/// Both fingerprints of the canonical notes, `n` of them, in order: one pass hashes tier 1 and
/// gathers what the shape needs (distinct onsets, the lowest pitched note, the common divisor),
/// a second hashes the shape.
fn hash_canon(canon: impl Iterator<Item = (u64, bool, u8, u64)> + Clone, n: usize) -> (String, Option<String>) {
    // One record per note: onset (u32 LE), pitch, drum flag, length (u32 LE).
    let record = |on: u64, pitch: u8, drum: bool, len: u64| {
        let mut r = [0u8; 10];
        r[..4].copy_from_slice(&(on as u32).to_le_bytes());
        r[4] = pitch;
        r[5] = u8::from(drum);
        r[6..].copy_from_slice(&(len as u32).to_le_bytes());
        r
    };
    let mut bytes = Vec::with_capacity(n * 10);
    let first = canon.clone().next().map_or(0, |n| n.0);
    let mut onsets = usize::from(n > 0);
    let mut low: Option<u8> = None;
    let mut prev_on = first;
    // The common divisor of every onset (from the first) and length. Most values are multiples
    // of the divisor so far, which one remainder shows: Euclid's loop of divisions (most of the
    // fingerprints' time when run per value) runs only when the divisor shrinks.
    let mut g = 0u64;
    for (on, drum, pitch, len) in canon.clone() {
        bytes.extend_from_slice(&record(on, pitch, drum, len));
        onsets += usize::from(on != prev_on);
        prev_on = on;
        if !drum {
            low = Some(low.map_or(pitch, |l| l.min(pitch)));
        }
        if g != 1 {
            for x in [on - first, len] {
                if g == 0 || x % g != 0 {
                    g = gcd(g, x);
                }
            }
        }
    }
    let fingerprint = crate::dedupe::to_hex(&crate::dedupe::content_id(&bytes));
    // One note, or one chord, is the same shape as every other: no shape below a few onsets.
    if n < MIN_SHAPE_NOTES || onsets < MIN_SHAPE_ONSETS {
        return (fingerprint, None);
    }
    let low = low.unwrap_or(0);
    let g = g.max(1);
    bytes.clear();
    for (on, drum, pitch, len) in canon {
        let pitch = if drum { pitch } else { pitch - low };
        // A divisor of 1 (the common case) divides nothing.
        let (on, len) = if g == 1 { (on - first, len) } else { ((on - first) / g, len / g) };
        bytes.extend_from_slice(&record(on, pitch, drum, len));
    }
    (fingerprint, Some(crate::dedupe::to_hex(&crate::dedupe::content_id(&bytes))))
}

/// [`canonical_notes`]' result: packed keys where every note fits one (`unpack`), else tuples.
enum Canon {
    Packed(Vec<u64>),
    Tuples(Vec<(u64, bool, u8, u64)>),
}

/// A packed key's note: onset in the high 32 bits, then the drum flag, the 7-bit pitch and a
/// 24-bit length (so that integer order is tuple order).
fn unpack(k: u64) -> (u64, bool, u8, u64) {
    (k >> 32, k >> 31 & 1 == 1, (k >> 24 & 0x7f) as u8, k & 0xff_ffff)
}

/// The notes as the fingerprints see them, sorted: (onset, drum, pitch, length), onsets and
/// lengths in 1/48 beat. Within one onset and drum flag, shifting the pitched notes keeps the
/// order, so one sort serves both hashes.
///
/// The sort is most of the fingerprints' time, so it runs on one `u64` per note, packed so that
/// integer order is tuple order: onset in the high 32 bits, then the drum flag, the 7-bit pitch
/// and a 24-bit length. A file with an onset or a length too large to pack (hours long, or at
/// an absurd PPQ) is sorted as tuples instead; both give the same order, so the same hashes.
fn canonical_notes(score: &Score, drum_parts: &[(u16, u8)]) -> Canon {
    let ppq = u64::from(score.ppq.max(1));
    let q = |t: u64| (t.saturating_mul(48).saturating_add(ppq / 2)) / ppq;
    let canon =
        |n: &score::Note| (q(n.on), drum_parts.binary_search(&(n.track, n.ch)).is_ok(), n.pitch, q(n.ticks()).max(1));
    let mut keys: Vec<u64> = Vec::with_capacity(score.notes.len());
    for n in &score.notes {
        let (on, drum, pitch, len) = canon(n);
        if on > u64::from(u32::MAX) || pitch >= 128 || len >= 1 << 24 {
            let mut tuples: Vec<(u64, bool, u8, u64)> = score.notes.iter().map(canon).collect();
            tuples.sort_unstable();
            return Canon::Tuples(tuples);
        }
        keys.push(on << 32 | u64::from(drum) << 31 | u64::from(pitch) << 24 | len);
    }
    // A gathered score's notes come sorted by onset, and the onset is the key's high half, so
    // the keys are already in order between onsets: sorting each onset's run (a chord, mostly
    // one note) gives the order a whole sort gives (the keys are plain integers), in about one
    // pass. Notes in any other order get the whole sort.
    if keys.windows(2).all(|w| w[0] >> 32 <= w[1] >> 32) {
        let mut start = 0;
        while start < keys.len() {
            let on = keys[start] >> 32;
            let end = keys[start..].iter().position(|k| k >> 32 != on).map_or(keys.len(), |n| start + n);
            keys[start..end].sort_unstable();
            start = end;
        }
    } else {
        keys.sort_unstable();
    }
    Canon::Packed(keys)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Tonic and mode of a label such as "Db minor" or "F# major".
pub fn parse_key_label(s: &str) -> Option<KeyGuess> {
    let mut it = s.split_whitespace();
    let name = it.next()?.to_ascii_lowercase();
    let mode = it.next()?.to_ascii_lowercase();
    let base = match name.as_bytes().first()? {
        b'c' => 0,
        b'd' => 2,
        b'e' => 4,
        b'f' => 5,
        b'g' => 7,
        b'a' => 9,
        b'b' => 11,
        _ => return None,
    };
    let shift: i32 = name[1..]
        .chars()
        .map(|c| {
            if c == '#' {
                1
            } else if c == 'b' || c == '-' {
                -1
            } else {
                0
            }
        })
        .sum();
    let tonic = (base + shift).rem_euclid(12) as u8;
    Some(KeyGuess { tonic, minor: mode.starts_with("min") })
}

#[cfg(test)]
mod tests {
    //! Every detector against generated files whose truth is known by construction.

    use super::*;
    use crate::gen::{labelled_midi, Truth};

    fn run(kind: usize, seed: u64) -> (Analysis, Truth) {
        let (bytes, truth) = labelled_midi(kind, seed);
        let arena = Bump::new();
        let facts =
            crate::midi::parse(&bytes, &crate::midi::MidiLimits::default(), &arena).expect("generated file parses");
        (analyze(&bytes, "/gen/file.mid", facts.duration_ticks, &arena).expect("analysable"), truth)
    }

    /// The packed sort must give exactly the tuple order, or every catalogued fingerprint would
    /// change: checked against the plain tuple sort on generated files of every kind, with the
    /// drum flag set both ways.
    #[test]
    fn the_packed_note_sort_is_the_tuple_sort() {
        for seed in 0..60u64 {
            for kind in 0..5 {
                let (bytes, _) = labelled_midi(kind, seed);
                let arena = Bump::new();
                let mut score = score::gather(&bytes, &arena).expect("a score");
                // Every other file's notes out of onset order (a score not from `gather`): the
                // whole sort, not the runs, must give the same order.
                if seed % 2 == 1 {
                    score.notes.reverse();
                }
                let all_drums: Vec<(u16, u8)> = {
                    let mut k: Vec<(u16, u8)> = score.notes.iter().map(|n| (n.track, n.ch)).collect();
                    k.sort_unstable();
                    k.dedup();
                    k
                };
                for drums in [&[][..], &all_drums[..1.min(all_drums.len())], &all_drums[..]] {
                    let ppq = u64::from(score.ppq.max(1));
                    let q = |t: u64| (t * 48 + ppq / 2) / ppq;
                    let mut want: Vec<(u64, bool, u8, u64)> = score
                        .notes
                        .iter()
                        .map(|n| (q(n.on), drums.binary_search(&(n.track, n.ch)).is_ok(), n.pitch, q(n.ticks()).max(1)))
                        .collect();
                    want.sort_unstable();
                    let got: Vec<_> = match canonical_notes(&score, drums) {
                        Canon::Packed(keys) => keys.into_iter().map(unpack).collect(),
                        Canon::Tuples(notes) => notes,
                    };
                    assert_eq!(got, want, "{seed}/{kind}");
                }
            }
        }
    }

    #[test]
    fn tempo_meter_drums_and_role_match_the_generator() {
        let (mut roles, mut total) = (0, 0);
        for seed in 0..40u64 {
            for kind in 0..5 {
                let (a, t) = run(kind, seed);
                // The generator's tempo is the initial one (songs may slow down at the end).
                assert!(
                    (a.bpm_initial - f64::from(t.bpm)).abs() < 0.5,
                    "{seed}/{kind}: bpm {} vs {}",
                    a.bpm_initial,
                    t.bpm
                );
                assert_eq!(a.bpm_source, "meta");
                assert_eq!(a.time_signature, format!("{}/{}", t.time_signature.0, t.time_signature.1));
                assert_eq!(a.has_drums, matches!(t.kind, "drums" | "song"), "{seed}/{kind}: drums");
                let expected = match t.kind {
                    "song" => "full",
                    k => k,
                };
                total += 1;
                roles += usize::from(a.role == expected);
                if t.kind == "drums" {
                    assert_eq!(a.role, "drums");
                    assert!(a.drum_parts.iter().any(|(p, _)| *p == "kick"), "{:?}", a.drum_parts);
                    assert!(a.drum_dominant.is_some());
                }
                assert!(!a.fingerprint.is_empty());
            }
        }
        // Bass lines with chord tones can read as melody; the labelled sets measure the rest.
        assert!(roles * 10 >= total * 9, "roles right: {roles} of {total}");
    }

    #[test]
    fn keys_of_chords_and_songs_match_the_generator() {
        let (mut score, mut n) = (0.0, 0);
        for seed in 0..60u64 {
            for kind in [2usize, 4] {
                let (a, t) = run(kind, seed);
                let truth = KeyGuess { tonic: t.tonic, minor: t.minor };
                let guess = KeyGuess { tonic: a.tonic.expect("keyed"), minor: a.mode == Some("minor") };
                let s = key::mirex(guess, truth);
                score += s;
                n += 1;
                // Short loops confuse relative major and minor, and only that: then the
                // runner-up is the truth.
                if s < 1.0 {
                    assert_eq!(s, 0.3, "{seed}/{kind}: {guess:?} for {truth:?}");
                    assert_eq!(a.key_runner_up.as_deref().and_then(parse_key_label), Some(truth));
                }
            }
        }
        let mean = score / f64::from(n);
        assert!(mean >= 0.8, "MIREX {mean:.3} over {n} generated chord and song files");
    }

    #[test]
    fn chord_files_name_their_chords_and_fingerprints_ignore_packaging() {
        let (a, _) = run(2, 7);
        assert!(a.chords.len() >= 2, "{:?}", a.chords);
        // Same notes under another tempo and another name: same fingerprint.
        let (bytes, _) = labelled_midi(2, 7);
        let mut changed = bytes.clone();
        // Set-tempo payloads (FF 51 03 tt tt tt) get another tempo.
        for i in 0..changed.len().saturating_sub(5) {
            if changed[i] == 0xFF && changed[i + 1] == 0x51 && changed[i + 2] == 3 {
                changed[i + 3] ^= 0x01;
            }
        }
        let arena = Bump::new();
        let end = crate::midi::parse(&changed, &crate::midi::MidiLimits::default(), &arena).unwrap().duration_ticks;
        let b = analyze(&changed, "/other/name.mid", end, &arena).unwrap();
        assert_ne!(a.bpm, b.bpm);
        assert_eq!(a.fingerprint, b.fingerprint);
    }
}
