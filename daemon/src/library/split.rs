//! Split: one file per part, so a 16-track song becomes a bass part, a drum part and a chord
//! part a producer can drop on a pad.
//!
//! The rule (DESIGN section 3): a format-1 file with two or more tracks holding notes becomes one
//! part per such track; a file whose only note track uses two or more channels (format 0, or a
//! single track) becomes one part per channel. Anything else is not split.
//!
//! Each part is a valid format-1 SMF with the parent's division (PPQ or SMPTE, byte for byte):
//! track 0 carries the conductor events of the whole file (tempo map, time and key signatures,
//! SMPTE offset) and track 1 the part's own events: for a track part every event of the track
//! (program, name, controllers, pitch bends, SysEx) but the conductor ones, for a channel part
//! that channel's messages and the track's non-conductor meta events (its name, text). The part
//! ends where the parent's track ended, so a note left sounding ends at the same tick, and the
//! parts' notes together are exactly the parent's notes (the property test below and in
//! `tests/system/library.rs` checks it).
//!
//! Events are read with the same lenient iterator the analysis uses (a damaged track ends at the
//! damage) and encoded here exactly as midly's writer encodes them (running status where it
//! applies, as the reader expects): parts were first written by midly's writer, and a part's
//! content id is its bytes' hash, so the bytes must not change (midly's writer is the tests'
//! oracle). The conductor track is encoded once and copied into every part.
//!
//! Limits, so one file cannot turn into gigabytes: a file with more than [`MAX_PARTS`] parts is
//! not split (a cut would lose notes), and neither is one whose parts would total more than
//! [`MAX_GROWTH`] times its own size (a huge conductor map copied into every part).

use midly::num::u28;

use crate::dedupe::{content_id, ContentId};
use crate::midi::write_varlen;
use midly::{EventIter, Format, Header, MetaMessage, TrackEvent, TrackEventKind};

/// One part of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// Position among the file's parts, from 1 (the `nn` of its name).
    pub index: u16,
    /// The parent's track (0-based) the part comes from.
    pub track: u16,
    /// The channel (0-based) for a part split by channel.
    pub channel: Option<u8>,
    /// The track's name, else its instrument name (may be empty: the caller names it by role).
    pub label: String,
    /// The tick the part's conductor track (track 0) ends at: its last event's.
    pub conductor_end: u64,
    /// The events written into it, both tracks' ends included.
    pub events: u64,
    pub bytes: Vec<u8>,
}

/// Files with more parts than this are not split (a format-1 file may hold 65,535 tracks).
pub const MAX_PARTS: usize = 64;
/// The parts of one file may total at most this many times its size (plus 64 KiB).
pub const MAX_GROWTH: usize = 4;

struct Track<'a> {
    /// The track's own events at their absolute ticks: all but the conductor's and the end of
    /// track.
    events: Vec<(u64, TrackEventKind<'a>)>,
    /// The track's body length, to size a part's buffer.
    bytes: usize,
    end: u64,
    notes_per_channel: [u32; 16],
    label: String,
}

fn is_conductor(kind: &TrackEventKind) -> bool {
    matches!(
        kind,
        TrackEventKind::Meta(
            MetaMessage::Tempo(_)
                | MetaMessage::TimeSignature(..)
                | MetaMessage::KeySignature(..)
                | MetaMessage::SmpteOffset(_)
        )
    )
}

