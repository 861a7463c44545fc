//! Which images a pattern names: the kubelet's `URLsMatchStr` rules, used both for a
//! provider's `matchImages` and for the keys of a plugin's `auth` answer.
//!
//! A pattern and an image are both schemeless URLs, `HOST[:PORT][/PATH]`. They match when
//! all of these hold:
//!
//! - the ports are equal (no port on one side and a port on the other is a mismatch);
//! - the hosts have the same number of dot-separated labels, and each label of the pattern
//!   matches the image's label as a glob (`*`, `?`, `[a-z]`, `[^0-9]`, `\*`; a `*` never
//!   crosses a dot, so `*.example.com` matches `a.example.com` but not `a.b.example.com`
//!   nor `example.com`);
//! - the pattern's path is a string prefix of the image's path (`registry.io/team`
//!   matches `registry.io/team/app`, and also `registry.io/teams`, as in the kubelet).
//!
//! These are the examples of the kubelet's own tests; see this module's tests.

/// True when the image `image` (`HOST[:PORT]/REPOSITORY`, no tag) is matched by `pattern`
/// (a `matchImages` entry or an `auth` key of a plugin's answer, without scheme).
pub fn image_matches(pattern: &str, image: &str) -> bool {
    let pattern = SchemelessUrl::parse(pattern);
    let target = SchemelessUrl::parse(image);
    if pattern.port != target.port || !target.path.starts_with(pattern.path) {
        return false;
    }
    let pattern_labels: Vec<&str> = pattern.host.split('.').collect();
    let target_labels: Vec<&str> = target.host.split('.').collect();
    pattern_labels.len() == target_labels.len()
        && pattern_labels
            .iter()
            .zip(&target_labels)
            .all(|(glob, label)| glob_matches(glob, label) == Some(true))
}

/// Why `pattern` can never be a valid `matchImages` entry, if it cannot: an empty host, a
/// port that is not a number, whitespace, or a glob with an unclosed `[`.
pub(crate) fn pattern_problem(pattern: &str) -> Option<String> {
    if pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("it contains whitespace".into());
    }
    if pattern.contains("://") {
        return Some("give HOST[:PORT][/PATH] without a scheme".into());
    }
    let url = SchemelessUrl::parse(pattern);
    if url.host.is_empty() {
        return Some("it has no host".into());
    }
    if let Some(port) = url.port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some(format!("the port {port:?} is not a number"));
    }
    url.host
        .split('.')
        .find(|label| glob_matches(label, "").is_none())
        .map(|label| format!("{label:?} is not a valid glob"))
}

/// `HOST[:PORT][/PATH]` split as Go's `url.Parse("https://" + s)` and `net.SplitHostPort`
/// split it.
struct SchemelessUrl<'a> {
    host: &'a str,
    port: Option<&'a str>,
    path: &'a str,
}

impl<'a> SchemelessUrl<'a> {
    fn parse(text: &'a str) -> Self {
        let (authority, path) = match text.find('/') {
            Some(slash) => text.split_at(slash),
            None => (text, ""),
        };
        let (host, port) = split_host_port(authority);
        SchemelessUrl { host, port, path }
    }
}

/// `net.SplitHostPort`, leniently: `[v6]:port`, `host:port`, else the whole authority is
/// the host (no port, or a form Go refuses to split, such as two colons).
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[')
        && let Some(end) = rest.find(']')
    {
        let host = &rest[..end];
        return match rest[end + 1..].strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None => (authority, None),
        };
    }
    match authority.split_once(':') {
        Some((host, port)) if !port.contains(':') => (host, Some(port)),
        _ => (authority, None),
    }
}

/// One element of a glob.
#[derive(Debug)]
enum Glob {
    /// `*`: any run of characters.
    Star,
    /// `?`: any one character.
    Any,
    /// `[…]`: one character in (or, negated, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// A character that matches itself (`\c` escapes).
    Literal(char),
}

