//! Streaming containers: tar, and gzip or zstd around either a tar or a single file.
//!
//! A compressed stream is metered as a whole (every byte the decoder produces counts toward the
//! outer archive's budget and the stream's ratio), because a tar reader passes over entries it
//! does not want by decoding them: those bytes cost time even if nobody keeps them.

use std::io::{self, Read, Seek, SeekFrom};

use super::names;
use super::{sniff, Abort, Kind, Meter, Walker, SNIFF_BYTES};
use crate::reject::Reason;

pub(super) fn walk<R: Read + Seek>(
    w: &mut Walker<'_>,
    kind: Kind,
    mut src: R,
    path: &str,
    depth: u32,
) -> Result<(), Abort> {
    let packed = src.seek(SeekFrom::End(0)).and_then(|n| src.seek(SeekFrom::Start(0)).map(|_| n)).ok();
    match kind {
        Kind::Tar => tar_entries(w, src, path, depth),
        Kind::Gzip => {
            let mut gz = flate2::read::GzDecoder::new(src);
            // The gzip header's own name for the file inside, when it has one.
            let inner_name = gz.header().and_then(|h| h.filename()).map(|n| String::from_utf8_lossy(n).into_owned());
            compressed(w, &mut gz, inner_name, packed, path, depth)
        }
        Kind::Zstd => {
            let max = w.budget.limits.max_dict_bytes;
            match ruzstd::decoding::StreamingDecoder::new_with_max_window_size(src, max) {
                Ok(mut zst) => compressed(w, &mut zst, None, packed, path, depth),
                Err(e) => {
                    let msg = e.to_string();
                    let reason = if msg.contains("indow") { Reason::BombLimit } else { Reason::CorruptArchive };
                    w.sink.reject(path, reason, format!("zstd frame: {msg} (window cap {max} bytes)"));
                    Ok(())
                }
            }
        }
        _ => Ok(()),
    }
}

/// A gzip or zstd stream: a tar inside is walked entry by entry; anything else is one member,
/// named after the gzip header's file name or the archive's name without its suffix.
fn compressed(
    w: &mut Walker<'_>,
    decoder: &mut dyn Read,
    inner_name: Option<String>,
    packed: Option<u64>,
    path: &str,
    depth: u32,
) -> Result<(), Abort> {
    let limits = w.budget.limits;
    let mut meter = Meter::new(decoder, limits.max_entry_bytes, packed, &w.budget, !w.upstream);
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    if let Err(e) = (&mut meter).take(SNIFF_BYTES as u64).read_to_end(&mut head) {
        let tripped = meter.tripped.take();
        return w.entry_failed(tripped, e, path);
    }
    if sniff(&head) == Kind::Tar {
        // The whole stream answers to the outer budget and the ratio, not to the entry cap.
        meter.entry_cap = u64::MAX;
        meter.stream = true;
        // The tar's entries are metered as part of this stream: `upstream` stops double counting.
        let chained = io::Cursor::new(head).chain(meter);
        let was = std::mem::replace(&mut w.upstream, true);
        let r = tar_entries(w, chained, path, depth);
        w.upstream = was;
        return r;
    }
    let name = inner_name.unwrap_or_else(|| {
        let last = names::last_component(path);
        let stem = last.rsplit_once('.').map(|(s, _)| s).unwrap_or(last);
        stem.to_string()
    });
    let entry_path = format!("{path}!/{name}");
    // The member's own meter checks the entry cap and the ratio; the stream meter stays out.
    let mut chained = io::Cursor::new(head).chain(meter.inner);
    w.entry(&mut chained, &entry_path, &name, packed, depth)
}

/// Longest GNU long-name or pax header a tar may carry. The tar crate would read one whole into
/// memory whatever its declared size, so entries are read raw and these are read here, capped.
const TAR_META_CAP: u64 = 64 * 1024;

fn tar_entries<R: Read>(w: &mut Walker<'_>, src: R, path: &str, depth: u32) -> Result<(), Abort> {
    let mut archive = tar::Archive::new(src);
    let entries = match archive.entries() {
        Ok(e) => e.raw(true),
        Err(e) => {
            w.sink.reject(path, Reason::CorruptArchive, format!("tar: {e}"));
            return Ok(());
        }
    };
    // A GNU long name or a pax `path` names the next real entry.
    let mut next_name: Option<Vec<u8>> = None;
    for (i, entry) in entries.enumerate() {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                if let Some(a) = w.budget.take_trip() {
                    return Err(a);
                }
                // A tar stream cannot resynchronise after a bad header: what follows is lost.
                w.sink.reject(
                    path,
                    Reason::CorruptArchive,
                    format!("tar entry {i}: {e}; the rest of the archive is unreadable"),
                );
                return Ok(());
            }
        };
        let ty = entry.header().entry_type();
        if ty.is_gnu_longname() || ty.is_gnu_longlink() || ty.is_pax_local_extensions() || ty.is_pax_global_extensions()
        {
            let size = entry.header().entry_size().unwrap_or(u64::MAX);
            if size > TAR_META_CAP {
                let detail = format!(
                    "tar entry {i}: a {size}-byte long-name or pax header, over the {TAR_META_CAP}-byte cap; the rest is not read"
                );
                w.sink.reject(path, Reason::BombLimit, detail);
                return Ok(());
            }
            let mut data = Vec::new();
            if let Err(e) = (&mut entry).take(TAR_META_CAP).read_to_end(&mut data) {
                if let Some(a) = w.budget.take_trip() {
                    return Err(a);
                }
                w.sink.reject(path, Reason::CorruptArchive, format!("tar entry {i}: {e}; the rest is not read"));
                return Ok(());
            }
            if ty.is_gnu_longname() {
                let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                data.truncate(end);
                next_name = Some(data);
            } else if ty.is_pax_local_extensions() {
                let pax_path = tar::PaxExtensions::new(&data)
                    .filter_map(Result::ok)
                    .find(|x| x.key_bytes() == b"path")
                    .map(|x| x.value_bytes().to_vec());
                if pax_path.is_some() {
                    next_name = pax_path;
                }
            }
            // Long link targets and global pax records name nothing we keep.
            continue;
        }
        let raw = next_name.take().unwrap_or_else(|| entry.path_bytes().into_owned());
        let name = names::decode(&raw, false, names::detect(&[&raw]));
        let entry_path = format!("{path}!/{name}");
        if ty.is_dir() {
            w.count_entry()?;
            w.sink.skipped("(dir)");
            continue;
        }
        if !(ty.is_file() || ty.is_contiguous()) {
            // Links, devices, fifos, sparse and other GNU metadata: never file content.
            w.count_entry()?;
            w.sink.skipped(if ty.is_symlink() || ty.is_hard_link() { "(symlink)" } else { "(special)" });
            continue;
        }
        if std::str::from_utf8(&raw).is_err() {
            w.raw_name = Some(raw);
        }
        w.entry(&mut entry, &entry_path, &name, None, depth)?;
    }
    Ok(())
}
