//! Tag anatomy: parse tables, compatibility, ordering, `TagFormat`, and
//! property tests (round trip, total order, no panics).

use std::cmp::Ordering;

use proptest::prelude::*;
use tagwarden_core::{TagFormat, TagFormatError, VersionTag};

fn v(tag: &str) -> VersionTag {
    VersionTag::parse(tag).unwrap_or_else(|| panic!("{tag:?} should parse"))
}

/// Whether `s` matches `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, written
/// independently of the crate.
fn tag_grammar(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() || c == '_' => {}
        _ => return false,
    }
    s.len() <= 128 && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Whether `s` is a git commit hash as Renovate's docker versioning decides it (7 to 40
/// lowercase hex characters, not all digits), written independently of the crate.
fn looks_like_commit(s: &str) -> bool {
    (7..=40).contains(&s.len())
        && s.chars().all(|c| "0123456789abcdef".contains(c))
        && s.chars().any(|c| c.is_ascii_alphabetic())
}

#[test]
fn tag_parse_table() {
    let max = u64::MAX;
    let ok: &[(&str, &str, &[u64], &str)] = &[
        ("v1.31.4-debian-12", "v", &[1, 31, 4], "-debian-12"),
        ("1.32", "", &[1, 32], ""),
        ("release-1.2.3", "release-", &[1, 2, 3], ""),
        ("v1.28.0-3", "v", &[1, 28, 0], "-3"),
        ("3.19", "", &[3, 19], ""),
        ("1.36.1-musl", "", &[1, 36, 1], "-musl"),
        ("v2", "v", &[2], ""),
        ("20240101", "", &[20240101], ""),
        ("sha-abc123", "sha-abc", &[123], ""),
        ("1.2.", "", &[1, 2], "."),
        ("1.2.x", "", &[1, 2], ".x"),
        ("1..2", "", &[1], "..2"),
        ("v01.02", "v", &[1, 2], ""),
        ("v1.31.4-k3s1", "v", &[1, 31, 4], "-k3s1"),
        ("2.0.0-rc.1", "", &[2, 0, 0], "-rc.1"),
        ("alpine3.19", "alpine", &[3, 19], ""),
        ("_1.2", "_", &[1, 2], ""),
        ("V1.2", "V", &[1, 2], ""),
        ("1.2.3.4", "", &[1, 2, 3, 4], ""),
        ("v1.32_amd64", "v", &[1, 32], "_amd64"),
        ("18446744073709551615", "", &[max], ""),
        ("v0.18446744073709551615.0", "v", &[0, max, 0], ""),
        ("000000000000000000000000007", "", &[7], ""),
        // Pre-releases glued to the numbers are suffixes.
        ("3.7.0b1", "", &[3, 7, 0], "b1"),
        ("3.8.0b1-alpine", "", &[3, 8, 0], "b1-alpine"),
        ("1.2.3-", "", &[1, 2, 3], "-"),
        // Hex-like, but not a commit hash: too short, too long, uppercase, or another
        // character; and all digits is a date or build number.
        ("0a1b2c", "", &[0], "a1b2c"),
        (
            "0a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0",
            "",
            &[0],
            "a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0",
        ),
        ("0A1B2C3", "", &[0], "A1B2C3"),
        ("v0a1b2c3", "v", &[0], "a1b2c3"),
        ("sha-0a1b2c3", "sha-", &[0], "a1b2c3"),
        ("1234567", "", &[1234567], ""),
    ];
    for &(tag, prefix, parts, suffix) in ok {
        let t = v(tag);
        assert_eq!(t.prefix(), prefix, "prefix of {tag}");
        assert_eq!(t.parts(), parts, "parts of {tag}");
        assert_eq!(t.suffix(), suffix, "suffix of {tag}");
        assert_eq!(t.as_str(), tag);
        assert_eq!(t.to_string(), tag);
        assert_eq!(t.major(), parts[0]);
        assert_eq!(t.minor(), parts.get(1).copied());
        assert_eq!(t.patch(), parts.get(2).copied());
    }

    let long_ok = format!("1{}", "a".repeat(127));
    assert_eq!(v(&long_ok).suffix().len(), 127);

    let none = [
        "latest",
        "",
        "stable-alpine",
        "18446744073709551616",
        "v1.99999999999999999999999",
        "v1.31.4+k3s1",
        "sha256:abc123",
        "-1.2",
        ".1",
        "v1.32 ",
        " v1.32",
        "é1",
        "v1/32",
        &format!("1{}", "a".repeat(128)),
        // Git commit hashes: 7 to 40 lowercase hex characters with a letter.
        "0a1b2c3",
        "abc1234",
        "5e0fdde",
        "59bbb3530b6769",
        "0a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d",
    ];
    for tag in none {
        assert_eq!(VersionTag::parse(tag), None, "{tag:?} is not a version tag");
    }
}

