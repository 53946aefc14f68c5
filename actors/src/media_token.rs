//! Signed media URLs: an HMAC-SHA256 token scoped to one transport, engine path, transmission and
//! output, with an expiry (spec: original-api.md §4.8). The secret lives in
//! `runtime/streaming/media-token-secret` (mode 0600), created on first use.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub const SECRET_FILE: &str = "media-token-secret";
pub const SCOPE: &str = "stream:media:read";
const LEGACY_HLS_SCOPE: &str = "stream:hls:read";
/// Shortest and longest TTL a caller may ask for.
pub const TTL_RANGE: (f64, f64) = (30.0, 21_600.0);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Hls,
    Mse,
    Jsmpeg,
}

/// What a token grants. Keys serialize sorted (the original's payload layout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub engine_path: String,
    pub exp: f64,
    pub iat: f64,
    pub output_id: String,
    pub scope: String,
    pub transmission_id: String,
    #[serde(default)]
    pub transport: Option<Transport>,
}

/// Why a token is refused; the strings are the API's 401 details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Invalid,
    Expired,
}

impl TokenError {
    pub fn detail(self) -> &'static str {
        match self {
            TokenError::Invalid => "media_token_invalid",
            TokenError::Expired => "media_token_expired",
        }
    }
}

#[derive(Clone)]
pub struct MediaTokens {
    secret: Vec<u8>,
}

impl std::fmt::Debug for MediaTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaTokens(..)")
    }
}

impl MediaTokens {
    pub fn with_secret(secret: &[u8]) -> MediaTokens {
        MediaTokens {
            secret: secret.to_vec(),
        }
    }

    /// Reads `<runtime_dir>/media-token-secret`, creating it (48 random bytes, URL-safe text,
    /// mode 0600) on first use.
    pub fn load_or_create(runtime_dir: &Path) -> std::io::Result<MediaTokens> {
        let path = runtime_dir.join(SECRET_FILE);
        if let Ok(text) = std::fs::read_to_string(&path) {
            let text = text.trim();
            if !text.is_empty() {
                return Ok(MediaTokens::with_secret(text.as_bytes()));
            }
        }
        let mut random = [0u8; 48];
        getrandom::fill(&mut random).map_err(|err| std::io::Error::other(err.to_string()))?;
        let text = URL_SAFE_NO_PAD.encode(random);
        crate::private_file::write(&path, text.as_bytes())?;
        Ok(MediaTokens::with_secret(text.as_bytes()))
    }