/// Go's `path.Match(pattern, text)` for text without `/`: `Some(matched)`, or `None` when
/// the pattern is malformed (Go's `ErrBadPattern`, which the kubelet counts as no match).
fn glob_matches(pattern: &str, text: &str) -> Option<bool> {
    let globs = compile(pattern)?;
    let text: Vec<char> = text.chars().collect();
    Some(match_from(&globs, &text))
}

fn compile(pattern: &str) -> Option<Vec<Glob>> {
    let mut chars = pattern.chars().peekable();
    let mut globs = Vec::new();
    while let Some(c) = chars.next() {
        globs.push(match c {
            '*' => Glob::Star,
            '?' => Glob::Any,
            '\\' => Glob::Literal(chars.next()?),
            '[' => {
                let negated = chars.next_if_eq(&'^').is_some();
                let mut ranges = Vec::new();
                loop {
                    let low = match chars.next()? {
                        ']' if !ranges.is_empty() => break,
                        ']' | '-' => return None,
                        '\\' => chars.next()?,
                        other => other,
                    };
                    let high = if chars.next_if_eq(&'-').is_some() {
                        match chars.next()? {
                            ']' | '-' => return None,
                            '\\' => chars.next()?,
                            other => other,
                        }
                    } else {
                        low
                    };
                    ranges.push((low, high));
                }
                Glob::Class { negated, ranges }
            }
            other => Glob::Literal(other),
        });
    }
    Some(globs)
}

/// Backtracking match; patterns are host labels, so short.
fn match_from(globs: &[Glob], text: &[char]) -> bool {
    let Some((first, rest)) = globs.split_first() else {
        return text.is_empty();
    };
    match first {
        Glob::Star => (0..=text.len()).any(|skip| match_from(rest, &text[skip..])),
        one => match text.split_first() {
            Some((c, text_rest)) => matches_one(one, *c) && match_from(rest, text_rest),
            None => false,
        },
    }
}

