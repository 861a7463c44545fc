//! `KIND:PATH` rules that say where images are.

use std::fmt;
use std::str::FromStr;

use crate::error::ManifestError;

/// One step of an [`ImagePath`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A mapping key: `spec`, `["app.kubernetes.io/name"]`.
    Key(String),
    /// One item of a sequence: `[0]`.
    Index(usize),
    /// Every item of a sequence: `[*]`.
    AnyIndex,
}

/// A rule naming where an image lives in objects of one kind: `Prometheus:spec.image`.
///
/// The built-in rules ([`ImagePath::builtin`]) cover the containers of every workload kind;
/// extra rules make other fields count as images (CRDs such as Prometheus, or a chart's own
/// kinds). A field named `image` that no rule names (a ConfigMap's data, a CRD's spec) is
/// *not* an image.
///
/// # Syntax
///
/// ```text
/// KIND:PATH
/// KIND    the object's `kind`, exactly (case-sensitive), or `*` for every kind
/// PATH    [$][.]STEP(.STEP)*       optionally wrapped in `{…}` (kubectl style)
/// STEP    KEY INDEX*  |  INDEX+
/// KEY     name   |  ["name"]  |  ['name']    (quote keys containing `.`, `[`, `]` or spaces)
/// INDEX   [*]  (every item)  |  [N]  (item N, 0-based)
/// ```
///
/// Examples: `Prometheus:spec.image`, `Foo:spec.containers[*].image`,
/// `Thing:spec.sidecars[0].image`, `*:metadata.annotations["example.com/image"]`,
/// `Alertmanager:{.spec.image}`. The path starts at the object's root, and inside a `List`
/// at the item (a rule for `Prometheus` also finds Prometheus objects inside a `List`).
///
/// When the step before the last key is an index (`containers[*].image`), the `name` of that
/// item is reported as the container name, and an item without the last key is reported as
/// [`crate::SkipReason::Absent`] (a container must name its image).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImagePath {
    kind: String,
    segments: Vec<Segment>,
}

fn invalid(spec: &str, message: impl Into<String>) -> ManifestError {
    ManifestError::ImagePath {
        spec: spec.to_string(),
        message: message.into(),
    }
}

impl ImagePath {
    /// Parses a `KIND:PATH` rule (see the type's docs for the syntax).
    pub fn parse(spec: &str) -> Result<Self, ManifestError> {
        let (kind, path) = spec
            .split_once(':')
            .ok_or_else(|| invalid(spec, "expected KIND:PATH, e.g. `Prometheus:spec.image`"))?;
        let kind = kind.trim();
        if kind.is_empty() || kind.chars().any(char::is_whitespace) {
            return Err(invalid(spec, "the kind is empty or contains spaces"));
        }
        Ok(Self {
            kind: kind.to_string(),
            segments: parse_path(spec, path.trim())?,
        })
    }

    /// A rule from its parts; `path` uses the syntax of [`ImagePath::parse`].
    pub fn new(kind: &str, path: &str) -> Result<Self, ManifestError> {
        Self::parse(&format!("{kind}:{path}"))
    }

