//! Planted musical duplicates: files built to be duplicates of each tier, and near misses built
//! to be none, so `midictl dupes` can be checked for every planted group and no false one
//! (`tests/system/library.rs`).
//!
//! Per set: a melody `A` with a renamed byte copy (tier 0) and a meta-edited copy in other
//! packaging (format 0, PPQ 480, another tempo, other velocities and names: tier 1); a bass loop
//! `L` shipped alone and inside two different songs (tier 2); a melody `B` with a transposed
//! and a half-speed copy (tier 3). Near misses: `A` with one pitch changed, `L` with one note
//! moved, the transposed `B` with one pitch changed.

use std::path::{Path, PathBuf};

use midly::num::{u15, u24, u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, Timing, TrackEvent, TrackEventKind};

use super::{GenError, Rng};

const STREAM_PLANT: u64 = 40;

/// One planted group: files (relative paths) that must be reported together at `tier`.
#[derive(Debug, Clone)]
pub struct PlantedGroup {
    pub tier: u8,
    pub what: &'static str,
    /// For tier 2, songs are listed by their own path: their part is the member.
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Default)]
pub struct Planted {
    pub groups: Vec<PlantedGroup>,
    /// Files close to a planted one that must be in no group.
    pub near_misses: Vec<PathBuf>,
    pub files: usize,
}

/// A note: (onset tick, length in ticks, pitch, velocity).
type Note = (u32, u32, u8, u8);

/// Writes `sets` sets of planted duplicates under `dir`.
pub fn plant(dir: &Path, seed: u64, sets: usize) -> Result<Planted, GenError> {
    let mut out = Planted::default();
    for set in 0..sets {
        let mut rng = Rng::new(seed, set as u64, STREAM_PLANT);
        let d = PathBuf::from(format!("set{set:02}"));
        let mut write = |rel: PathBuf, bytes: &[u8]| -> Result<PathBuf, GenError> {
            let path = dir.join(&rel);
            if let Some(parent) = path.parent() {
                super::create_dir(parent)?;
            }
            std::fs::write(&path, bytes).map_err(|source| GenError::Io { path: path.clone(), source })?;
            out.files += 1;
            Ok(rel)
        };

        // Tier 0 and 1: A, its byte copy, its re-packaged copy; a near miss.
        let a = melody(&mut rng, 16, 55);
        let a_bytes = smf(96, 500_000, false, &[("Lead", 0, &a)]);
        let a1 = write(d.join("Pack One/Lead A.mid"), &a_bytes)?;
        let a2 = write(d.join("Pack Two/Renamed Lead.MID"), &a_bytes)?;
        let edited: Vec<Note> =
            a.iter().map(|&(on, len, p, v)| (on * 5, len * 5, p, v.saturating_sub(20).max(1))).collect();
        let a3 = write(d.join("Pack Three/Lead (edit).mid"), &smf(480, 618_557, true, &[("Edited", 3, &edited)]))?;
        let mut near = a.clone();
        near[5].2 += 1;
        let a_near = write(d.join("Pack Three/Lead near.mid"), &smf(96, 500_000, false, &[("Lead", 0, &near)]))?;
        out.groups.push(PlantedGroup { tier: 0, what: "renamed copy", paths: vec![a1.clone(), a2.clone()] });
        out.groups.push(PlantedGroup { tier: 1, what: "meta-edited copy", paths: vec![a1, a2, a3] });
        out.near_misses.push(a_near);

        // Tier 2: a loop alone and inside two songs.
        let l = melody(&mut rng, 8, 36);
        let l1 = write(d.join("Loops/Bass Loop.mid"), &smf(96, 500_000, true, &[("Bass", 1, &l)]))?;
        let keys = chords(&mut rng);
        let drums = beat(&mut rng);
        let song_x = write(
            d.join("Songs/Song X.mid"),
            &smf(96, 461_538, false, &[("Bass", 1, &l), ("Keys", 0, &keys), ("Drums", 9, &drums)]),
        )?;
        let lead = melody(&mut rng, 24, 60);
        let song_y =
            write(d.join("Songs/Song Y.mid"), &smf(96, 545_454, false, &[("Lead", 0, &lead), ("Low", 2, &l)]))?;
        let mut moved = l.clone();
        moved[3].0 += 48;
        let l_near = write(d.join("Loops/Bass Loop near.mid"), &smf(96, 500_000, true, &[("Bass", 1, &moved)]))?;
        out.groups.push(PlantedGroup { tier: 2, what: "loop reused inside songs", paths: vec![l1, song_x, song_y] });
        out.near_misses.push(l_near);

        // Tier 3: B transposed and at half speed.
        let b = melody(&mut rng, 16, 60);
        let b1 = write(d.join("Variants/Theme.mid"), &smf(96, 500_000, false, &[("Theme", 0, &b)]))?;
        let up: Vec<Note> = b.iter().map(|&(on, len, p, v)| (on, len, p + 5, v)).collect();
        let b2 = write(d.join("Variants/Theme up a fourth.mid"), &smf(96, 500_000, false, &[("Theme", 0, &up)]))?;
        let slow: Vec<Note> = b.iter().map(|&(on, len, p, v)| (on * 2, len * 2, p, v)).collect();
        let b3 = write(d.join("Variants/Theme half speed.mid"), &smf(96, 500_000, false, &[("Theme", 0, &slow)]))?;
        let mut up_near = up.clone();
        up_near[7].2 += 2;
        let b_near = write(d.join("Variants/Theme up near.mid"), &smf(96, 500_000, false, &[("Theme", 0, &up_near)]))?;
        out.groups.push(PlantedGroup { tier: 3, what: "transposed and re-timed", paths: vec![b1, b2, b3] });
        out.near_misses.push(b_near);
    }
    Ok(out)
}

