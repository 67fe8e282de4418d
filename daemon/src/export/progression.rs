//! `.progression`: a chord file's chords on the pads of the MPC's and Force's Pad Perform.
//!
//! Chord packs are a large part of a MIDI hoard, and Pad Perform plays a progression one chord
//! per pad, which a `.mid` cannot do. The format is the factory files' JSON (FORMATS.md 2.2),
//! written in our stricter writer profile (2.5) and formatted as our `minimal-example`: one
//! chord per line, columns aligned. A progression keeps no timing; the timed chords go out as
//! an `.mpcpattern` next to it. [`check`] encodes the profile's rules PROG-001..009.

use super::json::{push_str_lit, Json, Sink};
use super::Violation;
use crate::analysis::parts::name_chord;
use crate::analysis::score::{Note, Score};

/// Chords per progression: one pad bank (PROG-006).
pub const MAX_CHORDS: usize = 16;
/// Notes per chord (PROG-007).
pub const MAX_NOTES: usize = 8;
/// Characters of a chord's name (PROG-008).
pub const MAX_CHORD_NAME: usize = 16;
/// Characters of the progression's display name (the writer schema's limit).
pub const MAX_NAME: usize = 64;
/// Characters of a file name, extension included (FORMATS 2.4).
pub const MAX_FILE_NAME: usize = 64;
/// The folder at a drive's root that the firmware scans (FORMATS 2.3).
pub const FOLDER: &str = "Progressions";
pub const EXTENSION: &str = ".progression";

/// Factory spellings, sharps not flats (PROG-003).
const ROOT_NOTES: [&str; 12] = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
/// Factory spellings (PROG-004).
const SCALES: [&str; 4] = ["Major", "Natural Minor", "Pentatonic Minor", "Chromatic"];
/// The most common factory value; its meaning is unknown (FORMATS 2.2).
const RECORDING_OCTAVE: u8 = 2;
/// The `progression` object's keys in the profile's order (PROG-002).
const FIELDS: [&str; 5] = ["name", "rootNote", "scale", "recordingOctave", "chords"];
/// What a display name of ours becomes when nothing of it is left.
const UNTITLED: &str = "Untitled";

struct Chord {
    name: String,
    notes: Vec<u8>,
}

/// The progression of a file's block chords (FORMATS 2.5, "Converting a MIDI chord file"), or
/// None when it has none. Chords are found as `analysis::parts::chords` finds them: the notes
/// of the parts not in `drum_parts` ((track, channel) pairs) that start within 1/32 note of a
/// group's first onset, three or more pitch classes. Each distinct voicing is kept once, in
/// order of first appearance, the first [`MAX_CHORDS`]. `tonic` (0 = C) and `mode`
/// (`major`/`minor` as the analysis says, or a factory scale name) give `rootNote` and
/// `scale`; without both the key is unknown: `C` / `Chromatic`. `name` is the display name,
/// folded to the file-name character set.
pub fn progression(
    score: &Score,
    drum_parts: &[(u16, u8)],
    tonic: Option<u8>,
    mode: Option<&str>,
    name: &str,
) -> Option<String> {
    let chords = chords(score, drum_parts);
    if chords.is_empty() {
        return None;
    }
    let (root, scale) = key(tonic, mode);
    Some(render(&display_name(name), root, scale, &chords))
}

fn chords(score: &Score, drum_parts: &[(u16, u8)]) -> Vec<Chord> {
    let window = u64::from(score.ppq.max(1)) / 8;
    let notes: Vec<&Note> = score.notes.iter().filter(|n| !drum_parts.contains(&(n.track, n.ch))).collect();
    let mut out: Vec<Chord> = Vec::new();
    let mut pitches: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < notes.len() && out.len() < MAX_CHORDS {
        let start = notes[i].on;
        let group = notes[i..].iter().take_while(|n| n.on <= start.saturating_add(window)).count();
        pitches.clear();
        pitches.extend(notes[i..i + group].iter().map(|n| n.pitch));
        i += group;
        pitches.sort_unstable();
        pitches.dedup();
        if pitch_classes(&pitches).count_ones() < 3 {
            continue;
        }
        let notes = voicing(&pitches);
        // A chord played again, right after or later, is already on a pad.
        if out.iter().any(|c| c.notes == notes) {
            continue;
        }
        let name = name_chord(pitch_classes(&notes), notes[0] % 12).unwrap_or_else(|| "?".to_string());
        out.push(Chord { name: name.chars().take(MAX_CHORD_NAME).collect(), notes });
    }
    out
}

