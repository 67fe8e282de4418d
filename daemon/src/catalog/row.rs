//! What one commit writes, in the shape both stores take: a `files` row's values computed once
//! from the shard's `Described` (so the embedded and the PostgreSQL catalog can never store a
//! file differently), and the ordered list of writes a group commits.

use std::collections::HashSet;

use super::{Described, PartOf, Source};
use crate::analysis::{self, Analysis};
use crate::dedupe::{from_hex, ContentId};
use crate::midi::Timing;

/// The columns of a `files` row, in [`FileRow::COLUMNS`] order.
pub struct FileRow<'a> {
    pub hash: &'a [u8],
    pub size: i64,
    pub format: i64,
    pub ppq: Option<i64>,
    pub smpte_fps: Option<f64>,
    pub tracks: i64,
    pub channels: i64,
    pub notes: i64,
    pub drum_notes: i64,
    pub events: i64,
    pub duration_ticks: i64,
    pub duration_s: f64,
    pub bars: Option<f64>,
    pub bpm: Option<f64>,
    pub bpm_source: Option<&'a str>,
    pub tempo_changes: bool,
    pub time_signature: Option<String>,
    pub has_drums: bool,
    pub repairs: String,
    pub job: i64,
    pub analysis_version: Option<i64>,
    pub bpm_initial: Option<f64>,
    pub bpm_weighted: Option<f64>,
    pub bpm_confidence: Option<f64>,
    pub key: Option<&'a str>,
    pub key_tonic: Option<i64>,
    pub key_mode: Option<&'a str>,
    pub key_confidence: Option<f64>,
    pub key_source: Option<&'a str>,
    pub key_runner_up: Option<&'a str>,
    pub meter_source: Option<&'a str>,
    pub is_loop: Option<bool>,
    pub loop_bars: Option<i64>,
    pub repeat_bars: Option<i64>,
    pub quantized: Option<bool>,
    pub drum_parts: Option<String>,
    pub drum_dominant: Option<&'a str>,
    pub drum_shares: Option<String>,
    pub role: Option<&'a str>,
    pub role_confidence: Option<f64>,
    pub parts: Option<String>,
    pub chords: Option<String>,
    pub pitch_min: Option<i64>,
    pub pitch_max: Option<i64>,
    pub polyphony_mean: Option<f64>,
    pub polyphony_max: Option<i64>,
    pub density: Option<f64>,
    pub velocity_min: Option<i64>,
    pub velocity_max: Option<i64>,
    pub fingerprint: Option<Vec<u8>>,
    pub shape: Option<Vec<u8>>,
    pub parent: Option<&'a [u8]>,
    pub part_index: Option<i64>,
    pub part_track: Option<i64>,
    pub part_channel: Option<i64>,
}

impl<'a> FileRow<'a> {
    pub const COLUMNS: &'static str = "hash, size, format, ppq, smpte_fps, tracks, channels, notes, drum_notes,
       events, duration_ticks, duration_s, bars, bpm, bpm_source, tempo_changes, time_signature,
       has_drums, repairs, job,
       analysis_version, bpm_initial, bpm_weighted, bpm_confidence, key, key_tonic, key_mode,
       key_confidence, key_source, key_runner_up, meter_source, is_loop, loop_bars, repeat_bars,
       quantized, drum_parts, drum_dominant, drum_shares, role, role_confidence, parts, chords,
       pitch_min, pitch_max, polyphony_mean, polyphony_max, density, velocity_min, velocity_max,
       fingerprint, shape, parent, part_index, part_track, part_channel";
    pub const COUNT: usize = 55;

