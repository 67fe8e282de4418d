//! The exact-duplicate index: which content ids the catalog holds or is about to hold.
//!
//! Shared by every shard (a content found on two cores at once must be imported once), so it is
//! striped: 64 independently locked maps chosen by hash bits, which keeps lock contention
//! negligible at two to sixteen shards. Keys are already uniformly random (HighwayHash), so the
//! maps use the key's own bits instead of hashing it again. At start it is loaded from the
//! catalog, which is what makes de-duplication survive a restart and span jobs.
//!
//! Memory: 17 bytes per entry plus the table's control bytes (about 20 bytes per distinct file):
//! 1 M distinct files cost about 20 MiB.

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
    /// Its `files` row is committed.
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

pub struct DedupeIndex {
    stripes: Vec<Mutex<HashMap<ContentId, Known, IdBuild>>>,
}

impl Default for DedupeIndex {
    fn default() -> Self {
        DedupeIndex::new()
    }
}

impl DedupeIndex {
    pub fn new() -> DedupeIndex {
        DedupeIndex { stripes: (0..STRIPES).map(|_| Mutex::new(HashMap::with_hasher(IdBuild))).collect() }
    }

    fn stripe(&self, id: &ContentId) -> &Mutex<HashMap<ContentId, Known, IdBuild>> {
        // The last byte picks the stripe, the first eight feed the map: independent bits.
        &self.stripes[id[15] as usize % STRIPES]
    }

    pub fn get(&self, id: &ContentId) -> Option<Known> {
        self.stripe(id).lock().get(id).copied()
    }

    /// Claims `id` for the caller. Returns None when the caller won (the id is now Pending), or
    /// what someone else recorded first.
    pub fn claim(&self, id: ContentId) -> Option<Known> {
        let mut map = self.stripe(&id).lock();
        match map.get(&id) {
            Some(k) => Some(*k),
            None => {
                map.insert(id, Known::Pending);
                None
            }
        }
    }

    /// Records a rejected content unless the id already has a state.
    pub fn mark_rejected(&self, id: ContentId, reason: Reason) -> Option<Known> {
        let mut map = self.stripe(&id).lock();
        match map.get(&id) {
            Some(k) => Some(*k),
            None => {
                map.insert(id, Known::Rejected(reason));
                None
            }
        }
    }

    pub fn set(&self, id: ContentId, state: Known) {
        self.stripe(&id).lock().insert(id, state);
    }

    /// Forgets a pending claim whose row will never be committed (the batch failed).
    pub fn release(&self, id: &ContentId) {
        let mut map = self.stripe(id).lock();
        if map.get(id) == Some(&Known::Pending) {
            map.remove(id);
        }
    }

    pub fn len(&self) -> usize {
        self.stripes.iter().map(|s| s.lock().len()).sum()
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
        idx.set(id, Known::Committed);
        assert_eq!(idx.claim(id), Some(Known::Committed));
        idx.release(&id);
        assert_eq!(idx.get(&id), Some(Known::Committed), "release only drops pending claims");
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