#[test]
fn tag_compatibility_table() {
    let table = [
        ("v1.32", "v1.31", true),
        ("v1.32", "v2.0", true), // compatibility ignores the numbers
        ("v1.32", "1.31", false),
        ("v1.32", "V1.31", false),
        ("v1.32", "v1.31.0", false),
        ("v1.32", "v1", false),
        ("1.32.1-debian-12", "1.32.0-debian-12", true),
        ("1.32.1-debian-12", "1.32.0-debian-11", false),
        ("1.32.1-debian-12", "1.32.0", false),
        ("1.32.1-debian-12", "1.32.0-alpine", false),
        ("1.36.1-musl", "1.35.0-musl", true),
        ("v1.28.0-3", "v1.28.0-4", false),
        ("release-1.2.3", "release-1.2.4", true),
        ("release-1.2.3", "v1.2.4", false),
        ("v01.02", "v1.2", true),
        ("1.2.", "1.3.", true),
        ("1.2.", "1.3", false),
        ("sha-abc123", "sha-abc124", true),
        // Glued text is part of the suffix: a beta is a family of its own.
        ("3.7.0b1", "3.7.0", false),
        ("3.7.0b1", "3.7.1b1", true),
        ("3.7.0b1", "3.7.0b5", false),
        ("3.8.0b1-alpine", "3.7.0-alpine", false),
        ("1.2.3-", "1.2.4", false),
    ];
    for (a, b, expected) in table {
        let (a, b) = (v(a), v(b));
        assert_eq!(a.is_compatible(&b), expected, "{a} ~ {b}");
        assert_eq!(b.is_compatible(&a), expected, "{b} ~ {a}");
        assert!(a.is_compatible(&a));
    }
}

#[test]
fn tag_numeric_ordering_not_float() {
    assert_eq!(v("1.4").cmp_version(&v("1.32")), Ordering::Less);
    assert_eq!(v("1.9").cmp_version(&v("1.10")), Ordering::Less);
    assert_eq!(v("1.32").cmp_version(&v("1.32.0")), Ordering::Less);
    assert_eq!(v("v1.32").cmp_version(&v("1.32")), Ordering::Equal);
    assert_eq!(v("v01.32").cmp_version(&v("v1.32")), Ordering::Equal);
    assert_eq!(v("2.0").cmp_version(&v("1.99")), Ordering::Greater);
    assert!(v("1.4") < v("1.32"));
    assert!(v("v1.9") < v("v1.10"));

    let mut tags: Vec<VersionTag> = [
        "v1.10",
        "1.32",
        "v1.9",
        "1.4",
        "v1.32",
        "v01.32",
        "1.32-alpine",
        "1.32.0",
        "1",
        "v1.32.0-debian-12",
    ]
    .into_iter()
    .map(v)
    .collect();
    tags.sort();
    let sorted: Vec<&str> = tags.iter().map(VersionTag::as_str).collect();
    assert_eq!(
        sorted,
        [
            "1",
            "1.4",
            "v1.9",
            "v1.10",
            // [1, 32]: by prefix, then suffix, then text
            "1.32",
            "1.32-alpine",
            "v01.32",
            "v1.32",
            "1.32.0",
            "v1.32.0-debian-12",
        ]
    );
    // Same numbers, different text: ordered, but not equal.
    assert_ne!(v("v01.32"), v("v1.32"));
    assert_ne!(v("v01.32").cmp(&v("v1.32")), Ordering::Equal);
}

