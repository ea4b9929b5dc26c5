//! A user's Argo Rollout. In bot-driven mode healbot moves it through a canary by editing two
//! scalars in place (the container image tag and the first `setWeight`), so each step is a
//! one-line commit a person can read. The manifests healbot writes itself come from
//! `generate` and are re-exported here.

use super::generate::background_analysis;
use super::yaml_edit::YamlDoc;
use super::GitopsError;

pub use super::generate::{
    analysis_template, analysis_template_name, rollout_with_steps, AnalysisThresholds, CanaryStep,
    RolloutSpec, API_VERSION,
};

const CANARY: &str = "spec.strategy.canary";
const STEPS: &str = "spec.strategy.canary.steps";
const CONTAINERS: &str = "spec.template.spec.containers";

/// A user's Rollout, read from its text; the `with_*` methods return edited text.
#[derive(Debug)]
pub struct RolloutManifest {
    doc: YamlDoc,
    name: String,
    container: usize,
    image: String,
    /// Index of the first canary step that has a `setWeight`.
    weight_step: Option<usize>,
    weight: Option<u32>,
}

/// `text` parsed, with its first `kind: Rollout` document selected; `source` names the file.
pub(crate) fn rollout_document(text: &str, source: &str) -> Result<YamlDoc, GitopsError> {
    let mut doc = YamlDoc::parse(text, source)?;
    let index = (0..doc.document_count())
        .find(|&i| doc.select_document(i).is_ok() && doc.get("kind").is_ok_and(|k| k == "Rollout"))
        .ok_or_else(|| not_a_rollout(source, "no document has `kind: Rollout`"))?;
    doc.select_document(index)?;
    Ok(doc)
}

/// The error for a manifest that is not a Rollout healbot can edit, and why.
pub(crate) fn not_a_rollout(source: &str, reason: &str) -> GitopsError {
    GitopsError::NotARollout {
        file: source.to_string(),
        reason: reason.to_string(),
    }
}

