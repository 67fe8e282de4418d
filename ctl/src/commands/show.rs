//! `midictl show HASH [--json]`: everything the catalog knows about one content, including every
//! place it was found.

use std::fmt::Write as _;

use anyhow::Result;
use midictl::progress::{format_bytes, printable};
use midictl::protocol::{FileInfo, Request, Response};

use super::{or_dash, request, unexpected, Ctx};
use crate::cli::ShowArgs;

pub fn run(ctx: &mut Ctx, args: &ShowArgs) -> Result<()> {
    let mut client = ctx.connect()?;
    let file = match request(&mut client, &Request::Show { hash: args.hash.clone() })? {
        Response::File { file } => file,
        other => return Err(unexpected("show", &other)),
    };
    if ctx.json {
        return ctx.print_json(&file);
    }
    ctx.print(&file_text(&file))
}

fn file_text(f: &FileInfo) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "{name:<15} {}", printable(&value));
    };
    field("hash", f.hash.clone());
    field("size", format!("{} ({} bytes)", format_bytes(f.size), f.size));
    field("format", f.format.to_string());
    field("ppq", or_dash(f.ppq));
    field("tracks", f.tracks.to_string());
    let channels: Vec<String> = f.channels.iter().map(|c| c.to_string()).collect();
    field("channels", if channels.is_empty() { "-".into() } else { channels.join(",") });
    field("duration", format!("{:.2}s ({} ticks)", f.duration_s, f.duration_ticks));
    field("bars", or_dash(f.bars.map(|b| format!("{b:.2}"))));
    let mut bpm = or_dash(f.bpm.map(|b| format!("{b:.2}")));
    match (&f.bpm_source, f.bpm_confidence) {
        (Some(source), Some(conf)) => bpm.push_str(&format!(" (from {source}, confidence {conf:.2})")),
        (Some(source), None) => bpm.push_str(&format!(" (from {source})")),
        _ => {}
    }
    if f.tempo_changes {
        bpm.push_str(", tempo changes");
    }
    field("bpm", bpm);
    let mut key = or_dash(f.key.clone());
    let about: Vec<String> = [
        f.key_source.as_ref().map(|s| format!("from {s}")),
        f.key_confidence.map(|c| format!("confidence {c:.2}")),
        f.key_runner_up.as_ref().map(|r| format!("else {r}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !about.is_empty() {
        key.push_str(&format!(" ({})", about.join(", ")));
    }
    field("key", key);
    let mut meter = or_dash(f.time_signature.clone());
    if let Some(source) = &f.meter_source {
        meter.push_str(&format!(" (from {source})"));
    }
    field("time signature", meter);
    field("drums", or_dash(f.has_drums.map(|d| if d { "yes" } else { "no" })));
    let parts = match &f.drum_shares {
        Some(shares) if !shares.is_empty() => {
            let mut by_share: Vec<(&String, &f64)> = shares.iter().collect();
            by_share.sort_by(|a, b| b.1.total_cmp(a.1));
            Some(by_share.iter().map(|(p, s)| format!("{p} {:.0}%", *s * 100.0)).collect::<Vec<_>>().join(", "))
        }
        _ => f.drum_parts.as_ref().filter(|p| !p.is_empty()).map(|p| p.join(", ")),
    };
    field("drum parts", or_dash(parts));
    let mut role = or_dash(f.role.clone());
    if let Some(conf) = f.role_confidence {
        role.push_str(&format!(" (confidence {conf:.2})"));
    }
    field("role", role);
    if !f.parts.is_empty() {
        for p in &f.parts {
            let mut line = format!("track {} ch {}: {}, {} notes", p.track, p.channel, p.role, p.notes);
            if let Some(d) = &p.drum_dominant {
                line.push_str(&format!(", mostly {d}"));
            }
            if !p.name.is_empty() {
                line.push_str(&format!(" ({})", p.name));
            }
            field("part", line);
        }
    }
    let looped = match (f.is_loop, f.loop_bars) {
        (Some(true), Some(bars)) => format!("yes, {bars} bars"),
        (Some(true), None) => "yes".to_string(),
        (Some(false), _) => "no".to_string(),
        (None, _) => "-".to_string(),
    };
    field("loop", looped);
    if let Some(q) = f.quantized {
        field("timing", if q { "quantized" } else { "expressive" }.to_string());
    }
    field("notes", f.notes.to_string());
    if let (Some(lo), Some(hi)) = (f.pitch_min, f.pitch_max) {
        field("pitch range", format!("{lo}-{hi}"));
    }
    if let (Some(mean), Some(max)) = (f.polyphony_mean, f.polyphony_max) {
        field("polyphony", format!("mean {mean:.2}, max {max}"));
    }
    if let Some(d) = f.density {
        field("density", format!("{d:.2} notes/s"));
    }
    if let (Some(lo), Some(hi)) = (f.velocity_min, f.velocity_max) {
        field("velocity", format!("{lo}-{hi}"));
    }
    if !f.chords.is_empty() {
        field("chords", f.chords.join(" "));
    }
    if let Some(fp) = &f.fingerprint {
        field("fingerprint", fp.clone());
    }
    field("parent", or_dash(f.parent.clone()));
    if !f.repairs.is_empty() {
        field("repairs", f.repairs.join(", "));
    }
    let _ = write!(out, "sources ({})", f.sources.len());
    for s in &f.sources {
        let _ = write!(out, "\n  job {}  {}", s.job, printable(&s.path));
        if let Some(clean) = s.clean_name.as_deref().filter(|c| *c != s.name) {
            let _ = write!(out, "  -> {}", printable(clean));
        }
        if !s.tags.is_empty() {
            let _ = write!(out, "  [{}]", printable(&s.tags.join(", ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use midictl::protocol::SourceInfo;

    #[test]
    fn shows_unknowns_as_dashes_and_escapes_names() {
        let file = FileInfo {
            hash: "0123456789abcdef0123456789abcdef".into(),
            size: 2048,
            format: 1,
            ppq: Some(480),
            tracks: 2,
            channels: vec![0, 9],
            duration_s: 4.0,
            duration_ticks: 3840,
            bars: Some(2.0),
            bpm: Some(120.0),
            bpm_source: Some("meta".into()),
            tempo_changes: false,
            key: None,
            key_confidence: None,
            time_signature: Some("4/4".into()),
            has_drums: Some(true),
            drum_parts: None,
            role: None,
            is_loop: None,
            notes: 32,
            parent: None,
            repairs: vec![],
            sources: vec![SourceInfo {
                path: "/p/Trap.zip!/Kick\u{1b}[2J.mid".into(),
                name: "Kick\u{1b}[2J.mid".into(),
                clean_name: Some("Kick2J.mid".into()),
                job: 1,
                tags: vec!["kick".into()],
            }],
            ..FileInfo::default()
        };
        let text = file_text(&file);
        assert!(text.contains("bpm             120.00 (from meta)"), "{text}");
        assert!(text.contains("key             -\n"), "{text}");
        assert!(text.contains("channels        0,9"), "{text}");
        assert!(
            text.contains("sources (1)\n  job 1  /p/Trap.zip!/Kick\\u{1b}[2J.mid  -> Kick2J.mid  [kick]"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'));
    }
}
