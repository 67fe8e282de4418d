//! Rename templates: names from catalog fields, for exports that ask for them (`--rename`, off by
//! default; the user's files and the catalog's names never change).
//!
//! A template is text with fields in braces, `/` separating folders:
//! `{role}/{key|nokey}/{bpm}bpm_{name}`. A field with `|fallback` takes the fallback when the
//! file lacks the value; one without takes `unknown`. Each folder and the file name are then
//! cleaned by `sanitize` (folder by folder, so a value cannot add a folder), and the name gets
//! `.mid`. Fields: `name` (the clean name's stem), `role`, `key` (`A minor`), `key_short` (`Am`,
//! `F#`), `mode`, `bpm` (whole BPM), `bars`, `drum` (the dominant drum part), `time` (`4-4`),
//! `pack`, `hash` (first 8 hex digits), `part` (the part's number, for split parts).

use midictl::protocol::FileInfo;

use super::sanitize;

const FIELDS: &[&str] =
    &["name", "role", "key", "key_short", "mode", "bpm", "bars", "drum", "time", "pack", "hash", "part"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("rename template {template:?}: unknown field {{{field}}} (fields: {})", FIELDS.join(", "))]
    UnknownField { template: String, field: String },
    #[error("rename template {template:?}: a `{{` without its `}}`")]
    Unclosed { template: String },
    #[error("rename template is empty")]
    Empty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field { name: &'static str, fallback: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    pub fn parse(template: &str) -> Result<Template, TemplateError> {
        if template.trim().is_empty() {
            return Err(TemplateError::Empty);
        }
        let mut pieces = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_string()));
            }
            let Some(close) = rest[open..].find('}') else {
                return Err(TemplateError::Unclosed { template: template.to_string() });
            };
            let inner = &rest[open + 1..open + close];
            let (field, fallback) = match inner.split_once('|') {
                Some((f, fb)) => (f.trim(), Some(fb.to_string())),
                None => (inner.trim(), None),
            };
            let Some(name) = FIELDS.iter().find(|f| **f == field) else {
                return Err(TemplateError::UnknownField { template: template.to_string(), field: field.to_string() });
            };
            pieces.push(Piece::Field { name, fallback });
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template { pieces })
    }

    /// The relative path a file gets: folders and a `.mid` name, each cleaned.
    pub fn render(&self, f: &FileInfo) -> String {
        let mut raw = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => raw.push_str(t),
                Piece::Field { name, fallback } => {
                    // A value's own slashes must not make folders.
                    let value = field(f, name).map(|v| v.replace(['/', '\\'], "-"));
                    raw.push_str(&value.or_else(|| fallback.clone()).unwrap_or_else(|| "unknown".to_string()));
                }
            }
        }
        let comps: Vec<&str> = raw.split('/').map(str::trim).filter(|c| !c.is_empty()).collect();
        let Some((file, folders)) = comps.split_last() else { return "untitled.mid".to_string() };
        let mut out: Vec<String> = folders.iter().map(|c| sanitize::clean_folder(c)).collect();
        let stem = file.strip_suffix(".mid").unwrap_or(file);
        out.push(sanitize::clean_stem_with_ext(stem, "mid"));
        out.join("/")
    }
}

const SHORT_NAMES: [&str; 12] = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];

fn field(f: &FileInfo, name: &str) -> Option<String> {
    let source = f.sources.first();
    match name {
        "name" => source.map(|s| {
            let clean = s.clean_name.clone().unwrap_or_else(|| sanitize::clean_name(&s.name));
            clean.strip_suffix(".mid").map(str::to_string).unwrap_or(clean)
        }),
        "role" => f.role.clone(),
        "key" => f.key.clone(),
        "key_short" => f.key_tonic.map(|t| {
            let minor = f.key_mode.as_deref() == Some("minor");
            format!("{}{}", SHORT_NAMES[usize::from(t % 12)], if minor { "m" } else { "" })
        }),
        "mode" => f.key_mode.clone(),
        "bpm" => f.bpm.filter(|b| b.is_finite() && *b > 0.0).map(|b| format!("{}", b.round() as u64)),
        "bars" => {
            f.bars.filter(|b| *b > 0.0).map(|b| if b.fract() == 0.0 { format!("{b}") } else { format!("{b:.1}") })
        }
        "drum" => f.drum_dominant.clone(),
        "time" => f.time_signature.as_ref().map(|t| t.replace('/', "-")),
        "pack" => source.and_then(|s| s.tags.iter().find_map(|t| t.strip_prefix("pack:").map(str::to_string))),
        "hash" => (f.hash.len() >= 8).then(|| f.hash[..8].to_string()),
        "part" => part_number(f),
        _ => None,
    }
}

/// A split part's number, from its name's `__nn_`.
fn part_number(f: &FileInfo) -> Option<String> {
    f.parent.as_ref()?;
    let name = &f.sources.first()?.name;
    let at = name.rfind("__")?;
    let digits: String = name[at + 2..].chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

#[cfg(test)]
mod tests {
    use midictl::protocol::SourceInfo;

    use super::*;

    fn file() -> FileInfo {
        FileInfo {
            hash: "0123456789abcdef0123456789abcdef".into(),
            bpm: Some(139.6),
            key: Some("A minor".into()),
            key_tonic: Some(9),
            key_mode: Some("minor".into()),
            role: Some("bass".into()),
            bars: Some(4.0),
            time_signature: Some("4/4".into()),
            sources: vec![SourceInfo {
                path: "/p/Trap Pack/Dark Bass.mid".into(),
                name: "Dark Bass.mid".into(),
                clean_name: Some("Dark_Bass.mid".into()),
                tags: vec!["trap".into(), "pack:Trap Pack".into()],
                ..SourceInfo::default()
            }],
            ..FileInfo::default()
        }
    }

    #[test]
    fn fields_fill_in_and_results_are_clean() {
        let t = Template::parse("{role}/{key}/{bpm}bpm_{name}").expect("parses");
        assert_eq!(t.render(&file()), "bass/A_minor/140bpm_Dark_Bass.mid");
        let t = Template::parse("{pack}/{key_short} {bars} bars {time} {hash}").expect("parses");
        assert_eq!(t.render(&file()), "Trap_Pack/Am_4_bars_4-4_01234567.mid");
    }

    #[test]
    fn fallbacks_and_unknowns() {
        let mut f = file();
        f.key = None;
        f.role = None;
        let t = Template::parse("{role}/{key|nokey}/{drum|}{name}").expect("parses");
        assert_eq!(t.render(&f), "unknown/nokey/Dark_Bass.mid");
        // A value cannot add folders; an empty folder disappears.
        f.role = Some("a/b".into());
        assert_eq!(Template::parse("{role}//{name}").expect("parses").render(&f), "a-b/Dark_Bass.mid");
    }

    #[test]
    fn bad_templates_are_refused_with_the_reason() {
        assert!(
            matches!(Template::parse("{colour}/{name}"), Err(TemplateError::UnknownField { field, .. }) if field == "colour")
        );
        assert!(matches!(Template::parse("{name"), Err(TemplateError::Unclosed { .. })));
        assert_eq!(Template::parse("  "), Err(TemplateError::Empty));
    }

    #[test]
    fn part_numbers_come_from_part_names() {
        let mut f = file();
        f.parent = Some("ff".repeat(16));
        f.sources[0].name = "Song__03_Bass.mid".into();
        assert_eq!(Template::parse("{name}_{part|0}").expect("parses").render(&f), "Dark_Bass_03.mid");
    }
}