impl RolloutManifest {
    /// Reads the Rollout in `text` (the first document of a multi-document file that has
    /// `kind: Rollout`); `source` names the file in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self, GitopsError> {
        let doc = rollout_document(text, source)?;
        let not_rollout = |reason: &str| not_a_rollout(source, reason);
        let api = doc.get("apiVersion").unwrap_or_default();
        if api != API_VERSION {
            return Err(not_rollout(&format!(
                "apiVersion is `{api}`, expected `{API_VERSION}`"
            )));
        }
        let name = doc.get("metadata.name")?;
        if doc.keys(CANARY).is_err() {
            return Err(not_rollout("no `spec.strategy.canary` mapping"));
        }
        if doc.seq_len(CONTAINERS)? == 0 {
            return Err(not_rollout("the pod template has no containers"));
        }
        let container = container_index(&doc, &name)?.unwrap_or(0);
        let mut manifest = RolloutManifest {
            doc,
            name,
            container,
            image: String::new(),
            weight_step: None,
            weight: None,
        };
        manifest.image = manifest.doc.get(&manifest.image_path())?;
        manifest.read_weight()?;
        if let Some(weight_step) = manifest.weight_step {
            let blocking = manifest.steps_where(|s| s.indefinite_pause)?;
            if let Some(i) = blocking.into_iter().find(|&i| i < weight_step) {
                return Err(not_rollout(&format!(
                    "canary step {i} is a `pause` without `duration` before the first \
                     `setWeight` (step {weight_step}): Argo would wait there for a promote and \
                     never reach the weight healbot sets"
                )));
            }
        }
        Ok(manifest)
    }

    #[cfg(test)]
    /// Picks the container by name (by default the one named like the Rollout, else the first).
    pub fn with_container(mut self, name: &str) -> Result<Self, GitopsError> {
        self.container = container_index(&self.doc, name)?.ok_or_else(|| {
            self.invalid(
                "container",
                name,
                "no such name in spec.template.spec.containers",
            )
        })?;
        self.image = self.doc.get(&self.image_path())?;
        Ok(self)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `metadata.namespace`, when the manifest names one.
    pub fn namespace(&self) -> Option<String> {
        self.doc
            .get("metadata.namespace")
            .ok()
            .filter(|n| !n.is_empty())
    }

    pub fn source(&self) -> &str {
        self.doc.file()
    }

    pub fn text(&self) -> &str {
        self.doc.text()
    }

    /// The full image reference of the selected container.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// The tag of the image reference, if it has one (`reg:5000/app:v1@sha256:…` → `v1`).
    pub fn image_tag(&self) -> Option<&str> {
        split_image(&self.image).1
    }

    /// The first canary `setWeight`, or `None` when no step sets a weight.
    pub fn canary_weight(&self) -> Option<u32> {
        self.weight
    }

    #[cfg(test)]
    /// The text with the container's image set to `tag` (a digest, if any, is dropped: it
    /// would pin the old image).
    pub fn with_image_tag(&self, tag: &str) -> Result<String, GitopsError> {
        let image = self.image_with_tag(tag)?;
        Ok(self.doc.set(&self.image_path(), &image)?)
    }

    /// The text with the container's image set to `image`, a tag or a whole reference (Argo
    /// runs the steps; the weights stay as they are).
    pub(crate) fn with_canary_image(&self, image: &str) -> Result<String, GitopsError> {
        let image = self.image_for(image)?;
        Ok(self.doc.set(&self.image_path(), &image)?)
    }

    #[cfg(test)]
    /// The text with the first `setWeight` set to `weight` (0–100).
    pub fn with_canary_weight(&self, weight: u32) -> Result<String, GitopsError> {
        let path = self.weight_path(weight)?;
        Ok(self.doc.set(&path, &weight.to_string())?)
    }

    /// Both edits as one change: a canary step of a new revision, or a rollback (stable tag,
    /// weight 0).
    pub fn with_image_and_weight(&self, tag: &str, weight: u32) -> Result<String, GitopsError> {
        let image = self.image_with_tag(tag)?;
        let weight_path = self.weight_path(weight)?;
        let weight = weight.to_string();
        Ok(self
            .doc
            .set_many(&[(&self.image_path(), &image), (&weight_path, &weight)])?)
    }

    /// The text of one state of healbot's canary: the image at `tag` and the first `setWeight`
    /// at `weight`, shaped so Argo Rollouts does what healbot means (docs/argo-rollouts.md):
    ///
    /// * below 100 (a canary step, or 0 for a rollback): the weight step is followed by a
    ///   `pause: {}`, inserted when missing, so Argo holds the canary at that weight while
    ///   healbot judges it. Argo restarts the steps from step 0 on every edit of `steps`; step
    ///   0 up to the weight step then runs again, which lands on the same weight.
    /// * at 100 (the last step): every `setWeight` is 100 and no `pause` waits without a
    ///   `duration`, so Argo finishes the steps on its own and promotes the new ReplicaSet to
    ///   stable. A trailing `pause: {}` would leave the Rollout paused at full weight with the
    ///   old ReplicaSet still stable, waiting for a promote that never comes.
    ///
    /// `image` is a tag (the manifest's repository keeps) or a whole reference (a service's
    /// image template, or the stable image it replaced).
    pub fn with_canary_step(&self, image: &str, weight: u32) -> Result<String, GitopsError> {
        let image = self.image_for(image)?;
        let first = self.weight_path(weight)?;
        let weight_step = self.weight_step.unwrap_or_default();
        let mut edits = vec![(self.image_path(), image), (first, weight.to_string())];
        if weight == 100 {
            for i in self.steps_where(|s| s.weight.is_some_and(|w| w != 100))? {
                if i != weight_step {
                    edits.push((format!("{STEPS}[{i}].setWeight"), "100".to_string()));
                }
            }
        }
        let pairs: Vec<(&str, &str)> = edits
            .iter()
            .map(|(p, v)| (p.as_str(), v.as_str()))
            .collect();
        let text = self.doc.set_many(&pairs)?;
        let edited = self.reparse(&text)?;
        if weight == 100 {
            return edited.without_indefinite_pauses();
        }
        let next = weight_step + 1;
        let held = edited.steps_where(|s| s.indefinite_pause)?.contains(&next);
        if held {
            return Ok(text);
        }
        Ok(edited.doc.insert_item(STEPS, next, "pause: {}")?)
    }

    /// The text with every `pause` that has no `duration` removed.
    fn without_indefinite_pauses(&self) -> Result<String, GitopsError> {
        let mut current = self.reparse(self.text())?;
        // From the last, so earlier indexes stay valid.
        for i in self.steps_where(|s| s.indefinite_pause)?.into_iter().rev() {
            let text = current.doc.remove_item(STEPS, i)?;
            current = self.reparse(&text)?;
        }
        Ok(current.text().to_string())
    }

    /// Indexes of the canary steps for which `pick` holds.
    fn steps_where(&self, pick: impl Fn(&StepKind) -> bool) -> Result<Vec<usize>, GitopsError> {
        let count = match self.doc.contains(STEPS)? {
            true => self.doc.seq_len(STEPS)?,
            false => 0,
        };
        let mut found = Vec::new();
        for i in 0..count {
            let weight_path = format!("{STEPS}[{i}].setWeight");
            let weight = match self.doc.contains(&weight_path)? {
                true => self.doc.get(&weight_path)?.parse::<u32>().ok(),
                false => None,
            };
            let pause = self.doc.contains(&format!("{STEPS}[{i}].pause"))?;
            let timed = self.doc.contains(&format!("{STEPS}[{i}].pause.duration"))?;
            let kind = StepKind {
                weight,
                indefinite_pause: pause && !timed,
            };
            if pick(&kind) {
                found.push(i);
            }
        }
        Ok(found)
    }

    /// `text` read again as this Rollout (same document, same container).
    fn reparse(&self, text: &str) -> Result<RolloutManifest, GitopsError> {
        let mut again = RolloutManifest::parse(text, self.source())?;
        again.container = self.container;
        again.image = again.doc.get(&again.image_path())?;
        Ok(again)
    }

    /// The text with a background analysis (`spec.strategy.canary.analysis`) that runs
    /// `template` from the second step on, with `args` passed to it.
    pub fn with_background_analysis(
        &self,
        template: &str,
        args: &[(&str, &str)],
    ) -> Result<String, GitopsError> {
        let fragment = background_analysis(template, args)?;
        Ok(self.doc.insert_key(CANARY, "analysis", &fragment)?)
    }

    fn image_path(&self) -> String {
        format!("{CONTAINERS}[{}].image", self.container)
    }

    fn weight_path(&self, weight: u32) -> Result<String, GitopsError> {
        if weight > 100 {
            return Err(self.invalid("canary weight", &weight.to_string(), "must be 0 to 100"));
        }
        match self.weight_step {
            Some(i) => Ok(format!("{STEPS}[{i}].setWeight")),
            None => Err(GitopsError::NotARollout {
                file: self.source().to_string(),
                reason: "no step in `spec.strategy.canary.steps` has a `setWeight`".to_string(),
            }),
        }
    }

    fn read_weight(&mut self) -> Result<(), GitopsError> {
        let steps = match self.doc.contains(STEPS)? {
            true => self.doc.seq_len(STEPS)?,
            false => 0,
        };
        for i in 0..steps {
            let path = format!("{STEPS}[{i}].setWeight");
            if self.doc.contains(&path)? {
                let raw = self.doc.get(&path)?;
                let weight = raw.parse::<u32>().ok().filter(|w| *w <= 100);
                self.weight = Some(
                    weight.ok_or_else(|| self.invalid("setWeight", &raw, "must be 0 to 100"))?,
                );
                self.weight_step = Some(i);
                return Ok(());
            }
        }
        Ok(())
    }

    /// A whole reference as it is (its tag checked), or the manifest's repository with `tag`.
    fn image_for(&self, tag_or_reference: &str) -> Result<String, GitopsError> {
        if !tag_or_reference.contains(['/', ':']) {
            return self.image_with_tag(tag_or_reference);
        }
        match split_image(tag_or_reference) {
            (name, Some(tag), None) if !name.is_empty() => {
                self.image_with_tag(tag)?;
                Ok(tag_or_reference.to_string())
            }
            _ => Err(self.invalid(
                "image reference",
                tag_or_reference,
                "a reference is repository:tag (no digest)",
            )),
        }
    }

    fn image_with_tag(&self, tag: &str) -> Result<String, GitopsError> {
        if !is_image_tag(tag) {
            return Err(self.invalid(
                "image tag",
                tag,
                "a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
            ));
        }
        Ok(format!("{}:{tag}", split_image(&self.image).0))
    }

    fn invalid(&self, field: &'static str, value: &str, reason: &str) -> GitopsError {
        GitopsError::InvalidValue {
            file: self.source().to_string(),
            field,
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// What healbot needs to know of one canary step.
struct StepKind {
    weight: Option<u32>,
    /// A `pause` without `duration`: Argo waits there until someone promotes.
    indefinite_pause: bool,
}

/// Index of the container called `name`.
pub(super) fn container_index(doc: &YamlDoc, name: &str) -> Result<Option<usize>, GitopsError> {
    let count = doc.seq_len(CONTAINERS)?;
    Ok((0..count).find(|i| {
        doc.get(&format!("{CONTAINERS}[{i}].name"))
            .is_ok_and(|n| n == name)
    }))
}

/// Splits an image reference into repository, tag and digest. A `:` before the last `/` is a
/// registry port, not a tag.
pub(super) fn split_image(image: &str) -> (&str, Option<&str>, Option<&str>) {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], Some(&name[slash + i + 1..]), digest),
        None => (name, None, digest),
    }
}

/// Whether `tag` is an image tag as registries take it: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub(crate) fn is_image_tag(tag: &str) -> bool {
    tag.len() <= 128
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[cfg(test)]
#[path = "rollout_tests.rs"]
mod tests;