    /// The kind this rule applies to (`*` for all).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The steps of the path.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// When no object of this rule's kind is among `kinds` but one differs only in case,
    /// that kind: `prometheus:spec.image` matches nothing in an input of `Prometheus`
    /// objects, because kinds are case-sensitive. `None` for `*`, for a kind that is there,
    /// and for one that is not there in any case.
    ///
    /// ```
    /// use tagwarden_manifest::ImagePath;
    /// let rule = ImagePath::parse("prometheus:spec.image").unwrap();
    /// assert_eq!(rule.kind_suggestion(["Pod", "Prometheus"]), Some("Prometheus"));
    /// assert_eq!(rule.kind_suggestion(["Pod"]), None);
    /// ```
    pub fn kind_suggestion<'k>(&self, kinds: impl IntoIterator<Item = &'k str>) -> Option<&'k str> {
        if self.kind == "*" {
            return None;
        }
        let mut suggestion = None;
        for kind in kinds {
            if kind == self.kind {
                return None;
            }
            if suggestion.is_none() && kind.eq_ignore_ascii_case(&self.kind) {
                suggestion = Some(kind);
            }
        }
        suggestion
    }

    /// Whether the rule applies to objects of `kind`.
    pub fn matches_kind(&self, kind: &str) -> bool {
        self.kind == "*" || self.kind == kind
    }

    /// The last key of the path, if any (`image` for `spec.containers[*].image`).
    pub(crate) fn last_key(&self) -> Option<&str> {
        self.segments.iter().rev().find_map(|s| match s {
            Segment::Key(k) => Some(k.as_str()),
            _ => None,
        })
    }

    /// Whether the path ends in a key of a list item (`containers[*].image`): such an item
    /// must have the key, and [`crate::SkipReason::Absent`] reports one that does not.
    pub fn item_key_required(&self) -> bool {
        matches!(
            self.segments.as_slice(),
            [.., Segment::Index(_) | Segment::AnyIndex, Segment::Key(_)]
        )
    }

    /// The key of the list whose items must have the last key (`containers` for
    /// `spec.containers[*].image`), when [`ImagePath::item_key_required`].
    pub(crate) fn list_key(&self) -> Option<&str> {
        if !self.item_key_required() {
            return None;
        }
        let before_field = &self.segments[..self.segments.len() - 1];
        before_field.iter().rev().find_map(|s| match s {
            Segment::Key(k) => Some(k.as_str()),
            _ => None,
        })
    }

    /// The rules for containers, init containers and ephemeral containers of every workload
    /// kind: `Pod` (`spec`), `PodTemplate` (`template.spec`), `Deployment`, `ReplicaSet`,
    /// `StatefulSet`, `DaemonSet`, `Job`, `ReplicationController` (`spec.template.spec`) and
    /// `CronJob` (`spec.jobTemplate.spec.template.spec`), each followed by
    /// `.containers[*].image`, `.initContainers[*].image` and `.ephemeralContainers[*].image`.
    pub fn builtin() -> Vec<ImagePath> {
        const POD_SPECS: &[(&str, &str)] = &[
            ("Pod", "spec"),
            ("PodTemplate", "template.spec"),
            ("Deployment", "spec.template.spec"),
            ("ReplicaSet", "spec.template.spec"),
            ("StatefulSet", "spec.template.spec"),
            ("DaemonSet", "spec.template.spec"),
            ("Job", "spec.template.spec"),
            ("ReplicationController", "spec.template.spec"),
            ("CronJob", "spec.jobTemplate.spec.template.spec"),
        ];
        let mut rules = Vec::new();
        for (kind, spec) in POD_SPECS {
            for list in ["containers", "initContainers", "ephemeralContainers"] {
                let segments = spec
                    .split('.')
                    .map(|k| Segment::Key(k.to_string()))
                    .chain([
                        Segment::Key(list.to_string()),
                        Segment::AnyIndex,
                        Segment::Key("image".to_string()),
                    ])
                    .collect();
                rules.push(ImagePath {
                    kind: (*kind).to_string(),
                    segments,
                });
            }
        }
        rules
    }
}

impl FromStr for ImagePath {
    type Err = ManifestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.kind)?;
        let mut path = String::new();
        for segment in &self.segments {
            push_segment(&mut path, segment);
        }
        f.write_str(&path)
    }
}

/// Whether a key can be written bare in a path.
fn bare_key(key: &str) -> bool {
    !key.is_empty()
        && !key
            .chars()
            .any(|c| matches!(c, '.' | '[' | ']' | '"' | '\'' | '{' | '}') || c.is_whitespace())
}

