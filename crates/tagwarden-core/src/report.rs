//! The report `check` and `scan` give: one entry per unique image with its verdict and
//! every place it is used, the summary, and what the report means for the run's exit
//! under `--fail-on`.
//!
//! The report is data (its JSON is the `images` and `summary` of `check -o json` and
//! `scan -o json`); how it is printed (text, JUnit, SARIF) is the front end's business.
//! It is generic over where an image is used (`L`: a manifest location, a workload) and
//! over what a front end adds to each image (`X`: `scan`'s pull failures, …; flattened
//! into the image's JSON object).
//!
//! # Exit classification
//!
//! [`Report::classify`] decides, in this order:
//!
//! | `--fail-on`            | invalid | undetermined            | missing | else    |
//! |------------------------|---------|-------------------------|---------|---------|
//! | `undetermined` (default) | 2     | 3                       | 1       | 0       |
//! | `missing`              | 2       | ignored (a warning)     | 1       | 0       |
//! | `never`                | 0 (a note when anything was found) |  |         |         |
//!
//! ```
//! use tagwarden_core::report::{ExitClass, FailOn, ImageReport, NoDetails, Report};
//! use tagwarden_core::Verdict;
//!
//! let images = vec![
//!     ImageReport::of("nginx:1.27".into(), Verdict::present("sha256:…"), vec!["web"], NoDetails {}),
//!     ImageReport::of("kubectl:v1.33".into(), Verdict::missing("v1.33 is not published"), vec!["job"], NoDetails {}),
//! ];
//! let report = Report::new(images);
//! assert_eq!(report.summary.missing, 1);
//! assert_eq!(report.classify(FailOn::Undetermined).exit, ExitClass::Missing);
//! assert_eq!(report.classify(FailOn::Never).exit, ExitClass::Success);
//! ```

use serde::Serialize;

use crate::verdict::{ImageStatus, Verdict};

/// One unique image in the report (the `images[]` entry of `-o json`).
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport<L, X = NoDetails> {
    /// The image exactly as written (in the manifest, in the workload).
    pub image: String,
    /// Present, missing, denied, unreachable or invalid.
    pub status: ImageStatus,
    /// The manifest digest, when present.
    pub digest: Option<String>,
    /// The reference as written with the fallback tag (no digest), when one was found.
    pub fallback: Option<String>,
    /// The fallback's manifest digest (`check -o kustomize-images` pins to it); not in JSON.
    #[serde(skip)]
    pub fallback_digest: Option<String>,
    /// Why it is not present, one line; `null` when it is.
    pub reason: Option<String>,
    /// For a missing image with no fallback within the policy: the reference as written
    /// with the nearest compatible tag outside it. Only in JSON when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nearest_outside_policy: Option<String>,
    /// Every place it is used, in input order.
    pub locations: Vec<L>,
    /// What a front end adds (`scan`: pull failures, the tag after an upgrade, …).
    #[serde(flatten)]
    pub details: X,
}

impl<L, X> ImageReport<L, X> {
    /// The report about `image`, used at `locations`, from the engine's `verdict`.
    pub fn of(image: String, verdict: Verdict, locations: Vec<L>, details: X) -> Self {
        let mut report = ImageReport {
            image,
            status: verdict.status,
            digest: None,
            fallback: None,
            fallback_digest: None,
            reason: None,
            nearest_outside_policy: None,
            locations,
            details,
        };
        report.set_verdict(verdict);
        report
    }

    /// The same report with each location turned into another shape (a fleet's scan adds
    /// the cluster to every workload location).
    pub fn map_locations<M>(self, to: impl FnMut(L) -> M) -> ImageReport<M, X> {
        ImageReport {
            image: self.image,
            status: self.status,
            digest: self.digest,
            fallback: self.fallback,
            fallback_digest: self.fallback_digest,
            reason: self.reason,
            nearest_outside_policy: self.nearest_outside_policy,
            locations: self.locations.into_iter().map(to).collect(),
            details: self.details,
        }
    }

    /// Takes the engine's answer about the image.
    pub fn set_verdict(&mut self, verdict: Verdict) {
        self.status = verdict.status;
        self.digest = verdict.digest;
        self.fallback = verdict.fallback;
        self.fallback_digest = verdict.fallback_digest;
        self.nearest_outside_policy = verdict.nearest_outside_policy;
        self.reason = verdict.reason;
    }
}

