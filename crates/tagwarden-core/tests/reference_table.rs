//! Table and property tests for `tagwarden_core::reference`.
//!
//! Every test name contains "reference" so that
//! `cargo test -p tagwarden-core reference` runs them all.

use proptest::prelude::*;
use tagwarden_core::reference::{Reference, ReferenceError, validate_digest, validate_tag};

/// A real-shaped sha256 digest; `{D}` in table inputs expands to it.
const D: &str = "sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7";

fn expand(s: &str) -> String {
    s.replace("{D}", D)
        .replace("{T128}", &format!("t{}", "a".repeat(127)))
        .replace("{T129}", &"a".repeat(129))
        .replace("{SHA512}", &format!("sha512:{}", "0f".repeat(64)))
        .replace("{HEX64}", &"ab".repeat(32))
        .replace("{HEX64UP}", &"AB".repeat(32))
}

struct Valid {
    input: &'static str,
    registry: &'static str,
    api_host: &'static str,
    repository: &'static str,
    tag: Option<&'static str>,
    digest: Option<&'static str>,
    normalized: &'static str,
}

const HUB: &str = "docker.io";
const HUB_API: &str = "registry-1.docker.io";

#[rustfmt::skip]
const VALID: &[Valid] = &[
    // Docker Hub short names and the library/ prefix.
    Valid { input: "busybox", registry: HUB, api_host: HUB_API, repository: "library/busybox", tag: None, digest: None, normalized: "docker.io/library/busybox" },
    Valid { input: "busybox:1.36", registry: HUB, api_host: HUB_API, repository: "library/busybox", tag: Some("1.36"), digest: None, normalized: "docker.io/library/busybox:1.36" },
    Valid { input: "busybox:latest", registry: HUB, api_host: HUB_API, repository: "library/busybox", tag: Some("latest"), digest: None, normalized: "docker.io/library/busybox:latest" },
    Valid { input: "library/busybox:1.36", registry: HUB, api_host: HUB_API, repository: "library/busybox", tag: Some("1.36"), digest: None, normalized: "docker.io/library/busybox:1.36" },
    Valid { input: "docker.io/busybox:1.36", registry: HUB, api_host: HUB_API, repository: "library/busybox", tag: Some("1.36"), digest: None, normalized: "docker.io/library/busybox:1.36" },
    Valid { input: "docker.io/library/busybox", registry: HUB, api_host: HUB_API, repository: "library/busybox", tag: None, digest: None, normalized: "docker.io/library/busybox" },
    Valid { input: "index.docker.io/library/busybox:1.36", registry: HUB, api_host: HUB_API, repository: "library/busybox", tag: Some("1.36"), digest: None, normalized: "docker.io/library/busybox:1.36" },
    Valid { input: "index.docker.io/busybox", registry: HUB, api_host: HUB_API, repository: "library/busybox", tag: None, digest: None, normalized: "docker.io/library/busybox" },
    Valid { input: "clastix/kubectl:v1.30.2", registry: HUB, api_host: HUB_API, repository: "clastix/kubectl", tag: Some("v1.30.2"), digest: None, normalized: "docker.io/clastix/kubectl:v1.30.2" },
    Valid { input: "bitnami/kubectl:1.29.3-debian-12-r0", registry: HUB, api_host: HUB_API, repository: "bitnami/kubectl", tag: Some("1.29.3-debian-12-r0"), digest: None, normalized: "docker.io/bitnami/kubectl:1.29.3-debian-12-r0" },
    Valid { input: "docker.io/org/app", registry: HUB, api_host: HUB_API, repository: "org/app", tag: None, digest: None, normalized: "docker.io/org/app" },
    Valid { input: "0", registry: HUB, api_host: HUB_API, repository: "library/0", tag: None, digest: None, normalized: "docker.io/library/0" },
    // Other registries and nested paths.
    Valid { input: "ghcr.io/org/app:v1", registry: "ghcr.io", api_host: "ghcr.io", repository: "org/app", tag: Some("v1"), digest: None, normalized: "ghcr.io/org/app:v1" },
    Valid { input: "ghcr.io/org/team/app:v2.0.0", registry: "ghcr.io", api_host: "ghcr.io", repository: "org/team/app", tag: Some("v2.0.0"), digest: None, normalized: "ghcr.io/org/team/app:v2.0.0" },
    Valid { input: "quay.io/a/b/c/d/e", registry: "quay.io", api_host: "quay.io", repository: "a/b/c/d/e", tag: None, digest: None, normalized: "quay.io/a/b/c/d/e" },
    Valid { input: "registry.k8s.io/kube-apiserver:v1.30.0", registry: "registry.k8s.io", api_host: "registry.k8s.io", repository: "kube-apiserver", tag: Some("v1.30.0"), digest: None, normalized: "registry.k8s.io/kube-apiserver:v1.30.0" },
    Valid { input: "a.b/c", registry: "a.b", api_host: "a.b", repository: "c", tag: None, digest: None, normalized: "a.b/c" },
    Valid { input: "registry-1.docker.io/library/busybox", registry: "registry-1.docker.io", api_host: "registry-1.docker.io", repository: "library/busybox", tag: None, digest: None, normalized: "registry-1.docker.io/library/busybox" },
    // Ports, IPv4, IPv6, localhost.
    Valid { input: "registry.example.com:5000/app:1", registry: "registry.example.com:5000", api_host: "registry.example.com:5000", repository: "app", tag: Some("1"), digest: None, normalized: "registry.example.com:5000/app:1" },
    Valid { input: "docker.io:443/busybox", registry: "docker.io:443", api_host: "docker.io:443", repository: "busybox", tag: None, digest: None, normalized: "docker.io:443/busybox" },
    Valid { input: "localhost/app", registry: "localhost", api_host: "localhost", repository: "app", tag: None, digest: None, normalized: "localhost/app" },
    Valid { input: "localhost:5000/app:dev", registry: "localhost:5000", api_host: "localhost:5000", repository: "app", tag: Some("dev"), digest: None, normalized: "localhost:5000/app:dev" },
    Valid { input: "127.0.0.1:5000/app", registry: "127.0.0.1:5000", api_host: "127.0.0.1:5000", repository: "app", tag: None, digest: None, normalized: "127.0.0.1:5000/app" },
    Valid { input: "10.0.0.1/team/app:1", registry: "10.0.0.1", api_host: "10.0.0.1", repository: "team/app", tag: Some("1"), digest: None, normalized: "10.0.0.1/team/app:1" },
    Valid { input: "[::1]:5000/app:v1", registry: "[::1]:5000", api_host: "[::1]:5000", repository: "app", tag: Some("v1"), digest: None, normalized: "[::1]:5000/app:v1" },
    Valid { input: "[2001:db8::1]/app", registry: "[2001:db8::1]", api_host: "[2001:db8::1]", repository: "app", tag: None, digest: None, normalized: "[2001:db8::1]/app" },
    // No '/': "localhost:5000" is Docker Hub's library/localhost with tag 5000, as in Docker.
    Valid { input: "localhost:5000", registry: HUB, api_host: HUB_API, repository: "library/localhost", tag: Some("5000"), digest: None, normalized: "docker.io/library/localhost:5000" },
    Valid { input: "ghcr.io", registry: HUB, api_host: HUB_API, repository: "library/ghcr.io", tag: None, digest: None, normalized: "docker.io/library/ghcr.io" },
    // An uppercase first component is a registry host (Docker's splitDockerDomain).
    Valid { input: "Foo/bar:1", registry: "Foo", api_host: "Foo", repository: "bar", tag: Some("1"), digest: None, normalized: "Foo/bar:1" },
    // Digests.
    Valid { input: "busybox@{D}", registry: HUB, api_host: HUB_API, repository: "library/busybox", tag: None, digest: Some("{D}"), normalized: "docker.io/library/busybox@{D}" },
    Valid { input: "busybox:1.36@{D}", registry: HUB, api_host: HUB_API, repository: "library/busybox", tag: Some("1.36"), digest: Some("{D}"), normalized: "docker.io/library/busybox:1.36@{D}" },
    Valid { input: "ghcr.io/org/app@{D}", registry: "ghcr.io", api_host: "ghcr.io", repository: "org/app", tag: None, digest: Some("{D}"), normalized: "ghcr.io/org/app@{D}" },
    Valid { input: "localhost:5000/org/app:v1@{D}", registry: "localhost:5000", api_host: "localhost:5000", repository: "org/app", tag: Some("v1"), digest: Some("{D}"), normalized: "localhost:5000/org/app:v1@{D}" },
    Valid { input: "app@{SHA512}", registry: HUB, api_host: HUB_API, repository: "library/app", tag: None, digest: Some("{SHA512}"), normalized: "docker.io/library/app@{SHA512}" },
    Valid { input: "app@blake3:0123456789ABCDEF0123456789abcdef", registry: HUB, api_host: HUB_API, repository: "library/app", tag: None, digest: Some("blake3:0123456789ABCDEF0123456789abcdef"), normalized: "docker.io/library/app@blake3:0123456789ABCDEF0123456789abcdef" },
    Valid { input: "app@multi+part.alg_x-y:0123456789abcdef0123456789abcdef", registry: HUB, api_host: HUB_API, repository: "library/app", tag: None, digest: Some("multi+part.alg_x-y:0123456789abcdef0123456789abcdef"), normalized: "docker.io/library/app@multi+part.alg_x-y:0123456789abcdef0123456789abcdef" },
    // Separators.
    Valid { input: "a__b/c:1", registry: HUB, api_host: HUB_API, repository: "a__b/c", tag: Some("1"), digest: None, normalized: "docker.io/a__b/c:1" },
    Valid { input: "a--b", registry: HUB, api_host: HUB_API, repository: "library/a--b", tag: None, digest: None, normalized: "docker.io/library/a--b" },
    Valid { input: "a---b/c_d", registry: HUB, api_host: HUB_API, repository: "a---b/c_d", tag: None, digest: None, normalized: "docker.io/a---b/c_d" },
    Valid { input: "org/a.b_c-d:x", registry: HUB, api_host: HUB_API, repository: "org/a.b_c-d", tag: Some("x"), digest: None, normalized: "docker.io/org/a.b_c-d:x" },
    Valid { input: "a.b.c", registry: HUB, api_host: HUB_API, repository: "library/a.b.c", tag: None, digest: None, normalized: "docker.io/library/a.b.c" },
    // Tags.
    Valid { input: "app:{T128}", registry: HUB, api_host: HUB_API, repository: "library/app", tag: Some("{T128}"), digest: None, normalized: "docker.io/library/app:{T128}" },
    Valid { input: "busybox:_under", registry: HUB, api_host: HUB_API, repository: "library/busybox", tag: Some("_under"), digest: None, normalized: "docker.io/library/busybox:_under" },
    Valid { input: "busybox:1.0.0-RC1", registry: HUB, api_host: HUB_API, repository: "library/busybox", tag: Some("1.0.0-RC1"), digest: None, normalized: "docker.io/library/busybox:1.0.0-RC1" },
];