fn matches_one(glob: &Glob, c: char) -> bool {
    match glob {
        Glob::Star | Glob::Any => true,
        Glob::Literal(l) => *l == c,
        Glob::Class { negated, ranges } => {
            ranges.iter().any(|(low, high)| (*low..=*high).contains(&c)) != *negated
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kubelet's `TestURLsMatch` table (pkg/credentialprovider/keyring_test.go).
    #[test]
    fn the_kubelets_own_examples() {
        let cases = [
            // no path component
            ("*.kubernetes.io", "prefix.kubernetes.io", true),
            ("prefix.*.io", "prefix.kubernetes.io", true),
            ("prefix.kubernetes.*", "prefix.kubernetes.io", true),
            ("*-good.kubernetes.io", "prefix-good.kubernetes.io", true),
            // path components
            ("*.kubernetes.io/blah", "prefix.kubernetes.io/blah", true),
            ("prefix.*.io/foo", "prefix.kubernetes.io/foo/bar", true),
            // path components and ports
            (
                "*.kubernetes.io:1111/blah",
                "prefix.kubernetes.io:1111/blah",
                true,
            ),
            (
                "prefix.*.io:1111/foo",
                "prefix.kubernetes.io:1111/foo/bar",
                true,
            ),
            // the number of labels differs
            ("*.kubernetes.io", "kubernetes.io", false),
            ("*.*.kubernetes.io", "prefix.kubernetes.io", false),
            ("*.*.kubernetes.io", "kubernetes.io", false),
            // some labels differ
            ("kubernetes.io", "kubernetes.com", false),
            ("k*.io", "quay.io", false),
            // ports differ
            (
                "*.kubernetes.io:1234/blah",
                "prefix.kubernetes.io:1111/blah",
                false,
            ),
            (
                "prefix.*.io/foo",
                "prefix.kubernetes.io:1111/foo/bar",
                false,
            ),
        ];
        for (pattern, image, want) in cases {
            assert_eq!(image_matches(pattern, image), want, "{pattern} vs {image}");
        }
    }

    /// The kubelet's keyring examples: `TestDockerKeyringForGlob` and `TestKeyringMiss`
    /// (keys already stripped of their scheme, as the keyring stores them).
    #[test]
    fn the_kubelets_keyring_examples() {
        let hits = [
            ("hello.kubernetes.io", "hello.kubernetes.io"),
            ("*.docker.io", "prefix.docker.io"),
            ("prefix.*.io", "prefix.docker.io"),
            ("prefix.docker.*", "prefix.docker.io"),
            ("*.docker.io/path", "prefix.docker.io/path"),
            ("prefix.*.io/path", "prefix.docker.io/path/subpath"),
            ("*.docker.io:8888", "prefix.docker.io:8888"),
            ("*.docker.io/path:1111", "prefix.docker.io/path:1111"),
            ("prefix.docker.io:1111", "prefix.docker.io:1111/path"),
            ("*.docker.io:1111", "prefix.docker.io:1111/path"),
        ];
        for (pattern, target) in hits {
            let image = format!("{target}/foo/bar");
            assert!(image_matches(pattern, &image), "{pattern} vs {image}");
        }
        let misses = [
            ("hello.kubernetes.io", "world.mesos.org"),
            ("*.docker.com", "prefix.docker.io"),
            ("suffix.*.io", "prefix.docker.io"),
            ("prefix.docker.c*", "prefix.docker.io"),
            (
                "prefix.*.io/path:1111",
                "prefix.docker.io/path/subpath:1111",
            ),
        ];
        for (pattern, target) in misses {
            let image = format!("{target}/foo/bar");
            assert!(!image_matches(pattern, &image), "{pattern} vs {image}");
        }
    }

    #[test]
    fn globs_follow_go_path_match() {
        assert_eq!(glob_matches("a?c", "abc"), Some(true));
        assert_eq!(glob_matches("[a-c]x", "bx"), Some(true));
        assert_eq!(glob_matches("[^a-c]x", "bx"), Some(false));
        assert_eq!(glob_matches("[^a-c]x", "dx"), Some(true));
        assert_eq!(glob_matches("\\*", "*"), Some(true));
        assert_eq!(glob_matches("\\*", "a"), Some(false));
        assert_eq!(glob_matches("*", ""), Some(true));
        assert_eq!(glob_matches("[", "a"), None);
        assert_eq!(glob_matches("[a-", "a"), None);
        assert_eq!(glob_matches("[]", "a"), None);
        assert_eq!(glob_matches("a\\", "a"), None);
        assert!(!image_matches("[.io", "a.io"), "a bad glob never matches");
    }

    #[test]
    fn loopback_and_ipv6_hosts() {
        assert!(image_matches(
            "127.0.0.1:5000",
            "127.0.0.1:5000/private/app"
        ));
        assert!(!image_matches(
            "127.0.0.1:5000",
            "127.0.0.1:5001/private/app"
        ));
        assert!(!image_matches("127.0.0.1", "127.0.0.1:5000/private/app"));
        assert!(image_matches(
            "127.0.0.*:5000/private",
            "127.0.0.1:5000/private/app"
        ));
        assert!(image_matches("[::1]:5000", "[::1]:5000/app"));
    }

    #[test]
    fn pattern_problems_are_named() {
        assert_eq!(pattern_problem("*.dkr.ecr.*.amazonaws.com"), None);
        assert_eq!(pattern_problem("127.0.0.1:5000/team"), None);
        assert!(pattern_problem("").unwrap().contains("no host"));
        assert!(pattern_problem("a b").unwrap().contains("whitespace"));
        assert!(
            pattern_problem("https://ghcr.io")
                .unwrap()
                .contains("scheme")
        );
        assert!(pattern_problem("ghcr.io:http").unwrap().contains("port"));
        assert!(pattern_problem("[a.io").unwrap().contains("glob"));
    }
}
