//! Installation events, confirmed with GitHub before they change what healbot may touch. A
//! webhook is signed but not bound to a time: an old `installation.created` replayed after the
//! installation was deleted would add it back, and a replayed `deleted` would drop a live one.
//! So each event is checked against what the API says now, and only what holds is recorded.

use super::{other, AppHandler};
use crate::forge::RepoRef;
use crate::server::events::{GithubEvent, InstallationAction, Repository};
use crate::server::handler::{DeliveryHandler, GithubDelivery, HandlerError};

impl AppHandler {
    pub(super) async fn installation(&self, delivery: GithubDelivery) -> Result<(), HandlerError> {
        let client = self.github.client();
        let mut delivery = delivery;
        match &mut delivery.event {
            GithubEvent::Installation(e) => {
                let exists = client
                    .installation_exists(e.installation.id)
                    .await
                    .map_err(other)?;
                let holds = match e.action {
                    InstallationAction::Created => exists,
                    InstallationAction::Deleted => !exists,
                    InstallationAction::Other => true,
                };
                if !holds {
                    tracing::warn!(delivery = %delivery.id, installation = e.installation.id, action = ?e.action,
                        "installation event contradicts GitHub's list of installations (a replay?); ignored");
                    return Ok(());
                }
            }
            GithubEvent::InstallationRepositories(e) => {
                let id = e.installation.id;
                let mut added = Vec::new();
                for repo in std::mem::take(&mut e.repositories_added) {
                    if self.served_by(&repo, id).await? {
                        added.push(repo);
                    } else {
                        tracing::warn!(delivery = %delivery.id, repo = %repo.full_name,
                            "repository reported added but GitHub does not list it under the installation; ignored");
                    }
                }
                let mut removed = Vec::new();
                for repo in std::mem::take(&mut e.repositories_removed) {
                    if self.served_by(&repo, id).await? {
                        tracing::warn!(delivery = %delivery.id, repo = %repo.full_name,
                            "repository reported removed but GitHub still lists it under the installation; ignored");
                    } else {
                        removed.push(repo);
                    }
                }
                e.repositories_added = added;
                e.repositories_removed = removed;
            }
            _ => {}
        }
        self.installations.handle(delivery).await
    }

    async fn served_by(&self, repo: &Repository, installation: u64) -> Result<bool, HandlerError> {
        let now = self
            .github
            .client()
            .current_installation(&RepoRef(repo.full_name.clone()))
            .await
            .map_err(other)?;
        Ok(now.is_some_and(|i| i.0 == installation))
    }
}
