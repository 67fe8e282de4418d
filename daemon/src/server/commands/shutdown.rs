//! `shutdown`: reply first, then tell the main thread to stop (it drains and commits).

use crossbeam_channel::Sender;
use midictl::protocol::Response;

pub fn handle(shutdown: &Sender<()>) -> Response {
    let _ = shutdown.try_send(());
    Response::Ok { message: "shutting down".into() }
}
