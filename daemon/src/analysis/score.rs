//! The notes and conductor events of one file, gathered once for every detector.
//!
//! `midi::parse` validates and counts without keeping events; analysis needs them (notes with
//! their ends, tempo and signature maps, names, programs), so this is a second, lenient pass
//! over a file that already parsed. Everything lives in the caller's arena and is dropped with
//! the batch.

use bumpalo::collections::Vec as BumpVec;
use bumpalo::Bump;
use midly::{EventIter, MetaMessage, MidiMessage, TrackEventKind};

/// One sounding note, in ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Note {
    pub on: u64,
    pub off: u64,
    pub pitch: u8,
    pub vel: u8,
    pub ch: u8,
    pub track: u16,
}

impl Note {
    /// Length in ticks.
    pub fn ticks(&self) -> u64 {
        self.off.saturating_sub(self.on)
    }
}

/// What a track says about itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrackInfo<'a> {
    pub name: &'a str,
    /// Instrument name meta, if any.
    pub instrument: &'a str,
}

/// What one track that holds notes adds to the score: the score-wide counts for this track
/// alone, what a part split from it holds. Kept only when asked (`gather_with`), and only for
/// tracks with notes, so a file of empty chunks costs nothing here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackFacts {
    /// The track's position among the file's `MTrk` chunks.
    pub track: usize,
    pub programs: [Option<u8>; 16],
    pub bends: [u32; 16],
    pub controllers: [u32; 16],
    /// Bit n set when channel n (0-based) carries a channel message in this track.
    pub channels: u16,
    /// The tick the track's walk ended at (its end of track, or its last readable event).
    pub end: u64,
    /// Its notes' positions in `Score::unsorted`.
    pub notes: (usize, usize),
}

pub struct Score<'a> {
    /// Ticks per quarter note; 0 for SMPTE-timed files (no beats to speak of).
    pub ppq: u32,
    pub format: u16,
    /// Sorted by onset, then pitch.
    pub notes: BumpVec<'a, Note>,
    /// (tick, microseconds per quarter), sorted.
    pub tempo: BumpVec<'a, (u64, u32)>,
    /// (tick, numerator, denominator).
    pub time_sigs: BumpVec<'a, (u64, u8, u16)>,
    /// (tick, sharps (+) or flats (-), minor).
    pub key_sigs: BumpVec<'a, (u64, i8, bool)>,
    pub tracks: BumpVec<'a, TrackInfo<'a>>,
    /// First program change on each channel.
    pub programs: [Option<u8>; 16],
    pub bends: [u32; 16],
    pub controllers: [u32; 16],
    /// Last event tick of any track.
    pub end: u64,
    /// The notes in the order the walk found them (track by track), before the sort, and what
    /// each track with notes holds; kept only when asked (`gather_with`), for deriving split
    /// parts' scores ([`PartSeeds`]).
    pub unsorted: BumpVec<'a, Note>,
    pub kept: BumpVec<'a, TrackFacts>,
}

/// Walks the chunks of a file that `midi::parse` accepted. None only when no track can be read.
pub fn gather<'a>(bytes: &[u8], arena: &'a Bump) -> Option<Score<'a>> {
    gather_with(bytes, arena, false)
}

