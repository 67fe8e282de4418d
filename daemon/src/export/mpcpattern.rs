//! `.mpcpattern`: one track's notes as the MPC and the Force load them into a track or a clip.
//!
//! A plain `.mid` is imported by an MPC as a whole new sequence, so a loop library needs the
//! native pattern format to be useful in a session. The format is the flat JSON schema that
//! Midian writes (FORMATS.md 1.4), emitted exactly in our writer profile (1.8): 960 PPQ, the
//! three header events verbatim, notes sorted and merged, velocities as the MPC's own float32
//! values. [`check`] encodes the profile's rules MPCP-001..009 so an export can be verified
//! without the hardware; [`read`] reads a flat pattern back.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write;
use std::sync::LazyLock;

use super::json::{Json, Sink};
use super::Violation;
use crate::analysis::score::Score;

/// Ticks per quarter note of every pattern (FORMATS 1.3).
pub const PPQ: u32 = 960;

/// `pattern.length`: a sentinel for "unbounded" in every known file, not a musical length.
pub const LENGTH: i64 = i64::MAX;

/// One note of a pattern, at [`PPQ`]. `vel` is 1..=127; `len` at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PatternNote {
    pub time: u64,
    pub len: u64,
    pub note: u8,
    pub vel: u8,
}

/// The pattern of one (track, channel) of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// Track index in the file, from 0.
    pub track: u16,
    /// MIDI channel as in the file, 0-15 (GM drums are 9).
    pub channel: u8,
    /// Note events written (after duplicates were merged).
    pub notes: usize,
    pub json: String,
}

/// Everything up to the last header event; the header events are written verbatim (1.5).
const HEAD: &str = "{
    \"pattern\": {
        \"length\": 9223372036854775807,
        \"events\": [
            {
                \"type\": 1,
                \"time\": 0,
                \"len\": 0,
                \"1\": 0,
                \"2\": 0.0,
                \"3\": 0,
                \"mod\": 0,
                \"modVal\": 0.0
            },
            {
                \"type\": 1,
                \"time\": 0,
                \"len\": 0,
                \"1\": 32,
                \"2\": 0.0,
                \"3\": 0,
                \"mod\": 0,
                \"modVal\": 0.0
            },
            {
                \"type\": 1,
                \"time\": 0,
                \"len\": 0,
                \"1\": 130,
                \"2\": 0.787401556968689,
                \"3\": 0,
                \"mod\": 0,
                \"modVal\": 0.0
            }";

const TAIL: &str = "\n        ]\n    }\n}\n";

/// Bytes of one note event with typical numbers, for the capacity guess.
const EVENT_BYTES: usize = 220;

/// The event keys in the profile's order (MPCP-004).
const KEYS: [&str; 8] = ["type", "time", "len", "1", "2", "3", "mod", "modVal"];

/// Parameter id and value of the three header events (1.5). The 130 value is float32 100/127
/// printed as a double.
const HEADER_EVENTS: [(i128, f64); 3] = [(0, 0.0), (32, 0.0), (130, 0.787401556968689)];

/// The smallest velocity value our writer emits: float32 1/127, widened. It is a hair below
/// the double 1/127, so MPCP-005's lower bound is taken in float32, as the MPC stores it.
const MIN_VELOCITY: f64 = (1f32 / 127f32) as f64;

/// `"2"` of each MIDI velocity, as the MPC prints it: float32 v/127 widened to a double and
/// printed as the shortest string that reads back to that double (`{:?}` keeps the `.0` of
/// `1.0`). Built once: an export renders thousands of patterns a second.
static VELOCITY: LazyLock<[String; 128]> =
    LazyLock::new(|| std::array::from_fn(|v| format!("{:?}", f64::from(v as f32 / 127f32))));

/// One pattern per (track, channel) that holds notes, in (track, channel) order. Empty for an
/// SMPTE-timed file: a pattern stores no tempo, so such a file is copied, not converted
/// (FORMATS 1.8 step 1). Notes are converted by FORMATS 1.8 steps 3-6; pairing (step 2) is
/// the score's.
pub fn patterns(score: &Score) -> Vec<Pattern> {
    if score.ppq == 0 {
        return Vec::new();
    }
    let mut keyed: Vec<(u16, u8, PatternNote)> = score
        .notes
        .iter()
        .map(|n| {
            let time = to_ppq(n.on, score.ppq);
            let end = to_ppq(n.off, score.ppq);
            let note =
                PatternNote { time, len: end.saturating_sub(time).max(1), note: n.pitch, vel: n.vel.clamp(1, 127) };
            (n.track, n.ch, note)
        })
        .collect();
    keyed.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then_with(|| pattern_order(&a.2, &b.2)));
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for part in keyed.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        notes.clear();
        notes.extend(part.iter().map(|k| k.2));
        notes.dedup_by_key(|n| (n.time, n.note));
        if let Some(json) = render(&notes) {
            out.push(Pattern { track: part[0].0, channel: part[0].1, notes: notes.len(), json });
        }
    }
    out
}

