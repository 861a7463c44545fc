//! What the leader has announced, kept where the next leader finds it: a ConfigMap in
//! `serve`'s own namespace, named after the Lease (`<lease>-announced`).
//!
//! One entry per image and workload it is used by: the key is a short hash of the image
//! reference and the workload (`namespace/kind/name`), the value the Event's reason, a
//! hash of its note and when it was said (`ImageMissing.3f2a…​.1767225600`). So its size
//! grows with the images in use, not with the Events written; entries older than
//! [`FORGET_AFTER`] are dropped (a stuck image is announced again after a hand-over then,
//! at most once a month).
//!
//! Why not read the Events back: listing every Event of a cluster is unbounded (and
//! unpaged here), Events expire after an hour by default (so the next leader would repeat
//! anything older), and it needs `list` on Events, which the chart does not grant.
//!
//! - A new leader reads the ConfigMap (`get`) before it publishes anything
//!   ([`Announced::load`]); a missing ConfigMap is an empty history.
//! - The leader records each Event it wrote ([`Announced::record`]) and writes the
//!   ConfigMap at most once per [`FLUSH_AFTER`] ([`Announced::flush`]): `create` the first
//!   time, then `update` with the resourceVersion it read as precondition. A `409` (another
//!   writer, e.g. the previous leader's last write) re-reads, merges (this leader's entries
//!   win) and writes again.
//! - Without a Lease (one replica, no namespace of its own) the history is in memory only.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::error::one_line;

/// How long after its last write a batch of records is written.
pub(crate) const FLUSH_AFTER: Duration = Duration::from_millis(500);
/// Entries not said again for this long are dropped.
pub(crate) const FORGET_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);
/// Attempts of one write when others keep writing in between.
const ATTEMPTS: usize = 5;

/// Where the history is kept.
#[derive(Clone)]
pub(crate) struct Place {
    pub api: Api<ConfigMap>,
    pub name: String,
}

/// The latest announcement per (image, workload), and where it is kept.
pub(crate) struct Announced {
    place: Option<Place>,
    /// key → `Reason.notehash.unixseconds`.
    entries: BTreeMap<String, String>,
    /// Keys recorded since the last write.
    changed: BTreeMap<String, String>,
    /// The resourceVersion read or written last (`None`: not there yet, or unknown).
    resource_version: Option<String>,
    /// A refused read or write was said once.
    warned: bool,
}

impl Announced {
    /// An empty history kept in `place` (`None`: in memory).
    pub fn new(place: Option<Place>) -> Announced {
        Announced {
            place,
            entries: BTreeMap::new(),
            changed: BTreeMap::new(),
            resource_version: None,
            warned: false,
        }
    }

    /// The key of `image` on the workload `namespace/kind/name`.
    pub fn key(image: &str, namespace: &str, kind: &str, name: &str) -> String {
        let hash = fnv1a(&[image, namespace, kind, name].join("\n"));
        format!("{hash:016x}")
    }

    /// True when the latest announcement under `key` was `reason` with `note`.
    pub fn already_said(&self, key: &str, reason: &str, note: &str) -> bool {
        self.entries
            .get(key)
            .is_some_and(|value| same_statement(value, reason, note))
    }

    /// `reason` with `note` was just announced under `key`.
    pub fn record(&mut self, key: String, reason: &str, note: &str) {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let value = format!("{reason}.{:016x}.{now}", fnv1a(note));
        self.entries.insert(key.clone(), value.clone());
        if self.place.is_some() {
            self.changed.insert(key, value);
        }
    }

    /// True when records wait to be written.
    pub fn dirty(&self) -> bool {
        !self.changed.is_empty()
    }

    /// Replaces the history with what the ConfigMap holds (a new leader's first step).
    pub async fn load(&mut self) {
        let Some(place) = self.place.clone() else {
            return;
        };
        self.changed.clear();
        match place.api.get_opt(&place.name).await {
            Ok(Some(map)) => {
                self.resource_version = map.metadata.resource_version.clone();
                self.entries = map.data.unwrap_or_default();
                tracing::debug!(
                    configmap = %place.name,
                    entries = self.entries.len(),
                    "read what was announced before"
                );
            }
            Ok(None) => {
                self.resource_version = None;
                self.entries.clear();
            }
            Err(e) => self.warn("read", &place, &e),
        }
    }