#[test]
fn valid_reference_table() {
    assert!(VALID.len() >= 30);
    for row in VALID {
        let input = expand(row.input);
        let r = Reference::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.original(), input, "original of {input}");
        assert_eq!(r.to_string(), input, "Display of {input}");
        assert_eq!(r.registry(), row.registry, "registry of {input}");
        assert_eq!(r.api_host(), row.api_host, "api_host of {input}");
        assert_eq!(r.repository(), row.repository, "repository of {input}");
        assert_eq!(
            r.tag().map(str::to_owned),
            row.tag.map(expand),
            "tag of {input}"
        );
        assert_eq!(
            r.digest().map(str::to_owned),
            row.digest.map(expand),
            "digest of {input}"
        );
        assert_eq!(
            r.normalized(),
            expand(row.normalized),
            "normalized of {input}"
        );
        assert_eq!(
            r.is_docker_hub(),
            row.registry == HUB,
            "is_docker_hub of {input}"
        );
        // The name as written is the input up to the tag or digest.
        let mut rebuilt = r.name_as_written().to_owned();
        if let Some(t) = r.tag() {
            rebuilt = format!("{rebuilt}:{t}");
        }
        if let Some(d) = r.digest() {
            rebuilt = format!("{rebuilt}@{d}");
        }
        assert_eq!(rebuilt, input, "name_as_written of {input}");
        // The normalised form parses to the same image.
        let n = Reference::parse(&r.normalized()).unwrap();
        assert_eq!(
            n.normalized(),
            r.normalized(),
            "normalized of normalized {input}"
        );
        assert_eq!(n.registry(), r.registry());
        assert_eq!(n.repository(), r.repository());
        // FromStr agrees with parse.
        assert_eq!(input.parse::<Reference>().unwrap(), r);
    }
}