fn pitch_classes(pitches: &[u8]) -> u16 {
    pitches.iter().fold(0u16, |m, p| m | 1 << (p % 12))
}

/// At most [`MAX_NOTES`] of a chord's sorted, distinct pitches. A pad should still play the
/// chord that was written: its bass (the inversion, the slash of the name) and every pitch
/// class (lowest first); octave doublings are what can go, the low ones kept before the high
/// ones, as a player's left hand would keep them. Only a cluster of nine or more pitch classes
/// loses pitch classes: its highest.
fn voicing(pitches: &[u8]) -> Vec<u8> {
    if pitches.len() <= MAX_NOTES {
        return pitches.to_vec();
    }
    let mut keep = vec![false; pitches.len()];
    let mut classes = 0u16;
    let mut kept = 0;
    for (i, p) in pitches.iter().enumerate() {
        if kept < MAX_NOTES && classes & (1 << (p % 12)) == 0 {
            classes |= 1 << (p % 12);
            keep[i] = true;
            kept += 1;
        }
    }
    for k in keep.iter_mut() {
        if kept < MAX_NOTES && !*k {
            *k = true;
            kept += 1;
        }
    }
    pitches.iter().zip(keep).filter(|(_, k)| *k).map(|(p, _)| *p).collect()
}

fn key(tonic: Option<u8>, mode: Option<&str>) -> (&'static str, &'static str) {
    let scale = mode.and_then(|m| match m.trim().to_ascii_lowercase().as_str() {
        "major" => Some(SCALES[0]),
        "minor" | "natural minor" => Some(SCALES[1]),
        "pentatonic minor" => Some(SCALES[2]),
        _ => None,
    });
    match (tonic, scale) {
        (Some(t), Some(s)) => (ROOT_NOTES[usize::from(t % 12)], s),
        // A root without a scale says nothing on the pads; Chromatic is what gatesphere and the
        // factory use for arbitrary material.
        _ => ("C", "Chromatic"),
    }
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || " _#()&+.,'-".contains(c)
}

