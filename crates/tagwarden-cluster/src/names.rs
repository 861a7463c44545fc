//! Names checked before they go into a request path, with the API server's own rules and
//! words: a namespace is an RFC 1123 label, an object's name (a Secret, a Lease) an RFC
//! 1123 subdomain.
//!
//! kube-rs puts a namespace or a name into the URL as given, so `-n 'a/secrets/b#'` would
//! ask for another path than the user meant. Every name a user gives goes through
//! [`namespace`] or [`name`] first; a bad one is [`InvalidName`], a usage error (exit 2).
//!
//! ```
//! use tagwarden_cluster::names;
//!
//! assert!(names::namespace("kube-system").is_ok());
//! let error = names::namespace("kube-system/secrets/db-password#").unwrap_err();
//! assert!(error.to_string().starts_with("invalid namespace \"kube-system/secrets/db-password#\": a lowercase RFC 1123 label"));
//! assert!(names::name("tagwarden.leader").is_ok());
//! ```

use std::fmt;

const LABEL_MAX: usize = 63;
const SUBDOMAIN_MAX: usize = 253;
const LABEL_RULE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_RULE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// What kind of name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A namespace (an RFC 1123 label).
    Namespace,
    /// An object's name (an RFC 1123 subdomain).
    Name,
}

/// A namespace or name the API server would refuse, with its rule in the server's words:
/// `invalid namespace "Shop": a lowercase RFC 1123 label must consist of …`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidName {
    /// Which rule applies.
    pub kind: NameKind,
    /// The text given.
    pub value: String,
    /// Why it breaks the rule.
    pub reason: String,
}

impl fmt::Display for InvalidName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            NameKind::Namespace => "namespace",
            NameKind::Name => "name",
        };
        write!(f, "invalid {what} {:?}: {}", self.value, self.reason)
    }
}

/// `text` when it is a valid namespace (an RFC 1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`,
/// at most 63 characters).
///
/// # Errors
///
/// [`InvalidName`] saying which rule it breaks.
pub fn namespace(text: &str) -> Result<&str, InvalidName> {
    let invalid = |reason: String| InvalidName {
        kind: NameKind::Namespace,
        value: text.to_string(),
        reason,
    };
    if text.len() > LABEL_MAX {
        return Err(invalid(format!(
            "must be no more than {LABEL_MAX} characters"
        )));
    }
    if !is_label(text) {
        return Err(invalid(LABEL_RULE.to_string()));
    }
    Ok(text)
}

/// `text` when it is a valid object name (an RFC 1123 subdomain: dot-separated labels, at
/// most 253 characters): a Secret's, a Lease's.
///
/// # Errors
///
/// [`InvalidName`] saying which rule it breaks.
pub fn name(text: &str) -> Result<&str, InvalidName> {
    let invalid = |reason: String| InvalidName {
        kind: NameKind::Name,
        value: text.to_string(),
        reason,
    };
    if text.len() > SUBDOMAIN_MAX {
        return Err(invalid(format!(
            "must be no more than {SUBDOMAIN_MAX} characters"
        )));
    }
    if !text.split('.').all(is_label) {
        return Err(invalid(SUBDOMAIN_RULE.to_string()));
    }
    Ok(text)
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn is_label(text: &str) -> bool {
    let bytes = text.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(|b| edge(b) || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_labels() {
        for good in ["default", "kube-system", "a", "0-9", &"a".repeat(63)] {
            assert!(namespace(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Shop",
            "a/b",
            "a.b",
            "-a",
            "a-",
            "a#",
            "ä",
            &"a".repeat(64),
        ] {
            assert!(namespace(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_subdomains() {
        for good in ["regcred", "tagwarden.leader", "a-1.b-2"] {
            assert!(name(good).is_ok(), "{good}");
        }
        for bad in ["", "a/b", "a..b", ".a", "A", "a b", "db-password#"] {
            assert!(name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            name("a/b").unwrap_err().to_string(),
            format!("invalid name \"a/b\": {SUBDOMAIN_RULE}")
        );
    }
}
