//! `check -o kustomize-images`: the repairs of a report as Kustomize `images` entries, the
//! list a Flux HelmRelease takes under `spec.postRenderers[].kustomize.images` (and a
//! `kustomization.yaml` under `images:`).
//!
//! One entry per missing image that has a fallback: `name` is the image as written without
//! its tag or digest (Kustomize matches names as written: `docker.io/x` is not `x`),
//! `newTag` the fallback's tag and `digest` the fallback's manifest digest, so the result is
//! `name:newTag@digest`, exactly what was checked. `newName` is never written: a fallback
//! keeps the repository as written. Every value is a double-quoted YAML string, so a tag
//! such as `1.31` stays a string. No repairs: `[]`.
//!
//! Kustomize matches by name alone, whatever the tag: an entry also rewrites every other
//! tag of that name. When the report has such an image (not repaired, or repaired to
//! another tag), the entry is still written and a warning names what it would rewrite too;
//! so does a missing image that has no fallback (no entry can repair it).

use std::fmt::Write as _;

use tagwarden_core::Reference;

use super::{ImageReport, ImageStatus, Located, Report};

/// One `images` entry and the report's image it repairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    /// The image as written, without tag or digest: Kustomize's `name`.
    pub name: String,
    /// The fallback's tag: `newTag`.
    pub new_tag: String,
    /// The fallback's manifest digest: `digest`.
    pub digest: String,
    /// The image as written that this entry repairs.
    pub image: String,
}

/// The entries of a report and what the user must know about them.
#[derive(Debug, Clone, Default)]
pub struct KustomizeImages {
    pub entries: Vec<ImageEntry>,
    /// One line each, without the `warning: ` prefix.
    pub warnings: Vec<String>,
}

impl KustomizeImages {
    /// The entries as a YAML sequence (`[]` when there are none).
    pub fn yaml(&self) -> String {
        if self.entries.is_empty() {
            return "[]\n".to_string();
        }
        let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let mut yaml = String::new();
        for entry in &self.entries {
            let _ = writeln!(yaml, "- name: {}", quoted(&entry.name));
            let _ = writeln!(yaml, "  newTag: {}", quoted(&entry.new_tag));
            let _ = writeln!(yaml, "  digest: {}", quoted(&entry.digest));
        }
        yaml
    }
}

/// The repairs of `output` as Kustomize `images` entries, in the report's order.
pub fn images<L: Located, X>(output: &Report<L, X>) -> KustomizeImages {
    let mut result = KustomizeImages::default();
    for image in &output.images {
        if image.status != ImageStatus::Missing {
            continue;
        }
        match entry_of(image) {
            Ok(entry) => result.entries.push(entry),
            Err(why) => {
                result
                    .warnings
                    .push(format!("{} ({}): {why}", image.image, first_use(image)))
            }
        }
    }
    for entry in &result.entries {
        result.warnings.extend(overlaps(output, entry));
    }
    result
}

/// The entry that repairs a missing image, or why there is none.
fn entry_of<L: Located, X>(image: &ImageReport<L, X>) -> Result<ImageEntry, String> {
    let (Some(fallback), Some(digest)) = (&image.fallback, &image.fallback_digest) else {
        return Err(
            "missing, with no fallback within the policy: no images entry can repair it"
                .to_string(),
        );
    };
    let new_tag = Reference::parse(fallback)
        .ok()
        .and_then(|r| r.tag().map(str::to_string))
        .ok_or_else(|| format!("the fallback {fallback} has no tag"))?;
    Ok(ImageEntry {
        name: kustomize_name(&image.image).to_string(),
        new_tag,
        digest: digest.clone(),
        image: image.image.clone(),
    })
}

/// Other images of the report that `entry`'s name also matches and that would not end up
/// as this repair: one warning each.
fn overlaps<L: Located, X>(output: &Report<L, X>, entry: &ImageEntry) -> Vec<String> {
    output
        .images
        .iter()
        .filter(|other| other.image != entry.image)
        .filter(|other| kustomize_name(&other.image) == entry.name)
        .map(|other| {
            format!(
                "the entry for {} (name {}) also rewrites {} ({}) to {}:{}@{}: Kustomize \
                 matches images by name, whatever their tag",
                entry.image,
                entry.name,
                other.image,
                first_use(other),
                entry.name,
                entry.new_tag,
                entry.digest
            )
        })
        .collect()
}

/// Where an image is first used, for a warning.
fn first_use<L: Located, X>(image: &ImageReport<L, X>) -> String {
    image
        .locations
        .first()
        .map(Located::short)
        .unwrap_or_default()
}

/// The image as written without its tag and digest, as Kustomize splits it: the digest is
/// everything from `@`, the tag everything from the last `:` after the last `/` (a port's
/// colon comes before a `/`).
pub fn kustomize_name(image: &str) -> &str {
    let name = image.split_once('@').map_or(image, |(name, _)| name);
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].find(':') {
        Some(colon) => &name[..last_slash + colon],
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::{ImageEntry, KustomizeImages, kustomize_name};

    #[test]
    fn names_are_images_as_written_without_tag_or_digest() {
        assert_eq!(kustomize_name("clastix/kubectl:v1.32"), "clastix/kubectl");
        assert_eq!(
            kustomize_name("127.0.0.1:5000/clastix/kubectl:v1.32"),
            "127.0.0.1:5000/clastix/kubectl"
        );
        assert_eq!(
            kustomize_name("127.0.0.1:5000/busybox"),
            "127.0.0.1:5000/busybox"
        );
        assert_eq!(kustomize_name("busybox@sha256:abc"), "busybox");
        assert_eq!(kustomize_name("docker.io/x:1@sha256:abc"), "docker.io/x");
    }

    #[test]
    fn values_are_quoted_so_that_a_numeric_tag_stays_a_string() {
        let images = KustomizeImages {
            entries: vec![ImageEntry {
                name: "bitnami/kubectl".to_string(),
                new_tag: "1.31".to_string(),
                digest: "sha256:00".to_string(),
                image: "bitnami/kubectl:1.32".to_string(),
            }],
            warnings: Vec::new(),
        };
        assert_eq!(
            images.yaml(),
            "- name: \"bitnami/kubectl\"\n  newTag: \"1.31\"\n  digest: \"sha256:00\"\n"
        );
        assert_eq!(KustomizeImages::default().yaml(), "[]\n");
    }
}