/// [`gather`], keeping the notes in the order they were found (`Score::unsorted`) when
/// `keep_unsorted`: what [`PartSeeds`] needs from a file that may be split.
pub fn gather_with<'a>(bytes: &[u8], arena: &'a Bump, keep_unsorted: bool) -> Option<Score<'a>> {
    let bytes = match bytes.get(..4) {
        Some(b"RIFF") => crate::midi::unwrap_riff(bytes).ok()?,
        _ => bytes,
    };
    let hlen = u32::from_be_bytes(bytes.get(4..8)?.try_into().ok()?) as usize;
    let format = u16::from_be_bytes(bytes.get(8..10)?.try_into().ok()?);
    let division = u16::from_be_bytes(bytes.get(12..14)?.try_into().ok()?);
    let mut score = Score {
        ppq: if division & 0x8000 == 0 { u32::from(division) } else { 0 },
        format,
        notes: BumpVec::new_in(arena),
        tempo: BumpVec::new_in(arena),
        time_sigs: BumpVec::new_in(arena),
        key_sigs: BumpVec::new_in(arena),
        tracks: BumpVec::new_in(arena),
        programs: [None; 16],
        bends: [0; 16],
        controllers: [0; 16],
        end: 0,
        unsorted: BumpVec::new_in(arena),
        kept: BumpVec::new_in(arena),
    };
    let mut pos = 8usize.checked_add(hlen)?;
    // One open-note slot per channel and pitch. A second note-on on a sounding key ends the
    // first, as most synths do.
    let mut open = OpenNotes::new(arena);
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_be_bytes([bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]]) as usize;
        let body_end = (pos + 8).saturating_add(len).min(bytes.len());
        if id == b"MTrk" {
            let index = score.tracks.len();
            let (info, facts) = track_events(&bytes[pos + 8..body_end], index as u16, &mut score, &mut open, arena);
            if keep_unsorted && facts.notes.1 > facts.notes.0 {
                score.kept.push(TrackFacts { track: index, ..facts });
            }
            score.tracks.push(info);
        } else if !id.iter().all(|b| (0x20..0x7F).contains(b)) {
            break;
        }
        pos = body_end;
    }
    if score.tracks.is_empty() {
        return None;
    }
    if keep_unsorted {
        score.unsorted.extend_from_slice(&score.notes);
    }
    score.notes.sort_unstable_by_key(|n| (n.on, n.pitch, n.track));
    score.tempo.sort_by_key(|t| t.0);
    score.time_sigs.sort_by_key(|t| t.0);
    score.key_sigs.sort_by_key(|t| t.0);
    Some(score)
}

fn track_events<'a>(
    body: &[u8],
    track: u16,
    score: &mut Score<'a>,
    open: &mut OpenNotes,
    arena: &'a Bump,
) -> (TrackInfo<'a>, TrackFacts) {
    let mut info = TrackInfo::default();
    let mut facts = TrackFacts { notes: (score.notes.len(), score.notes.len()), ..TrackFacts::default() };
    let mut tick = 0u64;
    for ev in EventIter::new(body) {
        let Ok(ev) = ev else { break };
        tick += u64::from(ev.delta.as_int());
        match ev.kind {
            TrackEventKind::Midi { channel, message } => {
                let ch = channel.as_int();
                facts.channels |= 1 << ch;
                match message {
                    MidiMessage::NoteOn { key, vel } if vel.as_int() > 0 => {
                        let slot = usize::from(ch) * 128 + usize::from(key.as_int());
                        if let Some((on, v)) = open.take(slot) {
                            push_note(score, on, tick, key.as_int(), v, ch, track);
                        }
                        open.put(slot, tick, vel.as_int());
                    }
                    MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => {
                        let slot = usize::from(ch) * 128 + usize::from(key.as_int());
                        if let Some((on, v)) = open.take(slot) {
                            push_note(score, on, tick, key.as_int(), v, ch, track);
                        }
                    }
                    MidiMessage::ProgramChange { program } => {
                        score.programs[usize::from(ch)].get_or_insert(program.as_int());
                        facts.programs[usize::from(ch)].get_or_insert(program.as_int());
                    }
                    MidiMessage::PitchBend { bend } if bend.as_int() != 0x2000 => {
                        score.bends[usize::from(ch)] += 1;
                        facts.bends[usize::from(ch)] += 1;
                    }
                    MidiMessage::Controller { .. } => {
                        score.controllers[usize::from(ch)] += 1;
                        facts.controllers[usize::from(ch)] += 1;
                    }
                    _ => {}
                }
            }
            TrackEventKind::Meta(m) => match m {
                MetaMessage::Tempo(t) if t.as_int() > 0 => score.tempo.push((tick, t.as_int())),
                MetaMessage::TimeSignature(n, d, _, _) if n > 0 && d <= 7 => {
                    score.time_sigs.push((tick, n, 1u16 << d));
                }
                MetaMessage::KeySignature(sf, minor) if (-7..=7).contains(&sf) => {
                    score.key_sigs.push((tick, sf, minor))
                }
                MetaMessage::TrackName(n) if info.name.is_empty() => {
                    info.name = arena.alloc_str(&String::from_utf8_lossy(n));
                }
                MetaMessage::InstrumentName(n) if info.instrument.is_empty() => {
                    info.instrument = arena.alloc_str(&String::from_utf8_lossy(n));
                }
                MetaMessage::EndOfTrack => break,
                _ => {}
            },
            _ => {}
        }
    }
    // Notes still sounding at the end of the track end there, in slot order.
    open.drain(|slot, on, v| {
        push_note(score, on, tick.max(on + 1), (slot % 128) as u8, v, (slot / 128) as u8, track);
    });
    score.end = score.end.max(tick);
    facts.end = tick;
    facts.notes.1 = score.notes.len();
    (info, facts)
}

