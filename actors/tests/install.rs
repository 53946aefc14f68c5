//! Release install against a local HTTP mirror laid out like GitHub releases.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;
use sha2::{Digest, Sha256};
use toposync_actors::engine::install::{InstallError, Platform, Progress, Release, hex};

const ASSET: &str = "mediamtx_v9.9.9_linux_amd64.tar.gz";

/// Serves files from `root` at `/{version}/{file}`, as a release mirror does.
async fn mirror(root: PathBuf) -> String {
    async fn file(
        State(root): State<PathBuf>,
        UrlPath((version, name)): UrlPath<(String, String)>,
    ) -> Result<Vec<u8>, StatusCode> {
        std::fs::read(root.join(version).join(name)).map_err(|_| StatusCode::NOT_FOUND)
    }
    let app = Router::new()
        .route("/{version}/{name}", get(file))
        .with_state(root);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

fn release(base_url: String, cache: &Path) -> Release {
    Release {
        binary: "mediamtx",
        packaging: toposync_actors::engine::install::Packaging::TarGz,
        explicit_env: "TOPOSYNC_STREAMING_ENGINE_PATH",
        expected_sha256: None,
        version: "v9.9.9".into(),
        explicit_path: None,
        cache_root: cache.to_path_buf(),
        base_url,
        platform: Platform {
            os: "linux",
            arch: "amd64",
        },
    }
}

fn tarball(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        // Written raw so tests can build the malicious names a real attacker would.
        header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// Publishes `archive` as the asset with a checksums file declaring `declared_digest`.
fn publish(root: &Path, archive: &[u8], declared_digest: Option<String>) {
    let dir = root.join("v9.9.9");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(ASSET), archive).unwrap();
    let digest = declared_digest.unwrap_or_else(|| hex(&Sha256::digest(archive)));
    std::fs::write(
        dir.join("checksums.sha256"),
        format!(
            "{}  mediamtx_v9.9.9_darwin_arm64.tar.gz\n{digest}  {ASSET}\n",
            "0".repeat(64)
        ),
    )
    .unwrap();
}

fn leftovers(cache: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![cache.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else {
                found.push(entry.path());
            }
        }
    }
    found
}

#[tokio::test]
async fn a_verified_release_is_installed_executable() {
    let mirror_dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let archive = tarball(&[
        ("mediamtx_v9.9.9/LICENSE", b"MIT"),
        ("mediamtx_v9.9.9/mediamtx", b"#!/bin/sh\necho engine\n"),
    ]);
    publish(mirror_dir.path(), &archive, None);
    let release = release(mirror(mirror_dir.path().to_path_buf()).await, cache.path());
    assert_eq!(release.installed().unwrap(), None);

    let progress = Arc::new(Progress::default());
    let path = release.ensure(progress.clone()).await.unwrap();
    assert_eq!(path, release.cached_binary());
    assert_eq!(std::fs::read(&path).unwrap(), b"#!/bin/sh\necho engine\n");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o111,
        0o111
    );
    let view = progress.view();
    assert_eq!(
        (view.active, view.bytes, view.total),
        (false, archive.len() as u64, Some(archive.len() as u64))
    );
    assert_eq!(
        leftovers(cache.path()),
        vec![path.clone()],
        "no temp files left"
    );
    assert_eq!(
        release.installed().unwrap(),
        Some(path),
        "the cache is used next time"
    );
}

async fn install_fails(
    archive: Vec<u8>,
    declared: Option<String>,
) -> (InstallError, tempfile::TempDir) {
    let mirror_dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    publish(mirror_dir.path(), &archive, declared);
    let release = release(mirror(mirror_dir.path().to_path_buf()).await, cache.path());
    let err = release
        .ensure(Arc::new(Progress::default()))
        .await
        .unwrap_err();
    assert_eq!(
        release.installed().unwrap(),
        None,
        "nothing installed after {err:?}"
    );
    assert_eq!(
        leftovers(cache.path()),
        Vec::<PathBuf>::new(),
        "no partial files after {err:?}"
    );
    (err, cache)
}

