//! One module per subcommand, plus what they share: the output context (so `--json` prints exactly
//! one document), reply checking, polling a job, and plain-text tables.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use midictl::progress::Panel;
use midictl::protocol::{DaemonInfo, ErrorKind, JobInfo, JobState, Request, Response};
use midictl::Client;
use serde::Serialize;

use crate::cli::{CliError, Command};

mod cancel;
mod dupes;
mod export;
mod gc;
mod import;
mod jobs;
mod rejects;
mod rename;
mod search;
mod show;
mod shutdown;
mod status;
mod verify;

/// How often `--wait` and `--watch` ask for progress: fast enough for a live panel, slow enough
/// that polling costs the daemon nothing measurable.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

pub fn dispatch(command: &Command, ctx: &mut Ctx) -> Result<()> {
    match command {
        Command::Import(args) => import::run(ctx, args),
        Command::Status(args) => status::run(ctx, args),
        Command::Jobs(_) => jobs::run(ctx),
        Command::Cancel(args) => cancel::run(ctx, args),
        Command::Rejects(args) => rejects::run(ctx, args),
        Command::Show(args) => show::run(ctx, args),
        Command::Search(args) => search::run(ctx, args),
        Command::Dupes(args) => dupes::run(ctx, args),
        Command::Rename(args) => rename::run(ctx, args),
        Command::Shutdown(_) => shutdown::run(ctx),
        Command::Gc(args) => gc::run(ctx, args),
        Command::Verify(_) => verify::run(ctx),
        Command::Export(args) => export::run(ctx, args),
    }
}

/// What every command needs: where the daemon is, and whether stdout carries JSON. It remembers
/// whether a JSON document went out, so the error path does not print a second one.
pub struct Ctx {
    socket: PathBuf,
    pub json: bool,
    json_printed: bool,
}

impl Ctx {
    pub fn new(socket: PathBuf, json: bool) -> Ctx {
        Ctx { socket, json, json_printed: false }
    }

    pub fn connect(&self) -> Result<Client> {
        Ok(Client::connect(&self.socket)?)
    }

    pub fn json_printed(&self) -> bool {
        self.json_printed
    }

    pub fn print_json<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let text = serde_json::to_string_pretty(value).context("encoding the JSON output")?;
        self.json_printed = true;
        write_stdout(&text)
    }

    /// Human output; callers only reach it without `--json`.
    pub fn print(&self, text: &str) -> Result<()> {
        write_stdout(text)
    }
}

fn write_stdout(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(CliError::StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("writing to stdout")),
    }
}

/// Sends a request; a `Response::Error` becomes an error (exit 1) carrying the daemon's message.
pub fn request(client: &mut Client, req: &Request) -> Result<Response> {
    match client.request(req)? {
        Response::Error { kind, message } => Err(CliError::Daemon { kind, message }.into()),
        reply => Ok(reply),
    }
}

/// The error for a reply of the wrong kind: a daemon bug or a protocol drift, never a panic here.
pub fn unexpected(request: &'static str, reply: &Response) -> anyhow::Error {
    let reply = serde_json::to_string(reply).unwrap_or_else(|_| format!("{reply:?}"));
    // Bounded so a huge reply does not flood the terminal.
    let reply: String = reply.chars().take(200).collect();
    CliError::UnexpectedReply { request, reply }.into()
}

/// One job's current state.
pub fn fetch_job(client: &mut Client, id: u64) -> Result<JobInfo> {
    match request(client, &Request::Status { job: Some(id) })? {
        Response::Job { job } => Ok(job),
        // Tolerated: a daemon may answer a one-job status with the general shape.
        Response::Status { jobs, .. } | Response::Jobs { jobs } => jobs
            .into_iter()
            .find(|j| j.id == id)
            .ok_or_else(|| CliError::Daemon { kind: ErrorKind::NotFound, message: format!("no job {id}") }.into()),
        other => Err(unexpected("status", &other)),
    }
}

