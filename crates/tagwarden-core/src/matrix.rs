//! The compatibility matrix: which Kubernetes versions each application version
//! supports, and which image tag it will ask for on each of them.
//!
//! # The file
//!
//! A small YAML document (JSON Schema: `schema/compat-matrix.schema.json`):
//!
//! ```yaml
//! name: capsule                               # optional: the application, for `show`
//! image: clastix/kubectl:v{major}.{minor}     # optional default for every entry
//! platforms: [linux/amd64, linux/arm64]       # optional default, needs an image
//! versions:
//!   - app: 0.7.x                              # application versions (a range)
//!     kubernetes: 1.28 - 1.32                 # Kubernetes minors, inclusive
//!   - app: ">=0.5.0 <0.7.0"
//!     kubernetes: 1.26 - 1.29
//!     image: clastix/kubectl:v{major}.{minor}.0   # per-entry override
//!     notes: CRDs are installed by a hook Job # optional, shown by `show`
//! ```
//!
//! Unknown keys are errors (a typo must not silently drop a promise), and so
//! are duplicate keys.
//!
//! # Application ranges ([`AppRange`])
//!
//! Versions are `[v]MAJOR[.MINOR[.PATCH]]`; a pre-release or build suffix on a
//! version being checked (`0.8.0-rc.1`) is ignored, so it counts as `0.8.0`.
//!
//! | written                  | means                          |
//! |--------------------------|--------------------------------|
//! | `0.7.3`                  | exactly 0.7.3                  |
//! | `0.7.x`, `0.7.*`, `0.7`  | `>=0.7.0 <0.8.0`               |
//! | `0.x`, `0`               | `>=0.0.0 <1.0.0`               |
//! | `*`                      | every version                  |
//! | `0.7.0 - 0.7.5`          | `>=0.7.0 <=0.7.5` (spaces around `-` required) |
//! | `0.7 - 0.9`              | `>=0.7.0 <0.10.0` (a partial upper end covers its whole range) |
//! | `>=0.7.0 <0.8.0`         | both comparators: `>=`, `>`, `<=`, `<`, `=`, separated by spaces |
//!
//! A comparator with a partial version means what it says of the whole range:
//! `>0.7` is `>=0.8.0`, `<=0.7` is `<0.8.0`. One entry holds one range; two
//! entries' ranges must not overlap, so every application version has at most
//! one answer.
//!
//! # Kubernetes ranges ([`KubeRange`])
//!
//! `[v]MAJOR.MINOR - [v]MAJOR.MINOR` (inclusive), or a single minor `1.30`.
//! Minors only: Kubernetes compatibility is per minor. Both ends share a major.
//!
//! # Image templates ([`ImageTemplate`])
//!
//! An image reference whose tag uses `{major}` and `{minor}` (the Kubernetes
//! version the chart runs on): `clastix/kubectl:v{major}.{minor}`. `{patch}` is
//! not available, because the matrix promises one tag per Kubernetes minor.

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use crate::platform::Platform;

use crate::reference::Reference;
use crate::tag::{TagFormat, TagFormatError};

/// The largest number of minors one Kubernetes range may span.
pub const MAX_MINORS: u64 = 100;

/// A version as three numbers.
type Triple = [u64; 3];

// ---------------------------------------------------------------------------
// Application versions and ranges
// ---------------------------------------------------------------------------

/// An application version being checked: `[v]MAJOR[.MINOR[.PATCH]][-pre][+build]`.
/// Missing numbers are 0; a pre-release or build suffix is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppVersion {
    numbers: Triple,
    text: String,
}

impl AppVersion {
    /// Parse a version.
    ///
    /// ```
    /// use tagwarden_core::matrix::AppVersion;
    /// assert_eq!(AppVersion::parse("v0.7.3").unwrap().numbers(), [0, 7, 3]);
    /// assert_eq!(AppVersion::parse("0.8.0-rc.1").unwrap().numbers(), [0, 8, 0]);
    /// assert!(AppVersion::parse("0.7.x").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<AppVersion, String> {
        let trimmed = text.trim();
        let expected = "expected [v]MAJOR[.MINOR[.PATCH]], e.g. 0.7.3";
        let body = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let cut = body.find(['-', '+']).unwrap_or(body.len());
        let (core, suffix) = body.split_at(cut);
        if suffix == "-"
            || suffix == "+"
            || !suffix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        {
            return Err(format!("{trimmed:?} is not a version ({expected})"));
        }
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() > 3 {
            return Err(format!(
                "{trimmed:?} has more than three numbers ({expected})"
            ));
        }
        let mut numbers = [0u64; 3];
        for (i, part) in parts.iter().enumerate() {
            numbers[i] = number(part).map_err(|why| format!("{trimmed:?}: {why} ({expected})"))?;
        }
        Ok(AppVersion {
            numbers,
            text: trimmed.to_owned(),
        })
    }

    /// `[major, minor, patch]`.
    pub fn numbers(&self) -> Triple {
        self.numbers
    }
}

