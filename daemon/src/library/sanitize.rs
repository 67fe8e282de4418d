//! Clean file names: what a source's name becomes in the library and on an export drive.
//!
//! The user's originals keep their names; `clean_name` is what every later step shows and
//! writes (exports, parts). The rules are one function so they can be documented, tested one by
//! one (the table in the tests) and kept identical everywhere:
//!
//! 1. Unicode NFC (a name typed on macOS arrives decomposed; drives compare code units).
//! 2. The extension: `.mid`, `.midi`, `.MIDI`, `.Mid`, `.smf`, `.kar` become `.mid`; a name
//!    without a MIDI extension gets `.mid`.
//! 3. Whitespace (spaces, tabs, no-break spaces) becomes `_`.
//! 4. Characters outside the safe set are removed: the safe set is letters and digits of any
//!    script, and `_ - . # + ( ) [ ] & , '`. This removes exFAT's forbidden characters
//!    (`" * / : < > ? \ |`), control characters, emoji and shell-hostile punctuation; `/ \ : |`
//!    become `-` first, since they usually separate words (`Kick/Snare`, `Intro: Verse`).
//! 5. Runs of separators (`_ - .` and mixes such as `_-_`) collapse to their first character;
//!    separators are trimmed from both ends of the stem (no hidden dot-files, no leading `-`
//!    that reads as a command-line flag, no trailing dots or spaces, which Windows drops).
//! 6. Reserved device names of Windows (`CON`, `PRN`, `AUX`, `NUL`, `COM1`-`COM9`,
//!    `LPT1`-`LPT9`, with superscript digits too, any case, before the first dot) get a `_`
//!    after the device name, in place of the dot that follows it (`aux.v2.mid` -> `aux_v2.mid`).
//! 7. At most 255 UTF-16 code units in all (exFAT's limit), cutting the stem at a character
//!    boundary and keeping the extension.
//! 8. Never empty: a stem with nothing left becomes `untitled`.
//!
//! [`ascii`] is the same name transliterated to ASCII, for devices that show only ASCII.

use unicode_normalization::UnicodeNormalization;

/// exFAT's limit on a name, in UTF-16 code units.
pub const MAX_UTF16: usize = 255;

const EXTENSIONS: &[&str] = &["mid", "midi", "smf", "kar", "rmi"];

const RESERVED: &[&str] = &[
    "con",
    "prn",
    "aux",
    "nul",
    "com\u{b9}",
    "com\u{b2}",
    "com\u{b3}",
    "lpt\u{b9}",
    "lpt\u{b2}",
    "lpt\u{b3}",
    "com1",
    "com2",
    "com3",
    "com4",
    "com5",
    "com6",
    "com7",
    "com8",
    "com9",
    "lpt1",
    "lpt2",
    "lpt3",
    "lpt4",
    "lpt5",
    "lpt6",
    "lpt7",
    "lpt8",
    "lpt9",
];

fn is_separator(c: char) -> bool {
    matches!(c, '_' | '-' | '.')
}

fn is_safe(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '#' | '+' | '(' | ')' | '[' | ']' | '&' | ',' | '\'')
}

/// The clean name of a MIDI file's name (rules in the module doc).
pub fn clean_name(name: &str) -> String {
    // ASCII is already NFC: most names skip the normaliser's allocation and tables.
    let name: std::borrow::Cow<str> = if name.is_ascii() { name.into() } else { name.nfc().collect::<String>().into() };
    let stem = match name.rsplit_once('.') {
        Some((stem, ext)) if EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext.trim())) => stem,
        _ => &*name,
    };
    clean_stem_with_ext(stem, "mid")
}

/// A clean stem plus `.ext` (the split parts' names are built from a clean stem).
pub fn clean_stem_with_ext(stem: &str, ext: &str) -> String {
    // One unit is kept for the dot.
    let stem = clean_stem(stem, MAX_UTF16.saturating_sub(ext.encode_utf16().count() + 1));
    format!("{stem}.{ext}")
}

/// A folder name by the same rules (no extension): what rename templates' folders become.
pub fn clean_folder(name: &str) -> String {
    clean_stem(&name.nfc().collect::<String>(), MAX_UTF16)
}