/// A tick at `ppq` as a tick at [`PPQ`], rounded half up, from the absolute tick so rounding
/// never accumulates (Midian rounds start and length apart and drifts by a tick).
fn to_ppq(tick: u64, ppq: u32) -> u64 {
    let ppq = u128::from(ppq.max(1));
    let scaled = u128::from(tick) * u128::from(PPQ);
    u64::try_from((2 * scaled + ppq) / (2 * ppq)).unwrap_or(u64::MAX)
}

/// Time, then note (MPCP-006); of equal (time, note) the longest first, then the loudest, so
/// a dedup keeps the note MPCP-007 asks for.
fn pattern_order(a: &PatternNote, b: &PatternNote) -> std::cmp::Ordering {
    (a.time, a.note, std::cmp::Reverse(a.len), std::cmp::Reverse(a.vel)).cmp(&(
        b.time,
        b.note,
        std::cmp::Reverse(b.len),
        std::cmp::Reverse(b.vel),
    ))
}

fn in_profile(n: &PatternNote) -> bool {
    n.note <= 127 && n.len >= 1 && (1..=127).contains(&n.vel)
}

/// The notes as the profile wants them: sorted, merged, lengths at least 1, velocities in
/// 1..=127, notes above 127 dropped. Already-clean input (what [`patterns`] passes) is not
/// copied.
fn normalized(notes: &[PatternNote]) -> Cow<'_, [PatternNote]> {
    let clean =
        notes.iter().all(in_profile) && notes.windows(2).all(|w| (w[0].time, w[0].note) < (w[1].time, w[1].note));
    if clean {
        return Cow::Borrowed(notes);
    }
    let mut v: Vec<PatternNote> = notes
        .iter()
        .filter(|n| n.note <= 127)
        .map(|n| PatternNote { len: n.len.max(1), vel: n.vel.clamp(1, 127), ..*n })
        .collect();
    v.sort_unstable_by(pattern_order);
    v.dedup_by_key(|n| (n.time, n.note));
    Cow::Owned(v)
}

/// The `.mpcpattern` text of these notes in the writer profile (FORMATS 1.8, formatted as
/// `minimal-example.mpcpattern`: 4-space indent, one value per line, LF, final newline). Notes
/// are sorted and merged here too, so any input gives a file that passes [`check`]. None when
/// no note is left: empty patterns are not written (MPCP-008).
pub fn render(notes: &[PatternNote]) -> Option<String> {
    let notes = normalized(notes);
    if notes.is_empty() {
        return None;
    }
    let mut s = String::with_capacity(HEAD.len() + TAIL.len() + notes.len() * EVENT_BYTES);
    s.push_str(HEAD);
    for n in notes.iter() {
        s.push_str(",\n            {\n                \"type\": 2,\n                \"time\": ");
        // Writing to a String cannot fail.
        let _ = write!(s, "{}", n.time);
        s.push_str(",\n                \"len\": ");
        let _ = write!(s, "{}", n.len);
        s.push_str(",\n                \"1\": ");
        let _ = write!(s, "{}", n.note);
        s.push_str(",\n                \"2\": ");
        s.push_str(&VELOCITY[usize::from(n.vel)]);
        s.push_str(
            ",\n                \"3\": 0,\n                \"mod\": 0,\n                \"modVal\": 0.5\n            }",
        );
    }
    s.push_str(TAIL);
    Some(s)
}

/// Why a pattern could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("no pattern.events array")]
    NoEvents,
    #[error("event {index}: {what}")]
    Event { index: usize, what: &'static str },
}

/// The notes of a flat-schema pattern, in file order. Velocity is `round(x*127)` (truncating
/// fails on float error, FORMATS 1.7), kept in 1..=127. Lenient where writers differ and the
/// meaning is clear: a BOM, header or controller events (skipped), the `type` 2050 notes of
/// 1.6 (a), integers written as floats. The nested MPC 3 schema is not read.
pub fn read(json: &str) -> Result<Vec<PatternNote>, ReadError> {
    let root = Json::parse(json.strip_prefix('\u{feff}').unwrap_or(json))?;
    let events = root.get("pattern").and_then(|p| p.get("events")).and_then(Json::arr).ok_or(ReadError::NoEvents)?;
    let mut out = Vec::with_capacity(events.len());
    for (index, ev) in events.iter().enumerate() {
        let err = |what| ReadError::Event { index, what };
        let ty = ev.get("type").and_then(Json::int).ok_or(err("no integer type"))?;
        if ty != 2 && ty != 2050 {
            continue;
        }
        let tick = |key: &str, what| match ev.get(key) {
            Some(Json::Int(t)) => u64::try_from(*t).map_err(|_| err(what)),
            Some(Json::Float(f)) if f.is_finite() && *f >= 0.0 && *f < u64::MAX as f64 => Ok(f.round() as u64),
            _ => Err(err(what)),
        };
        let time = tick("time", "time is not a tick")?;
        let len = tick("len", "len is not a tick")?;
        let note = match ev.get("1").and_then(Json::num) {
            Some(n) if (0.0..=127.0).contains(&n) && n.fract() == 0.0 => n as u8,
            _ => return Err(err("\"1\" is not a note number 0-127")),
        };
        let vel = match ev.get("2").and_then(Json::num) {
            Some(x) if (0.0..=1.0).contains(&x) => ((x * 127.0).round() as u8).clamp(1, 127),
            _ => return Err(err("\"2\" is not a velocity 0.0-1.0")),
        };
        out.push(PatternNote { time, len, note, vel });
    }
    Ok(out)
}

