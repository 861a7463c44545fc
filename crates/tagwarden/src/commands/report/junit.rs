//! `check -o junit`: JUnit XML for CI test reports (GitLab, Jenkins, GitHub test reporters).
//!
//! One `testsuite` named `tagwarden check` with one `testcase` per unique image (`name` is
//! the image as written, `classname` is `tagwarden.check`, `file`/`line` its first use).
//! A missing or invalid image has a `failure` (`type` = its status), an image that could
//! not be checked an `error`; every test case lists its locations in `system-out`.
//!
//! A fleet's `scan` writes one `testsuite` per cluster (`tagwarden scan: <context>`); a
//! cluster that could not be scanned is one test case named `cluster` with an `error`.

use std::fmt::Write as _;

use super::{ImageReport, ImageStatus, Located, Report};

/// The JUnit XML of a report; `command` names the suite (`tagwarden check`, `tagwarden scan`)
/// and the test cases' class (`tagwarden.check`).
pub fn report<L: Located, X>(output: &Report<L, X>, command: &str) -> String {
    suites(
        &[Suite {
            name: format!("tagwarden {command}"),
            outcome: Ok(output),
        }],
        command,
    )
}

/// One `testsuite`: a report, or why there is none (a cluster of a fleet that could not be
/// scanned: one test case with an `error`).
pub struct Suite<'a, L, X> {
    /// The suite's name (`tagwarden scan: prod-eu`).
    pub name: String,
    /// The report, or the reason there is none.
    pub outcome: Result<&'a Report<L, X>, String>,
}

/// (tests, failures, errors) of a suite.
fn counts<L, X>(suite: &Suite<'_, L, X>) -> (usize, usize, usize) {
    match suite.outcome {
        Ok(output) => (
            output.images.len(),
            output
                .images
                .iter()
                .filter(|i| matches!(i.status, ImageStatus::Missing | ImageStatus::Invalid))
                .count(),
            output
                .images
                .iter()
                .filter(|i| i.status.is_undetermined())
                .count(),
        ),
        Err(_) => (1, 0, 1),
    }
}

/// The JUnit XML of several suites (`scan` of a fleet: one per cluster).
pub fn suites<L: Located, X>(suites: &[Suite<'_, L, X>], command: &str) -> String {
    let all: Vec<(usize, usize, usize)> = suites.iter().map(counts).collect();
    let (tests, failures, errors) = all.iter().fold((0, 0, 0), |(t, f, e), (t2, f2, e2)| {
        (t + t2, f + f2, e + e2)
    });
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"tagwarden {command}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">"
    );
    for (suite, (tests, failures, errors)) in suites.iter().zip(all) {
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\">",
            attribute(&suite.name)
        );
        match suite.outcome {
            Ok(output) => {
                for image in &output.images {
                    testcase(&mut xml, image, command);
                }
            }
            Err(ref reason) => {
                let _ = writeln!(
                    xml,
                    "    <testcase name=\"cluster\" classname=\"tagwarden.{command}\">\n      <error message=\"{}\" type=\"unreachable\">{}</error>\n    </testcase>",
                    attribute(reason),
                    text(reason)
                );
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

fn testcase<L: Located, X>(xml: &mut String, image: &ImageReport<L, X>, command: &str) {
    let _ = write!(
        xml,
        "    <testcase name=\"{}\" classname=\"tagwarden.{command}\"",
        attribute(&image.image)
    );
    if let Some((file, line)) = image.locations.first().and_then(Located::file_line) {
        let _ = write!(xml, " file=\"{}\" line=\"{line}\"", attribute(file));
    }
    xml.push_str(">\n");
    let reason = image.reason.as_deref().unwrap_or("");
    let mut body = String::new();
    if let Some(fallback) = &image.fallback {
        let _ = writeln!(body, "fallback: {fallback}");
    }
    let element = match image.status {
        ImageStatus::Present => None,
        ImageStatus::Missing | ImageStatus::Invalid => Some("failure"),
        ImageStatus::Denied | ImageStatus::Unreachable => Some("error"),
    };
    if let Some(element) = element {
        let _ = writeln!(
            xml,
            "      <{element} message=\"{}\" type=\"{}\">{}</{element}>",
            attribute(reason),
            image.status.as_str(),
            text(&format!("{}: {reason}\n{body}", image.image))
        );
    }
    let mut out = String::new();
    if let Some(digest) = &image.digest {
        let _ = writeln!(out, "digest: {digest}");
    }
    for location in &image.locations {
        let _ = writeln!(out, "{} {}", location.describe(), location.path());
    }
    let _ = writeln!(xml, "      <system-out>{}</system-out>", text(&out));
    xml.push_str("    </testcase>\n");
}

/// Text content: `&`, `<`, `>` escaped; characters XML 1.0 cannot carry at all (most
/// control characters, U+FFFE, U+FFFF) replaced by U+FFFD.
fn text(s: &str) -> String {
    escape(s, false)
}

/// An attribute value in double quotes: also `"` and `'`, and tabs and line breaks as
/// character references so that they survive attribute normalisation.
fn attribute(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&apos;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{attribute, text};

    #[test]
    fn escapes_markup_and_drops_what_xml_cannot_carry() {
        assert_eq!(text("a<b>&c\"'"), "a&lt;b&gt;&amp;c\"'");
        assert_eq!(attribute("a\"b'\n\t"), "a&quot;b&apos;&#10;&#9;");
        assert_eq!(text("x\u{1}y\r\n"), "x\u{FFFD}y&#13;\n");
    }
}
