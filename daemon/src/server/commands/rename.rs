//! `rename`: what a rename template makes of the catalogued files' names, as a listing (a dry
//! run by nature: names change only where an export writes them).

use midictl::protocol::{ErrorKind, RenameInfo, Response};

use crate::engine::Engine;
use crate::library::rename::Template;
use crate::server::error;

const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 20_000;

pub fn handle(engine: &Engine, template: &str, limit: Option<u64>) -> Response {
    let template = match Template::parse(template) {
        Ok(t) => t,
        Err(e) => return error(ErrorKind::BadRequest, e.to_string()),
    };
    match engine.reader().search(&crate::catalog::lang::Query::default(), limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT))
    {
        Ok(files) => Response::Renames {
            renames: files
                .iter()
                .map(|f| RenameInfo {
                    hash: f.hash.clone(),
                    old: f
                        .sources
                        .first()
                        .map(|s| s.clean_name.clone().unwrap_or_else(|| s.name.clone()))
                        .unwrap_or_default(),
                    new: template.render(f),
                })
                .collect(),
        },
        Err(e) => error(ErrorKind::Failed, e.to_string()),
    }
}