/// Every broken rule of the writer profile (MPCP-001..009, FORMATS 1.8), including those on
/// order that a JSON Schema cannot say. Empty for a file in the profile.
pub fn check(json: &str) -> Vec<Violation> {
    let mut v = Sink::new();
    let text = match json.strip_prefix('\u{feff}') {
        Some(rest) => {
            v.push("MPCP-001", "starts with a byte-order mark");
            rest
        }
        None => json,
    };
    let root = match Json::parse(text) {
        Ok(root) => root,
        Err(e) => {
            v.push("MPCP-001", format!("not JSON: {e}"));
            return v.finish();
        }
    };
    if root.keys() != ["pattern"] {
        v.push("MPCP-001", format!("top level has keys {:?}, not exactly [\"pattern\"]", root.keys()));
    }
    let Some(pattern) = root.get("pattern") else {
        return v.finish();
    };
    let mut keys = pattern.keys();
    keys.sort_unstable();
    if keys != ["events", "length"] {
        v.push("MPCP-001", format!("pattern has keys {:?}, not exactly length and events", pattern.keys()));
    }
    match pattern.get("length") {
        Some(Json::Int(l)) if *l == i128::from(LENGTH) => {}
        Some(other) => v.push("MPCP-002", format!("length is {} {other:?}, not the integer {LENGTH}", other.kind())),
        None => v.push("MPCP-002", "no length"),
    }
    let Some(events) = pattern.get("events").and_then(Json::arr) else {
        v.push("MPCP-001", "pattern.events is not an array");
        return v.finish();
    };

    for (i, (id, value)) in HEADER_EVENTS.iter().enumerate() {
        match events.get(i) {
            None => v.push("MPCP-003", format!("event {i}: missing; the file has {} events", events.len())),
            Some(e) if !is_header(e, *id, *value) => {
                v.push("MPCP-003", format!("event {i} is not the header event for parameter {id}: {e:?}"));
            }
            Some(_) => {}
        }
    }

    // (time, note, index) of every readable note event, for the order and duplicate rules.
    let mut notes: Vec<(i128, i128, usize)> = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate().skip(HEADER_EVENTS.len()) {
        if !matches!(e, Json::Obj(_)) {
            v.push("MPCP-004", format!("event {i} is {}, not an object", e.kind()));
            continue;
        }
        let ty = e.get("type");
        if ty != Some(&Json::Int(2)) {
            v.push("MPCP-004", format!("event {i}: type is {ty:?}, not 2"));
        }
        if e.keys() != KEYS {
            v.push("MPCP-004", format!("event {i}: keys {:?}, not {KEYS:?}", e.keys()));
        }
        check_values(&mut v, i, e);
        if let (Some(&Json::Int(2)), Some(Json::Int(t)), Some(Json::Int(n))) = (ty, e.get("time"), e.get("1")) {
            notes.push((*t, *n, i));
        }
    }

    for w in notes.windows(2) {
        if (w[0].0, w[0].1) > (w[1].0, w[1].1) {
            v.push(
                "MPCP-006",
                format!(
                    "event {} (time {}, note {}) comes after (time {}, note {})",
                    w[1].2, w[1].0, w[1].1, w[0].0, w[0].1
                ),
            );
        }
    }
    let mut seen = HashSet::with_capacity(notes.len());
    for &(t, n, i) in &notes {
        if !seen.insert((t, n)) {
            v.push("MPCP-007", format!("event {i}: a second note {n} at time {t}"));
        }
    }
    let note_events = events.iter().skip(HEADER_EVENTS.len()).filter(|e| e.get("type") == Some(&Json::Int(2))).count();
    if note_events == 0 {
        v.push("MPCP-008", "no note events");
    }
    v.finish()
}

