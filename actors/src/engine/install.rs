//! Finding, downloading and installing a release binary (MediaMTX, go2rtc): an explicit path from
//! the environment, else the version cache, else the release download verified against a
//! SHA-256 (the release's `checksums.sha256`, or a digest given in the environment), extracted
//! safely when it is an archive, and installed atomically.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// What to install and from where. Environment overrides are read by [`Release::from_env`].
#[derive(Debug, Clone)]
pub struct Release {
    /// File name of the executable (`mediamtx`).
    pub binary: &'static str,
    /// How the release ships it.
    pub packaging: Packaging,
    /// The variable that names an explicit binary (for error messages).
    pub explicit_env: &'static str,
    /// A digest to verify against instead of the release's `checksums.sha256`.
    pub expected_sha256: Option<String>,
    pub version: String,
    /// An explicit binary (or a directory holding it): no cache, no download.
    pub explicit_path: Option<PathBuf>,
    /// Root of the version cache (`<root>/streaming/<binary>/<version>/<platform>/<binary>`).
    pub cache_root: PathBuf,
    /// Release base; assets are at `{base}/{version}/{asset}`.
    pub base_url: String,
    pub platform: Platform,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packaging {
    /// `<binary>_<version>_<os>_<arch>.tar.gz` holding the binary (MediaMTX).
    TarGz,
    /// The bare executable `<binary>_<os>_<arch>` (go2rtc on Linux).
    Raw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Platform {
    pub os: &'static str,
    /// Architecture as release assets name it (`amd64`, `arm64`).
    pub arch: &'static str,
}

impl Platform {
    pub fn current() -> Result<Platform, InstallError> {
        let os = match std::env::consts::OS {
            "linux" => "linux",
            "macos" => "darwin",
            other => {
                return Err(InstallError::Unsupported(format!(
                    "operating system {other}"
                )));
            }
        };
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => return Err(InstallError::Unsupported(format!("architecture {other}"))),
        };
        Ok(Platform { os, arch })
    }

    /// Cache folder name, as the original: `linux-x64`, `linux-arm64`.
    pub fn key(&self) -> String {
        let arch = if self.arch == "amd64" {
            "x64"
        } else {
            self.arch
        };
        format!("{}-{arch}", self.os)
    }
}

/// Download progress, shared with the status endpoint while a download runs.
#[derive(Debug, Default)]
pub struct Progress {
    pub active: AtomicBool,
    pub bytes: AtomicU64,
    /// 0 while unknown.
    pub total: AtomicU64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ProgressView {
    pub active: bool,
    pub bytes: u64,
    pub total: Option<u64>,
}

impl Progress {
    pub fn view(&self) -> ProgressView {
        let total = self.total.load(Ordering::Relaxed);
        ProgressView {
            active: self.active.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            total: (total > 0).then_some(total),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallError {
    Unsupported(String),
    /// The explicit path from the environment does not exist.
    MissingExplicit(String),
    Download(String),
    Checksum(String),
    Archive(String),
    Io(String),
}

impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstallError::Unsupported(what) => write!(f, "unsupported platform: {what}"),
            InstallError::MissingExplicit(msg)
            | InstallError::Download(msg)
            | InstallError::Checksum(msg)
            | InstallError::Archive(msg)
            | InstallError::Io(msg) => write!(f, "{msg}"),
        }
    }
}

impl From<io::Error> for InstallError {
    fn from(err: io::Error) -> Self {
        InstallError::Io(err.to_string())
    }
}

impl Release {
    /// MediaMTX as configured by `TOPOSYNC_STREAMING_ENGINE_PATH`,
    /// `TOPOSYNC_STREAMING_ENGINE_CACHE_DIR` and `TOPOSYNC_STREAMING_ENGINE_DOWNLOAD_BASE_URL`.
    pub fn mediamtx(version: &str) -> Result<Release, InstallError> {
        Ok(Release {
            binary: "mediamtx",
            packaging: Packaging::TarGz,
            explicit_env: "TOPOSYNC_STREAMING_ENGINE_PATH",
            expected_sha256: None,
            version: version.to_string(),
            explicit_path: env_path("TOPOSYNC_STREAMING_ENGINE_PATH"),
            cache_root: env_path("TOPOSYNC_STREAMING_ENGINE_CACHE_DIR")
                .unwrap_or_else(|| home().join(".toposync").join("runtime")),
            base_url: std::env::var("TOPOSYNC_STREAMING_ENGINE_DOWNLOAD_BASE_URL")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| {
                    "https://github.com/bluenviron/mediamtx/releases/download".into()
                })
                .trim_end_matches('/')
                .to_string(),
            platform: Platform::current()?,
        })
    }

