//! The cluster's Kubernetes version, from `GET /version`.

use tagwarden_core::KubeVersion;

use crate::connection::Cluster;
use crate::error::ClusterError;

impl Cluster {
    /// Reads `/version` and parses it with [`KubeVersion::from_fields`]: the `gitVersion`
    /// when it is a Kubernetes version, else the `major`/`minor` fields, so EKS
    /// (`minor: "32+"`) and kcp (a `gitVersion` of its own) both work.
    ///
    /// # Errors
    ///
    /// The classes of [`ClusterError`] ([`crate::error`]); [`ClusterError::BadVersion`]
    /// for an answer without a usable version.
    pub async fn version(&self) -> Result<KubeVersion, ClusterError> {
        let info = self
            .client()?
            .apiserver_version()
            .await
            .map_err(|e| self.request_error(e).during("GET /version"))?;
        tracing::debug!(
            server = %self.server(),
            git_version = %info.git_version,
            major = %info.major,
            minor = %info.minor,
            "read /version"
        );
        KubeVersion::from_fields(
            Some(&info.git_version),
            Some(&info.major),
            Some(&info.minor),
        )
        .map_err(|e| ClusterError::BadVersion {
            server: self.server(),
            context: self.context_suffix(),
            reason: e.to_string(),
        })
    }
}

/// The version `serve` follows while the cluster is upgraded: `/version` is read again on a
/// period, and during a rolling control-plane upgrade each read may reach another replica
/// (1.33, 1.32, 1.33, …). The rule, which cannot flap:
///
/// - a **higher** version (major, minor, patch) is adopted at once;
/// - a **lower** (or another version of the same number) only after it was the only answer
///   of [`VersionFollower::needed`] reads in a row (any other answer starts the count
///   again).
#[derive(Debug, Clone)]
pub struct VersionFollower {
    current: KubeVersion,
    /// A lower version seen, and how many reads in a row said it.
    lower: Option<(KubeVersion, u32)>,
    needed: u32,
}

/// Reads in a row a lower version needs before it is followed.
pub const LOWER_VERSION_READS: u32 = 5;

impl VersionFollower {
    /// Following `current`; a lower version needs `needed` reads in a row (at least 1).
    pub fn new(current: KubeVersion, needed: u32) -> VersionFollower {
        VersionFollower {
            current,
            lower: None,
            needed: needed.max(1),
        }
    }

    /// The version followed now.
    pub fn current(&self) -> &KubeVersion {
        &self.current
    }

    /// Reads in a row a lower version needs.
    pub fn needed(&self) -> u32 {
        self.needed
    }

    /// One more read; the new version when the one followed changes.
    pub fn observe(&mut self, read: KubeVersion) -> Option<KubeVersion> {
        let order = |v: &KubeVersion| (v.major, v.minor, v.patch.unwrap_or(0));
        if order(&read) > order(&self.current) {
            self.lower = None;
            self.current = read.clone();
            return Some(read);
        }
        if read == self.current {
            self.lower = None;
            return None;
        }
        let count = match &self.lower {
            Some((seen, count)) if *seen == read => count + 1,
            _ => 1,
        };
        if count >= self.needed {
            self.lower = None;
            self.current = read.clone();
            return Some(read);
        }
        self.lower = Some((read, count));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> KubeVersion {
        KubeVersion::parse(text).unwrap()
    }

    #[test]
    fn higher_wins_at_once_and_lower_needs_reads_in_a_row() {
        let mut follower = VersionFollower::new(v("v1.32.1"), 3);
        assert_eq!(follower.observe(v("v1.32.1")), None);
        assert_eq!(follower.observe(v("v1.34.0")), Some(v("v1.34.0")));
        // A rolling upgrade (or downgrade) answering both: never flaps.
        for _ in 0..10 {
            assert_eq!(follower.observe(v("v1.33.2")), None);
            assert_eq!(follower.observe(v("v1.34.0")), None);
        }
        assert_eq!(follower.current(), &v("v1.34.0"));
        assert_eq!(follower.observe(v("v1.33.2")), None);
        assert_eq!(follower.observe(v("v1.33.2")), None);
        assert_eq!(follower.observe(v("v1.33.2")), Some(v("v1.33.2")));
        assert_eq!(follower.current(), &v("v1.33.2"));
    }
}
