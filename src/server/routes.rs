//! The HTTP routes. A webhook request is checked (signature, headers, JSON, event shape),
//! recorded durably, queued and answered; nothing slow happens before the response, and no
//! input can make a route panic: every failure is a status code and a one-line reason.

use super::claims::DeliveryClaims;
use super::delivery_log::{valid_id, DeliveryLog, DeliveryLogError, Recorded, Source};
use super::events::{leading_action, BodyError, GithubEvent, Parsed};
use super::handler::{DeliveryHandler, GithubDelivery, RawDelivery};
use super::kpis::KpiSource;
use super::metrics::{Metrics, Outcome};
use super::signature;
use super::worker::Job;
use crate::config::bot::{BotConfig, InboundTokens, Secret};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
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

/// Alertmanager and Argo notifications are small; a larger body is refused with 413 before
/// anything parses it.
pub const MAX_INBOUND_BODY_BYTES: usize = 1024 * 1024;

/// Each `/readyz` check's time limit; the three checks together stay within the
/// `timeoutSeconds: 10` a probe of `/readyz` should be given.
const READYZ_CHECK_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

pub(crate) struct AppState {
    secrets: Vec<Secret>,
    log: Arc<DeliveryLog>,
    metrics: Arc<Metrics>,
    queue: mpsc::UnboundedSender<Job>,
    /// Asked which events it needs; the others are recorded without their body.
    handler: Arc<dyn DeliveryHandler>,
    credentials_present: bool,
    /// How check commands run here (`bwrap`, `none: …`, `unavailable: …`), probed at start.
    sandbox: String,
    next_id: AtomicU64,
    /// The app's KPIs from the audit log; `None` without an app.
    kpis: Option<Arc<KpiSource>>,
    claims: Option<Arc<DeliveryClaims>>,
    inbound: InboundTokens,
    inbound_status: Value,
    /// How long a request body may take to arrive.
    read_timeout: std::time::Duration,
    /// What `/readyz` checks.
    readiness: super::readiness::Readiness,
}

impl AppState {
    pub(crate) fn new(
        config: &BotConfig,
        log: Arc<DeliveryLog>,
        metrics: Arc<Metrics>,
        queue: mpsc::UnboundedSender<Job>,
        handler: Arc<dyn DeliveryHandler>,
        kpis: Option<Arc<KpiSource>>,
        claims: Option<Arc<DeliveryClaims>>,
    ) -> AppState {
        AppState {
            secrets: config.webhook_secrets.clone(),
            log,
            metrics,
            queue,
            handler,
            credentials_present: config.github_credentials_present(),
            sandbox: crate::fix::Sandbox::new(config.validation.clone(), Default::default())
                .status()
                .describe(),
            next_id: AtomicU64::new(0),
            kpis,
            claims,
            inbound: config.inbound.clone(),
            inbound_status: config.inbound_status(),
            read_timeout: config.http.read_timeout,
            readiness: super::readiness::Readiness::new(config, READYZ_CHECK_LIMIT),
        }
    }