    /// The values in column order, for tokio-postgres (COPY BINARY rows and INSERT parameters).
    pub fn pg_values(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); FileRow::COUNT] {
        [
            &self.hash,
            &self.size,
            &self.format,
            &self.ppq,
            &self.smpte_fps,
            &self.tracks,
            &self.channels,
            &self.notes,
            &self.drum_notes,
            &self.events,
            &self.duration_ticks,
            &self.duration_s,
            &self.bars,
            &self.bpm,
            &self.bpm_source,
            &self.tempo_changes,
            &self.time_signature,
            &self.has_drums,
            &self.repairs,
            &self.job,
            &self.analysis_version,
            &self.bpm_initial,
            &self.bpm_weighted,
            &self.bpm_confidence,
            &self.key,
            &self.key_tonic,
            &self.key_mode,
            &self.key_confidence,
            &self.key_source,
            &self.key_runner_up,
            &self.meter_source,
            &self.is_loop,
            &self.loop_bars,
            &self.repeat_bars,
            &self.quantized,
            &self.drum_parts,
            &self.drum_dominant,
            &self.drum_shares,
            &self.role,
            &self.role_confidence,
            &self.parts,
            &self.chords,
            &self.pitch_min,
            &self.pitch_max,
            &self.polyphony_mean,
            &self.polyphony_max,
            &self.density,
            &self.velocity_min,
            &self.velocity_max,
            &self.fingerprint,
            &self.shape,
            &self.parent,
            &self.part_index,
            &self.part_track,
            &self.part_channel,
        ]
    }

    pub fn of(id: &'a ContentId, size: u64, d: &'a Described, job: u64, part_of: Option<&'a PartOf>) -> FileRow<'a> {
        let f = &d.facts;
        let (ppq, smpte_fps) = match f.timing {
            Timing::Metrical { ppq } => (Some(i64::from(ppq)), None),
            Timing::Timecode { fps, .. } => (None, Some(fps)),
        };
        let a = d.analysis.as_ref();
        // The analysis's values where it ran; the parse's first guesses where it did not (SMPTE).
        let (bars, bpm, bpm_source, tempo_changes) = match a {
            Some(a) => (Some(a.bars), a.bpm, a.bpm_source, a.tempo_changes),
            None => (f.bars, f.bpm, f.bpm_source, f.tempo_changes),
        };
        let time_signature = match a {
            Some(a) => Some(a.time_signature.clone()),
            None => f.time_signature.map(|(n, d)| format!("{n}/{d}")),
        };
        let json = a.map(AnalysisJson::of);
        let (drum_parts, drum_shares, parts, chords) = match json {
            Some(j) => (j.drum_parts, j.drum_shares, Some(j.parts), j.chords),
            None => (None, None, None, None),
        };
        let hash_of = |hex: &str| from_hex(hex).map(|h| h.to_vec());
        FileRow {
            hash: &id[..],
            size: size as i64,
            format: i64::from(f.format),
            ppq,
            smpte_fps,
            tracks: i64::from(f.tracks),
            channels: i64::from(f.channels),
            notes: f.notes as i64,
            drum_notes: f.drum_notes as i64,
            events: f.events as i64,
            duration_ticks: f.duration_ticks as i64,
            duration_s: f.duration_s,
            bars,
            bpm: Some(bpm),
            bpm_source: Some(bpm_source),
            tempo_changes,
            time_signature,
            has_drums: a.map_or(f.drum_notes > 0, |a| a.has_drums),
            repairs: f.repairs.to_text(),
            job: job as i64,
            analysis_version: a.map(|_| i64::from(analysis::VERSION)),
            bpm_initial: a.map(|a| a.bpm_initial),
            bpm_weighted: a.map(|a| a.bpm_weighted),
            bpm_confidence: a.map(|a| a.bpm_confidence),
            key: a.and_then(|a| a.key.as_deref()),
            key_tonic: a.and_then(|a| a.tonic).map(i64::from),
            key_mode: a.and_then(|a| a.mode),
            key_confidence: a.and_then(|a| a.key_confidence),
            key_source: a.and_then(|a| a.key_source),
            key_runner_up: a.and_then(|a| a.key_runner_up.as_deref()),
            meter_source: a.map(|a| a.meter_source),
            is_loop: a.map(|a| a.loop_bars.is_some()),
            loop_bars: a.and_then(|a| a.loop_bars).map(i64::from),
            repeat_bars: a.and_then(|a| a.repeat_bars).map(i64::from),
            quantized: a.map(|a| a.quantized),
            drum_parts,
            drum_dominant: a.and_then(|a| a.drum_dominant),
            drum_shares,
            role: a.map(|a| a.role),
            role_confidence: a.map(|a| a.role_confidence),
            parts,
            chords,
            pitch_min: a.and_then(|a| a.pitch_min).map(i64::from),
            pitch_max: a.and_then(|a| a.pitch_max).map(i64::from),
            polyphony_mean: a.map(|a| a.polyphony_mean),
            polyphony_max: a.map(|a| i64::from(a.polyphony_max)),
            density: a.map(|a| a.density),
            velocity_min: a.and_then(|a| a.velocity_min).map(i64::from),
            velocity_max: a.and_then(|a| a.velocity_max).map(i64::from),
            fingerprint: a.and_then(|a| hash_of(&a.fingerprint)),
            shape: a.and_then(|a| a.shape.as_deref().and_then(hash_of)),
            parent: part_of.map(|p| &p.parent[..]),
            part_index: part_of.map(|p| i64::from(p.index)),
            part_track: part_of.map(|p| i64::from(p.track)),
            part_channel: part_of.and_then(|p| p.channel.map(|c| i64::from(c) + 1)),
        }
    }
}