/// A front end that adds nothing to an image's report (`check`).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct NoDetails {}

/// Counts of unique images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Present.
    pub present: usize,
    /// Missing.
    pub missing: usize,
    /// Denied or unreachable.
    pub undetermined: usize,
    /// Not an image reference.
    pub invalid: usize,
}

impl Summary {
    /// The counts of `images`.
    pub fn of<L, X>(images: &[ImageReport<L, X>]) -> Summary {
        let mut summary = Summary::default();
        for report in images {
            match report.status {
                ImageStatus::Present => summary.present += 1,
                ImageStatus::Missing => summary.missing += 1,
                ImageStatus::Denied | ImageStatus::Unreachable => summary.undetermined += 1,
                ImageStatus::Invalid => summary.invalid += 1,
            }
        }
        summary
    }

    /// Images that are not present: missing, undetermined or invalid.
    pub fn findings(&self) -> usize {
        self.missing + self.undetermined + self.invalid
    }
}

/// The counts of two reports together (a fleet's clusters, counted per cluster).
impl std::ops::Add for Summary {
    type Output = Summary;

    fn add(self, other: Summary) -> Summary {
        Summary {
            present: self.present + other.present,
            missing: self.missing + other.missing,
            undetermined: self.undetermined + other.undetermined,
            invalid: self.invalid + other.invalid,
        }
    }
}

/// A finished report: every unique image and their counts.
#[derive(Debug, Clone, Serialize)]
pub struct Report<L, X = NoDetails> {
    /// Unique images, in report order.
    pub images: Vec<ImageReport<L, X>>,
    /// Their counts.
    pub summary: Summary,
}

impl<L, X> Report<L, X> {
    /// The report of `images`, counted.
    pub fn new(images: Vec<ImageReport<L, X>>) -> Self {
        let summary = Summary::of(&images);
        Report { images, summary }
    }

    /// What the report means for the run's exit under `fail_on` (see the
    /// [module documentation](self)).
    pub fn classify(&self, fail_on: FailOn) -> Classification {
        let s = self.summary;
        let mut classification = Classification {
            exit: ExitClass::Success,
            undetermined_ignored: 0,
            findings_ignored: false,
        };
        if fail_on == FailOn::Never {
            classification.findings_ignored = s.findings() > 0;
            return classification;
        }
        classification.exit = if s.invalid > 0 {
            ExitClass::Invalid
        } else if s.undetermined > 0 && fail_on == FailOn::Undetermined {
            ExitClass::Undetermined
        } else if s.missing > 0 {
            ExitClass::Missing
        } else {
            ExitClass::Success
        };
        if s.invalid == 0 && fail_on == FailOn::Missing {
            classification.undetermined_ignored = s.undetermined;
        }
        classification
    }

    /// The images whose status is `wanted`, in report order (the first few name a
    /// failing run).
    pub fn with_status(
        &self,
        wanted: impl Fn(ImageStatus) -> bool,
    ) -> impl Iterator<Item = &ImageReport<L, X>> {
        self.images.iter().filter(move |i| wanted(i.status))
    }
}

/// `--fail-on`: which findings fail the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailOn {
    /// Missing images only; images that could not be checked only warn.
    Missing,
    /// Images that could not be checked, and missing ones (the default).
    #[default]
    Undetermined,
    /// Nothing: the run succeeds once the report is written.
    Never,
}

/// The class of a run's exit, from its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    /// Nothing fails the run (exit 0).
    Success,
    /// An image is missing (exit 1).
    Missing,
    /// An image reference is invalid (exit 2).
    Invalid,
    /// An image could not be checked (exit 3).
    Undetermined,
}

impl ExitClass {
    /// The process exit code tagwarden gives this class.
    pub fn code(self) -> i32 {
        match self {
            ExitClass::Success => 0,
            ExitClass::Missing => 1,
            ExitClass::Invalid => 2,
            ExitClass::Undetermined => 3,
        }
    }
}

