//! A real Prometheus (Debian's `prometheus`, installed by scripts/test) on a free loopback port,
//! scraping an exporter the test serves itself every second, and a tiny HTTP server for
//! canned Loki and Elasticsearch answers. Prometheus is killed when the handle drops.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A request as the test server saw it.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub body: String,
}

pub type Handler = Arc<dyn Fn(&Seen) -> (u16, String, String) + Send + Sync>;

/// Serves `handler` (status, content type, body) on a loopback port until the runtime ends.
pub async fn serve_http(handler: Handler) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (handler, log) = (handler.clone(), log.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then as many body bytes as Content-Length says.
                let request = loop {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + length {
                            break text;
                        }
                    }
                };
                let (head, body) = request.split_once("\r\n\r\n").unwrap_or((&request, ""));
                let mut parts = head.split_whitespace();
                let seen = Seen {
                    method: parts.next().unwrap_or_default().to_string(),
                    target: parts.next().unwrap_or_default().to_string(),
                    body: body.to_string(),
                };
                let (status, content_type, body) = handler(&seen);
                log.lock().expect("log").push(seen);
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (addr, seen)
}

/// Counters the exporter adds on every scrape, per (service, track).
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    pub ok_per_scrape: u64,
    pub errors_per_scrape: u64,
    /// Requests per scrape in each latency bucket (upper bounds 0.1, 0.5, 2.5 s).
    pub buckets: [u64; 3],
}

#[derive(Default)]
pub struct ExporterState {
    pub traffic: BTreeMap<(String, String), Traffic>,
    totals: BTreeMap<(String, String), (u64, u64, [u64; 3])>,
}

/// An exporter of `http_requests_total` and `http_request_duration_seconds` on loopback.
pub async fn exporter(state: Arc<Mutex<ExporterState>>) -> SocketAddr {
    let handler: Handler = Arc::new(move |req: &Seen| {
        if !req.target.starts_with("/metrics") {
            return (404, "text/plain".into(), "not found".into());
        }
        let mut s = state.lock().expect("exporter state");
        let traffic = s.traffic.clone();
        let mut out = String::from(
            "# TYPE http_requests_total counter\n# TYPE http_request_duration_seconds histogram\n",
        );
        for (key, t) in traffic {
            let total = s.totals.entry(key.clone()).or_default();
            total.0 += t.ok_per_scrape;
            total.1 += t.errors_per_scrape;
            for (b, n) in total.2.iter_mut().zip(t.buckets) {
                *b += n;
            }
            let (svc, track) = key;
            let labels = format!("service=\"{svc}\",track=\"{track}\"");
            out.push_str(&format!(
                "http_requests_total{{{labels},code=\"200\"}} {}\n",
                total.0
            ));
            out.push_str(&format!(
                "http_requests_total{{{labels},code=\"500\"}} {}\n",
                total.1
            ));
            let mut cumulative = 0;
            for (le, n) in ["0.1", "0.5", "2.5"].iter().zip(total.2) {
                cumulative += n;
                out.push_str(&format!(
                    "http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}\n"
                ));
            }
            out.push_str(&format!(
                "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {cumulative}\n\
                 http_request_duration_seconds_count{{{labels}}} {cumulative}\n\
                 http_request_duration_seconds_sum{{{labels}}} 0\n"
            ));
        }
        (200, "text/plain; version=0.0.4".into(), out)
    });
    serve_http(handler).await.0
}

pub struct Prometheus {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second and waits until it is ready.
    pub async fn start(target: SocketAddr) -> Prometheus {
        let binary = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!("prometheus is not installed: run scripts/test, which installs Debian's `prometheus` package")
            });
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write config");
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let prometheus = Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let client = healbot::http_client::client();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = client
                .get(format!("{}/-/ready", prometheus.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return prometheus;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus did not become ready in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
