//! Tag anatomy: what a version-like image tag is made of, which tags belong to
//! the same family, and how they are ordered.
//!
//! # The model
//!
//! An image tag is free text (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`), but most
//! tags that track a version follow one shape: some text, a dotted run of
//! numbers, some more text. tagwarden splits a tag into exactly those three
//! pieces:
//!
//! | tag                  | prefix     | numeric parts | suffix       |
//! |----------------------|------------|---------------|--------------|
//! | `v1.31.4-debian-12`  | `v`        | `[1, 31, 4]`  | `-debian-12` |
//! | `1.32`               | ``         | `[1, 32]`     | ``           |
//! | `release-1.2.3`      | `release-` | `[1, 2, 3]`   | ``           |
//! | `v1.28.0-3`          | `v`        | `[1, 28, 0]`  | `-3`         |
//! | `3.7.0b1`            | ``         | `[3, 7, 0]`   | `b1`         |
//! | `3.8.0b1-alpine`     | ``         | `[3, 8, 0]`   | `b1-alpine`  |
//! | `20240101`           | ``         | `[20240101]`  | ``           |
//! | `latest`             | not a version tag (no digit)                |
//! | `0a1b2c3`            | not a version tag (a git commit hash)       |
//!
//! - The **prefix** is everything before the first ASCII digit.
//! - The **numeric parts** are `digits ('.' digits)*`, taken greedily.
//! - The **suffix** is the rest, whatever it is: text glued to the last
//!   number (`b1`, `_amd64`) as much as text after a `-`. It never starts
//!   with a digit, and it starts with `.` only when no digit follows that
//!   dot: `1.2.` has parts `[1, 2]` and suffix `.`, `1.2.x` has suffix `.x`.
//!   Such tags are kept as version tags; their odd suffix simply puts them
//!   in a family of their own.
//! - A tag of 7 to 40 lowercase hexadecimal characters with at least one
//!   letter (`0a1b2c3`, `5e0fdde`) is a **git commit hash**, not a version
//!   tag. By Renovate's rule too, a run of decimal digits (`20240101`, a
//!   date or build number) is no commit hash, nor is a tag with another
//!   character (`v0a1b2c3`, `sha-0a1b2c3`, `0A1B2C3`) or of another length:
//!   tagwarden reads those as version tags. A hex-like tag has a single
//!   numeric part (hex has no dots), so it never takes part in a fallback,
//!   which needs `major.minor`.
//!
//! Two tags are **compatible** ([`VersionTag::is_compatible`]), i.e. of one
//! family, when they have the same prefix, the same number of numeric parts
//! and the same suffix, compared exactly as written. Only a compatible tag
//! may stand in for a missing one. The number of parts is a precision to
//! preserve and the suffix names a variant: users of `12.15.0-alpine` want
//! `12.16.0-alpine`, never `12.16.0`; users of `12.14` want `12.15`, not
//! `12.15.0`; and `3.7.0b5` never replaces a missing `3.7.0` or `3.7.1`.
//!
//! Why this model rather than semver? Image tags are not semver: `1.32` has
//! two parts, `v1.28.0-3` uses `-3` for a packaging revision rather than a
//! pre-release, and `-debian-12` names a variant.
//!
//! # Compared with Renovate's docker versioning
//!
//! Renovate's "docker" versioning reads a tag as an optional `v`, a dotted
//! run of numbers, then text glued to the last number (`\w*`), which it
//! calls a *pre-release* (`b1` in `3.8.0b1-alpine`), then, after the first
//! `-`, a *compatibility indicator* (`alpine`). Two tags are compatible when
//! their indicators are equal and they have as many numbers; the pre-release
//! is not part of compatibility, and a separate stability filter keeps
//! pre-releases from users of releases. It rejects a tag of 7 to 40
//! lowercase hexadecimal characters with a letter as a git commit.
//!
//! tagwarden takes Renovate's commit-hash rule, its number rule (numbers
//! compare numerically, the count of numbers is part of compatibility) and
//! its compatibility rule for the text after a `-`. It differs, on purpose,
//! in these points (`crates/tagwarden-core/tests/renovate.rs` checks each
//! one against Renovate's own test cases):
//!
//! - **Text glued to the last number is part of the suffix**, not a
//!   pre-release: `3.7.0b1` is not compatible with `3.7.0`, nor
//!   `3.8.0b1-alpine` with `3.7.0-alpine` (Renovate: both compatible).
//!   tagwarden has no stability filter: with Renovate's rule a beta would
//!   stand in for a missing release without anyone asking for it. For the
//!   same reason the suffix is compared as written, so `1.2.3-` is not
//!   compatible with `1.2.4` (Renovate: both have an empty indicator).
//! - **The prefix is any text before the first digit** and must be equal,
//!   where Renovate strips one `v` and rejects any other prefix:
//!   `release-1.2.3` and `alpine3.19` are version tags, `v1.2.3` is not
//!   compatible with `1.2.4`. A registry serves `v1.32` and `1.32` as two
//!   tags, which may be two builds; a fallback stays in the scheme asked for.
//!   Likewise any suffix is accepted (`1.2.x`, `1.2.`): Renovate rejects a
//!   tag whose glued text holds a `.`. An odd tag only ever forms a family of
//!   its own, so accepting it cannot pick it for another family.
//! - **A shorter tag is lower than a longer one with the same numbers**:
//!   `1.32 < 1.32.0 < 1.32.1` ([`VersionTag::cmp_version`]), where Renovate
//!   reads `1.32` as a floating tag and puts it above every `1.32.x`. A
//!   registry does not say which patch a floating tag points to (Renovate's
//!   own documentation says `12.15` may or may not be any `12.15.x`), and
//!   tags of different lengths are never compatible, so no fallback ever
//!   compares them: this order decides nothing but how a mixed list prints.
//! - **Sorting.** Within one family, on tags both accept, tagwarden's order
//!   is Renovate's: the numbers decide, and the texts around them are equal
//!   (so are Renovate's pre-release and indicator). Across families
//!   the [`Ord`] of [`VersionTag`] is a listing order (numbers, shorter
//!   first, then prefix, suffix and text, ascending), not "newer than": it
//!   puts `3.7.0` before `3.7.0b1` and `3.8.0` before `3.8.0-alpine`,
//!   where Renovate puts pre-releases first and a tag with an indicator
//!   before the one without. Pick the newest tag only among compatible tags,
//!   as [`crate::policy`] does.
//!
//! # Numbers, never floats
//!
//! `1.4` and `1.32` look like decimals, and `1.4 > 1.32` as floats. But
//! Kubernetes 1.32 is twenty-eight minors after 1.4, and `1.10` (which as a
//! float equals `1.1`) comes after `1.9`. Each part is therefore an unsigned
//! integer, and tags compare part by part: `1.4 < 1.9 < 1.10 < 1.32`. A part
//! that does not fit in a `u64` makes the tag "not a version tag" rather than
//! being rounded or truncated.
//!
//! The original text is kept, so a tag always prints back exactly as it was
//! published, leading zeros included (`v01.02`), while it compares as
//! `[1, 2]`.
//!
//! # Templates
//!
//! When a user asks for "the tag for Kubernetes 1.32" instead of naming a tag,
//! [`TagFormat`] describes the scheme: `v{major}.{minor}`,
//! `{major}.{minor}.{patch}-debian-12`, ….

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The longest tag the OCI distribution spec allows.
const MAX_TAG_LEN: usize = 128;

