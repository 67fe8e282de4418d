//! Tags from a file's path and name: BPM, key, role and instrument words, genre words, pack.
//!
//! Producers' packs say a lot in their names ("Trap Vol 2/Drums/140bpm_Am_Kick_Loop.mid"); these
//! are priors for the detectors and search tags. Only the path's words are read: nothing here
//! looks at notes.

/// What a path says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PathTags {
    pub bpm: Option<f64>,
    /// (tonic 0-11, minor).
    pub key: Option<(u8, bool)>,
    /// Role word found ("drums", "bass", "chords", "melody", "fx").
    pub role: Option<&'static str>,
    /// Drum part word found ("kick", "snare", ...).
    pub drum_part: Option<&'static str>,
    pub tags: Vec<String>,
}

const ROLE_WORDS: &[(&str, &str)] = &[
    ("drum", "drums"),
    ("drums", "drums"),
    ("beat", "drums"),
    ("beats", "drums"),
    ("groove", "drums"),
    ("perc", "drums"),
    ("percussion", "drums"),
    ("kit", "drums"),
    ("bass", "bass"),
    ("bassline", "bass"),
    ("808", "bass"),
    ("sub", "bass"),
    ("chord", "chords"),
    ("chords", "chords"),
    ("progression", "chords"),
    ("prog", "chords"),
    ("pad", "chords"),
    ("pads", "chords"),
    ("keys", "chords"),
    ("stab", "chords"),
    ("melody", "melody"),
    ("melodies", "melody"),
    ("lead", "melody"),
    ("leads", "melody"),
    ("hook", "melody"),
    ("arp", "melody"),
    ("topline", "melody"),
    ("riff", "melody"),
    ("fx", "fx"),
    ("sfx", "fx"),
    ("riser", "fx"),
];

const DRUM_WORDS: &[(&str, &str)] = &[
    ("kick", "kick"),
    ("kicks", "kick"),
    ("bd", "kick"),
    ("snare", "snare"),
    ("snares", "snare"),
    ("clap", "snare"),
    ("claps", "snare"),
    ("hat", "hat_closed"),
    ("hats", "hat_closed"),
    ("hihat", "hat_closed"),
    ("hihats", "hat_closed"),
    ("hh", "hat_closed"),
    ("openhat", "hat_open"),
    ("oh", "hat_open"),
    ("tom", "toms"),
    ("toms", "toms"),
    ("crash", "crash"),
    ("cymbal", "crash"),
    ("ride", "ride"),
    ("shaker", "perc"),
    ("conga", "perc"),
    ("bongo", "perc"),
];

/// The octave an estimated tempo belongs in, per genre: `[floor, 2 floor)` BPM. Producers name
/// drum and bass at 170-175, trap and dubstep at 140-150 (their half-time feel is still written
/// at that tempo), house and techno at 120-130, hip-hop and R&B at 80-100.
const GENRE_TEMPO_FLOOR: &[(&str, f64)] = &[
    ("dnb", 150.0),
    ("trap", 110.0),
    ("drill", 110.0),
    ("dubstep", 110.0),
    ("house", 100.0),
    ("techno", 100.0),
    ("trance", 100.0),
    ("edm", 100.0),
    ("garage", 100.0),
    ("disco", 100.0),
    ("hiphop", 65.0),
    ("boombap", 65.0),
    ("lofi", 60.0),
    ("rnb", 60.0),
    ("reggaeton", 75.0),
    ("dembow", 75.0),
];

/// The first genre tag with a typical tempo gives the octave floor for a tempo estimate.
pub fn tempo_floor(tags: &[String]) -> Option<f64> {
    tags.iter().find_map(|t| GENRE_TEMPO_FLOOR.iter().find(|(g, _)| g == t).map(|(_, f)| *f))
}

const GENRE_WORDS: &[&str] = &[
    "trap",
    "house",
    "techno",
    "dnb",
    "drill",
    "hiphop",
    "boombap",
    "lofi",
    "rnb",
    "pop",
    "rock",
    "jazz",
    "reggaeton",
    "dembow",
    "afrobeat",
    "edm",
    "trance",
    "dubstep",
    "garage",
    "soul",
    "funk",
    "ambient",
    "cinematic",
    "disco",
    "latin",
    "folk",
    "classical",
    "metal",
    "gospel",
];

const NOTE_NAMES: [(&str, u8); 17] = [
    ("c", 0),
    ("c#", 1),
    ("db", 1),
    ("d", 2),
    ("d#", 3),
    ("eb", 3),
    ("e", 4),
    ("f", 5),
    ("f#", 6),
    ("gb", 6),
    ("g", 7),
    ("g#", 8),
    ("ab", 8),
    ("a", 9),
    ("a#", 10),
    ("bb", 10),
    ("b", 11),
];

