//! The command line of `midictl` (DESIGN section 6) and the mapping from outcomes to exit codes.
//!
//! Scripts rely on both, so they are declared here in one place and tested by parsing argument
//! lists, without a daemon: 0 success, 1 the operation failed, 2 usage error, 3 daemon not
//! reachable.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use midictl::protocol::ErrorKind;
use midictl::ClientError;

use crate::commands::{self, Ctx};

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_UNREACHABLE: i32 = 3;

#[derive(Debug, Parser)]
#[command(name = "midictl", version, about = "Control the midid MIDI import daemon")]
pub struct Cli {
    /// Control socket of the daemon.
    #[arg(
        long,
        global = true,
        value_name = "S",
        env = "MIDID_SOCKET",
        default_value_os_t = midictl::default_socket_path()
    )]
    pub socket: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import files, directories and archives; prints the job id.
    Import(ImportArgs),
    /// Show the daemon and its jobs, or one job: per-stage progress, files/s, ETA.
    Status(StatusArgs),
    /// List all jobs, newest first.
    Jobs(JsonArg),
    /// Cancel a queued or running job.
    Cancel(CancelArgs),
    /// List files that could not be used, with the reason.
    Rejects(RejectsArgs),
    /// Show one catalogued file by its content hash (or a unique prefix of it).
    Show(ShowArgs),
    /// Search the catalog, e.g. `key:Am bpm:120..128 role:bass tag:trap name:kick`.
    Search(SearchArgs),
    /// List the same music found more than once: tier 0 same bytes, 1 same notes, 2 same notes
    /// as parts of other files, 3 transposed or re-timed variants.
    Dupes(DupesArgs),
    /// List what a rename template makes of the names, e.g. `{role}/{key|nokey}/{bpm}bpm_{name}`
    /// (a dry run: names change only where an export writes them).
    Rename(RenameArgs),
    /// Ask the daemon to finish its current work and exit.
    Shutdown(JsonArg),
    /// Remove stored objects no catalogued file names, and stale temp files.
    Gc(GcArgs),
    /// Re-hash every stored object against its name; list catalogued objects that are missing.
    /// Exits 1 when anything is wrong.
    Verify(JsonArg),
    /// Write the library onto an MPC or Force drive: `.mid` with `.mpcpattern` beside it, chord
    /// files as `.progression`, an index at the root. A second run writes only what is new.
    Export(ExportArgs),
}

impl Command {
    /// Whether the caller asked for one JSON document on stdout.
    pub fn json(&self) -> bool {
        match self {
            Command::Import(a) => a.json.json,
            Command::Status(a) => a.json.json,
            Command::Jobs(a) | Command::Shutdown(a) | Command::Verify(a) => a.json,
            Command::Gc(a) => a.json.json,
            Command::Cancel(a) => a.json.json,
            Command::Rejects(a) => a.json.json,
            Command::Show(a) => a.json.json,
            Command::Search(a) => a.json.json,
            Command::Dupes(a) => a.json.json,
            Command::Rename(a) => a.json.json,
            Command::Export(a) => a.json.json,
        }
    }
}

#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print exactly one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files, directories or archives; relative paths are resolved here, not in the daemon.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Block until the job has finished, showing its progress.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A job id; without it, the daemon and its recent jobs.
    #[arg(value_name = "JOB")]
    pub job: Option<u64>,
    /// Redraw live until the job (or every running job) has finished.
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    #[arg(value_name = "JOB")]
    pub job: u64,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct RejectsArgs {
    /// Only the rejects of this job.
    #[arg(long, value_name = "N")]
    pub job: Option<u64>,
    /// At most this many rejects.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Content hash: 32 hex digits, or a unique prefix of them.
    #[arg(value_name = "HASH", value_parser = parse_hash)]
    pub hash: String,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    /// Fields in braces, `|` for a fallback, `/` for folders: name role key key_short mode bpm
    /// bars drum time pack hash part.
    #[arg(value_name = "TEMPLATE")]
    pub template: String,
    /// At most this many files.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct DupesArgs {
    /// Only this tier (0-3).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=3))]
    pub tier: Option<u8>,
    /// At most this many groups.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Terms, all of which must hold: `key:Am` `key:"F# minor"` `bpm:120..128` `bpm:>140`
    /// `bars:4` `role:bass` `drum:kick` `tag:trap` `name:kick` `loop:yes` `dupes:hide`; a leading
    /// `-` negates one (`-drum:kick`).
    #[arg(value_name = "QUERY")]
    pub query: Vec<String>,
    /// At most this many files.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Order by bpm, key, bars, notes, duration, size or name (`-bpm`: descending); default:
    /// import order.
    #[arg(long, value_name = "FIELD", allow_hyphen_values = true)]
    pub sort: Option<String>,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The device: mpc, force or both.
    #[arg(long, value_parser = ["mpc", "force", "both"])]
    pub target: String,
    /// The drive's root (the SD card or SSD mount point); relative paths are resolved here.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Search terms selecting what is exported (everything by default), as for `search`.
    #[arg(value_name = "QUERY")]
    pub query: Vec<String>,
    /// Name files by a template (`--rename='{role}/{bpm}bpm_{name}'`), or by the daemon's
    /// configured one (`--rename`). Folders in a template nest under the routed folder.
    #[arg(long, value_name = "TEMPLATE", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub rename: Option<String>,
    /// Print the plan (files per folder, to write, unchanged); write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Block until the job has finished, showing its progress.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// List what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub json: JsonArg,
}

