//! HTTP clients. TLS uses rustls with the ring provider (no system OpenSSL); the provider must
//! be installed before any client is built, so every client comes from here.

/// A client builder with the crypto provider in place.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    // Installing twice is harmless: the second call reports the first provider and is ignored.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

pub fn http_client() -> reqwest::Client {
    http_client_builder()
        .build()
        .expect("an HTTP client with default settings builds")
}