/// What a split part's score is made of, kept from its parent's [`gather_with`], so a part is
/// analysed without reading its bytes a second time.
///
/// A part (`library::split`) is a two-track file: the parent's conductor events (tempo, meters,
/// keys) on track 0, and one parent track's own events, or one channel of them and the track's
/// meta events, on track 1. Walking it finds exactly what the parent's walk found for those
/// events: the same notes (note-offs pair per channel and pitch, and a track's end closes what it
/// left sounding, at the same tick), found in the same order, on track 1; the same conductor
/// maps; that track's names, programs, bends and controllers. Its notes are then sorted the same
/// way from the same order, so even notes that tie on onset, pitch and track come out in the
/// same order. The test `a_part_analysed_from_its_parents_notes_is_the_part_analysed_from_its_bytes`
/// (in `library::split`) holds the two to the same analysis.
pub struct PartSeeds {
    ppq: u32,
    tempo: Vec<(u64, u32)>,
    time_sigs: Vec<(u64, u8, u16)>,
    key_sigs: Vec<(u64, i8, bool)>,
    /// The parent's notes in the order its walk found them.
    notes: Vec<Note>,
    /// The parent's tracks that hold notes, in track order.
    tracks: Vec<SeedTrack>,
}

struct SeedTrack {
    name: String,
    instrument: String,
    facts: TrackFacts,
}

impl PartSeeds {
    /// Most notes a parent's seeds hold (24 bytes each), and most conductor events (16 bytes
    /// each). Seeds live on the heap while the parent's object is written, so with at most
    /// `library::split::MAX_PARTS` note tracks and [`Self::MAX_NAME_BYTES`] of their names they
    /// take under 2.6 MiB per file a shard has in flight (64 by default), however hostile the
    /// files; songs hold a few thousand notes. A file past a bound has its parts parsed and
    /// gathered from their own bytes instead.
    pub const MAX_NOTES: usize = 1 << 16;
    /// Most bytes of track and instrument names the note tracks' seeds hold (a name meta may
    /// be as long as the file).
    pub const MAX_NAME_BYTES: usize = 1 << 16;

