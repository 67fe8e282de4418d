//! The exact-duplicate index: which content ids the catalog holds or is about to hold.
//!
//! Shared by every shard (a content found on two cores at once must be imported once), so it is
//! striped: 64 independently locked maps chosen by hash bits, which keeps lock contention
//! negligible at two to sixteen shards. Keys are already uniformly random (HighwayHash), so the
//! maps use the key's own bits instead of hashing it again. At start it is loaded from the
//! catalog, which is what makes de-duplication survive a restart and span jobs.
//!
//! Memory: a committed content is kept as the first 8 bytes of its id (9 bytes a slot with the
//! table's control byte, about 11 per distinct file at the table's load: 1 M distinct files cost
//! about 11 MiB; the full 16-byte ids took twice that). A prefix match is only a strong hint: a
//! shard confirms it by the object store (the object named by the full id exists), the writer by
//! the catalog's unique index, so two contents sharing 64 bits are still told apart. Full ids are
//! kept only for what is small and bounded: claims in flight, recent rejects, walked archives.

use std::hash::{BuildHasher, Hasher};

use hashbrown::HashMap;
use parking_lot::Mutex;

use crate::reject::Reason;

pub type ContentId = [u8; 16];

/// What the index knows about a content id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Claimed by a shard; its row is in a batch not committed yet.
    Pending,
    /// Its `files` row is committed: for a file id a 64-bit prefix match the caller confirms (see
    /// the module doc); for an archive id (`archive_known`) exact.
    Committed,
    /// The content was rejected in this daemon's lifetime (not persisted: rejects are re-examined
    /// after a restart, which is cheap and picks up policy changes).
    Rejected(Reason),
}

#[derive(Clone, Copy, Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Keys are 16 random bytes; the first 8 make a fine hash. Shorter writes (the length
        // prefix some impls add) fold in without harm.
        let mut h = self.0;
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            h = h.rotate_left(5) ^ u64::from_le_bytes(w);
        }
        self.0 = h;
    }
}

#[derive(Clone, Copy, Default)]
struct IdBuild;

impl BuildHasher for IdBuild {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

const STRIPES: usize = 64;

/// Rejected contents remembered at most (a repeat is then parsed again, with the same result).
pub const MAX_REJECTED: usize = 65_536;

#[derive(Default)]
struct Stripe {
    /// First 8 bytes of every committed content id.
    committed: hashbrown::HashSet<u64, IdBuild>,
    /// Full ids: claims in flight, recent rejects, fully walked archives.
    live: HashMap<ContentId, Known, IdBuild>,
}

fn prefix(id: &ContentId) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&id[..8]);
    u64::from_le_bytes(b)
}

pub struct DedupeIndex {
    stripes: Vec<Mutex<Stripe>>,
    rejected: std::sync::atomic::AtomicUsize,
}

impl Default for DedupeIndex {
    fn default() -> Self {
        DedupeIndex::new()
    }
}

