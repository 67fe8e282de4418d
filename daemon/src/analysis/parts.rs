//! Parts (one per track and channel that holds notes): drums and their parts, role, chords.
//!
//! "Drums" is not just channel 10: drum tracks on other channels are found by their names and by
//! the shape of their notes (short hits on the GM percussion keys). Drum notes are shared out
//! over the Groove MIDI Dataset's classes (kick, snare/clap, closed and open hat, toms, crash,
//! ride) plus other percussion, so a file of only kicks routes to a Kicks folder. Roles come from
//! GM program families, register, polyphony and the names, in that order of trust reversed:
//! a name that says "bass" beats a register guess.

use super::score::{Note, Score};

pub const DRUM_PARTS: [&str; 8] = ["kick", "snare", "hat_closed", "hat_open", "toms", "crash", "ride", "perc"];

/// The drum class of a GM percussion key (index into [`DRUM_PARTS`]).
pub fn drum_class(pitch: u8) -> usize {
    match pitch {
        35 | 36 => 0,
        37..=40 => 1,
        42 | 44 | 22 => 2,
        46 | 26 => 3,
        41 | 43 | 45 | 47 | 48 | 50 | 58 => 4,
        49 | 52 | 55 | 57 => 5,
        51 | 53 | 59 => 6,
        _ => 7,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub track: u16,
    pub ch: u8,
    pub notes: u32,
    pub drums: bool,
    pub role: &'static str,
    /// Note shares per [`DRUM_PARTS`] class (drum parts only).
    pub drum_shares: [f32; 8],
    pub program: Option<u8>,
    pub name: String,
    pub mean_pitch: f32,
    /// Mean notes per onset.
    pub onset_polyphony: f32,
}

fn has_word(name: &str, words: &[&str]) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.split(|c: char| !c.is_ascii_alphanumeric()).any(|t| words.iter().any(|w| t.starts_with(w)))
}

const DRUM_NAME: &[&str] = &["drum", "kit", "perc", "beat", "kick", "snare", "hat", "hihat", "groove", "cymbal", "tom"];

/// Splits the notes into parts and describes each.
pub fn parts(score: &Score) -> Vec<Part> {
    // One stable sort by part keeps each part's notes in onset order, in one pass over the file
    // whatever its number of tracks.
    let mut sorted: Vec<&Note> = score.notes.iter().collect();
    sorted.sort_by_key(|n| (n.track, n.ch));
    let ppq = u64::from(score.ppq.max(1));
    sorted
        .chunk_by(|a, b| (a.track, a.ch) == (b.track, b.ch))
        .map(|notes| {
            let (track, ch) = (notes[0].track, notes[0].ch);
            let info = score.tracks.get(usize::from(track)).copied().unwrap_or_default();
            let name = if info.name.is_empty() { info.instrument } else { info.name };
            let count = notes.len() as u32;
            let mean_pitch = notes.iter().map(|n| f32::from(n.pitch)).sum::<f32>() / count.max(1) as f32;
            let mut onsets = 0u32;
            let mut last = None;
            for n in notes {
                if last.is_none_or(|l: u64| n.on > l + ppq / 16) {
                    onsets += 1;
                    last = Some(n.on);
                }
            }
            let onset_polyphony = count as f32 / onsets.max(1) as f32;
            let drums = ch == 9 || looks_like_drums(notes, name, ppq);
            let mut drum_shares = [0.0f32; 8];
            if drums {
                for n in notes {
                    drum_shares[drum_class(n.pitch)] += 1.0;
                }
                for s in &mut drum_shares {
                    *s /= count.max(1) as f32;
                }
            }
            let program = score.programs[usize::from(ch)];
            let role = if drums {
                "drums"
            } else {
                role_of(program, name, mean_pitch, onset_polyphony, score.bends[usize::from(ch)], count)
            };
            Part {
                track,
                ch,
                notes: count,
                drums,
                role,
                drum_shares,
                program,
                name: name.to_string(),
                mean_pitch,
                onset_polyphony,
            }
        })
        .collect()
}

/// A drum track off channel 10: a drum-ish name, or short hits, mostly on the core GM kit keys,
/// on several of them.
fn looks_like_drums(notes: &[&Note], name: &str, ppq: u64) -> bool {
    if has_word(name, DRUM_NAME) && !has_word(name, &["bass", "synth", "piano", "lead", "pad"]) {
        return true;
    }
    if notes.len() < 8 {
        return false;
    }
    const CORE: [u8; 9] = [35, 36, 38, 40, 42, 44, 46, 49, 51];
    let core = notes.iter().filter(|n| CORE.contains(&n.pitch)).count();
    let short = notes.iter().filter(|n| n.ticks() <= ppq / 8).count();
    let mut kinds = [false; 8];
    for n in notes.iter().filter(|n| CORE.contains(&n.pitch)) {
        kinds[drum_class(n.pitch)] = true;
    }
    let distinct = kinds.iter().filter(|k| **k).count();
    core * 10 >= notes.len() * 9 && short * 10 >= notes.len() * 8 && distinct >= 2
}