/// Whether `s` matches the OCI tag grammar `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub(crate) fn is_valid_tag(s: &str) -> bool {
    let bytes = s.as_bytes();
    match bytes.split_first() {
        None => false,
        Some((first, rest)) => {
            bytes.len() <= MAX_TAG_LEN
                && (first.is_ascii_alphanumeric() || *first == b'_')
                && rest.iter().all(|b| is_tag_byte(*b))
        }
    }
}

/// A byte allowed anywhere after the first character of a tag.
fn is_tag_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// The shortest and the longest git commit hash a tag may carry: `git log
/// --oneline` abbreviates to 7 characters, a full SHA-1 has 40.
const COMMIT_HASH_LEN: std::ops::RangeInclusive<usize> = 7..=40;

/// Whether the whole tag looks like a git commit hash, as Renovate's docker
/// versioning decides it: 7 to 40 lowercase hexadecimal characters, at least
/// one of them a letter. A run of decimal digits (`20240101`, a date or a
/// build number) is not a commit; nor is a tag with an uppercase letter or any
/// other character (`v0a1b2c3`, `sha-0a1b2c3`).
fn is_commit_hash(tag: &str) -> bool {
    COMMIT_HASH_LEN.contains(&tag.len())
        && tag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && tag.bytes().any(|b| b.is_ascii_alphabetic())
}