fn tonic_of(s: &str) -> Option<u8> {
    NOTE_NAMES.iter().find(|(n, _)| *n == s).map(|(_, pc)| *pc)
}

/// A key from one token, or from a token and the next ("A min", "C# Minor"): (tonic, minor,
/// tokens used). Case matters for the bare forms: "Am" and "F#m" are keys, "am" is not.
fn key_at(tokens: &[&str], i: usize) -> Option<(u8, bool, usize)> {
    let t = tokens[i];
    let lower = t.to_ascii_lowercase();
    let first = t.chars().next()?;
    if !first.is_ascii_uppercase() || !matches!(first, 'A'..='G') {
        return None;
    }
    let split = if lower.len() > 1 && matches!(lower.as_bytes()[1], b'#' | b'b') { 2 } else { 1 };
    // "Bb" is B flat, but "Bbm" too; "B" alone is B.
    let (name, rest) = lower.split_at(split);
    let tonic = tonic_of(name)?;
    let rest_orig = &t[split..];
    let mode = match rest {
        "" => None,
        "m" | "min" | "minor" => Some(true),
        "maj" | "major" | "ma" => Some(false),
        _ if rest_orig == "M" => Some(false),
        _ => return None,
    };
    if let Some(minor) = mode {
        return Some((tonic, minor, 1));
    }
    match tokens.get(i + 1).map(|s| s.to_ascii_lowercase()) {
        Some(n) if n == "min" || n == "minor" || n == "m" => Some((tonic, true, 2)),
        Some(n) if n == "maj" || n == "major" => Some((tonic, false, 2)),
        // A lone capital letter is a key only where a key is expected ("... - C - ..." is too
        // weak); callers accept it as major only next to a BPM-like context, so not here.
        _ => None,
    }
}

fn bpm_of(tokens: &[&str], i: usize) -> Option<(f64, usize)> {
    let t = tokens[i].to_ascii_lowercase();
    let plausible = |v: f64| (40.0..=300.0).contains(&v).then_some(v);
    if let Some(num) = t.strip_suffix("bpm") {
        if num.is_empty() {
            // "140 BPM": the number is the token before.
            return None;
        }
        return num.parse::<f64>().ok().and_then(plausible).map(|v| (v, 1));
    }
    if t.chars().all(|c| c.is_ascii_digit()) && (2..=3).contains(&t.len()) {
        let v = t.parse::<f64>().ok()?;
        let next = tokens.get(i + 1).map(|s| s.to_ascii_lowercase());
        if next.as_deref() == Some("bpm") {
            return plausible(v).map(|v| (v, 2));
        }
        return plausible(v).filter(|v| *v >= 60.0).map(|v| (v, 1));
    }
    None
}