impl DedupeIndex {
    pub fn new() -> DedupeIndex {
        DedupeIndex {
            stripes: (0..STRIPES).map(|_| Mutex::new(Stripe::default())).collect(),
            rejected: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn stripe(&self, id: &ContentId) -> &Mutex<Stripe> {
        // The last byte picks the stripe, the first eight feed the maps: independent bits.
        &self.stripes[id[15] as usize % STRIPES]
    }

    /// What is known of `id`: an exact claim or reject, else `Committed` on a prefix match (to be
    /// confirmed by the caller), else nothing.
    pub fn get(&self, id: &ContentId) -> Option<Known> {
        let s = self.stripe(id).lock();
        match s.live.get(id) {
            Some(k) => Some(*k),
            None => s.committed.contains(&prefix(id)).then_some(Known::Committed),
        }
    }

    /// Claims `id` for the caller, who has ruled out that the catalog holds it. Returns None
    /// when the caller won (the id is now Pending), or the claim or reject recorded first.
    pub fn claim(&self, id: ContentId) -> Option<Known> {
        let mut s = self.stripe(&id).lock();
        match s.live.get(&id) {
            Some(k) => Some(*k),
            None => {
                s.live.insert(id, Known::Pending);
                None
            }
        }
    }

    /// Records a rejected content unless the id already has a state or the cap is reached.
    pub fn mark_rejected(&self, id: ContentId, reason: Reason) {
        use std::sync::atomic::Ordering;
        if self.rejected.load(Ordering::Relaxed) >= MAX_REJECTED {
            return;
        }
        let mut s = self.stripe(&id).lock();
        if !s.live.contains_key(&id) {
            s.live.insert(id, Known::Rejected(reason));
            self.rejected.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A content's `files` row is committed: its claim goes, its prefix stays.
    pub fn set_committed(&self, id: &ContentId) {
        let mut s = self.stripe(id).lock();
        if s.live.get(id) == Some(&Known::Pending) {
            s.live.remove(id);
        }
        s.committed.insert(prefix(id));
    }

    /// An archive was walked to the end and recorded (kept exactly: archives are few).
    pub fn set_archive(&self, id: ContentId) {
        self.stripe(&id).lock().live.insert(id, Known::Committed);
    }

    pub fn archive_known(&self, id: &ContentId) -> bool {
        self.stripe(id).lock().live.get(id) == Some(&Known::Committed)
    }

    /// Forgets a pending claim whose row will never be committed (the batch failed).
    pub fn release(&self, id: &ContentId) {
        let mut s = self.stripe(id).lock();
        if s.live.get(id) == Some(&Known::Pending) {
            s.live.remove(id);
        }
    }

    /// Distinct contents committed (prefixes held).
    pub fn len(&self) -> usize {
        self.stripes.iter().map(|s| s.lock().committed.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The content id: 128-bit HighwayHash under a fixed key. The key is part of the catalog format:
/// changing it would make every stored id disagree with the bytes it names.
pub fn content_id(bytes: &[u8]) -> ContentId {
    use highway::HighwayHash;
    id_bytes(highway::HighwayHasher::new(KEY).hash128(bytes))
}

const KEY: highway::Key =
    highway::Key([0x6d69_6469_645f_6b31, 0x9e37_79b9_7f4a_7c15, 0xbf58_476d_1ce4_e5b9, 0x94d0_49bb_1331_11eb]);

fn id_bytes(h: [u64; 2]) -> ContentId {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&h[0].to_le_bytes());
    out[8..].copy_from_slice(&h[1].to_le_bytes());
    out
}

/// The same id computed over bytes that arrive in pieces (an archive too large to read whole).
pub struct ContentHasher(highway::HighwayHasher);

impl Default for ContentHasher {
    fn default() -> Self {
        ContentHasher::new()
    }
}

impl ContentHasher {
    pub fn new() -> ContentHasher {
        ContentHasher(highway::HighwayHasher::new(KEY))
    }

    pub fn update(&mut self, bytes: &[u8]) {
        use highway::HighwayHash;
        self.0.append(bytes);
    }

    pub fn finish(self) -> ContentId {
        use highway::HighwayHash;
        id_bytes(self.0.finalize128())
    }
}

pub fn to_hex(id: &ContentId) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(32);
    for b in id {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

pub fn from_hex(s: &str) -> Option<ContentId> {
    if s.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let hi = (chunk[0] as char).to_digit(16)?;
        let lo = (chunk[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_id_equals_one_shot_id() {
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut h = ContentHasher::new();
        for chunk in bytes.chunks(4093) {
            h.update(chunk);
        }
        assert_eq!(h.finish(), content_id(&bytes));
    }

    #[test]
    fn first_claim_wins() {
        let idx = DedupeIndex::new();
        let id = content_id(b"abc");
        assert_eq!(idx.claim(id), None);
        assert_eq!(idx.claim(id), Some(Known::Pending));
        idx.set_committed(&id);
        assert_eq!(idx.get(&id), Some(Known::Committed));
        idx.release(&id);
        assert_eq!(idx.get(&id), Some(Known::Committed), "release only drops pending claims");
        // Another content with the same first 8 bytes reads as a prefix match, and can still be
        // claimed once the caller has ruled the catalog out.
        let mut twin = id;
        twin[8] ^= 1;
        assert_eq!(idx.get(&twin), Some(Known::Committed));
        assert_eq!(idx.claim(twin), None);
        assert_eq!(idx.get(&twin), Some(Known::Pending));
        assert!(!idx.archive_known(&id));
        idx.set_archive(twin);
        assert!(idx.archive_known(&twin));
    }

    #[test]
    fn content_id_is_stable_and_hex_round_trips() {
        let id = content_id(b"MThd");
        assert_eq!(id, content_id(b"MThd"));
        assert_ne!(id, content_id(b"MThe"));
        assert_eq!(from_hex(&to_hex(&id)), Some(id));
        assert_eq!(from_hex("zz"), None);
    }
}