    /// The body, read within the read timeout and at most `limit` bytes (413 beyond it, with
    /// nothing buffered past the limit; 408 when it does not arrive in time).
    async fn read_body(
        &self,
        source: Source,
        headers: &HeaderMap,
        body: Body,
        limit: usize,
    ) -> Result<Bytes, Response> {
        let declared = header(headers, "content-length").and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(self.reject(
                source,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {limit} bytes"),
            ));
        }
        match tokio::time::timeout(self.read_timeout, axum::body::to_bytes(body, limit)).await {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(e)) => {
                let too_large = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                if too_large {
                    Err(self.reject(
                        source,
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("body larger than {limit} bytes"),
                    ))
                } else {
                    Err(self.reject(
                        source,
                        StatusCode::BAD_REQUEST,
                        format!("cannot read the body: {e}"),
                    ))
                }
            }
            Err(_) => Err(self.reject(
                source,
                StatusCode::REQUEST_TIMEOUT,
                format!("body not received within {} s", self.read_timeout.as_secs()),
            )),
        }
    }

    fn reject(
        &self,
        source: Source,
        status: StatusCode,
        reason: impl std::fmt::Display,
    ) -> Response {
        self.metrics.count(source, Outcome::Rejected);
        tracing::info!(status = status.as_u16(), %reason, "webhook rejected");
        reply(status, "rejected", &reason.to_string())
    }

    /// Records durably (group commit), claimed for this replica first when `claim`; `Err` is
    /// the response to send.
    async fn record(
        &self,
        id: &str,
        source: Source,
        event: Option<&str>,
        action: Option<&str>,
        body: Option<Bytes>,
        claim: bool,
    ) -> Result<Recorded, Response> {
        let recorded = self
            .log
            .record_claiming(id, source, event, action, body, claim)
            .await;
        match recorded {
            Ok(recorded) => Ok(recorded),
            // Redis is needed to claim and did not answer: refused rather than risk
            // processing the delivery twice.
            Err(e @ DeliveryLogError::Claim(_)) => {
                Err(self.reject(source, StatusCode::SERVICE_UNAVAILABLE, e))
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot record a delivery");
                // Claimed but not recorded, so not ours to process: let a retry take it
                // (unless a request with the same id recorded it meanwhile, under the same
                // claim).
                if let (true, Some(claims)) = (claim, &self.claims) {
                    if !self.log.contains(id) {
                        let _ = claims.release(id).await;
                    }
                }
                Err(reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error",
                    "cannot record the delivery",
                ))
            }
        }
    }

    /// Takes a place in the queue, or the 503 to answer at the high-water mark (boxed: the
    /// refusal is the rare path).
    fn admit(&self) -> Result<Place<'_>, Box<Response>> {
        if self.metrics.try_enqueue(super::HIGH_WATER) {
            return Ok(Place {
                metrics: &self.metrics,
                taken: true,
            });
        }
        self.metrics.shed();
        tracing::warn!(
            depth = self.metrics.queue_depth(),
            "delivery refused: the queue is at its high-water mark"
        );
        let mut response = reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many deliveries waiting to be handled; retry later",
        );
        response.headers_mut().insert(
            "retry-after",
            axum::http::HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
        Err(Box::new(response))
    }

    /// Hands a recorded delivery to the workers, in the place taken by [`AppState::admit`].
    fn enqueue(&self, mut place: Place<'_>, job: Job) {
        place.taken = false;
        if self.queue.send(job).is_err() {
            // Recorded but not done: the next start hands it to the workers.
            self.metrics.dequeued();
            tracing::warn!("workers stopped; delivery left for the next start");
        }
    }
}

/// What a client is told to wait at the high-water mark.
const RETRY_AFTER_SECONDS: &str = "5";

/// A place in the queue; given back when dropped unused (duplicate, ignored, failed).
struct Place<'a> {
    metrics: &'a Metrics,
    taken: bool,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if self.taken {
            self.metrics.dequeued();
        }
    }
}

/// The body of every webhook answer: `{"status": …, "message": …}`.
#[derive(serde::Serialize)]
struct Reply<'a> {
    status: &'a str,
    message: &'a str,
}

fn reply(status: StatusCode, outcome: &str, message: &str) -> Response {
    let body = Reply {
        status: outcome,
        message,
    };
    (status, Json(body)).into_response()
}

/// Which routes a listener carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Face {
    /// Everything on one listener (no `internal_listen`).
    All,
    /// What must face the internet: GitHub's webhook and the liveness probe.
    Public,
    /// The cluster-internal listener: Alertmanager, Argo, metrics and the probe.
    Internal,
}

