//! Image references: the grammar behind `docker pull` and a pod's `image:` field,
//! parsed by hand.
//!
//! An *image reference* names a repository in a registry and, optionally, one tag
//! and/or one content digest in it: `ghcr.io/org/app:v1.2.3@sha256:…`. This module
//! implements the grammar of the distribution project (`github.com/distribution/reference`,
//! files `grammar.go` and `normalize.go`), which is what Docker, containerd and the
//! kubelet accept, and reports every rejection as one line that quotes the input,
//! says what is wrong and what to write instead.
//!
//! # Grammar
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain '/'] remote-name
//! domain           := host [':' port-number]
//! host             := domain-name | IPv4address | '[' IPv6address ']'
//! domain-name      := domain-component ['.' domain-component]*
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! port-number      := /[0-9]+/
//! remote-name      := path-component ['/' path-component]*
//! path-component   := alpha-numeric [separator alpha-numeric]*
//! alpha-numeric    := /[a-z0-9]+/
//! separator        := /[_.]|__|[-]+/
//! tag              := /[\w][\w.-]{0,127}/                 (\w is [A-Za-z0-9_])
//! digest           := digest-algorithm ":" digest-hex
//! digest-algorithm := component [ /[-_+.]/ component ]*  (component: /[A-Za-z][A-Za-z0-9]*/)
//! digest-hex       := /[0-9a-fA-F]{32,}/
//! ```
//!
//! The whole name (registry, `/` and path, after normalisation) is at most 255
//! characters long.
//!
//! # Which part is the registry?
//!
//! The grammar alone is ambiguous: in `foo/bar`, is `foo` a host or a Docker Hub
//! organisation? Docker decides with a rule (`splitDockerDomain`) that this module
//! follows exactly: the text before the first `/` is a registry host if and only if
//! it contains a `.` or a `:`, is exactly `localhost`, or contains an uppercase letter
//! (repositories are lowercase, so `Foo/bar` can only mean a host named `Foo`).
//! Otherwise the whole name is a repository path on Docker Hub.
//!
//! # Normalisation
//!
//! | written                              | [`registry`]     | [`repository`]    | [`api_host`]           |
//! |--------------------------------------|------------------|-------------------|------------------------|
//! | `busybox`                            | `docker.io`      | `library/busybox` | `registry-1.docker.io` |
//! | `clastix/kubectl:v1.30`              | `docker.io`      | `clastix/kubectl` | `registry-1.docker.io` |
//! | `docker.io/busybox`                  | `docker.io`      | `library/busybox` | `registry-1.docker.io` |
//! | `index.docker.io/library/busybox`    | `docker.io`      | `library/busybox` | `registry-1.docker.io` |
//! | `ghcr.io/org/team/app`               | `ghcr.io`        | `org/team/app`    | `ghcr.io`              |
//! | `localhost:5000/app`                 | `localhost:5000` | `app`             | `localhost:5000`       |
//! | `127.0.0.1:5000/app`                 | `127.0.0.1:5000` | `app`             | `127.0.0.1:5000`       |
//! | `[::1]:5000/app`                     | `[::1]:5000`     | `app`             | `[::1]:5000`           |
//! | `localhost:5000` (no `/`!)           | `docker.io`      | `library/localhost` (tag `5000`) | `registry-1.docker.io` |
//!
//! [`normalized`] joins registry, repository, tag and digest:
//! `busybox:1.36` → `docker.io/library/busybox:1.36`.
//!
//! [`registry`]: Reference::registry
//! [`repository`]: Reference::repository
//! [`api_host`]: Reference::api_host
//! [`normalized`]: Reference::normalized
//!
//! # Why the original spelling is kept
//!
//! tagwarden rewrites image tags inside manifests that belong to someone else, for
//! example as a Helm post-renderer. A rewrite must change the tag and nothing else:
//! if a chart says `image: busybox:1.36` and 1.36 is missing, the output must say
//! `busybox:1.35`, not `docker.io/library/busybox:1.35`. The normalised form is
//! right for talking to a registry, but turning every short name into a long one
//! would produce diffs nobody asked for, break `imagePullPolicy`-sensitive tooling
//! that matches on strings, and hide the real change. So a [`Reference`] keeps the
//! exact input ([`Reference::original`], [`Reference::name_as_written`]) next to the
//! normalised parts, [`Display`](std::fmt::Display) prints the user's spelling, and
//! [`Reference::with_tag`] / [`Reference::with_digest`] keep it too.
//!
//! # Decisions beyond the bare grammar
//!
//! - **Digests** of the algorithms Docker knows must have their exact shape:
//!   `sha256` 64, `sha384` 96, `sha512` 128 lowercase hex digits, and the algorithm
//!   name is written in lowercase. Other algorithms that fit the grammar (at least 32
//!   hex digits) are accepted, as the grammar allows; the registry is the judge.
//! - **Ports** must be numbers from 0 to 65535; the grammar says only "digits", but a
//!   larger port can never be reached.
//! - **IPv6 hosts** must be a real IPv6 address in brackets (`[::1]`), not merely the
//!   characters `[0-9a-fA-F:]`.
//! - **A bare 64-hex string** (an image ID) is rejected, as Docker does.
//! - **Registry host case** is kept as written (Docker does not fold it either), so
//!   `Foo/bar` has registry `Foo`.
//! - **Equality** ([`PartialEq`], [`Hash`]) is by spelling: `busybox` and
//!   `docker.io/library/busybox` are different values. Compare
//!   [`Reference::normalized`] to ask "same image?".

