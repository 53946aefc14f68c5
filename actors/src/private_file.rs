//! Files that hold secrets (credentials, keys, the settings document, engine configs): written
//! atomically (a temp file beside the target, fsync, rename, fsync of the directory), readable
//! by the service's user only (0600), in directories only it can enter (0700).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and its parents) and makes it 0700.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// `<data dir>/runtime/streaming`: engine config, logs, sockets and secrets.
pub fn runtime_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("runtime").join("streaming")
}

/// The longest Unix socket path this service binds (`sun_path` holds 108 bytes).
const MAX_SOCKET_PATH: usize = 100;

/// Binds a Unix socket `name` in `dir` that only this user may connect to (the socket 0600, the
/// directory 0700), replacing a stale one from an earlier run.
pub fn bind_socket(
    dir: &Path,
    name: &str,
) -> io::Result<(tokio::net::UnixListener, std::path::PathBuf)> {
    let socket = dir.join(name);
    if socket.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the socket path {} is too long", socket.display()),
        ));
    }
    ensure_dir(dir)?;
    match fs::remove_file(&socket) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    let listener = tokio::net::UnixListener::bind(&socket)?;
    fs::set_permissions(&socket, fs::Permissions::from_mode(0o600))?;
    Ok((listener, socket))
}

/// Replaces `path` with `bytes`, atomically, mode 0600; its directory is made 0700.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    ensure_dir(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        // An existing temp file keeps its old mode through `open`; make sure.
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_files_and_their_directory_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/secret.json");
        write(&path, b"one").unwrap();
        write(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file left");
    }
}