#[test]
fn tag_with_parts() {
    let t = v("v01.31.4-debian-12");
    let u = t.with_parts(&[1, 32, 0]);
    assert_eq!(u.as_str(), "v1.32.0-debian-12");
    assert_eq!(u.parts(), &[1, 32, 0]);
    assert!(u.is_compatible(&t));
    assert_eq!(Some(u.clone()), VersionTag::parse(u.as_str()));

    let shorter = t.with_parts(&[1, 32]);
    assert_eq!(shorter.as_str(), "v1.32-debian-12");
    assert!(!shorter.is_compatible(&t));
    assert_eq!(Some(shorter.clone()), VersionTag::parse(shorter.as_str()));

    assert_eq!(t.with_parts(&[]), t);

    let dot = v("1.2.").with_parts(&[1, 3]);
    assert_eq!(dot.as_str(), "1.3.");
    assert_eq!(Some(dot.clone()), VersionTag::parse(dot.as_str()));

    let big = v("v1.2").with_parts(&[u64::MAX, u64::MAX]);
    assert_eq!(big.as_str(), "v18446744073709551615.18446744073709551615");
}

#[test]
fn tag_format_table() {
    let ok: &[(&str, Option<u64>, &str, bool)] = &[
        ("v{major}.{minor}", None, "v1.32", false),
        ("v{major}.{minor}", Some(4), "v1.32", false),
        ("{major}.{minor}", None, "1.32", false),
        ("v{major}.{minor}.{patch}", Some(4), "v1.32.4", true),
        (
            "{major}.{minor}.{patch}-debian-12",
            Some(0),
            "1.32.0-debian-12",
            true,
        ),
        ("release-{major}.{minor}", None, "release-1.32", false),
        ("v{major}", None, "v1", false),
        ("kubectl_{major}_{minor}", None, "kubectl_1_32", false),
        ("{major}.{minor}.0", None, "1.32.0", false),
        ("v{major}.{minor}-{major}", None, "v1.32-1", false),
    ];
    for &(format, patch, rendered, needs_patch) in ok {
        let f = TagFormat::parse(format).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(f.as_str(), format);
        assert_eq!(f.to_string(), format);
        assert_eq!(f.needs_patch(), needs_patch, "{format}");
        assert_eq!(f.render(1, 32, patch).as_deref(), Ok(rendered), "{format}");
        assert_eq!(format.parse::<TagFormat>(), Ok(f.clone()));
    }

    let missing = TagFormat::parse("v{major}.{minor}.{patch}").unwrap();
    assert!(matches!(
        missing.render(1, 32, None),
        Err(TagFormatError::MissingPatch { .. })
    ));

    let long = format!("{}{{major}}.{{minor}}", "a".repeat(100));
    let long = TagFormat::parse(&long).unwrap();
    assert!(long.render(1, 32, None).is_ok());
    assert!(matches!(
        long.render(u64::MAX, u64::MAX, None),
        Err(TagFormatError::TooLong { length: 141, .. })
    ));
}