fn role_of(program: Option<u8>, name: &str, mean_pitch: f32, poly: f32, bends: u32, notes: u32) -> &'static str {
    if has_word(name, &["bass", "808", "sub"]) {
        return "bass";
    }
    if has_word(name, &["chord", "pad", "stab", "comp", "keys", "piano"]) && poly >= 1.5 {
        return "chords";
    }
    if has_word(name, &["lead", "melody", "vocal", "vox", "arp", "hook", "flute", "sax", "violin"]) && poly < 1.5 {
        return "melody";
    }
    if has_word(name, &["fx", "sfx", "riser", "noise", "sweep"]) {
        return "fx";
    }
    match program {
        Some(32..=39) if poly < 1.6 => return "bass",
        Some(96..=103 | 119..=127) if notes < 64 || bends > notes => return "fx",
        _ => {}
    }
    if poly >= 2.2 {
        return "chords";
    }
    if mean_pitch < 50.0 && poly < 1.5 {
        return "bass";
    }
    "melody"
}

/// A file's role from its parts: drums, bass, chords, melody, fx, or full for several.
pub fn file_role(parts: &[Part]) -> (&'static str, f64) {
    let total: u64 = parts.iter().map(|p| u64::from(p.notes)).sum();
    if total == 0 {
        return ("fx", 0.2);
    }
    // Parts that matter: at least 5 % of the notes.
    let mut roles: Vec<(&str, u64)> = Vec::new();
    for p in parts.iter().filter(|p| u64::from(p.notes) * 20 >= total) {
        match roles.iter_mut().find(|r| r.0 == p.role) {
            Some(r) => r.1 += u64::from(p.notes),
            None => roles.push((p.role, u64::from(p.notes))),
        }
    }
    roles.sort_by_key(|r| std::cmp::Reverse(r.1));
    let has = |r: &str| roles.iter().any(|x| x.0 == r);
    let share = |r: &str| roles.iter().find(|x| x.0 == r).map_or(0, |x| x.1) as f64 / total as f64;
    match roles.len() {
        0 => ("fx", 0.2),
        1 => (roles[0].0, 0.9),
        // Chords with their own bass line are still a chord file.
        2 if has("chords") && has("bass") => ("chords", 0.7),
        _ if has("drums") && share("drums") > 0.9 => ("drums", 0.7),
        _ => ("full", 0.8),
    }
}

/// At most this many chords are kept: enough for any progression (the export takes 16) and for
/// the opening of a song, without a long song's every chord stored in its row.
pub const MAX_CHORDS: usize = 128;

/// Chords: block chords (three or more pitch classes starting together) named, in order,
/// repeats of the same chord folded; the first [`MAX_CHORDS`].
pub fn chords(score: &Score, parts: &[Part]) -> Vec<String> {
    // Sorted (parts come out of `parts` in key order): looked up per note.
    let drum_parts: Vec<(u16, u8)> = parts.iter().filter(|p| p.drums).map(|p| (p.track, p.ch)).collect();
    let window = u64::from(score.ppq.max(1)) / 8;
    let mut out: Vec<String> = Vec::new();
    let mut last = None;
    let notes: Vec<&Note> =
        score.notes.iter().filter(|n| drum_parts.binary_search(&(n.track, n.ch)).is_err()).collect();
    let mut i = 0;
    while i < notes.len() && out.len() < MAX_CHORDS {
        let start = notes[i].on;
        let mut j = i;
        while j < notes.len() && notes[j].on <= start + window {
            j += 1;
        }
        let group = &notes[i..j];
        i = j;
        let mut pcs = 0u16;
        for n in group {
            pcs |= 1 << (n.pitch % 12);
        }
        if pcs.count_ones() < 3 {
            continue;
        }
        let bass = group.iter().map(|n| n.pitch).min().unwrap_or(0) % 12;
        // Named only when it differs from the chord before (most groups repeat it).
        if let Some(chord) = chord_of(pcs, bass) {
            if last != Some(chord) {
                last = Some(chord);
                out.push(chord_name(chord));
            }
        }
    }
    out
}

const CHORD_TYPES: [(&str, &[u8]); 16] = [
    ("", &[0, 4, 7]),
    ("m", &[0, 3, 7]),
    ("dim", &[0, 3, 6]),
    ("aug", &[0, 4, 8]),
    ("sus2", &[0, 2, 7]),
    ("sus4", &[0, 5, 7]),
    ("7", &[0, 4, 7, 10]),
    ("maj7", &[0, 4, 7, 11]),
    ("m7", &[0, 3, 7, 10]),
    ("m7b5", &[0, 3, 6, 10]),
    ("dim7", &[0, 3, 6, 9]),
    ("6", &[0, 4, 7, 9]),
    ("m6", &[0, 3, 7, 9]),
    ("add9", &[0, 2, 4, 7]),
    ("9", &[0, 2, 4, 7, 10]),
    ("m9", &[0, 2, 3, 7, 10]),
];