/// An image tag that carries a version: prefix, numeric parts, suffix.
///
/// Built only by [`VersionTag::parse`] (or [`VersionTag::with_parts`] from an
/// existing one), so it always has at least one numeric part and its prefix
/// contains no digit.
///
/// Equality and hashing are those of the original text: `v1.2` and `v01.2`
/// are different tags (a registry treats them as different), although
/// [`VersionTag::cmp_version`] finds them equal.
///
/// The [`Ord`] implementation is a total order consistent with [`Eq`]: by
/// numeric parts (see [`VersionTag::cmp_version`]), then prefix, then suffix,
/// then the original text. Among [compatible](VersionTag::is_compatible)
/// tags it means "older first"; across families it is only a listing order
/// (`3.7.0 < 3.7.0b1`, `3.8.0 < 3.8.0-alpine`), so take a maximum only over
/// one family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionTag {
    original: String,
    prefix: String,
    parts: Vec<u64>,
    suffix: String,
}

impl VersionTag {
    /// Parse a tag into prefix, numeric parts and suffix.
    ///
    /// Returns `None` when the text is not a valid image tag
    /// (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`), has no digit (`latest`), is a
    /// git commit hash (7 to 40 lowercase hexadecimal characters with at least
    /// one letter: `0a1b2c3`, as Renovate decides it), or has a numeric part
    /// too large for a `u64`. Never panics.
    ///
    /// ```
    /// use tagwarden_core::VersionTag;
    /// let t = VersionTag::parse("v1.31.4-debian-12").unwrap();
    /// assert_eq!((t.prefix(), t.parts(), t.suffix()), ("v", &[1, 31, 4][..], "-debian-12"));
    /// assert!(VersionTag::parse("latest").is_none());
    /// assert!(VersionTag::parse("5e0fdde").is_none()); // a commit
    /// assert!(VersionTag::parse("20240101").is_some()); // a date
    /// ```
    pub fn parse(tag: &str) -> Option<VersionTag> {
        if !is_valid_tag(tag) || is_commit_hash(tag) {
            return None;
        }
        // A valid tag is ASCII, so byte offsets are char boundaries.
        let bytes = tag.as_bytes();
        let start = bytes.iter().position(u8::is_ascii_digit)?;
        let mut parts = Vec::new();
        let mut pos = start;
        loop {
            let run = bytes[pos..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let number: u64 = tag.get(pos..pos + run)?.parse().ok()?;
            parts.push(number);
            pos += run;
            let dot_then_digit =
                bytes.get(pos) == Some(&b'.') && bytes.get(pos + 1).is_some_and(u8::is_ascii_digit);
            if !dot_then_digit {
                break;
            }
            pos += 1;
        }
        Some(VersionTag {
            original: tag.to_owned(),
            prefix: tag.get(..start)?.to_owned(),
            parts,
            suffix: tag.get(pos..)?.to_owned(),
        })
    }

    /// The tag exactly as it was parsed.
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// Everything before the first digit (`v` in `v1.32`; may be empty).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The numeric parts, at least one (`[1, 31, 4]` for `v1.31.4-debian-12`).
    pub fn parts(&self) -> &[u64] {
        &self.parts
    }

    /// Everything after the numeric parts (`-debian-12`; may be empty).
    pub fn suffix(&self) -> &str {
        &self.suffix
    }

    /// The first numeric part.
    pub fn major(&self) -> u64 {
        // Always present: `parse` and `with_parts` never build an empty list.
        self.parts.first().copied().unwrap_or(0)
    }

    /// The second numeric part, if the tag has one.
    pub fn minor(&self) -> Option<u64> {
        self.parts.get(1).copied()
    }

    /// The third numeric part, if the tag has one.
    pub fn patch(&self) -> Option<u64> {
        self.parts.get(2).copied()
    }

    /// Whether `other` belongs to the same tag family: the same prefix, the
    /// same number of numeric parts and the same suffix (all compared
    /// exactly, case-sensitively, as registries do).
    ///
    /// Only compatible tags may stand in for each other: `1.31-alpine` for
    /// `1.32-alpine`, never `1.31`, `1.31.4-alpine` or `1.31b1-alpine`; and
    /// `3.7.0b1` for `3.8.0b1`, never `3.7.0b5` (glued text is compared as
    /// written, like the rest of the suffix).
    pub fn is_compatible(&self, other: &VersionTag) -> bool {
        self.prefix == other.prefix
            && self.parts.len() == other.parts.len()
            && self.suffix == other.suffix
    }

    /// The tag of the same family with other numbers: the same prefix and
    /// suffix around `parts`, written in plain decimal (leading zeros of the
    /// original are not kept).
    ///
    /// The result has as many parts as `parts` has, even when that differs
    /// from `self` (then it is not [compatible](Self::is_compatible) with
    /// `self`). An empty `parts` would not make a version tag, so it returns
    /// a copy of `self`. The result is not checked against the 128-character
    /// tag limit, nor against the commit-hash rule of [`VersionTag::parse`]
    /// (`1.2abcdef` with parts `[12]` spells `12abcdef`), so it parses back to
    /// itself only when it passes both. Never panics.
    pub fn with_parts(&self, parts: &[u64]) -> VersionTag {
        if parts.is_empty() {
            return self.clone();
        }
        let numbers = parts
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(".");
        VersionTag {
            original: format!("{}{}{}", self.prefix, numbers, self.suffix),
            prefix: self.prefix.clone(),
            parts: parts.to_vec(),
            suffix: self.suffix.clone(),
        }
    }

    /// Compare the versions only: numeric parts one by one, then the tag with
    /// fewer parts first (`1.32 < 1.32.0`; Renovate puts the shorter, floating
    /// tag last, see the [module documentation](self#compared-with-renovates-docker-versioning)).
    /// Prefix and suffix are ignored, so `3.7.0b1` and `3.7.0` compare equal
    /// here: this is the "newer than" of one family ([compatible](Self::is_compatible)
    /// tags), not a total order on tags: use [`Ord`] for that.
    ///
    /// ```
    /// use std::cmp::Ordering;
    /// use tagwarden_core::VersionTag;
    /// let v = |s| VersionTag::parse(s).unwrap();
    /// assert_eq!(v("1.4").cmp_version(&v("1.32")), Ordering::Less);
    /// assert_eq!(v("1.9").cmp_version(&v("1.10")), Ordering::Less);
    /// ```
    pub fn cmp_version(&self, other: &VersionTag) -> Ordering {
        // Slice ordering is exactly "element-wise, then shorter first".
        self.parts.cmp(&other.parts)
    }
}

impl fmt::Display for VersionTag {
    /// The original text, unchanged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl Ord for VersionTag {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_version(other)
            .then_with(|| self.prefix.cmp(&other.prefix))
            .then_with(|| self.suffix.cmp(&other.suffix))
            .then_with(|| self.original.cmp(&other.original))
    }
}