/// Reads the tags of a provenance path (archive steps `!/` included).
pub fn from_path(path: &str) -> PathTags {
    let mut out = PathTags::default();
    let components: Vec<&str> = path.split(['/', '\\']).filter(|c| !c.is_empty() && *c != "!").collect();
    let n = components.len();
    // A folder named just "Major" or "Minor" gives the mode of a bare tonic in the file name.
    let mode_word = components.iter().rev().skip(1).find_map(|c| match c.to_ascii_lowercase().as_str() {
        "major" => Some(false),
        "minor" => Some(true),
        _ => None,
    });
    for (ci, comp) in components.iter().enumerate() {
        let comp = comp.trim_end_matches('!');
        let is_file = ci + 1 == n;
        let stem = if is_file { comp.rsplit_once('.').map_or(comp, |(s, _)| s) } else { comp };
        let tokens: Vec<&str> =
            stem.split(|c: char| !(c.is_alphanumeric() || c == '#')).filter(|t| !t.is_empty()).collect();
        // Keys named in this component: a folder naming a relative pair ("C Major - A minor")
        // says nothing about which of the two a file is in.
        let mut keys: Vec<(u8, bool)> = Vec::new();
        // A bare tonic opening a file name, then a dash ("C - I IV V.mid"), is the file's key.
        if is_file && stem.split_once(" - ").is_some_and(|(head, _)| head.trim().len() <= 2) {
            if let Some(first) = tokens.first() {
                let lower = first.to_ascii_lowercase();
                if first.starts_with(|c: char| matches!(c, 'A'..='G')) {
                    if let Some(t) = tonic_of(&lower) {
                        keys.push((t, mode_word.unwrap_or(false)));
                    }
                }
            }
        }
        // Bare numbers are BPMs only in the file name (folders hold "Vol 2", "2019").
        let mut i = 0;
        while i < tokens.len() {
            let lower = tokens[i].to_ascii_lowercase();
            if let Some((v, used)) =
                bpm_of(&tokens, i).filter(|(_, used)| is_file || *used == 2 || lower.ends_with("bpm"))
            {
                if is_file || out.bpm.is_none() {
                    out.bpm = Some(v);
                }
                i += used;
                continue;
            }
            if let Some((tonic, minor, used)) = key_at(&tokens, i) {
                keys.push((tonic, minor));
                i += used;
                continue;
            }
            if let Some((_, role)) = ROLE_WORDS.iter().find(|(w, _)| *w == lower) {
                if is_file || out.role.is_none() {
                    out.role = Some(role);
                }
                push_tag(&mut out.tags, role);
            }
            if let Some((_, part)) = DRUM_WORDS.iter().find(|(w, _)| *w == lower) {
                if is_file || out.drum_part.is_none() {
                    out.drum_part = Some(part);
                }
                push_tag(&mut out.tags, part);
            }
            if GENRE_WORDS.contains(&lower.as_str()) {
                push_tag(&mut out.tags, &lower);
            }
            i += 1;
        }
        keys.dedup();
        if let [k] = keys.as_slice() {
            if is_file || out.key.is_none() {
                out.key = Some(*k);
            }
        }
    }
    if let Some(bpm) = out.bpm {
        push_tag(&mut out.tags, &format!("{}bpm", bpm.round()));
    }
    // The pack: the outermost archive, else the folder holding the file.
    let pack = path
        .split("!/")
        .next()
        .filter(|_| path.contains("!/"))
        .and_then(|outer| outer.rsplit(['/', '\\']).next())
        .map(|a| a.rsplit_once('.').map_or(a, |(s, _)| s))
        .or_else(|| (n >= 2).then(|| components[n - 2]));
    if let Some(p) = pack.filter(|p| !p.is_empty()) {
        push_tag(&mut out.tags, &format!("pack:{p}"));
    }
    out
}

fn push_tag(tags: &mut Vec<String>, t: &str) {
    if !tags.iter().any(|x| x == t) {
        tags.push(t.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpm_forms() {
        for (p, bpm) in [
            ("/x/Trap_140bpm_Loop.mid", Some(140.0)),
            ("/x/Loop_140_Am.mid", Some(140.0)),
            ("/x/Loop 140 BPM.mid", Some(140.0)),
            ("/x/Vol 2/Kick 01.mid", None),
            ("/x/92 bpm pack/Kick.mid", Some(92.0)),
            ("/x/Loop_1000.mid", None),
        ] {
            assert_eq!(from_path(p).bpm, bpm, "{p}");
        }
    }

    #[test]
    fn key_forms() {
        for (p, key) in [
            ("/x/Loop_Am_140.mid", Some((9, true))),
            ("/x/Loop A min.mid", Some((9, true))),
            ("/x/F#m chords.mid", Some((6, true))),
            ("/x/Pad C# Minor.mid", Some((1, true))),
            ("/x/Cmaj progression.mid", Some((0, false))),
            ("/x/Bb major.mid", Some((10, false))),
            ("/x/am loop.mid", None),
            ("/x/Dark Loop.mid", None),
            ("/x/01 - C Major - A minor/Minor/Am - i iv v.mid", Some((9, true))),
            ("/x/01 - C Major - A minor/Major/C - I IV V.mid", Some((0, false))),
            ("/x/01 - C Major - A minor/Major/I - C.mid", None),
        ] {
            assert_eq!(from_path(p).key, key, "{p}");
        }
    }

    #[test]
    fn genres_give_a_tempo_octave() {
        assert_eq!(tempo_floor(&from_path("/packs/DnB Rollers/loop 3.mid").tags), Some(150.0));
        assert_eq!(tempo_floor(&from_path("/packs/Boombap Kit/beat.mid").tags), Some(65.0));
        assert_eq!(tempo_floor(&from_path("/packs/Ambient/pad.mid").tags), None);
    }

    #[test]
    fn words_and_pack() {
        let t = from_path("/dl/Trap Vol 1.zip!/Drums/Kick Loops/Kick 01.mid");
        assert_eq!(t.role, Some("drums"));
        assert_eq!(t.drum_part, Some("kick"));
        assert!(t.tags.iter().any(|x| x == "trap"));
        assert!(t.tags.iter().any(|x| x == "pack:Trap Vol 1"), "{:?}", t.tags);
    }
}