/// ASCII, only `[A-Za-z0-9 _#()&+.,'-]`, runs of spaces as one, trimmed of spaces and of
/// dots (a leading dot hides a file; Windows drops a trailing one). Letters and digits of any
/// script are transliterated (`Größe` -> `Grosse`); other non-ASCII characters go first, as in
/// the library's clean names, since deunicode spells emoji out (`musical keyboard`). Any
/// whitespace is a space (deunicode drops tabs, which would join words).
fn fold(s: &str) -> String {
    let kept: String = s
        .chars()
        .filter_map(|c| match c {
            c if c.is_whitespace() => Some(' '),
            c if c.is_ascii() || c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect();
    let ascii = deunicode::deunicode(&kept);
    let mut out = String::with_capacity(ascii.len());
    for c in ascii.chars() {
        let c = if c.is_whitespace() { ' ' } else { c };
        if !allowed(c) || (c == ' ' && (out.is_empty() || out.ends_with(' '))) {
            continue;
        }
        out.push(c);
    }
    out.trim_matches([' ', '.']).to_string()
}

/// Cuts an ASCII string to `max` characters and trims what the cut leaves at its end.
fn cut(s: &str, max: usize) -> &str {
    s.get(..max).unwrap_or(s).trim_end_matches([' ', '.'])
}

fn display_name(name: &str) -> String {
    let name = fold(name);
    match cut(&name, MAX_NAME) {
        "" => UNTITLED.to_string(),
        name => name.to_string(),
    }
}

/// `<Category>-<Name>.progression` as FORMATS 2.4 recommends: ASCII, only
/// `[A-Za-z0-9 _#()&+.,'-]`, at most [`MAX_FILE_NAME`] characters with the extension, never
/// empty. The first `-` is the category separator the MPC is believed to split on, so dashes
/// in the category become spaces. Without a category the name stands alone, as in some
/// factory files; a name left empty is `Untitled`.
pub fn file_name(category: &str, name: &str) -> String {
    let budget = MAX_FILE_NAME - EXTENSION.len();
    let category = fold(&category.replace('-', " "));
    // A long category leaves the name at least half of the room.
    let category = cut(&category, budget / 2);
    let name = fold(name);
    let stem = if category.is_empty() {
        let name = match cut(&name, budget) {
            "" => UNTITLED,
            name => name,
        };
        // Windows reserves device names whatever follows their first dot (`LPT1.x` too); a
        // category avoids it, a `_` after the device name does too.
        let device = name.split('.').next().unwrap_or_default();
        let lower = device.to_ascii_lowercase();
        let reserved = matches!(lower.as_str(), "con" | "prn" | "aux" | "nul")
            || (lower.len() == 4
                && (lower.starts_with("com") || lower.starts_with("lpt"))
                && matches!(lower.as_bytes()[3], b'1'..=b'9'));
        if reserved {
            let marked = format!("{device}_{}", &name[device.len()..]);
            cut(&marked, budget).to_string()
        } else {
            name.to_string()
        }
    } else {
        let name = match cut(&name, budget - category.len() - 1) {
            "" => UNTITLED,
            name => name,
        };
        format!("{category}-{name}")
    };
    format!("{stem}{EXTENSION}")
}

/// The file text, formatted as `minimal-example.progression`: 4-space indent, one chord per
/// line with the `role` and `notes` columns aligned, LF, a final newline.
fn render(name: &str, root: &str, scale: &str, chords: &[Chord]) -> String {
    let names: Vec<String> = chords
        .iter()
        .map(|c| {
            let mut s = String::with_capacity(c.name.len() + 2);
            push_str_lit(&mut s, &c.name);
            s
        })
        .collect();
    let role = |i: usize| if i == 0 { "\"Root\"" } else { "\"Normal\"" };
    let name_width = names.iter().map(String::len).max().unwrap_or(0);
    let role_width = (0..chords.len()).map(|i| role(i).len()).max().unwrap_or(0);
    let mut s = String::with_capacity(200 + chords.len() * 80);
    s.push_str("{\n    \"progression\": {\n        \"name\": ");
    push_str_lit(&mut s, name);
    s.push_str(",\n        \"rootNote\": ");
    push_str_lit(&mut s, root);
    s.push_str(",\n        \"scale\": ");
    push_str_lit(&mut s, scale);
    s.push_str(",\n        \"recordingOctave\": ");
    s.push_str(&RECORDING_OCTAVE.to_string());
    s.push_str(",\n        \"chords\": [\n");
    for (i, (chord, lit)) in chords.iter().zip(&names).enumerate() {
        s.push_str("            { \"name\": ");
        s.push_str(lit);
        s.push(',');
        s.extend(std::iter::repeat_n(' ', name_width - lit.len() + 1));
        s.push_str("\"role\": ");
        s.push_str(role(i));
        s.push(',');
        s.extend(std::iter::repeat_n(' ', role_width - role(i).len() + 1));
        s.push_str("\"notes\": [ ");
        for (j, n) in chord.notes.iter().enumerate() {
            if j > 0 {
                s.push_str(", ");
            }
            s.push_str(&n.to_string());
        }
        s.push_str(" ] }");
        s.push_str(if i + 1 < chords.len() { ",\n" } else { "\n" });
    }
    s.push_str("        ]\n    }\n}\n");
    s
}

/// Every broken rule of the writer profile (PROG-001..009, FORMATS 2.5). `path` is the file's
/// path relative to the drive's root, `/`-separated (PROG-009: `Progressions/<name>.progression`).
/// The display name is held to the writer schema (a string of 1-64 characters) under PROG-002.
pub fn check(json: &str, path: &str) -> Vec<Violation> {
    let mut v = Sink::new();
    check_path(&mut v, path);
    let text = match json.strip_prefix('\u{feff}') {
        Some(rest) => {
            v.push("PROG-001", "starts with a byte-order mark");
            rest
        }
        None => json,
    };
    let root = match Json::parse(text) {
        Ok(root) => root,
        Err(e) => {
            v.push("PROG-001", format!("not JSON: {e}"));
            return v.finish();
        }
    };
    if root.keys() != ["progression"] {
        v.push("PROG-001", format!("top level has keys {:?}, not exactly [\"progression\"]", root.keys()));
    }
    let Some(p) = root.get("progression") else {
        return v.finish();
    };
    if p.keys() != FIELDS {
        v.push("PROG-002", format!("progression has keys {:?}, not {FIELDS:?}", p.keys()));
    }
    match p.get("name").and_then(Json::str) {
        Some(n) if !n.is_empty() && n.chars().count() <= MAX_NAME => {}
        _ => v.push("PROG-002", format!("name is {:?}, not a string of 1-{MAX_NAME} characters", p.get("name"))),
    }
    match p.get("rootNote").and_then(Json::str) {
        Some(r) if ROOT_NOTES.contains(&r) => {}
        _ => v.push("PROG-003", format!("rootNote is {:?}, not one of {ROOT_NOTES:?}", p.get("rootNote"))),
    }
    match p.get("scale").and_then(Json::str) {
        Some(s) if SCALES.contains(&s) => {}
        _ => v.push("PROG-004", format!("scale is {:?}, not one of {SCALES:?}", p.get("scale"))),
    }
    match p.get("recordingOctave") {
        Some(Json::Int(o)) if (1..=4).contains(o) => {}
        got => v.push("PROG-005", format!("recordingOctave is {got:?}, not an integer 1-4")),
    }
    let Some(chords) = p.get("chords").and_then(Json::arr) else {
        v.push("PROG-006", format!("chords is {:?}, not an array", p.get("chords").map(Json::kind)));
        return v.finish();
    };
    if chords.is_empty() || chords.len() > MAX_CHORDS {
        v.push("PROG-006", format!("{} chords, not 1-{MAX_CHORDS}", chords.len()));
    }
    for (i, c) in chords.iter().enumerate() {
        check_chord(&mut v, i, c);
    }
    v.finish()
}

fn check_path(v: &mut Sink, path: &str) {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [folder, file] if *folder == FOLDER => {
            let stem = file.strip_suffix(EXTENSION).unwrap_or_default();
            if stem.is_empty() || file.contains('\\') {
                v.push("PROG-009", format!("{file:?} is not a file name ending in {EXTENSION}"));
            }
        }
        _ => v.push("PROG-009", format!("{path:?} is not {FOLDER}/<name>{EXTENSION} at the drive's root")),
    }
}

fn check_chord(v: &mut Sink, i: usize, c: &Json) {
    let mut keys = c.keys();
    keys.sort_unstable();
    if keys != ["name", "notes", "role"] {
        v.push("PROG-006", format!("chord {i} has keys {:?}, not exactly name, role and notes", c.keys()));
    }
    let want = if i == 0 { "Root" } else { "Normal" };
    if c.get("role").and_then(Json::str) != Some(want) {
        v.push("PROG-006", format!("chord {i}: role is {:?}, not {want:?}", c.get("role")));
    }
    match c.get("notes").and_then(Json::arr) {
        Some(notes) if (1..=MAX_NOTES).contains(&notes.len()) => {
            let ints: Vec<Option<i128>> = notes.iter().map(Json::int).collect();
            let in_range = ints.iter().all(|n| n.is_some_and(|n| (0..=127).contains(&n)));
            let ascending = ints.windows(2).all(|w| w[0] < w[1]);
            if !in_range || !ascending {
                v.push(
                    "PROG-007",
                    format!("chord {i}: notes {notes:?} are not distinct integers 0-127 in ascending order"),
                );
            }
        }
        got => v.push("PROG-007", format!("chord {i}: notes {got:?} are not an array of 1-{MAX_NOTES} notes")),
    }
    match c.get("name").and_then(Json::str) {
        Some(n) if !n.is_empty() && n.chars().count() <= MAX_CHORD_NAME => {}
        _ => v.push("PROG-008", format!("chord {i}: name {:?} is not 1-{MAX_CHORD_NAME} characters", c.get("name"))),
    }
}

#[cfg(test)]
mod tests {
    use bumpalo::Bump;

    use super::super::mpcpattern::tests::{note, smf};
    use super::*;
    use crate::analysis::parts;
    use crate::analysis::score::gather;

    const PATH: &str = "Progressions/Pop-Example I V vi IV.progression";

    /// Our `minimal-example.progression`: C major I-V-vi-IV.
    const POP: &str = r#"{
    "progression": {
        "name": "Pop-Example I V vi IV",
        "rootNote": "C",
        "scale": "Major",
        "recordingOctave": 2,
        "chords": [
            { "name": "C",  "role": "Root",   "notes": [ 48, 52, 55 ] },
            { "name": "G",  "role": "Normal", "notes": [ 47, 50, 55 ] },
            { "name": "Am", "role": "Normal", "notes": [ 48, 52, 57 ] },
            { "name": "F",  "role": "Normal", "notes": [ 48, 53, 57 ] }
        ]
    }
}
"#;

    const POP_CHORDS: [[u8; 3]; 4] = [[48, 52, 55], [47, 50, 55], [48, 52, 57], [48, 53, 57]];

    fn rules(json: &str, path: &str) -> Vec<&'static str> {
        let mut r: Vec<&str> = check(json, path).into_iter().map(|v| v.rule).collect();
        r.dedup();
        r
    }

    /// A format-1 file: a conductor track, then one track per (channel, chords), each chord
    /// `len` ticks after the last, at PPQ 480.
    fn chord_file(tracks: &[(u8, &[&[u8]])], len: u64) -> Vec<u8> {
        let mut all = vec![vec![(0u64, vec![0xFF, 0x51, 3, 7, 0xA1, 0x20])]];
        for (ch, chords) in tracks {
            let mut t = Vec::new();
            for (i, chord) in chords.iter().enumerate() {
                let at = i as u64 * len;
                // Strummed a little: every note within the 1/32-note window of the first.
                for (j, &p) in chord.iter().enumerate() {
                    t.extend(note(*ch, p, 90, at + j as u64 * 7, at + len));
                }
            }
            all.push(t);
        }
        smf(1, 480, &all)
    }

    fn progression_of(bytes: &[u8], drums: &[(u16, u8)], tonic: Option<u8>, mode: Option<&str>) -> Option<String> {
        let arena = Bump::new();
        let score = gather(bytes, &arena).unwrap();
        progression(&score, drums, tonic, mode, "Pop-Example I V vi IV")
    }

    /// The (name, notes) of each chord of a progression.
    fn chords_of(json: &str) -> Vec<(String, Vec<u8>)> {
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        v["progression"]["chords"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let notes = c["notes"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap() as u8).collect();
                (c["name"].as_str().unwrap().to_string(), notes)
            })
            .collect()
    }

    #[test]
    fn render_matches_the_example_byte_for_byte() {
        let chords: Vec<Chord> = ["C", "G", "Am", "F"]
            .iter()
            .zip(POP_CHORDS)
            .map(|(name, notes)| Chord { name: name.to_string(), notes: notes.to_vec() })
            .collect();
        assert_eq!(render("Pop-Example I V vi IV", "C", "Major", &chords), POP);
        assert_eq!(check(POP, PATH), []);
    }

    #[test]
    fn a_chord_file_gives_its_chords_in_order() {
        let chords: Vec<&[u8]> = POP_CHORDS.iter().map(|c| &c[..]).collect();
        let bytes = chord_file(&[(0, &chords)], 960);
        let json = progression_of(&bytes, &[], Some(0), Some("major")).unwrap();
        assert_eq!(check(&json, PATH), []);
        // Named from the voicing: these inversions are slash chords.
        let want = POP
            .replace("\"G\",  \"role\"", "\"G/B\",  \"role\"")
            .replace("\"Am\", \"role\"", "\"Am/C\", \"role\"")
            .replace("\"F\",  \"role\"", "\"F/C\",  \"role\"")
            .replace("\"C\",  \"role\"", "\"C\",    \"role\"");
        assert_eq!(json, want);
    }

    #[test]
    fn repeated_chords_are_folded_and_drums_ignored() {
        let [c, g, am, f] = POP_CHORDS.map(|c| c.to_vec());
        let chords: Vec<&[u8]> = vec![&c, &c, &g, &c, &am, &g, &f, &c];
        // A kit on channel 10 hitting three pitch classes with every chord.
        let kit: Vec<&[u8]> = vec![&[36, 38, 42]; 8];
        let bytes = chord_file(&[(0, &chords), (9, &kit)], 480);
        let json = progression_of(&bytes, &[(2, 9)], None, None).unwrap();
        let got: Vec<Vec<u8>> = chords_of(&json).into_iter().map(|c| c.1).collect();
        assert_eq!(got, [c, g, am, f]);
        // Without the drum part named, the kit's hits join the chords.
        let json = progression_of(&bytes, &[], None, None).unwrap();
        assert_eq!(chords_of(&json)[0].1, [36, 38, 42, 48, 52, 55]);
    }

    #[test]
    fn an_unknown_key_is_c_chromatic() {
        let chords: Vec<&[u8]> = POP_CHORDS.iter().map(|c| &c[..]).collect();
        let bytes = chord_file(&[(0, &chords)], 960);
        for (tonic, mode) in [(None, None), (Some(9), None), (None, Some("minor")), (Some(9), Some("dorian"))] {
            let json = progression_of(&bytes, &[], tonic, mode).unwrap();
            assert!(json.contains("\"rootNote\": \"C\",\n        \"scale\": \"Chromatic\""), "{tonic:?} {mode:?}");
        }
        let json = progression_of(&bytes, &[], Some(10), Some("minor")).unwrap();
        assert!(json.contains("\"rootNote\": \"A#\",\n        \"scale\": \"Natural Minor\""));
        let json = progression_of(&bytes, &[], Some(6), Some("Major")).unwrap();
        assert!(json.contains("\"rootNote\": \"F#\",\n        \"scale\": \"Major\""));
    }

    #[test]
    fn twenty_distinct_chords_keep_the_first_sixteen() {
        let chords: Vec<Vec<u8>> = (0..20u8).map(|i| vec![40 + i, 44 + i, 47 + i]).collect();
        let refs: Vec<&[u8]> = chords.iter().map(|c| &c[..]).collect();
        let json = progression_of(&chord_file(&[(0, &refs)], 480), &[], None, None).unwrap();
        let got = chords_of(&json);
        assert_eq!(got.len(), MAX_CHORDS);
        assert_eq!(got.iter().map(|c| c.1.clone()).collect::<Vec<_>>(), chords[..16]);
        assert_eq!(got[0].0, "E");
        assert_eq!(check(&json, PATH), []);
    }

    #[test]
    fn no_chords_no_progression() {
        let dyads: Vec<&[u8]> = vec![&[48, 55], &[50, 57]];
        assert_eq!(progression_of(&chord_file(&[(0, &dyads)], 480), &[], None, None), None);
        // Octave doublings are one pitch class.
        let octaves: Vec<&[u8]> = vec![&[36, 48, 60, 72]];
        assert_eq!(progression_of(&chord_file(&[(0, &octaves)], 480), &[], None, None), None);
    }

    #[test]
    fn big_voicings_keep_the_bass_and_every_pitch_class() {
        // C2 C3 G3 C4 E4 G4 C5 E5 G5 C6: the bass, then G and E, then the lowest doublings.
        let big: &[u8] = &[36, 48, 55, 60, 64, 67, 72, 76, 79, 84];
        assert_eq!(voicing(big), [36, 48, 55, 60, 64, 67, 72, 76]);
        let json = progression_of(&chord_file(&[(0, &[big])], 480), &[], None, None).unwrap();
        assert_eq!(chords_of(&json), [("C".to_string(), vec![36, 48, 55, 60, 64, 67, 72, 76])]);
        // A cluster of ten pitch classes keeps its lowest eight.
        let cluster: Vec<u8> = (60..70).collect();
        assert_eq!(voicing(&cluster), (60..68).collect::<Vec<u8>>());
        let json = progression_of(&chord_file(&[(0, &[&cluster[..]])], 480), &[], None, None).unwrap();
        assert_eq!(chords_of(&json)[0].1, (60..68).collect::<Vec<u8>>());
        assert_eq!(check(&json, PATH), []);
    }

    #[test]
    fn chords_without_a_name_are_question_marks() {
        let json = progression_of(&chord_file(&[(0, &[&[60, 61, 62][..]])], 480), &[], None, None).unwrap();
        assert_eq!(chords_of(&json), [("?".to_string(), vec![60, 61, 62])]);
        assert_eq!(check(&json, PATH), []);
    }

    #[test]
    fn generated_chord_files_give_the_analysis_chords_in_order() {
        for seed in 0..30u64 {
            // Kind 2 is "chords".
            let (bytes, truth) = crate::gen::labelled_midi(2, seed);
            let arena = Bump::new();
            let score = gather(&bytes, &arena).unwrap();
            let parts = parts::parts(&score);
            let drums: Vec<(u16, u8)> = parts.iter().filter(|p| p.drums).map(|p| (p.track, p.ch)).collect();
            let mode = if truth.minor { "minor" } else { "major" };
            let json = progression(&score, &drums, Some(truth.tonic), Some(mode), "Generated").unwrap();
            assert_eq!(check(&json, "Progressions/Chords-Generated.progression"), [], "seed {seed}");
            assert!(json.contains(&format!("\"rootNote\": \"{}\"", ROOT_NOTES[usize::from(truth.tonic)])));
            // The analysis names the same block chords; its list folds only neighbours, ours
            // every repeat, so their first appearances agree.
            let firsts = |names: &mut dyn Iterator<Item = String>| {
                let mut out: Vec<String> = Vec::new();
                for n in names {
                    if !out.contains(&n) {
                        out.push(n);
                    }
                }
                out
            };
            let ours = firsts(&mut chords_of(&json).into_iter().map(|c| c.0).filter(|n| n != "?"));
            let theirs = firsts(&mut parts::chords(&score, &parts).into_iter());
            assert!(!ours.is_empty() && ours.len() <= theirs.len(), "seed {seed}: {ours:?} {theirs:?}");
            assert_eq!(ours[..], theirs[..ours.len()], "seed {seed}");
        }
    }

    #[test]
    fn prog_001_json_bom_and_one_top_level_key() {
        assert_eq!(rules(&format!("\u{feff}{POP}"), PATH), ["PROG-001"]);
        assert_eq!(rules("{\"progression\": ", PATH), ["PROG-001"]);
        assert_eq!(rules(&POP.replacen("\"progression\"", "\"progession\"", 1), PATH), ["PROG-001"]);
        assert_eq!(
            rules(&POP.replacen("{\n    \"progression\"", "{\n    \"v\": 1,\n    \"progression\"", 1), PATH),
            ["PROG-001"]
        );
    }

    #[test]
    fn prog_002_fields_in_order() {
        let swapped = POP.replacen(
            "\"rootNote\": \"C\",\n        \"scale\": \"Major\",",
            "\"scale\": \"Major\",\n        \"rootNote\": \"C\",",
            1,
        );
        assert_eq!(rules(&swapped, PATH), ["PROG-002"]);
        let extra = POP.replacen("\"recordingOctave\": 2,", "\"recordingOctave\": 2,\n        \"bpm\": 90,", 1);
        assert_eq!(rules(&extra, PATH), ["PROG-002"]);
        assert_eq!(rules(&POP.replacen("\"Pop-Example I V vi IV\"", "\"\"", 1), PATH), ["PROG-002"]);
    }

    #[test]
    fn prog_003_root_note_spelling() {
        for root in ["Db", "c", "H", "1"] {
            let json = POP.replacen("\"rootNote\": \"C\"", &format!("\"rootNote\": \"{root}\""), 1);
            assert_eq!(rules(&json, PATH), ["PROG-003"], "{root}");
        }
    }

    #[test]
    fn prog_004_scale_spelling() {
        for scale in ["Minor", "Dorian", "major"] {
            let json = POP.replacen("\"scale\": \"Major\"", &format!("\"scale\": \"{scale}\""), 1);
            assert_eq!(rules(&json, PATH), ["PROG-004"], "{scale}");
        }
    }

    #[test]
    fn prog_005_recording_octave() {
        for octave in ["0", "5", "2.0", "\"2\""] {
            let json = POP.replacen("\"recordingOctave\": 2", &format!("\"recordingOctave\": {octave}"), 1);
            assert_eq!(rules(&json, PATH), ["PROG-005"], "{octave}");
        }
    }

    #[test]
    fn prog_006_chord_count_and_roles() {
        let normal_first = POP.replacen("\"role\": \"Root\",  ", "\"role\": \"Normal\",", 1);
        assert_eq!(rules(&normal_first, PATH), ["PROG-006"]);
        let two_roots = POP.replacen("\"role\": \"Normal\"", "\"role\": \"Root\"", 1);
        assert_eq!(rules(&two_roots, PATH), ["PROG-006"]);
        let below = POP.replacen("\"role\": \"Normal\"", "\"role\": \"BelowRoot\"", 1);
        assert_eq!(rules(&below, PATH), ["PROG-006"]);
        let start = POP.find("            { \"name\": \"C\"").unwrap();
        let end = POP.find("        ]").unwrap();
        assert_eq!(rules(&format!("{}{}", &POP[..start], &POP[end..]), PATH), ["PROG-006"]);
        let many: Vec<Chord> =
            (0..17u8).map(|i| Chord { name: "C".to_string(), notes: vec![48 + i, 52 + i, 55 + i] }).collect();
        assert_eq!(rules(&render("Many", "C", "Major", &many), PATH), ["PROG-006"]);
        assert_eq!(rules(&render("Many", "C", "Major", &many[..16]), PATH), Vec::<&str>::new());
        assert_eq!(
            rules(&POP.replacen("\"notes\": [ 48, 52, 55 ] }", "\"notes\": [ 48, 52, 55 ], \"x\": 1 }", 1), PATH),
            ["PROG-006"]
        );
    }

    #[test]
    fn prog_007_notes_distinct_sorted_in_range() {
        for notes in [
            "[ 52, 48, 55 ]",
            "[ 48, 48, 55 ]",
            "[ 48, 52, 128 ]",
            "[ ]",
            "[ 1, 2, 3, 4, 5, 6, 7, 8, 9 ]",
            "[ 48.0, 52, 55 ]",
        ] {
            let json = POP.replacen("[ 48, 52, 55 ]", notes, 1);
            assert_eq!(rules(&json, PATH), ["PROG-007"], "{notes}");
        }
    }

    #[test]
    fn prog_008_chord_names() {
        assert_eq!(rules(&POP.replacen("\"name\": \"Am\"", "\"name\": \"\"", 1), PATH), ["PROG-008"]);
        let long = POP.replacen("\"name\": \"Am\"", "\"name\": \"Aminor7add9sus4b13\"", 1);
        assert_eq!(rules(&long, PATH), ["PROG-008"]);
    }

    #[test]
    fn prog_009_file_in_the_progressions_folder() {
        for path in [
            "Pop.progression",
            "Progressions/Sub/Pop.progression",
            "MPC/Progressions/Pop.progression",
            "progressions/Pop.progression",
            "Progressions/Pop.PROGRESSION",
            "Progressions/Pop.json",
            "Progressions/.progression",
        ] {
            assert_eq!(rules(POP, path), ["PROG-009"], "{path}");
        }
    }

    #[test]
    fn file_names_follow_the_recommendation() {
        assert_eq!(file_name("Pop", "Example I V vi IV"), "Pop-Example I V vi IV.progression");
        assert_eq!(file_name("Café", "Größe: \"Nr. 1\" / Ünï 🎹"), "Cafe-Grosse Nr. 1 Uni.progression");
        assert_eq!(file_name("Neo-Soul", "a-b"), "Neo Soul-a-b.progression");
        assert_eq!(file_name("", ""), "Untitled.progression");
        assert_eq!(file_name("Pop", " ... "), "Pop-Untitled.progression");
        assert_eq!(file_name("", "Godly"), "Godly.progression");
        assert_eq!(file_name("", "con"), "con_.progression");
        assert_eq!(file_name("", "LPT1.x"), "LPT1_.x.progression");
        assert_eq!(file_name("Pop", "con"), "Pop-con.progression");
        let long = file_name(&"c".repeat(100), &"n".repeat(100));
        assert_eq!(long.len(), MAX_FILE_NAME);
        assert!(long.starts_with(&format!("{}-n", "c".repeat(26))), "{long}");
        for (category, name) in [("Pop", "x".repeat(300)), ("", "y  ".repeat(40)), ("日本", "音楽".to_string())] {
            let f = file_name(category, &name);
            assert!(f.len() <= MAX_FILE_NAME && f.ends_with(EXTENSION) && f.len() > EXTENSION.len(), "{f}");
            assert!(f.chars().all(allowed), "{f}");
            assert_eq!(rules(POP, &format!("{FOLDER}/{f}")), Vec::<&str>::new());
        }
    }

    #[test]
    fn display_names_are_folded() {
        assert_eq!(display_name("Café \"Noir\"\t07"), "Cafe Noir 07");
        assert_eq!(display_name("🎹"), UNTITLED);
        assert_eq!(display_name(&"z".repeat(100)).len(), MAX_NAME);
    }
}
