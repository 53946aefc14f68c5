//! Who may call the API (docs/security.md). Two credentials, both generated 256-bit tokens:
//! `admin` (everything) and `viewer` (reads and watching). They are stored as SHA-256 digests in
//! `<data_dir>/auth/credentials.json` (0600, directory 0700): a token carries 256 bits of
//! entropy, so a fast digest is as safe as a slow password hash would be for a chosen password.
//! Browser sessions are HMAC-signed `{role, expiry}` values under a session key kept in the same
//! file; rotating a credential replaces that key too, which ends every session.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const CREDENTIALS_FILE: &str = "credentials.json";
/// A browser session lasts this long; logging in again starts a new one.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
const SCHEMA_VERSION: u32 = 1;
/// Session values start with this, so a bearer token is told apart from a session at once.
const SESSION_PREFIX: &str = "s1.";

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads, playback URLs, stills, demand: what players and dashboards need.
    Viewer,
    /// Everything, secrets included.
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "viewer" => Some(Role::Viewer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    schema_version: u32,
    admin_sha256: String,
    viewer_sha256: String,
    session_key: String,
}

/// The credentials in force (digests and the session key; never a token).
#[derive(Clone)]
pub struct Credentials {
    admin: [u8; 32],
    viewer: [u8; 32],
    session_key: [u8; 32],
}

/// Tokens set from outside (the environment, e.g. a Home Assistant add-on's options).
#[derive(Default)]
pub struct Provisioned {
    pub admin: Option<String>,
    pub viewer: Option<String>,
}

/// Tokens created by this start: shown once, never stored in clear.
#[derive(Default)]
pub struct Issued {
    pub admin: Option<String>,
    pub viewer: Option<String>,
}

pub fn credentials_path(data_dir: &Path) -> PathBuf {
    data_dir.join("auth").join(CREDENTIALS_FILE)
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Equal in time independent of where the digests differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

fn random_bytes() -> Result<[u8; 32], String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| format!("no randomness: {err}"))?;
    Ok(bytes)
}