impl fmt::Display for AppVersion {
    /// The version as given (trimmed).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn number(part: &str) -> Result<u64, String> {
    if part.is_empty() {
        return Err("a number is empty".into());
    }
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{part:?} is not a number"));
    }
    part.parse().map_err(|_| format!("{part:?} is too large"))
}

/// A set of application versions: `lo <= v < hi` (no `hi`: no upper bound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRange {
    text: String,
    lo: Triple,
    hi: Option<Triple>,
}

/// `[lo, hi)` of a partial version: `0.7` → `[0.7.0, 0.8.0)`.
fn partial(text: &str) -> Result<(Triple, Option<Triple>), String> {
    let body = text.strip_prefix('v').unwrap_or(text);
    if matches!(body, "*" | "x" | "X") {
        return Ok(([0; 3], None));
    }
    if body.contains('-') {
        return Err(format!(
            "{text:?} is not a version; a hyphen range needs spaces around '-', e.g. 0.7.0 - 0.7.5 (ranges hold no pre-releases)"
        ));
    }
    let parts: Vec<&str> = body.split('.').collect();
    if parts.len() > 3 {
        return Err(format!("{text:?} has more than three numbers"));
    }
    let mut lo = [0u64; 3];
    let mut given = 0;
    for (i, part) in parts.iter().enumerate() {
        if matches!(*part, "x" | "X" | "*") {
            if parts[i..].iter().any(|p| !matches!(*p, "x" | "X" | "*")) {
                return Err(format!(
                    "{text:?} has a number after a wildcard; write e.g. 0.7.x"
                ));
            }
            break;
        }
        lo[i] = number(part).map_err(|why| format!("{text:?}: {why}"))?;
        given = i + 1;
    }
    if given == 0 {
        return Ok(([0; 3], None));
    }
    // The first version after the range: bump the last given number.
    let mut hi = lo;
    let bumped = hi[given - 1].checked_add(1);
    let hi = bumped.map(|b| {
        hi[given - 1] = b;
        for n in hi.iter_mut().skip(given) {
            *n = 0;
        }
        hi
    });
    Ok((lo, hi))
}

fn show_triple(t: &Triple) -> String {
    format!("{}.{}.{}", t[0], t[1], t[2])
}

impl AppRange {
    /// Parse a range; see the [module documentation](self) for the syntax.
    ///
    /// ```
    /// use tagwarden_core::matrix::{AppRange, AppVersion};
    /// let r = AppRange::parse("0.7.x").unwrap();
    /// assert!(r.contains(&AppVersion::parse("0.7.9").unwrap()));
    /// assert!(!r.contains(&AppVersion::parse("0.8.0").unwrap()));
    /// assert_eq!(r.canonical(), ">=0.7.0 <0.8.0");
    /// ```
    pub fn parse(text: &str) -> Result<AppRange, String> {
        Self::parse_inner(text).map_err(|e| format!("application range {e}"))
    }