#[test]
fn reference_name_as_written_keeps_user_spelling() {
    let cases = [
        ("busybox:1.36", "busybox"),
        ("clastix/kubectl:v1", "clastix/kubectl"),
        (
            "index.docker.io/library/busybox:1.36",
            "index.docker.io/library/busybox",
        ),
        ("[::1]:5000/app:v1", "[::1]:5000/app"),
        ("localhost:5000/app@{D}", "localhost:5000/app"),
    ];
    for (input, name) in cases {
        let r = Reference::parse(&expand(input)).unwrap();
        assert_eq!(r.name_as_written(), name, "{input}");
    }
}

/// (input, fragments that must all appear in the error message)
#[rustfmt::skip]
const INVALID: &[(&str, &[&str])] = &[
    ("", &["empty"]),
    ("   ", &["blank"]),
    ("Foo/Bar:1", &["repository name must be lowercase", "write \"foo/bar:1\"", "\"Foo\" counts as a registry host"]),
    ("Ubuntu:22.04", &["repository name must be lowercase", "write \"ubuntu:22.04\""]),
    ("ghcr.io/Org/app:v1", &["repository name must be lowercase", "write \"ghcr.io/org/app:v1\""]),
    ("https://ghcr.io/x", &["remove the scheme \"https://\"", "write \"ghcr.io/x\""]),
    ("oci://ghcr.io/x/", &["remove the scheme \"oci://\"", "write \"ghcr.io/x\""]),
    ("busybox:", &["':' is not followed by a tag", "remove the ':'"]),
    ("busybox:.1", &["must start with a letter, digit or '_'", "'.'"]),
    ("busybox:-rc1", &["must start with a letter, digit or '_'", "'-'"]),
    ("busybox:{T129}", &["129 characters", "limit is 128"]),
    ("busybox:1.0+build", &["'+' is not allowed in a tag"]),
    ("busybox@sha256:abc", &["exactly 64 hex digits", "has 3"]),
    ("busybox@sha256:{HEX64}0", &["exactly 64 hex digits", "has 65"]),
    ("busybox@sha256:{HEX64UP}", &["lowercase hex"]),
    ("busybox@SHA256:{HEX64}", &["algorithm is written in lowercase", "sha256"]),
    ("busybox@md5", &["no ':'", "sha256:<64 lowercase hex digits>"]),
    ("busybox@blake3:abc", &["at least 32"]),
    ("busybox@1sha:{HEX64}", &["algorithm \"1sha\" is malformed"]),
    ("busybox@sha256:{HEX64}x", &["'x'", "only hex digits"]),
    ("busybox@", &["'@' is not followed by a digest"]),
    ("busybox@{D}@{D}", &["more than one '@'"]),
    ("a//b", &["empty component", "remove the extra '/'"]),
    ("/busybox", &["empty component"]),
    ("busybox/", &["empty component"]),
    ("ghcr.io/", &["registry \"ghcr.io\" is not followed by a repository"]),
    ("busybox_", &["ends with the separator '_'", "remove the trailing separator"]),
    ("org/app-:1", &["ends with the separator '-'"]),
    ("-busybox", &["starts with '-'"]),
    ("a..b", &["separator \"..\""]),
    ("a___b", &["separator \"___\""]),
    ("a-_b", &["separator \"-_\""]),
    (" busybox", &["leading or trailing whitespace", "write \"busybox\""]),
    ("busybox:1.36\n", &["leading or trailing whitespace"]),
    ("bus box", &["contains whitespace"]),
    ("bus?box", &["'?' at position 4 is not allowed"]),
    ("büsybox", &["'ü' at position 2 is not allowed"]),
    ("localhost:abc/app", &["port \"abc\"", "is not a number"]),
    ("localhost:99999/app", &["port 99999", "out of range"]),
    ("ghcr.io:/app", &["not followed by a port"]),
    ("[::1/app", &["unclosed '['"]),
    ("[zz]:5000/app", &["\"[zz]\" is not a valid IPv6 address"]),
    ("[::1]x:5000/app", &["unexpected \"x:5000\""]),
    ("::1/app", &["bare IPv6 address", "brackets"]),
    ("[::1]:5000", &["\"[::1]:5000\" looks like a registry host without a repository", "\"[::1]:5000/app\""]),
    ("[::1]", &["registry host without a repository"]),
    ("my_registry.io/app", &["registry host \"my_registry.io\" contains '_'"]),
    ("-bad.io/app", &["starts or ends with '-'"]),
    ("bad..io/app", &["empty label"]),
    ("nginx:1.27:latest", &["\"nginx:1.27\" contains ':'"]),
    (":1.0", &["repository name before ':' is missing", "\"nginx:1.0\""]),
    ("@{D}", &["repository name before '@' is missing"]),
    ("{HEX64}", &["image ID"]),
];