    /// None when the score was gathered without `keep_unsorted`, or is past a bound: more notes
    /// or conductor events than [`Self::MAX_NOTES`], more note tracks than a split makes parts,
    /// more of their names than [`Self::MAX_NAME_BYTES`], or more tracks than a part's 16-bit
    /// track index names.
    pub fn of(score: &Score) -> Option<PartSeeds> {
        let conductor = score.tempo.len() + score.time_sigs.len() + score.key_sigs.len();
        if score.unsorted.len() != score.notes.len()
            || score.notes.len() > Self::MAX_NOTES
            || conductor > Self::MAX_NOTES
            || score.kept.len() > crate::library::split::MAX_PARTS
            || score.tracks.len() > usize::from(u16::MAX) + 1
        {
            return None;
        }
        let names: usize = score
            .kept
            .iter()
            .filter_map(|f| score.tracks.get(f.track))
            .map(|t| t.name.len() + t.instrument.len())
            .sum();
        if names > Self::MAX_NAME_BYTES {
            return None;
        }
        let tracks = score
            .kept
            .iter()
            .map(|f| {
                let info = score.tracks.get(f.track).copied().unwrap_or_default();
                SeedTrack { name: info.name.to_string(), instrument: info.instrument.to_string(), facts: *f }
            })
            .collect();
        Some(PartSeeds {
            ppq: score.ppq,
            tempo: score.tempo.to_vec(),
            time_sigs: score.time_sigs.to_vec(),
            key_sigs: score.key_sigs.to_vec(),
            notes: score.unsorted.to_vec(),
            tracks,
        })
    }

    /// The score of the part holding parent track `track` (0-based, among the `MTrk` chunks),
    /// or only its `channel` (0-based), whose conductor track ends at `conductor_end`: what
    /// [`gather_with`] finds in that part's bytes, notes kept. None for a track the parent did
    /// not have, or that holds no notes.
    pub fn score_of<'a>(
        &self,
        track: u16,
        channel: Option<u8>,
        conductor_end: u64,
        arena: &'a Bump,
    ) -> Option<Score<'a>> {
        let at = self.tracks.binary_search_by_key(&usize::from(track), |t| t.facts.track).ok()?;
        let t = &self.tracks[at];
        let own = self.notes.get(t.facts.notes.0..t.facts.notes.1)?;
        let kept = |ch: usize| channel.is_none_or(|c| usize::from(c) == ch);
        let mut unsorted = BumpVec::with_capacity_in(own.len(), arena);
        unsorted.extend(own.iter().filter(|n| kept(usize::from(n.ch))).map(|n| Note { track: 1, ..*n }));
        let mut notes = BumpVec::with_capacity_in(unsorted.len(), arena);
        notes.extend_from_slice(&unsorted);
        notes.sort_unstable_by_key(|n| (n.on, n.pitch, n.track));
        let mut facts = TrackFacts {
            track: 1,
            channels: channel.map_or(t.facts.channels, |c| t.facts.channels & 1 << c),
            end: t.facts.end,
            notes: (0, notes.len()),
            ..TrackFacts::default()
        };
        for ch in (0..16).filter(|&ch| kept(ch)) {
            facts.programs[ch] = t.facts.programs[ch];
            facts.bends[ch] = t.facts.bends[ch];
            facts.controllers[ch] = t.facts.controllers[ch];
        }
        let own_info = TrackInfo { name: arena.alloc_str(&t.name), instrument: arena.alloc_str(&t.instrument) };
        let mut tracks = BumpVec::with_capacity_in(2, arena);
        tracks.extend([TrackInfo::default(), own_info]);
        let mut kept_facts = BumpVec::with_capacity_in(1, arena);
        kept_facts.push(facts);
        let mut tempo = BumpVec::with_capacity_in(self.tempo.len(), arena);
        tempo.extend_from_slice(&self.tempo);
        let mut time_sigs = BumpVec::with_capacity_in(self.time_sigs.len(), arena);
        time_sigs.extend_from_slice(&self.time_sigs);
        let mut key_sigs = BumpVec::with_capacity_in(self.key_sigs.len(), arena);
        key_sigs.extend_from_slice(&self.key_sigs);
        Some(Score {
            ppq: self.ppq,
            format: 1,
            notes,
            tempo,
            time_sigs,
            key_sigs,
            tracks,
            programs: facts.programs,
            bends: facts.bends,
            controllers: facts.controllers,
            // The conductor track ends at its last event.
            end: conductor_end.max(t.facts.end),
            unsorted,
            kept: kept_facts,
        })
    }

    /// The facts `midi::parse` finds in a part whose score [`PartSeeds::score_of`] made, the
    /// split having written `events` events into it (both tracks, ends included).
    pub fn facts_of(
        part: &Score,
        events: u64,
        limits: &crate::midi::MidiLimits,
        arena: &Bump,
    ) -> Result<crate::midi::Facts, crate::midi::Rejected> {
        let counts = crate::midi::PartCounts {
            events,
            channels: part.kept.iter().fold(0, |m, t| m | t.channels),
            notes: part.notes.len() as u64,
            drum_notes: part.notes.iter().filter(|n| n.ch == 9).count() as u64,
            duration_ticks: part.end,
        };
        let time_signature = part.time_sigs.first().map(|&(_, n, d)| (n, d));
        // A part's division is its parent's, which parsed as metrical (SMPTE files have no
        // score to split), so it fits the header's 15 bits.
        let ppq = u16::try_from(part.ppq).unwrap_or(u16::MAX);
        crate::midi::part_facts(ppq, counts, &part.tempo, time_signature, limits, arena)
    }
}

