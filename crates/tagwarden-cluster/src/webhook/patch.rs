//! The pure core of the webhook: from a Pod and the engine's decisions, what to answer.
//!
//! No I/O here. [`image_slots`] lists every image field of a Pod (containers, init
//! containers, ephemeral containers) with its JSON pointer; the caller asks the engine for
//! one [`Repair`] per slot ([`tagwarden_registry::decide_repairs`]); [`mutation`] turns
//! them into the [`Mutation`]:
//!
//! - one `replace` operation per image field whose decision is [`Repair::Replace`], and
//!   nothing for [`Repair::Keep`], [`Repair::Missing`] or [`Repair::Undetermined`];
//! - the annotation [`ORIGINAL_IMAGES_ANNOTATION`]: JSON mapping each rewritten container
//!   to its original image. When the Pod already has it (the API server called the webhook
//!   again after another webhook changed the Pod), the first original of a container is
//!   kept. The key holds a `/`, so in a JSON pointer it is `tagwarden.io~1original-images`
//!   (RFC 6901); when the Pod has no annotations at all, the whole map is added;
//! - one warning per rewrite (`kubectl` prints them as `Warning: …`), and one per image
//!   that is missing with nothing to stand in for it.
//!
//! An empty [`Mutation::patch`] means: allow the Pod as it is.

use std::collections::BTreeMap;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, ReplaceOperation};
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;
use tagwarden_registry::Repair;

/// The annotation that records, as JSON, each rewritten container's original image:
/// `{"crds-hook":"registry.example/clastix/kubectl:v1.32"}`.
pub const ORIGINAL_IMAGES_ANNOTATION: &str = "tagwarden.io/original-images";

/// The annotation (value `"false"`) with which a Pod opts out of the webhook.
pub const MUTATE_ANNOTATION: &str = "tagwarden.io/mutate";

/// Kubernetes truncates longer warnings; they are cut here, on a character boundary.
const MAX_WARNING_LEN: usize = 256;

pub use crate::inventory::objects::ContainerList;

/// One image field of a Pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSlot {
    /// Which list the container is in.
    pub list: ContainerList,
    /// Its index in that list.
    pub index: usize,
    /// The container's name (unique across the three lists).
    pub container: String,
    /// The image as written.
    pub image: String,
}

impl ImageSlot {
    /// The JSON pointer of the image field: `/spec/initContainers/0/image`.
    pub fn pointer(&self) -> PointerBuf {
        PointerBuf::from_tokens([
            "spec".to_string(),
            self.list.field().to_string(),
            self.index.to_string(),
            "image".to_string(),
        ])
    }
}

/// Every image field of `pod`, containers first, then init containers, then ephemeral
/// containers, each in order. A container without an image is skipped (the API server will
/// reject the Pod; that is not the webhook's business).
pub fn image_slots(pod: &Pod) -> Vec<ImageSlot> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    let slot = |list, index, name: &str, image: &Option<String>| {
        image.as_ref().map(|image| ImageSlot {
            list,
            index,
            container: name.to_string(),
            image: image.clone(),
        })
    };
    let containers = spec
        .containers
        .iter()
        .enumerate()
        .filter_map(|(i, c)| slot(ContainerList::Containers, i, &c.name, &c.image));
    let init = spec.init_containers.iter().flatten().enumerate();
    let init = init.filter_map(|(i, c)| slot(ContainerList::InitContainers, i, &c.name, &c.image));
    let ephemeral = spec.ephemeral_containers.iter().flatten().enumerate();
    let ephemeral = ephemeral
        .filter_map(|(i, c)| slot(ContainerList::EphemeralContainers, i, &c.name, &c.image));
    containers.chain(init).chain(ephemeral).collect()
}

/// One image the webhook replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The container's name.
    pub container: String,
    /// The image as the Pod had it.
    pub original: String,
    /// What it has now.
    pub replacement: String,
    /// One line: why.
    pub why: String,
}

