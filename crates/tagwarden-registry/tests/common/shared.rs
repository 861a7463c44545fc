//! Helpers of the shared-cache tests: the questions a fleet asks, and the right answers.

use tagwarden_registry::{
    Anonymous, Client, ClientOptions, Lookup, RegistryError, Repository, SharedCache,
    SharedCacheOptions,
};
use tagwarden_testbed::{FaultProxy, RedisServer, Seeded};

use super::repo;

pub type Question = (String, Option<String>);

/// The questions every client asks: (repository, tag); `None` tag: the tag list.
pub fn questions(seeded: &Seeded) -> Vec<(String, Option<String>)> {
    let mut questions: Vec<(String, Option<String>)> = seeded
        .iter()
        .filter(|(repo, _, _)| *repo != "seed/many-tags")
        .map(|(repo, tag, _)| (repo.to_string(), Some(tag.to_string())))
        .collect();
    for repo in seeded.repos() {
        if repo != "seed/many-tags" {
            questions.push((repo.clone(), None));
        }
    }
    // Missing tags and a missing repository: MANIFEST_UNKNOWN / NAME_UNKNOWN.
    questions.push(("clastix/kubectl".into(), Some("v9.99".into())));
    questions.push(("clastix/kubectl".into(), Some("v0.1".into())));
    questions.push(("nobody/nothing".into(), Some("v1".into())));
    questions
}

/// A `Lookup` reduced to what the tests compare: the digest, the tag count, or missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    Digest(String),
    Tags(usize),
    Missing,
}

pub async fn ask(
    client: &Client,
    addr: &str,
    question: &(String, Option<String>),
) -> Result<Said, RegistryError> {
    let repository: Repository = repo(addr, &question.0);
    Ok(match &question.1 {
        Some(tag) => match client.head_manifest(&repository, tag).await? {
            Lookup::Found(head) => Said::Digest(head.digest),
            Lookup::Missing(_) => Said::Missing,
        },
        None => match client.list_tags(&repository).await? {
            Lookup::Found(tags) => Said::Tags(tags.len()),
            Lookup::Missing(_) => Said::Missing,
        },
    })
}

/// The right answer to each question, from the seeded data.
pub fn truth(seeded: &Seeded, question: &(String, Option<String>)) -> Said {
    match &question.1 {
        Some(tag) if seeded.iter().any(|(r, t, _)| r == question.0 && t == tag) => {
            Said::Digest(seeded.digest(&question.0, tag).to_string())
        }
        Some(_) => Said::Missing,
        None => Said::Tags(seeded.tags(&question.0).len()),
    }
}

pub fn shared_cache(
    redis: &RedisServer,
    adjust: impl FnOnce(&mut SharedCacheOptions),
) -> SharedCache {
    let mut options = SharedCacheOptions::new(redis.url());
    options.password = redis.password().map(str::to_string);
    options.ca_files = redis
        .ca_cert_path()
        .map(|p| p.to_path_buf())
        .into_iter()
        .collect();
    adjust(&mut options);
    SharedCache::new(options).unwrap()
}

pub fn client(shared: Option<SharedCache>) -> Client {
    let mut options = ClientOptions::builder().credentials(Anonymous).build();
    options.shared_cache = shared;
    Client::new(options).unwrap()
}

/// Registry requests (manifests and tag lists) the proxy saw.
pub fn registry_requests(proxy: &FaultProxy) -> usize {
    proxy
        .requests()
        .iter()
        .filter(|r| r.target.contains("/manifests/") || r.target.contains("/tags/list"))
        .count()
}
