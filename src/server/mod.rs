//! `healbot serve`: the HTTP side of the GitHub App. Built the way bors and buildomat build
//! theirs: a webhook request only verifies, records durably and enqueues, and answers well inside
//! GitHub's 10 s; workers do the real work after the response. A crash between the two loses
//! nothing, because the delivery log hands unfinished deliveries to the workers on restart.
//! Recording is group-committed ([`delivery_log`]), handling is concurrent with order kept per
//! pull request, installation, alert group or rollout ([`worker`]), and past [`HIGH_WATER`]
//! deliveries in flight a new one is answered 503 with `Retry-After`.

pub mod app;
pub mod claims;
pub mod delivery_log;
pub mod events;
pub mod handler;
pub mod kpis;
mod listener;
pub mod metrics;
pub mod process_metrics;
pub mod readiness;
mod routes;
pub mod signature;
mod state_file;
mod worker;

pub use delivery_log::{DeliveryLog, Source};
pub use events::GithubEvent;
pub use handler::{
    DeliveryHandler, GithubDelivery, HandlerError, InstallationTracker, RawDelivery,
};
pub use metrics::{Metrics, Outcome};
pub use routes::{MAX_BODY_BYTES, MAX_INBOUND_BODY_BYTES};

use crate::config::bot::BotConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Deliveries recorded and not yet handled past which new ones are answered 503 with
/// `Retry-After` instead of being recorded: the queue never grows without bound and the
/// listener never stops accepting.
pub const HIGH_WATER: usize = 4096;

/// Why the server could not start or stopped; internal, logged by the caller.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    DeliveryLog(#[from] delivery_log::DeliveryLogError),
    #[error(transparent)]
    Handler(#[from] HandlerError),
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}

/// Choices beyond the config file.
#[derive(Default, Clone)]
pub struct ServeOptions {
    /// `None`: the [`InstallationTracker`] on the config's state dir.
    pub handler: Option<Arc<dyn DeliveryHandler>>,
    /// A subscriber for every request and the worker (the CLI passes its JSON logger).
    pub log: Option<tracing::Dispatch>,
    /// Delivery ids claimed in Redis, when several replicas share one webhook URL.
    pub claims: Option<Arc<claims::DeliveryClaims>>,
}

/// A running server. Dropping it leaves the server running; call [`ServerHandle::shutdown`].
pub struct ServerHandle {
    pub addr: SocketAddr,
    /// The `internal_listen` listener's address, when configured.
    pub internal_addr: Option<SocketAddr>,
    pub metrics: Arc<Metrics>,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    internal: Option<JoinHandle<std::io::Result<()>>>,
    worker: JoinHandle<()>,
}

impl ServerHandle {
    /// Stops accepting, lets open requests finish (up to the grace period), then lets the
    /// worker drain its queue.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        let _ = self.stop.send(true);
        let result = self.server.await;
        let internal = match self.internal {
            Some(internal) => internal.await,
            None => Ok(Ok(())),
        };
        let _ = self.worker.await;
        flatten(result)?;
        flatten(internal)
    }

    /// Runs until the server stops on its own or the task is cancelled.
    pub async fn wait(self) -> Result<(), ServerError> {
        let _keep_open = self.stop;
        let result = self.server.await;
        let _ = self.worker.await;
        flatten(result)
    }
}

fn flatten(r: Result<std::io::Result<()>, tokio::task::JoinError>) -> Result<(), ServerError> {
    match r {
        Ok(inner) => inner.map_err(ServerError::Io),
        Err(e) => Err(ServerError::Io(std::io::Error::other(e.to_string()))),
    }
}

/// Serves on `listener` (bind `127.0.0.1:0` in tests) until [`ServerHandle::shutdown`]; with
/// `internal_listen` configured, Alertmanager, Argo and `/metrics` move to a second listener
/// bound here.
pub async fn serve_on(
    listener: TcpListener,
    config: BotConfig,
    options: ServeOptions,
) -> Result<ServerHandle, ServerError> {
    let addr = listener.local_addr()?;
    let internal_listener = match config.internal_listen {
        Some(internal) => Some(TcpListener::bind(internal).await?),
        None => None,
    };
    std::fs::create_dir_all(&config.state_dir)?;
    let retention = delivery_log::Retention {
        keep: config.delivery_retention,
        ..delivery_log::Retention::default()
    };
    let (log, pending) = match &options.claims {
        Some(claims) => DeliveryLog::open_claiming(&config.state_dir, retention, claims.clone())?,
        None => DeliveryLog::open_with(&config.state_dir, retention)?,
    };
    let log = Arc::new(log);
    let handler: Arc<dyn DeliveryHandler> = match options.handler {
        Some(h) => h,
        None => Arc::new(InstallationTracker::open(&config.state_dir)?),
    };
    let kpis = handler
        .kpi_source()
        .map(|o| Arc::new(kpis::KpiSource::new(o.journal.clone(), o.locks.clone())));
    let metrics = Arc::new(Metrics::default());
    // Unbounded as a channel, bounded by admission: routes take a place (HIGH_WATER) first.
    let (tx, rx) = mpsc::unbounded_channel();
    let dispatch = options.log.clone();
    let worker = worker::spawn(
        rx,
        handler.clone(),
        log.clone(),
        metrics.clone(),
        dispatch.clone(),
    );
    worker::requeue(pending, tx.clone(), log.clone(), metrics.clone());
    let state = Arc::new(routes::AppState::new(
        &config,
        log,
        metrics.clone(),
        tx,
        handler,
        kpis,
        options.claims.clone(),
    ));
    let (stop, stopped) = watch::channel(false);
    let (internal_addr, internal) = match internal_listener {
        Some(internal) => {
            let internal_addr = internal.local_addr()?;
            let app = routes::router(state.clone(), dispatch.clone(), routes::Face::Internal);
            let task = listener::spawn(internal, app, &config.http, stopped.clone());
            (Some(internal_addr), Some(task))
        }
        None => (None, None),
    };
    let face = if internal.is_some() {
        routes::Face::Public
    } else {
        routes::Face::All
    };
    let app = routes::router(state, dispatch, face);
    let server = listener::spawn(listener, app, &config.http, stopped);
    Ok(ServerHandle {
        addr,
        internal_addr,
        metrics,
        stop,
        server,
        internal,
        worker,
    })
}