    fn parse_inner(text: &str) -> Result<AppRange, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("\"\" is empty; write e.g. 0.7.x or >=0.7.0 <0.8.0".into());
        }
        if trimmed.contains("||") {
            return Err(format!(
                "{trimmed:?}: one entry holds one range; write another entry instead of ||"
            ));
        }
        // Tokens, with a lone operator glued to the version after it (`>= 0.7`).
        let mut tokens: Vec<String> = Vec::new();
        let mut pending: Option<&str> = None;
        for word in trimmed.split_whitespace() {
            if matches!(word, ">=" | "<=" | ">" | "<" | "=") {
                if pending.is_some() {
                    return Err(format!("{trimmed:?}: two operators in a row"));
                }
                pending = Some(word);
                continue;
            }
            tokens.push(format!("{}{word}", pending.take().unwrap_or("")));
        }
        if let Some(op) = pending {
            return Err(format!("{trimmed:?}: {op} needs a version after it"));
        }

        let (lo, hi) = if tokens.len() == 3 && tokens[1] == "-" {
            let (lo, lo_hi) = partial(&tokens[0]).map_err(|e| format!("{trimmed:?}: {e}"))?;
            let (hi_lo, hi) = partial(&tokens[2]).map_err(|e| format!("{trimmed:?}: {e}"))?;
            if lo_hi.is_none() || hi_lo < lo {
                return Err(format!(
                    "{trimmed:?} is inverted: {} is above {}; write the lower end first",
                    tokens[0], tokens[2]
                ));
            }
            (lo, hi)
        } else if tokens.len() == 1 && !tokens[0].starts_with(['>', '<', '=']) {
            partial(&tokens[0]).map_err(|e| format!("{trimmed:?}: {e}"))?
        } else {
            let mut lo = [0u64; 3];
            let mut hi: Option<Triple> = None;
            let min_hi = |a: Option<Triple>, b: Option<Triple>| match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, None) => a,
                (None, b) => b,
            };
            for token in &tokens {
                let (op, version) = split_operator(token).ok_or_else(|| {
                    format!(
                        "{trimmed:?}: {token:?} has no operator; combine comparators such as >=0.7.0 <0.8.0, or write a hyphen range 0.7.0 - 0.7.5"
                    )
                })?;
                let (v_lo, v_hi) = partial(version).map_err(|e| format!("{trimmed:?}: {e}"))?;
                match op {
                    ">=" => lo = lo.max(v_lo),
                    ">" => match v_hi {
                        Some(v_hi) => lo = lo.max(v_hi),
                        None => {
                            return Err(format!("{trimmed:?}: nothing is above {version}"));
                        }
                    },
                    "<" => hi = min_hi(hi, Some(v_lo)),
                    "<=" => hi = min_hi(hi, v_hi),
                    _ => {
                        lo = lo.max(v_lo);
                        hi = min_hi(hi, v_hi);
                    }
                }
            }
            (lo, hi)
        };
        if let Some(hi) = hi
            && lo >= hi
        {
            return Err(format!(
                "{trimmed:?} matches no version: its lower bound {} is not below its upper bound {} (inverted range?)",
                show_triple(&lo),
                show_triple(&hi)
            ));
        }
        Ok(AppRange {
            text: trimmed.to_owned(),
            lo,
            hi,
        })
    }

    /// Whether `version` is in the range.
    pub fn contains(&self, version: &AppVersion) -> bool {
        self.contains_numbers(version.numbers)
    }

    fn contains_numbers(&self, v: Triple) -> bool {
        self.lo <= v && self.hi.is_none_or(|hi| v < hi)
    }

    /// The range as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `>=0.7.0 <0.8.0`, `>=0.7.0`, or `*`.
    pub fn canonical(&self) -> String {
        match (self.lo, self.hi) {
            ([0, 0, 0], None) => "*".into(),
            (lo, None) => format!(">={}", show_triple(&lo)),
            (lo, Some(hi)) => format!(">={} <{}", show_triple(&lo), show_triple(&hi)),
        }
    }

    /// A version both ranges contain, if they overlap.
    pub fn overlap(&self, other: &AppRange) -> Option<Triple> {
        let lo = self.lo.max(other.lo);
        (self.contains_numbers(lo) && other.contains_numbers(lo)).then_some(lo)
    }

    /// How far `v` is from the range, for "nearest" answers: per-component
    /// absolute differences to the nearest member (compared lexicographically),
    /// and whether the range lies above `v`. `None` when `v` is inside.
    fn distance(&self, v: Triple) -> Option<(Triple, bool)> {
        if self.contains_numbers(v) {
            return None;
        }
        if v < self.lo {
            return Some((absdiff(self.lo, v), true));
        }
        // v is at or above hi: the nearest member is the last one below hi.
        let hi = self.hi.unwrap_or([u64::MAX; 3]);
        let last = if hi[2] > 0 {
            [hi[0], hi[1], hi[2] - 1]
        } else if hi[1] > 0 {
            [hi[0], hi[1] - 1, u64::MAX]
        } else {
            [hi[0].saturating_sub(1), u64::MAX, u64::MAX]
        };
        Some((absdiff(v, last), false))
    }
}

fn absdiff(a: Triple, b: Triple) -> Triple {
    [
        a[0].abs_diff(b[0]),
        a[1].abs_diff(b[1]),
        a[2].abs_diff(b[2]),
    ]
}

fn split_operator(token: &str) -> Option<(&str, &str)> {
    [">=", "<=", ">", "<", "="]
        .into_iter()
        .find_map(|op| token.strip_prefix(op).map(|rest| (op, rest)))
}

impl fmt::Display for AppRange {
    /// The range as written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

// ---------------------------------------------------------------------------
// Kubernetes ranges
// ---------------------------------------------------------------------------

/// Kubernetes minors `major.first ..= major.last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KubeRange {
    /// The major version of both ends.
    pub major: u64,
    /// The first supported minor.
    pub first: u64,
    /// The last supported minor.
    pub last: u64,
}

