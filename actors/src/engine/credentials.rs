//! Per-path publish credentials, derived from one secret so they are stable across restarts and
//! never stored: user `pub_<hex[0..12]>`, password `hex[12..44]` of HMAC-SHA256(secret, path).

use std::fs;
use std::io;
use std::path::Path;

use hmac::{KeyInit, Mac};
use sha2::Sha256;

use super::install::hex;

pub const SECRET_FILE: &str = "publish-secret.key";

#[derive(Clone)]
pub struct PublishSecret(Vec<u8>);

impl std::fmt::Debug for PublishSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublishSecret(..)")
    }
}

/// Credentials with a `Debug` that never prints the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub pass: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ********)", self.user)
    }
}

impl PublishSecret {
    /// Reads `<runtime_dir>/publish-secret.key`, creating it (32 random bytes, mode 0600) once.
    pub fn load_or_create(runtime_dir: &Path) -> io::Result<PublishSecret> {
        let path = runtime_dir.join(SECRET_FILE);
        match fs::read(&path) {
            Ok(bytes) if !bytes.is_empty() => return Ok(PublishSecret(bytes)),
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        let mut secret = vec![0u8; 32];
        getrandom::fill(&mut secret).map_err(|err| io::Error::other(err.to_string()))?;
        crate::private_file::write(&path, &secret)?;
        Ok(PublishSecret(secret))
    }

    pub fn credentials_for(&self, path: &str) -> Credentials {
        let mut mac =
            hmac::Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(path.as_bytes());
        let digest = hex(&mac.finalize().into_bytes());
        Credentials {
            user: format!("pub_{}", &digest[..12]),
            pass: digest[12..44].to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_follow_the_original_recipe() {
        let secret = PublishSecret(vec![0u8; 32]);
        // python3 -c "import hmac,hashlib; print(hmac.new(bytes(32), b'front-door', hashlib.sha256).hexdigest())"
        // ca35c25e89b42e86a39fdc040794430eb0f769321ac5f1280700e63612d5dfe8
        let creds = secret.credentials_for("front-door");
        assert_eq!(creds.user, "pub_ca35c25e89b4");
        assert_eq!(creds.pass, "2e86a39fdc040794430eb0f769321ac5");
        assert_ne!(secret.credentials_for("other"), creds);
        assert!(!format!("{creds:?}").contains(&creds.pass));
    }

    #[test]
    fn the_secret_is_created_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = PublishSecret::load_or_create(dir.path()).unwrap();
        let again = PublishSecret::load_or_create(dir.path()).unwrap();
        assert_eq!(first.credentials_for("p"), again.credentials_for("p"));
        let mode = fs::metadata(dir.path().join(SECRET_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
