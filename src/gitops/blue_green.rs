//! A user's Argo Rollout with the `blueGreen` strategy. healbot moves it through three states,
//! each one commit that edits scalars in place (docs/argo-rollouts.md says why each is what
//! Argo acts on):
//! * preview: the new image with `autoPromotionEnabled: false`. Argo starts the new ReplicaSet
//!   behind `previewService`, keeps `activeService` on the old one, and pauses before the
//!   promotion (docs/features/bluegreen.md, "Sequence of Events").
//! * promoted: `autoPromotionEnabled: true`. Argo promotes the new ReplicaSet to the active
//!   Service once it is healthy ("autoPromotionEnabled", same page); no `kubectl` needed.
//! * aborted: the stable image back with `autoPromotionEnabled: false`. The template is the
//!   stable one again, so the preview Service goes back to it; the active Service never left
//!   it unless the promotion had happened, in which case it goes back too.

use super::rollout::{container_index, is_image_tag, split_image};
use super::yaml_edit::YamlDoc;
use super::GitopsError;

const BLUE_GREEN: &str = "spec.strategy.blueGreen";
const AUTO_PROMOTION: &str = "autoPromotionEnabled";
const CONTAINERS: &str = "spec.template.spec.containers";

#[derive(Debug)]
pub struct BlueGreenRollout {
    doc: YamlDoc,
    container: usize,
    image: String,
    preview_service: String,
    active_service: String,
}

impl BlueGreenRollout {
    /// Whether `text`'s Rollout uses the blue-green strategy (without checking the rest).
    pub(crate) fn is_blue_green(text: &str) -> bool {
        YamlDoc::parse(text, "manifest").is_ok_and(|mut doc| {
            (0..doc.document_count()).any(|i| {
                doc.select_document(i).is_ok()
                    && doc.get("kind").is_ok_and(|k| k == "Rollout")
                    && doc.keys(BLUE_GREEN).is_ok()
            })
        })
    }

