//! A blocking client for the control socket: connect, handshake, one request at a time.
//!
//! Blocking on purpose: `midictl` makes a handful of requests per run, and a blocking client keeps
//! every async runtime out of the client binary.

use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::protocol::{read_frame, write_frame, FrameError, Hello, HelloReply, Request, Response, PROTOCOL_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket (missing file, refused, stale): exit code 3.
    #[error("daemon not reachable at {path}: {source}")]
    Unreachable { path: PathBuf, source: io::Error },
    #[error("daemon at {path} speaks protocol {theirs}, this midictl speaks {ours}: {message}")]
    Version { path: PathBuf, ours: u32, theirs: u32, message: String },
    #[error("talking to the daemon at {path}: {source}")]
    Frame { path: PathBuf, source: FrameError },
}

impl ClientError {
    /// True when the daemon could not be reached at all (DESIGN section 6: exit code 3).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. } | ClientError::Frame { source: FrameError::Closed, .. })
    }
}

pub struct Client {
    stream: UnixStream,
    path: PathBuf,
    pub daemon_version: String,
}

impl Client {
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path)
            .map_err(|source| ClientError::Unreachable { path: path.to_path_buf(), source })?;
        // A daemon that accepts but never answers must not hang a script forever.
        let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
        let mut client = Client { stream, path: path.to_path_buf(), daemon_version: String::new() };
        client.send(&Hello { protocol: PROTOCOL_VERSION, client: format!("midictl {}", env!("CARGO_PKG_VERSION")) })?;
        let reply: HelloReply = client.recv()?;
        if !reply.ok || reply.protocol != PROTOCOL_VERSION {
            return Err(ClientError::Version {
                path: client.path.clone(),
                ours: PROTOCOL_VERSION,
                theirs: reply.protocol,
                message: reply.error.unwrap_or_default(),
            });
        }
        client.daemon_version = reply.daemon;
        Ok(client)
    }

    /// How long a reply may take; None waits for as long as the daemon works. For requests whose
    /// work grows with the store (`gc`, `verify`): a daemon that dies closes the socket, which
    /// still ends the wait.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        let _ = self.stream.set_read_timeout(timeout);
    }

    pub fn request(&mut self, req: &Request) -> Result<Response, ClientError> {
        self.send(req)?;
        self.recv()
    }

    fn send<T: serde::Serialize>(&mut self, msg: &T) -> Result<(), ClientError> {
        write_frame(&mut self.stream, msg).map_err(|source| ClientError::Frame { path: self.path.clone(), source })
    }

    fn recv<T: for<'de> serde::Deserialize<'de>>(&mut self) -> Result<T, ClientError> {
        read_frame(&mut self.stream).map_err(|source| ClientError::Frame { path: self.path.clone(), source })
    }
}

/// The socket path of DESIGN section 5: `--socket`, else `$MIDID_SOCKET`, else
/// `$XDG_RUNTIME_DIR/midid/midid.sock`, else `/run/midid/midid.sock`.
/// (`--socket` and `$MIDID_SOCKET` arrive together through clap's `env`.)
pub fn default_socket_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("midid").join("midid.sock");
    }
    PathBuf::from("/run/midid/midid.sock")
}
