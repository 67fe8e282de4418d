//! `midictl`'s library: the wire protocol shared with `midid`, a blocking client, and the
//! progress panel that both `midictl status` and `midid run` draw.

pub mod client;
pub mod progress;
pub mod protocol;

pub use client::{default_socket_path, Client, ClientError};