/// A new token: 32 random bytes, URL-safe text.
pub fn new_token() -> Result<String, String> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes()?))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Credentials {
    /// The stored credentials, if the service created them already (creates nothing).
    pub fn load(data_dir: &Path) -> Result<Option<Credentials>, String> {
        let path = credentials_path(data_dir);
        if !path.exists() {
            return Ok(None);
        }
        Credentials::load_or_create(data_dir, Provisioned::default()).map(|(c, _)| Some(c))
    }

    /// Reads the credentials file; creates any credential it lacks (reported in [`Issued`]);
    /// a provisioned token replaces the stored one.
    pub fn load_or_create(
        data_dir: &Path,
        provisioned: Provisioned,
    ) -> Result<(Credentials, Issued), String> {
        let path = credentials_path(data_dir);
        let stored = match std::fs::read(&path) {
            Ok(bytes) => Some(
                serde_json::from_slice::<Stored>(&bytes)
                    .map_err(|err| format!("{} is unreadable: {err}", path.display()))?,
            ),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(format!("cannot read {}: {err}", path.display())),
        };
        let parsed = stored.as_ref().and_then(|s| {
            Some(Credentials {
                admin: unhex(&s.admin_sha256)?,
                viewer: unhex(&s.viewer_sha256)?,
                session_key: unhex(&s.session_key)?,
            })
        });
        if stored.is_some() && parsed.is_none() {
            return Err(format!("{} is malformed", path.display()));
        }
        let mut issued = Issued::default();
        let mut credentials = match parsed {
            Some(credentials) => credentials,
            None => {
                let admin = new_token()?;
                let viewer = new_token()?;
                let credentials = Credentials {
                    admin: digest(&admin),
                    viewer: digest(&viewer),
                    session_key: random_bytes()?,
                };
                issued = Issued {
                    admin: Some(admin).filter(|_| provisioned.admin.is_none()),
                    viewer: Some(viewer).filter(|_| provisioned.viewer.is_none()),
                };
                credentials
            }
        };
        let mut changed = stored.is_none();
        if let Some(admin) = provisioned.admin.filter(|t| !t.is_empty()) {
            changed |= !same(&credentials.admin, &digest(&admin));
            credentials.admin = digest(&admin);
        }
        if let Some(viewer) = provisioned.viewer.filter(|t| !t.is_empty()) {
            changed |= !same(&credentials.viewer, &digest(&viewer));
            credentials.viewer = digest(&viewer);
        }
        if changed {
            credentials.save(&path)?;
        }
        Ok((credentials, issued))
    }

    /// Replaces `role`'s token (and the session key, ending every browser session); answers
    /// the new token.
    pub fn rotate(data_dir: &Path, role: Role) -> Result<String, String> {
        let (mut credentials, _) = Credentials::load_or_create(data_dir, Provisioned::default())?;
        let token = new_token()?;
        match role {
            Role::Admin => credentials.admin = digest(&token),
            Role::Viewer => credentials.viewer = digest(&token),
        }
        credentials.session_key = random_bytes()?;
        credentials.save(&credentials_path(data_dir))?;
        Ok(token)
    }

    fn save(&self, path: &Path) -> Result<(), String> {
        let stored = Stored {
            schema_version: SCHEMA_VERSION,
            admin_sha256: hex(&self.admin),
            viewer_sha256: hex(&self.viewer),
            session_key: hex(&self.session_key),
        };
        let bytes = serde_json::to_vec_pretty(&stored).map_err(|err| err.to_string())?;
        crate::private_file::write(path, &bytes)
            .map_err(|err| format!("cannot write {}: {err}", path.display()))
    }

    /// The role a token grants, if any (both digests compared, in constant time).
    pub fn role_of(&self, token: &str) -> Option<Role> {
        let presented = digest(token);
        let admin = same(&self.admin, &presented);
        let viewer = same(&self.viewer, &presented);
        match (admin, viewer) {
            (true, _) => Some(Role::Admin),
            (false, true) => Some(Role::Viewer),
            _ => None,
        }
    }

    fn mac(&self) -> hmac::Hmac<Sha256> {
        hmac::Hmac::<Sha256>::new_from_slice(&self.session_key).expect("HMAC takes any key length")
    }

    /// A session for `role` valid until `now + SESSION_TTL`.
    pub fn session(&self, role: Role, now: SystemTime) -> Result<String, String> {
        let expires = unix(now) + SESSION_TTL.as_secs();
        let nonce = URL_SAFE_NO_PAD.encode(&random_bytes()?[..12]);
        let payload = format!("{}.{expires}.{nonce}", role.name());
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        Ok(format!("{SESSION_PREFIX}{payload}.{tag}"))
    }

    /// The role of a session this key signed and that has not expired.
    pub fn verify_session(&self, session: &str, now: SystemTime) -> Option<Role> {
        let body = session.strip_prefix(SESSION_PREFIX)?;
        let (payload, tag) = body.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&tag).ok()?;
        let mut parts = payload.split('.');
        let role = Role::parse(parts.next()?)?;
        let expires: u64 = parts.next()?.parse().ok()?;
        (unix(now) < expires).then_some(role)
    }

    /// Whether `value` looks like a session (rather than a token).
    pub fn is_session(value: &str) -> bool {
        value.starts_with(SESSION_PREFIX)
    }

    /// The CSRF token of a session: a browser page sends it back in a header on every change.
    pub fn csrf_token(&self, session: &str) -> String {
        let mut mac = self.mac();
        mac.update(b"csrf:");
        mac.update(session.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    pub fn csrf_matches(&self, session: &str, presented: &str) -> bool {
        let Ok(presented) = URL_SAFE_NO_PAD.decode(presented) else {
            return false;
        };
        let mut mac = self.mac();
        mac.update(b"csrf:");
        mac.update(session.as_bytes());
        mac.verify_slice(&presented).is_ok()
    }
}

fn unix(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Failed credential checks per client address: after `LIMIT` failures within `WINDOW`, the
/// address is refused (429) until the window has passed. Bounded: the oldest entries go first.
pub struct FailedLogins {
    by_address: HashMap<IpAddr, (u32, Instant)>,
}

impl FailedLogins {
    pub const LIMIT: u32 = 5;
    pub const WINDOW: Duration = Duration::from_secs(60);
    const ADDRESSES: usize = 4096;

    pub fn new() -> Self {
        Self {
            by_address: HashMap::new(),
        }
    }

    /// How long `address` must still wait, if it is locked out.
    pub fn locked(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        let (failures, since) = self.by_address.get(&address)?;
        let left = Self::WINDOW
            .checked_sub(now.duration_since(*since))
            .filter(|left| !left.is_zero())?;
        (*failures >= Self::LIMIT).then_some(left)
    }

    pub fn failed(&mut self, address: IpAddr, now: Instant) {
        if self.by_address.len() >= Self::ADDRESSES && !self.by_address.contains_key(&address) {
            self.by_address
                .retain(|_, (_, since)| now.duration_since(*since) < Self::WINDOW);
            if self.by_address.len() >= Self::ADDRESSES {
                let oldest = self
                    .by_address
                    .iter()
                    .min_by_key(|(_, (_, since))| *since)
                    .map(|(address, _)| *address);
                if let Some(oldest) = oldest {
                    self.by_address.remove(&oldest);
                }
            }
        }
        let entry = self.by_address.entry(address).or_insert((0, now));
        if now.duration_since(entry.1) >= Self::WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    pub fn succeeded(&mut self, address: IpAddr) {
        self.by_address.remove(&address);
    }
}

impl Default for FailedLogins {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn first_start_issues_both_tokens_once_and_stores_only_digests() {
        let dir = tempfile::tempdir().unwrap();
        let (credentials, issued) =
            Credentials::load_or_create(dir.path(), Provisioned::default()).unwrap();
        let admin = issued.admin.unwrap();
        let viewer = issued.viewer.unwrap();
        assert_eq!(credentials.role_of(&admin), Some(Role::Admin));
        assert_eq!(credentials.role_of(&viewer), Some(Role::Viewer));
        assert_eq!(credentials.role_of("guess"), None);
        let path = credentials_path(dir.path());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&admin) && !text.contains(&viewer), "{text}");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (again, issued) =
            Credentials::load_or_create(dir.path(), Provisioned::default()).unwrap();
        assert!(
            issued.admin.is_none() && issued.viewer.is_none(),
            "shown once"
        );
        assert_eq!(again.role_of(&admin), Some(Role::Admin));
    }

    #[test]
    fn provisioned_tokens_replace_stored_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (_, issued) = Credentials::load_or_create(dir.path(), Provisioned::default()).unwrap();
        let provisioned = Provisioned {
            admin: Some("from-the-environment".into()),
            viewer: None,
        };
        let (credentials, _) = Credentials::load_or_create(dir.path(), provisioned).unwrap();
        assert_eq!(
            credentials.role_of("from-the-environment"),
            Some(Role::Admin)
        );
        assert_eq!(credentials.role_of(&issued.admin.unwrap()), None);
        assert_eq!(
            credentials.role_of(&issued.viewer.unwrap()),
            Some(Role::Viewer)
        );
    }

    #[test]
    fn rotation_replaces_the_token_and_ends_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let (before, issued) =
            Credentials::load_or_create(dir.path(), Provisioned::default()).unwrap();
        let now = SystemTime::now();
        let session = before.session(Role::Admin, now).unwrap();
        assert_eq!(before.verify_session(&session, now), Some(Role::Admin));
        let token = Credentials::rotate(dir.path(), Role::Admin).unwrap();
        let (after, _) = Credentials::load_or_create(dir.path(), Provisioned::default()).unwrap();
        assert_eq!(after.role_of(&token), Some(Role::Admin));
        assert_eq!(after.role_of(&issued.admin.unwrap()), None);
        assert_eq!(after.verify_session(&session, now), None);
    }

    #[test]
    fn sessions_expire_and_cannot_be_forged() {
        let dir = tempfile::tempdir().unwrap();
        let (credentials, _) =
            Credentials::load_or_create(dir.path(), Provisioned::default()).unwrap();
        let now = SystemTime::now();
        let session = credentials.session(Role::Viewer, now).unwrap();
        assert!(Credentials::is_session(&session));
        assert_eq!(
            credentials.verify_session(&session, now),
            Some(Role::Viewer)
        );
        let later = now + SESSION_TTL + Duration::from_secs(1);
        assert_eq!(credentials.verify_session(&session, later), None);
        let promoted = session.replacen("s1.viewer", "s1.admin", 1);
        assert_eq!(credentials.verify_session(&promoted, now), None);
        let csrf = credentials.csrf_token(&session);
        assert!(credentials.csrf_matches(&session, &csrf));
        assert!(!credentials.csrf_matches(&promoted, &csrf));
        assert!(!credentials.csrf_matches(&session, "x"));
    }

    #[test]
    fn failures_lock_an_address_for_the_window() {
        let mut failed = FailedLogins::new();
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let start = Instant::now();
        for _ in 0..FailedLogins::LIMIT {
            assert!(failed.locked(address, start).is_none());
            failed.failed(address, start);
        }
        assert!(failed.locked(address, start).is_some());
        assert!(failed.locked(other, start).is_none());
        assert!(
            failed
                .locked(address, start + FailedLogins::WINDOW)
                .is_none()
        );
        failed.succeeded(address);
        assert!(failed.locked(address, start).is_none());
    }
}