/// Reads one track: its own events into the `Track`, its conductor events onto `conductor` (in
/// file order).
fn read_track<'a>(body: &'a [u8], conductor: &mut Vec<(u64, TrackEventKind<'a>)>) -> Track<'a> {
    // Most events take 3 or 4 bytes (delta, status or running status, data); a huge track
    // grows its vector as it goes instead of reserving for its claimed length up front.
    let events = Vec::with_capacity((body.len() / 3 + 1).min(1 << 14));
    let mut t = Track { events, bytes: body.len(), end: 0, notes_per_channel: [0; 16], label: String::new() };
    let mut name = None;
    let mut instrument = None;
    let mut tick = 0u64;
    for ev in EventIter::new(body) {
        let Ok(ev) = ev else { break };
        tick += u64::from(ev.delta.as_int());
        match ev.kind {
            TrackEventKind::Meta(MetaMessage::EndOfTrack) => break,
            TrackEventKind::Midi { channel, message: midly::MidiMessage::NoteOn { vel, .. } } if vel > 0 => {
                t.notes_per_channel[usize::from(channel.as_int())] += 1;
            }
            TrackEventKind::Meta(MetaMessage::TrackName(n)) if name.is_none() => name = Some(n),
            TrackEventKind::Meta(MetaMessage::InstrumentName(n)) if instrument.is_none() => instrument = Some(n),
            ref k if is_conductor(k) => {
                conductor.push((tick, ev.kind));
                continue;
            }
            _ => {}
        }
        t.events.push((tick, ev.kind));
    }
    t.end = tick;
    let label = name.filter(|n| !n.iter().all(u8::is_ascii_whitespace)).or(instrument).unwrap_or_default();
    t.label = String::from_utf8_lossy(label).trim().to_string();
    t
}

/// The parts of a file, in track (then channel) order; empty when the file is not split.
pub fn split(bytes: &[u8]) -> Vec<Part> {
    let bytes = match bytes.get(..4) {
        Some(b"RIFF") => match crate::midi::unwrap_riff(bytes) {
            Ok(b) => b,
            Err(_) => return Vec::new(),
        },
        _ => bytes,
    };
    let (Some(b"MThd"), Some(hlen), Some(division)) = (
        bytes.get(..4),
        bytes.get(4..8).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize),
        bytes.get(12..14),
    ) else {
        return Vec::new();
    };
    let division = [division[0], division[1]];
    let mut tracks = Vec::new();
    let mut conductor = Vec::new();
    let mut pos = 8usize.saturating_add(hlen);
    while pos.saturating_add(8) <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_be_bytes([bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]]) as usize;
        let body_end = (pos + 8).saturating_add(len).min(bytes.len());
        if id == b"MTrk" {
            tracks.push(read_track(&bytes[pos + 8..body_end], &mut conductor));
        } else if !id.iter().all(|b| (0x20..0x7F).contains(b)) {
            break;
        }
        pos = body_end;
    }
    let note_tracks: Vec<usize> =
        (0..tracks.len()).filter(|&i| tracks[i].notes_per_channel.iter().any(|&n| n > 0)).collect();
    // What each part holds: (track, channel or every channel).
    let plan: Vec<(usize, Option<u8>)> = match note_tracks.as_slice() {
        [] => return Vec::new(),
        [only] => {
            let channels: Vec<u8> =
                (0..16u8).filter(|&c| tracks[*only].notes_per_channel[usize::from(c)] > 0).collect();
            if channels.len() < 2 {
                return Vec::new();
            }
            channels.into_iter().map(|c| (*only, Some(c))).collect()
        }
        many => many.iter().map(|&t| (t, None)).collect(),
    };
    if plan.len() > MAX_PARTS {
        return Vec::new();
    }
    // Stable: events at one tick keep their file order.
    conductor.sort_by_key(|(t, _)| *t);
    let conductor_end = conductor.last().map_or(0, |(t, _)| *t);
    // Each conductor event takes at most 9 bytes written (delta, status, type, length, data of a
    // tempo or signature): a bound on what copying it into every part costs.
    let budget = bytes.len().saturating_mul(MAX_GROWTH).saturating_add(64 << 10);
    if conductor.len().saturating_mul(9).saturating_mul(plan.len()) > budget {
        return Vec::new();
    }
    // The conductor chunk is the same in every part: encoded once, copied into each.
    let mut conductor_chunk = Vec::with_capacity(16 + conductor.len() * 8);
    let Some(conductor_events) = encode_track(&mut conductor_chunk, conductor.iter(), conductor_end) else {
        return Vec::new();
    };
    let mut total = 0usize;

    let mut parts = Vec::with_capacity(plan.len());
    let shares = plan.len();
    for (n, (ti, channel)) in plan.into_iter().enumerate() {
        let track = &tracks[ti];
        // A channel part keeps that channel's messages and the track's meta events.
        let own = track.events.iter().filter(|(_, kind)| match (kind, channel) {
            (_, None) | (TrackEventKind::Meta(_), Some(_)) => true,
            (TrackEventKind::Midi { channel: c, .. }, Some(want)) => c.as_int() == want,
            (_, Some(_)) => false,
        });
        // A channel part holds about its share of the track (the buffer grows if it holds more),
        // so a track split 16 ways does not reserve 16 tracks' worth.
        let estimate = if channel.is_some() { track.bytes / shares } else { track.bytes };
        let mut out = Vec::with_capacity(HEADER.len() + conductor_chunk.len() + 16 + estimate * 5 / 4);
        out.extend_from_slice(&HEADER);
        // The parent's division, byte for byte (SMPTE divisions included).
        out.extend_from_slice(&division);
        out.extend_from_slice(&conductor_chunk);
        let Some(own_events) = encode_track(&mut out, own, track.end) else { return Vec::new() };
        total += out.len();
        if total > budget {
            return Vec::new();
        }
        parts.push(Part {
            index: n as u16 + 1,
            track: ti as u16,
            channel,
            label: track.label.clone(),
            conductor_end,
            events: conductor_events + own_events,
            bytes: out,
        });
    }
    parts
}

/// A format-1 header of two tracks, less its division.
const HEADER: [u8; 12] = *b"MThd\0\0\0\x06\0\x01\0\x02";

