//! 7z through `sevenz-rust2`. The crate gives its LZMA and PPMd decoders no memory cap, so every
//! coder's dictionary or model size is read from the header and checked against
//! `max_dict_bytes` before any block is decoded: a 4 GiB dictionary in a 200-byte file is a
//! memory bomb that no byte-counting meter would catch in time.

use std::io::{Read, Seek};

use sevenz_rust2::{ArchiveReader, Error as SzError, Password};

use super::{Abort, Walker};
use crate::reject::Reason;

const LZMA: &[u8] = &[0x03, 0x01, 0x01];
const LZMA2: &[u8] = &[0x21];
const PPMD: &[u8] = &[0x03, 0x04, 0x01];
const AES: &[u8] = &[0x06, 0xf1, 0x07, 0x01];

/// Memory a coder will ask for, from its properties; None for coders whose memory is small and
/// fixed (copy, BCJ, delta, deflate, bzip2).
fn coder_memory(id: &[u8], props: &[u8]) -> Option<u64> {
    let le32 = |p: &[u8]| p.get(1..5).map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])));
    match id {
        LZMA | PPMD => Some(le32(props).unwrap_or(u64::MAX)),
        LZMA2 => {
            let p = u64::from(*props.first().unwrap_or(&255));
            if p > 40 {
                Some(u64::MAX)
            } else if p == 40 {
                Some(u64::from(u32::MAX))
            } else {
                Some((2 | (p & 1)) << (p / 2 + 11))
            }
        }
        _ => None,
    }
}

pub(super) fn walk<R: Read + Seek>(w: &mut Walker<'_>, src: R, path: &str, depth: u32) -> Result<(), Abort> {
    let mut reader = match ArchiveReader::new(src, Password::empty()) {
        Ok(r) => r,
        Err(e) => {
            w.sink.reject(path, reason_for(&e), format!("7z header: {e}"));
            return Ok(());
        }
    };
    let max = w.budget.limits.max_dict_bytes;
    for (b, block) in reader.archive().blocks.iter().enumerate() {
        for coder in &block.coders {
            let id = coder.encoder_method_id();
            if id == AES {
                w.sink.reject(path, Reason::EncryptedArchive, format!("block {b} is AES-encrypted"));
                return Ok(());
            }
            if let Some(mem) = coder_memory(id, coder.properties()) {
                if mem > max {
                    let detail = format!("block {b} asks for a {mem}-byte dictionary, over the {max}-byte cap");
                    w.sink.reject(path, Reason::BombLimit, detail);
                    return Ok(());
                }
            }
        }
    }
    let mut abort: Option<Abort> = None;
    let mut stuck: Option<(String, Reason, String)> = None;
    // Stopping is an Err from the closure: the crate would otherwise pass over (decode, unmetered)
    // the rest of an entry we left, and carry on with the next block.
    let stop = || SzError::Other("walk stopped".into());
    let result = reader.for_each_entries(|entry, data| {
        let entry_path = format!("{path}!/{}", entry.name);
        let step = if entry.is_directory {
            w.count_entry().map(|()| {
                w.sink.skipped("(dir)");
                None
            })
        } else {
            // What the entry did not read (a skipped wav, say) is passed over under the meter.
            w.entry(data, &entry_path, &entry.name, None, depth).and_then(|()| w.drain(data))
        };
        match step {
            Ok(None) => Ok(true),
            Ok(Some((reason, detail))) => {
                stuck = Some((entry_path, reason, detail));
                Err(stop())
            }
            Err(a) => {
                abort = Some(a);
                Err(stop())
            }
        }
    });
    if let Some(a) = abort {
        return Err(a);
    }
    if let Some((entry_path, reason, detail)) = stuck {
        // On the archive's path: the entry itself may already have its own reject.
        let detail = format!("passing over {entry_path}: {detail}; the entries after it in this 7z were not read");
        w.sink.reject(path, reason, detail);
        return Ok(());
    }
    if let Err(e) = result {
        if let Some(a) = w.budget.take_trip() {
            return Err(a);
        }
        w.sink.reject(path, reason_for(&e), format!("7z data: {e}; entries after this point are lost"));
    }
    Ok(())
}

fn reason_for(e: &SzError) -> Reason {
    match e {
        SzError::PasswordRequired | SzError::MaybeBadPassword(_) => Reason::EncryptedArchive,
        SzError::UnsupportedCompressionMethod(_) | SzError::Unsupported(_) | SzError::UnsupportedVersion { .. } => {
            Reason::UnsupportedArchive
        }
        SzError::MaxMemLimited { .. } => Reason::BombLimit,
        _ => Reason::CorruptArchive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_sizes_from_properties() {
        // LZMA: lc/lp/pb byte, then the dictionary size.
        assert_eq!(coder_memory(LZMA, &[0x5d, 0, 0, 0, 0x10]), Some(256 << 20));
        // LZMA2: 2^(p/2+12) for even p, 3*2^(p/2+11) for odd.
        assert_eq!(coder_memory(LZMA2, &[18]), Some(2 << 20));
        assert_eq!(coder_memory(LZMA2, &[19]), Some(3 << 20));
        assert_eq!(coder_memory(LZMA2, &[41]), Some(u64::MAX));
        assert_eq!(coder_memory(PPMD, &[6, 0, 0, 0, 0x40]), Some(1 << 30));
        assert_eq!(coder_memory(&[0], &[]), None);
        assert_eq!(coder_memory(LZMA, &[0x5d]), Some(u64::MAX), "short properties are refused, not guessed");
    }
}