use std::fmt::{self, Write as _};
use std::net::Ipv6Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The registry that names without a registry host refer to.
pub const DOCKER_HUB_REGISTRY: &str = "docker.io";
/// The legacy spelling of Docker Hub, normalised to [`DOCKER_HUB_REGISTRY`].
pub const DOCKER_HUB_LEGACY_REGISTRY: &str = "index.docker.io";
/// The host that serves the registry API for Docker Hub.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// The prefix of official images on Docker Hub (`busybox` → `library/busybox`).
pub const OFFICIAL_REPOSITORY_PREFIX: &str = "library/";
/// Maximum length of the normalised name (registry, `/`, repository).
pub const NAME_MAX_LEN: usize = 255;
/// Maximum length of a tag.
pub const TAG_MAX_LEN: usize = 128;

/// A parsed, validated image reference that remembers how it was written.
///
/// ```
/// use tagwarden_core::reference::Reference;
///
/// let r = Reference::parse("busybox:1.36").unwrap();
/// assert_eq!(r.registry(), "docker.io");
/// assert_eq!(r.api_host(), "registry-1.docker.io");
/// assert_eq!(r.repository(), "library/busybox");
/// assert_eq!(r.tag(), Some("1.36"));
/// assert_eq!(r.normalized(), "docker.io/library/busybox:1.36");
/// assert_eq!(r.with_tag("1.35").unwrap().to_string(), "busybox:1.35");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The input, exactly: `name_as_written [":" tag] ["@" digest]`.
    original: String,
    /// Length of the name (registry and path as written) at the start of `original`.
    name_len: usize,
    /// Normalised registry (`docker.io` for Docker Hub).
    registry: String,
    /// Normalised repository path (`library/busybox`).
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Why a reference, tag or digest was rejected.
///
/// Every variant displays as one line that quotes the input, e.g.
/// `invalid image reference "Foo/Bar:1": repository name must be lowercase; …`.
///
/// ```
/// use tagwarden_core::reference::{Reference, ReferenceError};
///
/// let err = Reference::parse("https://ghcr.io/x").unwrap_err();
/// assert!(matches!(err, ReferenceError::Invalid { .. }));
/// assert_eq!(
///     err.to_string(),
///     r#"invalid image reference "https://ghcr.io/x": remove the scheme "https://" (image references are not URLs); write "ghcr.io/x""#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// A whole reference did not parse ([`Reference::parse`]).
    #[error("invalid image reference {}: {reason}", quote(.reference))]
    Invalid {
        /// The input, exactly as given.
        reference: String,
        /// What is wrong and what to do, one line.
        reason: String,
    },
    /// A tag given on its own was rejected ([`validate_tag`], [`Reference::with_tag`]).
    #[error("invalid tag {}: {reason}", quote(.tag))]
    InvalidTag {
        /// The tag, exactly as given.
        tag: String,
        /// What is wrong and what to do, one line.
        reason: String,
    },
    /// A digest given on its own was rejected ([`validate_digest`], [`Reference::with_digest`]).
    #[error("invalid digest {}: {reason}", quote(.digest))]
    InvalidDigest {
        /// The digest, exactly as given.
        digest: String,
        /// What is wrong and what to do, one line.
        reason: String,
    },
}

impl ReferenceError {
    /// The rejected input (reference, tag or digest), exactly as given.
    pub fn input(&self) -> &str {
        match self {
            Self::Invalid { reference: s, .. }
            | Self::InvalidTag { tag: s, .. }
            | Self::InvalidDigest { digest: s, .. } => s,
        }
    }

    /// What is wrong and what to do, without the quoted input.
    pub fn reason(&self) -> &str {
        match self {
            Self::Invalid { reason, .. }
            | Self::InvalidTag { reason, .. }
            | Self::InvalidDigest { reason, .. } => reason,
        }
    }
}

