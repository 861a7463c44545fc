//! The standard data set every integration test can rely on.
//!
//! | repository           | tags                                                   | media types                          |
//! |----------------------|--------------------------------------------------------|--------------------------------------|
//! | `clastix/kubectl`    | `v1.28.0`..=`v1.28.3`, `v1.29.0`..=`v1.29.3`           | OCI image manifest, linux/amd64      |
//! |                      | `v1.30.0`..=`v1.30.3`, `v1.31.0`..=`v1.31.4`           | OCI index, linux/amd64 + linux/arm64/v8 |
//! |                      | `v1.28` `v1.29` `v1.30` `v1.31` (newest patch), `latest` (= `v1.31.4`) | aliases  |
//! |                      | deliberately **no** `v1.32*`                           |                                      |
//! | `bitnami/kubectl`    | `1.28.15` `1.29.10`                                    | Docker schema 2, linux/amd64         |
//! |                      | `1.30.6` `1.31.2`                                      | Docker manifest list, amd64 + arm64/v8 |
//! |                      | `1.28` `1.29` `1.30` `1.31`, `latest` (= `1.31.2`)     | aliases                              |
//! | `library/busybox`    | `1.36.1`, `1.36`, `latest`                             | Docker manifest list, amd64 + arm64/v8 |
//! | `seed/many-tags`     | `v1.0.0` .. `v1.129.0` ([`MANY_TAGS`] tags)            | one shared OCI manifest              |
//! | `acme/tools/kubectl` | `v1.30.2` `v1.31.1` (a nested repository path)         | OCI image manifest, linux/amd64      |
//! | `suffix/kubectl`     | `1.31.2-debian-12` `1.31.3-debian-11` `1.32.0-alpine` `1.31.5` `1.30.9-debian-12` | OCI image manifest, linux/amd64 |
//!
//! This mirrors `seed-registry.sh` from the project's test-bed notes (which used
//! skopeo), plus the nested-path and suffixed-tag repositories.

use std::collections::BTreeMap;

use futures::{StreamExt, stream};

use crate::image::ManifestKind;
use crate::seeder::Http;
use crate::{Platform, Registry, Seeder};

/// Number of tags in `seed/many-tags`: more than two pages of 50, so paging
/// code has to follow `Link` twice.
pub const MANY_TAGS: usize = 130;

/// The tags of `seed/many-tags`: `v1.0.0` .. `v1.129.0`, in push order (not sorted).
pub fn many_tag_names() -> Vec<String> {
    (0..MANY_TAGS).map(|i| format!("v1.{i}.0")).collect()
}

/// What [`seed_standard`] pushed: every (repo, tag) with its digest and media type.
#[derive(Clone, Debug, Default)]
pub struct Seeded {
    repos: BTreeMap<String, BTreeMap<String, Entry>>,
}

#[derive(Clone, Debug)]
struct Entry {
    digest: String,
    media_type: &'static str,
}

impl Seeded {
    /// The digest of the manifest (or index) that `repo:tag` points at.
    ///
    /// # Panics
    ///
    /// If `repo:tag` was not seeded; the message lists what was.
    pub fn digest(&self, repo: &str, tag: &str) -> &str {
        &self.entry(repo, tag).digest
    }

    /// The media type of the manifest that `repo:tag` points at.
    ///
    /// # Panics
    ///
    /// If `repo:tag` was not seeded.
    pub fn media_type(&self, repo: &str, tag: &str) -> &str {
        self.entry(repo, tag).media_type
    }