/// Appends one step to a rendered path (`spec`, `.image`, `[0]`, `["a.b"]`).
pub(crate) fn push_segment(path: &mut String, segment: &Segment) {
    match segment {
        Segment::Key(key) if bare_key(key) => {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
        }
        Segment::Key(key) => {
            let quote = if key.contains('"') { '\'' } else { '"' };
            path.push('[');
            path.push(quote);
            path.push_str(key);
            path.push(quote);
            path.push(']');
        }
        Segment::Index(i) => {
            path.push('[');
            path.push_str(&i.to_string());
            path.push(']');
        }
        Segment::AnyIndex => path.push_str("[*]"),
    }
}

fn parse_path(spec: &str, path: &str) -> Result<Vec<Segment>, ManifestError> {
    let mut path = path;
    if let Some(inner) = path.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
        path = inner.trim();
    }
    path = path.strip_prefix('$').unwrap_or(path);
    path = path.strip_prefix('.').unwrap_or(path);
    let chars: Vec<char> = path.chars().collect();
    let mut segments = Vec::new();
    let mut i = 0;
    // Whether a `.` is required before the next bare key.
    let mut need_dot = false;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                if !need_dot {
                    return Err(invalid(
                        spec,
                        format!("unexpected `.` at position {i} of the path"),
                    ));
                }
                need_dot = false;
                i += 1;
                if i == chars.len() {
                    return Err(invalid(spec, "the path ends with `.`"));
                }
            }
            '[' => {
                let (segment, next) = bracket_segment(spec, &chars, i)?;
                segments.push(segment);
                i = next;
                need_dot = true;
            }
            c if c == '"' || c == '\'' => {
                return Err(invalid(
                    spec,
                    format!("quoted keys go in brackets: `[{c}…{c}]`"),
                ));
            }
            _ => {
                if need_dot {
                    return Err(invalid(
                        spec,
                        format!("expected `.` or `[` at position {i} of the path"),
                    ));
                }
                let (segment, next) = bare_key_segment(spec, &chars, i)?;
                segments.push(segment);
                i = next;
                need_dot = true;
            }
        }
    }
    if segments.is_empty() {
        return Err(invalid(spec, "the path is empty"));
    }
    Ok(segments)
}

/// The step that starts with the `[` at `chars[i]`: a quoted key (`["a.b"]`, `['a']`), every
/// item (`[*]`) or one item (`[3]`); and the index just after its `]`.
fn bracket_segment(
    spec: &str,
    chars: &[char],
    i: usize,
) -> Result<(Segment, usize), ManifestError> {
    if let Some(&q) = chars.get(i + 1).filter(|c| matches!(c, '"' | '\'')) {
        // A quoted key: it may contain `.`, `[` and `]`.
        let close = chars[i + 2..]
            .iter()
            .position(|&c| c == q)
            .map(|p| p + i + 2)
            .ok_or_else(|| invalid(spec, format!("unclosed quote `{q}`")))?;
        if chars.get(close + 1) != Some(&']') {
            return Err(invalid(
                spec,
                "expected `]` after the quoted key".to_string(),
            ));
        }
        let key: String = chars[i + 2..close].iter().collect();
        if key.is_empty() {
            return Err(invalid(spec, "empty quoted key"));
        }
        return Ok((Segment::Key(key), close + 2));
    }
    let close = chars[i..]
        .iter()
        .position(|&c| c == ']')
        .map(|p| p + i)
        .ok_or_else(|| invalid(spec, "unclosed `[`"))?;
    let inner: String = chars[i + 1..close].iter().collect();
    let inner = inner.trim();
    let segment = if inner == "*" {
        Segment::AnyIndex
    } else if let Ok(n) = inner.parse::<usize>() {
        Segment::Index(n)
    } else {
        return Err(invalid(
            spec,
            format!("`[{inner}]` is neither `[*]`, `[N]` nor a quoted key like `[\"a.b\"]`"),
        ));
    };
    Ok((segment, close + 1))
}