    /// Reads the blue-green Rollout in `text`; `source` names the file in errors. It must name
    /// both Services: without a preview Service nothing but the pods could be checked before
    /// the promotion.
    pub fn parse(text: &str, source: &str) -> Result<Self, GitopsError> {
        let doc = super::rollout::rollout_document(text, source)?;
        let not_rollout = |reason: &str| super::rollout::not_a_rollout(source, reason);
        if doc.keys(BLUE_GREEN).is_err() {
            return Err(not_rollout("no `spec.strategy.blueGreen` mapping"));
        }
        let service = |doc: &YamlDoc, key: &str| {
            doc.get(&format!("{BLUE_GREEN}.{key}"))
                .ok()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    not_rollout(&format!(
                        "`{BLUE_GREEN}.{key}` is missing: healbot previews the new version \
                         behind previewService before promoting it to activeService"
                    ))
                })
        };
        let active_service = service(&doc, "activeService")?;
        let preview_service = service(&doc, "previewService")?;
        if doc.seq_len(CONTAINERS)? == 0 {
            return Err(not_rollout("the pod template has no containers"));
        }
        let name = doc.get("metadata.name")?;
        let container = container_index(&doc, &name)?.unwrap_or(0);
        let image = doc.get(&format!("{CONTAINERS}[{container}].image"))?;
        Ok(BlueGreenRollout {
            doc,
            container,
            image,
            preview_service,
            active_service,
        })
    }

    pub fn image(&self) -> &str {
        &self.image
    }

    pub fn image_tag(&self) -> Option<&str> {
        split_image(&self.image).1
    }

    pub(crate) fn preview_service(&self) -> &str {
        &self.preview_service
    }

    pub(crate) fn active_service(&self) -> &str {
        &self.active_service
    }

    /// `autoPromotionEnabled` as written; Argo's default when it is left out is `true`.
    pub fn auto_promotion(&self) -> Option<bool> {
        self.doc
            .get(&format!("{BLUE_GREEN}.{AUTO_PROMOTION}"))
            .ok()
            .map(|v| v == "true")
    }

    /// The preview state: `image` (a tag, or a whole `repository:tag`) held before promotion.
    pub fn preview(&self, image: &str) -> Result<String, GitopsError> {
        self.with(image, false)
    }

    /// The promoted state: Argo promotes the new ReplicaSet as soon as it is healthy.
    pub fn promote(&self, image: &str) -> Result<String, GitopsError> {
        self.with(image, true)
    }

    /// The aborted state: the stable image back, held before any promotion.
    pub fn abort(&self, stable: &str) -> Result<String, GitopsError> {
        self.with(stable, false)
    }

    fn with(&self, image: &str, auto_promotion: bool) -> Result<String, GitopsError> {
        let image = self.reference(image)?;
        let image_path = format!("{CONTAINERS}[{}].image", self.container);
        let flag = auto_promotion.to_string();
        let flag_path = format!("{BLUE_GREEN}.{AUTO_PROMOTION}");
        if self.doc.contains(&flag_path)? {
            return Ok(self
                .doc
                .set_many(&[(&image_path, &image), (&flag_path, &flag)])?);
        }
        let text = self.doc.set(&image_path, &image)?;
        let again = BlueGreenRollout::parse(&text, self.doc.file())?;
        Ok(again.doc.insert_key(BLUE_GREEN, AUTO_PROMOTION, &flag)?)
    }

    /// A whole reference as it is (its tag checked), or the manifest's repository with a tag.
    fn reference(&self, tag_or_reference: &str) -> Result<String, GitopsError> {
        let invalid = |reason: &str| GitopsError::InvalidValue {
            file: self.doc.file().to_string(),
            field: "image",
            value: tag_or_reference.to_string(),
            reason: reason.to_string(),
        };
        let (name, tag) = if tag_or_reference.contains(['/', ':']) {
            match split_image(tag_or_reference) {
                (name, Some(tag), None) if !name.is_empty() => (name, tag),
                _ => return Err(invalid("a reference is repository:tag (no digest)")),
            }
        } else {
            (split_image(&self.image).0, tag_or_reference)
        };
        if !is_image_tag(tag) {
            return Err(invalid("a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"));
        }
        Ok(format!("{name}:{tag}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: ghcr.io/acme/web:v1 # stable
  strategy:
    blueGreen:
      activeService: web-active
      previewService: web-preview
";

    #[test]
    fn the_three_states_edit_the_image_and_the_promotion_flag_only() {
        assert!(BlueGreenRollout::is_blue_green(TEXT));
        let r = BlueGreenRollout::parse(TEXT, "web.yaml").unwrap();
        assert_eq!(r.auto_promotion(), None);
        let preview = r.preview("abc1234").unwrap();
        assert!(
            preview.contains("image: ghcr.io/acme/web:abc1234 # stable"),
            "{preview}"
        );
        let p = BlueGreenRollout::parse(&preview, "web.yaml").unwrap();
        assert_eq!(p.auto_promotion(), Some(false));
        let promoted = p.promote("abc1234").unwrap();
        let q = BlueGreenRollout::parse(&promoted, "web.yaml").unwrap();
        assert_eq!(q.auto_promotion(), Some(true));
        assert_eq!(q.image_tag(), Some("abc1234"));
        let aborted = q.abort("ghcr.io/acme/web:v1").unwrap();
        let a = BlueGreenRollout::parse(&aborted, "web.yaml").unwrap();
        assert_eq!(
            (a.image(), a.auto_promotion()),
            ("ghcr.io/acme/web:v1", Some(false))
        );
        assert_eq!(aborted.lines().count(), preview.lines().count());
    }

    #[test]
    fn a_rollout_without_a_preview_service_or_blue_green_is_refused_by_name() {
        let no_preview = TEXT.replace("      previewService: web-preview\n", "");
        let e = BlueGreenRollout::parse(&no_preview, "web.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("web.yaml") && e.contains("previewService"),
            "{e}"
        );
        let canary = TEXT.replace("blueGreen:", "canary:");
        assert!(!BlueGreenRollout::is_blue_green(&canary));
        let e = BlueGreenRollout::parse(&canary, "web.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("spec.strategy.blueGreen"), "{e}");
        let r = BlueGreenRollout::parse(TEXT, "web.yaml").unwrap();
        assert!(r.preview("bad tag!").is_err());
    }
}
