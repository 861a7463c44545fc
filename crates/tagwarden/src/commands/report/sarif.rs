//! `check -o sarif`: SARIF 2.1.0 for code scanning (GitHub and others).
//!
//! One result per location of every image that is missing (`image-missing`, level
//! `error`), could not be checked (`image-undetermined`, `warning`) or is not a valid
//! reference (`image-invalid`, `error`). Present images produce no result. Each result
//! points at the image scalar: `artifactLocation.uri` is the file as given (relative paths
//! stay relative, as code scanning wants; absolute ones become `file://` URIs; stdin is
//! `%3Cstdin%3E`) and `region` has its 1-based `startLine` and `startColumn` (columns count
//! Unicode code points, `columnKind`).

use serde_json::{Value, json};
use tagwarden_manifest::Location;

use super::{ImageReport, ImageStatus, Report};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const INFORMATION_URI: &str = "https://github.com/tagwarden/tagwarden";

struct Rule {
    id: &'static str,
    name: &'static str,
    level: &'static str,
    short: &'static str,
    full: &'static str,
}

const RULES: [Rule; 3] = [
    Rule {
        id: "image-missing",
        name: "ImageMissing",
        level: "error",
        short: "The image does not exist in its registry",
        full: "The registry says this image (tag or digest) does not exist, or it lacks a required platform: pods using it will not start (ImagePullBackOff). When the tag tracks the Kubernetes version, the result names the nearest published fallback.",
    },
    Rule {
        id: "image-undetermined",
        name: "ImageUndetermined",
        level: "warning",
        short: "The image could not be checked",
        full: "The registry denied the request (401/403) or could not be reached, so whether the image exists is unknown. A transient failure never counts as missing.",
    },
    Rule {
        id: "image-invalid",
        name: "ImageInvalid",
        level: "error",
        short: "The image is not a valid image reference",
        full: "The value is not an image reference a container runtime can pull (wrong syntax, upper case in the repository, a number instead of a string, ...).",
    },
];

fn rule_index(status: ImageStatus) -> Option<usize> {
    match status {
        ImageStatus::Present => None,
        ImageStatus::Missing => Some(0),
        ImageStatus::Denied | ImageStatus::Unreachable => Some(1),
        ImageStatus::Invalid => Some(2),
    }
}

pub fn report(output: &Report<tagwarden_manifest::Location>) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.short},
                "fullDescription": {"text": r.full},
                "help": {"text": r.full},
                "helpUri": format!("{INFORMATION_URI}#check"),
                "defaultConfiguration": {"level": r.level},
            })
        })
        .collect();
    let mut results = Vec::new();
    for image in &output.images {
        let Some(index) = rule_index(image.status) else {
            continue;
        };
        let rule = &RULES[index];
        let message = message(image);
        for location in &image.locations {
            results.push(json!({
                "ruleId": rule.id,
                "ruleIndex": index,
                "level": rule.level,
                "message": {"text": message},
                "locations": [location_of(location)],
                "properties": {
                    "image": image.image,
                    "status": image.status.as_str(),
                    "fallback": image.fallback,
                },
            }));
        }
    }
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "tagwarden",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": INFORMATION_URI,
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

fn message(image: &ImageReport) -> String {
    let what = match image.status {
        ImageStatus::Missing => "is missing",
        ImageStatus::Denied => "could not be checked: the registry denied access",
        ImageStatus::Unreachable => "could not be checked: the registry is unreachable",
        ImageStatus::Invalid => "is not a valid image reference",
        ImageStatus::Present => "is present",
    };
    let mut text = format!("Image `{}` {what}", image.image.escape_debug());
    if let Some(reason) = &image.reason {
        text.push_str(&format!(": {reason}"));
    }
    text.push('.');
    if let Some(fallback) = &image.fallback {
        text.push_str(&format!(" Suggested fallback: `{fallback}`."));
    }
    text
}

fn location_of(l: &Location) -> Value {
    let mut fully_qualified = String::new();
    if !l.kind.is_empty() {
        fully_qualified.push_str(&l.kind);
        fully_qualified.push('/');
    }
    if let Some(ns) = &l.namespace {
        fully_qualified.push_str(ns);
        fully_qualified.push('/');
    }
    if let Some(name) = &l.name {
        fully_qualified.push_str(name);
    }
    fully_qualified.push(':');
    fully_qualified.push_str(&l.path);
    json!({
        "physicalLocation": {
            "artifactLocation": {"uri": uri_of(&l.file)},
            "region": {"startLine": l.line, "startColumn": l.column},
        },
        "logicalLocations": [{
            "name": l.container.clone().unwrap_or_else(|| l.path.clone()),
            "fullyQualifiedName": fully_qualified,
            "kind": "object",
        }],
    })
}

/// A file name as a URI reference: unreserved characters and `/` as they are, everything
/// else percent-encoded; absolute paths get `file://`.
pub fn uri_of(file: &str) -> String {
    let mut out = String::with_capacity(file.len() + 8);
    if file.starts_with('/') {
        out.push_str("file://");
    }
    for byte in file.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::uri_of;

    #[test]
    fn file_names_become_uri_references() {
        assert_eq!(uri_of("charts/x/job.yaml"), "charts/x/job.yaml");
        assert_eq!(uri_of("/tmp/a b.yaml"), "file:///tmp/a%20b.yaml");
        assert_eq!(uri_of("<stdin>"), "%3Cstdin%3E");
        assert_eq!(uri_of("ü.yaml"), "%C3%BC.yaml");
    }
}