    /// Writes the records made since the last write (create, or update with the
    /// resourceVersion as precondition; on `409` re-read, merge, write again).
    pub async fn flush(&mut self) {
        let Some(place) = self.place.clone() else {
            return;
        };
        if self.changed.is_empty() {
            return;
        }
        self.forget_old();
        for _ in 0..ATTEMPTS {
            let result = match &self.resource_version {
                Some(rv) => {
                    place
                        .api
                        .replace(
                            &place.name,
                            &PostParams::default(),
                            &self.map(&place, Some(rv)),
                        )
                        .await
                }
                None => {
                    place
                        .api
                        .create(&PostParams::default(), &self.map(&place, None))
                        .await
                }
            };
            match result {
                Ok(written) => {
                    self.resource_version = written.metadata.resource_version;
                    self.changed.clear();
                    return;
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    self.merge_from_server(&place).await;
                }
                Err(e) => {
                    self.warn("write", &place, &e);
                    return;
                }
            }
        }
        tracing::debug!(configmap = %place.name, "others kept writing; trying again later");
    }

    /// After a conflict: the server's entries, with this leader's records on top.
    async fn merge_from_server(&mut self, place: &Place) {
        match place.api.get_opt(&place.name).await {
            Ok(Some(map)) => {
                self.resource_version = map.metadata.resource_version.clone();
                let mut entries = map.data.unwrap_or_default();
                entries.extend(self.changed.clone());
                self.entries = entries;
            }
            Ok(None) => self.resource_version = None,
            Err(e) => self.warn("read", place, &e),
        }
    }

    fn map(&self, place: &Place, resource_version: Option<&String>) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(place.name.clone()),
                resource_version: resource_version.cloned(),
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/managed-by".to_string(),
                    "tagwarden".to_string(),
                )])),
                ..ObjectMeta::default()
            },
            data: Some(self.entries.clone()),
            ..ConfigMap::default()
        }
    }

    fn forget_old(&mut self) {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let oldest = now.saturating_sub(FORGET_AFTER.as_secs());
        self.entries.retain(|_, value| {
            value
                .rsplit('.')
                .next()
                .and_then(|t| t.parse::<u64>().ok())
                .is_none_or(|at| at >= oldest)
        });
    }

    fn warn(&mut self, what: &str, place: &Place, error: &kube::Error) {
        let why = match error {
            kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
            other => one_line(other),
        };
        if self.warned {
            tracing::debug!(configmap = %place.name, "cannot {what} what was announced: {why}");
        } else {
            tracing::warn!(
                "cannot {what} ConfigMap {} (what was announced, for the next leader): {why}; \
                 after a hand-over some Events may be repeated",
                place.name
            );
            self.warned = true;
        }
    }
}

/// True when `value` (`Reason.notehash.time`) says `reason` with `note`.
fn same_statement(value: &str, reason: &str, note: &str) -> bool {
    let mut parts = value.splitn(3, '.');
    parts.next() == Some(reason) && parts.next() == Some(&format!("{:016x}", fnv1a(note)))
}

/// FNV-1a, 64 bits: stable across processes and versions (unlike std's hasher).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_found_by_its_key_reason_and_note_only() {
        let mut announced = Announced::new(None);
        let key = Announced::key("r/app:v1", "shop", "Deployment", "web");
        assert_ne!(
            key,
            Announced::key("r/app:v1", "shop", "Deployment", "web2")
        );
        assert_eq!(key.len(), 16);
        assert!(!announced.already_said(&key, "ImageMissing", "image r/app:v1 is missing"));
        announced.record(key.clone(), "ImageMissing", "image r/app:v1 is missing");
        assert!(announced.already_said(&key, "ImageMissing", "image r/app:v1 is missing"));
        assert!(!announced.already_said(&key, "ImageAvailable", "image r/app:v1 is missing"));
        assert!(!announced.already_said(&key, "ImageMissing", "another note"));
        assert!(!announced.dirty(), "in memory: nothing to write");
    }

    #[test]
    fn old_entries_are_forgotten() {
        let mut announced = Announced::new(None);
        announced
            .entries
            .insert("a".into(), "ImageMissing.00.100".into());
        announced.record("b".into(), "ImageMissing", "n");
        announced.forget_old();
        assert_eq!(announced.entries.keys().collect::<Vec<_>>(), ["b"]);
    }
}