pub(crate) fn router(state: Arc<AppState>, log: Option<tracing::Dispatch>, face: Face) -> Router {
    let mut router = Router::new().route("/healthz", get(healthz));
    if face != Face::Internal {
        router = router.route("/webhooks/github", post(github));
    }
    if face != Face::Public {
        router = router
            .route("/webhooks/alertmanager", post(alertmanager))
            .route("/webhooks/argo", post(argo))
            .route("/metrics", get(metrics))
            .route("/readyz", get(readyz));
    }
    let router = router.with_state(state);
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

async fn github(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let body = match state
        .read_body(Source::Github, &headers, body, MAX_BODY_BYTES)
        .await
    {
        Ok(body) => body,
        Err(response) => return response,
    };
    let signature = header(&headers, "x-hub-signature-256");
    if let Err(e) = signature::verify(&state.secrets, signature, &body) {
        return state.reject(Source::Github, StatusCode::UNAUTHORIZED, e);
    }
    let Some(event_name) = header(&headers, "x-github-event") else {
        return state.reject(
            Source::Github,
            StatusCode::BAD_REQUEST,
            "missing X-GitHub-Event header",
        );
    };
    let id = match header(&headers, "x-github-delivery") {
        Some(id) if valid_id(id) => id.to_string(),
        _ => {
            return state.reject(
                Source::Github,
                StatusCode::BAD_REQUEST,
                "missing or invalid X-GitHub-Delivery header",
            )
        }
    };
    // A body the handler certainly does not need (a comment without a `/heal` line) is
    // verified and logged, not parsed: parsing it would cost as much as the signature.
    let unneeded = (!state.handler.may_need(event_name, &body))
        .then(|| leading_action(&body))
        .flatten();
    let parsed = match unneeded {
        Some(action) => Ok(Parsed {
            event: None,
            action: Some(action.to_string()),
        }),
        None => GithubEvent::parse_slice(event_name, &body),
    };
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(e @ BodyError::Malformed(_)) => {
            return state.reject(Source::Github, StatusCode::BAD_REQUEST, e)
        }
        Err(BodyError::Shape(e)) => {
            return state.reject(Source::Github, StatusCode::BAD_REQUEST, e)
        }
    };
    let action = parsed.action.as_deref();
    // Only what healbot acts on is queued, with its body; the rest is one line of the log.
    let event = parsed
        .event
        .filter(GithubEvent::acts)
        .filter(|e| state.handler.needs(e));
    let place = match &event {
        Some(_) => match state.admit() {
            Ok(place) => Some(place),
            Err(refusal) => return *refusal,
        },
        None => None,
    };
    // With replicas, one of them takes a delivery healbot acts on; the others say duplicate.
    // The log's thread claims such a delivery with its batch, before writing it: a restarted
    // replica handles every delivery its log holds, so the log holds only what it claimed
    // (`delivery_log::claimed`).
    let claim = state.claims.is_some() && event.is_some();
    // What healbot reads of the payload, not all of it: after a restart the worker gets the
    // same event back (a body that would not serialize keeps the payload itself).
    let kept_body = event.as_ref().map(|e| match e.kept_body() {
        Ok(kept) => Bytes::from(kept),
        Err(_) => body.clone(),
    });
    let recorded = match state
        .record(
            &id,
            Source::Github,
            Some(event_name),
            action,
            kept_body,
            claim,
        )
        .await
    {
        Ok(r) => r,
        Err(response) => return response,
    };
    if recorded == Recorded::HeldElsewhere {
        state.metrics.count(Source::Github, Outcome::Duplicate);
        tracing::info!(delivery = %id, event = event_name, "delivery taken by another replica");
        return reply(
            StatusCode::OK,
            "duplicate",
            "delivery already received by another replica",
        );
    }
    if recorded == Recorded::Duplicate {
        state.metrics.count(Source::Github, Outcome::Duplicate);
        tracing::info!(delivery = %id, event = event_name, "duplicate delivery");
        return reply(StatusCode::OK, "duplicate", "delivery already received");
    }
    let (Some(event), Some(place)) = (event, place) else {
        state.metrics.count(Source::Github, Outcome::Ignored);
        tracing::info!(delivery = %id, event = event_name, action = action.unwrap_or(""), "event ignored");
        return reply(
            StatusCode::ACCEPTED,
            "ignored",
            "healbot does not act on this event",
        );
    };
    tracing::info!(delivery = %id, event = event_name, action = action.unwrap_or(""), "delivery queued");
    state.enqueue(place, Job::Github(GithubDelivery { id, event }));
    reply(StatusCode::ACCEPTED, "queued", "delivery recorded")
}