    /// go2rtc as configured by `TOPOSYNC_STREAMING_GO2RTC_PATH`,
    /// `TOPOSYNC_STREAMING_GO2RTC_CACHE_DIR`, `TOPOSYNC_STREAMING_GO2RTC_DOWNLOAD_BASE_URL` and
    /// `TOPOSYNC_STREAMING_GO2RTC_SHA256` (go2rtc releases publish no checksums file, so a
    /// download needs either that digest or a mirror that serves `checksums.sha256`).
    pub fn go2rtc(version: &str) -> Result<Release, InstallError> {
        Ok(Release {
            binary: "go2rtc",
            packaging: Packaging::Raw,
            explicit_env: "TOPOSYNC_STREAMING_GO2RTC_PATH",
            expected_sha256: std::env::var("TOPOSYNC_STREAMING_GO2RTC_SHA256")
                .ok()
                .map(|d| d.trim().to_ascii_lowercase())
                .filter(|d| !d.is_empty()),
            version: version.to_string(),
            explicit_path: env_path("TOPOSYNC_STREAMING_GO2RTC_PATH"),
            cache_root: env_path("TOPOSYNC_STREAMING_GO2RTC_CACHE_DIR")
                .unwrap_or_else(|| home().join(".toposync").join("runtime")),
            base_url: std::env::var("TOPOSYNC_STREAMING_GO2RTC_DOWNLOAD_BASE_URL")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "https://github.com/AlexxIT/go2rtc/releases/download".into())
                .trim_end_matches('/')
                .to_string(),
            platform: Platform::current()?,
        })
    }

    /// `mediamtx_v1.16.2_linux_amd64.tar.gz`, `go2rtc_linux_amd64`.
    pub fn asset(&self) -> String {
        match self.packaging {
            Packaging::TarGz => format!(
                "{}_{}_{}_{}.tar.gz",
                self.binary, self.version, self.platform.os, self.platform.arch
            ),
            Packaging::Raw => {
                let os = if self.platform.os == "darwin" {
                    "mac"
                } else {
                    self.platform.os
                };
                format!("{}_{os}_{}", self.binary, self.platform.arch)
            }
        }
    }

    pub fn install_dir(&self) -> PathBuf {
        self.cache_root
            .join("streaming")
            .join(self.binary)
            .join(&self.version)
            .join(self.platform.key())
    }

    pub fn cached_binary(&self) -> PathBuf {
        self.install_dir().join(self.binary)
    }

    /// The binary to run if one is available without downloading.
    pub fn installed(&self) -> Result<Option<PathBuf>, InstallError> {
        if let Some(path) = &self.explicit_path {
            let path = if path.is_dir() {
                path.join(self.binary)
            } else {
                path.clone()
            };
            return if path.is_file() {
                Ok(Some(path))
            } else {
                Err(InstallError::MissingExplicit(format!(
                    "{} points to a missing {} binary: {}",
                    self.explicit_env,
                    self.binary,
                    path.display()
                )))
            };
        }
        let cached = self.cached_binary();
        Ok(cached.is_file().then_some(cached))
    }

    /// Returns the installed binary, downloading it first when needed.
    pub async fn ensure(&self, progress: Arc<Progress>) -> Result<PathBuf, InstallError> {
        if let Some(path) = self.installed()? {
            return Ok(path);
        }
        progress.active.store(true, Ordering::Relaxed);
        let result = self.download(&progress).await;
        progress.active.store(false, Ordering::Relaxed);
        result
    }

