//! The `midid` command line: `serve` (the daemon), `run` (one job in-process, then exit),
//! `gen-corpus` and `demo` (the generator, for a first look and for benchmarks).
//!
//! Exit codes follow DESIGN section 6: 0 success, 1 the operation failed, 2 usage error.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use crossbeam_channel::{bounded, select};
use midictl::progress::Panel;
use midictl::protocol::JobState;

use crate::config::{default_data_dir, FileConfig};
use crate::engine::{Engine, EngineConfig};
use crate::gen::{generate, GenSpec};
use crate::server::{self, Server};
use crate::shard::ShardTuning;

#[derive(Parser, Debug)]
#[command(name = "midid", version, about = "Imports MIDI collections into a de-duplicated catalog")]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// Data directory (catalog.db, objects/).
    #[arg(long, env = "MIDID_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Shards (threads pinned one per core); default: one per CPU this process may use.
    #[arg(long, env = "MIDID_SHARDS")]
    shards: Option<usize>,
    /// TOML config file; flags and MIDID_* variables override it.
    #[arg(long, env = "MIDID_CONFIG")]
    config: Option<PathBuf>,
    /// Catalog database: `postgres://user@host:port/db` for PostgreSQL; default (or `sqlite:`)
    /// the embedded store in the data dir.
    #[arg(long, env = "MIDID_DATABASE")]
    database: Option<String>,
    /// I/O driver: auto (io_uring, epoll where refused) or epoll.
    #[arg(long, env = "MIDID_IO_DRIVER")]
    io_driver: Option<String>,
    /// Split multi-part files into one catalogued part per track or channel (default true).
    #[arg(long, env = "MIDID_SPLIT")]
    split: Option<bool>,
    /// Compute musical fingerprints, which `dupes` tiers 1-3 group by (default true). Off, only
    /// exact copies are found.
    #[arg(long, env = "MIDID_FINGERPRINTS")]
    fingerprints: Option<bool>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon in the foreground, serving the control socket.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Control socket path.
        #[arg(long, env = "MIDID_SOCKET")]
        socket: Option<PathBuf>,
        /// Inbox directory to watch (not implemented yet: refused).
        #[arg(long, env = "MIDID_INBOX")]
        inbox: Option<PathBuf>,
        /// Seconds between gc runs (objects no row names), when no job runs; 0: never.
        /// Default: the config's `gc_interval_s`, else 86400.
        #[arg(long, env = "MIDID_GC_INTERVAL_S", value_name = "SECONDS")]
        gc_interval_s: Option<u64>,
    },
    /// Import PATHs in-process, show progress, print a summary, exit.
    Run {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
        /// Print the finished job as one JSON document (with --export, the export job).
        #[arg(long)]
        json: bool,
        /// After the import, export the whole catalog for this device: mpc, force or both.
        #[arg(long, value_parser = ["mpc", "force", "both"], requires = "to")]
        export: Option<String>,
        /// The drive root the export writes to.
        #[arg(long, value_name = "DIR", requires = "export")]
        to: Option<PathBuf>,
    },
    /// Write a generated corpus of realistic MIDI files (with duplicates and damaged files).
    GenCorpus {
        dir: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Share of files that are exact copies of other files.
        #[arg(long, default_value_t = 0.5)]
        duplicates: f64,
        /// Share of damaged files.
        #[arg(long, default_value_t = 0.01)]
        damaged: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Measure the analysis against labelled files (CSV: relative_path,key,tempo_bpm,...).
    Eval {
        /// Labels file(s); paths in them are relative to DIR.
        #[arg(long, required = true)]
        labels: Vec<PathBuf>,
        dir: PathBuf,
        /// Key profiles to combine: any of kk, temperley, aarden, albrecht (default: all).
        #[arg(long, value_delimiter = ',')]
        key_profiles: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Generate a demo corpus (once) in the data dir and import it: the first thing to run.
    Demo {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 20_000)]
        count: usize,
    },
}

pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    init_logging();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("midid: {e:#}");
            1
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MIDID_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn dispatch(cli: Cli) -> Result<i32> {
    match cli.cmd {
        Command::Eval { labels, dir, key_profiles, json } => {
            let mut mask = 0u8;
            for p in &key_profiles {
                mask |= match p.as_str() {
                    "kk" => 1,
                    "temperley" => 2,
                    "aarden" => 4,
                    "albrecht" => 8,
                    other => bail!("unknown key profile {other:?} (kk, temperley, aarden, albrecht)"),
                };
            }
            let report =
                crate::eval::run(&labels, &dir, if mask == 0 { crate::analysis::key::PROFILES_USED } else { mask })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                crate::eval::print(&report);
            }
            Ok(0)
        }
        Command::Serve { common, socket, inbox, gc_interval_s } => {
            if inbox.is_some() {
                bail!("--inbox is not implemented yet");
            }
            let (cfg, file) = engine_config(&common)?;
            let gc_every = file.gc_interval(gc_interval_s);
            let socket = socket.or(file.socket).unwrap_or_else(midictl::default_socket_path);
            serve(cfg, socket, gc_every)
        }
        Command::Run { paths, common, json, export, to } => {
            let (cfg, _) = engine_config(&common)?;
            let export = match (export, to) {
                (Some(target), Some(to)) => Some((target, std::path::absolute(&to).context("resolving --to")?)),
                _ => None,
            };
            run_job(cfg, &paths, json, export)
        }
        Command::GenCorpus { dir, count, duplicates, damaged, seed } => {
            let spec = GenSpec { count, duplicate_share: duplicates, damaged_share: damaged, seed };
            let report = generate(&dir, &spec).with_context(|| format!("generating into {}", dir.display()))?;
            println!(
                "wrote {} files ({} bytes) to {}: {} distinct good, {} duplicates, {} to be rejected, {} to be repaired",
                report.files.len(),
                report.total_bytes,
                dir.display(),
                report.unique_good,
                report.duplicates,
                report.rejected,
                report.repaired
            );
            Ok(0)
        }
        Command::Demo { common, count } => {
            let (cfg, _) = engine_config(&common)?;
            let corpus = cfg.data_dir.join("demo-corpus");
            // Asked before the minutes of generating, which a data dir in use would waste; the
            // engine takes the lock for real when it starts.
            std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("creating {}", cfg.data_dir.display()))?;
            drop(crate::engine::lock_data_dir(&cfg.data_dir)?);
            if !corpus.exists() {
                let spec = GenSpec { count, duplicate_share: 0.5, damaged_share: 0.01, seed: 1 };
                eprintln!("generating {count} demo files in {} ...", corpus.display());
                generate(&corpus, &spec).with_context(|| format!("generating into {}", corpus.display()))?;
            }
            run_job(cfg, &[corpus], false, None)
        }
    }
}

fn engine_config(common: &Common) -> Result<(EngineConfig, FileConfig)> {
    let file = FileConfig::load(common.config.as_deref())?;
    let database = match common.database.as_deref().or(file.database.as_deref()) {
        None => None,
        Some(db) if db == "sqlite" || db.starts_with("sqlite:") => None,
        Some(db) if crate::catalog::postgres::is_postgres_url(db) => Some(db.to_string()),
        Some(db) => bail!(
            "--database {}: use postgres://user@host:port/database, or leave it out for the embedded catalog",
            crate::catalog::postgres::redact(db)
        ),
    };
    let mut force_epoll = file.force_epoll()?;
    if let Some(d) = &common.io_driver {
        force_epoll = match d.as_str() {
            "auto" | "io_uring" => false,
            "epoll" => true,
            other => bail!("--io-driver must be auto or epoll, not {other}"),
        };
    }
    let cfg = EngineConfig {
        database,
        data_dir: common.data_dir.clone().or(file.data_dir.clone()).unwrap_or_else(default_data_dir),
        shards: common.shards.or(file.shards),
        force_epoll,
        limits: file.limits(),
        tuning: ShardTuning {
            split: common.split.unwrap_or(file.split.unwrap_or(true)),
            fingerprints: common.fingerprints.unwrap_or(file.fingerprints.unwrap_or(true)),
            ..file.tuning()
        },
        rename: file.rename.unwrap_or(false),
        rename_template: file
            .rename_template
            .clone()
            .unwrap_or_else(|| crate::config::DEFAULT_RENAME_TEMPLATE.to_string()),
    };
    // A bad template is a configuration error at start, not a surprise at the first export.
    crate::library::rename::Template::parse(&cfg.rename_template)
        .map_err(|e| anyhow::anyhow!("config rename_template: {e}"))?;
    Ok((cfg, file))
}