/// The bare key that starts at `chars[i]` (up to the next `.`, `[` or `]`), and the index
/// just after it.
fn bare_key_segment(
    spec: &str,
    chars: &[char],
    start: usize,
) -> Result<(Segment, usize), ManifestError> {
    let mut i = start;
    while i < chars.len() && !matches!(chars[i], '.' | '[' | ']') {
        i += 1;
    }
    let key: String = chars[start..i].iter().collect();
    if key.trim() != key || key.is_empty() || key.contains(['"', '\'', '{', '}']) {
        return Err(invalid(spec, format!("invalid key `{key}`")));
    }
    if i < chars.len() && chars[i] == ']' {
        return Err(invalid(spec, "unexpected `]`"));
    }
    Ok((Segment::Key(key), i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Segment {
        Segment::Key(k.to_string())
    }

    #[test]
    fn parses_the_documented_forms() {
        let p = ImagePath::parse("Prometheus:spec.image").unwrap();
        assert_eq!(p.kind(), "Prometheus");
        assert_eq!(p.segments(), &[key("spec"), key("image")]);

        let p = ImagePath::parse("Foo:spec.containers[*].image").unwrap();
        assert_eq!(
            p.segments(),
            &[
                key("spec"),
                key("containers"),
                Segment::AnyIndex,
                key("image")
            ]
        );

        let p = ImagePath::parse("Thing:$.spec.sidecars[2].image").unwrap();
        assert_eq!(
            p.segments(),
            &[
                key("spec"),
                key("sidecars"),
                Segment::Index(2),
                key("image")
            ]
        );

        let p = ImagePath::parse(r#"*:metadata.annotations["example.com/image"]"#).unwrap();
        assert_eq!(p.kind(), "*");
        assert_eq!(
            p.segments(),
            &[
                key("metadata"),
                key("annotations"),
                key("example.com/image")
            ]
        );

        let p = ImagePath::parse("Alertmanager:{.spec.image}").unwrap();
        assert_eq!(p.segments(), &[key("spec"), key("image")]);

        let p = ImagePath::parse("X:spec.images[*]").unwrap();
        assert_eq!(
            p.segments(),
            &[key("spec"), key("images"), Segment::AnyIndex]
        );
        assert_eq!(p.last_key(), Some("images"));
    }

    #[test]
    fn display_round_trips() {
        for spec in [
            "Prometheus:spec.image",
            "Foo:spec.containers[*].image",
            "Thing:spec.sidecars[2].image",
            r#"*:metadata.annotations["example.com/image"]"#,
            "X:spec.images[*]",
            r#"Y:spec["a]b"].image"#,
            r#"Y:spec['say "hi"'].image"#,
        ] {
            let p = ImagePath::parse(spec).unwrap();
            assert_eq!(p.to_string(), spec);
            assert_eq!(ImagePath::parse(&p.to_string()).unwrap(), p);
        }
    }

    #[test]
    fn rejects_bad_rules() {
        for spec in [
            "spec.image",
            ":spec.image",
            "Foo:",
            "Foo:spec..image",
            "Foo:spec.",
            "Foo:spec[",
            "Foo:spec[x]",
            "Foo:spec]x",
            "Foo:spec[0]image",
            "Foo Bar:spec",
            "Foo:'spec'",
        ] {
            let err = ImagePath::parse(spec).unwrap_err();
            assert!(
                matches!(err, ManifestError::ImagePath { .. }),
                "{spec}: {err:?}"
            );
            assert!(err.to_string().contains(spec), "{err}");
        }
    }

    #[test]
    fn builtin_covers_every_workload_kind() {
        let rules = ImagePath::builtin();
        assert_eq!(rules.len(), 27);
        let rendered: Vec<String> = rules.iter().map(ToString::to_string).collect();
        for expected in [
            "Pod:spec.containers[*].image",
            "Pod:spec.ephemeralContainers[*].image",
            "PodTemplate:template.spec.initContainers[*].image",
            "Deployment:spec.template.spec.containers[*].image",
            "ReplicationController:spec.template.spec.containers[*].image",
            "CronJob:spec.jobTemplate.spec.template.spec.initContainers[*].image",
        ] {
            assert!(rendered.iter().any(|r| r == expected), "{expected}");
        }
    }
}
