//! The HTTP routes. A webhook request is checked (signature, headers, JSON, event shape),
//! recorded durably, queued and answered; nothing slow happens before the response, and no
//! input can make a route panic: every failure is a status code and a one-line reason.

use super::claims::DeliveryClaims;
use super::delivery_log::{valid_id, DeliveryLog, Recorded, Source};
use super::events::GithubEvent;
use super::handler::{GithubDelivery, RawDelivery};
use super::kpis::KpiSource;
use super::metrics::{Metrics, Outcome};
use super::signature;
use super::worker::Job;
use crate::config::bot::{BotConfig, Secret};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::instrument::WithSubscriber;

/// GitHub caps webhook payloads at 25 MB; anything larger is refused with 413.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

pub(crate) struct AppState {
    secrets: Vec<Secret>,
    log: Arc<DeliveryLog>,
    metrics: Arc<Metrics>,
    queue: mpsc::Sender<Job>,
    credentials_present: bool,
    /// How check commands run here (`bwrap`, `none: …`, `unavailable: …`), probed at start.
    sandbox: String,
    next_id: AtomicU64,
    /// The app's KPIs from the audit log; `None` without an app.
    kpis: Option<Arc<KpiSource>>,
    claims: Option<Arc<DeliveryClaims>>,
}

impl AppState {
    pub(crate) fn new(
        config: &BotConfig,
        log: Arc<DeliveryLog>,
        metrics: Arc<Metrics>,
        queue: mpsc::Sender<Job>,
        kpis: Option<Arc<KpiSource>>,
        claims: Option<Arc<DeliveryClaims>>,
    ) -> AppState {
        AppState {
            secrets: config.webhook_secrets.clone(),
            log,
            metrics,
            queue,
            credentials_present: config.github_credentials_present(),
            sandbox: crate::fix::Sandbox::new(config.validation.clone(), Default::default())
                .status()
                .describe(),
            next_id: AtomicU64::new(0),
            kpis,
            claims,
        }
    }

    fn reject(&self, status: StatusCode, reason: impl std::fmt::Display) -> Response {
        self.metrics.count(Outcome::Rejected);
        tracing::info!(status = status.as_u16(), %reason, "webhook rejected");
        reply(status, "rejected", &reason.to_string())
    }

    /// Records and answers `Duplicate` without queueing; `Err` is the response to send.
    async fn record(
        &self,
        id: &str,
        source: Source,
        event: Option<&str>,
        action: Option<&str>,
        body: Option<Bytes>,
    ) -> Result<Recorded, Response> {
        let log = self.log.clone();
        let (id, event, action) = (
            id.to_string(),
            event.map(str::to_string),
            action.map(str::to_string),
        );
        let result = tokio::task::spawn_blocking(move || {
            log.record(
                &id,
                source,
                event.as_deref(),
                action.as_deref(),
                body.as_deref(),
            )
        })
        .await;
        match result {
            Ok(Ok(recorded)) => Ok(recorded),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot record a delivery");
                Err(reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error",
                    "cannot record the delivery",
                ))
            }
            Err(e) => {
                tracing::error!(error = %e, "delivery log task failed");
                Err(reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error",
                    "cannot record the delivery",
                ))
            }
        }
    }

    async fn enqueue(&self, job: Job) {
        self.metrics.enqueued();
        if self.queue.send(job).await.is_err() {
            // Recorded but not done: the next start hands it to the worker.
            self.metrics.dequeued();
            tracing::warn!("worker stopped; delivery left for the next start");
        }
    }
}

fn reply(status: StatusCode, outcome: &str, message: &str) -> Response {
    (status, Json(json!({"status": outcome, "message": message}))).into_response()
}