/// The notes sounding while a track is read: (onset, velocity) per channel x pitch slot, and a
/// bit per slot that says which hold one. The bits are what a track's end walks, so a file pays
/// for the notes it leaves open, not for all 2,048 slots per track (most of a small file's
/// gather time when it was a scan).
struct OpenNotes<'a> {
    slots: &'a mut [(u64, u8)],
    /// Bit `pitch` of word `channel`.
    open: [u128; 16],
}

impl<'a> OpenNotes<'a> {
    fn new(arena: &'a Bump) -> Self {
        OpenNotes { slots: arena.alloc_slice_fill_copy(16 * 128, (0, 0)), open: [0; 16] }
    }

    fn take(&mut self, slot: usize) -> Option<(u64, u8)> {
        let (word, bit) = (slot / 128, 1u128 << (slot % 128));
        if self.open[word] & bit == 0 {
            return None;
        }
        self.open[word] &= !bit;
        Some(self.slots[slot])
    }

    fn put(&mut self, slot: usize, on: u64, vel: u8) {
        self.open[slot / 128] |= 1u128 << (slot % 128);
        self.slots[slot] = (on, vel);
    }

    /// Every open note, in slot order (channel, then pitch), emptied.
    fn drain(&mut self, mut f: impl FnMut(usize, u64, u8)) {
        for (word, bits) in self.open.iter_mut().enumerate() {
            while *bits != 0 {
                let pitch = bits.trailing_zeros() as usize;
                *bits &= *bits - 1;
                let slot = word * 128 + pitch;
                let (on, vel) = self.slots[slot];
                f(slot, on, vel);
            }
        }
    }
}

fn push_note(score: &mut Score, on: u64, off: u64, pitch: u8, vel: u8, ch: u8, track: u16) {
    score.notes.push(Note { on, off: off.max(on), pitch, vel, ch, track });
}

impl Score<'_> {
    /// Seconds at a tick, through the tempo map (120 BPM until the first tempo event).
    pub fn seconds_at(&self, tick: u64) -> f64 {
        if self.ppq == 0 {
            return 0.0;
        }
        let ppq = f64::from(self.ppq);
        let (mut s, mut last, mut us) = (0.0, 0u64, 500_000u32);
        for &(t, u) in self.tempo.iter() {
            if t >= tick {
                break;
            }
            s += (t - last) as f64 * f64::from(us) / ppq / 1e6;
            last = t;
            us = u;
        }
        s + (tick - last) as f64 * f64::from(us) / ppq / 1e6
    }

    /// The last note's end (or the last event), for lengths in beats and bars.
    pub fn music_end(&self) -> u64 {
        self.notes.iter().map(|n| n.off).max().unwrap_or(0)
    }
}
