//! Alertmanager deliveries: alerts grouped into incidents (a repeat opens nothing new), each
//! new incident opened as an operation on the repository whose `.github/healbot.yml` declares
//! the alerted service, and a resolved incident recorded on its operation.

use super::{other, AppHandler};
use crate::detect::grouping::GroupEvent;
use crate::model::OperationId;
use crate::orchestrator::OperationSpec;
use crate::server::handler::{HandlerError, RawDelivery};
use crate::signals::alertmanager::parse_webhook;
use serde_json::json;

impl AppHandler {
    pub(super) async fn alertmanager(&self, delivery: RawDelivery) -> Result<(), HandlerError> {
        let bytes = serde_json::to_vec(&delivery.body).map_err(other)?;
        let message = parse_webhook(&bytes).map_err(other)?;
        let now = self.orchestrator.clock.now().timestamp();
        let (events, incidents) = {
            let mut grouper = self.alerts.lock().await;
            let events = grouper.ingest(&message, now);
            let incidents: Vec<_> = events
                .iter()
                .filter_map(|e| match e {
                    GroupEvent::Opened(id) => grouper.get(id).map(|g| g.incident.clone()),
                    _ => None,
                })
                .collect();
            (events, incidents)
        };
        for incident in incidents {
            let Some(repo) = self
                .configs
                .repo_for_service(&self.repositories().await, &incident.service)
                .await
            else {
                tracing::warn!(
                    incident = %incident.id.0,
                    service = %incident.service,
                    "no repository healbot may act on declares this service in .github/healbot.yml"
                );
                continue;
            };
            tracing::info!(incident = %incident.id.0, repo = %repo.0, "incident opened from alerts");
            let spec = OperationSpec { incident, repo };
            // Another replica may be opening it from the same alert right now.
            let id = OperationId::for_incident(&spec.incident.id);
            let hold = self.drivers.hold(&self.orchestrator, &id).await?;
            let id = self.orchestrator.open(spec).await.map_err(other)?;
            drop(hold);
            self.kick(id);
        }
        for event in events {
            match event {
                GroupEvent::Resolved(id) => {
                    let op = OperationId::for_incident(&id);
                    let _hold = self.drivers.hold(&self.orchestrator, &op).await?;
                    if self.orchestrator.journal.operation(&op).await.is_ok() {
                        self.orchestrator
                            .journal
                            .note(
                                &op,
                                "alertmanager",
                                "incident.resolved",
                                json!({"incident": id.0, "delivery": delivery.id}),
                            )
                            .await
                            .map_err(other)?;
                    }
                }
                GroupEvent::Ignored {
                    fingerprint,
                    reason,
                } => {
                    tracing::info!(%fingerprint, %reason, "alert ignored");
                }
                _ => {}
            }
        }
        Ok(())
    }
}
