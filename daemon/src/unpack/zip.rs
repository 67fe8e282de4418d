//! Zip through the `zip` crate: the central directory when it is sound, local headers in order
//! when it is not (truncated downloads lose their directory first, and their entries are still
//! there).

use std::io::{Read, Seek, SeekFrom};

use ::zip::result::ZipError;
use ::zip::ZipArchive;

use super::names::{self, CodePage};
use super::{Abort, Walker};
use crate::reject::Reason;

/// Bit 11 of the general-purpose flags: the name is UTF-8.
const UTF8_FLAG: u16 = 1 << 11;

/// Raw names and their UTF-8 flags, read with a first pass over the central directory. The zip
/// crate decodes any valid UTF-8 as UTF-8 and everything else as CP437, and does not expose the
/// flag, so the flag is read from each central header (offset 8) directly.
fn raw_names<R: Read + Seek>(src: &mut R) -> Option<Vec<(Vec<u8>, bool)>> {
    let archive = ZipArchive::new(&mut *src).ok()?;
    let heads: Vec<(Vec<u8>, u64)> = (0..archive.len())
        .map(|i| archive.by_index_data(i).map(|e| (e.name_raw().to_vec(), e.central_header_start())))
        .collect::<Result<_, _>>()
        .ok()?;
    drop(archive);
    let mut out = Vec::with_capacity(heads.len());
    for (raw, at) in heads {
        let mut flags = [0u8; 2];
        src.seek(SeekFrom::Start(at + 8)).ok()?;
        src.read_exact(&mut flags).ok()?;
        out.push((raw, u16::from_le_bytes(flags) & UTF8_FLAG != 0));
    }
    src.seek(SeekFrom::Start(0)).ok()?;
    Some(out)
}

pub(super) fn walk<R: Read + Seek>(w: &mut Walker<'_>, mut src: R, path: &str, depth: u32) -> Result<(), Abort> {
    let raws = raw_names(&mut src);
    let mut archive = match ZipArchive::new(&mut src) {
        Ok(a) => a,
        Err(e) => {
            return salvage_from_local_headers(w, &mut src, path, depth, &e);
        }
    };
    // Overlapping entries are the non-recursive zip bomb: many directory entries pointing at one
    // highly compressed block. Nothing legitimate does this, so the archive is refused whole.
    if archive.has_overlapping_files().unwrap_or(false) {
        let detail = format!("{} entries share compressed bytes (a zip bomb's layout)", archive.len());
        w.sink.reject(path, Reason::OverlappingEntries, detail);
        return Ok(());
    }
    let raws = raws.unwrap_or_default();
    let unflagged: Vec<&[u8]> = raws.iter().filter(|(_, f)| !f).map(|(r, _)| r.as_slice()).collect();
    let page = names::detect(&unflagged);
    for i in 0..archive.len() {
        let (raw, flagged) = raws.get(i).cloned().unwrap_or_default();
        let name = names::decode(&raw, flagged, page);
        let entry_path = format!("{path}!/{name}");
        let (is_dir, is_symlink, encrypted, packed, fast) = match archive.by_index_data(i) {
            Ok(e) => {
                let fast = (e.compression() == ::zip::CompressionMethod::Deflated && is_small_midi(&name, &e, w))
                    .then(|| (e.size(), e.crc32()));
                (e.is_dir(), e.is_symlink(), e.encrypted(), e.compressed_size(), fast)
            }
            Err(e) => {
                w.count_entry()?;
                w.sink.reject(&entry_path, Reason::CorruptArchive, format!("entry {i}: {e}"));
                continue;
            }
        };
        if is_dir {
            w.count_entry()?;
            w.sink.skipped("(dir)");
            continue;
        }
        if is_symlink {
            // A link's target is data too; following it could only point outside the archive.
            w.count_entry()?;
            w.sink.skipped("(symlink)");
            continue;
        }
        if encrypted {
            w.count_entry()?;
            if Walker::skip_label(&name).is_none() {
                w.sink.reject(&entry_path, Reason::EncryptedArchive, format!("entry {i} is encrypted"));
            } else {
                w.sink.skipped(&Walker::skip_label(&name).unwrap_or_default());
            }
            continue;
        }
        if let Some((_, crc)) = fast {
            let raw_name = std::str::from_utf8(&raw).is_err().then_some(raw);
            inflate_member(w, &mut archive, i, packed, crc, &entry_path, &name, raw_name, depth)?;
            continue;
        }
        let mut file = match archive.by_index(i) {
            Ok(f) => f,
            Err(e) => {
                w.count_entry()?;
                let reason = reason_for(&e);
                w.sink.reject(&entry_path, reason, format!("entry {i}: {e}"));
                continue;
            }
        };
        if std::str::from_utf8(&raw).is_err() {
            w.raw_name = Some(raw);
        }
        w.entry(&mut file, &entry_path, &name, Some(packed), depth)?;
    }
    Ok(())
}

/// A MIDI-named member whose declared and packed sizes are within the member cap: small enough
/// to decode in one shot.
fn is_small_midi(name: &str, e: &::zip::read::ZipFileEntry<'_>, w: &Walker<'_>) -> bool {
    let cap = w.budget.limits.max_member_bytes;
    names::extension(name).is_some_and(|x| names::MIDI_EXTENSIONS.contains(&x.as_str()))
        && !names::is_junk(name)
        && e.size() <= cap
        && e.compressed_size() <= cap
}

