//! The baseline for `scripts/bench/webhook` (issue 8): a bare axum server that answers every
//! `POST /webhooks/github` with 200 and does nothing else (no signature check, no delivery log,
//! no fsync, no queue). wrk drives it with the same script and connection count as
//! `healbot serve` in the same run, so the gap between the two is what healbot's intake costs on
//! top of the HTTP stack it is built on.
//!
//! Usage: `cargo run --release --example bare_axum -- 127.0.0.1:PORT`

use axum::{http::StatusCode, routing::post, Router};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: bare_axum ADDRESS (e.g. 127.0.0.1:8080)"))?;
    let app = Router::new().route("/webhooks/github", post(|| async { StatusCode::OK }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
