//! `toposync-streaming engine-hook`: what MediaMTX runs (`runOnDemand`) when a reader asks for
//! a path nobody publishes yet. It names the path (`MTX_PATH`) on the service's hook socket and
//! stays connected while the engine holds readers for it; the service demands the path for as
//! long (see `toposync_actors::engine::hooks`). It ends when MediaMTX stops it (SIGINT), when the
//! service hangs up, or when MediaMTX dies (its parent changes), so none outlives either.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use toposync_actors::engine::hooks::SOCKET_ENV;

/// How often an orphaned hook notices that MediaMTX is gone.
const PARENT_CHECK: Duration = Duration::from_secs(1);

pub fn run() -> Result<(), String> {
    let path = std::env::var("MTX_PATH").map_err(|_| "MTX_PATH is not set".to_string())?;
    let socket = std::env::var_os(SOCKET_ENV).ok_or(format!("{SOCKET_ENV} is not set"))?;
    let engine = std::os::unix::process::parent_id();
    let mut service = UnixStream::connect(&socket)
        .map_err(|err| format!("cannot reach the service's hook socket: {err}"))?;
    service
        .write_all(format!("{path}\n").as_bytes())
        .map_err(|err| format!("cannot name the path: {err}"))?;
    service
        .set_read_timeout(Some(PARENT_CHECK))
        .map_err(|err| err.to_string())?;
    let mut byte = [0u8; 1];
    loop {
        match service.read(&mut byte) {
            // The service hung up, or said something a hook never expects.
            Ok(_) => return Ok(()),
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if std::os::unix::process::parent_id() != engine {
                    return Ok(());
                }
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err.to_string()),
        }
    }
}
