//! Entry names: which ones are worth decoding, and how legacy zip names are turned into text.
//!
//! Zip names carry no encoding unless the UTF-8 flag (bit 11) is set; packs made on Japanese
//! Windows use CP932 (Shift-JIS), Russian ones CP866, and the rest of DOS-heritage tools CP437.
//! One code page is chosen per archive, from all its unflagged names together, because a single
//! short name is too little evidence (many byte strings are valid in several code pages).

/// MIDI file extensions (lowercase), as for loose files.
pub const MIDI_EXTENSIONS: [&str; 5] = ["mid", "midi", "smf", "kar", "rmi"];

/// Extensions of members worth opening to look for nested archives. The container is still
/// decided by magic bytes; these only save decoding every wav and pdf in a pack.
pub const ARCHIVE_EXTENSIONS: [&str; 11] = ["zip", "7z", "rar", "tar", "gz", "tgz", "zst", "tzst", "xz", "bz2", "cbz"];

/// The lowercase extension of the last path component, if any.
pub fn extension(name: &str) -> Option<String> {
    let last = last_component(name);
    let dot = last.rfind('.')?;
    if dot == 0 || dot + 1 == last.len() {
        return None;
    }
    Some(last[dot + 1..].to_ascii_lowercase())
}

/// The last component of an entry name (either slash counts: zips made on Windows use `\`).
pub fn last_component(name: &str) -> &str {
    let trimmed = name.trim_end_matches(['/', '\\']);
    trimmed.rsplit(['/', '\\']).next().unwrap_or(trimmed)
}

/// The last component of a raw (undecoded) entry name.
pub fn last_component_raw(name: &[u8]) -> &[u8] {
    let end = name.iter().rposition(|&b| b != b'/' && b != b'\\').map_or(0, |i| i + 1);
    let trimmed = &name[..end];
    let start = trimmed.iter().rposition(|&b| b == b'/' || b == b'\\').map_or(0, |i| i + 1);
    &trimmed[start..]
}

/// OS litter that ships inside packs and is never music.
pub fn is_junk(name: &str) -> bool {
    let last = last_component(name);
    name.split(['/', '\\']).any(|c| c == "__MACOSX")
        || last.starts_with("._")
        || last == ".DS_Store"
        || last.eq_ignore_ascii_case("Thumbs.db")
        || last.eq_ignore_ascii_case("desktop.ini")
}

/// A code page for the unflagged names of one zip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePage {
    Utf8,
    Cp932,
    Cp866,
    Cp437,
}

/// Chooses one code page for a set of raw names (those without the UTF-8 flag).
pub fn detect(raw_names: &[&[u8]]) -> CodePage {
    let non_ascii: Vec<&[u8]> = raw_names.iter().copied().filter(|n| !n.is_ascii()).collect();
    if non_ascii.is_empty() || non_ascii.iter().all(|n| std::str::from_utf8(n).is_ok()) {
        return CodePage::Utf8;
    }
    let sjis_ok = non_ascii.iter().all(|n| {
        let (_, _, had_errors) = encoding_rs::SHIFT_JIS.decode(n);
        !had_errors && plausible_sjis(n)
    });
    if sjis_ok {
        return CodePage::Cp932;
    }
    if looks_cyrillic_866(&non_ascii) {
        return CodePage::Cp866;
    }
    CodePage::Cp437
}

/// Shift-JIS text from Japanese packs is mostly double-byte kana/kanji (lead bytes 0x81-0x9F,
/// 0xE0-0xEF); CP437 box-drawing and accented names tend to be lone high bytes, which Shift-JIS
/// would read as half-width katakana (0xA1-0xDF). Require that most high bytes are lead/trail pairs.
fn plausible_sjis(n: &[u8]) -> bool {
    let (mut pairs, mut singles) = (0usize, 0usize);
    let mut i = 0;
    while i < n.len() {
        let b = n[i];
        if (0x81..=0x9f).contains(&b) || (0xe0..=0xef).contains(&b) {
            pairs += 1;
            i += 2;
        } else {
            if (0xa1..=0xdf).contains(&b) {
                singles += 1;
            }
            i += 1;
        }
    }
    pairs > 0 && pairs >= singles
}