/// Each chord type's pitch classes on C (bit n = pitch class n), for rotating onto a root.
const CHORD_MASKS: [u16; 16] = {
    let mut masks = [0u16; 16];
    let mut t = 0;
    while t < CHORD_TYPES.len() {
        let steps = CHORD_TYPES[t].1;
        let mut s = 0;
        while s < steps.len() {
            masks[t] |= 1 << steps[s];
            s += 1;
        }
        t += 1;
    }
    masks
};

const NAMES: [&str; 12] = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];

/// A chord as [`name_chord`] names it: root, index in `CHORD_TYPES`, and the bass when it is
/// not the root (two chords with the same name are equal).
type Chord = (u8, usize, Option<u8>);

/// The chord type that covers most of `pcs` with the fewest extra notes, rooted on the bass
/// when that ties (see [`name_chord`]).
fn chord_of(pcs: u16, bass: u8) -> Option<Chord> {
    let mut best: Option<(i32, u8, usize)> = None;
    for root in 0..12u8 {
        if pcs & (1 << root) == 0 {
            continue;
        }
        for (t, base) in CHORD_MASKS.iter().enumerate() {
            // The chord on `root`: its pitch classes rotated up by `root` within the octave.
            let mask = ((base << root) | (base >> (12 - root))) & 0xFFF;
            if mask & pcs != mask {
                continue;
            }
            let extra = (pcs & !mask).count_ones() as i32;
            let score = base.count_ones() as i32 * 10 - extra * 12 + i32::from(root == bass) * 3;
            if best.is_none_or(|b| score > b.0) {
                best = Some((score, root, t));
            }
        }
    }
    let (_, root, t) = best?;
    Some((root, t, (bass != root).then_some(bass)))
}

fn chord_name((root, t, bass): Chord) -> String {
    let mut name = format!("{}{}", NAMES[usize::from(root)], CHORD_TYPES[t].0);
    if let Some(bass) = bass {
        name.push('/');
        name.push_str(NAMES[usize::from(bass)]);
    }
    name
}

/// Names a set of pitch classes (bit n = pitch class n) with its bass: the chord type that
/// covers most of the set with the fewest extra notes, rooted on the bass when that ties.
pub fn name_chord(pcs: u16, bass: u8) -> Option<String> {
    chord_of(pcs, bass).map(chord_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rotated masks name every set of pitch classes over every bass as the step lists
    /// did, one step at a time (how `name_chord` first computed them).
    #[test]
    fn rotated_chord_masks_name_every_set_as_the_step_lists_do() {
        fn by_steps(pcs: u16, bass: u8) -> Option<String> {
            let mut best: Option<(i32, u8, &str)> = None;
            for root in (0..12u8).filter(|r| pcs & (1 << r) != 0) {
                for (suffix, steps) in CHORD_TYPES {
                    let mask = steps.iter().fold(0u16, |m, s| m | 1 << ((root + s) % 12));
                    if mask & pcs != mask {
                        continue;
                    }
                    let extra = (pcs & !mask).count_ones() as i32;
                    let score = steps.len() as i32 * 10 - extra * 12 + i32::from(root == bass) * 3;
                    if best.is_none_or(|b| score > b.0) {
                        best = Some((score, root, suffix));
                    }
                }
            }
            let (_, root, suffix) = best?;
            let slash = if bass != root { format!("/{}", NAMES[usize::from(bass)]) } else { String::new() };
            Some(format!("{}{suffix}{slash}", NAMES[usize::from(root)]))
        }
        for pcs in 0..0x1000u16 {
            for bass in 0..12 {
                assert_eq!(name_chord(pcs, bass), by_steps(pcs, bass), "{pcs:012b} over {bass}");
            }
        }
    }

    #[test]
    fn chord_names() {
        let set = |pcs: &[u8]| pcs.iter().fold(0u16, |m, p| m | 1 << p);
        assert_eq!(name_chord(set(&[0, 4, 7]), 0).as_deref(), Some("C"));
        assert_eq!(name_chord(set(&[9, 0, 4]), 9).as_deref(), Some("Am"));
        assert_eq!(name_chord(set(&[9, 0, 4, 7]), 9).as_deref(), Some("Am7"));
        assert_eq!(name_chord(set(&[5, 9, 0]), 9).as_deref(), Some("F/A"));
        assert_eq!(name_chord(set(&[7, 11, 2, 5]), 7).as_deref(), Some("G7"));
        assert_eq!(name_chord(set(&[0, 1, 2]), 0), None);
    }

    #[test]
    fn drum_classes_follow_the_gm_map() {
        assert_eq!(DRUM_PARTS[drum_class(36)], "kick");
        assert_eq!(DRUM_PARTS[drum_class(39)], "snare");
        assert_eq!(DRUM_PARTS[drum_class(42)], "hat_closed");
        assert_eq!(DRUM_PARTS[drum_class(46)], "hat_open");
        assert_eq!(DRUM_PARTS[drum_class(45)], "toms");
        assert_eq!(DRUM_PARTS[drum_class(49)], "crash");
        assert_eq!(DRUM_PARTS[drum_class(51)], "ride");
        assert_eq!(DRUM_PARTS[drum_class(60)], "perc");
    }
}
