//! The exact-duplicate index: which content ids the catalog holds or is about to hold.
//!
//! Shared by every shard (a content found on two cores at once must be imported once), so it is
//! striped: 64 independently locked maps chosen by hash bits, which keeps lock contention
//! negligible at two to sixteen shards. Keys are already uniformly random (HighwayHash), so the
//! maps use the key's own bits instead of hashing it again. At start it is loaded from the
//! catalog, which is what makes de-duplication survive a restart and span jobs.
//!
//! Memory: a committed content is kept as a 46-bit fingerprint in 4 bytes (the stripe holds 6
//! bits, a head byte picks a run, and the run stores the next 32 bits, sorted; see
//! [`Fingerprints`]): 1 M distinct files cost about 4 MiB, where a hash set of the full 16-byte ids
//! took about 22 and one of 8-byte prefixes about 11. Sorted runs also grow without a hash
//! table's doubling, whose old and new tables coexist during a resize and leave holes in the
//! allocator. A fingerprint match is only a strong hint: a shard confirms it by the object store
//! (the object named by the full id exists), the writer by the catalog's unique index, so two
//! contents sharing 46 bits are still told apart. Full ids are kept only for what is small and
//! bounded: claims in flight, recent rejects, walked archives.

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
    /// Fingerprints of every committed content id in this stripe.
    committed: Fingerprints,
    /// Full ids: claims in flight, recent rejects, fully walked archives.
    live: HashMap<ContentId, Known, IdBuild>,
}

/// The 40 bits of an id a stripe keeps (the stripe itself is chosen by `id[15]`, so 46 bits in
/// all): bits 32..40 are the head byte, bits 0..32 the tail stored in the runs.
fn fingerprint(id: &ContentId) -> u64 {
    (u64::from(id[0]) << 32) | u64::from(u32::from_le_bytes([id[1], id[2], id[3], id[4]]))
}

/// Recent inserts kept aside (sorted) before they are merged into the runs: a merge costs one
/// pass over the stripe, so a larger buffer makes inserts cheaper and costs 8 bytes a slot.
const PENDING_MAX: usize = 256;

/// A set of 40-bit values at about 4 bytes each: for every head byte a sorted run of 32-bit
/// tails, all runs in one exactly sized array, plus a small sorted buffer of recent inserts.
/// Lookups are two binary searches; an insert is a buffer insert, and every `PENDING_MAX`-th
/// insert rewrites the stripe's array once (a stripe is 1/64 of the index, so the transient
/// copy is too).
#[derive(Default)]
struct Fingerprints {
    /// `tails[starts[h]..starts[h + 1]]` is the sorted run for head byte `h`; empty until the
    /// first merge.
    starts: Vec<u32>,
    tails: Vec<u32>,
    /// Sorted, distinct, none of them in the runs.
    pending: Vec<u64>,
}

impl Fingerprints {
    fn run(&self, head: usize) -> &[u32] {
        match (self.starts.get(head), self.starts.get(head + 1)) {
            (Some(&a), Some(&b)) => &self.tails[a as usize..b as usize],
            _ => &[],
        }
    }

    fn contains(&self, fp: u64) -> bool {
        self.pending.binary_search(&fp).is_ok() || self.run((fp >> 32) as usize).binary_search(&(fp as u32)).is_ok()
    }

    /// Adds `fp`; false when it was there already.
    fn insert(&mut self, fp: u64) -> bool {
        if self.run((fp >> 32) as usize).binary_search(&(fp as u32)).is_ok() {
            return false;
        }
        match self.pending.binary_search(&fp) {
            Ok(_) => return false,
            Err(at) => {
                if self.pending.capacity() == 0 {
                    self.pending.reserve_exact(PENDING_MAX);
                }
                self.pending.insert(at, fp);
            }
        }
        if self.pending.len() >= PENDING_MAX {
            let pending = std::mem::take(&mut self.pending);
            self.merge(&pending);
            self.pending = pending;
            self.pending.clear();
        }
        true
    }

    /// Merges sorted, distinct values not in the runs into them, in one exactly sized array.
    fn merge(&mut self, sorted: &[u64]) {
        let mut tails = Vec::with_capacity(self.tails.len() + sorted.len());
        let mut starts = Vec::with_capacity(257);
        let mut add = sorted.iter().peekable();
        for head in 0..256usize {
            starts.push(tails.len() as u32);
            let old = self.run(head);
            let mut i = 0;
            while let Some(&&fp) = add.peek() {
                if (fp >> 32) as usize != head {
                    break;
                }
                let tail = fp as u32;
                while i < old.len() && old[i] < tail {
                    tails.push(old[i]);
                    i += 1;
                }
                tails.push(tail);
                add.next();
            }
            tails.extend_from_slice(&old[i..]);
        }
        starts.push(tails.len() as u32);
        self.tails = tails;
        self.starts = starts;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.tails.len() + self.pending.len()
    }
}