/// `n` notes on an eighth-note grid at PPQ 96, from `low` up an octave and a half, one note at a
/// time, at least one of them an eighth long (so the shape's common divisor is an eighth).
fn melody(rng: &mut Rng, n: usize, low: u8) -> Vec<Note> {
    let mut t = 0;
    (0..n)
        .map(|i| {
            let len = if i == 0 { 48 } else { 48 * rng.range(1, 3) };
            let note = (t, len, low + rng.below(18) as u8, 60 + rng.below(60) as u8);
            t += len;
            note
        })
        .collect()
}

/// Four bars of three-note chords, a half note each.
fn chords(rng: &mut Rng) -> Vec<Note> {
    (0..8u32)
        .flat_map(|i| {
            let root = 48 + rng.below(12) as u8;
            [0u8, 4, 7].map(|iv| (i * 192, 192, root + iv, 80))
        })
        .collect()
}

/// Two bars of sixteenth-note hits on kick, snare and hats.
fn beat(rng: &mut Rng) -> Vec<Note> {
    let mut hits = Vec::new();
    for i in 0..32u32 {
        if rng.chance(0.6) {
            hits.push((i * 24, 12, [36u8, 38, 42][rng.index(3)], 100));
        }
    }
    hits
}

/// A small SMF: one track per (name, channel, notes), format 1 with a conductor track, or
/// format 0 with everything in one track.
fn smf(ppq: u16, tempo_us: u32, format0: bool, tracks: &[(&'static str, u8, &[Note])]) -> Vec<u8> {
    let conductor = [
        (0u32, TrackEventKind::Meta(MetaMessage::Tempo(u24::new(tempo_us)))),
        (0, TrackEventKind::Meta(MetaMessage::TimeSignature(4, 2, 24, 8))),
    ];
    let mut out_tracks: Vec<Vec<(u32, TrackEventKind<'static>)>> = Vec::new();
    let mut merged: Vec<(u32, TrackEventKind<'static>)> = conductor.to_vec();
    if !format0 {
        out_tracks.push(conductor.to_vec());
    }
    for (name, ch, notes) in tracks.iter() {
        let mut ev: Vec<(u32, TrackEventKind<'static>)> = Vec::new();
        ev.push((0, TrackEventKind::Meta(MetaMessage::TrackName(name.as_bytes()))));
        let channel = u4::new(*ch);
        for &(on, len, pitch, vel) in notes.iter() {
            let key = u7::new(pitch.min(127));
            let vel = u7::new(vel.clamp(1, 127));
            ev.push((on, TrackEventKind::Midi { channel, message: MidiMessage::NoteOn { key, vel } }));
            let off = MidiMessage::NoteOff { key, vel: u7::new(0) };
            ev.push((on + len, TrackEventKind::Midi { channel, message: off }));
        }
        if format0 {
            merged.extend(ev);
        } else {
            out_tracks.push(ev);
        }
    }
    if format0 {
        out_tracks.push(merged);
    }
    let encoded: Vec<Vec<TrackEvent<'static>>> = out_tracks
        .into_iter()
        .map(|mut ev| {
            // Offs before ons at one tick: a repeated pitch ends before it starts again.
            ev.sort_by_key(|(t, k)| {
                (*t, !matches!(k, TrackEventKind::Midi { message: MidiMessage::NoteOff { .. }, .. }))
            });
            let mut last = 0;
            let mut v: Vec<TrackEvent> = ev
                .into_iter()
                .map(|(t, kind)| {
                    let delta = u28::new(t - last);
                    last = t;
                    TrackEvent { delta, kind }
                })
                .collect();
            v.push(TrackEvent { delta: u28::new(0), kind: TrackEventKind::Meta(MetaMessage::EndOfTrack) });
            v
        })
        .collect();
    let format = if format0 { Format::SingleTrack } else { Format::Parallel };
    let header = Header::new(format, Timing::Metrical(u15::new(ppq)));
    let mut bytes = Vec::new();
    // Writing to a Vec cannot fail; an empty file would be refused by the import, visibly.
    let _ = midly::write_std(&header, encoded.iter(), &mut bytes);
    bytes
}