/// Checked here rather than in the daemon so a typo is a usage error (exit 2) with clap's help,
/// not an operation failure.
fn parse_hash(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("expected a content hash: 1 to 32 hexadecimal digits".to_string());
    }
    Ok(s.to_ascii_lowercase())
}

/// Failures the binary itself distinguishes; everything else is an operation failure.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Arguments clap accepted but that cannot be used (a non-UTF-8 path): exit 2.
    #[error("{0}")]
    Usage(String),
    /// The daemon answered `Response::Error`.
    #[error("{message}")]
    Daemon { kind: ErrorKind, message: String },
    /// A waited-for job ended failed or cancelled.
    #[error("job {id} {state}{}", note.as_deref().map(|n| format!(": {n}")).unwrap_or_default())]
    JobEnded { id: u64, state: &'static str, note: Option<String> },
    #[error("unexpected reply from the daemon to `{request}`: {reply}")]
    UnexpectedReply { request: &'static str, reply: String },
    /// The command ran and found something wrong (`verify`), or could not do all of its work
    /// (`gc`); its report is already printed.
    #[error("{0}")]
    Found(String),
    /// Whoever read our stdout went away (`midictl search | head`); nothing left to tell them.
    #[error("stdout closed")]
    StdoutClosed,
}

/// The exit code for an error, per DESIGN section 6.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if let Some(client) = cause.downcast_ref::<ClientError>() {
            return if client.is_unreachable() { EXIT_UNREACHABLE } else { EXIT_FAILURE };
        }
        if let Some(cli) = cause.downcast_ref::<CliError>() {
            return match cli {
                CliError::Usage(_) => EXIT_USAGE,
                // The reader chose to stop reading; that is not our failure.
                CliError::StdoutClosed => EXIT_OK,
                _ => EXIT_FAILURE,
            };
        }
    }
    EXIT_FAILURE
}

/// A stable name for the error document printed under `--json`.
fn error_kind(err: &anyhow::Error) -> &'static str {
    for cause in err.chain() {
        if let Some(client) = cause.downcast_ref::<ClientError>() {
            return match client {
                _ if client.is_unreachable() => "unreachable",
                ClientError::Version { .. } => "version_mismatch",
                _ => "protocol",
            };
        }
        if let Some(cli) = cause.downcast_ref::<CliError>() {
            return match cli {
                CliError::Usage(_) => "usage",
                CliError::Daemon { kind: ErrorKind::BadRequest, .. } => "bad_request",
                CliError::Daemon { kind: ErrorKind::NotFound, .. } => "not_found",
                CliError::Daemon { kind: ErrorKind::Failed, .. } => "failed",
                CliError::Daemon { kind: ErrorKind::ShuttingDown, .. } => "shutting_down",
                CliError::JobEnded { .. } => "job_ended",
                CliError::UnexpectedReply { .. } => "protocol",
                CliError::Found(_) => "found",
                CliError::StdoutClosed => "stdout_closed",
            };
        }
    }
    "failed"
}

/// The error and its causes on one line. Some errors (the client's) already quote their source in
/// their own text; repeating it would print the same OS error twice.
fn error_message(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

/// A negated query term (`-drum:kick`) looks like a short flag to clap, and letting the query
/// take hyphen values would swallow `--limit` after it. No flag of ours has a `:`, so a single-dash
/// word with one (`-field:value`) is rewritten to the language's other spelling of a negation,
/// `!field:value`, before clap sees it.
fn negations_as_terms<I, T>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut after_dashes = false;
    args.into_iter()
        .map(|a| {
            let a: OsString = a.into();
            match a.to_str() {
                // After `--` every word is an operand, spelled as given.
                Some("--") => {
                    after_dashes = true;
                    a
                }
                Some(s) if !after_dashes && s.starts_with('-') && !s.starts_with("--") && s.contains(':') => {
                    OsString::from(format!("!{}", &s[1..]))
                }
                _ => a,
            }
        })
        .collect()
}

