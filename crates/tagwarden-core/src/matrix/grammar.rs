//! The grammars of a matrix file's values: application versions and ranges, Kubernetes
//! ranges, and image templates (see the [parent module](super) for the syntax).

use std::fmt;

use crate::reference::Reference;
use crate::tag::{TagFormat, TagFormatError};

/// The largest number of minors one Kubernetes range may span.
pub const MAX_MINORS: u64 = 100;

/// A version as three numbers.
pub(super) type Triple = [u64; 3];

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

pub(super) fn show_triple(t: &Triple) -> String {
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
        let tokens = tokens_of(trimmed)?;
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
            comparators(trimmed, &tokens)?
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
    pub(super) fn distance(&self, v: Triple) -> Option<(Triple, bool)> {
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

/// The words of an application range, with a lone operator glued to the version after it
/// (`>= 0.7` is `>=0.7`).
fn tokens_of(trimmed: &str) -> Result<Vec<String>, String> {
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
    Ok(tokens)
}

/// The bounds of comparators such as `>=0.7.0 <0.8.0`, all of which must hold.
fn comparators(trimmed: &str, tokens: &[String]) -> Result<(Triple, Option<Triple>), String> {
    let mut lo = [0u64; 3];
    let mut hi: Option<Triple> = None;
    let min_hi = |a: Option<Triple>, b: Option<Triple>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    };
    for token in tokens {
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
    Ok((lo, hi))
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
