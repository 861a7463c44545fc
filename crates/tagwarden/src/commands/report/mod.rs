//! How `check` and `scan` print the engine's report ([`tagwarden_core::report`]: one
//! entry per unique image with its verdict and where it is used, the summary, and the
//! exit it means under `--fail-on`): text, JSON through serde, JUnit, SARIF, Kustomize
//! `images`; and the messages of a failing exit.
//!
//! Exit codes, with the default `--fail-on undetermined`: 2 when any image reference is
//! invalid (the report is still printed), else 3 when any image could not be checked
//! (denied, unreachable), else 1 when any is missing, else 0. `--fail-on missing` ignores
//! undetermined images (with a warning); `--fail-on never` always exits 0 once a report was
//! printed. The classification is the library's ([`Report::classify`]).

pub mod junit;
pub mod kustomize;
pub mod sarif;
pub mod text;

use anyhow::anyhow;
use clap::ValueEnum;
use serde::Serialize;
use tagwarden_core::report::{self, ExitClass};
use tagwarden_manifest::Location;

use crate::exit::{CommandResult, Failure, Status};
use crate::output::errln;

/// `--fail-on`: which findings fail the command (the flag; the decision is
/// [`tagwarden_core::report::FailOn`]'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Exit 1 for missing images only; images that could not be checked only warn.
    Missing,
    /// Exit 3 for images that could not be checked, 1 for missing ones.
    Undetermined,
    /// Always exit 0 once the report is written.
    Never,
}

impl From<FailOn> for report::FailOn {
    fn from(flag: FailOn) -> Self {
        match flag {
            FailOn::Missing => report::FailOn::Missing,
            FailOn::Undetermined => report::FailOn::Undetermined,
            FailOn::Never => report::FailOn::Never,
        }
    }
}

pub use tagwarden_core::ImageStatus;
pub use tagwarden_core::report::{NoDetails, Report};

/// One unique image in the report (the `images[]` entry of `-o json`): `check`'s, with
/// manifest [`Location`]s, or `scan`'s, with workload locations and [`Details`] of its own.
pub type ImageReport<L = Location, X = NoDetails> = report::ImageReport<L, X>;

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

impl Details for NoDetails {}

/// A report as `-o json` prints it: the engine's report and the rate limits registries
/// announced.
#[derive(Debug, Serialize)]
pub struct CheckOutput<L = Location, X = NoDetails> {
    #[serde(flatten)]
    pub report: Report<L, X>,
    /// Only when a registry sent rate-limit headers (Docker Hub does).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<crate::commands::RateLimitOutput>,
}

/// Images named in a failing exit's one-line error; the rest are counted ("and 6 more").
const LISTED_IN_ERRORS: usize = 3;

/// The exit status for a finished report (see the module docs), with its messages.
pub fn verdict_of<L: Located, X>(report: &Report<L, X>, fail_on: FailOn) -> CommandResult {
    let summary = report.summary;
    let classification = report.classify(fail_on.into());
    let plural = |n: usize| if n == 1 { "image" } else { "images" };
    if classification.findings_ignored {
        errln!(
            "note: {} missing, {} undetermined, {} invalid; --fail-on never exits 0",
            summary.missing,
            summary.undetermined,
            summary.invalid
        );
    }
    if classification.undetermined_ignored > 0 {
        let n = classification.undetermined_ignored;
        errln!(
            "warning: {n} {} could not be checked (denied or unreachable); --fail-on missing ignores that",
            plural(n)
        );
    }
    match classification.exit {
        ExitClass::Success => Ok(Status::Success),
        ExitClass::Missing => Ok(Status::Finding),
        ExitClass::Invalid => Err(Failure::bad_input(anyhow!(
            "{} invalid image {}: {}",
            summary.invalid,
            if summary.invalid == 1 {
                "reference"
            } else {
                "references"
            },
            first_of(report, |s| s == ImageStatus::Invalid)
        ))),
        ExitClass::Undetermined => Err(Failure::undecided(anyhow!(
            "{} {} could not be checked: {}",
            summary.undetermined,
            plural(summary.undetermined),
            first_of(report, ImageStatus::is_undetermined)
        ))),
    }
}

/// The first few images of a status, for a one-line error: `what (where), …, and 6 more`.
fn first_of<L: Located, X>(report: &Report<L, X>, wanted: fn(ImageStatus) -> bool) -> String {
    let matching: Vec<&ImageReport<L, X>> = report.with_status(wanted).collect();
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
}