/// The daemon and its recent jobs.
pub fn fetch_status(client: &mut Client) -> Result<(DaemonInfo, Vec<JobInfo>)> {
    match request(client, &Request::Status { job: None })? {
        Response::Status { daemon, jobs } => Ok((daemon, jobs)),
        other => Err(unexpected("status", &other)),
    }
}

/// Daemon information for the panel's io line. Only nice to have: a daemon that refuses it still
/// lets the caller watch its job, but a daemon that is gone is reported as gone.
pub fn fetch_daemon(client: &mut Client) -> Result<Option<DaemonInfo>> {
    match client.request(&Request::Status { job: None })? {
        Response::Status { daemon, .. } => Ok(Some(daemon)),
        _ => Ok(None),
    }
}

/// Polls one job, drawing it on `panel`, until its state is final; returns the final state after
/// `panel.finish` has shown it.
pub fn watch_job(
    client: &mut Client,
    panel: &mut Panel,
    daemon: Option<&DaemonInfo>,
    mut job: JobInfo,
) -> Result<JobInfo> {
    loop {
        if job.state.is_final() {
            panel.finish(&job);
            return Ok(job);
        }
        panel.update(daemon, std::slice::from_ref(&job));
        thread::sleep(POLL_INTERVAL);
        job = fetch_job(client, job.id).with_context(|| format!("polling job {}", job.id))?;
    }
}

/// The last status seen by [`watch_all`], and whether any job was followed to its end.
pub struct Watched {
    pub daemon: DaemonInfo,
    pub jobs: Vec<JobInfo>,
    pub followed_any: bool,
}

/// Polls the daemon until no job is running: every job seen queued or running is drawn until it
/// ends, including jobs that start while watching.
pub fn watch_all(client: &mut Client, panel: &mut Panel) -> Result<Watched> {
    let mut watched: BTreeSet<u64> = BTreeSet::new();
    let mut followed_any = false;
    loop {
        let (daemon, mut jobs) = fetch_status(client)?;
        watched.extend(jobs.iter().filter(|j| !j.state.is_final()).map(|j| j.id));
        followed_any |= !watched.is_empty();
        // A watched job can drop off the daemon's list of recent jobs; ask for it by id.
        let listed: BTreeSet<u64> = jobs.iter().map(|j| j.id).collect();
        for id in watched.difference(&listed).copied().collect::<Vec<_>>() {
            match fetch_job(client, id) {
                Ok(job) => jobs.push(job),
                Err(err) if is_not_found(&err) => {
                    watched.remove(&id);
                }
                Err(err) => return Err(err),
            }
        }
        let mut active = Vec::new();
        for job in &jobs {
            if !watched.contains(&job.id) {
                continue;
            }
            if job.state.is_final() {
                panel.finish(job);
                watched.remove(&job.id);
            } else {
                active.push(job.clone());
            }
        }
        if watched.is_empty() {
            return Ok(Watched { daemon, jobs, followed_any });
        }
        panel.update(Some(&daemon), &active);
        thread::sleep(POLL_INTERVAL);
    }
}

fn is_not_found(err: &anyhow::Error) -> bool {
    matches!(err.downcast_ref::<CliError>(), Some(CliError::Daemon { kind: ErrorKind::NotFound, .. }))
}

/// Turns a waited-for job's end into the exit status: only `done` is success.
/// After a request started a job: print its id, or with `wait`, follow it on the progress panel
/// to the end and exit 1 unless it finished `done` (`import` and `export` share this).
pub fn started_job(ctx: &mut Ctx, client: &mut Client, job: JobInfo, wait: bool) -> Result<()> {
    if !wait {
        return if ctx.json { ctx.print_json(&job) } else { ctx.print(&job.id.to_string()) };
    }
    if !ctx.json {
        ctx.print(&job.id.to_string())?;
    }
    let daemon = fetch_daemon(client)?;
    let mut panel = Panel::new(ctx.json);
    let job = watch_job(client, &mut panel, daemon.as_ref(), job)?;
    // The panel's bars must be gone before anything else is written below them.
    drop(panel);
    if ctx.json {
        ctx.print_json(&job)?;
    }
    job_outcome(&job)
}