impl Reference {
    /// Parses and validates `s`, normalising it as Docker does.
    ///
    /// ```
    /// use tagwarden_core::reference::Reference;
    ///
    /// let r = Reference::parse("ghcr.io/org/team/app:v1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").unwrap();
    /// assert_eq!(r.registry(), "ghcr.io");
    /// assert_eq!(r.repository(), "org/team/app");
    /// assert_eq!(r.tag(), Some("v1"));
    /// assert!(r.digest().unwrap().starts_with("sha256:0123"));
    ///
    /// let err = Reference::parse("Foo/Bar:1").unwrap_err();
    /// assert!(err.to_string().starts_with(r#"invalid image reference "Foo/Bar:1": repository name must be lowercase"#));
    /// ```
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        parse_reference(s, true).map_err(|reason| ReferenceError::Invalid {
            reference: s.to_owned(),
            reason,
        })
    }

    /// The input string, exactly as given to [`Reference::parse`] (or as built by
    /// [`Reference::with_tag`] / [`Reference::with_digest`]).
    ///
    /// ```
    /// use tagwarden_core::reference::Reference;
    /// assert_eq!(Reference::parse("busybox:1.36").unwrap().original(), "busybox:1.36");
    /// ```
    pub fn original(&self) -> &str {
        &self.original
    }

    /// Registry and path as the user wrote them, without tag or digest.
    ///
    /// ```
    /// use tagwarden_core::reference::Reference;
    /// assert_eq!(Reference::parse("clastix/kubectl:v1.30").unwrap().name_as_written(), "clastix/kubectl");
    /// assert_eq!(
    ///     Reference::parse("index.docker.io/library/busybox").unwrap().name_as_written(),
    ///     "index.docker.io/library/busybox"
    /// );
    /// ```
    pub fn name_as_written(&self) -> &str {
        &self.original[..self.name_len]
    }

    /// The normalised registry: `docker.io` for Docker Hub (also when written as
    /// `index.docker.io` or not at all), otherwise the host (and port) as written.
    ///
    /// ```
    /// use tagwarden_core::reference::Reference;
    /// assert_eq!(Reference::parse("busybox").unwrap().registry(), "docker.io");
    /// assert_eq!(Reference::parse("[::1]:5000/app").unwrap().registry(), "[::1]:5000");
    /// ```
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host (and port) that serves the registry API: `registry-1.docker.io` for
    /// Docker Hub, otherwise the same as [`Reference::registry`].
    ///
    /// ```
    /// use tagwarden_core::reference::Reference;
    /// assert_eq!(Reference::parse("busybox").unwrap().api_host(), "registry-1.docker.io");
    /// assert_eq!(Reference::parse("quay.io/org/app").unwrap().api_host(), "quay.io");
    /// ```
    pub fn api_host(&self) -> &str {
        if self.is_docker_hub() {
            DOCKER_HUB_API_HOST
        } else {
            &self.registry
        }
    }

    /// The normalised repository path: official Docker Hub images get `library/`.
    ///
    /// ```
    /// use tagwarden_core::reference::Reference;
    /// assert_eq!(Reference::parse("busybox").unwrap().repository(), "library/busybox");
    /// assert_eq!(Reference::parse("ghcr.io/org/app").unwrap().repository(), "org/app");
    /// ```
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if one was written. No tag is *not* replaced by `latest`.
    ///
    /// ```
    /// use tagwarden_core::reference::Reference;
    /// assert_eq!(Reference::parse("busybox:1.36").unwrap().tag(), Some("1.36"));
    /// assert_eq!(Reference::parse("busybox").unwrap().tag(), None);
    /// ```
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if one was written, e.g. `sha256:…`.
    ///
    /// ```
    /// use tagwarden_core::reference::Reference;
    /// let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    /// assert_eq!(Reference::parse(&format!("busybox@{d}")).unwrap().digest(), Some(d));
    /// ```
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The same name, spelled as the user spelled it, with tag `tag` and no digest
    /// (a digest pins the old content, so it cannot survive a tag change).
    ///
    /// ```
    /// use tagwarden_core::reference::Reference;
    /// let r = Reference::parse("index.docker.io/library/busybox:1.36").unwrap();
    /// assert_eq!(r.with_tag("1.35").unwrap().to_string(), "index.docker.io/library/busybox:1.35");
    /// assert!(r.with_tag(".bad").is_err());
    /// ```
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        validate_tag(tag)?;
        let name = self.name_as_written();
        let mut original = String::with_capacity(name.len() + 1 + tag.len());
        original.push_str(name);
        original.push(':');
        original.push_str(tag);
        Ok(Reference {
            original,
            name_len: self.name_len,
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: Some(tag.to_owned()),
            digest: None,
        })
    }

    /// The same name and tag, spelled as the user spelled them, pinned to `digest`
    /// (replacing any digest already present).
    ///
    /// ```
    /// use tagwarden_core::reference::Reference;
    /// let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    /// let r = Reference::parse("busybox:1.36").unwrap().with_digest(d).unwrap();
    /// assert_eq!(r.to_string(), format!("busybox:1.36@{d}"));
    /// assert!(r.with_digest("sha256:abc").is_err());
    /// ```
    pub fn with_digest(&self, digest: &str) -> Result<Reference, ReferenceError> {
        validate_digest(digest)?;
        let mut original = String::with_capacity(self.original.len() + 1 + digest.len());
        original.push_str(self.name_as_written());
        if let Some(tag) = &self.tag {
            original.push(':');
            original.push_str(tag);
        }
        original.push('@');
        original.push_str(digest);
        Ok(Reference {
            original,
            name_len: self.name_len,
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: self.tag.clone(),
            digest: Some(digest.to_owned()),
        })
    }

    /// The fully qualified form: `registry/repository[:tag][@digest]`.
    ///
    /// ```
    /// use tagwarden_core::reference::Reference;
    /// assert_eq!(Reference::parse("busybox:1.36").unwrap().normalized(), "docker.io/library/busybox:1.36");
    /// assert_eq!(Reference::parse("ghcr.io/org/app").unwrap().normalized(), "ghcr.io/org/app");
    /// ```
    pub fn normalized(&self) -> String {
        let mut out = String::with_capacity(self.original.len() + 32);
        out.push_str(&self.registry);
        out.push('/');
        out.push_str(&self.repository);
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest);
        }
        out
    }

    /// Whether the image lives on Docker Hub (normalised registry `docker.io`).
    ///
    /// ```
    /// use tagwarden_core::reference::Reference;
    /// assert!(Reference::parse("index.docker.io/org/app").unwrap().is_docker_hub());
    /// assert!(!Reference::parse("ghcr.io/org/app").unwrap().is_docker_hub());
    /// ```
    pub fn is_docker_hub(&self) -> bool {
        self.registry == DOCKER_HUB_REGISTRY
    }
}