/// An image that is missing with nothing to stand in for it (left as it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingImage {
    /// The container's name.
    pub container: String,
    /// The image as written.
    pub image: String,
    /// One line: why.
    pub why: String,
}

/// What the webhook answers for one Pod.
#[derive(Debug, Clone, Default)]
pub struct Mutation {
    /// The JSONPatch; empty: allow the Pod unchanged.
    pub patch: Patch,
    /// Each replaced image.
    pub rewrites: Vec<Rewrite>,
    /// Each image missing with no fallback.
    pub missing: Vec<MissingImage>,
    /// How many images a registry did not let us decide (never changed).
    pub undetermined: usize,
    /// For the response's `warnings`: one per rewrite and per missing image.
    pub warnings: Vec<String>,
}

impl Mutation {
    /// True when the Pod is to be admitted exactly as it is.
    pub fn is_empty(&self) -> bool {
        self.patch.0.is_empty()
    }
}

/// The answer for `pod`, given one decision per slot of [`image_slots`] (in that order).
/// See the [module documentation](self).
pub fn mutation(pod: &Pod, slots: &[ImageSlot], repairs: &[Repair]) -> Mutation {
    let mut out = Mutation::default();
    for (slot, repair) in slots.iter().zip(repairs) {
        match repair {
            Repair::Keep => {}
            Repair::Undetermined { .. } => out.undetermined += 1,
            Repair::Missing { why } => {
                out.warnings.push(warning(format!(
                    "tagwarden: container {}: {} is missing and nothing may stand in for it: {why}",
                    slot.container, slot.image
                )));
                out.missing.push(MissingImage {
                    container: slot.container.clone(),
                    image: slot.image.clone(),
                    why: why.clone(),
                });
            }
            Repair::Replace { new, why } => {
                out.patch.0.push(PatchOperation::Replace(ReplaceOperation {
                    path: slot.pointer(),
                    value: Value::String(new.clone()),
                }));
                out.warnings.push(warning(format!(
                    "tagwarden: container {}: {} -> {}: {why}",
                    slot.container, slot.image, new
                )));
                out.rewrites.push(Rewrite {
                    container: slot.container.clone(),
                    original: slot.image.clone(),
                    replacement: new.clone(),
                    why: why.clone(),
                });
            }
        }
    }
    if !out.rewrites.is_empty() {
        out.patch.0.push(annotate_originals(pod, &out.rewrites));
    }
    out
}

/// The operation that records the original images in [`ORIGINAL_IMAGES_ANNOTATION`],
/// keeping what an earlier call recorded.
fn annotate_originals(pod: &Pod, rewrites: &[Rewrite]) -> PatchOperation {
    let annotations = pod.metadata.annotations.as_ref();
    let mut originals: BTreeMap<String, String> = annotations
        .and_then(|a| a.get(ORIGINAL_IMAGES_ANNOTATION))
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default();
    for rewrite in rewrites {
        originals
            .entry(rewrite.container.clone())
            .or_insert_with(|| rewrite.original.clone());
    }
    let value =
        Value::String(serde_json::to_string(&originals).expect("a map of strings is always JSON"));
    match annotations {
        // `add` on an existing member replaces it (RFC 6902 4.1).
        Some(_) => PatchOperation::Add(AddOperation {
            path: PointerBuf::from_tokens(["metadata", "annotations", ORIGINAL_IMAGES_ANNOTATION]),
            value,
        }),
        None => PatchOperation::Add(AddOperation {
            path: PointerBuf::from_tokens(["metadata", "annotations"]),
            value: serde_json::json!({ ORIGINAL_IMAGES_ANNOTATION: value }),
        }),
    }
}