    fn mac(&self) -> hmac::Hmac<Sha256> {
        hmac::Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length")
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    /// Checks signature (constant time) and expiry at `now` (unix seconds).
    pub fn verify(&self, token: &str, now: f64) -> Result<Claims, TokenError> {
        let (payload, signature) = token.trim().split_once('.').ok_or(TokenError::Invalid)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Invalid)?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::Invalid)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Invalid)?;
        let claims: Claims = serde_json::from_slice(&bytes).map_err(|_| TokenError::Invalid)?;
        if !claims.exp.is_finite() {
            return Err(TokenError::Invalid);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// Verifies a token for one transport and engine path. The legacy HLS scope is accepted for
    /// HLS only; a token without a transport counts as HLS.
    pub fn verify_for(
        &self,
        token: &str,
        transport: Transport,
        engine_path: &str,
        now: f64,
    ) -> Result<Claims, TokenError> {
        let claims = self.verify(token, now)?;
        let scope_ok = claims.scope == SCOPE
            || (transport == Transport::Hls && claims.scope == LEGACY_HLS_SCOPE);
        let token_transport = claims.transport.unwrap_or(Transport::Hls);
        if !scope_ok || token_transport != transport || claims.engine_path != engine_path {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}

/// What a checked token lets its holder play: the transmission and the HLS output it names.
#[derive(Debug, Clone)]
pub struct Grant {
    pub claims: Claims,
    pub transmission: crate::model::transmission::Transmission,
    pub output: crate::model::transmission::TransmissionOutput,
}

impl MediaTokens {
    /// The one authorization of every media route (HLS proxy, MSE and JSMpeg sockets): a valid,
    /// unexpired token for this transport and engine path, naming an enabled transmission hosted
    /// here and an enabled HLS output of it whose engine path is this path.
    pub fn authorize(
        &self,
        settings: &crate::model::settings::StreamingSettings,
        token: &str,
        transport: Transport,
        engine_path: &str,
        now: f64,
    ) -> Result<Grant, TokenError> {
        let claims = self.verify_for(token, transport, engine_path, now)?;
        let transmission = settings
            .transmission(&claims.transmission_id)
            .filter(|t| t.enabled && t.host_server_id == crate::distributed::LOCAL_SERVER_ID)
            .ok_or(TokenError::Invalid)?;
        let output = transmission
            .enabled_outputs()
            .find(|o| {
                o.id == claims.output_id
                    && o.protocol == crate::model::transmission::Protocol::Hls
                    && transmission.engine_path(o) == engine_path
            })
            .ok_or(TokenError::Invalid)?;
        Ok(Grant {
            output: output.clone(),
            transmission: transmission.clone(),
            claims,
        })
    }
}

/// A token's lifetime: the configured TTL (at least 30 s), lengthened (never shortened) by a
/// requested TTL clamped to 30 s..6 h.
pub fn ttl_seconds(configured: f64, requested: Option<f64>) -> f64 {
    let configured = configured.max(TTL_RANGE.0);
    match requested.filter(|r| r.is_finite()) {
        Some(requested) => configured.max(requested.clamp(TTL_RANGE.0, TTL_RANGE.1)),
        None => configured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(transport: Transport, exp: f64) -> Claims {
        Claims {
            engine_path: "front-door".into(),
            exp,
            iat: 100.0,
            output_id: "hls_main".into(),
            scope: SCOPE.into(),
            transmission_id: "t1".into(),
            transport: Some(transport),
        }
    }

    #[test]
    fn the_payload_is_the_original_layout() {
        let json = serde_json::to_string(&claims(Transport::Mse, 200.0)).unwrap();
        assert_eq!(
            json,
            r#"{"engine_path":"front-door","exp":200.0,"iat":100.0,"output_id":"hls_main","scope":"stream:media:read","transmission_id":"t1","transport":"mse"}"#
        );
    }

    /// One rule for every media route: enabled local transmission, enabled HLS output, same path.
    #[test]
    fn a_grant_needs_an_enabled_local_hls_output_on_that_path() {
        use crate::model::error::Loc;
        use crate::model::settings::StreamingSettings;
        let tokens = MediaTokens::with_secret(b"secret");
        let settings = |enabled: bool, protocol: &str| {
            StreamingSettings::from_json(
                serde_json::json!({"transmissions": [{"id": "t1", "path": "front-door",
                    "enabled": enabled,
                    "outputs": [{"id": "hls_main", "protocol": protocol}]}]}),
                &Loc::body(),
            )
            .unwrap()
        };
        let token = tokens.sign(&claims(Transport::Mse, 1000.0));
        let grant = tokens
            .authorize(
                &settings(true, "hls"),
                &token,
                Transport::Mse,
                "front-door",
                200.0,
            )
            .unwrap();
        assert_eq!(
            (grant.transmission.id.as_str(), grant.output.id.as_str()),
            ("t1", "hls_main")
        );
        for (doc, transport, path) in [
            (settings(false, "hls"), Transport::Mse, "front-door"),
            (settings(true, "rtsp"), Transport::Mse, "front-door"),
            (settings(true, "hls"), Transport::Jsmpeg, "front-door"),
            (settings(true, "hls"), Transport::Mse, "back-door"),
        ] {
            assert_eq!(
                tokens
                    .authorize(&doc, &token, transport, path, 200.0)
                    .unwrap_err(),
                TokenError::Invalid
            );
        }
        assert_eq!(
            tokens
                .authorize(
                    &settings(true, "hls"),
                    &token,
                    Transport::Mse,
                    "front-door",
                    2000.0
                )
                .unwrap_err(),
            TokenError::Expired
        );
    }

    #[test]
    fn valid_expired_forged_and_wrongly_scoped_tokens() {
        let tokens = MediaTokens::with_secret(b"secret");
        let token = tokens.sign(&claims(Transport::Jsmpeg, 200.0));
        assert!(
            tokens
                .verify_for(&token, Transport::Jsmpeg, "front-door", 150.0)
                .is_ok()
        );
        assert_eq!(
            tokens.verify_for(&token, Transport::Jsmpeg, "front-door", 200.0),
            Err(TokenError::Expired)
        );
        assert_eq!(
            tokens.verify_for(&token, Transport::Mse, "front-door", 150.0),
            Err(TokenError::Invalid),
            "wrong transport"
        );
        assert_eq!(
            tokens.verify_for(&token, Transport::Jsmpeg, "back-door", 150.0),
            Err(TokenError::Invalid),
            "wrong path"
        );
        let other = MediaTokens::with_secret(b"other");
        assert_eq!(
            other.verify(&token, 150.0),
            Err(TokenError::Invalid),
            "forged"
        );
        let (payload, signature) = token.split_once('.').unwrap();
        let tampered =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(Transport::Jsmpeg, 9e9)).unwrap());
        assert_eq!(
            tokens.verify(&format!("{tampered}.{signature}"), 150.0),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            tokens.verify(payload, 150.0),
            Err(TokenError::Invalid),
            "no signature"
        );
        assert_eq!(tokens.verify("", 150.0), Err(TokenError::Invalid));

        let mut legacy = claims(Transport::Hls, 200.0);
        legacy.scope = LEGACY_HLS_SCOPE.into();
        legacy.transport = None;
        let legacy = tokens.sign(&legacy);
        assert!(
            tokens
                .verify_for(&legacy, Transport::Hls, "front-door", 150.0)
                .is_ok()
        );
    }

    #[test]
    fn ttls_only_lengthen() {
        assert_eq!(ttl_seconds(900.0, None), 900.0);
        assert_eq!(ttl_seconds(10.0, None), 30.0);
        assert_eq!(ttl_seconds(900.0, Some(60.0)), 900.0);
        assert_eq!(ttl_seconds(900.0, Some(1e9)), 21_600.0);
    }

    #[test]
    fn the_secret_file_is_private_and_stable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = MediaTokens::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = MediaTokens::load_or_create(dir.path()).unwrap();
        let token = first.sign(&claims(Transport::Hls, 200.0));
        assert!(second.verify(&token, 150.0).is_ok());
    }
}