#[test]
fn invalid_reference_table() {
    assert!(INVALID.len() >= 20);
    for (input, fragments) in INVALID {
        let input = expand(input);
        let err = Reference::parse(&input).expect_err(&input);
        let msg = err.to_string();
        let prefix = format!("invalid image reference {input:?}: ");
        assert!(msg.starts_with(&prefix), "{msg}");
        assert!(!msg.contains('\n'), "multi-line message: {msg}");
        assert_eq!(err.input(), input);
        assert_eq!(&msg[prefix.len()..], err.reason());
        assert!(matches!(err, ReferenceError::Invalid { .. }));
        for fragment in *fragments {
            let fragment = expand(fragment);
            assert!(
                msg.contains(&fragment),
                "{input:?}: {msg:?} lacks {fragment:?}"
            );
        }
    }
}

#[test]
fn reference_error_display_is_exact() {
    let err = Reference::parse("Foo/Bar:1").unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"invalid image reference "Foo/Bar:1": repository name must be lowercase; write "foo/bar:1" ("Foo" counts as a registry host only because it has uppercase letters)"#
    );
    assert_eq!(
        err,
        ReferenceError::Invalid {
            reference: "Foo/Bar:1".into(),
            reason: err.reason().into()
        }
    );
}

#[test]
fn reference_name_length_limit() {
    // docker.io/library/ is 18 characters: 237 more makes exactly 255.
    let ok = "a".repeat(255 - "docker.io/library/".len());
    assert!(Reference::parse(&ok).is_ok());
    let too_long = format!("{ok}a");
    let msg = Reference::parse(&too_long).unwrap_err().to_string();
    assert!(
        msg.contains("256 characters") && msg.contains("limit is 255"),
        "{msg}"
    );
    // Very long input is cut in the message but the error keeps it whole.
    let huge = "a".repeat(10_000);
    let err = Reference::parse(&huge).unwrap_err();
    assert_eq!(err.input(), huge);
    assert!(err.to_string().len() < 1000);
}