impl PartialOrd for VersionTag {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One of the three numbers of a Kubernetes version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Major,
    Minor,
    Patch,
}

/// A piece of a [`TagFormat`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Placeholder(Field),
}

/// A tag template such as `v{major}.{minor}` or
/// `{major}.{minor}.{patch}-debian-12`: how an image names the tag for a
/// given Kubernetes version.
///
/// Placeholders are `{major}`, `{minor}` and `{patch}`. Everything else is
/// literal text and must be allowed in a tag (letters, digits, `_`, `.`,
/// `-`). [`TagFormat::parse`] rejects:
///
/// - an empty format, or one without any placeholder (it would name the same
///   tag for every version);
/// - an unknown placeholder (`{foo}`) or a brace that does not belong to a
///   placeholder;
/// - `{minor}` without `{major}`, `{patch}` without `{minor}`;
/// - two placeholders with nothing between them (`{major}{minor}` renders
///   1.32 and 13.2 both as `132`), or a placeholder right next to a literal
///   digit (`{minor}0` renders minor 3 and minor 30 alike);
/// - a format whose rendering can never be a valid tag (a character outside
///   the tag alphabet, a leading `.` or `-`, more than 128 characters).
///
/// A placeholder may appear more than once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFormat {
    format: String,
    segments: Vec<Segment>,
}

