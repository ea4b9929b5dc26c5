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

impl RolloutManifest {
    /// Reads the Rollout in `text` (the first document of a multi-document file that has
    /// `kind: Rollout`); `source` names the file in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self, GitopsError> {
        let mut doc = YamlDoc::parse(text, source)?;
        let not_rollout = |reason: &str| GitopsError::NotARollout {
            file: source.to_string(),
            reason: reason.to_string(),
        };
        let index = (0..doc.document_count())
            .find(|&i| {
                doc.select_document(i).is_ok() && doc.get("kind").is_ok_and(|k| k == "Rollout")
            })
            .ok_or_else(|| not_rollout("no document has `kind: Rollout`"))?;
        doc.select_document(index)?;
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
        Ok(manifest)
    }

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

    /// The text with the container's image set to `tag` (a digest, if any, is dropped: it
    /// would pin the old image).
    pub fn with_image_tag(&self, tag: &str) -> Result<String, GitopsError> {
        let image = self.image_with_tag(tag)?;
        Ok(self.doc.set(&self.image_path(), &image)?)
    }

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

/// Index of the container called `name`.
fn container_index(doc: &YamlDoc, name: &str) -> Result<Option<usize>, GitopsError> {
    let count = doc.seq_len(CONTAINERS)?;
    Ok((0..count).find(|i| {
        doc.get(&format!("{CONTAINERS}[{i}].name"))
            .is_ok_and(|n| n == name)
    }))
}

/// Splits an image reference into repository, tag and digest. A `:` before the last `/` is a
/// registry port, not a tag.
fn split_image(image: &str) -> (&str, Option<&str>, Option<&str>) {
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
pub fn is_image_tag(tag: &str) -> bool {
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