/// Appends one `MTrk` chunk: the events at their absolute ticks, with deltas recomputed and an
/// end-of-track at `end`, encoded exactly as midly's writer encodes them (running status for
/// channel messages, cancelled by any other event), so a part's bytes, and so its content id,
/// do not depend on which of the two writes it. Returns how many events it wrote, the end of
/// track included; None when a gap does not fit a delta (2^28 ticks: a file no part is worth
/// making of).
///
/// Channel messages, nearly all of a part, are written here; the few meta and SysEx events go
/// through midly's own writer one at a time.
fn encode_track<'a, 'e: 'a>(
    out: &mut Vec<u8>,
    events: impl Iterator<Item = &'a (u64, TrackEventKind<'e>)>,
    end: u64,
) -> Option<u64> {
    let start = out.len();
    out.extend_from_slice(b"MTrk\0\0\0\0");
    let mut running: Option<u8> = None;
    let mut last = 0u64;
    let mut scratch = Vec::new();
    // The end of track is one.
    let mut written = 1;
    for (tick, kind) in events {
        written += 1;
        let delta = delta(&mut last, *tick)?;
        write_varlen(out, delta);
        match *kind {
            TrackEventKind::Midi { channel, message } => {
                let (nibble, data, len) = midi_data(message);
                let status = nibble << 4 | channel.as_int();
                if running != Some(status) {
                    out.push(status);
                    running = Some(status);
                }
                // Byte by byte: a copy of a run-time length is a call to memcpy per event.
                out.push(data[0]);
                if len == 2 {
                    out.push(data[1]);
                }
            }
            other => {
                running = None;
                if !midly_event(out, other, &mut scratch) {
                    return None;
                }
            }
        }
    }
    // At the track's end, or right after its last event (a gap saturates to delta 0).
    let delta = delta(&mut last, end)?;
    write_varlen(out, delta);
    out.extend_from_slice(&[0xFF, 0x2F, 0x00]);
    let len = u32::try_from(out.len() - start - 8).ok()?;
    out[start + 4..start + 8].copy_from_slice(&len.to_be_bytes());
    Some(written)
}

/// The delta from `last` to `tick` (0 when `tick` is earlier), `last` moved on; None when it
/// does not fit a delta's 28 bits.
fn delta(last: &mut u64, tick: u64) -> Option<u32> {
    let d = tick.saturating_sub(*last);
    *last = (*last).max(tick);
    if d > u64::from(u28::max_value().as_int()) {
        return None;
    }
    Some(d as u32)
}

/// A channel message's status nibble and data bytes, as midly writes them.
fn midi_data(m: midly::MidiMessage) -> (u8, [u8; 2], usize) {
    use midly::MidiMessage as M;
    match m {
        M::NoteOff { key, vel } => (0x8, [key.as_int(), vel.as_int()], 2),
        M::NoteOn { key, vel } => (0x9, [key.as_int(), vel.as_int()], 2),
        M::Aftertouch { key, vel } => (0xA, [key.as_int(), vel.as_int()], 2),
        M::Controller { controller, value } => (0xB, [controller.as_int(), value.as_int()], 2),
        M::ProgramChange { program } => (0xC, [program.as_int(), 0], 1),
        M::ChannelAftertouch { vel } => (0xD, [vel.as_int(), 0], 1),
        M::PitchBend { bend } => {
            let raw = bend.0.as_int();
            (0xE, [(raw & 0x7F) as u8, (raw >> 7) as u8], 2)
        }
    }
}

/// Appends a meta, SysEx or escape event (no delta) as midly writes it: a one-event track
/// written by midly into `scratch`, its delta-0 byte and chunk framing cut off. Such an event
/// cancels running status, so its bytes do not depend on what came before it.
fn midly_event(out: &mut Vec<u8>, kind: TrackEventKind, scratch: &mut Vec<u8>) -> bool {
    scratch.clear();
    let ev = [TrackEvent { delta: u28::new(0), kind }];
    let header = Header::new(Format::SingleTrack, midly::Timing::Metrical(midly::num::u15::new(96)));
    if midly::write_std(&header, [ev.iter()], &mut *scratch).is_err() {
        return false;
    }
    // 14 header bytes, 8 chunk bytes, the delta 0.
    match scratch.get(23..) {
        Some(body) => {
            out.extend_from_slice(body);
            true
        }
        None => false,
    }
}

/// The part of `parent` whose bytes hash to `id`, made again: parts are catalogued without an
/// object of their own, and `split` is a pure function of the parent's bytes.
pub fn find_part(parent: &[u8], id: &ContentId) -> Option<Vec<u8>> {
    split(parent).into_iter().find(|p| content_id(&p.bytes) == *id).map(|p| p.bytes)
}

#[cfg(test)]
mod tests {
    use bumpalo::Bump;

    use super::*;
    use crate::analysis::score;

    /// (on, off, pitch, velocity, channel) of every note, sorted: what the parts must preserve.
    fn notes(bytes: &[u8]) -> Vec<(u64, u64, u8, u8, u8)> {
        let arena = Bump::new();
        let score = score::gather(bytes, &arena).expect("gathers");
        let mut v: Vec<_> = score.notes.iter().map(|n| (n.on, n.off, n.pitch, n.vel, n.ch)).collect();
        v.sort_unstable();
        v
    }

    fn assert_notes_preserved(parent: &[u8], parts: &[Part]) {
        let mut together: Vec<_> = parts.iter().flat_map(|p| notes(&p.bytes)).collect();
        together.sort_unstable();
        assert_eq!(together, notes(parent));
    }