impl TagFormat {
    /// Parse and validate a template; see [`TagFormat`] for the rules.
    ///
    /// ```
    /// use tagwarden_core::TagFormat;
    /// let f = TagFormat::parse("v{major}.{minor}").unwrap();
    /// assert_eq!(f.render(1, 32, None).unwrap(), "v1.32");
    /// assert!(TagFormat::parse("v{major}.{foo}").is_err());
    /// ```
    pub fn parse(format: &str) -> Result<TagFormat, TagFormatError> {
        if format.is_empty() {
            return Err(TagFormatError::Empty);
        }
        let segments = segments_of(format)?;
        check_segments(format, &segments)?;
        Ok(TagFormat {
            format: format.to_owned(),
            segments,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.format
    }

    /// Whether the template uses `{patch}`, so rendering needs a patch number.
    pub fn needs_patch(&self) -> bool {
        self.segments.contains(&Segment::Placeholder(Field::Patch))
    }

    /// Render the tag for Kubernetes `major.minor[.patch]`.
    ///
    /// Fails with [`TagFormatError::MissingPatch`] when the template uses
    /// `{patch}` and `patch` is `None`, and with [`TagFormatError::TooLong`]
    /// when the numbers make the tag longer than 128 characters. A `patch`
    /// the template does not use is ignored.
    pub fn render(
        &self,
        major: u64,
        minor: u64,
        patch: Option<u64>,
    ) -> Result<String, TagFormatError> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Placeholder(Field::Major) => out.push_str(&major.to_string()),
                Segment::Placeholder(Field::Minor) => out.push_str(&minor.to_string()),
                Segment::Placeholder(Field::Patch) => match patch {
                    Some(patch) => out.push_str(&patch.to_string()),
                    None => {
                        return Err(TagFormatError::MissingPatch {
                            format: self.format.clone(),
                        });
                    }
                },
            }
        }
        if !is_valid_tag(&out) {
            // `parse` checked the alphabet and the first character, so only
            // the length can be wrong here.
            return Err(TagFormatError::TooLong {
                format: self.format.clone(),
                length: out.len(),
            });
        }
        Ok(out)
    }
}

impl fmt::Display for TagFormat {
    /// The template as written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format)
    }
}

impl FromStr for TagFormat {
    type Err = TagFormatError;