    async fn download(&self, progress: &Progress) -> Result<PathBuf, InstallError> {
        let client = http_client()?;
        let asset = self.asset();
        let expected = match &self.expected_sha256 {
            Some(digest) => digest.clone(),
            None => {
                let checksums_url = format!("{}/{}/checksums.sha256", self.base_url, self.version);
                let checksums = fetch(&client, &checksums_url, Duration::from_secs(30))
                    .await?
                    .text()
                    .await
                    .map_err(|err| {
                        InstallError::Download(format!(
                            "Failed to download {checksums_url}: {}",
                            chain(&err)
                        ))
                    })?;
                expected_sha256(&checksums, &asset)?
            }
        };

        let dir = self.install_dir();
        fs::create_dir_all(&dir)?;
        let archive_path = dir.join(format!(".download-{asset}"));
        let asset_url = format!("{}/{}/{}", self.base_url, self.version, asset);
        let result = async {
            let mut response = fetch(&client, &asset_url, Duration::from_secs(600)).await?;
            progress
                .total
                .store(response.content_length().unwrap_or(0), Ordering::Relaxed);
            progress.bytes.store(0, Ordering::Relaxed);
            let mut file = fs::File::create(&archive_path)?;
            let mut hasher = Sha256::new();
            while let Some(chunk) = response.chunk().await.map_err(|err| {
                InstallError::Download(format!("Failed to download {asset_url}: {}", chain(&err)))
            })? {
                hasher.update(&chunk);
                file.write_all(&chunk)?;
                progress
                    .bytes
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            let actual = hex(&hasher.finalize());
            if actual != expected {
                return Err(InstallError::Checksum(format!(
                    "{} download SHA256 mismatch: expected {expected}, got {actual}",
                    self.binary
                )));
            }
            drop(file);
            let binary = self.binary;
            let target = self.cached_binary();
            let archive = archive_path.clone();
            let packaging = self.packaging;
            tokio::task::spawn_blocking(move || match packaging {
                Packaging::TarGz => install_from_tar_gz(&archive, binary, &target),
                Packaging::Raw => install_raw(&archive, &target),
            })
            .await
            .map_err(|err| InstallError::Io(err.to_string()))?
        }
        .await;
        let _ = fs::remove_file(&archive_path);
        result.map(|()| self.cached_binary())
    }
}

/// HTTP client for release downloads.
pub fn http_client() -> Result<reqwest::Client, InstallError> {
    crate::net::http_client_builder()
        .user_agent(concat!("toposync-streaming/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(15))
        .build()
        .map_err(|err| InstallError::Download(format!("cannot build the HTTP client: {err}")))
}

async fn fetch(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<reqwest::Response, InstallError> {
    let response = client
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .map_err(|err| {
            InstallError::Download(format!("Failed to download {url}: {}", chain(&err)))
        })?;
    let status = response.status();
    if !status.is_success() {
        let body: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        return Err(InstallError::Download(format!(
            "Failed to download {url} (HTTP {}): {body}",
            status.as_u16()
        )));
    }
    Ok(response)
}

/// Finds the asset's digest in a `sha256sum`-style file (`<hex>  [*]<name>` per line).
pub fn expected_sha256(checksums: &str, asset: &str) -> Result<String, InstallError> {
    for line in checksums.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 2 || fields[fields.len() - 1].trim_start_matches('*') != asset {
            continue;
        }
        let digest = fields[0].to_ascii_lowercase();
        if digest.len() != 64 || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(InstallError::Checksum(format!(
                "Malformed SHA256 for {asset}: {digest}"
            )));
        }
        return Ok(digest);
    }
    Err(InstallError::Checksum(format!(
        "SHA256 for asset not found in checksums file: {asset}"
    )))
}

/// Extracts the regular file named `binary` from a gzip'd tarball to `target`, atomically.
/// Archives with absolute or `..` entries, or where `binary` is a link, are refused outright.
pub fn install_from_tar_gz(
    archive: &Path,
    binary: &str,
    target: &Path,
) -> Result<(), InstallError> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{binary}.tmp"));
    let result = extract_to(archive, binary, &tmp).and_then(|()| {
        set_executable(&tmp)?;
        fs::rename(&tmp, target)?;
        fs::File::open(dir)?.sync_all()?;
        Ok(())
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Installs a downloaded bare executable as `target`, atomically.
fn install_raw(download: &Path, target: &Path) -> Result<(), InstallError> {
    let dir = target.parent().unwrap_or(Path::new("."));
    fs::File::open(download)?.sync_all()?;
    set_executable(download)?;
    fs::rename(download, target)?;
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

fn extract_to(archive: &Path, binary: &str, tmp: &Path) -> Result<(), InstallError> {
    let file = fs::File::open(archive)?;
    let mut entries = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut found = false;
    let bad = |msg: String| InstallError::Archive(msg);
    for entry in entries
        .entries()
        .map_err(|e| bad(format!("unreadable archive: {e}")))?
    {
        let mut entry = entry.map_err(|e| bad(format!("unreadable archive: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("unreadable archive entry: {e}")))?
            .into_owned();
        if path.components().any(|c| {
            matches!(
                c,
                Component::ParentDir | Component::RootDir | Component::Prefix(_)
            )
        }) {
            return Err(bad(format!(
                "archive entry escapes the install directory: {}",
                path.display()
            )));
        }
        if found || path.file_name().and_then(|n| n.to_str()) != Some(binary) {
            continue;
        }
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            return Err(bad(format!(
                "{binary} in the archive is not a regular file ({kind:?})"
            )));
        }
        let mut out = fs::File::create(tmp)?;
        io::copy(&mut (&mut entry).take(u64::MAX), &mut out)
            .map_err(|e| bad(format!("truncated archive: {e}")))?;
        out.sync_all()?;
        found = true;
    }
    if found {
        Ok(())
    } else {
        Err(bad(format!("{binary} not found in the archive")))
    }
}

fn set_executable(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}

/// An error with its causes (`error sending request: connection refused`), so a user sees why.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

pub fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_are_matched_by_exact_name() {
        let digest = "a".repeat(64);
        let file = format!(
            "# comment\n{}  other.tar.gz\n{digest} *mediamtx_v1_linux_amd64.tar.gz\n",
            "b".repeat(64)
        );
        assert_eq!(
            expected_sha256(&file, "mediamtx_v1_linux_amd64.tar.gz").unwrap(),
            digest
        );
        assert!(matches!(
            expected_sha256(&file, "missing.tar.gz"),
            Err(InstallError::Checksum(_))
        ));
        assert!(expected_sha256("xyz  a.tar.gz", "a.tar.gz").is_err());
    }

    #[test]
    fn asset_and_cache_layout() {
        let release = Release {
            binary: "mediamtx",
            packaging: Packaging::TarGz,
            explicit_env: "TOPOSYNC_STREAMING_ENGINE_PATH",
            expected_sha256: None,
            version: "v1.16.2".into(),
            explicit_path: None,
            cache_root: PathBuf::from("/cache"),
            base_url: "http://mirror".into(),
            platform: Platform {
                os: "linux",
                arch: "amd64",
            },
        };
        assert_eq!(release.asset(), "mediamtx_v1.16.2_linux_amd64.tar.gz");
        assert_eq!(
            release.cached_binary(),
            PathBuf::from("/cache/streaming/mediamtx/v1.16.2/linux-x64/mediamtx")
        );
        let go2rtc = Release {
            binary: "go2rtc",
            packaging: Packaging::Raw,
            version: "v1.9.14".into(),
            ..release
        };
        assert_eq!(go2rtc.asset(), "go2rtc_linux_amd64");
        assert_eq!(
            go2rtc.cached_binary(),
            PathBuf::from("/cache/streaming/go2rtc/v1.9.14/linux-x64/go2rtc")
        );
    }
}
