//! Manifests kept in a separate GitOps repository (`rollout: {repo: acme/deploy, …}` in
//! `.github/healbot.yml`): the canary's commits go there, so the App must be installed on it
//! too. Without that, a fix could be merged and then never deployed; so healbot checks before
//! asking for review, says so on the PR, and keeps the finding for `/healthz` until an
//! installation appears.

use super::{artifacts, Orchestrator, OrchestratorError};
use crate::forge::RepoRef;
use crate::operation::Operation;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// GitOps repositories the App cannot write to, as `/healthz` reports them:
/// deploy repository → why.
#[derive(Debug, Default)]
pub struct DeployAccess {
    missing: Mutex<BTreeMap<String, String>>,
}

impl DeployAccess {
    fn record(&self, deploy: &RepoRef, problem: Option<String>) {
        let mut missing = self.missing.lock().unwrap_or_else(|e| e.into_inner());
        match problem {
            Some(why) => missing.insert(deploy.0.clone(), why),
            None => missing.remove(&deploy.0),
        };
    }

    /// One line per deploy repository the App is not installed on.
    pub fn problems(&self) -> Vec<String> {
        let missing = self.missing.lock().unwrap_or_else(|e| e.into_inner());
        missing.values().cloned().collect()
    }
}

/// What the PR and `/healthz` say when the App is not installed on the deploy repository.
pub fn not_installed(deploy: &RepoRef, own: &RepoRef) -> String {
    format!(
        "the healbot App is not installed on {deploy}, where {own}'s `.github/healbot.yml` \
         keeps the Rollout manifest (`rollout.repo`): install the App on {deploy} with \
         contents and pull requests write access, then `/heal retry`",
        deploy = deploy.0,
        own = own.0
    )
}

impl Orchestrator {
    /// Fails with [`not_installed`] when `deploy` is another repository than `own` and the
    /// App cannot write to it; records the finding either way.
    pub(super) async fn check_installed(
        &self,
        deploy: &RepoRef,
        own: &RepoRef,
    ) -> Result<(), OrchestratorError> {
        if deploy == own {
            return Ok(());
        }
        let installed = self.forge.installed_on(deploy).await?;
        let problem = (!installed).then(|| not_installed(deploy, own));
        self.settings.deploy_access.record(deploy, problem.clone());
        match problem {
            Some(why) => Err(OrchestratorError::stage("deploy repository", why)),
            None => Ok(()),
        }
    }

    /// The deploy repository of the incident's root-cause service, when its manifests live in
    /// one, and whether the App may write there: `Some(reason)` when it may not.
    pub(super) async fn deploy_repo_problem(
        &self,
        op: &Operation,
    ) -> Result<Option<String>, OrchestratorError> {
        let spec = Self::spec(op)?;
        let Some(rca) = op.artifact(&artifacts::RCA)? else {
            return Ok(None);
        };
        let config = self.repo_config(&spec).await?;
        let Some(target) = config
            .service(&rca.root_cause)
            .and_then(|s| s.rollout.target())
        else {
            return Ok(None);
        };
        let deploy = RepoRef(target.repo.clone());
        match self.check_installed(&deploy, &spec.repo).await {
            Ok(()) => Ok(None),
            Err(OrchestratorError::Stage { reason, .. }) => Ok(Some(reason)),
            Err(e) => Err(e),
        }
    }
}