#[tokio::test]
async fn a_wrong_checksum_installs_nothing() {
    let (err, _) = install_fails(tarball(&[("mediamtx", b"x")]), Some("f".repeat(64))).await;
    let InstallError::Checksum(msg) = err else {
        panic!("{err:?}")
    };
    assert!(
        msg.starts_with(&format!(
            "mediamtx download SHA256 mismatch: expected {}",
            "f".repeat(64)
        )),
        "{msg}"
    );
}

#[tokio::test]
async fn a_truncated_archive_installs_nothing() {
    let mut archive = tarball(&[("mediamtx", &vec![7u8; 200_000])]);
    archive.truncate(archive.len() / 2);
    let (err, _) = install_fails(archive, None).await;
    assert!(matches!(err, InstallError::Archive(_)), "{err:?}");
}

#[tokio::test]
async fn an_archive_escaping_the_target_is_refused() {
    let (err, cache) =
        install_fails(tarball(&[("../../evil", b"x"), ("mediamtx", b"x")]), None).await;
    let InstallError::Archive(msg) = err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("escapes"), "{msg}");
    assert!(!cache.path().join("evil").exists());
}

#[tokio::test]
async fn an_archive_without_the_binary_is_refused() {
    let (err, _) = install_fails(tarball(&[("README.md", b"x")]), None).await;
    assert_eq!(
        err,
        InstallError::Archive("mediamtx not found in the archive".into())
    );
}

#[tokio::test]
async fn an_unreachable_mirror_is_a_clear_error() {
    let cache = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let release = release(mirror(empty.path().to_path_buf()).await, cache.path());
    let err = release
        .ensure(Arc::new(Progress::default()))
        .await
        .unwrap_err();
    let InstallError::Download(msg) = err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("checksums.sha256 (HTTP 404)"), "{msg}");
}

#[tokio::test]
async fn an_explicit_path_wins_and_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let mut release = release("http://127.0.0.1:1".into(), dir.path());
    release.explicit_path = Some(dir.path().to_path_buf());
    assert!(matches!(
        release.installed(),
        Err(InstallError::MissingExplicit(_))
    ));
    std::fs::write(dir.path().join("mediamtx"), b"x").unwrap();
    assert_eq!(
        release.installed().unwrap(),
        Some(dir.path().join("mediamtx"))
    );
}

/// go2rtc ships a bare executable and no checksums file: the digest comes from the environment
/// (`TOPOSYNC_STREAMING_GO2RTC_SHA256`), and a wrong one installs nothing.
#[tokio::test]
async fn a_raw_binary_is_verified_against_a_given_digest() {
    use toposync_actors::engine::install::Packaging;
    let mirror_dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let binary = b"#!/bin/sh\necho sidecar\n";
    std::fs::create_dir_all(mirror_dir.path().join("v9.9.9")).unwrap();
    std::fs::write(mirror_dir.path().join("v9.9.9/go2rtc_linux_amd64"), binary).unwrap();
    let base = mirror(mirror_dir.path().to_path_buf()).await;
    let go2rtc = |digest: String| Release {
        binary: "go2rtc",
        packaging: Packaging::Raw,
        explicit_env: "TOPOSYNC_STREAMING_GO2RTC_PATH",
        expected_sha256: Some(digest),
        ..release(base.clone(), cache.path())
    };

    let wrong = go2rtc("0".repeat(64));
    let err = wrong
        .ensure(Arc::new(Progress::default()))
        .await
        .unwrap_err();
    assert!(matches!(err, InstallError::Checksum(_)), "{err}");
    assert!(
        leftovers(cache.path()).is_empty(),
        "nothing half-installed: {:?}",
        leftovers(cache.path())
    );

    let right = go2rtc(hex(&Sha256::digest(binary)));
    let path = right.ensure(Arc::new(Progress::default())).await.unwrap();
    assert_eq!(
        path,
        cache
            .path()
            .join("streaming/go2rtc/v9.9.9/linux-x64/go2rtc")
    );
    assert_eq!(std::fs::read(&path).unwrap(), binary);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o111,
        0o111
    );
}
