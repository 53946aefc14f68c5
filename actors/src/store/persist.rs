//! The settings file on disk: a versioned JSON envelope, written atomically, and a load that
//! never refuses to start. An entry that is invalid on its own (one transmission, one camera...)
//! is set aside and the rest kept; a file that cannot be used at all is moved aside and defaults
//! are used. Either way the recovery is recorded beside the file and reported until the user
//! acknowledges it or the next successful write.

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

/// A settings file that could not be used as it was, and where the original was kept.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Recovery {
    #[schema(value_type = String)]
    pub moved_to: PathBuf,
    pub reason: String,
    #[serde(default)]
    pub at: String,
    /// Entries set aside while the rest of the document was kept (empty: defaults were loaded).
    #[serde(default)]
    pub rejected: Vec<Rejected>,
}

/// One entry of an array section that was invalid, set aside (its whole JSON is in the kept
/// original; this names it).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rejected {
    pub section: String,
    pub index: usize,
    pub id: Option<String>,
    pub reason: String,
}

impl Recovery {
    /// What `/health` says about it.
    pub fn warning(&self) -> String {
        if self.rejected.is_empty() {
            return format!(
                "The settings file was unreadable ({}); it was kept at {} and defaults were loaded.",
                self.reason,
                self.moved_to.display()
            );
        }
        let entries: Vec<String> = self
            .rejected
            .iter()
            .map(|r| match &r.id {
                Some(id) => format!("{}[{}] ({id}): {}", r.section, r.index, r.reason),
                None => format!("{}[{}]: {}", r.section, r.index, r.reason),
            })
            .collect();
        format!(
            "{} invalid entr{} of the settings file {} set aside (the original is kept at {}): {}",
            self.rejected.len(),
            if self.rejected.len() == 1 { "y" } else { "ies" },
            if self.rejected.len() == 1 {
                "was"
            } else {
                "were"
            },
            self.moved_to.display(),
            entries.join("; ")
        )
    }
}

/// Where a recovery is recorded until acknowledged.
pub fn recovery_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".recovery");
    path.with_file_name(name)
}

/// The recovery recorded beside the settings file, if one is still unacknowledged.
pub fn recorded_recovery(path: &Path) -> Option<Recovery> {
    let bytes = fs::read(recovery_path(path)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Forgets the recorded recovery (acknowledged, or superseded by a successful write).
pub fn clear_recovery(path: &Path) -> io::Result<()> {
    match fs::remove_file(recovery_path(path)) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

fn record_recovery(path: &Path, recovery: &Recovery) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(recovery)?;
    crate::private_file::write(&recovery_path(path), &bytes)
}

/// Sections whose entries stand alone: one bad entry can be set aside.
const ARRAY_SECTIONS: [&str; 6] = [
    "transmissions",
    "cameras",
    "pipelines",
    "publications",
    "camera_live_views",
    "processing_servers",
];

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
            // No file: a first start, or defaults after a recovery not yet acknowledged.
            return Ok(Loaded {
                settings: StreamingSettings::default(),
                revision: 0,
                recovery: recorded_recovery(path),
            });
        }
        Err(err) => return Err(err),
    };
    match parse(&bytes) {
        Ok((settings, revision)) => Ok(Loaded {
            settings,
            revision,
            recovery: recorded_recovery(path),
        }),
        Err(reason) => {
            let moved_to = aside_path(path);
            let at = crate::model::edit::now_rfc3339();
            if let Some((settings, revision, rejected)) = salvage(&bytes) {
                // The original stays as it was; the document without the bad entries is what
                // the next start reads.
                fs::copy(path, &moved_to)?;
                save(path, &settings, revision)?;
                let recovery = Recovery {
                    moved_to,
                    reason,
                    at,
                    rejected,
                };
                tracing::error!(warning = %recovery.warning(), "settings file partly invalid");
                record_recovery(path, &recovery)?;
                return Ok(Loaded {
                    settings,
                    revision,
                    recovery: Some(recovery),
                });
            }
            fs::rename(path, &moved_to)?;
            tracing::error!(
                path = %path.display(),
                moved_to = %moved_to.display(),
                %reason,
                "settings file unreadable; kept aside, starting from defaults"
            );
            let recovery = Recovery {
                moved_to,
                reason,
                at,
                rejected: Vec::new(),
            };
            record_recovery(path, &recovery)?;
            Ok(Loaded {
                settings: StreamingSettings::default(),
                revision: 0,
                recovery: Some(recovery),
            })
        }
    }
}

/// The document without the entries that make it invalid, when every problem lies inside an
/// entry of an array section (each removed in turn, at most one per entry). `None` when the
/// problem is elsewhere (the envelope, an object section, the JSON itself).
fn salvage(bytes: &[u8]) -> Option<(StreamingSettings, u64, Vec<Rejected>)> {
    let envelope: Envelope = serde_json::from_slice(bytes).ok()?;
    if envelope.schema_version != SCHEMA_VERSION {
        return None;
    }
    let mut document = envelope.settings;
    let entries: usize = ARRAY_SECTIONS
        .iter()
        .filter_map(|s| document.get(*s)?.as_array().map(Vec::len))
        .sum();
    let mut rejected = Vec::new();
    // Per section, the original index of each entry still in the document.
    let mut original: std::collections::HashMap<String, Vec<usize>> = Default::default();
    let loc = Loc(vec![Value::from("settings")]);
    for _ in 0..=entries {
        let error = match StreamingSettings::from_json(document.clone(), &loc) {
            Ok(settings) => {
                return (!rejected.is_empty()).then_some((settings, envelope.revision, rejected));
            }
            Err(error) => error,
        };
        let field = match &error {
            crate::model::error::ModelError::Invalid(errors) => errors.first()?.clone(),
            crate::model::error::ModelError::Conflict(field) => field.clone(),
            _ => return None,
        };
        // ["settings", "<section>", <index>, ...]
        let section = field.loc.get(1)?.as_str()?.to_string();
        let index = usize::try_from(field.loc.get(2)?.as_u64()?).ok()?;
        if !ARRAY_SECTIONS.contains(&section.as_str()) {
            return None;
        }
        let list = document.get_mut(&section)?.as_array_mut()?;
        if index >= list.len() {
            return None;
        }
        let positions = original
            .entry(section.clone())
            .or_insert_with(|| (0..list.len()).collect());
        let entry = list.remove(index);
        let index = positions.remove(index);
        let id = ["id", "name"]
            .iter()
            .find_map(|key| entry.get(*key)?.as_str().map(str::to_string));
        rejected.push(Rejected {
            section,
            index,
            id,
            reason: field.msg.clone(),
        });
    }
    None
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