/// CP866 puts Cyrillic letters at 0x80-0xAF and 0xE0-0xEF, the same range as CP437's accented
/// Latin letters. What tells them apart is shape: Russian words are runs of high bytes, while
/// Latin names carry a lone accented letter between ASCII ones.
fn looks_cyrillic_866(names: &[&[u8]]) -> bool {
    let (mut in_runs, mut high) = (0usize, 0usize);
    let cyr = |b: u8| (0x80..=0xaf).contains(&b) || (0xe0..=0xef).contains(&b);
    for n in names {
        for (i, &b) in n.iter().enumerate() {
            if b < 0x80 {
                continue;
            }
            high += 1;
            let neighbour = (i > 0 && cyr(n[i - 1])) || n.get(i + 1).is_some_and(|&c| cyr(c));
            if cyr(b) && neighbour {
                in_runs += 1;
            }
        }
    }
    high > 0 && in_runs * 10 >= high * 7
}

/// Decodes a raw name with the archive's code page (UTF-8 with replacement when flagged).
pub fn decode(raw: &[u8], utf8_flag: bool, page: CodePage) -> String {
    if utf8_flag || raw.is_ascii() {
        return String::from_utf8_lossy(raw).into_owned();
    }
    match page {
        CodePage::Utf8 => String::from_utf8_lossy(raw).into_owned(),
        CodePage::Cp932 => encoding_rs::SHIFT_JIS.decode(raw).0.into_owned(),
        CodePage::Cp866 => encoding_rs::IBM866.decode(raw).0.into_owned(),
        CodePage::Cp437 => raw.iter().map(|&b| cp437(b)).collect(),
    }
}

fn cp437(b: u8) -> char {
    const HIGH: [char; 128] = [
        'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', 'É', 'æ', 'Æ', 'ô', 'ö', 'ò',
        'û', 'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ', 'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬', '½',
        '¼', '¡', '«', '»', '░', '▒', '▓', '│', '┤', '╡', '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜', '╛', '┐', '└', '┴',
        '┬', '├', '─', '┼', '╞', '╟', '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧', '╨', '╤', '╥', '╙', '╘', '╒', '╓', '╫',
        '╪', '┘', '┌', '█', '▄', '▌', '▐', '▀', 'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ', '∞', 'φ',
        'ε', '∩', '≡', '±', '≥', '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²', '■', '\u{a0}',
    ];
    if b < 0x80 {
        b as char
    } else {
        HIGH[(b - 0x80) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_and_components() {
        assert_eq!(extension("Packs/Kick 01.MID").as_deref(), Some("mid"));
        assert_eq!(extension("a\\b\\Drums.7z").as_deref(), Some("7z"));
        assert_eq!(extension("README"), None);
        assert_eq!(extension(".hidden"), None);
        assert_eq!(last_component("Trap Vol 1/Kick Loops/"), "Kick Loops");
        assert_eq!(last_component("Kick.mid"), "Kick.mid");
    }

    #[test]
    fn junk_is_recognised() {
        for j in ["__MACOSX/a/._Kick.mid", "x/.DS_Store", "Thumbs.db", "a/._b.mid"] {
            assert!(is_junk(j), "{j}");
        }
        assert!(!is_junk("Trap/Kick.mid"));
    }

    #[test]
    fn code_pages_are_detected_over_the_archive() {
        // "ドラム.mid" in Shift-JIS.
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("ドラム/キック.mid");
        assert_eq!(detect(&[&sjis, b"plain.mid"]), CodePage::Cp932);
        assert_eq!(decode(&sjis, false, CodePage::Cp932), "ドラム/キック.mid");
        // "Бас.mid" in CP866 (encoding_rs only decodes IBM866, so the bytes are written out).
        let bas: &[u8] = &[0x81, 0xa0, 0xe1, b'.', b'm', b'i', b'd'];
        assert_eq!(detect(&[bas]), CodePage::Cp866);
        assert_eq!(decode(bas, false, CodePage::Cp866), "Бас.mid");
        // "Café Beat.mid" in CP437 (é = 0x82).
        let cafe: &[u8] = b"Caf\x82 Beat.mid";
        assert_eq!(detect(&[cafe]), CodePage::Cp437);
        assert_eq!(decode(cafe, false, CodePage::Cp437), "Café Beat.mid");
        // Valid UTF-8 without the flag is taken as UTF-8.
        assert_eq!(detect(&["Café.mid".as_bytes()]), CodePage::Utf8);
    }
}