    /// All tags of `repo`, sorted bytewise (the order a paging registry returns).
    /// Empty for an unknown repo.
    pub fn tags(&self, repo: &str) -> Vec<String> {
        self.repos
            .get(repo)
            .map(|tags| tags.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// All seeded repositories, sorted.
    pub fn repos(&self) -> Vec<String> {
        self.repos.keys().cloned().collect()
    }

    /// Every `(repo, tag, digest)`, sorted by repo then tag.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.repos.iter().flat_map(|(repo, tags)| {
            tags.iter()
                .map(move |(tag, e)| (repo.as_str(), tag.as_str(), e.digest.as_str()))
        })
    }

    fn entry(&self, repo: &str, tag: &str) -> &Entry {
        let Some(tags) = self.repos.get(repo) else {
            panic!(
                "repository {repo:?} was not seeded; seeded repositories: {:?}",
                self.repos()
            );
        };
        tags.get(tag).unwrap_or_else(|| {
            panic!(
                "tag {repo}:{tag} was not seeded; {repo} has: {:?}",
                tags.keys().collect::<Vec<_>>()
            )
        })
    }

    fn record(&mut self, repo: &str, tag: &str, digest: String, media_type: &'static str) {
        self.repos
            .entry(repo.to_string())
            .or_default()
            .insert(tag.to_string(), Entry { digest, media_type });
    }
}

/// Seed `registry` with the standard data set (see the module docs) and return
/// what was pushed: about 400 requests, half a second on an idle 2-core machine.
pub fn seed_standard(registry: &Registry) -> Seeded {
    seed_standard_with(&registry.seeder())
}

/// [`seed_standard`] through any [`Seeder`] (e.g. one pointed at a proxy).
///
/// Independent pushes run concurrently (all images first, then the alias
/// tags, which need their source to exist); the order of requests does not
/// change any digest.
pub fn seed_standard_with(seeder: &Seeder) -> Seeded {
    seeder.block_on(run(seeder.http().clone(), standard_plan()))
}

/// How many images [`seed_standard_with`] pushes at once.
const CONCURRENCY: usize = 8;

struct Push {
    repo: String,
    tag: String,
    kind: ManifestKind,
    platforms: Vec<Platform>,
}

struct Alias {
    repo: String,
    src: String,
    dst: String,
}

/// A `many_tags` step: repository, tags, and (once pushed) the shared digest.
type Many = (String, Vec<String>, String);

#[derive(Default)]
struct Plan {
    pushes: Vec<Push>,
    many: Vec<(String, Vec<String>)>,
    aliases: Vec<Alias>,
}

impl Plan {
    fn push(&mut self, repo: &str, tag: &str, kind: ManifestKind, platforms: &[Platform]) {
        self.pushes.push(Push {
            repo: repo.to_string(),
            tag: tag.to_string(),
            kind,
            platforms: platforms.to_vec(),
        });
    }

    fn alias(&mut self, repo: &str, src: &str, dst: &str) {
        self.aliases.push(Alias {
            repo: repo.to_string(),
            src: src.to_string(),
            dst: dst.to_string(),
        });
    }
}

fn standard_plan() -> Plan {
    let mut plan = Plan::default();
    let amd64 = [Platform::linux_amd64()];
    let both = [Platform::linux_amd64(), Platform::linux_arm64()];

    let repo = "clastix/kubectl";
    for (minor, last) in [(28, 3), (29, 3), (30, 3), (31, 4)] {
        let platforms: &[Platform] = if minor <= 29 { &amd64 } else { &both };
        for patch in 0..=last {
            plan.push(
                repo,
                &format!("v1.{minor}.{patch}"),
                ManifestKind::Oci,
                platforms,
            );
        }
        plan.alias(repo, &format!("v1.{minor}.{last}"), &format!("v1.{minor}"));
    }
    plan.alias(repo, "v1.31.4", "latest");

    let repo = "bitnami/kubectl";
    for tag in ["1.28.15", "1.29.10"] {
        plan.push(repo, tag, ManifestKind::Docker, &amd64);
    }
    for tag in ["1.30.6", "1.31.2"] {
        plan.push(repo, tag, ManifestKind::Docker, &both);
    }
    for (src, dst) in [
        ("1.28.15", "1.28"),
        ("1.29.10", "1.29"),
        ("1.30.6", "1.30"),
        ("1.31.2", "1.31"),
        ("1.31.2", "latest"),
    ] {
        plan.alias(repo, src, dst);
    }

    let repo = "library/busybox";
    plan.push(repo, "1.36.1", ManifestKind::Docker, &both);
    plan.alias(repo, "1.36.1", "1.36");
    plan.alias(repo, "1.36.1", "latest");

    plan.many
        .push(("seed/many-tags".to_string(), many_tag_names()));

    let repo = "acme/tools/kubectl";
    for tag in ["v1.30.2", "v1.31.1"] {
        plan.push(repo, tag, ManifestKind::Oci, &amd64);
    }

    let repo = "suffix/kubectl";
    for tag in [
        "1.31.2-debian-12",
        "1.31.3-debian-11",
        "1.32.0-alpine",
        "1.31.5",
        "1.30.9-debian-12",
    ] {
        plan.push(repo, tag, ManifestKind::Oci, &amd64);
    }
    plan
}

