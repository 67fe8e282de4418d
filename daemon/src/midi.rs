//! Standard MIDI File parsing into the basic facts this stage catalogs, with the repair policy.
//!
//! Why not `midly::Smf::parse`: it allocates a `Vec` per track, silently stops at damage without
//! saying so, and panics on an SMPTE division whose high byte is 0x80 when overflow checks are on
//! (`-(0x80 as i8)`). So the chunk walk and the header are ours (a few dozen lines, every length
//! checked), and midly decodes the events lazily through `EventIter`, which allocates nothing.
//! Scratch that lives only while one file is examined (the tempo map) goes into the caller's
//! per-batch bump arena. The policy itself (what is repaired, what is rejected) is written down in
//! `reject.rs` and the README.

use bumpalo::collections::Vec as BumpVec;
use bumpalo::Bump;
use midly::{EventIter, MetaMessage, MidiMessage, TrackEventKind};

use crate::reject::Reason;

/// Caps on one file. Defaults fit the largest real-world MIDI files (orchestral scores are
/// around 1 M events) with room, while keeping one hostile file from pinning a shard for seconds.
#[derive(Debug, Clone, Copy)]
pub struct MidiLimits {
    pub max_events: u64,
}

impl Default for MidiLimits {
    fn default() -> Self {
        MidiLimits { max_events: 4_000_000 }
    }
}

/// Repairs applied to a file that was imported anyway. A bit set, so a row carries them cheaply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Repairs(u8);

impl Repairs {
    pub const TRACK_TRUNCATED: Repairs = Repairs(1);
    pub const BAD_EVENT: Repairs = Repairs(2);
    pub const MISSING_END_OF_TRACK: Repairs = Repairs(4);
    pub const TRACK_COUNT_MISMATCH: Repairs = Repairs(8);
    pub const TRAILING_DATA: Repairs = Repairs(16);

    const NAMES: [(Repairs, &'static str); 5] = [
        (Repairs::TRACK_TRUNCATED, "track_truncated"),
        (Repairs::BAD_EVENT, "bad_event"),
        (Repairs::MISSING_END_OF_TRACK, "missing_end_of_track"),
        (Repairs::TRACK_COUNT_MISMATCH, "track_count_mismatch"),
        (Repairs::TRAILING_DATA, "trailing_data"),
    ];

    pub fn insert(&mut self, r: Repairs) {
        self.0 |= r.0;
    }

    pub fn contains(self, r: Repairs) -> bool {
        self.0 & r.0 == r.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Repairs::NAMES.into_iter().filter(move |(r, _)| self.contains(*r)).map(|(_, n)| n)
    }

    /// Comma-separated names, as stored in the catalog; empty when nothing was repaired.
    pub fn to_text(self) -> String {
        self.names().collect::<Vec<_>>().join(",")
    }
}

/// Time base of a file: ticks per quarter note, or SMPTE frames per second x ticks per frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Timing {
    Metrical { ppq: u16 },
    Timecode { fps: f64, ticks_per_frame: u8 },
}

/// What this stage knows about a parsed file.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub format: u16,
    pub timing: Timing,
    /// Track chunks actually found (not the header's claim).
    pub tracks: u32,
    /// Bit n set when channel n (0-based) carries a channel message.
    pub channels: u16,
    pub notes: u64,
    pub drum_notes: u64,
    pub events: u64,
    pub duration_ticks: u64,
    pub duration_s: f64,
    /// Initial tempo; 120 with source `default` when the file has no tempo event (SMF default).
    pub bpm: f64,
    pub bpm_source: &'static str,
    pub tempo_changes: bool,
    /// First time signature, as (numerator, denominator).
    pub time_signature: Option<(u8, u16)>,
    pub bars: Option<f64>,
    pub repairs: Repairs,
}

impl Facts {
    pub fn ppq(&self) -> Option<u16> {
        match self.timing {
            Timing::Metrical { ppq } => Some(ppq),
            Timing::Timecode { .. } => None,
        }
    }
}

/// Why a file was rejected, with a detail for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub reason: Reason,
    pub detail: String,
}