/// Rules 3 to 6 and 8 on a stem, cut to `budget` UTF-16 units (rule 7). The export uses it to
/// fit names into its tighter path budget.
pub fn clean_stem(stem: &str, budget: usize) -> String {
    let mut out = String::with_capacity(stem.len());
    for c in stem.chars() {
        let c = match c {
            '/' | '\\' | ':' | '|' => '-',
            c if c.is_whitespace() => '_',
            c => c,
        };
        if !is_safe(c) {
            continue;
        }
        // A separator after a separator is dropped: `a__b`, `a_-_b`, `a..b` keep their first.
        if is_separator(c) && out.chars().next_back().is_none_or(is_separator) {
            continue;
        }
        out.push(c);
    }
    let mut stem = out.trim_end_matches(is_separator).to_string();
    if stem.is_empty() {
        stem = "untitled".to_string();
    }
    // Windows reserves the device name whatever follows its first dot (`aux.v2.mid` too). The
    // `_` it gets is counted before the cut, so cleaning a clean name changes nothing.
    let device = stem.split('.').next().unwrap_or_default().len();
    let reserved = RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&stem[..device]));
    let room = budget.saturating_sub(usize::from(reserved));
    let mut used = 0;
    let mut cut = stem.len();
    for (i, c) in stem.char_indices() {
        if used + c.len_utf16() > room {
            cut = i;
            break;
        }
        used += c.len_utf16();
    }
    stem.truncate(cut);
    // A cut inside the device name leaves no reserved name behind; a cut after it keeps it whole.
    let kept = stem.trim_end_matches(is_separator).len();
    stem.truncate(kept);
    if stem.is_empty() {
        stem = "untitled".to_string();
    }
    if reserved && stem.len() >= device {
        // `con` -> `con_`; `con.v2` -> `con_v2` (an `_` beside the dot would collapse with it
        // the next time, rule 5).
        if stem.len() > device {
            stem.replace_range(device..device + 1, "_");
        } else {
            stem.push('_');
        }
    }
    // Removing characters can bring a base and a combining mark together: compose them again.
    if !stem.is_ascii() {
        stem = stem.nfc().collect();
    }
    stem
}

/// A part's name: `{clean stem}__{nn}_{label}.mid`, the label being the track's name, its
/// instrument or its role. The parent's stem is shortened first when the whole is too long.
pub fn part_name(parent_name: &str, index: u16, label: &str) -> String {
    part_name_in(&part_stem(parent_name), index, label)
}

/// The parent's clean name less `.mid`, which every one of its parts' names starts from: made
/// once per parent ([`part_name_in`]).
pub fn part_stem(parent_name: &str) -> String {
    let mut parent = clean_name(parent_name);
    if parent.ends_with(".mid") {
        parent.truncate(parent.len() - 4);
    }
    parent
}

/// [`part_name`] from the parent's [`part_stem`].
pub fn part_name_in(stem: &str, index: u16, label: &str) -> String {
    let label = clean_name(label);
    let label = label.strip_suffix(".mid").unwrap_or(&label);
    let tail = format!("__{index:02}_{label}.mid");
    let room = MAX_UTF16.saturating_sub(tail.encode_utf16().count()).max(1);
    let mut used = 0;
    let cut = stem
        .char_indices()
        .find(|(_, c)| {
            used += c.len_utf16();
            used > room
        })
        .map_or(stem.len(), |(i, _)| i);
    let stem = if cut == 0 { "part" } else { &stem[..cut] };
    let name = format!("{stem}{tail}");
    // A label alone over the limit: the clean rules cut it (the `__nn_` pattern may then lose
    // its tail, never its validity).
    if name.encode_utf16().count() > MAX_UTF16 {
        return clean_name(&name);
    }
    name
}