/// SIGTERM and SIGINT arrive on a channel, so the main thread can wait on them and on a
/// client's `shutdown` request in one place.
fn signal_channel() -> Result<crossbeam_channel::Receiver<i32>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT]).context("installing signal handlers")?;
    let (tx, rx) = bounded(4);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if tx.send(sig).is_err() {
                    break;
                }
            }
        })
        .context("starting the signal thread")?;
    Ok(rx)
}

fn serve(cfg: EngineConfig, socket: PathBuf, gc_every: Option<Duration>) -> Result<i32> {
    let signals = signal_channel()?;
    let listener = server::bind(&socket)?;
    let engine = match Engine::start(cfg) {
        Ok(engine) => engine,
        Err(e) => {
            // The socket file is this process's (bind made it) and nothing will answer on it:
            // left there, the next client would wait on a dead socket until the stale probe.
            drop(listener);
            let _ = std::fs::remove_file(&socket);
            return Err(e.into());
        }
    };
    if let Some(every) = gc_every {
        engine.start_periodic_gc(every)?;
    }
    let (shutdown_tx, shutdown_rx) = bounded(1);
    let stopping = Arc::new(AtomicBool::new(false));
    let server = Arc::new(Server {
        engine: Arc::clone(&engine),
        path: socket.clone(),
        shutdown: shutdown_tx,
        stopping: Arc::clone(&stopping),
    });
    let accept = std::thread::Builder::new()
        .name("control".into())
        .spawn({
            let server = Arc::clone(&server);
            move || server.run(listener)
        })
        .context("starting the control thread")?;
    tracing::info!("listening on {}", socket.display());
    select! {
        recv(signals) -> sig => tracing::info!("signal {:?}: shutting down", sig.ok()),
        recv(shutdown_rx) -> _ => tracing::info!("shutdown requested by a client"),
    }
    stopping.store(true, Ordering::SeqCst);
    // Wake the accept loop so it sees `stopping`.
    let _ = std::os::unix::net::UnixStream::connect(&socket);
    let _ = accept.join();
    engine.shutdown();
    let _ = std::fs::remove_file(&socket);
    Ok(0)
}

fn run_job(cfg: EngineConfig, paths: &[PathBuf], json: bool, export: Option<(String, PathBuf)>) -> Result<i32> {
    for p in paths {
        if std::fs::symlink_metadata(p).is_err() {
            bail!("{}: no such file or directory", p.display());
        }
    }
    let signals = signal_channel()?;
    let engine = Engine::start(cfg)?;
    // Checked before the import, so a bad export request costs nothing.
    let export = match &export {
        Some((target, to)) => {
            // A lossy spelling would name another folder: refuse what is not UTF-8.
            let to = to.to_str().with_context(|| format!("--to {}: not valid UTF-8", to.display()))?;
            Some(engine.export_request(target, to, &[], false, None)?)
        }
        None => None,
    };
    let job = engine.import(paths)?;
    let mut info = follow(&engine, &job, &signals, json);
    if let (Some(req), JobState::Done) = (export, info.state) {
        match engine.export(req) {
            Ok(job) => info = follow(&engine, &job, &signals, json),
            Err(e) => {
                engine.shutdown();
                return Err(e.into());
            }
        }
    }
    engine.shutdown();
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    }
    Ok(if info.state == JobState::Done { 0 } else { 1 })
}

/// Shows a job's progress until it ends (a signal cancels it), then its summary.
fn follow(
    engine: &Engine,
    job: &crate::job::Job,
    signals: &crossbeam_channel::Receiver<i32>,
    json: bool,
) -> midictl::protocol::JobInfo {
    let mut panel = Panel::new(json);
    let daemon = engine.daemon_info();
    loop {
        let info = job.info();
        panel.update(Some(&daemon), std::slice::from_ref(&info));
        if info.state.is_final() {
            break;
        }
        if let Ok(sig) = signals.recv_timeout(Duration::from_millis(100)) {
            tracing::info!("signal {sig}: cancelling the job");
            if let Err(e) = engine.cancel(job.id) {
                tracing::warn!("cancelling job {}: {e}", job.id);
            }
        }
    }
    // The writer commits the last rows before the job reads done; its final counts are these.
    let info = job.info();
    panel.finish(&info);
    info
}
