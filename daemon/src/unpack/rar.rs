//! RAR 4 and 5 through the reference decoder (`unrar_sys`, RARLAB's C++ library), used at the
//! FFI level: the `unrar` crate's entry reader collects a whole entry into a Vec with no cap, and
//! its extract helpers write to paths named by the archive. Here every byte the library produces
//! arrives in our callback, which meters it against the walk's budgets and stops the library
//! (by returning -1) the moment one is exceeded. The dictionary a file header asks for is checked
//! before the entry is decoded, and passwords and further volumes are always refused.
//!
//! The library opens archives by path, so bytes held in memory are written to an unnamed temp
//! file first and the library is given its `/proc/self/fd/N` path.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Seek, Write};

use std::os::fd::AsRawFd;
use std::rc::Rc;

use unrar_sys as ffi;

use super::{spill_file, Abort, Budget, EntryError, Held, Walker};
use crate::reject::Reason;

/// The state the library's callback writes into for the entry being decoded.
struct Decode {
    budget: Rc<Budget>,
    count_total: bool,
    entry_cap: u64,
    mem_cap: u64,
    spill_dir: std::path::PathBuf,
    buf: Vec<u8>,
    spill: Option<File>,
    produced: u64,
    tripped: Option<EntryError>,
    io_error: Option<io::Error>,
    /// Whether decoded bytes are kept (false: counted and dropped, for passing over an entry in
    /// a solid archive, and for the rest of an entry that went over its cap).
    keep: bool,
}

impl Decode {
    fn reset(&mut self, keep: bool) {
        self.buf.clear();
        self.spill = None;
        self.produced = 0;
        self.tripped = None;
        self.io_error = None;
        self.keep = keep;
    }

    fn data(&mut self, bytes: &[u8]) -> bool {
        let n = bytes.len() as u64;
        self.produced += n;
        if self.count_total {
            self.budget.total.set(self.budget.total.get() + n);
        }
        let l = &self.budget.limits;
        if self.budget.total.get() > l.max_total_bytes {
            self.tripped = Some(EntryError::Total(Abort::new(
                Reason::BombLimit,
                format!("inflated over the {}-byte budget of one outer archive", l.max_total_bytes),
            )));
            return false;
        }
        if !self.keep {
            return true;
        }
        if self.produced > self.entry_cap {
            // Keep decoding (and counting) to the entry's end: stopping the library mid-entry
            // leaves its reader inside the data, and every later entry would be lost.
            self.tripped = Some(EntryError::Entry(format!("inflates past the {}-byte cap", self.entry_cap)));
            self.keep = false;
            self.buf = Vec::new();
            self.spill = None;
            return true;
        }
        let written = if let Some(f) = self.spill.as_mut() {
            f.write_all(bytes)
        } else if (self.buf.len() + bytes.len()) as u64 > self.mem_cap {
            match spill_file(&self.spill_dir) {
                Ok(mut f) => {
                    let r = f.write_all(&self.buf).and_then(|()| f.write_all(bytes));
                    self.buf = Vec::new();
                    self.spill = Some(f);
                    r
                }
                Err(e) => Err(e),
            }
        } else {
            self.buf.extend_from_slice(bytes);
            Ok(())
        };
        if let Err(e) = written {
            self.io_error = Some(e);
            return false;
        }
        true
    }
}

extern "C" fn callback(msg: ffi::UINT, user: ffi::LPARAM, p1: ffi::LPARAM, p2: ffi::LPARAM) -> std::os::raw::c_int {
    match msg {
        ffi::UCM_PROCESSDATA if user != 0 => {
            // SAFETY: `user` is the `Decode` that `walk` registered and keeps alive (and does not
            // otherwise touch) while the library runs; p1/p2 are the library's data block.
            let decode = unsafe { &mut *(user as *mut Decode) };
            let len = usize::try_from(p2).unwrap_or(0);
            let bytes = if len == 0 || p1 == 0 {
                &[][..]
            } else {
                // SAFETY: the library passes a valid block of p2 bytes at p1 for this call.
                unsafe { std::slice::from_raw_parts(p1 as *const u8, len) }
            };
            if decode.data(bytes) {
                0
            } else {
                -1
            }
        }
        // No passwords, no further volumes: refuse, and the entry fails.
        _ => -1,
    }
}

/// The callback state, freed on drop (after the handle: see the order in `walk`).
struct Owned(*mut Decode);

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: made by Box::into_raw in `walk` and freed only here.
        drop(unsafe { Box::from_raw(self.0) });
    }
}