/// The analysis's list-shaped values as stored: JSON where a reader needs structure, the drum
/// part names comma-separated by share (the dominant first) as version 1 stored them.
struct AnalysisJson {
    drum_parts: Option<String>,
    drum_shares: Option<String>,
    parts: String,
    chords: Option<String>,
}

impl AnalysisJson {
    fn of(a: &Analysis) -> AnalysisJson {
        let mut by_share = a.drum_parts.clone();
        by_share.sort_by(|x, y| y.1.total_cmp(&x.1));
        let shares: std::collections::BTreeMap<&str, f32> = a.drum_parts.iter().copied().collect();
        AnalysisJson {
            drum_parts: (!by_share.is_empty()).then(|| by_share.iter().map(|p| p.0).collect::<Vec<_>>().join(",")),
            drum_shares: (!shares.is_empty()).then(|| to_json(&shares)),
            parts: to_json(&a.parts),
            chords: (!a.chords.is_empty()).then(|| to_json(&a.chords)),
        }
    }
}

/// JSON of the small values stored in TEXT columns; serialising these plain maps and vectors
/// cannot fail, and an empty object is a safe stand-in if it ever did.
pub fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".to_string())
}

/// A source's tags as stored: a JSON array, or NULL for none.
pub fn tags_json(s: &Source) -> Option<String> {
    (!s.tags.is_empty()).then(|| to_json(&s.tags))
}

/// What PostgreSQL's `name:` search matches (`sources.name_key`, migration 0003): the name and
/// the clean name, each ASCII-lowercased (as SQLite's `lower()` and the query language fold), one
/// newline apart.
pub fn name_key(s: &Source) -> String {
    let mut k = String::with_capacity(s.name.len() + s.clean_name.len() + 1);
    k.push_str(&s.name);
    k.push('\n');
    k.push_str(&s.clean_name);
    k.make_ascii_lowercase();
    k
}

/// One write of a group, in commit order. Both stores apply them in this order, so row ids (the
/// import order `search` lists by) come out the same.
pub enum Op<'a> {
    /// A new content and the source it was found at.
    File {
        id: &'a ContentId,
        size: u64,
        file: &'a Described,
        source: &'a Source,
    },
    /// One more place a content committed in this group, or before it, was found.
    Source {
        id: &'a ContentId,
        source: &'a Source,
    },
    /// A source whose content the dedupe index says is committed: written only when the catalog
    /// holds the row (an index match is 46 bits); otherwise reported missing and parked.
    Checked {
        id: &'a ContentId,
        source: &'a Source,
    },
    Reject {
        job: u64,
        path: &'a str,
        reason: &'static str,
        detail: &'a str,
    },
    Archive {
        id: &'a ContentId,
        size: u64,
        job: u64,
        path: &'a str,
        members: u64,
    },
}

/// What a committed group learned from the catalog.
#[derive(Default, Debug)]
pub struct Outcome {
    /// Contents whose `files` row this group inserted (the others were there already: a
    /// re-import, or another daemon on the same catalog got there first).
    pub new_files: HashSet<ContentId>,
    /// `Op::Checked` contents the catalog does not hold.
    pub missing: HashSet<ContentId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_key_folds_ascii_only_and_keeps_the_two_names_apart() {
        let s = Source {
            job: crate::job::Job::new(1, "import", vec![]),
            path: "/x/Über KICK.MID".into(),
            name: "Über KICK.MID".into(),
            raw_name: None,
            clean_name: "Über_KICK.mid".into(),
            tags: Vec::new(),
            part_of: None,
        };
        // As SQLite's lower() and translate() fold: Ü stays, so both stores select alike.
        assert_eq!(name_key(&s), "Über kick.mid\nÜber_kick.mid");
    }
}
