//! `midictl shutdown [--json]`: ask the daemon to stop taking work and exit.

use anyhow::Result;
use midictl::protocol::{Request, Response};

use super::cancel::ok_message;
use super::{request, unexpected, Ctx};

pub fn run(ctx: &mut Ctx) -> Result<()> {
    let mut client = ctx.connect()?;
    match request(&mut client, &Request::Shutdown)? {
        Response::Ok { message } => ok_message(ctx, &message),
        other => Err(unexpected("shutdown", &other)),
    }
}