#[test]
fn reference_with_tag_keeps_spelling_and_drops_digest() {
    let r = Reference::parse("busybox:1.36").unwrap();
    assert_eq!(r.with_tag("1.35").unwrap().to_string(), "busybox:1.35");

    let r = Reference::parse("index.docker.io/library/busybox:1.36").unwrap();
    let t = r.with_tag("1.35").unwrap();
    assert_eq!(t.to_string(), "index.docker.io/library/busybox:1.35");
    assert_eq!(t.normalized(), "docker.io/library/busybox:1.35");

    let r = Reference::parse(&format!("ghcr.io/org/app:v1@{D}")).unwrap();
    let t = r.with_tag("v2").unwrap();
    assert_eq!(t.to_string(), "ghcr.io/org/app:v2");
    assert_eq!(t.digest(), None);

    let r = Reference::parse("busybox").unwrap();
    assert_eq!(r.with_tag("1").unwrap().to_string(), "busybox:1");

    let err = r.with_tag("bad tag").unwrap_err();
    assert!(matches!(err, ReferenceError::InvalidTag { .. }));
    assert_eq!(
        err.to_string(),
        r#"invalid tag "bad tag": ' ' is not allowed in a tag (letters, digits, '_', '.' and '-' are)"#
    );
}

#[test]
fn reference_with_digest_keeps_tag() {
    let r = Reference::parse("busybox:1.36").unwrap();
    let d = r.with_digest(D).unwrap();
    assert_eq!(d.to_string(), format!("busybox:1.36@{D}"));
    assert_eq!(d.tag(), Some("1.36"));
    assert_eq!(d.digest(), Some(D));
    assert_eq!(d, Reference::parse(&d.to_string()).unwrap());

    let other = format!("sha256:{}", "cd".repeat(32));
    let replaced = d.with_digest(&other).unwrap();
    assert_eq!(replaced.to_string(), format!("busybox:1.36@{other}"));

    let err = r.with_digest("sha256:abc").unwrap_err();
    assert!(matches!(err, ReferenceError::InvalidDigest { .. }));
    assert!(
        err.to_string()
            .starts_with(r#"invalid digest "sha256:abc": "#)
    );
}

#[test]
fn reference_validate_tag_and_digest_helpers() {
    assert!(validate_tag("v1.2.3").is_ok());
    assert!(validate_tag(&"a".repeat(128)).is_ok());
    assert!(validate_tag(&"a".repeat(129)).is_err());
    assert!(validate_tag("").unwrap_err().to_string().contains("empty"));
    assert!(validate_tag("a/b").is_err());
    assert!(validate_tag("ü").is_err());
    assert!(validate_digest(D).is_ok());
    assert!(validate_digest("sha256:").is_err());
}

#[test]
fn reference_serde_uses_display_string() {
    let r = Reference::parse("busybox:1.36").unwrap();
    assert_eq!(serde_json::to_string(&r).unwrap(), r#""busybox:1.36""#);
    let back: Reference = serde_json::from_str(r#""busybox:1.36""#).unwrap();
    assert_eq!(back, r);
    let err = serde_json::from_str::<Reference>(r#""Foo/Bar""#).unwrap_err();
    assert!(err.to_string().contains("must be lowercase"), "{err}");
}

#[test]
fn reference_equality_is_by_spelling() {
    let a = Reference::parse("busybox").unwrap();
    let b = Reference::parse("docker.io/library/busybox").unwrap();
    assert_ne!(a, b);
    assert_eq!(a.normalized(), b.normalized());
}

// ---------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------

/// A generated reference with what the parser must find in it.
#[derive(Debug, Clone)]
struct Generated {
    text: String,
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

fn domain_component() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?"
}

/// Hosts that Docker's rule always recognises as a registry (contain '.', are
/// localhost, contain uppercase, or get a port), with an optional port.
fn domain() -> impl Strategy<Value = String> {
    let dotted = prop::collection::vec(domain_component(), 2..4).prop_map(|v| v.join("."));
    let ipv4 = any::<[u8; 4]>().prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]));
    let ipv6 = prop_oneof![
        Just("[::1]".to_owned()),
        Just("[2001:db8::1]".to_owned()),
        Just("[fe80::1:2:3:4]".to_owned()),
        Just("[::]".to_owned()),
        any::<[u16; 8]>().prop_map(|s| {
            let parts: Vec<String> = s.iter().map(|p| format!("{p:x}")).collect();
            format!("[{}]", parts.join(":"))
        }),
    ];
    let upper_single = "[a-z0-9]{0,3}[A-Z][a-zA-Z0-9]{0,3}";
    let host = prop_oneof![
        dotted,
        ipv4,
        ipv6,
        Just("localhost".to_owned()),
        Just("docker.io".to_owned()),
        Just("index.docker.io".to_owned()),
        upper_single.prop_map(|s: String| s),
    ];
    (host, prop::option::of(any::<u16>()))
        .prop_map(|(h, p)| p.map_or_else(|| h.clone(), |p| format!("{h}:{p}")))
}

fn path_component() -> impl Strategy<Value = String> {
    let sep = prop_oneof![
        Just(".".to_owned()),
        Just("_".to_owned()),
        Just("__".to_owned()),
        "-{1,3}",
    ];
    (
        "[a-z0-9]{1,6}",
        prop::collection::vec((sep, "[a-z0-9]{1,6}"), 0..3),
    )
        .prop_map(|(head, rest)| {
            let mut s = head;
            for (sep, alnum) in rest {
                s.push_str(&sep);
                s.push_str(&alnum);
            }
            s
        })
}

fn tag() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
}

