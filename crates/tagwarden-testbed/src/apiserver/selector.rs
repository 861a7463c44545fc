//! Label and field selectors, with the grammar and the matching rules of
//! `k8s.io/apimachinery/pkg/labels` and `.../fields`.
//!
//! Label selectors: comma-separated requirements, all of which must hold:
//! `key`, `!key`, `key=value`, `key==value`, `key!=value`,
//! `key in (a,b)`, `key notin (a,b)`. As in Kubernetes, `!=` and `notin`
//! also match objects that do not have the label at all. The numeric `gt`/`lt`
//! operators (`key>1`) are rejected as unsupported (400), not misread.
//!
//! Field selectors: `field=value`, `field==value`, `field!=value`, over a
//! per-kind list of fields (`validation::field_labels`); other fields are
//! `field label not supported: …`, as the real server answers.

use serde_json::Value;

/// A parsed label selector: every requirement must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector {
    requirements: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Exists(String),
    NotExists(String),
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

impl LabelSelector {
    /// Parse `text`; the error is the message of the 400 answer.
    pub(crate) fn parse(text: &str) -> Result<LabelSelector, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(text)? {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part)?);
        }
        Ok(LabelSelector { requirements })
    }

    /// Whether the object's `metadata.labels` satisfy every requirement.
    pub(crate) fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.requirements.iter().all(|req| match req {
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::NotExists(k) => label(k).is_none(),
            Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Requirement::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => !label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

/// Split at commas that are not inside `( … )`.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!(
                        "unable to parse requirement: unmatched ')' in {text:?}"
                    ));
                }
            }
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!(
            "unable to parse requirement: unclosed '(' in {text:?}"
        ));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    let bad = |why: &str| format!("unable to parse requirement: {why}: {part:?}");
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        return if !key.is_empty() && key.chars().all(is_key_char) {
            Ok(Requirement::NotExists(key.to_string()))
        } else {
            Err(bad("invalid label key"))
        };
    }
    let key_end = part.find(|c: char| !is_key_char(c)).unwrap_or(part.len());
    let (key, rest) = part.split_at(key_end);
    if key.is_empty() {
        return Err(bad("missing label key"));
    }
    let key = key.to_string();
    let rest = rest.trim_start();
    if rest.is_empty() {
        return Ok(Requirement::Exists(key));
    }
    if let Some(v) = rest.strip_prefix("==").or_else(|| rest.strip_prefix('=')) {
        return Ok(Requirement::Equals(
            key,
            label_value(v).map_err(|e| bad(&e))?,
        ));
    }
    if let Some(v) = rest.strip_prefix("!=") {
        return Ok(Requirement::NotEquals(
            key,
            label_value(v).map_err(|e| bad(&e))?,
        ));
    }
    if let Some(set) = set_operand(rest, "notin") {
        return Ok(Requirement::NotIn(key, set.map_err(|e| bad(&e))?));
    }
    if let Some(set) = set_operand(rest, "in") {
        return Ok(Requirement::In(key, set.map_err(|e| bad(&e))?));
    }
    if rest.starts_with('>') || rest.starts_with('<') {
        return Err(bad(
            "the gt/lt operators are not supported by the test API server",
        ));
    }
    Err(bad("expected one of =, ==, !=, in, notin"))
}

fn label_value(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Ok(v.to_string())
    } else {
        Err(format!("invalid label value {v:?}"))
    }
}

/// `in (a, b)` after the key: `None` when `rest` is not this operator.
fn set_operand(rest: &str, op: &str) -> Option<Result<Vec<String>, String>> {
    let after = rest.strip_prefix(op)?;
    if !(after.starts_with(char::is_whitespace) || after.starts_with('(')) {
        return None;
    }
    let after = after.trim();
    let Some(inner) = after.strip_prefix('(').and_then(|s| s.strip_suffix(')')) else {
        return Some(Err(format!("expected '(' values ')' after {op}")));
    };
    Some(inner.split(',').map(label_value).collect())
}

/// A parsed field selector over dotted paths (`metadata.name`).
#[derive(Clone, Debug, Default)]
pub(crate) struct FieldSelector {
    requirements: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parse `text`, accepting only the fields in `allowed`.
    pub(crate) fn parse(text: &str, allowed: &[&str]) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                ));
            };
            let field = field.trim();
            if !allowed.contains(&field) {
                return Err(format!("field label not supported: {field}"));
            }
            requirements.push((field.to_string(), equal, value.trim().to_string()));
        }
        Ok(FieldSelector { requirements })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub(crate) fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|(field, equal, value)| {
            (super::validation::field_value(object, field) == *value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(labels: Value) -> Value {
        json!({ "metadata": { "name": "p", "labels": labels } })
    }

    #[test]
    fn label_selectors_follow_kubernetes_semantics() {
        let web = pod(json!({ "app": "web", "tier": "front" }));
        let bare = pod(json!({}));
        let cases: &[(&str, bool, bool)] = &[
            ("", true, true),
            ("app", true, false),
            ("!app", false, true),
            ("app=web", true, false),
            ("app==web", true, false),
            ("app!=web", false, true),
            ("app!=db", true, true),
            ("app in (web, db)", true, false),
            ("app notin (web)", false, true),
            ("app in (db),tier=front", false, false),
            ("app in (web,db), tier = front", true, false),
        ];
        for (text, on_web, on_bare) in cases {
            let sel = LabelSelector::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(sel.matches(&web), *on_web, "{text} on web");
            assert_eq!(sel.matches(&bare), *on_bare, "{text} on bare");
        }
    }

    #[test]
    fn bad_label_selectors_are_errors() {
        for text in [
            "app in (a",
            "app)",
            "=x",
            "app>1",
            "app ~ x",
            "app in a",
            "app=a b",
        ] {
            assert!(
                LabelSelector::parse(text).is_err(),
                "{text} should not parse"
            );
        }
    }

    #[test]
    fn field_selectors() {
        let allowed = ["metadata.name", "metadata.namespace"];
        let obj = json!({ "metadata": { "name": "a", "namespace": "ns" } });
        let sel = FieldSelector::parse("metadata.name=a,metadata.namespace!=x", &allowed);
        assert!(sel.unwrap().matches(&obj));
        let sel = FieldSelector::parse("metadata.name==b", &allowed).unwrap();
        assert!(!sel.matches(&obj));
        assert!(FieldSelector::parse("spec.foo=1", &allowed).is_err());
    }
}