pub struct DedupeIndex {
    stripes: Vec<Mutex<Stripe>>,
    rejected: std::sync::atomic::AtomicUsize,
    /// Rows in `files` (exact, unlike the fingerprints, which may share one 46-bit value).
    files: std::sync::atomic::AtomicU64,
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
            files: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Fills the index from the catalog at start: ids are gathered per stripe and each stripe is
    /// built with one sort, rather than by a merge every `PENDING_MAX` inserts.
    pub fn loader(&self) -> Loader<'_> {
        Loader { index: self, stripes: vec![Vec::new(); STRIPES], gathered: 0, chunk: LOAD_CHUNK, files: 0 }
    }

    fn stripe(&self, id: &ContentId) -> &Mutex<Stripe> {
        // The last byte picks the stripe, the first eight feed the maps: independent bits.
        &self.stripes[id[15] as usize % STRIPES]
    }

    /// What is known of `id`: an exact claim or reject, else `Committed` on a fingerprint match
    /// (to be confirmed by the caller), else nothing.
    pub fn get(&self, id: &ContentId) -> Option<Known> {
        let s = self.stripe(id).lock();
        match s.live.get(id) {
            Some(k) => Some(*k),
            None => s.committed.contains(fingerprint(id)).then_some(Known::Committed),
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

    /// Runs `f` only when the index knows nothing of `id` (no claim, no reject, no committed
    /// fingerprint), and while holding `id`'s stripe lock, so no shard can claim `id` until `f`
    /// returns. `hygiene::gc` removes a stray object inside `f`: a claim then either came first
    /// (and `f` never runs) or comes after the object is gone (and the shard writes it again, see
    /// `ObjectStore::ensure`). `f` should be short: it holds up claims of 1/64 of all ids.
    pub fn if_unknown<T>(&self, id: &ContentId, f: impl FnOnce() -> T) -> Option<T> {
        let s = self.stripe(id).lock();
        if s.live.contains_key(id) || s.committed.contains(fingerprint(id)) {
            return None;
        }
        Some(f())
    }

    /// Whether `id`'s fingerprint is among the committed ones: a committed content, or (rarely)
    /// another content sharing its 46 bits.
    pub fn maybe_committed(&self, id: &ContentId) -> bool {
        self.stripe(id).lock().committed.contains(fingerprint(id))
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

    /// A content's `files` row is committed (`new`: by this commit, so the count grows): its claim
    /// goes, its fingerprint stays.
    pub fn set_committed(&self, id: &ContentId, new: bool) {
        let mut s = self.stripe(id).lock();
        if s.live.get(id) == Some(&Known::Pending) {
            s.live.remove(id);
        }
        s.committed.insert(fingerprint(id));
        if new {
            self.files.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
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

    /// Rows in the catalog's `files` table: loaded at start plus committed since.
    pub fn files(&self) -> u64 {
        self.files.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Bytes held for committed contents (the fingerprints), for the memory figures.
    pub fn fingerprint_bytes(&self) -> usize {
        self.stripes
            .iter()
            .map(|s| {
                let c = &s.lock().committed;
                (c.tails.capacity() + c.starts.capacity()) * 4 + c.pending.capacity() * 8
            })
            .sum()
    }
}

/// Fingerprints a [`Loader`] gathers before merging them into the stripes: bounds the start-up
/// transient (8 bytes each) whatever the catalog's size, at one pass over the index per chunk.
const LOAD_CHUNK: usize = 1 << 20;

/// Start-up filling of a [`DedupeIndex`]; see [`DedupeIndex::loader`].
pub struct Loader<'a> {
    index: &'a DedupeIndex,
    stripes: Vec<Vec<u64>>,
    gathered: usize,
    chunk: usize,
    files: u64,
}

impl Loader<'_> {
    pub fn committed(&mut self, id: &ContentId) {
        self.stripes[id[15] as usize % STRIPES].push(fingerprint(id));
        self.files += 1;
        self.gathered += 1;
        if self.gathered >= self.chunk {
            self.merge();
        }
    }

    pub fn archive(&mut self, id: ContentId) {
        self.index.set_archive(id);
    }

    fn merge(&mut self) {
        for (stripe, fps) in self.index.stripes.iter().zip(&mut self.stripes) {
            let mut s = stripe.lock();
            let pending = std::mem::take(&mut s.committed.pending);
            fps.extend_from_slice(&pending);
            fps.sort_unstable();
            fps.dedup();
            fps.retain(|&fp| s.committed.run((fp >> 32) as usize).binary_search(&(fp as u32)).is_err());
            s.committed.merge(fps);
            fps.clear();
            s.committed.pending = pending;
            s.committed.pending.clear();
        }
        self.gathered = 0;
    }

    pub fn finish(mut self) {
        self.merge();
        self.index.files.fetch_add(self.files, std::sync::atomic::Ordering::Relaxed);
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
        idx.set_committed(&id, true);
        assert_eq!(idx.get(&id), Some(Known::Committed));
        idx.release(&id);
        assert_eq!(idx.get(&id), Some(Known::Committed), "release only drops pending claims");
        assert_eq!(idx.files(), 1);
        // Another content with the same fingerprint reads as a match, and can still be claimed
        // once the caller has ruled the catalog out.
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
    fn if_unknown_runs_only_for_ids_nobody_holds() {
        let idx = DedupeIndex::new();
        let [claimed, committed, rejected, stranger] = [b"a", b"b", b"c", b"d"].map(|b| content_id(b));
        assert_eq!(idx.claim(claimed), None);
        idx.set_committed(&committed, true);
        idx.mark_rejected(rejected, Reason::Empty);
        for id in [claimed, committed, rejected] {
            assert_eq!(idx.if_unknown(&id, || ()), None, "{}", to_hex(&id));
        }
        assert_eq!(idx.if_unknown(&stranger, || 7), Some(7));
        idx.release(&claimed);
        assert_eq!(idx.if_unknown(&claimed, || ()), Some(()), "a released claim is unknown again");
    }

    /// Ids from a cheap deterministic generator (splitmix64), spread over every stripe.
    fn ids(seed: u64, n: usize) -> Vec<ContentId> {
        let mut x = seed;
        let mut next = move || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        (0..n)
            .map(|_| {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&next().to_le_bytes());
                id[8..].copy_from_slice(&next().to_le_bytes());
                id
            })
            .collect()
    }

    #[test]
    fn fingerprints_agree_with_a_hash_set() {
        let mut set = Fingerprints::default();
        let mut model = std::collections::HashSet::new();
        // Few distinct heads and tails, so repeats, equal heads and merges all happen.
        let mut x = 7u64;
        for _ in 0..20_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let fp = ((x >> 33) & 0x3f) << 32 | ((x >> 13) & 0x7ff);
            assert_eq!(set.insert(fp), model.insert(fp), "insert {fp:#x}");
            let probe = ((x >> 40) & 0x3f) << 32 | ((x >> 20) & 0x7ff);
            assert_eq!(set.contains(probe), model.contains(&probe), "probe {probe:#x}");
        }
        assert_eq!(set.len(), model.len());
        for fp in &model {
            assert!(set.contains(*fp));
        }
        for head in 0..256 {
            assert!(set.run(head).windows(2).all(|w| w[0] < w[1]), "run {head} sorted and distinct");
        }
    }

    #[test]
    fn loaded_and_committed_ids_are_found_and_others_are_not() {
        let all = ids(1, 30_000);
        let (loaded, later) = all.split_at(20_000);
        let idx = DedupeIndex::new();
        let mut loader = idx.loader();
        // Several chunk merges, one of them while ids committed before the load sit in the
        // stripes' buffers.
        loader.chunk = 4096;
        for id in &later[..100] {
            idx.set_committed(id, true);
        }
        for id in loaded {
            loader.committed(id);
        }
        loader.finish();
        for id in &later[100..] {
            idx.set_committed(id, true);
        }
        assert_eq!(idx.files(), 30_000);
        assert!(all.iter().all(|id| idx.get(id) == Some(Known::Committed)));
        let strangers = ids(2, 30_000);
        let hits = strangers.iter().filter(|id| idx.get(id).is_some()).count();
        // 46-bit fingerprints: a chance match among these is about 1e-5.
        assert_eq!(hits, 0);
        // About 4 bytes a content, plus the per-stripe buffers and run starts.
        let per_stripe = PENDING_MAX * 8 + 257 * 4;
        assert!(idx.fingerprint_bytes() <= 30_000 * 4 + STRIPES * per_stripe, "{}", idx.fingerprint_bytes());
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