fn reject(reason: Reason, detail: impl Into<String>) -> Rejected {
    Rejected { reason, detail: detail.into() }
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// RIFF RMID wraps an SMF in a `data` chunk; anything else in RIFF (WAVE...) is not MIDI.
pub(crate) fn unwrap_riff(bytes: &[u8]) -> Result<&[u8], Rejected> {
    if bytes.get(8..12) != Some(b"RMID") {
        return Err(reject(Reason::NotMidi, "RIFF file that is not RMID"));
    }
    let mut pos = 12usize;
    while let Some(len) = be32le(bytes, pos + 4) {
        let body = pos + 8;
        let end = body.saturating_add(len as usize).min(bytes.len());
        if bytes.get(pos..pos + 4) == Some(b"data") {
            return Ok(&bytes[body.min(end)..end]);
        }
        pos = end.saturating_add(len as usize & 1);
        if pos >= bytes.len() {
            break;
        }
    }
    Err(reject(Reason::NotMidi, "RMID file without a data chunk"))
}

fn be32le(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn timing_of(division: u16) -> Result<Timing, Rejected> {
    if division & 0x8000 == 0 {
        if division == 0 {
            return Err(reject(Reason::BadDivision, "division is 0 ticks per quarter note"));
        }
        return Ok(Timing::Metrical { ppq: division });
    }
    // The high byte is a negative frame rate in two's complement. Only four rates exist; checking
    // them here is also what keeps midly's `-(byte as i8)` away from 0x80.
    let fps = match (division >> 8) as u8 {
        0xE8 => 24.0,
        0xE7 => 25.0,
        0xE3 => 29.97,
        0xE2 => 30.0,
        other => {
            return Err(reject(
                Reason::BadDivision,
                format!("SMPTE division with invalid frame-rate byte 0x{other:02X}"),
            ))
        }
    };
    let ticks_per_frame = (division & 0xFF) as u8;
    if ticks_per_frame == 0 {
        return Err(reject(Reason::BadDivision, "SMPTE division with 0 ticks per frame"));
    }
    Ok(Timing::Timecode { fps, ticks_per_frame })
}

/// A chunk id is four printable ASCII bytes; anything else after the last track is trailing data.
fn plausible_chunk_id(id: &[u8]) -> bool {
    id.len() == 4 && id.iter().all(|b| (0x20..0x7F).contains(b))
}

/// Parses one file. `arena` is the caller's per-batch scratch; nothing borrowed from it survives
/// this call.
pub fn parse(bytes: &[u8], limits: &MidiLimits, arena: &Bump) -> Result<Facts, Rejected> {
    if bytes.is_empty() {
        return Err(reject(Reason::Empty, "zero-byte file"));
    }
    let bytes = match bytes.get(..4) {
        Some(b"MThd") => bytes,
        Some(b"RIFF") => unwrap_riff(bytes)?,
        _ => return Err(reject(Reason::NotMidi, "no MThd header at the start of the file")),
    };
    let (Some(hlen), Some(format), Some(declared_tracks), Some(division)) =
        (be32(bytes, 4), be16(bytes, 8), be16(bytes, 10), be16(bytes, 12))
    else {
        return Err(reject(Reason::Truncated, format!("file ends inside the header ({} bytes)", bytes.len())));
    };
    if hlen < 6 {
        return Err(reject(Reason::Malformed, format!("header chunk length {hlen} is under 6")));
    }
    if format > 2 {
        return Err(reject(Reason::Malformed, format!("unknown SMF format {format}")));
    }
    let timing = timing_of(division)?;
    let Some(mut pos) = 8usize.checked_add(hlen as usize).filter(|p| *p <= bytes.len()) else {
        return Err(reject(Reason::Truncated, format!("header chunk length {hlen} runs past the end")));
    };

    let mut facts = Facts {
        format,
        timing,
        tracks: 0,
        channels: 0,
        notes: 0,
        drum_notes: 0,
        events: 0,
        duration_ticks: 0,
        duration_s: 0.0,
        bpm: 120.0,
        bpm_source: "default",
        tempo_changes: false,
        time_signature: None,
        bars: None,
        repairs: Repairs::default(),
    };
    let mut tempo_map: BumpVec<(u64, u32)> = BumpVec::new_in(arena);
    let mut readable_tracks = 0u32;

    while pos < bytes.len() {
        let rest = &bytes[pos..];
        if rest.len() < 8 || !plausible_chunk_id(&rest[..4]) {
            facts.repairs.insert(Repairs::TRAILING_DATA);
            break;
        }
        let clen = be32(rest, 4).unwrap_or(0) as usize;
        let body_start = pos + 8;
        let body_end = match body_start.checked_add(clen) {
            Some(end) if end <= bytes.len() => end,
            _ => {
                if &rest[..4] == b"MTrk" {
                    facts.repairs.insert(Repairs::TRACK_TRUNCATED);
                }
                bytes.len()
            }
        };
        if &rest[..4] == b"MTrk" {
            facts.tracks += 1;
            let truncated = body_end - body_start < clen;
            if scan_track(&bytes[body_start..body_end], truncated, limits, &mut facts, &mut tempo_map)? {
                readable_tracks += 1;
            }
        }
        pos = body_end;
    }

    if readable_tracks == 0 {
        return Err(if facts.tracks == 0 && declared_tracks > 0 {
            reject(Reason::Truncated, format!("header declares {declared_tracks} tracks, the file holds none"))
        } else {
            reject(Reason::Malformed, "no track with a readable event")
        });
    }
    if facts.tracks != u32::from(declared_tracks) {
        facts.repairs.insert(Repairs::TRACK_COUNT_MISMATCH);
    }
    finish_timing(&mut facts, &mut tempo_map);
    Ok(facts)
}

/// A variable-length quantity (a delta time, a length) as the SMF specification and midly's
/// writer write it: big-endian groups of 7 bits, no leading zero groups; only the low 28 bits
/// of `v` count. The split and the generator both write with it.
pub fn write_varlen(out: &mut Vec<u8>, v: u32) {
    let v = v & 0x0FFF_FFFF;
    // Most deltas are 0 or short gaps.
    if v < 0x80 {
        out.push(v as u8);
        return;
    }
    // The groups above the lowest, most significant first, each with its continuation bit.
    for shift in [21, 14, 7] {
        if v >> shift != 0 {
            out.push((v >> shift & 0x7F) as u8 | 0x80);
        }
    }
    out.push((v & 0x7F) as u8);
}

/// What [`part_facts`] is told about a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartCounts {
    /// Events in both tracks, their ends of track included.
    pub events: u64,
    /// Bit n set when channel n (0-based) carries a channel message.
    pub channels: u16,
    pub notes: u64,
    pub drum_notes: u64,
    /// The tick the later of the two tracks ends at.
    pub duration_ticks: u64,
}

/// The facts [`parse`] finds in a part made by `library::split`, from what the split and the
/// part's score already know, without reading its bytes: a two-track format-1 file at the
/// parent's PPQ whose every event reads and whose tracks both end, so it has no repairs; its
/// tempo map is its conductor's (`tempo`, in tick order) and its time signature the first of
/// them. Rejects as `parse` does past `max_events`. The split's test
/// `a_part_analysed_from_its_parents_notes_is_the_part_analysed_from_its_bytes` holds the two
/// to the same facts.
pub fn part_facts(
    ppq: u16,
    counts: PartCounts,
    tempo: &[(u64, u32)],
    time_signature: Option<(u8, u16)>,
    limits: &MidiLimits,
    arena: &Bump,
) -> Result<Facts, Rejected> {
    if counts.events > limits.max_events {
        return Err(reject(Reason::TooManyEvents, format!("more than {} events", limits.max_events)));
    }
    let mut facts = Facts {
        format: 1,
        timing: Timing::Metrical { ppq },
        tracks: 2,
        channels: counts.channels,
        notes: counts.notes,
        drum_notes: counts.drum_notes,
        events: counts.events,
        duration_ticks: counts.duration_ticks,
        duration_s: 0.0,
        bpm: 120.0,
        bpm_source: "default",
        tempo_changes: false,
        time_signature,
        bars: None,
        repairs: Repairs::default(),
    };
    let mut tempo_map = BumpVec::with_capacity_in(tempo.len(), arena);
    tempo_map.extend_from_slice(tempo);
    finish_timing(&mut facts, &mut tempo_map);
    Ok(facts)
}

/// Walks one track's events. Returns whether the track held at least one readable event.
fn scan_track(
    body: &[u8],
    truncated: bool,
    limits: &MidiLimits,
    facts: &mut Facts,
    tempo_map: &mut BumpVec<(u64, u32)>,
) -> Result<bool, Rejected> {
    let mut events = EventIter::new(body);
    let mut tick = 0u64;
    let mut any = false;
    let mut ended = false;
    loop {
        let unread_before = events.unread().len();
        let ev = match events.next() {
            Some(Ok(ev)) => ev,
            // midly only yields errors in strict mode; lenient mode ends the iterator instead, so
            // both cases are "the track stops at an undecodable event".
            Some(Err(_)) | None => {
                if unread_before > 0 && !truncated {
                    facts.repairs.insert(Repairs::BAD_EVENT);
                }
                break;
            }
        };
        any = true;
        facts.events += 1;
        if facts.events > limits.max_events {
            return Err(reject(Reason::TooManyEvents, format!("more than {} events", limits.max_events)));
        }
        tick += u64::from(ev.delta.as_int());
        match ev.kind {
            TrackEventKind::Midi { channel, message } => {
                let ch = channel.as_int();
                facts.channels |= 1 << ch;
                if let MidiMessage::NoteOn { vel, .. } = message {
                    if vel.as_int() > 0 {
                        facts.notes += 1;
                        if ch == 9 {
                            facts.drum_notes += 1;
                        }
                    }
                }
            }
            TrackEventKind::Meta(MetaMessage::Tempo(t)) if t.as_int() > 0 => {
                tempo_map.push((tick, t.as_int()));
            }
            TrackEventKind::Meta(MetaMessage::TimeSignature(num, dpow, _, _))
                if facts.time_signature.is_none() && num > 0 && dpow <= 7 =>
            {
                facts.time_signature = Some((num, 1u16 << dpow));
            }
            TrackEventKind::Meta(MetaMessage::EndOfTrack) => {
                ended = true;
                break;
            }
            _ => {}
        }
    }
    if !ended && !truncated && any {
        facts.repairs.insert(Repairs::MISSING_END_OF_TRACK);
    }
    facts.duration_ticks = facts.duration_ticks.max(tick);
    Ok(any)
}

/// Turns the tempo map into the initial BPM, the change flag and the duration in seconds.
fn finish_timing(facts: &mut Facts, tempo_map: &mut BumpVec<(u64, u32)>) {
    // Format 1 keeps tempo in the first track but nothing stops other tracks from carrying it; the
    // map is merged by tick. A stable sort keeps a file's own order for events on the same tick.
    tempo_map.sort_by_key(|(tick, _)| *tick);
    let ticks = facts.duration_ticks;
    match facts.timing {
        Timing::Timecode { fps, ticks_per_frame } => {
            facts.duration_s = ticks as f64 / (fps * f64::from(ticks_per_frame));
            if let Some(&(_, t)) = tempo_map.first() {
                facts.bpm = 60_000_000.0 / f64::from(t);
                facts.bpm_source = "meta";
            }
        }
        Timing::Metrical { ppq } => {
            let ppq = f64::from(ppq);
            let mut seconds = 0.0;
            let mut last_tick = 0u64;
            let mut uspq = 500_000u32;
            for &(tick, t) in tempo_map.iter() {
                if tick >= ticks {
                    break;
                }
                seconds += (tick - last_tick) as f64 * f64::from(uspq) / ppq / 1e6;
                last_tick = tick;
                uspq = t;
            }
            seconds += ticks.saturating_sub(last_tick) as f64 * f64::from(uspq) / ppq / 1e6;
            facts.duration_s = seconds;
            // The tempo in force at tick 0 (the last of several tick-0 events wins, as players do).
            if let Some(&(_, t)) = tempo_map.iter().take_while(|(tick, _)| *tick == 0).last() {
                facts.bpm = 60_000_000.0 / f64::from(t);
                facts.bpm_source = "meta";
            } else if let Some(&(_, t)) = tempo_map.first() {
                facts.bpm = 60_000_000.0 / f64::from(t);
                facts.bpm_source = "meta";
            }
            let (num, den) = facts.time_signature.unwrap_or((4, 4));
            let ticks_per_bar = ppq * 4.0 * f64::from(num) / f64::from(den);
            if ticks_per_bar > 0.0 {
                facts.bars = Some((ticks as f64 / ticks_per_bar * 100.0).round() / 100.0);
            }
        }
    }
    let first = tempo_map.first().map(|(_, t)| *t);
    facts.tempo_changes = tempo_map.iter().any(|(_, t)| Some(*t) != first);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variable-length quantities of the SMF specification's own table.
    #[test]
    fn varlen_is_written_as_the_smf_specification_tabulates_it() {
        let table: &[(u32, &[u8])] = &[
            (0, &[0x00]),
            (0x40, &[0x40]),
            (0x7F, &[0x7F]),
            (0x80, &[0x81, 0x00]),
            (0x2000, &[0xC0, 0x00]),
            (0x3FFF, &[0xFF, 0x7F]),
            (0x4000, &[0x81, 0x80, 0x00]),
            (0x10_0000, &[0xC0, 0x80, 0x00]),
            (0x1F_FFFF, &[0xFF, 0xFF, 0x7F]),
            (0x20_0000, &[0x81, 0x80, 0x80, 0x00]),
            (0x800_0000, &[0xC0, 0x80, 0x80, 0x00]),
            (0xFFF_FFFF, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ];
        for (v, want) in table {
            let mut out = Vec::new();
            write_varlen(&mut out, *v);
            assert_eq!(out, *want, "{v:#x}");
        }
    }

    fn smf(format: u16, division: u16, tracks: &[&[u8]]) -> Vec<u8> {
        let mut out = b"MThd".to_vec();
        out.extend_from_slice(&6u32.to_be_bytes());
        out.extend_from_slice(&format.to_be_bytes());
        out.extend_from_slice(&(tracks.len() as u16).to_be_bytes());
        out.extend_from_slice(&division.to_be_bytes());
        for t in tracks {
            out.extend_from_slice(b"MTrk");
            out.extend_from_slice(&(t.len() as u32).to_be_bytes());
            out.extend_from_slice(t);
        }
        out
    }

    // Tempo 500000 (120 BPM), 4/4, a note on ch 1 for 480 ticks, end of track.
    const TRACK: &[u8] = &[
        0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20, 0x00, 0xFF, 0x58, 0x04, 0x04, 0x02, 0x18, 0x08, 0x00, 0x90, 0x3C,
        0x64, 0x83, 0x60, 0x80, 0x3C, 0x00, 0x00, 0xFF, 0x2F, 0x00,
    ];

    fn parse_ok(bytes: &[u8]) -> Facts {
        let arena = Bump::new();
        parse(bytes, &MidiLimits::default(), &arena).unwrap()
    }

    fn parse_err(bytes: &[u8]) -> Reason {
        let arena = Bump::new();
        parse(bytes, &MidiLimits::default(), &arena).unwrap_err().reason
    }

    #[test]
    fn basic_facts() {
        let f = parse_ok(&smf(0, 480, &[TRACK]));
        assert_eq!(f.format, 0);
        assert_eq!(f.ppq(), Some(480));
        assert_eq!(f.notes, 1);
        assert_eq!(f.channels, 1);
        assert_eq!(f.duration_ticks, 480);
        assert!((f.duration_s - 0.5).abs() < 1e-9);
        assert_eq!(f.bpm, 120.0);
        assert_eq!(f.bpm_source, "meta");
        assert_eq!(f.time_signature, Some((4, 4)));
        assert_eq!(f.bars, Some(0.25));
        assert!(f.repairs.is_empty());
    }

    #[test]
    fn tempo_change_counts_in_duration() {
        // 120 BPM for 480 ticks, then 60 BPM for 480 ticks: 0.5 s + 1.0 s.
        let t: &[u8] = &[
            0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20, 0x00, 0x90, 0x3C, 0x64, 0x83, 0x60, 0xFF, 0x51, 0x03, 0x0F, 0x42,
            0x40, 0x83, 0x60, 0x80, 0x3C, 0x00, 0x00, 0xFF, 0x2F, 0x00,
        ];
        let f = parse_ok(&smf(0, 480, &[t]));
        assert!((f.duration_s - 1.5).abs() < 1e-9, "{}", f.duration_s);
        assert!(f.tempo_changes);
    }

    #[test]
    fn rejects_with_stable_reasons() {
        assert_eq!(parse_err(b""), Reason::Empty);
        assert_eq!(parse_err(b"RIFF\0\0\0\0WAVEfmt "), Reason::NotMidi);
        assert_eq!(parse_err(b"hello world, not midi"), Reason::NotMidi);
        assert_eq!(parse_err(b"MThd\0\0\0\x06\0\x01"), Reason::Truncated);
        assert_eq!(parse_err(&smf(0, 0, &[TRACK])), Reason::BadDivision);
        let header_only = &smf(1, 480, &[])[..];
        let mut claims_two = header_only.to_vec();
        claims_two[11] = 2;
        assert_eq!(parse_err(&claims_two), Reason::Truncated);
    }

    #[test]
    fn smpte_division_with_0x80_is_rejected_not_a_panic() {
        assert_eq!(parse_err(&smf(0, 0x8004, &[TRACK])), Reason::BadDivision);
    }

    #[test]
    fn valid_smpte_division_is_timed_in_frames() {
        // 25 fps x 40 ticks per frame = 1000 ticks per second; the track lasts 480 ticks.
        let f = parse_ok(&smf(0, 0xE728, &[TRACK]));
        assert_eq!(f.ppq(), None);
        assert!((f.duration_s - 0.48).abs() < 1e-9);
    }

    #[test]
    fn absurd_chunk_length_keeps_what_is_there() {
        let mut b = smf(0, 480, &[TRACK]);
        b[18..22].copy_from_slice(&0x7FFF_FFFFu32.to_be_bytes());
        let f = parse_ok(&b);
        assert!(f.repairs.contains(Repairs::TRACK_TRUNCATED));
        assert_eq!(f.notes, 1);
    }

    #[test]
    fn repairs_are_noted() {
        let mut trailing = smf(0, 480, &[TRACK]);
        trailing.extend_from_slice(&[0x00, 0xFF, 0x13]);
        assert!(parse_ok(&trailing).repairs.contains(Repairs::TRAILING_DATA));

        let no_eot = smf(0, 480, &[&TRACK[..TRACK.len() - 4]]);
        assert!(parse_ok(&no_eot).repairs.contains(Repairs::MISSING_END_OF_TRACK));

        let mut fewer = smf(1, 480, &[TRACK]);
        fewer[11] = 3;
        assert!(parse_ok(&fewer).repairs.contains(Repairs::TRACK_COUNT_MISMATCH));

        let cut = smf(0, 480, &[TRACK]);
        let cut = &cut[..cut.len() - 10];
        let f = parse_ok(cut);
        assert!(f.repairs.contains(Repairs::TRACK_TRUNCATED), "{:?}", f.repairs.to_text());
    }

    #[test]
    fn event_cap_is_enforced() {
        let arena = Bump::new();
        let err = parse(&smf(0, 480, &[TRACK]), &MidiLimits { max_events: 2 }, &arena).unwrap_err();
        assert_eq!(err.reason, Reason::TooManyEvents);
    }

    #[test]
    fn every_prefix_of_a_file_parses_or_rejects_without_panic() {
        let b = smf(1, 480, &[TRACK, TRACK]);
        let arena = Bump::new();
        for n in 0..=b.len() {
            let _ = parse(&b[..n], &MidiLimits::default(), &arena);
        }
    }
}
