//! One way to build an HTTP client, so every client in healbot speaks TLS through the same
//! rustls on ring that the GitHub client and the App's JWT signer already use (no second
//! crypto stack). reqwest leaves the choice of provider to the process; this makes it.

/// A client builder whose TLS runs on ring. Use it wherever a `reqwest::Client` is built.
pub fn builder() -> reqwest::ClientBuilder {
    install_tls_provider();
    reqwest::Client::builder()
}

/// A client with reqwest's defaults and ring's TLS.
pub fn client() -> reqwest::Client {
    builder()
        .build()
        // Building fails only when no TLS provider or system roots can be set up at all.
        .expect("an HTTP client with default settings builds once a TLS provider is installed")
}

/// Makes ring rustls's provider for this process; later calls change nothing.
pub(crate) fn install_tls_provider() {
    // `Err` means a provider is installed already (this one, by an earlier call).
    let _ = rustls::crypto::ring::default_provider().install_default();
}
