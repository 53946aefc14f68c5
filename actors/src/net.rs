//! HTTP clients. TLS uses rustls with the ring provider (no system OpenSSL); the provider must
//! be installed before any client is built, so every client comes from here.

/// A client builder with the crypto provider in place.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    // Installing twice is harmless: the second call reports the first provider and is ignored.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// The process's one client (a clone shares it). Building a client costs milliseconds of CPU
/// (TLS roots), so it is built once. It keeps no idle connections: a pooled connection belongs
/// to the tokio runtime that opened it, and tests run many runtimes in one process; every
/// request here goes to loopback (the engine, go2rtc), where a new connection costs
/// microseconds. Downloads build their own client (timeouts of their own).
pub fn http_client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            http_client_builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("an HTTP client with default settings builds")
        })
        .clone()
}

/// As [`http_client`], but it follows no redirect: for calls to another machine (a core, a
/// processing server), whose answer must come from where it was asked, never from somewhere a
/// redirect points (such as a loopback service of the caller).
pub fn peer_client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            http_client_builder()
                .pool_max_idle_per_host(0)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client with default settings builds")
        })
        .clone()
}