#[test]
fn tag_format_errors() {
    use TagFormatError as E;
    let check = |format: &str, ok: fn(&E) -> bool| {
        let err = TagFormat::parse(format).expect_err(format);
        assert!(ok(&err), "{format}: unexpected {err:?}");
        let message = err.to_string();
        assert!(!message.contains('\n'), "{message}");
        if !format.is_empty() {
            assert!(message.contains(&format!("{format:?}")), "{message}");
        }
        message
    };
    check("", |e| matches!(e, E::Empty));
    let m = check(
        "v{major}.{foo}",
        |e| matches!(e, E::UnknownPlaceholder { placeholder, .. } if placeholder == "{foo}"),
    );
    assert!(m.contains("{major}, {minor} and {patch}"), "{m}");
    check("v{}", |e| matches!(e, E::UnknownPlaceholder { .. }));
    check("v{Major}", |e| matches!(e, E::UnknownPlaceholder { .. }));
    check("v{major", |e| {
        matches!(e, E::UnbalancedBrace { position: 1, .. })
    });
    check("v{major}.minor}", |e| {
        matches!(e, E::UnbalancedBrace { position: 14, .. })
    });
    check("v{{major}}", |e| matches!(e, E::UnbalancedBrace { .. }));
    check("v{ma{jor}", |e| matches!(e, E::UnbalancedBrace { .. }));
    check("{", |e| matches!(e, E::UnbalancedBrace { .. }));
    check("latest", |e| matches!(e, E::NoPlaceholder { .. }));
    check("v{minor}", |e| matches!(e, E::MinorWithoutMajor { .. }));
    check("v{minor}.{patch}", |e| {
        matches!(e, E::MinorWithoutMajor { .. })
    });
    check("v{major}.{patch}", |e| {
        matches!(e, E::PatchWithoutMinor { .. })
    });
    check("{patch}", |e| matches!(e, E::PatchWithoutMinor { .. }));
    check("{major}{minor}", |e| {
        matches!(e, E::AdjacentPlaceholders { .. })
    });
    check("{major}.{minor}0", |e| {
        matches!(e, E::DigitNextToPlaceholder { .. })
    });
    check("{major}.1{minor}", |e| {
        matches!(e, E::DigitNextToPlaceholder { .. })
    });
    check("1{major}.{minor}", |e| {
        matches!(e, E::DigitNextToPlaceholder { .. })
    });
    check("v{major}:{minor}", |e| {
        matches!(e, E::InvalidCharacter { character: ':', .. })
    });
    check("v{major}.{minor}+k3s", |e| {
        matches!(e, E::InvalidCharacter { character: '+', .. })
    });
    check("v {major}", |e| matches!(e, E::InvalidCharacter { .. }));
    check("é{major}", |e| {
        matches!(
            e,
            E::InvalidCharacter {
                character: 'é', ..
            }
        )
    });
    check(".{major}", |e| {
        matches!(e, E::InvalidStart { character: '.', .. })
    });
    check("-v{major}", |e| matches!(e, E::InvalidStart { .. }));
    let too_long = format!("{}{{major}}", "a".repeat(128));
    check(&too_long, |e| matches!(e, E::TooLong { length: 129, .. }));
    // A newline in the format stays escaped in the one-line message.
    check("v{major}\n", |e| matches!(e, E::InvalidCharacter { .. }));
}

/// Text before the numbers: no digits, and a valid start for a tag.
fn prefix_strategy() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[A-Za-z_][A-Za-z_.-]{0,6}",]
}

/// Text after the numbers: must not start with a digit, nor with `.digit`.
fn suffix_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(".".to_owned()),
        "[-_A-Za-z][A-Za-z0-9_.-]{0,8}",
        "\\.[-_A-Za-z.][A-Za-z0-9_.-]{0,4}",
    ]
}

/// Numeric part texts, possibly with leading zeros or at the u64 limit.
fn parts_strategy() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![
            (0u64..40).prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            (0u64..100).prop_map(|n| format!("0{n}")),
        ],
        1..5,
    )
}

/// Version-like tags from a small alphabet, so that collisions happen.
fn small_tag() -> impl Strategy<Value = VersionTag> {
    (
        prop_oneof![Just(""), Just("v")],
        prop::collection::vec(
            prop_oneof![
                Just("0"),
                Just("1"),
                Just("4"),
                Just("10"),
                Just("32"),
                Just("01")
            ],
            1..4,
        ),
        prop_oneof![Just(""), Just("-alpine"), Just("-a")],
    )
        .prop_map(|(p, parts, s)| v(&format!("{p}{}{s}", parts.join("."))))
}

/// Tags of every shape that matters for ordering: the small alphabet above, pre-releases
/// glued to the numbers or after a `-`, floating tags, and hex strings (commit hashes are
/// not version tags, so those that are get dropped).
fn any_shape_tag() -> impl Strategy<Value = VersionTag> {
    prop_oneof![
        3 => small_tag(),
        2 => (
            prop_oneof![Just(""), Just("v")],
            prop::collection::vec(0u64..12, 1..4),
            prop::sample::select(vec!["", "b1", "b5", "b10", "rc1", "_amd64"]),
            prop::sample::select(vec!["", "-alpine", "-rc.1", "-rc.2", "-"]),
        )
            .prop_filter_map("a version tag", |(p, parts, glued, dash)| {
                let parts: Vec<String> = parts.iter().map(u64::to_string).collect();
                VersionTag::parse(&format!("{p}{}{glued}{dash}", parts.join(".")))
            }),
        1 => "[0-9a-f]{5,12}".prop_filter_map("not a commit hash", |s| VersionTag::parse(&s)),
    ]
}