/// Prints the user's spelling: `name_as_written[:tag][@digest]`, i.e. [`Reference::original`].
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

/// Same as [`Reference::parse`].
impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// Serialises as the user's spelling (the [`Display`](fmt::Display) string).
impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.original)
    }
}

/// Deserialises from a string with [`Reference::parse`].
impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Reference::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Checks a tag against `[\w][\w.-]{0,127}`.
///
/// ```
/// use tagwarden_core::reference::validate_tag;
/// assert!(validate_tag("v1.30.2-alpine_3").is_ok());
/// assert!(validate_tag("_underscore").is_ok());
/// assert!(validate_tag("-rc1").is_err());
/// assert!(validate_tag(&"a".repeat(129)).is_err());
/// assert_eq!(
///     validate_tag("1.0+build").unwrap_err().to_string(),
///     r#"invalid tag "1.0+build": '+' is not allowed in a tag (letters, digits, '_', '.' and '-' are); semver build metadata is usually written with '_' or '-' in image tags"#
/// );
/// ```
pub fn validate_tag(tag: &str) -> Result<(), ReferenceError> {
    tag_problem(tag).map_err(|reason| ReferenceError::InvalidTag {
        tag: tag.to_owned(),
        reason,
    })
}

/// Checks a digest: `algorithm:hex`, with the exact length for `sha256` (64),
/// `sha384` (96) and `sha512` (128) and lowercase hex for those.
///
/// ```
/// use tagwarden_core::reference::validate_digest;
/// assert!(validate_digest("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").is_ok());
/// assert!(validate_digest("sha256:0123").is_err());
/// assert!(validate_digest("0123456789abcdef0123456789abcdef").is_err());
/// ```
pub fn validate_digest(digest: &str) -> Result<(), ReferenceError> {
    digest_problem(digest).map_err(|reason| ReferenceError::InvalidDigest {
        digest: digest.to_owned(),
        reason,
    })
}

// ---------------------------------------------------------------------------
// Parsing. Every helper returns `Err(reason)`: one line, no input prefix.
// ---------------------------------------------------------------------------

/// Quotes untrusted text for a one-line message: escapes control characters and
/// newlines (Rust's `Debug` for `str`) and cuts very long input.
fn quote(s: &str) -> String {
    const MAX_CHARS: usize = 200;
    match s.char_indices().nth(MAX_CHARS) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes in all)", &s[..cut], s.len()),
    }
}

/// Characters that may appear anywhere in a reference.
fn is_reference_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@' | '[' | ']' | '+')
}

