//! `midictl verify [--json]`: asks the daemon to re-hash every stored object against its name and
//! to look for catalogued objects that are gone. Prints each problem and a summary; exits 1 when
//! there is any (DESIGN section 6: the operation's answer is "not intact").

use anyhow::Result;
use midictl::progress::printable;
use midictl::protocol::{Request, Response, VerifyReport};

use super::{request, unexpected, Ctx};
use crate::cli::CliError;

pub fn run(ctx: &mut Ctx) -> Result<()> {
    let mut client = ctx.connect()?;
    // Reading every object takes as long as the store is large: no reply deadline (a daemon that
    // dies still ends the wait by closing the socket).
    client.set_read_timeout(None);
    let report = match request(&mut client, &Request::Verify)? {
        Response::Verify { report } => report,
        other => return Err(unexpected("verify", &other)),
    };
    if ctx.json {
        ctx.print_json(&report)?;
    } else {
        ctx.print(&report_text(&report))?;
    }
    if report.ok() {
        Ok(())
    } else {
        Err(CliError::Found(format!("verify: {} problems in the object store", report.problems)).into())
    }
}

fn report_text(r: &VerifyReport) -> String {
    let mut lines: Vec<String> = Vec::new();
    for m in &r.mismatched {
        let whose = if m.referenced { "catalogued" } else { "unreferenced" };
        lines.push(format!("mismatch {} ({whose}): holds {}", printable(&m.path), m.actual));
    }
    for m in &r.missing {
        lines.push(format!("missing  {} ({})", m.hash, printable(&m.path)));
    }
    for u in &r.unreadable {
        lines.push(format!("unreadable {}: {}", printable(&u.path), printable(&u.error)));
    }
    let listed = (r.mismatched.len() + r.missing.len() + r.unreadable.len()) as u64;
    if r.problems > listed {
        lines.push(format!("... and {} more", r.problems - listed));
    }
    lines.push(r.summary());
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use midictl::protocol::{MissingObject, ObjectMismatch};

    #[test]
    fn problems_then_summary() {
        let r = VerifyReport {
            objects: 2,
            bytes: 10,
            catalogued: 3,
            mismatched: vec![ObjectMismatch {
                path: "/d/objects/ab/x.mid".into(),
                expected: "ab".into(),
                actual: "cd".into(),
                referenced: true,
            }],
            missing: vec![MissingObject { hash: "ef".into(), path: "/d/objects/ef/ef.mid".into() }],
            problems: 3,
            ..VerifyReport::default()
        };
        let text = report_text(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "mismatch /d/objects/ab/x.mid (catalogued): holds cd");
        assert_eq!(lines[1], "missing  ef (/d/objects/ef/ef.mid)");
        assert_eq!(lines[2], "... and 1 more");
        assert!(lines[3].starts_with("PROBLEMS: 2 objects re-hashed"), "{text}");
    }
}