/// An open archive handle, closed on drop.
struct Handle(*const ffi::Handle);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: a handle returned non-null by RAROpenArchiveEx, closed once.
        unsafe { ffi::RARCloseArchive(self.0) };
    }
}

fn wide_name(w: &[ffi::WCHAR]) -> String {
    w.iter().take_while(|&&c| c != 0).map(|&c| char::from_u32(c as u32).unwrap_or('\u{fffd}')).collect()
}

pub(super) fn walk(w: &mut Walker<'_>, held: Held<'_>, path: &str, depth: u32) -> Result<(), Abort> {
    let file = match held {
        Held::Spilled(f) => f,
        Held::Mem(bytes) => {
            let written = spill_file(&w.spill_dir).and_then(|mut f| f.write_all(&bytes).map(|()| f));
            match written {
                Ok(f) => f,
                Err(e) => {
                    w.sink.reject(path, Reason::Io, format!("writing the archive to a temp file: {e}"));
                    return Ok(());
                }
            }
        }
    };
    let Ok(name) = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())) else { return Ok(()) };
    let limits = w.budget.limits;
    // The library keeps a raw pointer to this state for the whole walk, so it lives behind one
    // raw pointer (freed by `Owned` on every exit) and Rust touches it only between library calls,
    // through that same pointer: no reference to it is alive while the library may write.
    let decode = Owned(Box::into_raw(Box::new(Decode {
        budget: Rc::clone(&w.budget),
        count_total: !w.upstream,
        entry_cap: limits.max_entry_bytes,
        mem_cap: limits.max_memory_bytes.max(limits.max_member_bytes.saturating_add(1)),
        spill_dir: w.spill_dir.clone(),
        buf: Vec::new(),
        spill: None,
        produced: 0,
        tripped: None,
        io_error: None,
        keep: true,
    })));
    let mut open = ffi::OpenArchiveDataEx::new(name.as_ptr(), ffi::RAR_OM_EXTRACT);
    open.callback = Some(callback);
    open.user_data = decode.0 as ffi::LPARAM;
    // SAFETY: `open` and the name it points to outlive the call.
    let raw = unsafe { ffi::RAROpenArchiveEx(&mut open as *mut _ as *const _) };
    if raw.is_null() || open.open_result != 0 {
        let (reason, what) = open_error(open.open_result as i32);
        w.sink.reject(path, reason, format!("rar: {what}"));
        if !raw.is_null() {
            drop(Handle(raw));
        }
        return Ok(());
    }
    let handle = Handle(raw);
    // ROADF_SOLID: every entry's data depends on the entries before it, so the library decodes
    // even what it is asked to skip (and without showing us the bytes). Entries are then passed
    // over with RAR_TEST and the callback discarding, so the meter still sees every byte.
    let solid = open.flags & 0x0008 != 0;
    // Passes over an entry: a seek in a normal archive, a metered decode in a solid one.
    let dp = decode.0;
    let pass = move |h: &Handle| -> Result<(), Abort> {
        if !solid {
            // SAFETY: handle is open and positioned at this header.
            unsafe { ffi::RARProcessFile(h.0, ffi::RAR_SKIP, std::ptr::null(), std::ptr::null()) };
            return Ok(());
        }
        // SAFETY: no library call is running; the pointer is valid until `decode` drops.
        unsafe { &mut *dp }.reset(false);
        // SAFETY: handle is open; the callback's state is alive and untouched during the call.
        unsafe { ffi::RARProcessFile(h.0, ffi::RAR_TEST, std::ptr::null(), std::ptr::null()) };
        // SAFETY: the call has returned.
        match unsafe { &mut *dp }.tripped.take() {
            Some(EntryError::Total(a)) => Err(a),
            _ => Ok(()),
        }
    };
    let mut i = 0usize;
    loop {
        let mut header = ffi::HeaderDataEx::default();
        // SAFETY: handle is open; header is a valid out-parameter.
        let rc = unsafe { ffi::RARReadHeaderEx(handle.0, &mut header as *mut _ as *const _) };
        if rc == ffi::ERAR_END_ARCHIVE {
            break;
        }
        if rc != ffi::ERAR_SUCCESS {
            let (reason, what) = open_error(rc);
            w.sink.reject(path, reason, format!("rar header {i}: {what}; entries after this point are lost"));
            break;
        }
        let entry_name = wide_name(&header.filename_w);
        let entry_path = format!("{path}!/{entry_name}");
        let skip = |h: &Handle| {
            // SAFETY: handle is open and positioned at this header.
            unsafe { ffi::RARProcessFile(h.0, ffi::RAR_SKIP, std::ptr::null(), std::ptr::null()) }
        };
        let dict = u64::from(header.dict_size) * 1024;
        let wanted = Walker::skip_label(&entry_name);
        let is_dir = header.flags & ffi::RHDF_DIRECTORY != 0;
        if !is_dir && dict > limits.max_dict_bytes {
            let detail =
                format!("entry {i} asks for a {dict}-byte dictionary, over the {}-byte cap", limits.max_dict_bytes);
            if solid {
                // Nothing after it can be reached without decoding it: the archive is refused.
                return Err(Abort::new(Reason::BombLimit, detail));
            }
            w.count_entry()?;
            w.sink.reject(&entry_path, Reason::BombLimit, detail);
            skip(&handle);
        } else if is_dir {
            w.count_entry()?;
            w.sink.skipped("(dir)");
            skip(&handle);
        } else if let Some(label) = wanted {
            w.count_entry()?;
            w.sink.skipped(&label);
            pass(&handle)?;
        } else if header.flags & ffi::RHDF_ENCRYPTED != 0 {
            w.count_entry()?;
            w.sink.reject(&entry_path, Reason::EncryptedArchive, format!("entry {i} is encrypted"));
            skip(&handle);
        } else {
            // SAFETY: no library call is running; the pointer is valid until `decode` drops.
            unsafe { &mut *decode.0 }.reset(true);
            // SAFETY: handle is open; the callback's user data (`decode`) is alive and only the
            // callback touches it during this call.
            let rc = unsafe { ffi::RARProcessFile(handle.0, ffi::RAR_TEST, std::ptr::null(), std::ptr::null()) };
            // SAFETY: the library call has returned; nothing else holds a reference.
            let d = unsafe { &mut *decode.0 };
            match d.tripped.take() {
                Some(EntryError::Total(a)) => return Err(a),
                Some(EntryError::Entry(d) | EntryError::Ratio(d)) => {
                    w.count_entry()?;
                    w.sink.reject(&entry_path, Reason::BombLimit, d);
                }
                None if rc != ffi::ERAR_SUCCESS => {
                    w.count_entry()?;
                    let (reason, what) = open_error(rc);
                    let what = d.io_error.take().map_or(what.to_string(), |e| format!("{what} ({e})"));
                    w.sink.reject(&entry_path, reason, format!("entry {i}: {what}"));
                }
                None => {
                    let packed = u64::from(header.pack_size) | (u64::from(header.pack_size_high) << 32);
                    let bytes = std::mem::take(&mut d.buf);
                    let spilled = d.spill.take();
                    // The callback already counted these bytes toward the outer budget.
                    let was = std::mem::replace(&mut w.upstream, true);
                    let r = match spilled {
                        None => w.entry(&mut io::Cursor::new(bytes), &entry_path, &entry_name, Some(packed), depth),
                        Some(mut f) => match f.rewind() {
                            Ok(()) => {
                                let mut reader = io::BufReader::new(f);
                                w.entry(&mut reader as &mut dyn Read, &entry_path, &entry_name, Some(packed), depth)
                            }
                            Err(e) => {
                                w.sink.reject(&entry_path, Reason::Io, format!("reading back a spilled entry: {e}"));
                                Ok(())
                            }
                        },
                    };
                    w.upstream = was;
                    r?;
                }
            }
        }
        i += 1;
    }
    Ok(())
}

/// The library's error codes as reject reasons.
fn open_error(code: i32) -> (Reason, &'static str) {
    match code {
        ffi::ERAR_MISSING_PASSWORD | ffi::ERAR_BAD_PASSWORD => (Reason::EncryptedArchive, "password required"),
        ffi::ERAR_UNKNOWN_FORMAT => (Reason::UnsupportedArchive, "unknown RAR format"),
        ffi::ERAR_NO_MEMORY => (Reason::BombLimit, "the decoder ran out of memory"),
        ffi::ERAR_EOPEN | ffi::ERAR_EREAD => (Reason::Io, "read error"),
        ffi::ERAR_BAD_DATA => (Reason::CorruptArchive, "bad data (CRC mismatch)"),
        ffi::ERAR_BAD_ARCHIVE => (Reason::CorruptArchive, "not a valid RAR archive"),
        _ => (Reason::CorruptArchive, "the RAR decoder failed"),
    }
}