/// Parses `s`. `hints` enables "write X instead" suggestions, which re-parse a
/// corrected candidate with `hints == false` (so the recursion is one level deep).
///
/// The checks go from the whole text to its parts, so that the first problem reported is
/// the most basic one: the text as a whole ([`text_problem`]), the digest
/// ([`split_digest`]), the tag ([`split_tag`]), the registry and repository path, the tag
/// and digest syntax, then the normalised name's length.
fn parse_reference(s: &str, hints: bool) -> Result<Reference, String> {
    text_problem(s, hints)?;
    let (name_and_tag, digest) = split_digest(s)?;
    let (name, tag) = split_tag(s, name_and_tag)?;

    let (domain, path) = split_domain(name);
    if let Some(domain) = domain {
        domain_problem(domain)?;
        if path.is_empty() {
            return Err(format!(
                "registry {} is not followed by a repository; write e.g. \"{domain}/org/app\"",
                quote(domain)
            ));
        }
    }
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(lowercase_reason(s, name, domain, path, hints));
    }
    path_problem(path)?;
    if let Some(tag) = tag {
        if tag.is_empty() {
            return Err(
                "':' is not followed by a tag; remove the ':' or add a tag, e.g. \":1.27\""
                    .to_owned(),
            );
        }
        tag_problem(tag)?;
    }
    if let Some(digest) = digest {
        digest_problem(digest)?;
    }

    let (registry, repository) = normalize_parts(domain, path);
    name_length_problem(registry, &repository)?;
    Ok(Reference {
        original: s.to_owned(),
        name_len: name.len(),
        registry: registry.to_owned(),
        repository,
        tag: tag.map(str::to_owned),
        digest: digest.map(str::to_owned),
    })
}

/// Problems of the text as a whole: empty, a URL, whitespace, a character no reference
/// has, or a bare image ID.
fn text_problem(s: &str, hints: bool) -> Result<(), String> {
    if s.is_empty() {
        return Err(
            "the reference is empty; write a name such as \"nginx:1.27\" or \"ghcr.io/org/app:v1\""
                .to_owned(),
        );
    }
    if let Some(i) = s.find("://") {
        let scheme = &s[..i + 3];
        let mut reason = format!(
            "remove the scheme {} (image references are not URLs)",
            quote(scheme)
        );
        if hints {
            let rest = s[i + 3..].trim_end_matches('/');
            if !rest.contains("://") && parse_reference(rest, false).is_ok() {
                let _ = write!(reason, "; write {}", quote(rest));
            }
        }
        return Err(reason);
    }
    if s.chars().any(char::is_whitespace) {
        return Err(whitespace_reason(s, hints));
    }
    if let Some((pos, c)) = s.chars().enumerate().find(|&(_, c)| !is_reference_char(c)) {
        return Err(format!(
            "character {c:?} at position {} is not allowed; references use letters, digits and . _ - / : @ [ ]",
            pos + 1
        ));
    }
    if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(
            "a bare 64-hex-digit string is an image ID, not a reference; write \"name@sha256:<id>\""
                .to_owned(),
        );
    }
    Ok(())
}

/// Why a reference with whitespace is wrong, with the trimmed reference when that parses.
fn whitespace_reason(s: &str, hints: bool) -> String {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return "the reference is blank; write a name such as \"nginx:1.27\"".to_owned();
    }
    if trimmed.chars().any(char::is_whitespace) {
        return "contains whitespace; a reference is one word, e.g. \"nginx:1.27\"".to_owned();
    }
    let mut reason = "has leading or trailing whitespace; remove it".to_owned();
    if hints && parse_reference(trimmed, false).is_ok() {
        let _ = write!(reason, " and write {}", quote(trimmed));
    }
    reason
}

/// Splits off the digest (after the one `@`) first: it contains a `:` of its own.
fn split_digest(s: &str) -> Result<(&str, Option<&str>), String> {
    match s.split_once('@') {
        None => Ok((s, None)),
        Some((_, d)) if d.contains('@') => Err(
            "more than one '@'; a reference has at most one digest: \"name[:tag]@sha256:<hex>\""
                .to_owned(),
        ),
        Some((_, "")) => Err(
            "'@' is not followed by a digest; remove the '@' or add \"sha256:<64 hex digits>\""
                .to_owned(),
        ),
        Some((n, d)) => Ok((n, Some(d))),
    }
}

/// Splits `name[:tag]` (of the whole reference `s`): the tag follows the last `:` unless a
/// `/` comes after it (then it was a registry port). The name must not be empty.
fn split_tag<'a>(s: &str, name_and_tag: &'a str) -> Result<(&'a str, Option<&'a str>), String> {
    if name_and_tag.starts_with('[') && !name_and_tag.contains('/') {
        return Err(format!(
            "{} looks like a registry host without a repository; write e.g. {}",
            quote(name_and_tag),
            quote(&format!("{name_and_tag}/app"))
        ));
    }
    let (name, tag) = match name_and_tag.rfind(':') {
        Some(i) if !name_and_tag[i..].contains('/') => {
            (&name_and_tag[..i], Some(&name_and_tag[i + 1..]))
        }
        _ => (name_and_tag, None),
    };
    if name.is_empty() {
        let before = if tag.is_some() { "':'" } else { "'@'" };
        return Err(format!(
            "the repository name before {before} is missing; write e.g. {}",
            quote(&format!("nginx{s}"))
        ));
    }
    Ok((name, tag))
}