/// Runs `midictl` with the process arguments and returns its exit code.
pub fn run() -> i32 {
    run_from(std::env::args_os())
}

pub fn run_from<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(negations_as_terms(args)) {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help and version on stdout with code 0, usage errors on stderr with 2.
            let _ = err.print();
            return err.exit_code();
        }
    };
    let mut ctx = Ctx::new(cli.socket, cli.command.json());
    match commands::dispatch(&cli.command, &mut ctx) {
        Ok(()) => EXIT_OK,
        Err(err) => report(&err, &mut ctx),
    }
}

fn report(err: &anyhow::Error, ctx: &mut Ctx) -> i32 {
    let code = exit_code(err);
    if matches!(err.downcast_ref::<CliError>(), Some(CliError::StdoutClosed)) {
        return code;
    }
    let message = error_message(err);
    let _ = writeln!(std::io::stderr().lock(), "midictl: {message}");
    // `--json` promises one document on stdout even when the operation failed, so a script's
    // JSON parser never sees empty input; a job that ended badly has already printed its own.
    if ctx.json && !ctx.json_printed() {
        let doc = serde_json::json!({ "error": { "kind": error_kind(err), "message": message } });
        let _ = ctx.print_json(&doc);
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::path::Path;

    use midictl::protocol::FrameError;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(negations_as_terms(std::iter::once("midictl").chain(args.iter().copied())))
    }

    #[test]
    fn negated_terms_are_terms_not_flags() {
        match parse(&["search", "-drum:kick", "role:bass", "--limit", "5", "--sort", "-bpm"]).unwrap().command {
            Command::Search(a) => {
                assert_eq!(a.query, vec!["!drum:kick", "role:bass"]);
                assert_eq!(a.limit, Some(5));
                assert_eq!(a.sort.as_deref(), Some("-bpm"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn import_takes_paths_and_flags() {
        let cli = parse(&["--socket", "/tmp/s.sock", "import", "a", "b/c.zip", "--wait", "--json"]).unwrap();
        assert_eq!(cli.socket, Path::new("/tmp/s.sock"));
        match cli.command {
            Command::Import(a) => {
                assert_eq!(a.paths, vec![PathBuf::from("a"), PathBuf::from("b/c.zip")]);
                assert!(a.wait);
                assert!(a.json.json);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn socket_is_accepted_after_the_subcommand_too() {
        let cli = parse(&["jobs", "--socket", "/x.sock"]).unwrap();
        assert_eq!(cli.socket, Path::new("/x.sock"));
        assert!(!cli.command.json());
    }

    #[test]
    fn import_without_paths_is_a_usage_error() {
        let err = parse(&["import"]).unwrap_err();
        assert_eq!(err.exit_code(), EXIT_USAGE);
    }

    #[test]
    fn status_job_and_watch() {
        let cli = parse(&["status", "7", "--watch"]).unwrap();
        match cli.command {
            Command::Status(a) => {
                assert_eq!(a.job, Some(7));
                assert!(a.watch);
                assert!(!a.json.json);
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(parse(&["status", "--json"]).unwrap().command.json());
        assert_eq!(parse(&["status", "seven"]).unwrap_err().exit_code(), EXIT_USAGE);
    }

    #[test]
    fn search_query_terms_and_limit() {
        let cli = parse(&["search", "key:Am", "bpm:120..128", "--limit", "5", "--json"]).unwrap();
        match cli.command {
            Command::Search(a) => {
                assert_eq!(a.query, vec!["key:Am", "bpm:120..128"]);
                assert_eq!(a.limit, Some(5));
                assert!(a.json.json);
            }
            other => panic!("parsed as {other:?}"),
        }
        assert_eq!(parse(&["search", "--limit", "0"]).unwrap_err().exit_code(), EXIT_USAGE);
    }

    #[test]
    fn rejects_filters() {
        match parse(&["rejects", "--job", "3", "--limit", "10"]).unwrap().command {
            Command::Rejects(a) => assert_eq!((a.job, a.limit), (Some(3), Some(10))),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn show_checks_the_hash() {
        match parse(&["show", "ABCdef01"]).unwrap().command {
            Command::Show(a) => assert_eq!(a.hash, "abcdef01"),
            other => panic!("parsed as {other:?}"),
        }
        assert_eq!(parse(&["show", "xyz"]).unwrap_err().exit_code(), EXIT_USAGE);
        assert_eq!(parse(&["show", &"a".repeat(33)]).unwrap_err().exit_code(), EXIT_USAGE);
    }

    #[test]
    fn gc_and_verify_flags() {
        match parse(&["gc", "--dry-run", "--json"]).unwrap().command {
            Command::Gc(a) => assert!(a.dry_run && a.json.json),
            other => panic!("parsed as {other:?}"),
        }
        assert!(matches!(parse(&["gc"]).unwrap().command, Command::Gc(GcArgs { dry_run: false, .. })));
        assert!(parse(&["verify", "--json"]).unwrap().command.json());
        assert_eq!(parse(&["verify", "abc"]).unwrap_err().exit_code(), EXIT_USAGE);
        assert_eq!(parse(&["gc", "--force"]).unwrap_err().exit_code(), EXIT_USAGE);
    }

    #[test]
    fn cancel_needs_a_job_and_unknown_commands_fail() {
        assert_eq!(parse(&["cancel"]).unwrap_err().exit_code(), EXIT_USAGE);
        assert_eq!(parse(&["export"]).unwrap_err().exit_code(), EXIT_USAGE);
        assert_eq!(parse(&[]).unwrap_err().exit_code(), EXIT_USAGE);
        assert!(matches!(parse(&["cancel", "4"]).unwrap().command, Command::Cancel(CancelArgs { job: 4, .. })));
    }

    #[test]
    fn help_and_version_exit_zero() {
        assert_eq!(parse(&["--help"]).unwrap_err().exit_code(), EXIT_OK);
        assert_eq!(parse(&["--version"]).unwrap_err().exit_code(), EXIT_OK);
    }

    #[test]
    fn exit_codes() {
        let unreachable =
            ClientError::Unreachable { path: "/nowhere".into(), source: io::Error::from(io::ErrorKind::NotFound) };
        assert_eq!(exit_code(&anyhow::Error::new(unreachable)), EXIT_UNREACHABLE);

        let closed = ClientError::Frame { path: "/s".into(), source: FrameError::Closed };
        assert_eq!(exit_code(&anyhow::Error::new(closed).context("polling job 3")), EXIT_UNREACHABLE);

        let version = ClientError::Version { path: "/s".into(), ours: 1, theirs: 2, message: String::new() };
        assert_eq!(exit_code(&anyhow::Error::new(version)), EXIT_FAILURE);

        let daemon = CliError::Daemon { kind: ErrorKind::NotFound, message: "no job 9".into() };
        let daemon = anyhow::Error::new(daemon);
        assert_eq!(exit_code(&daemon), EXIT_FAILURE);
        assert_eq!(error_kind(&daemon), "not_found");
        assert_eq!(daemon.to_string(), "no job 9");

        let ended = CliError::JobEnded { id: 3, state: "failed", note: Some("disk full".into()) };
        let ended = anyhow::Error::new(ended);
        assert_eq!(exit_code(&ended), EXIT_FAILURE);
        assert_eq!(ended.to_string(), "job 3 failed: disk full");

        assert_eq!(exit_code(&anyhow::Error::new(CliError::Usage("bad path".into()))), EXIT_USAGE);
        assert_eq!(exit_code(&anyhow::Error::new(CliError::StdoutClosed)), EXIT_OK);
        assert_eq!(exit_code(&anyhow::anyhow!("anything else")), EXIT_FAILURE);
    }

    #[test]
    fn error_message_does_not_repeat_causes() {
        let unreachable =
            ClientError::Unreachable { path: "/nowhere".into(), source: io::Error::from(io::ErrorKind::NotFound) };
        let err = anyhow::Error::new(unreachable).context("polling job 3");
        let message = error_message(&err);
        assert_eq!(message.matches("not found").count(), 1, "{message}");
        assert!(message.starts_with("polling job 3: daemon not reachable at /nowhere"), "{message}");
    }

    #[test]
    fn unreachable_daemon_exits_3() {
        let socket = std::env::temp_dir().join(format!("midictl-none-{}.sock", std::process::id()));
        let socket = socket.to_string_lossy().into_owned();
        assert_eq!(run_from(["midictl", "--socket", &socket, "jobs"]), EXIT_UNREACHABLE);
        assert_eq!(run_from(["midictl", "--socket", &socket, "import", "x", "--json"]), EXIT_UNREACHABLE);
    }

    #[test]
    fn usage_error_through_run_exits_2() {
        assert_eq!(run_from(["midictl", "frobnicate"]), EXIT_USAGE);
    }
}
