//! Argo Rollouts notifications (`POST /webhooks/argo`) in Argo-managed mode: parsed, matched to
//! the live operation that deploys the Rollout, and recorded by the orchestrator under the
//! operation's guard, so a notification never races a drive or an override on it. A
//! notification for a Rollout no operation deploys is logged and ignored.

use super::{other, AppHandler};
use crate::canary::argo_notification::{from_value, ArgoError};
use crate::server::handler::{HandlerError, RawDelivery};

impl AppHandler {
    pub(super) async fn argo(&self, delivery: RawDelivery) -> Result<(), HandlerError> {
        let notification = match from_value(&delivery.body) {
            Ok(n) => n,
            Err(ArgoError::UnknownTrigger(trigger)) => {
                tracing::info!(delivery = %delivery.id, %trigger, "argo trigger healbot does not act on; ignored");
                return Ok(());
            }
            Err(e) => return Err(other(e)),
        };
        let Some(op) = self.orchestrator.argo_operation(&notification).await else {
            tracing::info!(
                delivery = %delivery.id,
                rollout = %notification.rollout,
                namespace = %notification.namespace,
                trigger = %notification.trigger,
                "no live operation deploys this rollout; argo notification ignored"
            );
            return Ok(());
        };
        let guard = self.drivers.hold(&self.orchestrator, &op.id).await?;
        let result = self
            .orchestrator
            .argo_event(&op.id, &delivery.id, &notification)
            .await;
        drop(guard);
        if let Some(id) = result.map_err(other)? {
            self.kick(id);
        }
        Ok(())
    }
}