/// Pieces of tag formats, valid and not.
fn format_token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "{major}", "{minor}", "{patch}", "{major}", "{minor}", "{foo}", "{", "}", ".", ".", "-",
        "v", "_", ":", "1", "é", "debian", "{}",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn tag_prop_round_trip(prefix in prefix_strategy(), parts in parts_strategy(), suffix in suffix_strategy()) {
        let text = format!("{prefix}{}{suffix}", parts.join("."));
        prop_assume!(text.len() <= 128);
        if looks_like_commit(&text) {
            prop_assert_eq!(VersionTag::parse(&text), None, "{} is a commit hash", text);
            return Ok(());
        }
        let t = VersionTag::parse(&text).expect("generated tag parses");
        prop_assert_eq!(t.to_string(), text.clone());
        prop_assert_eq!(t.as_str(), text.as_str());
        prop_assert_eq!(t.prefix(), prefix.as_str());
        prop_assert_eq!(t.suffix(), suffix.as_str());
        let numbers: Vec<u64> = parts.iter().map(|p| p.parse().unwrap()).collect();
        prop_assert_eq!(t.parts(), numbers.as_slice());
        // with_parts keeps the family and reparses to itself.
        let bumped: Vec<u64> = numbers.iter().map(|n| n / 2).collect();
        let u = t.with_parts(&bumped);
        prop_assert!(u.is_compatible(&t));
        prop_assert_eq!(u.parts(), bumped.as_slice());
        if u.as_str().len() <= 128 && !looks_like_commit(u.as_str()) {
            prop_assert_eq!(VersionTag::parse(u.as_str()), Some(u.clone()));
        }
    }

    #[test]
    fn tag_prop_never_panics(s in any::<String>()) {
        if let Some(t) = VersionTag::parse(&s) {
            prop_assert_eq!(t.as_str(), s.as_str());
        }
        let _ = TagFormat::parse(&s);
    }

    #[test]
    fn tag_prop_parse_is_exact(s in "[A-Za-z0-9_.-]{0,20}") {
        match VersionTag::parse(&s) {
            None => prop_assert!(
                !tag_grammar(&s) || !s.chars().any(|c| c.is_ascii_digit()) || looks_like_commit(&s)
            ),
            Some(t) => {
                prop_assert!(tag_grammar(&s));
                prop_assert!(!looks_like_commit(&s));
                prop_assert_eq!(t.to_string(), s.clone());
                prop_assert!(!t.prefix().chars().any(|c| c.is_ascii_digit()));
                let suffix = t.suffix().as_bytes();
                prop_assert!(!suffix.first().is_some_and(u8::is_ascii_digit));
                prop_assert!(!(suffix.first() == Some(&b'.') && suffix.get(1).is_some_and(u8::is_ascii_digit)));
                let middle = &s[t.prefix().len()..s.len() - t.suffix().len()];
                let numbers: Vec<u64> = middle.split('.').map(|p| p.parse().unwrap()).collect();
                prop_assert_eq!(t.parts(), numbers.as_slice());
            }
        }
    }

    #[test]
    fn tag_prop_minor_order_is_numeric(a in any::<u64>(), b in any::<u64>(), major in 0u64..3) {
        let ta = v(&format!("v{major}.{a}"));
        let tb = v(&format!("v{major}.{b}"));
        prop_assert_eq!(ta.cmp_version(&tb), a.cmp(&b));
        prop_assert_eq!(ta.cmp(&tb), a.cmp(&b));
    }

    #[test]
    fn tag_prop_total_order(a in small_tag(), b in small_tag(), c in small_tag()) {
        // Antisymmetry and consistency with Eq.
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        prop_assert_eq!(a.cmp(&b) == Ordering::Equal, a == b);
        prop_assert_eq!(a.partial_cmp(&b), Some(a.cmp(&b)));
        // Numbers dominate.
        if a.parts() != b.parts() {
            prop_assert_eq!(a.cmp(&b), a.parts().cmp(b.parts()));
        }
        // Transitivity.
        if a <= b && b <= c {
            prop_assert!(a <= c);
        }
        if a < b && b < c {
            prop_assert!(a < c);
        }
        // Sorting agrees with pairwise comparison.
        let mut v = [a.clone(), b.clone(), c.clone()];
        v.sort();
        prop_assert!(v[0] <= v[1] && v[1] <= v[2] && v[0] <= v[2]);
    }

    #[test]
    fn tag_prop_total_order_any_shape(a in any_shape_tag(), b in any_shape_tag(), c in any_shape_tag()) {
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        prop_assert_eq!(a.cmp(&b) == Ordering::Equal, a == b);
        prop_assert_eq!(a.cmp_version(&b), b.cmp_version(&a).reverse());
        if a.parts() != b.parts() {
            prop_assert_eq!(a.cmp(&b), a.cmp_version(&b));
        }
        // Within a family, Ord is the order of the numbers.
        if a.is_compatible(&b) && a.parts() != b.parts() {
            prop_assert_eq!(a.cmp(&b), a.parts().cmp(b.parts()));
        }
        // Compatibility is an equivalence.
        prop_assert!(a.is_compatible(&a));
        prop_assert_eq!(a.is_compatible(&b), b.is_compatible(&a));
        if a.is_compatible(&b) && b.is_compatible(&c) {
            prop_assert!(a.is_compatible(&c));
        }
        if a <= b && b <= c {
            prop_assert!(a <= c);
        }
        if a < b && b < c {
            prop_assert!(a < c);
        }
        if a.cmp_version(&b).is_le() && b.cmp_version(&c).is_le() {
            prop_assert!(a.cmp_version(&c).is_le());
        }
        let mut v = [a.clone(), b.clone(), c.clone()];
        v.sort();
        prop_assert!(v[0] <= v[1] && v[1] <= v[2] && v[0] <= v[2]);
    }

    /// The commit-hash rule: exactly the 7-to-40-character lowercase hex strings with a
    /// letter are refused; shorter, longer and all-digit hex strings read as usual.
    #[test]
    fn tag_prop_commit_hashes(s in "[0-9a-f]{1,48}") {
        let parsed = VersionTag::parse(&s);
        if looks_like_commit(&s) {
            prop_assert_eq!(parsed, None, "{}", s);
        } else {
            // No dots, so the first run of digits is the only part.
            let first_run: String = s
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(char::is_ascii_digit)
                .collect();
            match first_run.parse::<u64>() {
                Ok(number) => {
                    let t = parsed.expect("a hex string with a digit that is no commit parses");
                    prop_assert_eq!(t.parts(), &[number][..]);
                    prop_assert_eq!(t.as_str(), s.as_str());
                }
                Err(_) => prop_assert_eq!(parsed, None, "{}", s),
            }
        }
    }

    #[test]
    fn tag_prop_format_render(major in any::<u64>(), minor in any::<u64>(), patch in any::<u64>(), lit in "[a-z_]{0,5}", sep in "[._-]", suffix in "(-[a-z0-9]{1,6})?") {
        let format = format!("{lit}{{major}}{sep}{{minor}}{sep}{{patch}}{suffix}");
        let f = TagFormat::parse(&format).unwrap();
        let rendered = f.render(major, minor, Some(patch)).unwrap();
        prop_assert!(tag_grammar(&rendered));
        prop_assert_eq!(rendered, format!("{lit}{major}{sep}{minor}{sep}{patch}{suffix}"));
    }

    #[test]
    fn tag_prop_any_format_renders_valid_tags(tokens in prop::collection::vec(format_token(), 0..8), major in 0u64..100, minor in any::<u64>(), patch in prop::option::of(any::<u64>())) {
        let s = tokens.concat();
        if let Ok(f) = TagFormat::parse(&s) {
            match f.render(major, minor, patch) {
                Ok(tag) => {
                    prop_assert!(tag_grammar(&tag), "{} rendered {}", s, tag);
                    prop_assert!(VersionTag::parse(&tag).is_some());
                }
                Err(TagFormatError::MissingPatch { .. }) => prop_assert!(f.needs_patch() && patch.is_none()),
                Err(TagFormatError::TooLong { .. }) => {}
                Err(e) => prop_assert!(false, "unexpected render error {e}"),
            }
        }
    }
}
