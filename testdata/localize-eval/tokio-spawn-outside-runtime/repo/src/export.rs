use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::metrics::Snapshot;

pub struct Exporter {
    endpoint: String,
    interval: Duration,
    rx: Option<mpsc::Receiver<Snapshot>>,
}

impl Exporter {
    pub fn new(endpoint: &str, interval: Duration, rx: mpsc::Receiver<Snapshot>) -> Self {
        Exporter { endpoint: endpoint.to_string(), interval, rx: Some(rx) }
    }

    pub fn start(&mut self) -> Arc<tokio::task::JoinHandle<()>> {
        let mut rx = self.rx.take().expect("exporter started twice");
        let endpoint = self.endpoint.clone();
        let interval = self.interval;
        let task = tokio::spawn(async move {
            let client = reqwest::Client::new();
            while let Some(snapshot) = rx.recv().await {
                let body = snapshot.to_json();
                if let Err(e) = client.post(&endpoint).body(body).send().await {
                    tracing::warn!(error = %e, "export failed");
                }
                tokio::time::sleep(interval).await;
            }
        });
        Arc::new(task)
    }
}
