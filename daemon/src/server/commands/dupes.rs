//! `dupes`: groups of duplicate files by tier, from the catalog reader.

use midictl::protocol::{ErrorKind, Response};

use crate::engine::Engine;
use crate::server::error;

const DEFAULT_LIMIT: u64 = 100;
/// Keeps the reply under the protocol's frame limit (groups list at most 50 members).
const MAX_LIMIT: u64 = 2_000;

pub fn handle(engine: &Engine, tier: Option<u8>, limit: Option<u64>) -> Response {
    if tier.is_some_and(|t| t > 3) {
        return error(ErrorKind::BadRequest, "tiers are 0 (bytes), 1 (notes), 2 (notes in parts) and 3 (variants)");
    }
    match engine.reader().dupes(tier, limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT)) {
        Ok(groups) => Response::Dupes { groups },
        Err(e) => error(ErrorKind::Failed, e.to_string()),
    }
}