    /// A small SMF from tracks of (delta, raw event bytes with status).
    fn smf(format: u16, division: u16, tracks: &[&[(u32, &[u8])]]) -> Vec<u8> {
        let mut out = b"MThd\0\0\0\x06".to_vec();
        out.extend_from_slice(&format.to_be_bytes());
        out.extend_from_slice(&(tracks.len() as u16).to_be_bytes());
        out.extend_from_slice(&division.to_be_bytes());
        for t in tracks {
            let mut body = Vec::new();
            for (delta, ev) in t.iter() {
                let mut v = *delta;
                let mut bytes = vec![(v & 0x7f) as u8];
                v >>= 7;
                while v > 0 {
                    bytes.push(0x80 | (v & 0x7f) as u8);
                    v >>= 7;
                }
                bytes.reverse();
                body.extend_from_slice(&bytes);
                body.extend_from_slice(ev);
            }
            body.extend_from_slice(&[0, 0xff, 0x2f, 0]);
            out.extend_from_slice(b"MTrk");
            out.extend_from_slice(&(body.len() as u32).to_be_bytes());
            out.extend_from_slice(&body);
        }
        out
    }

    const TEMPO: &[u8] = &[0xff, 0x51, 3, 0x07, 0xa1, 0x20];
    const METER: &[u8] = &[0xff, 0x58, 4, 3, 2, 24, 8];

    #[test]
    fn format_1_splits_per_note_track_with_the_conductor_in_each() {
        let conductor: &[(u32, &[u8])] = &[(0, TEMPO), (0, METER), (0, b"\xff\x03\x04Song")];
        let bass: &[(u32, &[u8])] =
            &[(0, b"\xff\x03\x04Bass"), (0, &[0xc1, 33]), (0, &[0x91, 40, 100]), (96, &[0x81, 40, 0])];
        let empty: &[(u32, &[u8])] = &[(0, b"\xff\x03\x05Empty"), (0, &[0xb2, 7, 100])];
        let drums: &[(u32, &[u8])] =
            &[(0, &[0x99, 36, 120]), (10, &[0x89, 36, 0]), (86, &[0x99, 38, 110]), (10, &[0x89, 38, 0])];
        let file = smf(1, 96, &[conductor, bass, empty, drums]);
        let parts = split(&file);
        assert_eq!(parts.len(), 2, "the conductor-only and note-less tracks are not parts");
        assert_eq!((parts[0].index, parts[0].track, parts[0].channel), (1, 1, None));
        assert_eq!(parts[0].label, "Bass");
        assert_eq!((parts[1].index, parts[1].track, parts[1].label.as_str()), (2, 3, ""));
        assert_notes_preserved(&file, &parts);
        for p in &parts {
            let arena = Bump::new();
            let facts = crate::midi::parse(&p.bytes, &crate::midi::MidiLimits::default(), &arena).expect("valid SMF");
            assert_eq!(facts.format, 1);
            assert_eq!(facts.ppq(), Some(96));
            assert!((facts.bpm - 120.0).abs() < 0.01, "tempo map copied");
            assert_eq!(facts.time_signature, Some((3, 4)), "meter copied");
        }
        // The bass part keeps its program and name.
        let arena = Bump::new();
        let s = score::gather(&parts[0].bytes, &arena).expect("gathers");
        assert_eq!(s.programs[1], Some(33));
        assert_eq!(s.tracks[1].name, "Bass");
    }

    #[test]
    fn a_single_track_splits_per_channel_and_keeps_note_ends() {
        // Format 0: bass on channel 2 and drums on channel 10; a bass note still sounds when the
        // track ends after a late controller on channel 3.
        let track: &[(u32, &[u8])] = &[
            (0, TEMPO),
            (0, &[0xc1, 33]),
            (0, &[0x91, 40, 100]),
            (0, &[0x99, 36, 120]),
            (48, &[0x89, 36, 0]),
            (48, &[0x99, 42, 90]),
            (10, &[0x89, 42, 0]),
            (200, &[0xb2, 7, 64]),
        ];
        let file = smf(0, 480, &[track]);
        let parts = split(&file);
        assert_eq!(parts.iter().map(|p| p.channel).collect::<Vec<_>>(), vec![Some(1), Some(9)]);
        assert_notes_preserved(&file, &parts);
    }

    #[test]
    fn files_with_one_part_are_not_split() {
        let one: &[(u32, &[u8])] = &[(0, &[0x90, 60, 100]), (96, &[0x80, 60, 0])];
        let meta: &[(u32, &[u8])] = &[(0, TEMPO)];
        assert!(split(&smf(0, 96, &[one])).is_empty());
        assert!(split(&smf(1, 96, &[meta, one])).is_empty());
        assert!(split(&smf(1, 96, &[meta])).is_empty());
        assert!(split(b"not midi").is_empty());
    }

    #[test]
    fn smpte_division_is_kept_byte_for_byte() {
        let a: &[(u32, &[u8])] = &[(0, &[0x90, 60, 100]), (40, &[0x80, 60, 0])];
        let b: &[(u32, &[u8])] = &[(0, &[0x91, 64, 100]), (40, &[0x81, 64, 0])];
        let file = smf(1, 0xE728, &[a, b]); // -25 fps, 40 ticks per frame
        let parts = split(&file);
        assert_eq!(parts.len(), 2);
        for p in &parts {
            assert_eq!(&p.bytes[12..14], &[0xE7, 0x28]);
        }
    }

