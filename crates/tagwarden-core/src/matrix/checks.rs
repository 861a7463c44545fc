//! Questions a matrix answers: does an application version support a Kubernetes version
//! (and if not, which supported combinations are nearest), and which image tags does it
//! promise.

use super::grammar::AppVersion;
use super::model::{Entry, Matrix};

impl Matrix {
    /// The entry whose application range contains `app`.
    pub fn entry_for(&self, app: &AppVersion) -> Option<&Entry> {
        self.entries.iter().find(|e| e.app.contains(app))
    }

    /// Whether application `app` supports Kubernetes `major.minor`, and if not,
    /// the nearest supported combinations; see [`Check`].
    pub fn check(&self, app: &AppVersion, major: u64, minor: u64) -> Check<'_> {
        let entry = self.entry_for(app);
        if let Some(entry) = entry
            && entry.kubernetes.contains(major, minor)
        {
            return Check {
                entry: Some(entry),
                supported: true,
                nearest: Vec::new(),
            };
        }
        let v = app.numbers();
        let by_app_distance = |e: &&Entry| {
            let (d, above) = e.app.distance(v).unwrap_or(([0; 3], true));
            (d, !above)
        };
        let mut nearest = Vec::new();
        // 1. Keep the Kubernetes version: the nearest application range that supports it.
        if let Some(e) = self
            .entries
            .iter()
            .filter(|e| e.kubernetes.contains(major, minor))
            .min_by_key(by_app_distance)
        {
            nearest.push(Suggestion {
                entry: e,
                major,
                minor,
                keeps: Keeps::Kubernetes,
            });
        }
        // 2. Keep the application version: the nearest Kubernetes minor it supports.
        if let Some(e) = entry {
            let (major, minor) = e.kubernetes.nearest(major, minor);
            nearest.push(Suggestion {
                entry: e,
                major,
                minor,
                keeps: Keeps::App,
            });
        }
        // 3. Neither can stay: the nearest application range, at its nearest minor.
        if nearest.is_empty()
            && let Some(e) = self.entries.iter().min_by_key(by_app_distance)
        {
            let (major, minor) = e.kubernetes.nearest(major, minor);
            nearest.push(Suggestion {
                entry: e,
                major,
                minor,
                keeps: Keeps::Neither,
            });
        }
        Check {
            entry,
            supported: false,
            nearest,
        }
    }

    /// Every image tag the matrix promises: one per (entry with an image ×
    /// Kubernetes minor in its range), in file order, then by minor.
    pub fn promises(&self) -> Vec<Promise<'_>> {
        let mut out = Vec::new();
        for entry in &self.entries {
            let Some(image) = &entry.image else {
                continue;
            };
            for (major, minor) in entry.kubernetes.minors() {
                out.push(Promise {
                    entry,
                    major,
                    minor,
                    repository: image.repository().to_owned(),
                    tag: image.tag(major, minor),
                    image: image.render(major, minor),
                });
            }
        }
        out
    }
}

/// The answer of [`Matrix::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check<'a> {
    /// The entry whose application range holds the version, if any.
    pub entry: Option<&'a Entry>,
    /// Whether that entry supports the Kubernetes version.
    pub supported: bool,
    /// When not supported, the nearest supported combinations, best first:
    /// the one that keeps the Kubernetes version (a different application
    /// range), then the one that keeps the application version (the nearest
    /// Kubernetes minor it supports). When neither exists, the nearest
    /// application range at its nearest minor. Empty when supported.
    pub nearest: Vec<Suggestion<'a>>,
}

/// A supported combination offered instead of an unsupported one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion<'a> {
    /// The entry that supports it.
    pub entry: &'a Entry,
    /// Kubernetes major.
    pub major: u64,
    /// Kubernetes minor.
    pub minor: u64,
    /// What stays as asked.
    pub keeps: Keeps,
}

impl Suggestion<'_> {
    /// The image the entry asks for on this Kubernetes version.
    pub fn image(&self) -> Option<String> {
        self.entry
            .image
            .as_ref()
            .map(|i| i.render(self.major, self.minor))
    }
}

/// Which half of the asked combination a suggestion keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keeps {
    /// Same Kubernetes version, another application version.
    Kubernetes,
    /// Same application version, another Kubernetes version.
    App,
    /// Neither could stay.
    Neither,
}

impl Keeps {
    /// `"kubernetes"`, `"app"` or `"neither"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Keeps::Kubernetes => "kubernetes",
            Keeps::App => "app",
            Keeps::Neither => "neither",
        }
    }
}

/// One image tag the matrix promises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promise<'a> {
    /// The entry that promises it.
    pub entry: &'a Entry,
    /// Kubernetes major.
    pub major: u64,
    /// Kubernetes minor.
    pub minor: u64,
    /// The repository as written in the template.
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// `repository:tag`.
    pub image: String,
}
