use std::thread;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::config::AgentConfig;
use crate::export::Exporter;

pub struct Agent {
    config: AgentConfig,
    handle: Handle,
    workers: Vec<thread::JoinHandle<()>>,
}

impl Agent {
    pub fn new(config: AgentConfig, handle: Handle) -> Self {
        Agent { config, handle, workers: Vec::new() }
    }

    pub fn spawn_exporter(&mut self) -> mpsc::Sender<crate::metrics::Snapshot> {
        let (tx, rx) = mpsc::channel(1024);
        let endpoint = self.config.endpoint.clone();
        let interval = Duration::from_secs(self.config.interval_secs);
        let worker = thread::Builder::new()
            .name("exporter".into())
            .spawn(move || {
                let mut exporter = Exporter::new(&endpoint, interval, rx);
                let task = exporter.start();
                drop(task);
            })
            .expect("spawn exporter thread");
        self.workers.push(worker);
        tx
    }
}