fn is_header(e: &Json, id: i128, value: f64) -> bool {
    let int = |k: &str, want: i128| e.get(k) == Some(&Json::Int(want));
    let num = |k: &str, want: f64| e.get(k).and_then(Json::num) == Some(want);
    e.keys() == KEYS
        && int("type", 1)
        && int("time", 0)
        && int("len", 0)
        && int("1", id)
        && num("2", value)
        && int("3", 0)
        && int("mod", 0)
        && num("modVal", 0.0)
}

/// MPCP-005 (ranges and constants) and MPCP-009 (ticks written as floats) of one event.
fn check_values(v: &mut Sink, i: usize, e: &Json) {
    for key in ["time", "len"] {
        if let Some(Json::Float(f)) = e.get(key) {
            v.push("MPCP-009", format!("event {i}: {key} is written as a float ({f}), not an integer tick at 960 PPQ"));
        }
    }
    let bad = |key: &str, want: &str, got: Option<&Json>| format!("event {i}: \"{key}\" is {got:?}, not {want}");
    match e.get("time") {
        Some(Json::Int(t)) if *t >= 0 => {}
        Some(Json::Float(_)) => {}
        got => v.push("MPCP-005", bad("time", "an integer >= 0", got)),
    }
    match e.get("len") {
        Some(Json::Int(l)) if *l >= 1 => {}
        Some(Json::Float(_)) => {}
        got => v.push("MPCP-005", bad("len", "an integer >= 1", got)),
    }
    match e.get("1") {
        Some(Json::Int(n)) if (0..=127).contains(n) => {}
        got => v.push("MPCP-005", bad("1", "a note number 0-127", got)),
    }
    match e.get("2").and_then(Json::num) {
        Some(x) if (MIN_VELOCITY..=1.0).contains(&x) => {}
        _ => v.push("MPCP-005", bad("2", "a velocity in [1/127, 1.0]", e.get("2"))),
    }
    for key in ["3", "mod"] {
        if e.get(key) != Some(&Json::Int(0)) {
            v.push("MPCP-005", bad(key, "0", e.get(key)));
        }
    }
    if e.get("modVal").and_then(Json::num) != Some(0.5) {
        v.push("MPCP-005", bad("modVal", "0.5", e.get("modVal")));
    }
}

#[cfg(test)]
pub(super) mod tests {
    use bumpalo::Bump;

    use super::*;
    use crate::analysis::score::gather;

    /// A Standard MIDI File from raw events: per track, (absolute tick, event bytes with their
    /// status byte). Events are ordered by tick, note-offs before note-ons at one tick (a
    /// repeated key ends before it starts again), otherwise as given.
    pub(in crate::export) fn smf(format: u16, division: u16, tracks: &[Vec<(u64, Vec<u8>)>]) -> Vec<u8> {
        let mut out = b"MThd".to_vec();
        out.extend_from_slice(&6u32.to_be_bytes());
        out.extend_from_slice(&format.to_be_bytes());
        out.extend_from_slice(&(tracks.len() as u16).to_be_bytes());
        out.extend_from_slice(&division.to_be_bytes());
        for track in tracks {
            let mut evs = track.clone();
            evs.sort_by_key(|(t, e)| (*t, !(e[0] & 0xF0 == 0x80 || (e[0] & 0xF0 == 0x90 && e[2] == 0))));
            let mut body = Vec::new();
            let mut last = 0;
            let end_of_track = (evs.last().map_or(0, |e| e.0), vec![0xFF, 0x2F, 0]);
            for (t, e) in evs.iter().chain(std::iter::once(&end_of_track)) {
                let mut delta = t - last;
                last = *t;
                let mut var = vec![(delta & 0x7F) as u8];
                delta >>= 7;
                while delta > 0 {
                    var.push(0x80 | (delta & 0x7F) as u8);
                    delta >>= 7;
                }
                var.reverse();
                body.extend(var);
                body.extend(e);
            }
            out.extend_from_slice(b"MTrk");
            out.extend_from_slice(&(body.len() as u32).to_be_bytes());
            out.extend(body);
        }
        out
    }

    /// A note's on and off events on channel `ch`.
    pub(in crate::export) fn note(ch: u8, pitch: u8, vel: u8, on: u64, off: u64) -> [(u64, Vec<u8>); 2] {
        [(on, vec![0x90 | ch, pitch, vel]), (off, vec![0x80 | ch, pitch, 0])]
    }

    fn patterns_of(bytes: &[u8]) -> Vec<Pattern> {
        let arena = Bump::new();
        let score = gather(bytes, &arena).unwrap();
        patterns(&score)
    }

    /// The expected pattern of (on, off, pitch, vel) notes at `ppq`, converted with floats
    /// (an independent route to FORMATS 1.8 step 3), sorted.
    fn expected(notes: &[(u64, u64, u8, u8)], ppq: u32) -> Vec<PatternNote> {
        let at = |t: u64| (t as f64 * 960.0 / f64::from(ppq)).round() as u64;
        let mut v: Vec<PatternNote> = notes
            .iter()
            .map(|&(on, off, note, vel)| PatternNote { time: at(on), len: (at(off) - at(on)).max(1), note, vel })
            .collect();
        v.sort_by_key(|n| (n.time, n.note));
        v
    }