/// The normalised `registry/repository` must fit in [`NAME_MAX_LEN`] characters.
fn name_length_problem(registry: &str, repository: &str) -> Result<(), String> {
    let name_len = registry.len() + 1 + repository.len();
    if name_len > NAME_MAX_LEN {
        return Err(format!(
            "the name {} is {name_len} characters long with its registry; the limit is {NAME_MAX_LEN}, shorten the repository path",
            quote(&format!("{registry}/{repository}"))
        ));
    }
    Ok(())
}

/// Docker's name normalisation, without the grammar check: the normalised registry and
/// repository of a name written without tag or digest.
///
/// This is the rule [`Reference::parse`] applies, for callers that normalise names which
/// are not references, such as repository patterns with `*` (`bitnami/*` names
/// `docker.io/bitnami/*`). Nothing is validated.
///
/// ```
/// use tagwarden_core::reference::normalize_name;
/// assert_eq!(normalize_name("busybox"), ("docker.io".to_string(), "library/busybox".to_string()));
/// assert_eq!(normalize_name("index.docker.io/org/*"), ("docker.io".to_string(), "org/*".to_string()));
/// assert_eq!(normalize_name("ghcr.io/org/app"), ("ghcr.io".to_string(), "org/app".to_string()));
/// ```
pub fn normalize_name(name: &str) -> (String, String) {
    let (domain, path) = split_domain(name);
    let (registry, repository) = normalize_parts(domain, path);
    (registry.to_owned(), repository)
}

/// `docker.io` for Docker Hub (also written `index.docker.io` or not at all), and the
/// `library/` prefix for its one-component (official) repositories.
fn normalize_parts<'a>(domain: Option<&'a str>, path: &str) -> (&'a str, String) {
    let registry = match domain {
        None | Some(DOCKER_HUB_LEGACY_REGISTRY) => DOCKER_HUB_REGISTRY,
        Some(d) => d,
    };
    let repository = if registry == DOCKER_HUB_REGISTRY && !path.contains('/') {
        format!("{OFFICIAL_REPOSITORY_PREFIX}{path}")
    } else {
        path.to_owned()
    };
    (registry, repository)
}

/// Docker's `splitDockerDomain`: the first component is a registry host iff it
/// contains '.' or ':', is `localhost`, or contains an uppercase letter.
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest)) if is_domain_like(first) => (Some(first), rest),
        _ => (None, name),
    }
}

fn is_domain_like(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

fn lowercase_reason(s: &str, name: &str, domain: Option<&str>, path: &str, hints: bool) -> String {
    let mut reason = "repository name must be lowercase".to_owned();
    if !hints {
        return reason;
    }
    let rest = &s[name.len()..];
    match domain {
        // Only uppercase made this component a registry host: the user almost
        // certainly meant a Docker Hub organisation.
        Some(d) if !d.contains(['.', ':']) && d != "localhost" => {
            let candidate = format!("{}{rest}", name.to_ascii_lowercase());
            if parse_reference(&candidate, false).is_ok() {
                let _ = write!(
                    reason,
                    "; write {} ({} counts as a registry host only because it has uppercase letters)",
                    quote(&candidate),
                    quote(d)
                );
            }
        }
        _ => {
            let prefix = domain.map(|d| format!("{d}/")).unwrap_or_default();
            let candidate = format!("{prefix}{}{rest}", path.to_ascii_lowercase());
            if parse_reference(&candidate, false).is_ok() {
                let _ = write!(reason, "; write {}", quote(&candidate));
            }
        }
    }
    reason
}

/// `domain := host [':' port]`, host a domain name, IPv4 address or `[IPv6]`.
fn domain_problem(domain: &str) -> Result<(), String> {
    let port = if let Some(inner) = domain.strip_prefix('[') {
        let Some(end) = inner.find(']') else {
            return Err(format!(
                "registry host {} has an unclosed '['; write an IPv6 host as \"[::1]:5000\"",
                quote(domain)
            ));
        };
        let addr = &inner[..end];
        let hex_colon = |b: u8| b.is_ascii_hexdigit() || b == b':';
        if addr.is_empty() || !addr.bytes().all(hex_colon) || addr.parse::<Ipv6Addr>().is_err() {
            return Err(format!(
                "{} is not a valid IPv6 address; write e.g. \"[::1]:5000\"",
                quote(&domain[..end + 2])
            ));
        }
        match &inner[end + 1..] {
            "" => None,
            after => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => {
                    return Err(format!(
                        "unexpected {} after the IPv6 address in registry {}; only \":port\" may follow ']'",
                        quote(after),
                        quote(domain)
                    ));
                }
            },
        }
    } else {
        let (host, port) = match domain.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (domain, None),
        };
        if host.is_empty() && domain.matches(':').count() >= 2 {
            return Err(format!(
                "registry {} looks like a bare IPv6 address; put it in brackets, e.g. \"[::1]:5000\"",
                quote(domain)
            ));
        }
        host_name_problem(host, domain)?;
        port
    };

    if let Some(port) = port {
        if port.is_empty() {
            return Err(format!(
                "':' in registry {} is not followed by a port; remove the ':' or add a port, e.g. \":5000\"",
                quote(domain)
            ));
        }
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "port {} of registry {} is not a number; write e.g. \"registry.local:5000\"",
                quote(port),
                quote(domain)
            ));
        }
        if port.parse::<u16>().is_err() {
            return Err(format!(
                "port {port} of registry {} is out of range; ports go from 0 to 65535",
                quote(domain)
            ));
        }
    }
    Ok(())
}