fn kube_minor(text: &str, range: &str) -> Result<(u64, u64), String> {
    let body = text.strip_prefix('v').unwrap_or(text);
    let parts: Vec<&str> = body.split('.').collect();
    match parts.as_slice() {
        [major, minor] => {
            let major = number(major).map_err(|why| format!("{range:?}: {why}"))?;
            let minor = number(minor).map_err(|why| format!("{range:?}: {why}"))?;
            if major == 0 {
                return Err(format!(
                    "{range:?}: {text} has major version 0, which no Kubernetes release has"
                ));
            }
            Ok((major, minor))
        }
        [_, _, _] => Err(format!(
            "{range:?}: {text} names a patch; a Kubernetes range names minors, e.g. 1.28 - 1.32"
        )),
        _ => Err(format!(
            "{range:?} is not MAJOR.MINOR - MAJOR.MINOR (e.g. 1.28 - 1.32) or one minor (e.g. 1.30)"
        )),
    }
}

impl KubeRange {
    /// Parse `1.28 - 1.32` or `1.30`.
    ///
    /// ```
    /// use tagwarden_core::matrix::KubeRange;
    /// let r = KubeRange::parse("1.28 - 1.32").unwrap();
    /// assert_eq!(r.minors().count(), 5);
    /// assert!(KubeRange::parse("1.32 - 1.28").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<KubeRange, String> {
        Self::parse_inner(text).map_err(|e| format!("Kubernetes range {e}"))
    }

    fn parse_inner(text: &str) -> Result<KubeRange, String> {
        let trimmed = text.trim();
        let (first, last) = match trimmed.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (trimmed, trimmed),
        };
        let (major, first_minor) = kube_minor(first, trimmed)?;
        let (last_major, last_minor) = kube_minor(last, trimmed)?;
        if major != last_major {
            return Err(format!(
                "{trimmed:?} spans majors {major} and {last_major}; a range stays within one major"
            ));
        }
        if first_minor > last_minor {
            return Err(format!(
                "{trimmed:?} is inverted: {first} is above {last}; write {last} - {first}"
            ));
        }
        if last_minor - first_minor >= MAX_MINORS {
            return Err(format!(
                "{trimmed:?} spans {} minors; a range spans at most {MAX_MINORS}",
                (last_minor - first_minor).saturating_add(1)
            ));
        }
        Ok(KubeRange {
            major,
            first: first_minor,
            last: last_minor,
        })
    }

    /// Whether Kubernetes `major.minor` is in the range.
    pub fn contains(&self, major: u64, minor: u64) -> bool {
        major == self.major && (self.first..=self.last).contains(&minor)
    }

    /// Every `(major, minor)` in the range, oldest first.
    pub fn minors(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        (self.first..=self.last).map(|minor| (self.major, minor))
    }

    /// The minor of the range nearest to `major.minor` (the newer one on a tie).
    pub fn nearest(&self, major: u64, minor: u64) -> (u64, u64) {
        if major < self.major {
            (self.major, self.first)
        } else if major > self.major {
            (self.major, self.last)
        } else {
            (self.major, minor.clamp(self.first, self.last))
        }
    }
}

impl fmt::Display for KubeRange {
    /// `1.28 - 1.32`, or `1.30` for a single minor.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}.{}", self.major, self.first)
        } else {
            write!(
                f,
                "{}.{} - {}.{}",
                self.major, self.first, self.major, self.last
            )
        }
    }
}

// ---------------------------------------------------------------------------
// Image templates
// ---------------------------------------------------------------------------

/// `REPOSITORY:TAG-TEMPLATE`, e.g. `clastix/kubectl:v{major}.{minor}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTemplate {
    text: String,
    repository: String,
    format: TagFormat,
}

