//! What the worker does with a delivery once the response is gone: the [`DeliveryHandler`]
//! trait is the seam where the orchestrator (and the Alertmanager and Argo parsers) plug in.
//! The handler shipped here tracks installations and logs everything else.

use super::delivery_log::Source;
use super::events::{GithubEvent, InstallationAction, InstallationReposAction};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::sync::Mutex;

/// A GitHub delivery, verified, recorded and parsed.
#[derive(Debug, Clone)]
pub struct GithubDelivery {
    /// `X-GitHub-Delivery`.
    pub id: String,
    pub event: GithubEvent,
}

/// A delivery from Alertmanager or Argo, as JSON; the handler parses it (`signals::alertmanager`,
/// `canary::argo_notification`).
#[derive(Debug, Clone)]
pub struct RawDelivery {
    pub id: String,
    pub source: Source,
    pub body: serde_json::Value,
}

/// A handler failure: logged and counted by the worker, never sent to the webhook's caller.
/// Each keeps the error underneath as its source, so the log shows the whole chain.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("installations state {path}: {source}")]
    State {
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// Handles deliveries after they are recorded. Must be idempotent: after a crash, a delivery
/// recorded but not marked done is handed over again.
#[async_trait]
pub trait DeliveryHandler: Send + Sync + 'static {
    async fn handle(&self, delivery: GithubDelivery) -> Result<(), HandlerError>;

    /// Whether this handler may have anything to do with the event `name` whose raw body is
    /// `body`, asked before any parse. `false` must be certain: the body is then not parsed,
    /// only recorded (for dedupe) as ignored, with the action read from its first member (a
    /// body whose first member is not its action is parsed all the same).
    fn may_need(&self, name: &str, body: &[u8]) -> bool {
        let _ = (name, body);
        true
    }

    /// Whether this handler has anything to do with `event`. `false`: the delivery is recorded
    /// (for dedupe) without its body and never queued, so it costs one line of the log.
    fn needs(&self, event: &GithubEvent) -> bool {
        let _ = event;
        true
    }

    /// Alertmanager webhook v4 bodies; ignored until the signals parser is wired in.
    async fn handle_alertmanager(&self, delivery: RawDelivery) -> Result<(), HandlerError> {
        tracing::info!(id = %delivery.id, "alertmanager delivery recorded; no handler yet");
        Ok(())
    }

    /// Argo Rollouts notifications; ignored until the deploy side is wired in.
    async fn handle_argo(&self, delivery: RawDelivery) -> Result<(), HandlerError> {
        tracing::info!(id = %delivery.id, "argo delivery recorded; no handler yet");
        Ok(())
    }

    /// What an operator must fix that `/healthz` should show (a GitOps repository the App is
    /// not installed on); empty when nothing is wrong.
    fn health_problems(&self) -> Vec<String> {
        Vec::new()
    }

    /// The orchestrator whose audit log and locks `/metrics` reports KPIs on, if any.
    fn kpi_source(&self) -> Option<std::sync::Arc<crate::orchestrator::Orchestrator>> {
        None
    }
}

/// One installation of the app and the repositories it may touch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstallationRecord {
    pub account: Option<String>,
    pub repositories: Vec<String>,
}

/// Installation id → record, as kept in `<state>/installations.json`.
pub(crate) type Installations = BTreeMap<u64, InstallationRecord>;

/// The default handler (no GitHub App credentials): keeps the installation map and logs pings;
/// every other event is recorded and ignored.
pub struct InstallationTracker {
    path: PathBuf,
    state: Mutex<Installations>,
}

impl InstallationTracker {
    pub const FILE: &'static str = "installations.json";

    /// Loads `<state_dir>/installations.json`, empty when absent.
    pub fn open(state_dir: &Path) -> Result<InstallationTracker, HandlerError> {
        let path = state_dir.join(Self::FILE);
        let state = super::state_file::load(&path)?;
        Ok(InstallationTracker {
            path,
            state: Mutex::new(state),
        })
    }

    pub async fn installations(&self) -> Installations {
        self.state.lock().await.clone()
    }

    async fn save(&self, state: &Installations) -> Result<(), HandlerError> {
        super::state_file::save(&self.path, state).await
    }
}

fn names(repos: &[super::events::Repository]) -> Vec<String> {
    repos.iter().map(|r| r.full_name.clone()).collect()
}

#[async_trait]
impl DeliveryHandler for InstallationTracker {
    /// Installations, and the ping GitHub sends when a webhook is set up (its handling shows
    /// in the log and on `/metrics`, a check that the setup works): without the App's
    /// credentials nothing acts on the rest, so each of those is one line of the log, never
    /// queued.
    fn needs(&self, event: &GithubEvent) -> bool {
        matches!(
            event,
            GithubEvent::Installation(_)
                | GithubEvent::InstallationRepositories(_)
                | GithubEvent::Ping(_)
        )
    }

    async fn handle(&self, delivery: GithubDelivery) -> Result<(), HandlerError> {
        let mut state = self.state.lock().await;
        match &delivery.event {
            GithubEvent::Installation(e) => {
                match e.action {
                    InstallationAction::Created => {
                        let record = InstallationRecord {
                            account: e.installation.account.as_ref().map(|a| a.login.clone()),
                            repositories: names(e.repositories.as_deref().unwrap_or(&[])),
                        };
                        state.insert(e.installation.id, record);
                    }
                    InstallationAction::Deleted => {
                        state.remove(&e.installation.id);
                    }
                    InstallationAction::Other => return Ok(()),
                }
                tracing::info!(installation = e.installation.id, action = ?e.action, "installation");
                self.save(&state).await
            }
            GithubEvent::InstallationRepositories(e) => {
                let record = state.entry(e.installation.id).or_default();
                if record.account.is_none() {
                    record.account = e.installation.account.as_ref().map(|a| a.login.clone());
                }
                match e.action {
                    InstallationReposAction::Added | InstallationReposAction::Removed => {
                        let removed = names(&e.repositories_removed);
                        record.repositories.retain(|r| !removed.contains(r));
                        for added in names(&e.repositories_added) {
                            if !record.repositories.contains(&added) {
                                record.repositories.push(added);
                            }
                        }
                    }
                    InstallationReposAction::Other => return Ok(()),
                }
                tracing::info!(installation = e.installation.id, action = ?e.action, "installation repositories");
                self.save(&state).await
            }
            // Pings, and deliveries a run with the App's credentials queued and a restart
            // without them handed over.
            event => {
                let overrides = event.overrides();
                tracing::info!(
                    delivery = %delivery.id,
                    overrides = overrides.overrides.len(),
                    rejected_commands = overrides.rejected.len(),
                    "github event received; no orchestrator attached"
                );
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::HandlerError;
    use std::error::Error;

    #[test]
    fn handler_errors_keep_their_source() {
        let bad = serde_json::from_str::<u64>("\"x\"").unwrap_err();
        let text = bad.to_string();
        let e = HandlerError::State {
            path: "installations.json".into(),
            source: Box::new(bad),
        };
        assert_eq!(
            e.to_string(),
            format!("installations state installations.json: {text}")
        );
        assert!(e
            .source()
            .unwrap()
            .downcast_ref::<serde_json::Error>()
            .is_some());

        // `Other` is the error itself: same message, same chain.
        let inner = HandlerError::State {
            path: "p".into(),
            source: "gone".into(),
        };
        let shown = inner.to_string();
        let e = HandlerError::Other(Box::new(inner));
        assert_eq!(e.to_string(), shown);
        assert_eq!(e.source().unwrap().to_string(), "gone");
    }
}