async fn run(http: Http, plan: Plan) -> Seeded {
    let mut seeded = Seeded::default();

    // Every step owns its data (`String`, not `&str`): futures holding
    // borrowed data in tuples trip the compiler's higher-ranked `Send` check
    // (rust-lang/rust#102211) when `block_on` moves them to a helper thread.
    let images = {
        let http = http.clone();
        stream::iter(plan.pushes)
            .map(move |p| {
                let http = http.clone();
                async move {
                    let digest = http.push_image(&p.repo, &p.tag, p.kind, &p.platforms).await;
                    (p, digest)
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<_>>()
    };
    let many = {
        let http = http.clone();
        async move {
            let mut done: Vec<Many> = Vec::new();
            for (repo, tags) in plan.many {
                let digest = http.many_tags(&repo, &tags).await;
                done.push((repo, tags, digest));
            }
            done
        }
    };
    let (images, many) = futures::join!(images, many);
    for (p, digest) in images {
        let media_type = if p.platforms.len() > 1 {
            p.kind.index_media_type()
        } else {
            p.kind.manifest_media_type()
        };
        seeded.record(&p.repo, &p.tag, digest, media_type);
    }
    for (repo, tags, digest) in many {
        for tag in tags {
            seeded.record(
                &repo,
                &tag,
                digest.clone(),
                ManifestKind::Oci.manifest_media_type(),
            );
        }
    }

    let aliases: Vec<(Alias, String)> = stream::iter(plan.aliases)
        .map(move |a| {
            let http = http.clone();
            async move {
                let digest = http.alias(&a.repo, &a.src, &a.dst).await;
                (a, digest)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (a, digest) in aliases {
        let source = seeded.entry(&a.repo, &a.src).clone();
        assert_eq!(
            digest, source.digest,
            "alias {}:{} -> {} changed the digest",
            a.repo, a.src, a.dst
        );
        seeded.record(&a.repo, &a.dst, digest, source.media_type);
    }
    seeded
}

/// Repositories of [`seed_scale_set`].
pub const SCALE_REPOSITORIES: usize = 20;
/// Tags per repository of [`seed_scale_set`]: 500 unique images in all.
pub const SCALE_TAGS_PER_REPOSITORY: usize = 25;
/// One image in this many of [`seed_scale_set`] is not published.
pub const SCALE_MISSING_EVERY: usize = 10;

/// The data set of the serve issue's scale benchmarks: `team-R/service:v1.T.0` for 20
/// repositories × 25 tags (500 unique images), every tenth one not published. Returns
/// every image as `repository:tag` (published or not), in a stable order.
pub fn seed_scale_set(registry: &crate::Registry) -> Vec<String> {
    let seeder = registry.seeder();
    let mut images = Vec::new();
    for r in 0..SCALE_REPOSITORIES {
        let repo = format!("team-{r}/service");
        let tags: Vec<String> = (0..SCALE_TAGS_PER_REPOSITORY)
            .map(|t| format!("v1.{t}.0"))
            .collect();
        let published: Vec<String> = tags
            .iter()
            .enumerate()
            .filter(|(t, _)| {
                !(r * SCALE_TAGS_PER_REPOSITORY + t).is_multiple_of(SCALE_MISSING_EVERY)
            })
            .map(|(_, tag)| tag.clone())
            .collect();
        seeder.many_tags(&repo, &published);
        images.extend(tags.into_iter().map(|tag| format!("{repo}:{tag}")));
    }
    images
}