    fn rules(json: &str) -> Vec<&'static str> {
        let mut r: Vec<&str> = check(json).into_iter().map(|v| v.rule).collect();
        r.dedup();
        r
    }

    /// One bar of 4/4: kick (36, velocity 127) on 1 and 3, snare (38, velocity 100) on 2 and
    /// 4, a sixteenth each.
    fn kick_snare() -> Vec<PatternNote> {
        [(0, 36, 127), (960, 38, 100), (1920, 36, 127), (2880, 38, 100)]
            .map(|(time, note, vel)| PatternNote { time, len: 240, note, vel })
            .to_vec()
    }

    /// FORMATS 1.8's example, formatted as `minimal-example.mpcpattern`, except the snare's
    /// velocity: the example writes the double 100/127 (`0.7874015748031497`), our profile the
    /// float32 value the MPC itself writes (1.7), as in the 130 header event.
    const KICK_SNARE: &str = r#"{
    "pattern": {
        "length": 9223372036854775807,
        "events": [
            {
                "type": 1,
                "time": 0,
                "len": 0,
                "1": 0,
                "2": 0.0,
                "3": 0,
                "mod": 0,
                "modVal": 0.0
            },
            {
                "type": 1,
                "time": 0,
                "len": 0,
                "1": 32,
                "2": 0.0,
                "3": 0,
                "mod": 0,
                "modVal": 0.0
            },
            {
                "type": 1,
                "time": 0,
                "len": 0,
                "1": 130,
                "2": 0.787401556968689,
                "3": 0,
                "mod": 0,
                "modVal": 0.0
            },
            {
                "type": 2,
                "time": 0,
                "len": 240,
                "1": 36,
                "2": 1.0,
                "3": 0,
                "mod": 0,
                "modVal": 0.5
            },
            {
                "type": 2,
                "time": 960,
                "len": 240,
                "1": 38,
                "2": 0.787401556968689,
                "3": 0,
                "mod": 0,
                "modVal": 0.5
            },
            {
                "type": 2,
                "time": 1920,
                "len": 240,
                "1": 36,
                "2": 1.0,
                "3": 0,
                "mod": 0,
                "modVal": 0.5
            },
            {
                "type": 2,
                "time": 2880,
                "len": 240,
                "1": 38,
                "2": 0.787401556968689,
                "3": 0,
                "mod": 0,
                "modVal": 0.5
            }
        ]
    }
}
"#;

    #[test]
    fn velocities_print_as_the_mpc_writes_them() {
        assert_eq!(VELOCITY[100], "0.787401556968689");
        assert_eq!(VELOCITY[64], "0.5039370059967041");
        assert_eq!(VELOCITY[90], "0.7086614370346069");
        assert_eq!(VELOCITY[107], "0.8425197005271912");
        assert_eq!(VELOCITY[127], "1.0");
        assert_eq!(HEADER_EVENTS[2].1, f64::from(100f32 / 127f32));
        for v in 1..=127u8 {
            let s = &VELOCITY[usize::from(v)];
            assert!(!s.contains('e'), "{s}");
            let x: f64 = s.parse().unwrap();
            assert_eq!(x, f64::from(f32::from(v) / 127f32));
            assert_eq!((x * 127.0).round() as u8, v);
        }
    }

    #[test]
    fn render_matches_the_one_bar_example_byte_for_byte() {
        assert_eq!(render(&kick_snare()).unwrap(), KICK_SNARE);
        // In any order, with a duplicate: the same file.
        let mut shuffled = kick_snare();
        shuffled.reverse();
        shuffled.push(PatternNote { time: 960, len: 10, note: 38, vel: 1 });
        assert_eq!(render(&shuffled).unwrap(), KICK_SNARE);
    }

    #[test]
    fn render_passes_every_rule() {
        assert_eq!(check(KICK_SNARE), []);
        let odd = [
            PatternNote { time: 5, len: 0, note: 127, vel: 0 },
            PatternNote { time: 5, len: 7, note: 0, vel: 200 },
            PatternNote { time: 0, len: u64::MAX, note: 60, vel: 1 },
            PatternNote { time: 5, len: 3, note: 200, vel: 64 },
        ];
        let json = render(&odd).unwrap();
        assert_eq!(check(&json), []);
        let back = read(&json).unwrap();
        assert_eq!(
            back,
            [
                PatternNote { time: 0, len: u64::MAX, note: 60, vel: 1 },
                PatternNote { time: 5, len: 7, note: 0, vel: 127 },
                PatternNote { time: 5, len: 1, note: 127, vel: 1 },
            ]
        );
    }

    #[test]
    fn duplicates_merge_keeping_the_longer() {
        let notes = [
            PatternNote { time: 0, len: 100, note: 36, vel: 90 },
            PatternNote { time: 0, len: 300, note: 36, vel: 20 },
            PatternNote { time: 0, len: 200, note: 36, vel: 127 },
        ];
        assert_eq!(read(&render(&notes).unwrap()).unwrap(), [notes[1]]);
    }

    #[test]
    fn mpcp_001_json_bom_and_top_level_keys() {
        assert_eq!(rules(&format!("\u{feff}{KICK_SNARE}")), ["MPCP-001"]);
        assert_eq!(rules("{\"pattern\": "), ["MPCP-001"]);
        let extra = KICK_SNARE.replacen("{\n    \"pattern\"", "{\n    \"x\": 1,\n    \"pattern\"", 1);
        assert_eq!(rules(&extra), ["MPCP-001"]);
        let inner = KICK_SNARE.replacen("\"length\"", "\"bpm\": 120,\n        \"length\"", 1);
        assert_eq!(rules(&inner), ["MPCP-001"]);
        assert_eq!(rules("[]"), ["MPCP-001"]);
    }

    #[test]
    fn mpcp_002_length_is_the_int64_sentinel() {
        for length in
            ["9223372036854775806", "9223372036854775807.0", "9.223372036854776e18", "\"9223372036854775807\""]
        {
            let json = KICK_SNARE.replacen("9223372036854775807", length, 1);
            assert_eq!(rules(&json), ["MPCP-002"], "{length}");
        }
    }

    #[test]
    fn mpcp_003_header_events_verbatim() {
        let json = KICK_SNARE.replacen("0.787401556968689", "0.7874015748031497", 1);
        assert_eq!(rules(&json), ["MPCP-003"]);
        let json = KICK_SNARE.replacen("\"1\": 32", "\"1\": 7", 1);
        assert_eq!(rules(&json), ["MPCP-003"]);
        // A note before the headers: the headers are out of place.
        let i = KICK_SNARE.find("            {\n                \"type\": 2").unwrap();
        let note = &KICK_SNARE[i..KICK_SNARE[i..].find('}').unwrap() + i + 1];
        let moved = KICK_SNARE.replacen(&format!(",\n{note}"), "", 1).replacen(
            "\"events\": [\n",
            &format!("\"events\": [\n{note},\n"),
            1,
        );
        assert!(rules(&moved).contains(&"MPCP-003"));
    }

    #[test]
    fn mpcp_004_note_events_type_keys_and_order() {
        let swapped = KICK_SNARE.replacen(
            "\"type\": 2,\n                \"time\": 960,",
            "\"time\": 960,\n                \"type\": 2,",
            1,
        );
        assert_eq!(rules(&swapped), ["MPCP-004"]);
        let extra = KICK_SNARE.replacen("\"modVal\": 0.5\n", "\"modVal\": 0.5,\n                \"prob\": 100\n", 1);
        assert_eq!(rules(&extra), ["MPCP-004"]);
        let typed = KICK_SNARE.replacen(
            "\"type\": 2,\n                \"time\": 960,",
            "\"type\": 2050,\n                \"time\": 960,",
            1,
        );
        assert!(rules(&typed).contains(&"MPCP-004"));
    }

    #[test]
    fn mpcp_005_value_ranges() {
        for (from, to) in [
            ("\"len\": 240", "\"len\": 0"),
            ("\"time\": 0,\n                \"len\": 240", "\"time\": -1,\n                \"len\": 240"),
            ("\"1\": 38", "\"1\": 128"),
            ("\"2\": 1.0", "\"2\": 1.5"),
            ("\"2\": 1.0", "\"2\": 0.0"),
            (
                "\"3\": 0,\n                \"mod\": 0,\n                \"modVal\": 0.5",
                "\"3\": 1,\n                \"mod\": 0,\n                \"modVal\": 0.5",
            ),
            ("\"mod\": 0,\n                \"modVal\": 0.5", "\"mod\": 2,\n                \"modVal\": 0.5"),
            ("\"modVal\": 0.5", "\"modVal\": 0.0"),
        ] {
            assert_eq!(rules(&KICK_SNARE.replacen(from, to, 1)), ["MPCP-005"], "{to}");
        }
    }

    #[test]
    fn mpcp_006_notes_sorted_by_time_then_note() {
        let json = KICK_SNARE.replacen("\"time\": 1920", "\"time\": 100", 1);
        assert_eq!(rules(&json), ["MPCP-006"]);
        let mut notes = kick_snare();
        notes.push(PatternNote { time: 960, len: 240, note: 42, vel: 64 });
        let json = render(&notes).unwrap();
        let i = json.find("\"1\": 38").unwrap();
        let swapped = format!("{}\"1\": 42{}", &json[..i], &json[i + 7..]);
        let j = swapped.rfind("\"1\": 42").unwrap();
        let swapped = format!("{}\"1\": 38{}", &swapped[..j], &swapped[j + 7..]);
        assert_eq!(rules(&swapped), ["MPCP-006"]);
    }

    #[test]
    fn mpcp_007_no_duplicate_time_and_note() {
        let json = KICK_SNARE.replacen(
            "\"time\": 1920,\n                \"len\": 240,\n                \"1\": 36",
            "\"time\": 960,\n                \"len\": 240,\n                \"1\": 38",
            1,
        );
        assert_eq!(rules(&json), ["MPCP-007"]);
    }

    #[test]
    fn mpcp_008_at_least_one_note() {
        assert_eq!(render(&[]), None);
        let end = KICK_SNARE.find(",\n            {\n                \"type\": 2").unwrap();
        let empty = format!("{}{TAIL}", &KICK_SNARE[..end]);
        assert_eq!(rules(&empty), ["MPCP-008"]);
    }

    #[test]
    fn mpcp_009_integer_ticks() {
        assert_eq!(rules(&KICK_SNARE.replacen("\"time\": 960", "\"time\": 960.0", 1)), ["MPCP-009"]);
        assert_eq!(rules(&KICK_SNARE.replacen("\"len\": 240", "\"len\": 2.4e2", 1)), ["MPCP-009"]);
    }

    #[test]
    fn read_is_lenient_where_writers_differ() {
        // Midian's loose forms: 1 for 127, a cut double; a 2050 note; a controller skipped.
        let json = r#"{"pattern":{"length":9223372036854775807,"events":[
            {"type":1,"time":0,"len":0,"1":7,"2":0.5,"3":0,"mod":0,"modVal":0.0},
            {"type":2,"time":0,"len":240,"1":36,"2":1,"3":0,"mod":0,"modVal":0.5},
            {"type":2050,"time":480.0,"len":240,"1":38,"2":0.503937007874015,"3":0,"mod":0,"modVal":0.5,"prob":100,"ratchet":1}]}}"#;
        assert_eq!(
            read(json).unwrap(),
            [
                PatternNote { time: 0, len: 240, note: 36, vel: 127 },
                PatternNote { time: 480, len: 240, note: 38, vel: 64 }
            ]
        );
        assert!(matches!(read("{"), Err(ReadError::Json(_))));
        assert!(matches!(read("{\"pattern\":{}}"), Err(ReadError::NoEvents)));
        let bad = r#"{"pattern":{"events":[{"type":2,"time":0,"len":1,"1":300,"2":1.0}]}}"#;
        assert!(matches!(read(bad), Err(ReadError::Event { index: 0, .. })));
    }

    /// (on, off, pitch, vel) at a PPQ, in source ticks: an off-grid note, a long one, notes
    /// that round half up.
    fn phrase(ppq: u64) -> Vec<(u64, u64, u8, u8)> {
        vec![
            (0, ppq / 4, 36, 127),
            (ppq, ppq + ppq / 4, 38, 100),
            (ppq + ppq / 3, 2 * ppq + 1, 60, 1),
            (2 * ppq, 6 * ppq, 64, 64),
            (2 * ppq, 2 * ppq + 1, 67, 90),
            (4 * ppq - 1, 5 * ppq - 3, 42, 50),
        ]
    }

    #[test]
    fn round_trip_at_several_ppqs() {
        for ppq in [96u16, 480, 960, 384, 100, 7, 1920] {
            let notes = phrase(u64::from(ppq));
            let track: Vec<(u64, Vec<u8>)> = notes.iter().flat_map(|&(on, off, p, v)| note(3, p, v, on, off)).collect();
            let bytes = smf(1, ppq, &[vec![(0, vec![0xFF, 0x51, 3, 7, 0xA1, 0x20])], track]);
            let pats = patterns_of(&bytes);
            assert_eq!(pats.len(), 1, "ppq {ppq}");
            assert_eq!((pats[0].track, pats[0].channel), (1, 3));
            assert_eq!(check(&pats[0].json), [], "ppq {ppq}");
            let mut want = expected(&notes, u32::from(ppq));
            want.dedup_by_key(|n| (n.time, n.note));
            assert_eq!(read(&pats[0].json).unwrap(), want, "ppq {ppq}");
            assert_eq!(pats[0].notes, want.len());
        }
    }

    #[test]
    fn rounding_is_half_up_from_absolute_ticks() {
        // At PPQ 7 a tick is 137.14...; tick 1 -> 137, 2 -> 274.29 -> 274; at PPQ 1920 a tick
        // is half a tick at 960: 1 -> 0.5 -> 1, 3 -> 1.5 -> 2.
        assert_eq!((to_ppq(1, 7), to_ppq(2, 7)), (137, 274));
        assert_eq!((to_ppq(1, 1920), to_ppq(3, 1920), to_ppq(2, 1920)), (1, 2, 1));
        assert_eq!(to_ppq(u64::MAX, 1), u64::MAX);
        assert_eq!(to_ppq(u64::MAX, 960), u64::MAX);
    }

    #[test]
    fn format_0_with_two_channels_gives_two_patterns() {
        let mut track: Vec<(u64, Vec<u8>)> = Vec::new();
        track.extend(note(9, 36, 100, 0, 24));
        track.extend(note(9, 38, 100, 48, 72));
        track.extend(note(0, 60, 80, 0, 96));
        track.extend(note(0, 64, 80, 96, 192));
        let pats = patterns_of(&smf(0, 96, &[track]));
        assert_eq!(pats.iter().map(|p| (p.track, p.channel, p.notes)).collect::<Vec<_>>(), [(0, 0, 2), (0, 9, 2)]);
        assert_eq!(read(&pats[0].json).unwrap(), expected(&[(0, 96, 60, 80), (96, 192, 64, 80)], 96));
        assert_eq!(read(&pats[1].json).unwrap(), expected(&[(0, 24, 36, 100), (48, 72, 38, 100)], 96));
    }

    #[test]
    fn a_key_struck_again_while_sounding_ends_the_first_note() {
        let track = vec![
            (0, vec![0x90, 60, 100]),
            (48, vec![0x90, 60, 90]),
            (96, vec![0x90, 60, 0]),
            // Never switched off: ends with the track, at its last event.
            (100, vec![0x90, 62, 70]),
            (144, vec![0xB0, 7, 100]),
        ];
        let pats = patterns_of(&smf(0, 96, &[track]));
        assert_eq!(pats.len(), 1);
        assert_eq!(
            read(&pats[0].json).unwrap(),
            expected(&[(0, 48, 60, 100), (48, 96, 60, 90), (100, 144, 62, 70)], 96)
        );
    }

    #[test]
    fn a_leading_rest_is_kept() {
        let mut track = Vec::new();
        track.extend(note(0, 48, 100, 384 + 48, 384 + 96));
        track.extend(note(0, 50, 100, 384 + 96, 384 + 192));
        let pats = patterns_of(&smf(1, 96, &[track]));
        let notes = read(&pats[0].json).unwrap();
        assert_eq!(notes[0].time, 4 * 960 + 480);
        assert_eq!(notes[1].time, 4 * 960 + 960);
    }

    #[test]
    fn everything_but_notes_is_dropped() {
        let mut track = vec![
            (0, vec![0xC0, 5]),
            (0, vec![0xB0, 64, 127]),
            (10, vec![0xE0, 0, 0x50]),
            (20, vec![0xD0, 40]),
            (20, vec![0xA0, 60, 40]),
            (30, vec![0xF0, 2, 0x7E, 0xF7]),
            (40, vec![0xFF, 0x06, 1, b'A']),
        ];
        track.extend(note(0, 60, 100, 0, 96));
        // A channel with controllers only has no pattern.
        track.push((50, vec![0xB1, 1, 64]));
        let pats = patterns_of(&smf(0, 96, &[track]));
        assert_eq!(pats.len(), 1);
        assert_eq!(read(&pats[0].json).unwrap(), expected(&[(0, 96, 60, 100)], 96));
    }

    #[test]
    fn smpte_files_are_not_converted() {
        // 25 frames per second, 40 ticks per frame.
        let division = u16::from_be_bytes([(-25i8) as u8, 40]);
        let pats = patterns_of(&smf(0, division, &[note(0, 60, 100, 0, 40).to_vec()]));
        assert!(pats.is_empty());
    }

    #[test]
    fn generated_files_pass_every_rule_and_keep_every_distinct_note() {
        let arena = &mut Bump::new();
        let mut files = 0;
        for seed in 0..40u64 {
            for kind in 0..crate::gen::KIND_NAMES.len() {
                arena.reset();
                let bytes = crate::gen::midi_bytes(kind, seed);
                let score = gather(&bytes, arena).unwrap();
                let pats = patterns(&score);
                let distinct: HashSet<(u16, u8, u64, u8)> =
                    score.notes.iter().map(|n| (n.track, n.ch, to_ppq(n.on, score.ppq), n.pitch)).collect();
                let parts: HashSet<(u16, u8)> = score.notes.iter().map(|n| (n.track, n.ch)).collect();
                assert_eq!(pats.len(), parts.len());
                assert!(pats.windows(2).all(|w| (w[0].track, w[0].channel) < (w[1].track, w[1].channel)));
                assert_eq!(pats.iter().map(|p| p.notes).sum::<usize>(), distinct.len(), "seed {seed} kind {kind}");
                for p in &pats {
                    assert_eq!(check(&p.json), [], "seed {seed} kind {kind}");
                    assert_eq!(read(&p.json).unwrap().len(), p.notes);
                }
                files += 1;
            }
        }
        assert_eq!(files, 200);
    }
}