/// An image template error: where in the template (byte offset) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset in the template where the problem is.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl ImageTemplate {
    /// Parse and check a template.
    ///
    /// ```
    /// use tagwarden_core::matrix::ImageTemplate;
    /// let t = ImageTemplate::parse("clastix/kubectl:v{major}.{minor}").unwrap();
    /// assert_eq!(t.render(1, 32), "clastix/kubectl:v1.32");
    /// assert!(ImageTemplate::parse("clastix/kubectl:v{major}.{minr}").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<ImageTemplate, TemplateError> {
        let err = |offset: usize, message: String| TemplateError { offset, message };
        let example = "e.g. clastix/kubectl:v{major}.{minor}";
        if text.is_empty() {
            return Err(err(0, format!("the image template is empty; {example}")));
        }
        if let Some(at) = text.find('@') {
            return Err(err(
                at,
                format!("an image template names tags, not a digest; {example}"),
            ));
        }
        let slash = text.rfind('/').map_or(0, |i| i + 1);
        let Some(colon) = text[slash..].find(':').map(|i| slash + i) else {
            return Err(err(
                text.len(),
                format!("image template {text:?} has no tag after ':'; {example}"),
            ));
        };
        let (repository, tag) = (&text[..colon], &text[colon + 1..]);
        if let Some(brace) = repository.find(['{', '}']) {
            return Err(err(
                brace,
                format!(
                    "image template {text:?} has a placeholder in the repository; {{major}} and {{minor}} belong in the tag, {example}"
                ),
            ));
        }
        let format = TagFormat::parse(tag).map_err(|e| {
            let offset = match &e {
                TagFormatError::UnknownPlaceholder { placeholder, .. } => {
                    tag.find(placeholder.as_str()).unwrap_or(0)
                }
                TagFormatError::UnbalancedBrace { position, .. } => *position,
                TagFormatError::InvalidCharacter { character, .. } => {
                    tag.find(*character).unwrap_or(0)
                }
                _ => 0,
            };
            err(colon + 1 + offset, e.to_string())
        })?;
        if let Some(patch) = tag.find("{patch}") {
            return Err(err(
                colon + 1 + patch,
                format!(
                    "image template {text:?} uses {{patch}}; the matrix promises one tag per Kubernetes minor, so only {{major}} and {{minor}} are known"
                ),
            ));
        }
        let sample = format
            .render(1, 0, None)
            .map_err(|e| err(colon + 1, e.to_string()))?;
        Reference::parse(&format!("{repository}:{sample}"))
            .map_err(|e| err(0, format!("image template {text:?}: {e}")))?;
        Ok(ImageTemplate {
            text: text.to_owned(),
            repository: repository.to_owned(),
            format,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The repository part, as written (`clastix/kubectl`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag for Kubernetes `major.minor`.
    pub fn tag(&self, major: u64, minor: u64) -> String {
        // `parse` rendered a sample and rejected `{patch}`, so only an absurdly
        // long number can fail here; fall back to the raw numbers then.
        self.format
            .render(major, minor, None)
            .unwrap_or_else(|_| format!("{major}.{minor}"))
    }

    /// The full reference for Kubernetes `major.minor`: `clastix/kubectl:v1.32`.
    pub fn render(&self, major: u64, minor: u64) -> String {
        format!("{}:{}", self.repository, self.tag(major, minor))
    }
}

impl fmt::Display for ImageTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

// ---------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------

/// One row of the matrix, with the file's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The application versions of this row.
    pub app: AppRange,
    /// The Kubernetes minors they support.
    pub kubernetes: KubeRange,
    /// The image they ask for (the entry's own, or the file's default).
    pub image: Option<ImageTemplate>,
    /// Platforms every promised tag must provide (the entry's, or the file's default), as
    /// written, each normalised platform once; they parse with [`Platform::parse`].
    pub platforms: Vec<String>,
    /// Free text for `show`.
    pub notes: Option<String>,
    /// The line of the entry in the file (1-based).
    pub line: u64,
}

/// A parsed, validated compatibility matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    /// The application's name, if the file gives one.
    pub name: Option<String>,
    /// The rows, in file order.
    pub entries: Vec<Entry>,
}

/// One problem in a matrix file, at a 1-based line and column (in characters).
/// Line 0 means the position is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixError {
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column in characters, 0 when unknown.
    pub column: u64,
    /// What is wrong.
    pub message: String,
}

impl MatrixError {
    /// `FILE:LINE:COLUMN: message` (just `FILE: message` when the position is unknown).
    pub fn in_file(&self, file: &str) -> String {
        if self.line == 0 {
            format!("{file}: {}", self.message)
        } else {
            format!("{file}:{}:{}: {}", self.line, self.column, self.message)
        }
    }
}

impl fmt::Display for MatrixError {
    /// `LINE:COLUMN: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "{}:{}: {}", self.line, self.column, self.message)
        }
    }
}

/// Every problem found in a matrix file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixErrors(pub Vec<MatrixError>);

impl fmt::Display for MatrixErrors {
    /// One problem per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for MatrixErrors {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(rename = "$schema", default)]
    _schema: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    image: Option<Spanned<String>>,
    #[serde(default)]
    platforms: Option<Vec<Spanned<String>>>,
    versions: Spanned<Vec<Spanned<RawEntry>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    app: Spanned<String>,
    kubernetes: Spanned<String>,
    #[serde(default)]
    image: Option<Spanned<String>>,
    #[serde(default)]
    platforms: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    notes: Option<String>,
}