/// [`clean_name`] transliterated to ASCII (`Größe_Groove.mid` -> `Grosse_Groove.mid`), with the
/// same rules applied again so the result is as clean as the Unicode form.
pub fn ascii(clean: &str) -> String {
    clean_name(&deunicode::deunicode(clean))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row per rule: the input, its clean name, and what the row shows.
    #[test]
    fn each_rule_by_example() {
        let decomposed = "Cafe\u{301} Bass.mid"; // e + combining acute
        let long = format!("{}.mid", "a".repeat(300));
        let long_wide = format!("{}.mid", "\u{1F3B9}b".repeat(100)); // emoji are removed anyway
        let long_cjk = format!("{}.mid", "\u{97F3}".repeat(300)); // one UTF-16 unit each
        let long_astral = format!("{}.mid", "\u{20000}".repeat(200)); // two UTF-16 units each
        let table: &[(&str, &str, &str)] = &[
            (decomposed, "Caf\u{e9}_Bass.mid", "1: NFC"),
            ("Groove.MIDI", "Groove.mid", "2: .MIDI"),
            ("Groove.Mid", "Groove.mid", "2: .Mid"),
            ("Groove.midi", "Groove.mid", "2: .midi"),
            ("Song.kar", "Song.mid", "2: karaoke"),
            ("Groove", "Groove.mid", "2: no extension"),
            ("Groove.v2", "Groove.v2.mid", "2: a dot that is not an extension"),
            ("Trap Loop 01.mid", "Trap_Loop_01.mid", "3: spaces"),
            ("Tab\there\u{a0}nbsp.mid", "Tab_here_nbsp.mid", "3: other whitespace"),
            ("a\"b*c<d>e?f.mid", "abcdef.mid", "4: exFAT-forbidden removed"),
            ("Kick/Snare:Hat|Perc\\x.mid", "Kick-Snare-Hat-Perc-x.mid", "4: word separators to -"),
            ("ctl\u{1}\u{7f}x.mid", "ctlx.mid", "4: control characters"),
            ("Fire \u{1F525} Beat!!.mid", "Fire_Beat.mid", "4: emoji and ! removed, then 5"),
            ("F#m Chords (v2) [Pack] & Co, 'x'.mid", "F#m_Chords_(v2)_[Pack]_&_Co,_'x'.mid", "4: safe punctuation"),
            (
                "\u{41C}\u{435}\u{43B}\u{43E}\u{434}\u{438}\u{44F}.mid",
                "\u{41C}\u{435}\u{43B}\u{43E}\u{434}\u{438}\u{44F}.mid",
                "4: letters of any script",
            ),
            ("a__b--c..d.mid", "a_b-c.d.mid", "5: runs collapse"),
            ("a _-_ b.mid", "a_b.mid", "5: mixed runs collapse to the first"),
            ("Trap Loop (FINAL) #3 .MIDI", "Trap_Loop_(FINAL)_#3.mid", "5: trailing separator before the extension"),
            ("..hidden.mid", "hidden.mid", "5: no leading dot"),
            ("-rf.mid", "rf.mid", "5: no leading dash"),
            ("name. . ..mid", "name.mid", "5: trailing dots and spaces"),
            ("CON.mid", "CON_.mid", "6: reserved name"),
            ("lpt9.MIDI", "lpt9_.mid", "6: reserved, any case"),
            ("aux.v2.mid", "aux_v2.mid", "6: reserved with a second extension"),
            ("CONSOLE.mid", "CONSOLE.mid", "6: only whole names are reserved"),
            ("", "untitled.mid", "8: empty"),
            ("!!!.mid", "untitled.mid", "8: nothing safe left"),
            (".mid", "untitled.mid", "8: only an extension"),
        ];
        for (input, want, rule) in table {
            assert_eq!(clean_name(input), *want, "rule {rule}: {input:?}");
        }
        // 7: lengths, in UTF-16 units, extension kept.
        for (input, unit) in [(&long, 1), (&long_cjk, 1), (&long_astral, 2)] {
            let out = clean_name(input);
            let units = out.encode_utf16().count();
            assert!(units <= MAX_UTF16 && units >= MAX_UTF16 - unit - 1, "rule 7: {units} units");
            assert!(out.ends_with(".mid"), "rule 7 keeps the extension");
        }
        assert_eq!(clean_name(&long_wide), format!("{}.mid", "b".repeat(100)));
    }

    #[test]
    fn clean_names_are_fixed_points_and_never_empty() {
        for input in ["Trap Loop (FINAL) #3 .MIDI", "a__b", "", "CON", "\u{1F525}", "x. .", "Größe Groove.MIDI"] {
            let once = clean_name(input);
            assert_eq!(clean_name(&once), once, "{input:?}");
            assert!(once.len() > ".mid".len());
            let bad = ['"', '*', '/', ':', '<', '>', '?', '\\', '|', ' '];
            assert!(!once.contains(bad) && !once.chars().any(char::is_control), "{once:?}");
        }
    }

    #[test]
    fn part_names_follow_the_pattern() {
        assert_eq!(part_name("Trap Song (FINAL).MIDI", 1, "Bass 1"), "Trap_Song_(FINAL)__01_Bass_1.mid");
        assert_eq!(part_name("a.mid", 12, "drums"), "a__12_drums.mid");
        let long = part_name(&"x".repeat(300), 3, "Lead Synth");
        assert!(long.ends_with("__03_Lead_Synth.mid") && long.encode_utf16().count() <= MAX_UTF16, "{long}");
    }

    /// Regression (review): cleaning a clean name changed it when a reserved name met the length
    /// cut, or when a removed character had separated a base from its combining mark.
    #[test]
    fn cleaning_twice_changes_nothing_in_the_review_cases() {
        let long_reserved = format!("con.{}.mid", "a".repeat(300));
        for input in [long_reserved.as_str(), "\u{1100}!\u{1161}.mid", "\u{3b1}!\u{345}.mid", "COM\u{b9}.mid", "con"] {
            let once = clean_name(input);
            assert_eq!(clean_name(&once), once, "{input:?}");
            assert!(once.encode_utf16().count() <= MAX_UTF16);
        }
        assert_eq!(clean_name("COM\u{b9}.mid"), "COM\u{b9}_.mid");
        let folder = clean_folder(&format!("aux.{}", "b".repeat(300)));
        assert_eq!(clean_folder(&folder), folder);
        let part = part_name("\u{20000}.mid", 1, &"a".repeat(245));
        assert!(!part.starts_with('_') && part.encode_utf16().count() <= MAX_UTF16, "{part}");
    }

    #[test]
    fn ascii_fallback_transliterates() {
        assert_eq!(ascii(&clean_name("Größe Groove.MIDI")), "Grosse_Groove.mid");
        assert_eq!(ascii(&clean_name("Café Bass.mid")), "Cafe_Bass.mid");
        assert_eq!(ascii(&clean_name("\u{97F3}\u{697D}.mid")), "Yin_Le.mid");
        assert!(ascii(&clean_name("Fire \u{1F525}.mid")).is_ascii());
    }
}