/// `domain-name := component ('.' component)*`, components `[a-zA-Z0-9-]` not
/// starting or ending with '-'.
fn host_name_problem(host: &str, domain: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err(format!(
            "registry {} has no host name before ':'; write e.g. \"registry.local:5000\"",
            quote(domain)
        ));
    }
    for label in host.split('.') {
        if label.is_empty() {
            return Err(format!(
                "registry host {} has an empty label (a leading, trailing or doubled '.'); remove the extra '.'",
                quote(host)
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || c == '-'))
        {
            return Err(format!(
                "registry host {} contains {c:?}; host names use only letters, digits, '-' and '.'",
                quote(host)
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "label {} of registry host {} starts or ends with '-'; host name labels must start and end with a letter or digit",
                quote(label),
                quote(host)
            ));
        }
    }
    Ok(())
}

fn is_path_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `remote-name := path-component ('/' path-component)*`; the caller has already
/// rejected uppercase letters.
fn path_problem(path: &str) -> Result<(), String> {
    if let Some(c) = path.chars().find(|&c| {
        !((c.is_ascii() && is_path_alnum(c as u8)) || matches!(c, '.' | '_' | '-' | '/'))
    }) {
        let extra = match c {
            ':' => "; ':' may only separate a registry port or the tag at the end",
            '@' => "; '@' may only introduce the digest at the end",
            _ => "",
        };
        return Err(format!(
            "repository path {} contains {c:?}; paths use only lowercase letters, digits, '/', '.', '_' and '-'{extra}",
            quote(path)
        ));
    }
    for component in path.split('/') {
        component_problem(component, path)?;
    }
    Ok(())
}

/// `path-component := alpha-numeric (separator alpha-numeric)*`,
/// `separator := [_.] | __ | [-]+`.
fn component_problem(component: &str, path: &str) -> Result<(), String> {
    let bytes = component.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return Err(format!(
            "repository path {} has an empty component (a leading, trailing or doubled '/'); remove the extra '/'",
            quote(path)
        ));
    };
    if !is_path_alnum(first) {
        return Err(format!(
            "path component {} starts with {:?}; components start with a lowercase letter or digit",
            quote(component),
            first as char
        ));
    }
    if !is_path_alnum(last) {
        return Err(format!(
            "path component {} ends with the separator {:?}; remove the trailing separator",
            quote(component),
            last as char
        ));
    }
    let mut i = 0;
    while i < bytes.len() {
        if is_path_alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_path_alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
        if !ok {
            return Err(format!(
                "path component {} has the separator {}; use one '.', one '_', two '__' or any number of '-' between letters and digits",
                quote(component),
                quote(sep)
            ));
        }
    }
    Ok(())
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `tag := [\w][\w.-]{0,127}`.
fn tag_problem(tag: &str) -> Result<(), String> {
    let Some(first) = tag.chars().next() else {
        return Err("the tag is empty; write a tag such as \"1.27\" or \"latest\"".to_owned());
    };
    if !is_word(first) {
        return Err(format!(
            "a tag must start with a letter, digit or '_', not {first:?}"
        ));
    }
    if let Some(c) = tag.chars().find(|&c| !(is_word(c) || c == '.' || c == '-')) {
        let extra = match c {
            '+' => "; semver build metadata is usually written with '_' or '-' in image tags",
            ':' => "; a reference has at most one tag",
            '/' => "; the tag comes after the whole repository path",
            _ => "",
        };
        return Err(format!(
            "{c:?} is not allowed in a tag (letters, digits, '_', '.' and '-' are){extra}"
        ));
    }
    if tag.len() > TAG_MAX_LEN {
        return Err(format!(
            "the tag is {} characters long; the limit is {TAG_MAX_LEN}",
            tag.len()
        ));
    }
    Ok(())
}

