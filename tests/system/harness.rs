//! `Dir` (a temp tree with a running daemon) and `ctl` (a `midictl` invocation), in the spirit of
//! ripgrep's test helpers: each test says what it does, the harness hides process plumbing.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

pub fn midid_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_midid"))
}

/// `midictl` is another package's binary: it sits beside `midid` in the target dir once the
/// workspace is built (`cargo test --workspace` builds it); build it here if it is missing.
pub fn midictl_bin() -> PathBuf {
    let p = midid_bin().with_file_name("midictl");
    if !p.exists() {
        let status = Command::new(env!("CARGO")).args(["build", "-p", "midictl"]).status().expect("building midictl");
        assert!(status.success(), "cargo build -p midictl failed");
    }
    p
}

pub struct Dir {
    pub root: tempfile::TempDir,
    pub daemon: Option<Child>,
}

impl Dir {
    pub fn new() -> Dir {
        Dir { root: tempfile::tempdir().expect("tempdir"), daemon: None }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn socket(&self) -> PathBuf {
        self.path("midid.sock")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.path("data")
    }

    /// Where the object store keeps the object named `hex`.
    pub fn object_path(&self, hex: &str) -> PathBuf {
        self.data_dir().join("objects").join(&hex[..2]).join(format!("{hex}.mid"))
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, bytes).expect("write");
        p
    }

    /// Starts `midid serve` and waits until it answers a request.
    pub fn start(&mut self) {
        self.start_with(&[]);
    }

    pub fn start_with(&mut self, extra: &[&str]) {
        let log = std::fs::File::create(self.path("midid.log")).expect("log file");
        // Two shards unless the test chooses.
        let shards: &[&str] = if extra.contains(&"--shards") { &[] } else { &["--shards", "2"] };
        let child = Command::new(midid_bin())
            .arg("serve")
            .arg("--socket")
            .arg(self.socket())
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(shards)
            .args(extra)
            .env("MIDID_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawning midid");
        self.daemon = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            // A connect can succeed on the listen backlog before the engine has started (the
            // socket is bound first); a status reply means the daemon is up, its data dir locked.
            if UnixStream::connect(self.socket()).is_ok() && self.ctl(&["status", "--json"]).status.success() {
                return;
            }
            if let Some(Ok(Some(status))) = self.daemon.as_mut().map(|c| c.try_wait()) {
                panic!("midid exited early with {status}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("midid did not open its socket: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("midid.log")).unwrap_or_default()
    }

    /// Waits for the daemon to exit (after a shutdown request or a signal).
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let mut child = self.daemon.take().expect("daemon running");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("midid did not exit: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(midictl_bin())
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running midictl")
    }

    /// Runs midictl, requires exit 0, parses stdout as JSON.
    pub fn ctl_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "midictl {args:?} failed ({}): {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("midictl {args:?}: not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// Runs midictl and parses stdout as JSON whatever the exit code, which it returns beside.
    pub fn ctl_json_exit(&self, args: &[&str]) -> (Option<i32>, serde_json::Value) {
        let out = self.ctl(args);
        let doc = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("midictl {args:?}: not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
        (out.status.code(), doc)
    }

    /// Writes `bytes` into the store under its content id, as a stray object (no row), aged `by`.
    pub fn plant(&self, bytes: &[u8], by: Duration) -> PathBuf {
        let hex = midid::dedupe::to_hex(&midid::dedupe::content_id(bytes));
        let path = self.object_path(&hex);
        std::fs::create_dir_all(path.parent().expect("fan-out folder")).expect("mkdir");
        std::fs::write(&path, bytes).expect("plant");
        age(&path, by);
        path
    }

    pub fn catalog(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.data_dir().join("catalog.db")).expect("open catalog")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Older than gc's grace period (one hour) by a wide margin.
pub const OLD: Duration = Duration::from_secs(3 * 86_400);

/// Sets `path`'s mtime `by` into the past, so gc's grace period no longer protects it.
pub fn age(path: &Path, by: Duration) {
    let f = std::fs::File::options().write(true).open(path).expect("open for mtime");
    f.set_modified(SystemTime::now() - by).expect("set mtime");
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}