fn digest() -> impl Strategy<Value = String> {
    let other = "[A-Za-z][A-Za-z0-9]{0,4}([-_+.][A-Za-z][A-Za-z0-9]{0,4}){0,2}:[0-9a-fA-F]{32,70}"
        .prop_filter("not a known algorithm", |d: &String| {
            let alg = d.split(':').next().unwrap().to_ascii_lowercase();
            !["sha256", "sha384", "sha512"].contains(&alg.as_str())
        });
    prop_oneof![
        "sha256:[0-9a-f]{64}",
        "sha384:[0-9a-f]{96}",
        "sha512:[0-9a-f]{128}",
        other,
    ]
}

fn generated() -> impl Strategy<Value = Generated> {
    (
        prop::option::of(domain()),
        prop::collection::vec(path_component(), 1..4),
        prop::option::of(tag()),
        prop::option::of(digest()),
    )
        .prop_filter_map("ambiguous or too long", |(domain, path, tag, digest)| {
            // Without a registry, a first component with '.' would be read as a host;
            // keep the generator's intent unambiguous.
            if domain.is_none() && path.len() > 1 && path[0].contains('.') {
                return None;
            }
            let path = path.join("/");
            let mut text = match &domain {
                Some(d) => format!("{d}/{path}"),
                None => path.clone(),
            };
            if let Some(t) = &tag {
                text = format!("{text}:{t}");
            }
            if let Some(d) = &digest {
                text = format!("{text}@{d}");
            }
            let registry = match domain.as_deref() {
                None | Some("index.docker.io") => "docker.io".to_owned(),
                Some(d) => d.to_owned(),
            };
            let repository = if registry == "docker.io" && !path.contains('/') {
                format!("library/{path}")
            } else {
                path
            };
            if registry.len() + 1 + repository.len() > 255 {
                return None;
            }
            Some(Generated {
                text,
                registry,
                repository,
                tag,
                digest,
            })
        })
}