pub(crate) fn router(state: Arc<AppState>, log: Option<tracing::Dispatch>) -> Router {
    let router = Router::new()
        .route("/webhooks/github", post(github))
        .route("/webhooks/alertmanager", post(alertmanager))
        .route("/webhooks/argo", post(argo))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state);
    match log {
        // The process-wide subscriber is the CLI's; `serve` logs JSON through this one.
        Some(dispatch) => router.layer(middleware::from_fn(move |req: Request, next: Next| {
            next.run(req).with_subscriber(dispatch.clone())
        })),
        None => router,
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn github(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return state.reject(rejection.status(), rejection.body_text()),
    };
    let signature = header(&headers, "x-hub-signature-256");
    if let Err(e) = signature::verify(&state.secrets, signature, &body) {
        return state.reject(StatusCode::UNAUTHORIZED, e);
    }
    let Some(event_name) = header(&headers, "x-github-event") else {
        return state.reject(StatusCode::BAD_REQUEST, "missing X-GitHub-Event header");
    };
    let id = match header(&headers, "x-github-delivery") {
        Some(id) if valid_id(id) => id.to_string(),
        _ => {
            return state.reject(
                StatusCode::BAD_REQUEST,
                "missing or invalid X-GitHub-Delivery header",
            )
        }
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return state.reject(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")),
    };
    let action = value.get("action").and_then(Value::as_str);
    let event = match GithubEvent::parse(event_name, &value) {
        Ok(event) => event.filter(GithubEvent::acts),
        Err(e) => return state.reject(StatusCode::BAD_REQUEST, e),
    };
    // With replicas, one of them takes a delivery healbot acts on; the others say duplicate.
    if let (Some(claims), Some(_)) = (&state.claims, &event) {
        if !state.log.contains(&id) {
            match claims.claim(&id).await {
                Ok(true) => {}
                Ok(false) => {
                    state.metrics.count(Outcome::Duplicate);
                    tracing::info!(delivery = %id, event = event_name, "delivery taken by another replica");
                    return reply(
                        StatusCode::OK,
                        "duplicate",
                        "delivery already received by another replica",
                    );
                }
                Err(e) => return state.reject(StatusCode::SERVICE_UNAVAILABLE, e),
            }
        }
    }
    // Ignored events are recorded too (dedupe, audit), without keeping their body.
    let kept_body = event.as_ref().map(|_| body.clone());
    let recorded = match state
        .record(&id, Source::Github, Some(event_name), action, kept_body)
        .await
    {
        Ok(r) => r,
        Err(response) => {
            if let Some(claims) = &state.claims {
                // Not recorded, so not ours to process: let a retry take it.
                let _ = claims.release(&id).await;
            }
            return response;
        }
    };
    if recorded == Recorded::Duplicate {
        state.metrics.count(Outcome::Duplicate);
        tracing::info!(delivery = %id, event = event_name, "duplicate delivery");
        return reply(StatusCode::OK, "duplicate", "delivery already received");
    }
    let Some(event) = event else {
        state.metrics.count(Outcome::Ignored);
        tracing::info!(delivery = %id, event = event_name, ?action, "event ignored");
        return reply(
            StatusCode::ACCEPTED,
            "ignored",
            "healbot does not act on this event",
        );
    };
    tracing::info!(delivery = %id, event = event_name, ?action, "delivery queued");
    state
        .enqueue(Job::Github(GithubDelivery { id, event }))
        .await;
    reply(StatusCode::ACCEPTED, "queued", "delivery recorded")
}

async fn alertmanager(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    raw(state, Source::Alertmanager, body).await
}

async fn argo(State(state): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response {
    raw(state, Source::Argo, body).await
}

/// Alertmanager and Argo carry no delivery id or signature: each request is a new delivery.
async fn raw(
    state: Arc<AppState>,
    source: Source,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return state.reject(rejection.status(), rejection.body_text()),
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return state.reject(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")),
    };
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let n = state.next_id.fetch_add(1, Ordering::Relaxed);
    let prefix = match source {
        Source::Alertmanager => "alertmanager",
        Source::Argo => "argo",
        Source::Github => "github",
    };
    let id = format!("{prefix}-{now}-{n}");
    if let Err(response) = state.record(&id, source, None, None, Some(body)).await {
        return response;
    }
    state
        .enqueue(Job::Raw(RawDelivery {
            id,
            source,
            body: value,
        }))
        .await;
    reply(StatusCode::ACCEPTED, "queued", "delivery recorded")
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    Json(json!({
        "ok": true,
        "version": env!("CARGO_PKG_VERSION"),
        "github_credentials": if state.credentials_present { "present" } else { "missing" },
        "sandbox": state.sandbox,
        "queue_depth": state.metrics.queue_depth(),
    }))
    .into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut text = state.metrics.render();
    if let Some(kpis) = &state.kpis {
        text.push_str(&kpis.render().await);
    }
    ([("content-type", "text/plain; version=0.0.4")], text).into_response()
}