/// Decodes a small deflated MIDI member in one shot with zune-inflate (faster than the stream for
/// MIDI-sized data), under the same budgets as the stream: output limited to the member cap and
/// the ratio allowance, counted toward the outer total, CRC-checked against the directory.
#[allow(clippy::too_many_arguments)]
fn inflate_member<R: Read + Seek>(
    w: &mut Walker<'_>,
    archive: &mut ZipArchive<R>,
    i: usize,
    packed: u64,
    crc: u32,
    path: &str,
    name: &str,
    raw_name: Option<Vec<u8>>,
    depth: u32,
) -> Result<(), Abort> {
    let l = w.budget.limits;
    let mut compressed = Vec::with_capacity(packed as usize);
    let read = archive.by_index_raw(i).and_then(|f| f.take(packed).read_to_end(&mut compressed).map_err(ZipError::Io));
    if let Err(e) = read {
        w.count_entry()?;
        w.sink.reject(path, reason_for(&e), format!("entry {i}: {e}"));
        return Ok(());
    }
    let ratio_allowance = l.ratio_floor_bytes.max(packed.max(1).saturating_mul(l.max_ratio));
    let limit = l.max_member_bytes.min(ratio_allowance).min(l.max_entry_bytes).saturating_add(1);
    let opts = zune_inflate::DeflateOptions::default().set_limit(usize::try_from(limit).unwrap_or(usize::MAX));
    let decoded = zune_inflate::DeflateDecoder::new_with_options(&compressed, opts).decode_deflate();
    // Whatever was decoded counts toward the outer budget, kept or not.
    let produced = match &decoded {
        Ok(b) => b.len() as u64,
        Err(e) => match e.error {
            zune_inflate::errors::DecodeErrorStatus::OutputLimitExceeded(..) => limit,
            _ => e.data.len() as u64,
        },
    };
    if !w.upstream {
        w.budget.total.set(w.budget.total.get() + produced);
    }
    if let Some(a) = w.budget.take_trip() {
        return Err(a);
    }
    let bytes = match decoded {
        Ok(b) => b,
        Err(e) => {
            w.count_entry()?;
            let (reason, detail) = match e.error {
                zune_inflate::errors::DecodeErrorStatus::OutputLimitExceeded(..) if limit > l.max_member_bytes => {
                    (Reason::TooLarge, format!("entry {i}: over the {}-byte cap", l.max_member_bytes))
                }
                zune_inflate::errors::DecodeErrorStatus::OutputLimitExceeded(..) => (
                    Reason::BombLimit,
                    format!("entry {i}: compression ratio over {}:1 ({packed} bytes packed)", l.max_ratio),
                ),
                other => (Reason::CorruptArchive, format!("entry {i}: inflating failed: {other:?}")),
            };
            w.sink.reject(path, reason, detail);
            return Ok(());
        }
    };
    let mut check = flate2::Crc::new();
    check.update(&bytes);
    if check.sum() != crc {
        w.count_entry()?;
        w.sink.reject(path, Reason::CorruptArchive, format!("entry {i}: CRC mismatch"));
        return Ok(());
    }
    // Counted above; the member's own meter must not count it again.
    let was = std::mem::replace(&mut w.upstream, true);
    w.raw_name = raw_name;
    let r = w.entry(&mut std::io::Cursor::new(bytes), path, name, Some(packed), depth);
    w.upstream = was;
    r
}

fn reason_for(e: &ZipError) -> Reason {
    match e {
        ZipError::UnsupportedArchive(m) if m.contains("assword") || m.contains("ncrypt") => Reason::EncryptedArchive,
        ZipError::InvalidPassword => Reason::EncryptedArchive,
        ZipError::UnsupportedArchive(_) | ZipError::CompressionMethodNotSupported(_) => Reason::UnsupportedArchive,
        _ => Reason::CorruptArchive,
    }
}

/// The central directory is unreadable: read local file headers from the start, in order, as a
/// streaming unzipper does, and keep every entry that decodes. The archive itself is also
/// rejected so the damage is on record.
fn salvage_from_local_headers<R: Read + Seek>(
    w: &mut Walker<'_>,
    src: &mut R,
    path: &str,
    depth: u32,
    why: &ZipError,
) -> Result<(), Abort> {
    w.sink.reject(path, Reason::CorruptArchive, format!("zip directory unreadable ({why}); salvaging entries"));
    if src.seek(SeekFrom::Start(0)).is_err() {
        return Ok(());
    }
    let mut i = 0usize;
    loop {
        let mut file = match ::zip::read::read_zipfile_from_stream(src) {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                if i == 0 {
                    // Nothing readable at all: the archive's own reject says so.
                    break;
                }
                w.sink.reject(&format!("{path}!/#{i}"), Reason::CorruptArchive, format!("entry {i}: {e}"));
                break;
            }
        };
        let raw = file.name_raw().to_vec();
        // Local headers are read one at a time, so the code page is decided per name.
        let page = names::detect(&[&raw]);
        let name = names::decode(&raw, page == CodePage::Utf8, page);
        let entry_path = format!("{path}!/{name}");
        if file.is_dir() {
            w.count_entry()?;
            w.sink.skipped("(dir)");
        } else if file.encrypted() {
            w.count_entry()?;
            w.sink.reject(&entry_path, Reason::EncryptedArchive, format!("entry {i} is encrypted"));
        } else {
            let packed = file.compressed_size();
            let packed = (packed > 0).then_some(packed);
            if std::str::from_utf8(&raw).is_err() {
                w.raw_name = Some(raw.clone());
            }
            w.entry(&mut file, &entry_path, &name, packed, depth)?;
        }
        // Drain what the entry did not consume so the stream sits at the next header.
        if w.drain(&mut file)?.is_some() {
            break;
        }
        i += 1;
    }
    Ok(())
}
