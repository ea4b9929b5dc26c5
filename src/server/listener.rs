//! The accept loop behind each of `serve`'s listeners. `axum::serve` has no read timeouts and
//! no connection limit, so a handful of slow or idle clients could hold every descriptor and
//! a shutdown could wait on them for minutes. Here each connection gets a header read timeout
//! (idle keep-alive connections included), connections beyond the limit are answered 503 at
//! once and closed, and a shutdown waits at most a grace period for requests in flight.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::config::bot::HttpLimits;

/// What a connection beyond the limit reads before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-type: application/json\r\ncontent-length: 58\r\nconnection: close\r\n\r\n{\"status\":\"busy\",\"message\":\"too many open connections\"}\r\n";

/// Descriptors kept free for files, Redis and outgoing requests when the process limit on
/// open files is what bounds the connections.
const RESERVED_DESCRIPTORS: u64 = 64;

/// The connection limit to use: the configured one, lowered to what the process may open.
pub(crate) fn connection_limit(configured: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and reads nothing else.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    if !ok || limit.rlim_cur == libc::RLIM_INFINITY {
        return configured;
    }
    let room = limit.rlim_cur.saturating_sub(RESERVED_DESCRIPTORS).max(8);
    configured.min(usize::try_from(room).unwrap_or(usize::MAX))
}

/// Serves `app` on `listener` until `stop` turns true, then lets open requests finish for
/// `limits.shutdown_grace` and drops the rest.
pub(crate) fn spawn(
    listener: TcpListener,
    app: Router,
    limits: &HttpLimits,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<std::io::Result<()>> {
    let max = connection_limit(limits.max_connections);
    let read_timeout = limits.read_timeout;
    let grace = limits.shutdown_grace;
    tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(max));
        let graceful = GracefulShutdown::new();
        // Kept so that connections still open after the grace period can be ended: each holds
        // the router, and with it the worker's queue, which must close for the worker to stop.
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stop.wait_for(|stopped| *stopped) => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors or a reset before accept: wait a little, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                tokio::spawn(refuse_busy(stream));
                continue;
            };
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(app.clone());
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(read_timeout)
                .serve_connection(TokioIo::new(stream), service);
            let connection = graceful.watch(connection);
            connections.spawn(async move {
                let _ = connection.await;
                drop(permit);
            });
        }
        drop(listener);
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                grace_seconds = grace.as_secs(),
                open = connections.len(),
                "shutdown: requests still open after the grace period were dropped"
            );
        }
        connections.shutdown().await;
        Ok(())
    })
}

async fn refuse_busy(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(BUSY).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_answer_is_a_complete_http_response() {
        let text = std::str::from_utf8(BUSY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), length);
        assert!(serde_json::from_str::<serde_json::Value>(body.trim()).is_ok());
    }

    #[test]
    fn the_limit_never_exceeds_the_descriptors_the_process_may_open() {
        assert!(connection_limit(usize::MAX) < usize::MAX);
        assert_eq!(connection_limit(4), 4);
    }
}