fn check_parsed_invariants(input: &str, r: &Reference) -> Result<(), TestCaseError> {
    prop_assert_eq!(r.to_string(), input);
    prop_assert_eq!(r.original(), input);
    let n = Reference::parse(&r.normalized())
        .map_err(|e| TestCaseError::fail(format!("normalized does not parse: {e}")))?;
    prop_assert_eq!(n.registry(), r.registry());
    prop_assert_eq!(n.repository(), r.repository());
    prop_assert_eq!(n.tag(), r.tag());
    prop_assert_eq!(n.digest(), r.digest());
    prop_assert_eq!(n.normalized(), r.normalized());
    prop_assert!(input.starts_with(r.name_as_written()));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn reference_generated_from_grammar_roundtrips(g in generated()) {
        let r = Reference::parse(&g.text)
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        check_parsed_invariants(&g.text, &r)?;
        prop_assert_eq!(r.registry(), g.registry.as_str());
        prop_assert_eq!(r.repository(), g.repository.as_str());
        prop_assert_eq!(r.tag(), g.tag.as_deref());
        prop_assert_eq!(r.digest(), g.digest.as_deref());
        let expected_api = if g.registry == "docker.io" { "registry-1.docker.io" } else { g.registry.as_str() };
        prop_assert_eq!(r.api_host(), expected_api);
    }

    #[test]
    fn reference_parse_never_panics_on_any_string(s in any::<String>()) {
        match Reference::parse(&s) {
            Ok(r) => check_parsed_invariants(&s, &r)?,
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.starts_with("invalid image reference "));
                prop_assert!(!msg.contains('\n'));
            }
        }
    }

    #[test]
    fn reference_parse_never_panics_on_reference_alphabet(s in "[a-zA-Z0-9:/@._+\\[\\] -]{0,80}") {
        match Reference::parse(&s) {
            Ok(r) => check_parsed_invariants(&s, &r)?,
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.starts_with("invalid image reference "));
                prop_assert!(!msg.contains('\n'));
            }
        }
    }

    #[test]
    fn reference_with_tag_sets_tag_and_keeps_name(g in generated(), t in tag()) {
        let r = Reference::parse(&g.text).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let w = r.with_tag(&t).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(w.tag(), Some(t.as_str()));
        prop_assert_eq!(w.digest(), None);
        prop_assert_eq!(w.name_as_written(), r.name_as_written());
        prop_assert_eq!(w.registry(), r.registry());
        prop_assert_eq!(w.repository(), r.repository());
        let reparsed = Reference::parse(&w.to_string()).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(reparsed, w);
    }

    #[test]
    fn reference_with_digest_sets_digest_and_keeps_tag(g in generated(), d in digest()) {
        let r = Reference::parse(&g.text).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let w = r.with_digest(&d).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(w.digest(), Some(d.as_str()));
        prop_assert_eq!(w.tag(), r.tag());
        prop_assert_eq!(w.name_as_written(), r.name_as_written());
        let reparsed = Reference::parse(&w.to_string()).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(reparsed, w);
    }

    #[test]
    fn reference_tags_outside_grammar_are_rejected(t in "[A-Za-z0-9_.-]{0,140}") {
        let grammar_ok = !t.is_empty()
            && t.len() <= 128
            && !t.starts_with(['.', '-']);
        prop_assert_eq!(validate_tag(&t).is_ok(), grammar_ok);
    }
}