/// `text`, cut to what Kubernetes passes on.
fn warning(mut text: String) -> String {
    if text.len() > MAX_WARNING_LEN {
        let mut end = MAX_WARNING_LEN - '…'.len_utf8();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(value: Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    fn replace(new: &str) -> Repair {
        Repair::Replace {
            new: new.into(),
            why: "v1.32 is not published".into(),
        }
    }

    fn applied(pod_json: &Value, mutation: &Mutation) -> Value {
        let mut doc = pod_json.clone();
        json_patch::patch(&mut doc, &mutation.patch).unwrap();
        doc
    }

    #[test]
    fn only_replaced_images_are_patched_and_recorded() {
        let json = json!({
            "metadata": { "generateName": "hook-" },
            "spec": {
                "containers": [{ "name": "main", "image": "a:1" }, { "name": "side", "image": "b:1" }],
                "initContainers": [{ "name": "init", "image": "c:v1.32" }],
                "ephemeralContainers": [{ "name": "debug", "image": "d:1" }],
            }
        });
        let p = pod(json.clone());
        let slots = image_slots(&p);
        assert_eq!(
            slots
                .iter()
                .map(|s| s.pointer().to_string())
                .collect::<Vec<_>>(),
            [
                "/spec/containers/0/image",
                "/spec/containers/1/image",
                "/spec/initContainers/0/image",
                "/spec/ephemeralContainers/0/image"
            ]
        );
        let repairs = [
            Repair::Keep,
            Repair::Undetermined { why: "503".into() },
            replace("c:v1.31"),
            Repair::Missing { why: "gone".into() },
        ];
        let m = mutation(&p, &slots, &repairs);
        let doc = applied(&json, &m);
        assert_eq!(doc["spec"]["containers"], json["spec"]["containers"]);
        assert_eq!(doc["spec"]["initContainers"][0]["image"], "c:v1.31");
        assert_eq!(doc["spec"]["ephemeralContainers"][0]["image"], "d:1");
        assert_eq!(
            doc["metadata"]["annotations"][ORIGINAL_IMAGES_ANNOTATION],
            r#"{"init":"c:v1.32"}"#
        );
        assert_eq!(m.undetermined, 1);
        assert_eq!(m.missing.len(), 1);
        assert_eq!(
            m.warnings,
            [
                "tagwarden: container init: c:v1.32 -> c:v1.31: v1.32 is not published",
                "tagwarden: container debug: d:1 is missing and nothing may stand in for it: gone"
            ]
        );
    }

    #[test]
    fn existing_annotations_get_the_key_escaped_and_the_first_original_is_kept() {
        let json = json!({
            "metadata": { "annotations": {
                "other": "x",
                ORIGINAL_IMAGES_ANNOTATION: r#"{"main":"a:v1.33"}"#,
            } },
            "spec": { "containers": [{ "name": "main", "image": "a:v1.32" }, { "name": "two", "image": "b:v1.32" }] }
        });
        let p = pod(json.clone());
        let m = mutation(
            &p,
            &image_slots(&p),
            &[replace("a:v1.31"), replace("b:v1.31")],
        );
        let text = serde_json::to_string(&m.patch).unwrap();
        assert!(
            text.contains("/metadata/annotations/tagwarden.io~1original-images"),
            "{text}"
        );
        let doc = applied(&json, &m);
        assert_eq!(doc["metadata"]["annotations"]["other"], "x");
        assert_eq!(
            doc["metadata"]["annotations"][ORIGINAL_IMAGES_ANNOTATION],
            r#"{"main":"a:v1.33","two":"b:v1.32"}"#
        );
    }

    #[test]
    fn nothing_to_do_is_an_empty_patch() {
        let p = pod(json!({ "spec": { "containers": [{ "name": "m", "image": "a:1" }] } }));
        let m = mutation(&p, &image_slots(&p), &[Repair::Keep]);
        assert!(m.is_empty() && m.warnings.is_empty());
        assert!(image_slots(&pod(json!({}))).is_empty());
    }

    #[test]
    fn long_warnings_are_cut_on_a_character_boundary() {
        let cut = warning("é".repeat(300));
        assert!(cut.len() <= MAX_WARNING_LEN && cut.ends_with('…'), "{cut}");
    }
}