    /// Same as [`TagFormat::parse`] (handy for command-line parsers).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TagFormat::parse(s)
    }
}

/// Why a [`TagFormat`] was rejected or could not be rendered.
///
/// Every message is one line, quotes the format (escaped, so a stray newline
/// cannot break the line) and says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagFormatError {
    /// The format is the empty string.
    #[error(
        "tag format is empty; write the tag with placeholders {{major}}, {{minor}} and {{patch}}, e.g. \"v{{major}}.{{minor}}\""
    )]
    Empty,
    /// A `{name}` other than `{major}`, `{minor}` or `{patch}`.
    #[error(
        "tag format {format:?} has unknown placeholder {placeholder:?}; the placeholders are {{major}}, {{minor}} and {{patch}}"
    )]
    UnknownPlaceholder {
        /// The format as given.
        format: String,
        /// The offending placeholder, braces included.
        placeholder: String,
    },
    /// A `{` without its `}` (or with another `{` before it), or a lone `}`.
    #[error(
        "tag format {format:?} has an unbalanced brace at byte {position}; braces are allowed only in {{major}}, {{minor}} and {{patch}}"
    )]
    UnbalancedBrace {
        /// The format as given.
        format: String,
        /// Byte offset of the offending brace.
        position: usize,
    },
    /// A literal character that no tag may contain.
    #[error(
        "tag format {format:?} contains {character:?}; outside placeholders a tag allows only ASCII letters, digits, '_', '.' and '-'"
    )]
    InvalidCharacter {
        /// The format as given.
        format: String,
        /// The offending character.
        character: char,
    },
    /// The format starts with `.` or `-`.
    #[error(
        "tag format {format:?} starts with {character:?}; a tag must start with a letter, a digit, '_' or a placeholder"
    )]
    InvalidStart {
        /// The format as given.
        format: String,
        /// The offending first character.
        character: char,
    },
    /// No placeholder at all: every version would get the same tag.
    #[error(
        "tag format {format:?} has no placeholder; use {{major}}, {{minor}} and {{patch}}, e.g. \"v{{major}}.{{minor}}\""
    )]
    NoPlaceholder {
        /// The format as given.
        format: String,
    },
    /// `{minor}` is used but `{major}` is not.
    #[error(
        "tag format {format:?} uses {{minor}} without {{major}}; a minor is meaningful only with its major, e.g. \"v{{major}}.{{minor}}\""
    )]
    MinorWithoutMajor {
        /// The format as given.
        format: String,
    },
    /// `{patch}` is used but `{minor}` is not.
    #[error(
        "tag format {format:?} uses {{patch}} without {{minor}}; a patch is meaningful only with its minor, e.g. \"v{{major}}.{{minor}}.{{patch}}\""
    )]
    PatchWithoutMinor {
        /// The format as given.
        format: String,
    },
    /// Two placeholders with nothing between them.
    #[error(
        "tag format {format:?} has two placeholders with nothing between them; separate them, e.g. with '.', or 1.32 and 13.2 render alike"
    )]
    AdjacentPlaceholders {
        /// The format as given.
        format: String,
    },
    /// A literal digit right before or after a placeholder.
    #[error(
        "tag format {format:?} has a digit right next to a placeholder; separate them, e.g. with '.', or the numbers run together"
    )]
    DigitNextToPlaceholder {
        /// The format as given.
        format: String,
    },
    /// The rendered tag is (or would always be) longer than 128 characters.
    #[error("tag format {format:?} renders a tag of {length} characters; a tag has at most 128")]
    TooLong {
        /// The format as given.
        format: String,
        /// Length of the (shortest possible) rendering.
        length: usize,
    },
    /// The format uses `{patch}` and no patch number was given.
    #[error(
        "tag format {format:?} needs {{patch}}, but the Kubernetes version has no patch number; give a full version or use a format without {{patch}}"
    )]
    MissingPatch {
        /// The format as given.
        format: String,
    },
}