    /// Regression (review): a huge conductor map copied into 64 parts made a 16 MB file into
    /// 1 GB of parts.
    #[test]
    fn a_conductor_map_too_big_to_copy_into_every_part_stops_the_split() {
        let key: &[u8] = &[0xff, 0x59, 2, 0, 0];
        let conductor: Vec<(u32, &[u8])> = (0..20_000).map(|_| (0u32, key)).collect();
        let note: &[(u32, &[u8])] = &[(0, &[0x90, 60, 100]), (96, &[0x80, 60, 0])];
        let mut tracks: Vec<&[(u32, &[u8])]> = vec![&conductor];
        tracks.extend(std::iter::repeat_n(note, 40));
        let file = smf(1, 96, &tracks);
        assert!(split(&file).is_empty());
        // More parts than the cap: not split at all, rather than split with notes lost.
        let many: Vec<&[(u32, &[u8])]> = std::iter::repeat_n(note, MAX_PARTS + 1).collect();
        assert!(split(&smf(1, 96, &many)).is_empty());
        let enough: Vec<&[(u32, &[u8])]> = std::iter::repeat_n(note, MAX_PARTS).collect();
        assert_eq!(split(&smf(1, 96, &enough)).len(), MAX_PARTS);
    }

    /// Regression (review): every lone note and every lone chord had one shape, so tier 3
    /// grouped unrelated single-hit and single-chord files.
    #[test]
    fn lone_notes_and_chords_have_no_shape() {
        let shape_of = |bytes: &[u8]| {
            let arena = Bump::new();
            let s = score::gather(bytes, &arena).expect("gathers");
            crate::analysis::fingerprints(&s, &[]).1
        };
        let c_major: &[(u32, &[u8])] =
            &[(0, &[0x90, 60, 90]), (0, &[0x90, 64, 90]), (0, &[0x90, 67, 90]), (384, &[0x80, 60, 0])];
        let d_note: &[(u32, &[u8])] = &[(0, &[0x90, 62, 90]), (96, &[0x80, 62, 0])];
        assert_eq!(shape_of(&smf(0, 96, &[c_major])), None);
        assert_eq!(shape_of(&smf(0, 96, &[d_note])), None);
        let run: Vec<(u32, Vec<u8>)> =
            (0..8u8).flat_map(|i| [(0u32, vec![0x90, 60 + i, 90]), (48, vec![0x80, 60 + i, 0])]).collect();
        let run: Vec<(u32, &[u8])> = run.iter().map(|(d, e)| (*d, e.as_slice())).collect();
        assert!(shape_of(&smf(0, 96, &[&run])).is_some(), "a line of eight notes has a shape");
    }