pub fn job_outcome(job: &JobInfo) -> Result<()> {
    match job.state {
        JobState::Done => Ok(()),
        state => Err(CliError::JobEnded { id: job.id, state: state.as_str(), note: job.note.clone() }.into()),
    }
}

/// Left-aligned columns separated by two spaces; the last column is not padded so long paths do
/// not drag trailing blanks. Widths count characters, which is right for the ASCII-heavy content
/// here and harmless otherwise.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let last = i + 1 == row.len();
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if !last {
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    // The caller's print adds the final newline.
    out.pop();
    out
}

/// An optional value for a human table: `-` when unknown.
pub fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_else(|| "-".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use midictl::protocol::{read_frame, write_frame, Counts, Hello, HelloReply, PROTOCOL_VERSION};

    use crate::cli::{run_from, EXIT_FAILURE, EXIT_OK};

    fn job(id: u64, state: JobState) -> JobInfo {
        JobInfo {
            id,
            kind: "import".into(),
            state,
            paths: vec!["/data/packs".into()],
            counts: Counts::default(),
            discovery_done: state.is_final(),
            elapsed_s: 0.0,
            files_per_s: 0.0,
            eta_s: None,
            rejects_by_reason: Default::default(),
            skipped_by_ext: Default::default(),
            started: None,
            finished: None,
            note: None,
        }
    }

    fn daemon_info() -> DaemonInfo {
        DaemonInfo {
            version: "fake".into(),
            pid: 1,
            shards: 1,
            io_driver: "epoll".into(),
            io_fallback_reason: None,
            data_dir: "/tmp".into(),
            database: "embedded".into(),
            uptime_s: 1.0,
            catalog_files: 0,
        }
    }

    /// A daemon that answers one connection with `reply`, which sees each request and how many
    /// status polls came before it. Returns the socket path.
    fn fake_daemon(reply: fn(&Request, usize) -> Response) -> PathBuf {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("midictl-test-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let _hello: Hello = read_frame(&mut stream).unwrap();
            let reply_hello = HelloReply { ok: true, protocol: PROTOCOL_VERSION, daemon: "fake".into(), error: None };
            write_frame(&mut stream, &reply_hello).unwrap();
            let mut polls = 0;
            while let Ok(req) = read_frame::<_, Request>(&mut stream) {
                let response = reply(&req, polls);
                if matches!(req, Request::Status { job: Some(_) }) {
                    polls += 1;
                }
                if write_frame(&mut stream, &response).is_err() {
                    break;
                }
            }
        });
        path
    }

    fn run_against(socket: &std::path::Path, args: &[&str]) -> i32 {
        let socket = socket.to_string_lossy().into_owned();
        let mut argv = vec!["midictl", "--socket", socket.as_str()];
        argv.extend_from_slice(args);
        run_from(argv)
    }

    fn importing(req: &Request, polls: usize, end: JobState) -> Response {
        match req {
            Request::Import { paths } => {
                assert!(paths.iter().all(|p| p.starts_with('/')), "{paths:?}");
                Response::Job { job: job(7, JobState::Running) }
            }
            Request::Status { job: None } => Response::Status { daemon: daemon_info(), jobs: vec![] },
            Request::Status { job: Some(7) } if polls == 0 => Response::Job { job: job(7, JobState::Running) },
            Request::Status { job: Some(7) } => Response::Job { job: job(7, end) },
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn import_wait_succeeds_when_the_job_is_done() {
        let socket = fake_daemon(|req, polls| importing(req, polls, JobState::Done));
        assert_eq!(run_against(&socket, &["import", "rel/pack.zip", "--wait", "--json"]), EXIT_OK);
    }

    #[test]
    fn import_wait_fails_when_the_job_failed() {
        let socket = fake_daemon(|req, polls| importing(req, polls, JobState::Failed));
        assert_eq!(run_against(&socket, &["import", "pack.zip", "--wait", "--json"]), EXIT_FAILURE);
    }

    #[test]
    fn daemon_error_exits_1() {
        let socket = fake_daemon(|_, _| Response::Error { kind: ErrorKind::NotFound, message: "no file abc".into() });
        assert_eq!(run_against(&socket, &["show", "abc", "--json"]), EXIT_FAILURE);
    }

    #[test]
    fn verify_exits_1_on_problems_and_0_when_intact() {
        use midictl::protocol::{MissingObject, VerifyReport};
        let bad = fake_daemon(|_, _| {
            let missing = vec![MissingObject { hash: "ab".into(), path: "/d/objects/ab/ab.mid".into() }];
            Response::Verify { report: VerifyReport { missing, problems: 1, ..VerifyReport::default() } }
        });
        assert_eq!(run_against(&bad, &["verify", "--json"]), EXIT_FAILURE);
        let good = fake_daemon(|_, _| Response::Verify { report: VerifyReport::default() });
        assert_eq!(run_against(&good, &["verify"]), EXIT_OK);
    }

    #[test]
    fn gc_sends_dry_run_and_exits_1_only_on_errors() {
        use midictl::protocol::GcReport;
        let dry = fake_daemon(|req, _| match req {
            Request::Gc { dry_run: true } => Response::Gc { report: GcReport { dry_run: true, ..GcReport::default() } },
            other => panic!("unexpected {other:?}"),
        });
        assert_eq!(run_against(&dry, &["gc", "--dry-run", "--json"]), EXIT_OK);
        let failing = fake_daemon(|_, _| {
            let errors = vec!["removing /d/objects/ab/ab.mid: permission denied".to_string()];
            Response::Gc { report: GcReport { errors, ..GcReport::default() } }
        });
        assert_eq!(run_against(&failing, &["gc"]), EXIT_FAILURE);
    }

    #[test]
    fn wrong_reply_kind_exits_1() {
        let socket = fake_daemon(|_, _| Response::Ok { message: "?".into() });
        assert_eq!(run_against(&socket, &["search", "key:Am", "--json"]), EXIT_FAILURE);
    }

    #[test]
    fn watch_all_returns_once_nothing_runs() {
        let socket = fake_daemon(|req, _| match req {
            Request::Status { job: None } => {
                Response::Status { daemon: daemon_info(), jobs: vec![job(1, JobState::Done)] }
            }
            other => panic!("unexpected {other:?}"),
        });
        assert_eq!(run_against(&socket, &["status", "--watch", "--json"]), EXIT_OK);
    }

    #[test]
    fn table_pads_all_but_the_last_column() {
        let rows = vec![
            vec!["1".to_string(), "done".to_string(), "/a".to_string()],
            vec!["12".to_string(), "running".to_string(), "/bb".to_string()],
        ];
        let text = table(&["ID", "STATE", "PATH"], &rows);
        assert_eq!(text, "ID  STATE    PATH\n1   done     /a\n12  running  /bb");
    }

    #[test]
    fn table_tolerates_ragged_rows() {
        let rows = vec![vec!["only".to_string()], vec![]];
        assert_eq!(table(&["A", "B"], &rows), "A     B\nonly\n");
    }

    #[test]
    fn job_outcome_maps_states() {
        let mut job = JobInfo {
            id: 5,
            kind: "import".into(),
            state: JobState::Done,
            paths: vec![],
            counts: Default::default(),
            discovery_done: true,
            elapsed_s: 0.0,
            files_per_s: 0.0,
            eta_s: None,
            rejects_by_reason: Default::default(),
            skipped_by_ext: Default::default(),
            started: None,
            finished: None,
            note: None,
        };
        assert!(job_outcome(&job).is_ok());
        job.state = JobState::Cancelled;
        let err = job_outcome(&job).unwrap_err();
        assert_eq!(crate::cli::exit_code(&err), crate::cli::EXIT_FAILURE);
        assert_eq!(err.to_string(), "job 5 cancelled");
    }
}