/// The literal text and placeholders of a tag format, in order; what cannot be a tag
/// character, an unknown or unbalanced placeholder, and digits or placeholders that would
/// run together are errors.
fn segments_of(format: &str) -> Result<Vec<Segment>, TagFormatError> {
    let err_format = || format.to_owned();
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut chars = format.char_indices();
    while let Some((position, ch)) = chars.next() {
        match ch {
            '{' => {
                let rest = format.get(position + 1..).unwrap_or("");
                let Some(close) = rest
                    .find(['{', '}'])
                    .filter(|&i| rest[i..].starts_with('}'))
                else {
                    return Err(TagFormatError::UnbalancedBrace {
                        format: err_format(),
                        position,
                    });
                };
                let name = &rest[..close];
                let field = match name {
                    "major" => Field::Major,
                    "minor" => Field::Minor,
                    "patch" => Field::Patch,
                    _ => {
                        return Err(TagFormatError::UnknownPlaceholder {
                            format: err_format(),
                            placeholder: format!("{{{name}}}"),
                        });
                    }
                };
                if literal.ends_with(|c: char| c.is_ascii_digit()) {
                    return Err(TagFormatError::DigitNextToPlaceholder {
                        format: err_format(),
                    });
                }
                if !literal.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut literal)));
                } else if matches!(segments.last(), Some(Segment::Placeholder(_))) {
                    return Err(TagFormatError::AdjacentPlaceholders {
                        format: err_format(),
                    });
                }
                segments.push(Segment::Placeholder(field));
                // Skip the name and the closing brace (all ASCII).
                for _ in 0..=close {
                    chars.next();
                }
            }
            '}' => {
                return Err(TagFormatError::UnbalancedBrace {
                    format: err_format(),
                    position,
                });
            }
            c if c.is_ascii() && is_tag_byte(c as u8) => {
                if c.is_ascii_digit()
                    && literal.is_empty()
                    && matches!(segments.last(), Some(Segment::Placeholder(_)))
                {
                    return Err(TagFormatError::DigitNextToPlaceholder {
                        format: err_format(),
                    });
                }
                literal.push(c);
            }
            character => {
                return Err(TagFormatError::InvalidCharacter {
                    format: err_format(),
                    character,
                });
            }
        }
    }
    if !literal.is_empty() {
        segments.push(Segment::Literal(literal));
    }
    Ok(segments)
}

/// The rules on a format's placeholders as a whole: at least one, no minor without a
/// major nor a patch without a minor, no leading `.` or `-`, and a shortest rendering
/// within the tag length limit.
fn check_segments(format: &str, segments: &[Segment]) -> Result<(), TagFormatError> {
    let err_format = || format.to_owned();
    let has = |field| segments.contains(&Segment::Placeholder(field));
    if !has(Field::Major) && !has(Field::Minor) && !has(Field::Patch) {
        return Err(TagFormatError::NoPlaceholder {
            format: err_format(),
        });
    }
    if has(Field::Minor) && !has(Field::Major) {
        return Err(TagFormatError::MinorWithoutMajor {
            format: err_format(),
        });
    }
    if has(Field::Patch) && !has(Field::Minor) {
        return Err(TagFormatError::PatchWithoutMinor {
            format: err_format(),
        });
    }
    if let Some(Segment::Literal(first)) = segments.first()
        && let Some(character @ ('.' | '-')) = first.chars().next()
    {
        return Err(TagFormatError::InvalidStart {
            format: err_format(),
            character,
        });
    }
    // The shortest rendering: every number has at least one digit.
    let shortest: usize = segments
        .iter()
        .map(|s| match s {
            Segment::Literal(text) => text.len(),
            Segment::Placeholder(_) => 1,
        })
        .sum();
    if shortest > MAX_TAG_LEN {
        return Err(TagFormatError::TooLong {
            format: err_format(),
            length: shortest,
        });
    }
    Ok(())
}