    /// The split as first written, through midly's writer: the oracle for the encoder above.
    /// Parts catalogued by it are found again on export by splitting their parent and hashing
    /// (`find_part`), so the bytes must not change.
    fn split_by_midly(bytes: &[u8], ti: usize, channel: Option<u8>) -> Vec<u8> {
        fn with_deltas<'a>(events: &[(u64, TrackEvent<'a>)], end: u64) -> Vec<TrackEvent<'a>> {
            let mut out = Vec::new();
            let mut last = 0u64;
            let eot = TrackEvent { delta: u28::new(0), kind: TrackEventKind::Meta(MetaMessage::EndOfTrack) };
            for &(tick, ev) in events.iter().chain(std::iter::once(&(end.max(last), eot))) {
                let delta = u32::try_from(tick.saturating_sub(last)).expect("fits");
                last = last.max(tick);
                out.push(TrackEvent { delta: u28::new(delta), kind: ev.kind });
            }
            out
        }
        // Each track's events at their ticks, up to its end of track (or damage), and its end.
        let hlen = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        let mut tracks: Vec<(Vec<(u64, TrackEvent)>, u64)> = Vec::new();
        let mut pos = 8 + hlen;
        while pos + 8 <= bytes.len() {
            let len = u32::from_be_bytes([bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]]) as usize;
            let body_end = (pos + 8 + len).min(bytes.len());
            if &bytes[pos..pos + 4] == b"MTrk" {
                let (mut events, mut tick) = (Vec::new(), 0u64);
                for ev in EventIter::new(&bytes[pos + 8..body_end]) {
                    let Ok(ev) = ev else { break };
                    tick += u64::from(ev.delta.as_int());
                    if ev.kind == TrackEventKind::Meta(MetaMessage::EndOfTrack) {
                        break;
                    }
                    events.push((tick, ev));
                }
                tracks.push((events, tick));
            }
            pos = body_end;
        }
        let mut conductor: Vec<(u64, TrackEvent)> =
            tracks.iter().flat_map(|t| t.0.iter().filter(|(_, e)| is_conductor(&e.kind)).copied()).collect();
        conductor.sort_by_key(|(t, _)| *t);
        let conductor = with_deltas(&conductor, conductor.last().map_or(0, |(t, _)| *t));
        let own: Vec<(u64, TrackEvent)> = tracks[ti]
            .0
            .iter()
            .filter(|(_, e)| match (&e.kind, channel) {
                (k, _) if is_conductor(k) => false,
                (TrackEventKind::Midi { channel: c, .. }, Some(want)) => c.as_int() == want,
                (TrackEventKind::Meta(_), Some(_)) => true,
                (_, Some(_)) => false,
                (_, None) => true,
            })
            .copied()
            .collect();
        let own = with_deltas(&own, tracks[ti].1);
        let header = Header::new(Format::Parallel, midly::Timing::Metrical(midly::num::u15::new(96)));
        let mut out = Vec::new();
        midly::write_std(&header, [conductor.iter(), own.iter()], &mut out).expect("writes");
        out[12..14].copy_from_slice(&bytes[12..14]);
        out
    }

    fn assert_bytes_as_midly_wrote_them(file: &[u8]) -> usize {
        let parts = split(file);
        for p in &parts {
            let want = split_by_midly(file, usize::from(p.track), p.channel);
            assert_eq!(p.bytes, want, "part {} of a {}-byte file", p.index, file.len());
        }
        parts.len()
    }

    /// Regression guard for the split's own encoder: every kind of event, running status across
    /// metas and SysEx, deltas of one to four bytes, metas midly normalizes (a short track
    /// number, a key signature's mode byte), an SMPTE offset in the conductor, on a format-1
    /// and a format-0 file; then generated files and random event streams.
    #[test]
    fn parts_are_byte_for_byte_what_midly_writes() {
        let conductor: &[(u32, &[u8])] = &[
            (0, TEMPO),
            (0, METER),
            (0, &[0xff, 0x54, 5, 0x61, 0, 0, 0, 0]),
            (0, &[0xff, 0x59, 2, 0xfd, 7]),
            (0x80, &[0xff, 0x51, 3, 0x06, 0x1a, 0x80]),
        ];
        let busy: &[(u32, &[u8])] = &[
            (0, b"\xff\x00\x00"),
            (0, b"\xff\x00\x03\x00\x07\x09"),
            (0, b"\xff\x03\x04Lead"),
            (0, b"\xff\x04\x03Sax"),
            (0, &[0xff, 0x20, 1, 3]),
            (0, &[0xff, 0x21, 1, 1]),
            (0, &[0xc3, 65]),
            (0, &[0xb3, 7, 100]),
            (0, &[0x93, 60, 90]),
            (0, &[61, 80]),
            (0x7f, &[0xe3, 0x00, 0x40]),
            (0x80, &[0xa3, 60, 30]),
            (0x3fff, &[0xd3, 20]),
            (0x4000, b"\xff\x01\x02hi"),
            (0, &[0x83, 60, 0]),
            (0, &[0xf0, 3, 0x7e, 0x09, 0xf7]),
            (0x1f_ffff, &[0x83, 61, 0]),
            (0x20_0000, &[0xf7, 2, 0xf8, 0xfa]),
            (0, &[0x93, 62, 1]),
            (1, b"\xff\x7f\x03\x00\x00\x41"),
            (1, b"\xff\x60\x01\x05"),
            (1, b"\xff\x05\x01a"),
            (1, &[0x83, 62, 64]),
        ];
        let bass: &[(u32, &[u8])] = &[(0, &[0x91, 40, 100]), (96, &[0x81, 40, 0]), (0, &[0x92, 50, 100])];
        assert_eq!(assert_bytes_as_midly_wrote_them(&smf(1, 480, &[conductor, busy, bass])), 2);
        let mut flat: Vec<(u32, &[u8])> = conductor.to_vec();
        flat.extend_from_slice(busy);
        flat.extend_from_slice(bass);
        assert_eq!(assert_bytes_as_midly_wrote_them(&smf(0, 0xE728, &[&flat])), 3);

        let mut split_files = 0;
        for seed in 0..40u64 {
            for kind in 0..5 {
                split_files += usize::from(assert_bytes_as_midly_wrote_them(&crate::gen::midi_bytes(kind, seed)) > 0);
            }
        }
        assert!(split_files >= 40, "songs have several parts: {split_files}");

        // Random streams: channel messages of every kind on a few channels, with metas and SysEx
        // between them, on two to four tracks or one.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for round in 0..200 {
            let mut tracks: Vec<Vec<(u32, Vec<u8>)>> = Vec::new();
            for _ in 0..1 + next(4) {
                let mut t = Vec::new();
                for _ in 0..next(60) {
                    let delta = [0, 0, 1, 96, 0x90, 0x5000, 0x1f_ffff][next(7) as usize] as u32;
                    let ch = next(3) as u8;
                    let ev = match next(10) {
                        0 => vec![0x80 | ch, next(128) as u8, next(128) as u8],
                        1..=3 => vec![0x90 | ch, next(128) as u8, next(128) as u8],
                        4 => vec![0xb0 | ch, next(128) as u8, next(128) as u8],
                        5 => vec![0xc0 | ch, next(128) as u8],
                        6 => vec![0xe0 | ch, next(128) as u8, next(128) as u8],
                        7 => vec![0xff, 0x01, 1, b'x'],
                        8 => vec![0xf0, 2, 1, 0xf7],
                        _ => TEMPO.to_vec(),
                    };
                    t.push((delta, ev));
                }
                tracks.push(t);
            }
            let refs: Vec<Vec<(u32, &[u8])>> =
                tracks.iter().map(|t| t.iter().map(|(d, e)| (*d, e.as_slice())).collect()).collect();
            let refs: Vec<&[(u32, &[u8])]> = refs.iter().map(Vec::as_slice).collect();
            let format = if refs.len() == 1 { 0 } else { 1 };
            let file = smf(format, 96 + round, &refs);
            assert_bytes_as_midly_wrote_them(&file);
        }
    }

    /// Every part of `file`, analysed from its parent's kept notes (`PartSeeds`) and from its
    /// own bytes: the two analyses must serialize the same (floats to the bit). Returns how many
    /// parts were compared.
    fn assert_derived_analyses_match(file: &[u8]) -> usize {
        use crate::analysis::{self, key};
        let limits = crate::midi::MidiLimits::default();
        let parent_arena = Bump::new();
        let parts = split(file);
        if parts.is_empty() {
            return 0;
        }
        let score = score::gather_with(file, &parent_arena, true).expect("the parent gathers");
        let seeds = score::PartSeeds::of(&score).expect("seeds were kept");
        for p in &parts {
            let arena = Bump::new();
            let path = format!("/packs/Song 120bpm Am.mid#Song__{:02}_part.mid", p.index);
            let facts = crate::midi::parse(&p.bytes, &limits, &arena).expect("a part parses");
            let from_bytes = analysis::analyze_import(&p.bytes, &path, facts.duration_ticks, &arena, true);
            // The scores themselves, field by field (what the analysis reads and what it does not).
            let want = score::gather_with(&p.bytes, &arena, true).expect("a part gathers");
            let got = seeds.score_of(p.track, p.channel, p.conductor_end, &arena).expect("a parent track");
            let shape = |s: &score::Score| {
                let notes: Vec<_> = s.notes.iter().map(|n| (n.on, n.off, n.pitch, n.vel, n.ch, n.track)).collect();
                let unsorted: Vec<_> =
                    s.unsorted.iter().map(|n| (n.on, n.off, n.pitch, n.vel, n.ch, n.track)).collect();
                let tracks: Vec<_> = s.tracks.iter().map(|t| (t.name, t.instrument)).collect();
                format!(
                    "{} {} {notes:?} {unsorted:?} {:?} {:?} {:?} {tracks:?} {:?} {:?} {:?} {:?} {}",
                    s.ppq,
                    s.format,
                    s.tempo,
                    s.time_sigs,
                    s.key_sigs,
                    s.kept,
                    s.programs,
                    s.bends,
                    s.controllers,
                    s.end
                )
            };
            assert_eq!(shape(&got), shape(&want), "part {} of a {}-byte file", p.index, file.len());
            // And the facts the parse finds in its bytes.
            let derived_facts = score::PartSeeds::facts_of(&got, p.events, &limits, &arena).expect("facts");
            assert_eq!(derived_facts, facts, "facts of part {} of a {}-byte file", p.index, file.len());
            let derived = seeds
                .score_of(p.track, p.channel, p.conductor_end, &arena)
                .map(|s| analysis::analyze_with(&s, &path, facts.duration_ticks, key::PROFILES_USED, true));
            assert_eq!(
                serde_json::to_string(&derived).expect("json"),
                serde_json::to_string(&from_bytes).expect("json"),
                "part {} (track {}, channel {:?}) of a {}-byte file",
                p.index,
                p.track,
                p.channel,
                file.len()
            );
        }
        parts.len()
    }

    /// A part's analysis made from its parent's notes is the one its own bytes give, on files
    /// built for the cases that could tell them apart (notes tying on onset, pitch and track on
    /// two channels; notes left sounding at a track's end; tempo, meter and key events inside
    /// note tracks; programs, bends and controllers on several channels; SysEx; a damaged
    /// track; a format-0 file split by channel), then on generated files of every kind.
    #[test]
    fn a_part_analysed_from_its_parents_notes_is_the_part_analysed_from_its_bytes() {
        let conductor: &[(u32, &[u8])] =
            &[(0, b"\xff\x03\x05Tempo"), (0, TEMPO), (0, METER), (0, &[0xff, 0x59, 2, 0xfd, 1])];
        // Two channels in one track, tying on onset and pitch; a chord; a bend, a controller,
        // a program per channel; a tempo change and a key signature mid-track; a note left
        // sounding at the end.
        let busy: &[(u32, &[u8])] = &[
            (0, b"\xff\x03\x04Keys"),
            (0, &[0xc0, 4]),
            (0, &[0xc1, 40]),
            (0, &[0x90, 60, 100]),
            (0, &[0x91, 60, 90]),
            (0, &[0x90, 64, 80]),
            (0, &[0x90, 67, 80]),
            (48, &[0xe0, 0x00, 0x50]),
            (0, &[0xb1, 64, 127]),
            (48, &[0x80, 60, 0]),
            (0, &[0x81, 60, 0]),
            (0, &[0x90, 64, 0]),
            (0, &[0x80, 67, 0]),
            (0, &[0xf0, 3, 0x7e, 0x09, 0xf7]),
            (96, &[0xff, 0x51, 3, 0x05, 0x00, 0x00]),
            (0, &[0xff, 0x59, 2, 2, 0]),
            (0, &[0x90, 62, 70]),
            (0, &[0x91, 62, 70]),
            (0, &[0x90, 62, 71]),
            (96, &[0x80, 62, 0]),
            (0, &[0x91, 65, 50]),
            (192, &[0xff, 0x2f, 0]),
        ];
        let bass: &[(u32, &[u8])] = &[
            (0, b"\xff\x04\x04Bass"),
            (0, &[0xc2, 33]),
            (0, &[0x92, 36, 100]),
            (96, &[0x82, 36, 0]),
            (0, &[0x92, 43, 100]),
            (96, &[0x82, 43, 0]),
            (0, &[0x92, 36, 100]),
        ];
        let drums: &[(u32, &[u8])] =
            &[(0, &[0x99, 36, 100]), (24, &[0x89, 36, 0]), (24, &[0x99, 42, 90]), (24, &[0x99, 38, 90])];
        assert_eq!(assert_derived_analyses_match(&smf(1, 96, &[conductor, busy, bass, drums])), 3);
        // Damaged: the bass track stops at an event that cannot be read.
        let mut broken = bass.to_vec();
        broken.push((0, &[0xf4]));
        broken.push((0, &[0x92, 48, 100]));
        assert_eq!(assert_derived_analyses_match(&smf(1, 480, &[conductor, busy, &broken])), 2);
        // One track: split per channel, the conductor events inside it.
        let mut flat: Vec<(u32, &[u8])> = conductor.to_vec();
        flat.extend_from_slice(busy);
        assert_eq!(assert_derived_analyses_match(&smf(0, 192, &[&flat])), 2);
        let mut flat: Vec<(u32, &[u8])> = conductor.to_vec();
        flat.extend_from_slice(bass);
        flat.extend_from_slice(drums);
        flat.extend_from_slice(busy);
        assert_eq!(assert_derived_analyses_match(&smf(0, 96, &[&flat])), 4);

        let mut compared = 0;
        for seed in 0..60u64 {
            for kind in 0..5 {
                compared += assert_derived_analyses_match(&crate::gen::midi_bytes(kind, seed));
            }
        }
        assert!(compared >= 100, "generated songs have parts: {compared}");
    }

    /// Regression (found in review): a part's track index is 16 bits, so a file with more tracks
    /// had a part whose seeds were another track's, and that part was catalogued with the wrong
    /// analysis. Such a file keeps no seeds (its parts are read from their own bytes); empty
    /// chunks keep nothing, only tracks with notes do.
    #[test]
    fn a_file_with_more_tracks_than_a_part_index_names_keeps_no_seeds() {
        let empty: &[(u32, &[u8])] = &[];
        let low: &[(u32, &[u8])] = &[(0, &[0x90, 40, 100]), (96, &[0x80, 40, 0])];
        let high: &[(u32, &[u8])] = &[(0, &[0x91, 70, 100]), (96, &[0x81, 70, 0])];
        let mut tracks = vec![low];
        tracks.extend(std::iter::repeat_n(empty, 65_535));
        tracks.push(high);
        let file = smf(1, 96, &tracks);
        let parts = split(&file);
        assert_eq!(parts.len(), 2);
        let arena = Bump::new();
        let score = score::gather_with(&file, &arena, true).expect("gathers");
        assert_eq!(score.kept.iter().map(|f| f.track).collect::<Vec<_>>(), vec![0, 65_536], "note tracks only");
        assert!(score::PartSeeds::of(&score).is_none(), "no seeds past 65,536 tracks");
        // One track fewer and the index fits: seeds are kept, and hold the right track.
        tracks.remove(1);
        let file = smf(1, 96, &tracks);
        let arena = Bump::new();
        let score = score::gather_with(&file, &arena, true).expect("gathers");
        assert!(score::PartSeeds::of(&score).is_some());
        assert_eq!(assert_derived_analyses_match(&file), 2);
    }

    /// Seeds hold at most `MAX_NAME_BYTES` of names: a note track named with a name meta as
    /// long as that keeps none (its parts are read from their bytes), one byte shorter keeps them.
    #[test]
    fn a_name_longer_than_seeds_hold_keeps_no_seeds() {
        let max = score::PartSeeds::MAX_NAME_BYTES;
        let with_name = |len: usize| {
            // A track name meta: FF 03, its length as a variable-length quantity, the name.
            let mut meta = vec![0xff, 0x03];
            crate::midi::write_varlen(&mut meta, len as u32);
            meta.extend(std::iter::repeat_n(b'n', len));
            meta
        };
        let other: &[(u32, &[u8])] = &[(0, &[0x91, 70, 100]), (96, &[0x81, 70, 0])];
        for (len, kept) in [(max + 1, false), (max, true)] {
            let name = with_name(len);
            let named: &[(u32, &[u8])] = &[(0, &name), (0, &[0x90, 40, 100]), (96, &[0x80, 40, 0])];
            let file = smf(1, 96, &[named, other]);
            assert_eq!(split(&file).len(), 2);
            let arena = Bump::new();
            let score = score::gather_with(&file, &arena, true).expect("gathers");
            assert_eq!(score::PartSeeds::of(&score).is_some(), kept, "a {len}-byte name");
        }
    }

    /// The property on generated files of every kind: the parts' notes are the parent's.
    #[test]
    fn generated_files_keep_every_note_across_their_parts() {
        let mut split_files = 0;
        for seed in 0..30u64 {
            for kind in 0..5 {
                let bytes = crate::gen::midi_bytes(kind, seed);
                let parts = split(&bytes);
                if !parts.is_empty() {
                    split_files += 1;
                    assert_notes_preserved(&bytes, &parts);
                }
            }
        }
        assert!(split_files >= 30, "songs have several parts: {split_files}");
    }
}