async fn alertmanager(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    raw(state, Source::Alertmanager, headers, body).await
}

async fn argo(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    raw(state, Source::Argo, headers, body).await
}

/// Alertmanager and Argo carry no delivery id or signature: a bearer token says who sent
/// it, and each request is a new delivery.
async fn raw(state: Arc<AppState>, source: Source, headers: HeaderMap, body: Body) -> Response {
    let tokens = match source {
        Source::Argo => &state.inbound.argo,
        _ => &state.inbound.alertmanager,
    };
    if let Some(refusal) = bearer(&state, source, tokens, &headers) {
        return refusal;
    }
    let body = match state
        .read_body(source, &headers, body, MAX_INBOUND_BODY_BYTES)
        .await
    {
        Ok(body) => body,
        Err(response) => return response,
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return state.reject(
                source,
                StatusCode::BAD_REQUEST,
                format!("malformed JSON: {e}"),
            )
        }
    };
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let n = state.next_id.fetch_add(1, Ordering::Relaxed);
    let prefix = match source {
        Source::Alertmanager => "alertmanager",
        Source::Argo => "argo",
        Source::Github => "github",
    };
    let id = format!("{prefix}-{now}-{n}");
    let place = match state.admit() {
        Ok(place) => place,
        Err(refusal) => return *refusal,
    };
    if let Err(response) = state
        .record(&id, source, None, None, Some(body), false)
        .await
    {
        return response;
    }
    state.enqueue(
        place,
        Job::Raw(RawDelivery {
            id,
            source,
            body: value,
        }),
    );
    reply(StatusCode::ACCEPTED, "queued", "delivery recorded")
}

/// Checks `Authorization: Bearer <token>` against the configured tokens in constant time.
/// No token configured: the route is disabled and answers 404 (fail closed). `Some` is the
/// refusal to send.
fn bearer(
    state: &AppState,
    source: Source,
    tokens: &[Secret],
    headers: &HeaderMap,
) -> Option<Response> {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    if tokens.is_empty() {
        state.metrics.count(source, Outcome::Rejected);
        return Some(reply(
            StatusCode::NOT_FOUND,
            "disabled",
            "this route is disabled: no token is configured for it (healbot.yaml inbound:)",
        ));
    }
    // The scheme is case-insensitive (RFC 9110); Alertmanager sends its configured type.
    let given = header(headers, "authorization")
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(given) = given else {
        let mut response = state.reject(source, StatusCode::UNAUTHORIZED, "missing bearer token");
        response.headers_mut().insert(
            "www-authenticate",
            axum::http::HeaderValue::from_static("Bearer"),
        );
        return Some(response);
    };
    // Equal-length digests, so neither the length nor a prefix of a token leaks in timing.
    let given = Sha256::digest(given.as_bytes());
    let matched = tokens.iter().fold(subtle::Choice::from(0), |any, t| {
        any | Sha256::digest(t.expose()).ct_eq(&given)
    });
    if bool::from(matched) {
        return None;
    }
    let mut response = state.reject(source, StatusCode::UNAUTHORIZED, "wrong bearer token");
    response.headers_mut().insert(
        "www-authenticate",
        axum::http::HeaderValue::from_static("Bearer"),
    );
    Some(response)
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    Json(json!({
        "ok": true,
        "version": env!("CARGO_PKG_VERSION"),
        "github_credentials": if state.credentials_present { "present" } else { "missing" },
        "sandbox": state.sandbox,
        "queue_depth": state.metrics.queue_depth(),
        "inbound": state.inbound_status,
        "problems": state.handler.health_problems(),
    }))
    .into_response()
}

/// 200 when every configured dependency answers, 503 naming the one that does not.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let report = state.readiness.report().await;
    let status = if report.failed() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (
        status,
        Json(json!({"ready": !report.failed(), "checks": report.checks})),
    )
        .into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut text = state.metrics.render();
    super::metrics::render_delivery_log(&mut text, &state.log.commit_stats());
    if let Some(kpis) = &state.kpis {
        text.push_str(&kpis.render().await);
    }
    ([("content-type", "text/plain; version=0.0.4")], text).into_response()
}
