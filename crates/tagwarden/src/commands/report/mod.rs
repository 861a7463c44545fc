//! The report `check` and `scan` share: one entry per unique image with its verdict and
//! where it is used, the summary, the exit status it means, and its printers (text,
//! JSON through serde, JUnit, SARIF, Kustomize `images`).
//!
//! Exit codes, with the default `--fail-on undetermined`: 2 when any image reference is
//! invalid (the report is still printed), else 3 when any image could not be checked
//! (denied, unreachable), else 1 when any is missing, else 0. `--fail-on missing` ignores
//! undetermined images (with a warning); `--fail-on never` always exits 0 once a report was
//! printed.

pub mod junit;
pub mod kustomize;
pub mod sarif;
pub mod text;

use anyhow::anyhow;
use clap::ValueEnum;
use serde::Serialize;
use tagwarden_manifest::Location;

use crate::exit::{CommandResult, Failure, Status};
use crate::output::errln;

/// `--fail-on`: which findings fail the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Exit 1 for missing images only; images that could not be checked only warn.
    Missing,
    /// Exit 3 for images that could not be checked, 1 for missing ones.
    Undetermined,
    /// Always exit 0 once the report is written.
    Never,
}

pub use tagwarden_core::ImageStatus;

/// One unique image in the report (the `images[]` entry of `-o json`): `check`'s, with
/// manifest [`Location`]s, or `scan`'s, with workload locations and [`Details`] of its own.
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport<L = Location, X = NoDetails> {
    /// The image exactly as written in the manifest.
    pub image: String,
    pub status: ImageStatus,
    /// The manifest digest, when present.
    pub digest: Option<String>,
    /// The reference as written with the fallback tag (no digest), when one was found.
    pub fallback: Option<String>,
    /// The fallback's manifest digest (`-o kustomize-images` pins to it); not in JSON.
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

/// Where an image is used, as a report shows it.
pub trait Located: Serialize {
    /// One line for the text table and JUnit: `file:line:col Kind ns/name (container)`.
    fn describe(&self) -> String;
    /// The shortest name for a one-line error: `file:line:col`.
    fn short(&self) -> String;
    /// The image field's path in its object.
    fn path(&self) -> &str;
    /// The file and line, for JUnit's attributes, when there is a file.
    fn file_line(&self) -> Option<(&str, usize)>;
}

impl Located for Location {
    fn describe(&self) -> String {
        text::describe(self)
    }

    fn short(&self) -> String {
        format!("{}:{}:{}", self.file, self.line, self.column)
    }

    fn path(&self) -> &str {
        &self.path
    }

    fn file_line(&self) -> Option<(&str, usize)> {
        Some((&self.file, self.line))
    }
}

/// What a front end adds to an image's report: extra JSON fields (flattened into the
/// image's object) and extra lines for the text table's detail column.
pub trait Details: Serialize {
    /// Lines for the detail column, after the digest, reason and fallback.
    fn detail_lines(&self) -> Vec<String> {
        Vec::new()
    }
}

/// `check` adds nothing.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct NoDetails {}

impl Details for NoDetails {}

/// Counts of unique images.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    pub present: usize,
    pub missing: usize,
    /// Denied or unreachable.
    pub undetermined: usize,
    pub invalid: usize,
}

impl Summary {
    /// The counts of a finished report.
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
}

#[derive(Debug, Serialize)]
pub struct CheckOutput<L = Location, X = NoDetails> {
    pub images: Vec<ImageReport<L, X>>,
    pub summary: Summary,
    /// Only when a registry sent rate-limit headers (Docker Hub does).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<crate::commands::RateLimitOutput>,
}

/// Images named in a failing exit's one-line error; the rest are counted ("and 6 more").
const LISTED_IN_ERRORS: usize = 3;

/// The exit status for a finished report (see the module docs).
pub fn verdict_of<L: Located, X>(output: &CheckOutput<L, X>, fail_on: FailOn) -> CommandResult {
    let summary = output.summary;
    let first = |wanted: fn(ImageStatus) -> bool| {
        let matching: Vec<&ImageReport<L, X>> =
            output.images.iter().filter(|i| wanted(i.status)).collect();
        let mut listed: Vec<String> = matching
            .iter()
            .take(LISTED_IN_ERRORS)
            .map(|i| {
                // A field with no image string is named by what it holds.
                let what = if i.image.is_empty() {
                    i.reason.clone().unwrap_or_default()
                } else {
                    text::short_image(&i.image)
                };
                match i.locations.first() {
                    Some(l) => format!("{what} ({})", l.short()),
                    None => what,
                }
            })
            .collect();
        if matching.len() > listed.len() {
            listed.push(format!("and {} more", matching.len() - listed.len()));
        }
        listed.join(", ")
    };
    let plural = |n: usize| if n == 1 { "image" } else { "images" };
    if fail_on == FailOn::Never {
        if summary.invalid + summary.undetermined + summary.missing > 0 {
            errln!(
                "note: {} missing, {} undetermined, {} invalid; --fail-on never exits 0",
                summary.missing,
                summary.undetermined,
                summary.invalid
            );
        }
        return Ok(Status::Success);
    }
    if summary.invalid > 0 {
        return Err(Failure::bad_input(anyhow!(
            "{} invalid image {}: {}",
            summary.invalid,
            if summary.invalid == 1 {
                "reference"
            } else {
                "references"
            },
            first(|s| s == ImageStatus::Invalid)
        )));
    }
    if summary.undetermined > 0 {
        if fail_on == FailOn::Undetermined {
            return Err(Failure::undecided(anyhow!(
                "{} {} could not be checked: {}",
                summary.undetermined,
                plural(summary.undetermined),
                first(ImageStatus::is_undetermined)
            )));
        }
        errln!(
            "warning: {} {} could not be checked (denied or unreachable); --fail-on missing ignores that",
            summary.undetermined,
            plural(summary.undetermined)
        );
    }
    Ok(if summary.missing > 0 {
        Status::Finding
    } else {
        Status::Success
    })
}
