//! The control socket: a Unix socket speaking the framed JSON protocol of `midictl::protocol`.
//!
//! One thread accepts, one thread serves each connection (control traffic is a few requests per
//! second; threads keep it simple and let a slow client never stall another). A connection that
//! sends garbage, an oversized frame or an unknown command gets an error reply; only the
//! connection ends, never the daemon. At bind time a leftover socket file is probed: if a daemon
//! answers, we refuse to start; if nothing answers, the stale file is replaced.

mod commands;

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;
use midictl::protocol::{
    read_frame, read_frame_bytes, write_frame, ErrorKind, FrameError, Hello, HelloReply, Request, Response,
    PROTOCOL_VERSION,
};

use crate::engine::Engine;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("another midid is already listening on {0}")]
    InUse(PathBuf),
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: io::Error },
}

/// Most connections served at once; more get an error reply and are closed.
const MAX_CONNECTIONS: usize = 128;

/// Binds the socket, replacing a stale one, with mode 0660.
pub fn bind(path: &Path) -> Result<UnixListener, ServerError> {
    let io_err = |op: &'static str| move |source| ServerError::Io { op, path: path.to_path_buf(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err("creating the socket directory for"))?;
    }
    if path.exists() {
        match UnixStream::connect(path) {
            Ok(_) => return Err(ServerError::InUse(path.to_path_buf())),
            Err(_) => {
                tracing::info!("replacing stale socket {}", path.display());
                std::fs::remove_file(path).map_err(io_err("removing stale socket"))?;
            }
        }
    }
    let listener = UnixListener::bind(path).map_err(io_err("binding"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(io_err("setting mode of"))?;
    Ok(listener)
}

/// Who may talk to us: root, our own user, or members of the socket's group (the mode already
/// says so; SO_PEERCRED makes it explicit and survives a socket file with looser permissions).
fn peer_allowed(stream: &UnixStream, socket_gid: u32) -> bool {
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: cred and len are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return false;
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    cred.uid == 0 || cred.uid == me || cred.gid == socket_gid
}

pub struct Server {
    pub engine: Arc<Engine>,
    pub path: PathBuf,
    /// Told when a client asks for shutdown.
    pub shutdown: Sender<()>,
    pub stopping: Arc<AtomicBool>,
}

impl Server {
    /// Accepts until `stopping` is set (the caller then connects once to wake the accept).
    pub fn run(self: Arc<Self>, listener: UnixListener) {
        let socket_gid = std::fs::metadata(&self.path).map(|m| m.gid()).unwrap_or(u32::MAX);
        let active = Arc::new(AtomicUsize::new(0));
        for conn in listener.incoming() {
            if self.stopping.load(Ordering::SeqCst) {
                break;
            }
            let mut stream = match conn {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("accept on {}: {e}", self.path.display());
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            if !peer_allowed(&stream, socket_gid) {
                tracing::warn!("refused a connection from a peer without access");
                continue;
            }
            if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                let _ = write_frame(&mut stream, &refusal("too many connections"));
                continue;
            }
            active.fetch_add(1, Ordering::SeqCst);
            let (me, active) = (Arc::clone(&self), Arc::clone(&active));
            let spawned = std::thread::Builder::new().name("control-conn".into()).spawn(move || {
                me.serve_connection(stream);
                active.fetch_sub(1, Ordering::SeqCst);
            });
            if spawned.is_err() {
                tracing::error!("could not start a connection thread");
            }
        }
    }

    fn serve_connection(&self, mut stream: UnixStream) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(3600)));
        let hello: Hello = match read_frame(&mut stream) {
            Ok(h) => h,
            Err(e) => {
                let _ = write_frame(&mut stream, &refusal(&format!("expected a hello frame: {e}")));
                return;
            }
        };
        let ok = hello.protocol == PROTOCOL_VERSION;
        let reply = HelloReply {
            ok,
            protocol: PROTOCOL_VERSION,
            daemon: format!("midid {}", env!("CARGO_PKG_VERSION")),
            error: (!ok)
                .then(|| format!("protocol {} not supported; this daemon speaks {PROTOCOL_VERSION}", hello.protocol)),
        };
        if write_frame(&mut stream, &reply).is_err() || !ok {
            return;
        }
        loop {
            let body = match read_frame_bytes(&mut stream) {
                Ok(b) => b,
                Err(FrameError::Closed) => return,
                Err(e @ FrameError::TooLarge { .. }) => {
                    // The stream cannot be resynchronised after an oversized frame: answer, close.
                    let _ = write_frame(&mut stream, &error(ErrorKind::BadRequest, e.to_string()));
                    return;
                }
                Err(e) => {
                    tracing::debug!("control connection: {e}");
                    return;
                }
            };
            let response = match serde_json::from_slice::<Request>(&body) {
                Ok(req) => self.dispatch(req),
                Err(e) => error(ErrorKind::BadRequest, format!("malformed or unknown request: {e}")),
            };
            if write_frame(&mut stream, &response).is_err() {
                return;
            }
        }
    }

    fn dispatch(&self, req: Request) -> Response {
        let engine = &self.engine;
        match req {
            Request::Import { paths } => commands::import::handle(engine, paths, &self.stopping),
            Request::Status { job } => commands::status::handle(engine, job),
            Request::Jobs => commands::jobs::handle(engine),
            Request::Cancel { job } => commands::cancel::handle(engine, job),
            Request::Rejects { job, limit } => commands::rejects::handle(engine, job, limit),
            Request::Show { hash } => commands::show::handle(engine, &hash),
            Request::Search { query, sort, limit } => commands::search::handle(engine, &query, sort.as_deref(), limit),
            Request::Dupes { tier, limit } => commands::dupes::handle(engine, tier, limit),
            Request::Rename { template, limit } => commands::rename::handle(engine, &template, limit),
            Request::Shutdown => commands::shutdown::handle(&self.shutdown),
            Request::Gc { dry_run } => commands::gc::handle(engine, dry_run),
            Request::Verify => commands::verify::handle(engine),
            Request::Export { target, to, query, rename, template, dry_run } => {
                let req = commands::export::Fields { target, to, query, rename, template, dry_run };
                commands::export::handle(engine, req, &self.stopping)
            }
        }
    }
}

pub(crate) fn error(kind: ErrorKind, message: impl Into<String>) -> Response {
    Response::Error { kind, message: message.into() }
}

fn refusal(message: &str) -> HelloReply {
    HelloReply {
        ok: false,
        protocol: PROTOCOL_VERSION,
        daemon: format!("midid {}", env!("CARGO_PKG_VERSION")),
        error: Some(message.to_string()),
    }
}

/// Maps an engine failure onto the protocol's error kinds.
pub(crate) fn engine_error(e: crate::engine::EngineError) -> Response {
    use crate::engine::EngineError as E;
    let kind = match &e {
        E::NoSuchJob(_) => ErrorKind::NotFound,
        E::ShuttingDown | E::Hygiene(crate::hygiene::HygieneError::Stopped) => ErrorKind::ShuttingDown,
        E::Path { .. } | E::BadRequest(_) => ErrorKind::BadRequest,
        _ => ErrorKind::Failed,
    };
    error(kind, e.to_string())
}
