//! The settings file on disk: a versioned JSON envelope, written atomically, and a load that
//! never refuses to start — an unreadable file is moved aside, reported, and defaults are used.

use std::fs::{self};
use std::io::{self};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::error::Loc;
use crate::model::settings::StreamingSettings;

pub const FILE_NAME: &str = "streaming-settings.json";
/// Bumped when the stored shape changes incompatibly; a newer file is kept aside, never overwritten.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Envelope {
    schema_version: u32,
    revision: u64,
    saved_at: String,
    settings: Value,
}

/// A settings file that could not be used, and where it was kept.
#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    pub moved_to: PathBuf,
    pub reason: String,
}

pub struct Loaded {
    pub settings: StreamingSettings,
    pub revision: u64,
    pub recovery: Option<Recovery>,
}

pub fn settings_path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Reads the settings file. Only an I/O failure on the data dir itself is an error.
pub fn load(path: &Path) -> io::Result<Loaded> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Ok(Loaded {
                settings: StreamingSettings::default(),
                revision: 0,
                recovery: None,
            });
        }
        Err(err) => return Err(err),
    };
    match parse(&bytes) {
        Ok((settings, revision)) => Ok(Loaded {
            settings,
            revision,
            recovery: None,
        }),
        Err(reason) => {
            let moved_to = aside_path(path);
            fs::rename(path, &moved_to)?;
            tracing::error!(
                path = %path.display(),
                moved_to = %moved_to.display(),
                %reason,
                "settings file unreadable; kept aside, starting from defaults"
            );
            Ok(Loaded {
                settings: StreamingSettings::default(),
                revision: 0,
                recovery: Some(Recovery { moved_to, reason }),
            })
        }
    }
}

fn parse(bytes: &[u8]) -> Result<(StreamingSettings, u64), String> {
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|err| format!("not a settings file: {err}"))?;
    if envelope.schema_version != SCHEMA_VERSION {
        return Err(format!(
            "schema_version {} is not supported (this version reads {SCHEMA_VERSION})",
            envelope.schema_version
        ));
    }
    let loc = Loc(vec![Value::from("settings")]);
    let settings = StreamingSettings::from_json(envelope.settings, &loc)
        .map_err(|err| format!("invalid settings: {err}"))?;
    Ok((settings, envelope.revision))
}

/// Writes the whole document atomically: a temp file beside the target, fsync, rename, then
/// fsync of the directory so the rename itself survives a power cut. Readers (and a restart
/// after SIGKILL) see either the previous or the new revision, never a mix.
pub fn save(path: &Path, settings: &StreamingSettings, revision: u64) -> io::Result<()> {
    let envelope = Envelope {
        schema_version: SCHEMA_VERSION,
        revision,
        saved_at: crate::model::edit::now_rfc3339(),
        settings: serde_json::to_value(settings)?,
    };
    let bytes = serde_json::to_vec_pretty(&envelope)?;
    // Camera and output passwords live in it.
    crate::private_file::write(path, &bytes)
}

fn aside_path(path: &Path) -> PathBuf {
    let stamp: String = crate::model::edit::now_rfc3339()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".corrupt-{stamp}"));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_then_load_round_trips_with_revision() {
        let dir = tempfile::tempdir().unwrap();
        let path = settings_path(dir.path());
        let mut settings = StreamingSettings::default();
        settings.engine.expose_to_lan = true;
        save(&path, &settings, 7).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.settings, settings);
        assert_eq!(loaded.revision, 7);
        assert!(loaded.recovery.is_none());
        assert!(!dir.path().join(format!(".{FILE_NAME}.tmp")).exists());
    }

    #[test]
    fn a_missing_file_means_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load(&settings_path(dir.path())).unwrap();
        assert_eq!(loaded.settings, StreamingSettings::default());
        assert_eq!(loaded.revision, 0);
    }

    #[test]
    fn a_corrupt_file_is_kept_aside_and_defaults_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = settings_path(dir.path());
        fs::write(&path, b"{\"schema_version\": 1, \"revis").unwrap();
        let loaded = load(&path).unwrap();
        let recovery = loaded.recovery.expect("recovery reported");
        assert!(recovery.reason.starts_with("not a settings file"));
        assert_eq!(
            fs::read(&recovery.moved_to).unwrap(),
            b"{\"schema_version\": 1, \"revis"
        );
        assert!(!path.exists());
        assert_eq!(loaded.settings, StreamingSettings::default());
    }

    #[test]
    fn a_newer_schema_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = settings_path(dir.path());
        fs::write(
            &path,
            br#"{"schema_version": 2, "revision": 1, "saved_at": "", "settings": {}}"#,
        )
        .unwrap();
        let recovery = load(&path).unwrap().recovery.unwrap();
        assert!(recovery.reason.contains("schema_version 2"));
        assert!(recovery.moved_to.exists());
    }
}