/// What a report means for the run: its exit, and the findings `--fail-on` let pass
/// (which a front end says on stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    /// The exit.
    pub exit: ExitClass,
    /// Undetermined images [`FailOn::Missing`] let pass (0 when the exit is
    /// [`ExitClass::Invalid`]: that message comes first).
    pub undetermined_ignored: usize,
    /// [`FailOn::Never`] and something was not present.
    pub findings_ignored: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(statuses: &[ImageStatus]) -> Report<()> {
        Report::new(
            statuses
                .iter()
                .map(|&status| {
                    let verdict = Verdict::with_status(status);
                    ImageReport::of(String::new(), verdict, vec![()], NoDetails {})
                })
                .collect(),
        )
    }

    #[test]
    fn each_fail_on_classifies_as_documented() {
        use ImageStatus::{Denied, Invalid, Missing, Present, Unreachable};
        let (ok, missing, invalid, undetermined) = (
            ExitClass::Success,
            ExitClass::Missing,
            ExitClass::Invalid,
            ExitClass::Undetermined,
        );
        let cases: &[(&[ImageStatus], FailOn, ExitClass, usize, bool)] = &[
            (&[Present], FailOn::Undetermined, ok, 0, false),
            (&[Missing, Present], FailOn::Undetermined, missing, 0, false),
            (
                &[Missing, Denied],
                FailOn::Undetermined,
                undetermined,
                0,
                false,
            ),
            (
                &[Missing, Unreachable, Invalid],
                FailOn::Undetermined,
                invalid,
                0,
                false,
            ),
            (&[Missing, Unreachable], FailOn::Missing, missing, 1, false),
            (&[Denied, Unreachable], FailOn::Missing, ok, 2, false),
            (&[Denied, Invalid], FailOn::Missing, invalid, 0, false),
            (&[Invalid, Denied, Missing], FailOn::Never, ok, 0, true),
            (&[Present], FailOn::Never, ok, 0, false),
            (&[], FailOn::Undetermined, ok, 0, false),
        ];
        for (statuses, fail_on, exit, ignored, noted) in cases {
            let c = report(statuses).classify(*fail_on);
            assert_eq!(
                (c.exit, c.undetermined_ignored, c.findings_ignored),
                (*exit, *ignored, *noted),
                "{statuses:?} with {fail_on:?}"
            );
        }
    }

    #[test]
    fn mapping_locations_keeps_the_verdict_and_the_order() {
        let mut verdict = Verdict::missing("v1.33 is not published");
        verdict.fallback = Some("kubectl:v1.32".into());
        verdict.fallback_digest = Some("sha256:aa".into());
        let image = ImageReport::of("kubectl:v1.33".into(), verdict, vec![1, 2], NoDetails {});
        let mapped = image.clone().map_locations(|n| format!("cluster-a/{n}"));
        assert_eq!(mapped.locations, ["cluster-a/1", "cluster-a/2"]);
        assert_eq!(
            (
                mapped.status,
                mapped.fallback,
                mapped.fallback_digest,
                mapped.reason
            ),
            (
                image.status,
                image.fallback,
                image.fallback_digest,
                image.reason
            )
        );
    }

    #[test]
    fn summaries_add_up_to_the_summary_of_all_images() {
        use ImageStatus::{Denied, Invalid, Missing, Present};
        let (a, b) = (
            report(&[Present, Missing]),
            report(&[Denied, Invalid, Present]),
        );
        let all = report(&[Present, Missing, Denied, Invalid, Present]);
        assert_eq!(a.summary + b.summary, all.summary);
    }

    #[test]
    fn exit_codes_are_the_documented_ones() {
        let codes = [
            ExitClass::Success,
            ExitClass::Missing,
            ExitClass::Invalid,
            ExitClass::Undetermined,
        ]
        .map(ExitClass::code);
        assert_eq!(codes, [0, 1, 2, 3]);
    }

    #[test]
    fn a_verdict_fills_every_field_of_the_report() {
        let mut verdict = Verdict::missing("v1.33 is not published");
        verdict.fallback = Some("kubectl:v1.32".into());
        verdict.nearest_outside_policy = Some("kubectl:v1.30".into());
        let image = ImageReport::of("kubectl:v1.33".into(), verdict, vec![1, 2], NoDetails {});
        let json = serde_json::to_value(Report::new(vec![image])).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "images": [{
                    "image": "kubectl:v1.33",
                    "status": "missing",
                    "digest": null,
                    "fallback": "kubectl:v1.32",
                    "reason": "v1.33 is not published",
                    "nearest_outside_policy": "kubectl:v1.30",
                    "locations": [1, 2],
                }],
                "summary": {"present": 0, "missing": 1, "undetermined": 0, "invalid": 0},
            })
        );
    }
}