/// The digest algorithms Docker knows, with their hex length.
const KNOWN_DIGESTS: [(&str, usize); 3] = [("sha256", 64), ("sha384", 96), ("sha512", 128)];

/// `digest := algorithm ':' hex`, plus exact shapes for known algorithms.
fn digest_problem(digest: &str) -> Result<(), String> {
    const SHAPE: &str = "a digest looks like \"sha256:<64 lowercase hex digits>\"";
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(format!(
            "the digest has no ':' after its algorithm; {SHAPE}"
        ));
    };
    let algorithm_ok = algorithm.split(['+', '.', '-', '_']).all(|component| {
        let mut b = component.bytes();
        b.next().is_some_and(|c| c.is_ascii_alphabetic()) && b.all(|c| c.is_ascii_alphanumeric())
    });
    if !algorithm_ok {
        return Err(format!(
            "the digest algorithm {} is malformed; {SHAPE}",
            quote(algorithm)
        ));
    }
    if let Some(c) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "the digest contains {c:?} after {}; only hex digits may follow; {SHAPE}",
            quote(&format!("{algorithm}:"))
        ));
    }
    let lower = algorithm.to_ascii_lowercase();
    if let Some(&(known, len)) = KNOWN_DIGESTS.iter().find(|(name, _)| *name == lower) {
        if algorithm != known {
            return Err(format!(
                "the digest algorithm is written in lowercase; write \"{known}:…\""
            ));
        }
        if hex.len() != len {
            return Err(format!(
                "a {known} digest has exactly {len} hex digits, this one has {}",
                hex.len()
            ));
        }
        if hex.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "a {known} digest is written in lowercase hex; lowercase the digits"
            ));
        }
    } else if hex.len() < 32 {
        return Err(format!(
            "the digest has {} hex digits, at least 32 are needed; {SHAPE}",
            hex.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn separators_follow_the_grammar() {
        for ok in [
            "a", "a.b", "a_b", "a__b", "a-b", "a--b", "a---b", "a.b_c-d", "0",
        ] {
            assert!(component_problem(ok, ok).is_ok(), "{ok}");
        }
        for bad in [
            "a..b", "a___b", "a-_b", "a_-b", "a._b", "-a", "a-", "_a", "a.", "",
        ] {
            assert!(component_problem(bad, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn domains_follow_the_grammar() {
        for ok in [
            "ghcr.io",
            "a",
            "a-b.c",
            "Foo",
            "localhost:5000",
            "127.0.0.1:5000",
            "[::1]",
            "[::1]:5000",
            "[2001:db8::1]:443",
            "host:0",
            "host:65535",
        ] {
            assert!(domain_problem(ok).is_ok(), "{ok}");
        }
        for bad in [
            "-a.io",
            "a-.io",
            "a..io",
            ".a.io",
            "a_b.io",
            "host:",
            "host:abc",
            "host:65536",
            "host:99999999999999999999999",
            "[::1",
            "[]",
            "[zz::1]",
            "[::1]x",
            "[::1]:",
            "[::ffff:1.2.3.4]",
            ":5000",
            "::1",
        ] {
            assert!(domain_problem(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn digests_follow_the_grammar() {
        assert!(digest_problem(SHA).is_ok());
        assert!(digest_problem(&format!("sha512:{}", "a".repeat(128))).is_ok());
        assert!(digest_problem(&format!("sha384:{}", "a".repeat(96))).is_ok());
        assert!(digest_problem(&format!("blake3:{}", "A".repeat(32))).is_ok());
        assert!(digest_problem(&format!("multi+part.alg-x_y:{}", "0".repeat(40))).is_ok());
        for bad in [
            "sha256".to_owned(),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha256:{}", "A".repeat(64)),
            format!("SHA256:{}", "a".repeat(64)),
            format!("sha512:{}", "a".repeat(64)),
            format!("blake3:{}", "a".repeat(31)),
            format!("1sha:{}", "a".repeat(64)),
            format!("sha__256:{}", "a".repeat(64)),
            format!(":{}", "a".repeat(64)),
            format!("sha256:{}g", "a".repeat(63)),
        ] {
            assert!(digest_problem(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quote_escapes_and_truncates() {
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
        let long = "x".repeat(1000);
        let q = quote(&long);
        assert!(q.len() < 260, "{q}");
        assert!(q.ends_with("(1000 bytes in all)"));
    }

    #[test]
    fn hints_do_not_recurse_without_bound() {
        // Each level would strip one scheme; hints must stop after one level.
        let nested = "a://".repeat(10_000) + "busybox";
        assert!(Reference::parse(&nested).is_err());
        let err = Reference::parse("https://http://busybox").unwrap_err();
        assert!(!err.to_string().contains("write"), "{err}");
    }
}
