//! Readers as the demand signal. Every output path of the engine has a `runOnDemand` hook: when
//! a reader (RTSP, HLS, WebRTC, go2rtc for MSE) asks for a path nobody publishes yet, MediaMTX
//! runs this binary's `engine-hook` and holds the reader until the path is ready (up to
//! [`START_TIMEOUT`]) instead of refusing it. The hook connects to a Unix socket in the private
//! runtime directory, names its path and stays connected until MediaMTX stops it
//! ([`CLOSE_AFTER`] after the path's last reader left); while it is connected the path counts as
//! demanded, so the publisher starts and the held reader gets the stream on its first request.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast;
use tokio::task::JoinSet;

use super::signals::EngineEvent;

pub const SOCKET_NAME: &str = "engine-hooks.sock";
/// Where the hook finds the socket: set in MediaMTX's environment, which its hooks inherit.
pub const SOCKET_ENV: &str = "TOPOSYNC_STREAMING_ENGINE_HOOK_SOCKET";
/// How long MediaMTX holds a reader for the publisher (its default); a cold publisher is ready
/// in a few seconds.
pub const START_TIMEOUT: &str = "10s";
/// How long the hook outlives a path's last reader. Short: the demand book adds its own stop
/// debounce, and a returning reader of a still-publishing path needs no hook at all.
pub const CLOSE_AFTER: &str = "1s";
/// A held reader renews its path's demand this often; the demand book keeps a hint for
/// `HINT_TTL` (4 s), so a few lost renewals change nothing.
const RENEW_EVERY: Duration = Duration::from_secs(1);
/// Hooks connected at once; more are refused (each is one reader-less waiting path).
const MAX_HELD: usize = 1024;
const MAX_PATH_LEN: usize = 256;
const NAME_DEADLINE: Duration = Duration::from_secs(2);

/// The `runOnDemand` command: `binary engine-hook`, quoted for MediaMTX's POSIX-style split.
pub fn command_line(binary: &Path) -> String {
    let quoted = binary.to_string_lossy().replace('\'', r"'\''");
    format!("'{quoted}' engine-hook")
}

/// Binds the hook socket in `runtime_dir` (private: only this user may connect), replacing a
/// stale one from an earlier run.
pub fn bind(runtime_dir: &Path) -> io::Result<(UnixListener, PathBuf)> {
    crate::private_file::bind_socket(runtime_dir, SOCKET_NAME)
}

/// Accepts hooks until dropped (the held connections end with it); each renews its path's
/// demand hint. A path this service does not publish matches no output and demands nothing.
pub async fn serve(listener: UnixListener, events: broadcast::Sender<EngineEvent>) {
    let mut held = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if held.len() < MAX_HELD => {
                    held.spawn(hold(stream, events.clone()));
                }
                Ok(_) => tracing::warn!(limit = MAX_HELD, "too many engine hooks held; one refused"),
                Err(err) => {
                    tracing::warn!(%err, "engine hook socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = held.join_next(), if !held.is_empty() => {}
        }
    }
}

async fn hold(stream: UnixStream, events: broadcast::Sender<EngineEvent>) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let named = tokio::time::timeout(
        NAME_DEADLINE,
        (&mut reader)
            .take(MAX_PATH_LEN as u64 + 1)
            .read_line(&mut line),
    )
    .await;
    let path = line.trim_end_matches('\n');
    if !matches!(named, Ok(Ok(_))) || !line.ends_with('\n') || !is_path_name(path) {
        tracing::debug!("engine hook sent no valid path name; closed");
        return;
    }
    let path = path.to_string();
    tracing::debug!(path, "a reader is held by the engine; demanding its path");
    let mut renew = tokio::time::interval(RENEW_EVERY);
    let mut rest = [0u8; 64];
    loop {
        tokio::select! {
            _ = renew.tick() => {
                let _ = events.send(EngineEvent::DemandHint { path: path.clone() });
            }
            // The hook ended (MediaMTX stopped it), or sent what it should not.
            _ = reader.read(&mut rest) => return,
        }
    }
}

/// An engine path name as this service makes them (see `Transmission::engine_path`).
fn is_path_name(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= MAX_PATH_LEN
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn the_command_survives_quotes_in_the_binary_path() {
        assert_eq!(
            command_line(Path::new("/opt/it's here/toposync-streaming")),
            r"'/opt/it'\''s here/toposync-streaming' engine-hook"
        );
    }

    /// A serving hook socket in a fresh directory: the socket, what it emits, and the server.
    fn serving() -> (
        tempfile::TempDir,
        PathBuf,
        broadcast::Receiver<EngineEvent>,
        crate::supervision::OwnedTask<()>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (listener, socket) = bind(dir.path()).unwrap();
        let (events, heard) = broadcast::channel(16);
        let server = crate::supervision::OwnedTask::spawn(serve(listener, events));
        (dir, socket, heard, server)
    }

    #[tokio::test]
    async fn a_connected_hook_renews_demand_until_it_hangs_up() {
        let (_dir, socket, mut heard, _server) = serving();
        let mut hook = UnixStream::connect(&socket).await.unwrap();
        hook.write_all(b"front-hls\n").await.unwrap();
        for _ in 0..2 {
            let event = tokio::time::timeout(Duration::from_secs(3), heard.recv())
                .await
                .unwrap()
                .unwrap();
            assert!(matches!(event, EngineEvent::DemandHint { ref path } if path == "front-hls"));
        }
        drop(hook);
        // Allow a renewal already on its way, then nothing more.
        tokio::time::sleep(RENEW_EVERY / 2).await;
        while heard.try_recv().is_ok() {}
        assert!(
            tokio::time::timeout(RENEW_EVERY * 2, heard.recv())
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_hook_naming_no_valid_path_demands_nothing() {
        let (_dir, socket, mut heard, _server) = serving();
        for garbage in [&b"../etc passwd\n"[..], &[b'a'; 400][..], b"no newline"] {
            let mut hook = UnixStream::connect(&socket).await.unwrap();
            hook.write_all(garbage).await.unwrap();
            hook.shutdown().await.unwrap();
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(500), heard.recv())
                .await
                .is_err()
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "only this user may connect");
    }
}
