//! Shared by the archive targets: walk bytes as one container kind under small budgets and check
//! that nothing a walk hands out exceeds them.

use midid::reject::Reason;
use midid::unpack::{ArchiveLimits, Kind, Sink, Walker};

struct Check {
    limits: ArchiveLimits,
    member_bytes: u64,
}

impl Sink for Check {
    fn member(&mut self, _path: &str, _name: &str, _raw: Option<&[u8]>, bytes: &[u8]) {
        assert!(bytes.len() as u64 <= self.limits.max_member_bytes, "member over the cap");
        self.member_bytes += bytes.len() as u64;
    }
    fn reject(&mut self, _path: &str, _reason: Reason, _detail: String) {}
    fn skipped(&mut self, _what: &str) {}
}

/// Small budgets keep each run fast and make budget escapes visible.
pub fn walk(kind: Kind, data: &[u8]) {
    let limits = ArchiveLimits {
        max_depth: 4,
        max_entry_bytes: 4 << 20,
        max_total_bytes: 16 << 20,
        max_entries: 10_000,
        max_dict_bytes: 16 << 20,
        max_memory_bytes: 1 << 20,
        max_member_bytes: 1 << 20,
        ..ArchiveLimits::default()
    };
    let spill = std::env::temp_dir().join("midid-fuzz-spill");
    let mut check = Check { limits, member_bytes: 0 };
    let stats = Walker::new(limits, &spill, &mut check).walk_bytes(kind, data, "fuzz");
    assert!(check.member_bytes <= limits.max_total_bytes + limits.max_member_bytes, "members over the total budget");
    assert!(stats.max_depth <= limits.max_depth, "walked deeper than the limit");
}
