//! The uses of one image, gathered the one way `scan` and `serve` both need: where it is
//! used, with which pull secrets, for which node platforms. The images themselves are
//! grouped by [`tagwarden_core::ImageSet`].

use std::collections::HashSet;

use super::{ImageUse, NodePlatform, SecretRef, WorkloadLocation};

/// What the uses of one image add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GatheredUses {
    /// Every location, in input order, each once.
    pub locations: Vec<WorkloadLocation>,
    /// The pull secrets the uses name, in order of first mention, without repeats.
    pub pull_secrets: Vec<SecretRef>,
    /// Every node platform of any use, each with the most nodes any use counted for it,
    /// sorted by its text.
    pub platforms: Vec<NodePlatform>,
}

impl GatheredUses {
    /// The uses of one image, gathered.
    pub fn of(uses: Vec<ImageUse>) -> GatheredUses {
        let mut gathered = GatheredUses::default();
        // Repeated locations once, in linear time: an image (a sidecar) may have many.
        let mut seen = HashSet::new();
        for image_use in uses {
            if !seen.contains(&image_use.location) {
                seen.insert(image_use.location.clone());
                gathered.locations.push(image_use.location);
            }
            for secret in image_use.pull_secrets {
                if !gathered.pull_secrets.contains(&secret) {
                    gathered.pull_secrets.push(secret);
                }
            }
            for platform in image_use.node_platforms {
                match gathered
                    .platforms
                    .iter_mut()
                    .find(|p| p.platform == platform.platform)
                {
                    Some(known) => known.nodes = known.nodes.max(platform.nodes),
                    None => gathered.platforms.push(platform),
                }
            }
        }
        gathered
            .platforms
            .sort_by_cached_key(|p| p.platform.to_string());
        gathered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tagwarden_core::Platform;

    fn use_at(name: &str, secrets: &[&str], platforms: &[(&str, usize)]) -> ImageUse {
        ImageUse {
            image: "app:1".into(),
            location: WorkloadLocation {
                namespace: "ns".into(),
                kind: "Deployment".into(),
                name: name.into(),
                container: "app".into(),
                path: "spec.template.spec.containers[0].image".into(),
                pods: 1,
                uid: None,
            },
            pull_secrets: secrets
                .iter()
                .map(|s| SecretRef {
                    namespace: "ns".into(),
                    name: s.to_string(),
                })
                .collect(),
            node_platforms: platforms
                .iter()
                .map(|(p, nodes)| NodePlatform {
                    platform: Platform::parse(p).unwrap(),
                    nodes: *nodes,
                })
                .collect(),
        }
    }

    #[test]
    fn uses_add_up_to_distinct_locations_secrets_and_the_widest_platform_counts() {
        let gathered = GatheredUses::of(vec![
            use_at("b", &["pull", "other"], &[("linux/arm64", 2)]),
            use_at("a", &["other"], &[("linux/amd64", 1), ("linux/arm64", 3)]),
            use_at("b", &["third"], &[]),
        ]);
        let names: Vec<&str> = gathered.locations.iter().map(|l| &*l.name).collect();
        assert_eq!(names, ["b", "a"]);
        let secrets: Vec<String> = gathered
            .pull_secrets
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(secrets, ["ns/pull", "ns/other", "ns/third"]);
        let platforms: Vec<(String, usize)> = gathered
            .platforms
            .iter()
            .map(|p| (p.platform.to_string(), p.nodes))
            .collect();
        assert_eq!(
            platforms,
            [
                ("linux/amd64".to_string(), 1),
                ("linux/arm64/v8".to_string(), 3)
            ]
        );
    }
}