/// Turn a serde-saphyr message into one for people.
fn tidy_message(message: &str, location: Option<Location>) -> String {
    let mut text = message.to_owned();
    if let Some(loc) = location {
        let suffix = format!(" at line {}, column {}", loc.line(), loc.column());
        if let Some(stripped) = text.strip_suffix(&suffix) {
            text = stripped.to_owned();
        }
    }
    if let Some(i) = text.find(", set DuplicateKeyPolicy") {
        text.truncate(i);
    }
    let replacements = [
        (
            "cannot deserialize null into string; use Option<String>",
            "expected text here, found nothing (null)",
        ),
        ("expected sequence start", "expected a list here"),
        (
            "expected mapping start",
            "expected a mapping (key: value) here",
        ),
        ("expected string scalar", "expected text here"),
    ];
    for (from, to) in replacements {
        if text == from {
            text = to.to_owned();
        }
    }
    text
}

/// Where the character at byte `index` of a scalar's value is in the source,
/// when the scalar is written on one line without escapes before that point;
/// otherwise the scalar's own position.
fn position_in_value(source: &str, at: &Location, value: &str, index: usize) -> (u64, u64) {
    let base = (at.line(), at.column());
    let (Some(start), Some(prefix)) = (at.span().byte_offset(), value.get(..index)) else {
        return base;
    };
    let Some(raw) = usize::try_from(start).ok().and_then(|s| source.get(s..)) else {
        return base;
    };
    let chars = prefix.chars().count() as u64;
    if raw.starts_with(prefix) {
        return (base.0, base.1 + chars);
    }
    if raw.starts_with(['"', '\'']) && raw[1..].starts_with(prefix) {
        return (base.0, base.1 + 1 + chars);
    }
    base
}

fn at(loc: &Location, message: String) -> MatrixError {
    MatrixError {
        line: loc.line(),
        column: loc.column(),
        message,
    }
}

impl Matrix {
    /// Parse and validate a matrix file. Every problem is reported, each with
    /// its line and column; see the [module documentation](self) for the format.
    pub fn parse(source: &str) -> Result<Matrix, MatrixErrors> {
        let meaningful = source.lines().any(|line| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with('#') && line != "---"
        });
        if !meaningful {
            return Err(MatrixErrors(vec![MatrixError {
                line: 1,
                column: 1,
                message: "the matrix file is empty; it needs a `versions:` list".into(),
            }]));
        }
        let raw: RawFile = serde_saphyr::from_str(source).map_err(|e| {
            let plain = e.without_snippet();
            let location = plain.location().or_else(|| e.location());
            let message = tidy_message(&plain.to_string(), location);
            let (line, column) = location.map_or((0, 0), |l| (l.line(), l.column()));
            MatrixErrors(vec![MatrixError {
                line,
                column,
                message,
            }])
        })?;

        let mut errors: Vec<MatrixError> = Vec::new();
        let image_of =
            |spanned: &Spanned<String>, errors: &mut Vec<MatrixError>| match ImageTemplate::parse(
                &spanned.value,
            ) {
                Ok(t) => Some(t),
                Err(e) => {
                    let (line, column) =
                        position_in_value(source, &spanned.referenced, &spanned.value, e.offset);
                    errors.push(MatrixError {
                        line,
                        column,
                        message: e.message,
                    });
                    None
                }
            };
        let platforms_of = |list: &[Spanned<String>], errors: &mut Vec<MatrixError>| {
            // Written as given (for `show`), each normalised platform once.
            let mut out: Vec<String> = Vec::new();
            let mut seen: Vec<Platform> = Vec::new();
            for p in list {
                match Platform::parse(&p.value) {
                    Ok(platform) if platform.is_all() => errors.push(at(
                        &p.referenced,
                        format!(
                            "platform {:?}: a matrix names the platforms it promises, e.g. linux/amd64 or linux/arm64/v8",
                            p.value
                        ),
                    )),
                    Ok(platform) => {
                        if !seen.contains(&platform) {
                            seen.push(platform);
                            out.push(p.value.clone());
                        }
                    }
                    Err(_) => errors.push(at(
                        &p.referenced,
                        format!(
                            "platform {:?} is not OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8",
                            p.value
                        ),
                    )),
                }
            }
            out
        };

        let default_image = raw.image.as_ref().and_then(|i| image_of(i, &mut errors));
        let default_platforms = raw
            .platforms
            .as_deref()
            .map(|p| platforms_of(p, &mut errors))
            .unwrap_or_default();
        if raw.versions.value.is_empty() {
            errors.push(at(
                &raw.versions.referenced,
                "`versions` is empty; list at least one entry, e.g. `- app: 0.7.x` with `kubernetes: 1.28 - 1.32`".into(),
            ));
        }

