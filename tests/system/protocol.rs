//! The control socket under abuse: many clients, malformed and oversized frames, stale sockets.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;

use midictl::protocol::{read_frame, write_frame, Hello, HelloReply, Response, MAX_FRAME, PROTOCOL_VERSION};

use crate::harness::{path_str, Dir};

fn handshake(dir: &Dir) -> UnixStream {
    let mut s = UnixStream::connect(dir.socket()).expect("connect");
    write_frame(&mut s, &Hello { protocol: PROTOCOL_VERSION, client: "test".into() }).expect("hello");
    let reply: HelloReply = read_frame(&mut s).expect("hello reply");
    assert!(reply.ok);
    s
}

#[test]
fn malformed_unknown_and_oversized_requests_get_errors_and_the_daemon_keeps_serving() {
    let mut dir = Dir::new();
    dir.start();
    let mut s = handshake(&dir);
    // Not JSON.
    s.write_all(&5u32.to_be_bytes()).unwrap();
    s.write_all(b"{{{{{").unwrap();
    assert!(matches!(read_frame::<_, Response>(&mut s).unwrap(), Response::Error { .. }));
    // Unknown command: same connection still works.
    write_frame(&mut s, &serde_json::json!({"cmd": "format_disk"})).unwrap();
    assert!(matches!(read_frame::<_, Response>(&mut s).unwrap(), Response::Error { .. }));
    write_frame(&mut s, &serde_json::json!({"cmd": "jobs"})).unwrap();
    assert!(matches!(read_frame::<_, Response>(&mut s).unwrap(), Response::Jobs { .. }));
    // Oversized: an error reply, then the connection closes.
    s.write_all(&(MAX_FRAME + 1).to_be_bytes()).unwrap();
    assert!(matches!(read_frame::<_, Response>(&mut s).unwrap(), Response::Error { .. }));
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    // A wrong protocol version is refused with a reason.
    let mut old = UnixStream::connect(dir.socket()).unwrap();
    write_frame(&mut old, &Hello { protocol: PROTOCOL_VERSION + 100, client: "old".into() }).unwrap();
    let reply: HelloReply = read_frame(&mut old).unwrap();
    assert!(!reply.ok && reply.error.is_some());
    // Garbage instead of a hello.
    let mut g = UnixStream::connect(dir.socket()).unwrap();
    g.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    drop(g);
    // Still serving.
    dir.ctl_json(&["status", "--json"]);
}

#[test]
fn many_clients_at_once() {
    let mut dir = Dir::new();
    midid::gen::generate(
        &dir.path("corpus"),
        &midid::gen::GenSpec { count: 400, duplicate_share: 0.2, damaged_share: 0.0, seed: 5 },
    )
    .expect("generate");
    dir.start();
    let corpus = dir.path("corpus");
    std::thread::scope(|s| {
        let importer = s.spawn(|| dir.ctl_json(&["import", path_str(&corpus), "--wait", "--json"]));
        let readers: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..10 {
                        dir.ctl_json(&["status", "--json"]);
                        dir.ctl_json(&["search", "--limit", "5", "--json"]);
                    }
                })
            })
            .collect();
        for r in readers {
            r.join().expect("reader thread");
        }
        let job = importer.join().expect("importer");
        assert_eq!(job["state"], "done");
    });
}

#[test]
fn stale_socket_is_replaced_live_one_is_not() {
    let mut dir = Dir::new();
    // A stale socket file: bound once, nobody listening.
    drop(std::os::unix::net::UnixListener::bind(dir.socket()).unwrap());
    assert!(dir.socket().exists());
    dir.start();
    dir.ctl_json(&["status", "--json"]);
    let mode = std::fs::metadata(dir.socket()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "socket mode");
    // A second daemon on the same live socket must refuse and leave the first one alone.
    let out = std::process::Command::new(crate::harness::midid_bin())
        .args(["serve", "--socket", path_str(&dir.socket()), "--data-dir", path_str(&dir.path("data2"))])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already listening"));
    dir.ctl_json(&["status", "--json"]);
}

#[test]
fn unreachable_daemon_exits_3() {
    let dir = Dir::new();
    let out = dir.ctl(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
}
