//! What a field that a rule names holds: an image string, or one of the [`SkipReason`]s.
//!
//! Kubernetes reads manifests with `sigs.k8s.io/yaml`: YAML 1.1 rules with Go's number
//! syntax. A field the API server would not take as a string is not an image, and neither is
//! one that gives no image at all; both are reported with their reason, never silently
//! dropped.

use crate::find::SkipReason;
use crate::tree::{Node, NodeKind, ScalarStyle, is_null_plain};

/// The prefix of the YAML core schema's tags (`!!str` is `tag:yaml.org,2002:str`).
const CORE_TAG: &str = "tag:yaml.org,2002:";

/// `None` when `node` (aliases already followed) holds an image string, else why not.
pub(crate) fn classify(node: &Node<'_>) -> Option<SkipReason> {
    match &node.kind {
        NodeKind::Scalar { value, style, .. } => {
            scalar_reason(value, *style == ScalarStyle::Plain, node.tag.as_deref())
        }
        NodeKind::Mapping { .. } => Some(SkipReason::Mapping),
        NodeKind::Sequence { .. } => Some(SkipReason::Sequence),
        // The search follows aliases before classifying; an alias here is a broken chain.
        NodeKind::Alias { .. } => Some(SkipReason::Null),
    }
}

/// Why a scalar is not an image string, from its decoded value, whether it is plain, and its
/// resolved tag: a core-schema tag decides (`!!int 5` is a number, `!!str 5` a string);
/// untagged, a plain `~`/`null`/nothing is null, and a plain YAML 1.1 boolean or Go number
/// is that; any scalar that decodes to nothing is empty.
fn scalar_reason(value: &str, plain: bool, tag: Option<&str>) -> Option<SkipReason> {
    if let Some(tag) = tag {
        return match tag.strip_prefix(CORE_TAG) {
            Some("null") => Some(SkipReason::Null),
            Some("int" | "float") => Some(SkipReason::Number),
            Some("bool") => Some(SkipReason::Boolean),
            _ if value.is_empty() => Some(SkipReason::Empty),
            _ => None,
        };
    }
    if plain && is_null_plain(value) {
        Some(SkipReason::Null)
    } else if value.is_empty() {
        Some(SkipReason::Empty)
    } else if plain && is_yaml11_bool(value) {
        Some(SkipReason::Boolean)
    } else if plain && is_number(value) {
        Some(SkipReason::Number)
    } else {
        None
    }
}

fn is_yaml11_bool(value: &str) -> bool {
    matches!(
        value,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// Integers in Go's base-prefixed syntax (`12`, `0x1F`, `0o14`, `0b101`, `1_000`) and decimal
/// floats (`1.32`, `.5`, `1e3`, `.inf`, `.nan`).
fn is_number(value: &str) -> bool {
    let unsigned = value.strip_prefix(['+', '-']).unwrap_or(value);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(value, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let digits = |s: &str, radix: u32| {
        s.chars().any(|c| c.is_digit(radix)) && s.chars().all(|c| c == '_' || c.is_digit(radix))
    };
    for (prefix, radix) in [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ] {
        if let Some(rest) = unsigned.strip_prefix(prefix) {
            return digits(rest, radix);
        }
    }
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    if let Some(exponent) = exponent {
        let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
        if exponent.is_empty() || !exponent.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (mantissa, None),
    };
    let ok = |s: &str| s.chars().all(|c| c == '_' || c.is_ascii_digit());
    let has_digit = mantissa.chars().any(|c| c.is_ascii_digit());
    has_digit && ok(whole) && fraction.is_none_or(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_booleans_are_not_strings() {
        for v in [
            "12", "-3", "+4", "1_000", "0x1F", "0o14", "0b101", "1.32", ".5", "1e3", "1.5E-3",
            ".inf", "-.Inf", ".nan",
        ] {
            assert_eq!(
                scalar_reason(v, true, None),
                Some(SkipReason::Number),
                "{v}"
            );
            assert_eq!(scalar_reason(v, false, None), None, "quoted {v}");
        }
        for v in ["yes", "Off", "y", "TRUE"] {
            assert_eq!(
                scalar_reason(v, true, None),
                Some(SkipReason::Boolean),
                "{v}"
            );
            assert_eq!(scalar_reason(v, false, None), None, "quoted {v}");
        }
        for v in [
            "nginx",
            "1.2.3",
            "1:20",
            "v1.32",
            "0x",
            "1e",
            "e3",
            ".",
            "_",
            "12abc",
            "2001-12-14",
            "0o19",
            "yes please",
        ] {
            assert_eq!(scalar_reason(v, true, None), None, "{v}");
        }
        let tagged = |t: &str| format!("{CORE_TAG}{t}");
        assert_eq!(
            scalar_reason("5", false, Some(&tagged("int"))),
            Some(SkipReason::Number)
        );
        assert_eq!(
            scalar_reason("x", true, Some(&tagged("bool"))),
            Some(SkipReason::Boolean)
        );
        assert_eq!(scalar_reason("5", true, Some(&tagged("str"))), None);
        assert_eq!(scalar_reason("x", true, Some("!custom")), None);
    }

    #[test]
    fn nothing_is_null_or_empty() {
        for v in ["", "~", "null", "Null", "NULL"] {
            assert_eq!(scalar_reason(v, true, None), Some(SkipReason::Null), "{v}");
        }
        assert_eq!(scalar_reason("", false, None), Some(SkipReason::Empty));
        assert_eq!(
            scalar_reason("~", false, None),
            None,
            "a quoted ~ is a string"
        );
        let tagged = |t: &str| format!("{CORE_TAG}{t}");
        assert_eq!(
            scalar_reason("", true, Some(&tagged("str"))),
            Some(SkipReason::Empty)
        );
        assert_eq!(
            scalar_reason("", true, Some(&tagged("null"))),
            Some(SkipReason::Null)
        );
    }
}