        let mut entries: Vec<Entry> = Vec::new();
        // Every application range that parsed, for the overlap check.
        let mut ranges: Vec<(AppRange, Location, u64)> = Vec::new();
        for spanned in &raw.versions.value {
            let raw_entry = &spanned.value;
            let app = AppRange::parse(&raw_entry.app.value)
                .map_err(|m| errors.push(at(&raw_entry.app.referenced, m)))
                .ok();
            if let Some(app) = &app {
                ranges.push((
                    app.clone(),
                    raw_entry.app.referenced,
                    spanned.referenced.line(),
                ));
            }
            let kubernetes = KubeRange::parse(&raw_entry.kubernetes.value)
                .map_err(|m| errors.push(at(&raw_entry.kubernetes.referenced, m)))
                .ok();
            let own_image = raw_entry.image.as_ref().map(|i| image_of(i, &mut errors));
            let image = match own_image {
                Some(parsed) => parsed,
                None => default_image.clone(),
            };
            let platforms = match &raw_entry.platforms {
                Some(list) => {
                    let platforms = platforms_of(&list.value, &mut errors);
                    if raw_entry.image.is_none() && raw.image.is_none() {
                        errors.push(at(
                            &list.referenced,
                            "platforms apply to the entry's image, and it names none; add `image:` here or at the top".into(),
                        ));
                    }
                    platforms
                }
                None => default_platforms.clone(),
            };
            if let (Some(app), Some(kubernetes)) = (app, kubernetes) {
                entries.push(Entry {
                    app,
                    kubernetes,
                    platforms: if image.is_some() {
                        platforms
                    } else {
                        Vec::new()
                    },
                    image,
                    notes: raw_entry.notes.clone(),
                    line: spanned.referenced.line(),
                });
            }
        }

        // Two entries must not claim the same application version.
        for (j, (later, location, _)) in ranges.iter().enumerate() {
            if let Some((earlier, line, witness)) = ranges[..j]
                .iter()
                .find_map(|(e, _, line)| e.overlap(later).map(|w| (e, line, w)))
            {
                errors.push(at(
                    location,
                    format!(
                        "application range {:?} overlaps {:?} on line {line} (both contain {}); each application version must match one entry",
                        later.as_str(),
                        earlier.as_str(),
                        show_triple(&witness)
                    ),
                ));
            }
        }

        if !errors.is_empty() {
            errors.sort_by_key(|e| (e.line, e.column));
            return Err(MatrixErrors(errors));
        }
        Ok(Matrix {
            name: raw.name.filter(|n| !n.trim().is_empty()),
            entries,
        })
    }

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

    /// The matrix as a Markdown table, for READMEs.
    ///
    /// [`Layout::List`]: one row per entry (application range, Kubernetes
    /// range, and the image, platforms and notes columns when any entry has
    /// them). [`Layout::Grid`]: one row per entry, one column per Kubernetes
    /// minor, `✓` where supported.
    pub fn to_markdown(&self, layout: Layout) -> String {
        let app_header = self.name.clone().unwrap_or_else(|| "Version".into());
        let mut rows: Vec<Vec<String>> = Vec::new();
        let header: Vec<String>;
        match layout {
            Layout::List => {
                let images = self.entries.iter().any(|e| e.image.is_some());
                let platforms = self.entries.iter().any(|e| !e.platforms.is_empty());
                let notes = self.entries.iter().any(|e| e.notes.is_some());
                let mut h = vec![app_header, "Kubernetes".to_owned()];
                if images {
                    h.push("Image".into());
                }
                if platforms {
                    h.push("Platforms".into());
                }
                if notes {
                    h.push("Notes".into());
                }
                header = h;
                for e in &self.entries {
                    let mut row = vec![e.app.as_str().to_owned(), e.kubernetes.to_string()];
                    if images {
                        row.push(
                            e.image
                                .as_ref()
                                .map(|i| format!("`{i}`"))
                                .unwrap_or_default(),
                        );
                    }
                    if platforms {
                        row.push(e.platforms.join(", "));
                    }
                    if notes {
                        row.push(e.notes.clone().unwrap_or_default());
                    }
                    rows.push(row);
                }
            }
            Layout::Grid => {
                let minors: BTreeSet<(u64, u64)> = self
                    .entries
                    .iter()
                    .flat_map(|e| {
                        let (lo, hi) = self.span_of_major(e.kubernetes.major);
                        (lo..=hi).map(move |m| (e.kubernetes.major, m))
                    })
                    .collect();
                let mut h = vec![app_header];
                h.extend(
                    minors
                        .iter()
                        .map(|(major, minor)| format!("{major}.{minor}")),
                );
                header = h;
                for e in &self.entries {
                    let mut row = vec![e.app.as_str().to_owned()];
                    row.extend(minors.iter().map(|&(major, minor)| {
                        if e.kubernetes.contains(major, minor) {
                            "✓".to_owned()
                        } else {
                            String::new()
                        }
                    }));
                    rows.push(row);
                }
            }
        }
        let mut out = String::new();
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| escape_cell(c)).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        out.push_str(&line(&header));
        out.push_str(&format!(
            "|{}\n",
            header.iter().map(|_| "---|").collect::<String>()
        ));
        for row in &rows {
            out.push_str(&line(row));
        }
        out
    }

    /// The lowest and highest minor any entry names for `major`.
    fn span_of_major(&self, major: u64) -> (u64, u64) {
        let of_major = self.entries.iter().filter(|e| e.kubernetes.major == major);
        let lo = of_major.clone().map(|e| e.kubernetes.first).min();
        let hi = of_major.map(|e| e.kubernetes.last).max();
        (lo.unwrap_or(0), hi.unwrap_or(0))
    }
}

fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// How `show` lays out the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// One row per entry with its ranges, image and platforms.
    #[default]
    List,
    /// One column per Kubernetes minor, `✓` where supported.
    Grid,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> AppRange {
        AppRange::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn app_ranges_mean_what_the_table_says() {
        let table = [
            ("0.7.3", ">=0.7.3 <0.7.4"),
            ("0.7.x", ">=0.7.0 <0.8.0"),
            ("0.7.*", ">=0.7.0 <0.8.0"),
            ("0.7", ">=0.7.0 <0.8.0"),
            ("v0.7", ">=0.7.0 <0.8.0"),
            ("0.x", ">=0.0.0 <1.0.0"),
            ("*", "*"),
            ("0.7.0 - 0.7.5", ">=0.7.0 <0.7.6"),
            ("0.7 - 0.9", ">=0.7.0 <0.10.0"),
            (">=0.7.0 <0.8.0", ">=0.7.0 <0.8.0"),
            (">= 0.7.0  < 0.8.0", ">=0.7.0 <0.8.0"),
            (">0.7", ">=0.8.0"),
            ("<=0.7", ">=0.0.0 <0.8.0"),
            ("=1.2.3", ">=1.2.3 <1.2.4"),
            (">1.2.3 <=1.3", ">=1.2.4 <1.4.0"),
        ];
        for (text, canonical) in table {
            assert_eq!(range(text).canonical(), canonical, "{text}");
        }
    }

    #[test]
    fn bad_app_ranges_say_why() {
        let table = [
            ("", "empty"),
            ("0.8.0 - 0.7.0", "inverted"),
            (">=0.8.0 <0.7.0", "matches no version"),
            ("0.7.0-0.7.5", "spaces around '-'"),
            ("0.7.x || 0.8.x", "one range"),
            ("0.x.1", "after a wildcard"),
            ("0.7.x 0.8.x", "no operator"),
            ("1.2.3.4", "more than three"),
            (">=", "needs a version"),
            ("abc", "not a number"),
        ];
        for (text, needle) in table {
            let err = AppRange::parse(text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn kube_ranges() {
        let r = KubeRange::parse("v1.28-v1.32").unwrap();
        assert_eq!(r.to_string(), "1.28 - 1.32");
        assert_eq!(KubeRange::parse("1.30").unwrap().to_string(), "1.30");
        assert_eq!(r.nearest(1, 33), (1, 32));
        assert_eq!(r.nearest(1, 20), (1, 28));
        for (bad, needle) in [
            ("1.32 - 1.28", "inverted"),
            ("1.28.1 - 1.30", "patch"),
            ("1.28 - 2.1", "spans majors"),
            ("1.0 - 1.500", "at most"),
            ("latest", "is not MAJOR.MINOR"),
            ("0.1", "major version 0"),
        ] {
            let err = KubeRange::parse(bad).unwrap_err();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }

    #[test]
    fn image_templates() {
        let t = ImageTemplate::parse("127.0.0.1:5000/clastix/kubectl:v{major}.{minor}").unwrap();
        assert_eq!(t.repository(), "127.0.0.1:5000/clastix/kubectl");
        assert_eq!(t.render(1, 32), "127.0.0.1:5000/clastix/kubectl:v1.32");
        let cases = [
            ("clastix/kubectl:v{major}.{mnr}", 25, "unknown placeholder"),
            ("clastix/kubectl", 15, "no tag"),
            ("clastix/{major}:v{major}", 8, "repository"),
            ("clastix/kubectl:v{major}.{minor}.{patch}", 33, "{patch}"),
            ("clastix/kubectl@sha256:abc", 15, "digest"),
            ("clastix/kubectl:latest", 16, "no placeholder"),
        ];
        for (text, offset, needle) in cases {
            let err = ImageTemplate::parse(text).unwrap_err();
            assert!(err.message.contains(needle), "{text}: {}", err.message);
            assert_eq!(err.offset, offset, "{text}: {}", err.message);
        }
    }
}
