//! Table and property tests for `tagwarden_core::kube_version`.
//!
//! Everything lives in `mod kube_version` so that
//! `cargo test -p tagwarden-core kube_version` selects these tests too.

mod kube_version {
    use proptest::prelude::*;
    use tagwarden_core::{Distribution, KubeVersion, KubeVersionError};

    use Distribution::*;

    /// `(gitVersion, major, minor, patch, distribution)` as reported by real clusters.
    const REAL_VERSIONS: &[(&str, u64, u64, Option<u64>, Distribution)] = &[
        // Amazon EKS
        ("v1.28.5-eks-5e0fdde", 1, 28, Some(5), Eks),
        ("v1.30.0-eks-036c24b", 1, 30, Some(0), Eks),
        ("v1.29.10-eks-7f9249a", 1, 29, Some(10), Eks),
        ("v1.27.16-eks-a18cd3a", 1, 27, Some(16), Eks),
        ("v1.14.9-eks-f459c0", 1, 14, Some(9), Eks),
        ("v1.32.1-eks-5e0fdde", 1, 32, Some(1), Eks),
        // Google GKE
        ("v1.30.5-gke.1014001", 1, 30, Some(5), Gke),
        ("v1.31.1-gke.1678000", 1, 31, Some(1), Gke),
        ("v1.27.3-gke.100", 1, 27, Some(3), Gke),
        ("v1.11.7-gke.4", 1, 11, Some(7), Gke),
        // Azure AKS reports plain upstream versions
        ("v1.29.7", 1, 29, Some(7), Upstream),
        ("v1.30.3", 1, 30, Some(3), Upstream),
        // k3s
        ("v1.29.4+k3s1", 1, 29, Some(4), K3s),
        ("v1.29.7+k3s1", 1, 29, Some(7), K3s),
        ("v1.30.2+k3s2", 1, 30, Some(2), K3s),
        // RKE2
        ("v1.28.9+rke2r1", 1, 28, Some(9), Rke2),
        ("v1.30.4+rke2r1", 1, 30, Some(4), Rke2),
        ("v1.26.15+rke2r1", 1, 26, Some(15), Rke2),
        // OpenShift (4.x and 3.11)
        ("v1.27.10+f1b5e0e", 1, 27, Some(10), Openshift),
        ("v1.25.7+eab9cc9", 1, 25, Some(7), Openshift),
        ("v1.11.0+d4cacc0", 1, 11, Some(0), Openshift),
        // Alibaba ACK
        ("v1.24.6-aliyun.1", 1, 24, Some(6), Ack),
        ("v1.25.14-aliyun.1", 1, 25, Some(14), Ack),
        ("v1.28.3-aliyun.1", 1, 28, Some(3), Ack),
        // Tencent TKE
        ("v1.18.4-tke.6", 1, 18, Some(4), Tke),
        ("v1.26.1-tke.3", 1, 26, Some(1), Tke),
        // Huawei CCE
        ("v1.23.4-r0-CCE22.3.1.B012", 1, 23, Some(4), Cce),
        ("v1.25.5-r0-CCE23.1.1.B003", 1, 25, Some(5), Cce),
        // MicroK8s
        ("v1.24.0-2+59bbb3530b6769", 1, 24, Some(0), Microk8s),
        ("v1.28.3-3+b0aec36d6c3ab0", 1, 28, Some(3), Microk8s),
        // IBM IKS
        ("v1.20.6+IKS", 1, 20, Some(6), Iks),
        ("v1.28.6+IKS", 1, 28, Some(6), Iks),
        // k0s
        ("v1.24.3+k0s", 1, 24, Some(3), K0s),
        ("v1.29.1+k0s", 1, 29, Some(1), K0s),
        // VMware TKG
        ("v1.16.14+vmware.1", 1, 16, Some(14), Vmware),
        ("v1.27.16+vmware.1-fips", 1, 27, Some(16), Vmware),
        ("v1.23.8+vmware.2", 1, 23, Some(8), Vmware),
        // Mirantis
        ("v1.24.0-mirantis-1", 1, 24, Some(0), Mirantis),
        ("v1.27.7-mirantis-1", 1, 27, Some(7), Mirantis),
        // kind, minikube, Docker Desktop
        ("v1.31.0", 1, 31, Some(0), Upstream),
        ("v1.28.3", 1, 28, Some(3), Upstream),
        ("v1.29.2", 1, 29, Some(2), Upstream),
        // upstream pre-releases and development builds
        ("v1.30.0-rc.1", 1, 30, Some(0), Upstream),
        ("v1.31.0-alpha.3", 1, 31, Some(0), Upstream),
        ("v1.32.0-beta.0", 1, 32, Some(0), Upstream),
        (
            "v1.31.0-alpha.0.123+8f1b3d7a6c5e4f",
            1,
            31,
            Some(0),
            Upstream,
        ),
        // plain and odd spellings
        ("1.32", 1, 32, None, Upstream),
        ("v1.32", 1, 32, None, Upstream),
        ("1.32.1", 1, 32, Some(1), Upstream),
        ("V1.30.1", 1, 30, Some(1), Upstream),
        ("  v1.30.1\n", 1, 30, Some(1), Upstream),
        ("\tv1.20.6+iks ", 1, 20, Some(6), Iks),
        ("v1.28.5-EKS-5E0FDDE", 1, 28, Some(5), Eks),
        ("v2.0.0", 2, 0, Some(0), Upstream),
    ];

    #[test]
    fn table_of_real_versions() {
        assert!(REAL_VERSIONS.len() >= 40);
        for &(input, major, minor, patch, distribution) in REAL_VERSIONS {
            let v = KubeVersion::parse(input)
                .unwrap_or_else(|e| panic!("{input:?} should parse, got: {e}"));
            assert_eq!(
                (v.major, v.minor, v.patch, v.distribution),
                (major, minor, patch, distribution),
                "{input:?}"
            );
            assert_eq!(v.git_version.as_deref(), Some(input.trim()), "{input:?}");
            assert_eq!(v.major_minor(), (major, minor), "{input:?}");
            let via_from_str: KubeVersion = input.parse().unwrap();
            assert_eq!(via_from_str, v, "{input:?}");
        }
    }

    #[test]
    fn display_drops_prefix_and_suffix() {
        let cases = [
            ("v1.28.5-eks-5e0fdde", "1.28.5"),
            ("v1.32", "1.32"),
            ("1.32.1", "1.32.1"),
            ("v1.30.0-rc.1", "1.30.0"),
            ("v1.24.0-2+59bbb3530b6769", "1.24.0"),
        ];
        for (input, shown) in cases {
            assert_eq!(KubeVersion::parse(input).unwrap().to_string(), shown);
        }
    }

    #[test]
    fn json_shape_is_stable() {
        let v = KubeVersion::parse("v1.32.1-eks-5e0fdde").unwrap();
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"major":1,"minor":32,"patch":1,"distribution":"eks","git_version":"v1.32.1-eks-5e0fdde"}"#
        );
        let fields_only = KubeVersion::from_fields(None, Some("1"), Some("28+")).unwrap();
        assert_eq!(
            serde_json::to_string(&fields_only).unwrap(),
            r#"{"major":1,"minor":28,"patch":null,"distribution":"upstream","git_version":null}"#
        );
    }

    /// The `gitVersion`, `major` and `minor` given to `from_fields`.
    type Inputs<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

    /// `(gitVersion, major, minor)` in, `(major, minor, patch, distribution, git_version)` out.
    type FieldsCase<'a> = (
        Inputs<'a>,
        (u64, u64, Option<u64>, Distribution, Option<&'a str>),
    );

    const FIELD_CASES: &[FieldsCase<'static>] = &[
        // EKS: gitVersion and "28+" agree; gitVersion wins with its patch.
        (
            (Some("v1.28.5-eks-5e0fdde"), Some("1"), Some("28+")),
            (1, 28, Some(5), Eks, Some("v1.28.5-eks-5e0fdde")),
        ),
        // GKE, plain fields.
        (
            (Some("v1.30.5-gke.1014001"), Some("1"), Some("30")),
            (1, 30, Some(5), Gke, Some("v1.30.5-gke.1014001")),
        ),
        // gitVersion only.
        (
            (Some(" v1.29.4+k3s1 "), None, None),
            (1, 29, Some(4), K3s, Some("v1.29.4+k3s1")),
        ),
        // Empty fields count as absent.
        (
            (Some("v1.29.4+k3s1"), Some(""), Some("  ")),
            (1, 29, Some(4), K3s, Some("v1.29.4+k3s1")),
        ),
        // Fields only.
        (
            (None, Some("1"), Some("28+")),
            (1, 28, None, Upstream, None),
        ),
        ((None, Some("1"), Some("32")), (1, 32, None, Upstream, None)),
        // Empty gitVersion counts as absent.
        (
            (Some(""), Some("1"), Some("27")),
            (1, 27, None, Upstream, None),
        ),
        // Hand-edited minor carrying the major.
        (
            (None, Some("1"), Some("1.20")),
            (1, 20, None, Upstream, None),
        ),
        ((None, None, Some("1.20")), (1, 20, None, Upstream, None)),
        (
            (None, Some("1+"), Some("1.20+")),
            (1, 20, None, Upstream, None),
        ),
        // kcp: gitVersion is kcp's own v0.x, the fields are the Kubernetes API level.
        (
            (Some("v0.2.3-1-g96ce0beb59c389+kcp"), Some("1"), Some("23")),
            (1, 23, None, Upstream, Some("v0.2.3-1-g96ce0beb59c389+kcp")),
        ),
        // Placeholder or garbage gitVersion gives way to fields.
        (
            (Some("v0.0.0-master+$Format:%H$"), Some("1"), Some("30")),
            (1, 30, None, Upstream, Some("v0.0.0-master+$Format:%H$")),
        ),
        (
            (Some("banana"), Some("1"), Some("31+")),
            (1, 31, None, Upstream, Some("banana")),
        ),
        // Disagreeing inputs: the fields win, the patch is unknown, the rest is kept.
        (
            (Some("v1.0.0+kcp"), Some("1"), Some("31")),
            (1, 31, None, Upstream, Some("v1.0.0+kcp")),
        ),
        (
            (Some("v1.28.5-eks-5e0fdde"), Some("1"), Some("29+")),
            (1, 29, None, Eks, Some("v1.28.5-eks-5e0fdde")),
        ),
        // A valid gitVersion wins over malformed or partial fields.
        (
            (Some("v1.28.5-eks-5e0fdde"), Some("1"), Some("x")),
            (1, 28, Some(5), Eks, Some("v1.28.5-eks-5e0fdde")),
        ),
        (
            (Some("v1.30.1"), Some("1"), None),
            (1, 30, Some(1), Upstream, Some("v1.30.1")),
        ),
    ];

    #[test]
    fn table_of_from_fields() {
        for &((git, major, minor), (e_major, e_minor, e_patch, e_dist, e_git)) in FIELD_CASES {
            let v = KubeVersion::from_fields(git, major, minor).unwrap_or_else(|e| {
                panic!("({git:?}, {major:?}, {minor:?}) should be accepted, got: {e}")
            });
            assert_eq!(
                (
                    v.major,
                    v.minor,
                    v.patch,
                    v.distribution,
                    v.git_version.as_deref()
                ),
                (e_major, e_minor, e_patch, e_dist, e_git),
                "({git:?}, {major:?}, {minor:?})"
            );
        }
    }

    #[test]
    fn from_fields_with_git_version_only_equals_parse() {
        for &(input, ..) in REAL_VERSIONS {
            assert_eq!(
                KubeVersion::from_fields(Some(input), None, None),
                KubeVersion::parse(input)
            );
        }
    }

    #[test]
    fn table_of_from_fields_errors() {
        type Check = fn(&KubeVersionError) -> bool;
        let cases: &[(Inputs<'_>, Check, &str)] = &[
            (
                (None, None, None),
                |e| matches!(e, KubeVersionError::NoVersion),
                "no version given",
            ),
            (
                (Some(" "), Some(""), Some("")),
                |e| matches!(e, KubeVersionError::NoVersion),
                "no version given",
            ),
            (
                (None, Some("1"), Some("x")),
                |e| matches!(e, KubeVersionError::BadField { field: "minor", .. }),
                r#"minor field "x" is not a number (expected e.g. 32 or 32+)"#,
            ),
            (
                (None, Some("one"), Some("28")),
                |e| matches!(e, KubeVersionError::BadField { field: "major", .. }),
                r#"major field "one" is not a number (expected 1)"#,
            ),
            (
                (None, Some("0"), Some("28")),
                |e| matches!(e, KubeVersionError::BadField { field: "major", .. }),
                r#"major field "0" has major version 0"#,
            ),
            (
                (None, Some("1"), Some("28++")),
                |e| matches!(e, KubeVersionError::BadField { field: "minor", .. }),
                "is not a number",
            ),
            (
                (None, Some("1"), Some("99999999999999999999")),
                |e| matches!(e, KubeVersionError::BadField { field: "minor", .. }),
                "is too large",
            ),
            (
                (None, Some("1"), None),
                |e| matches!(e, KubeVersionError::MissingField { field: "minor" }),
                "the minor field is missing",
            ),
            (
                (None, None, Some("28+")),
                |e| matches!(e, KubeVersionError::MissingField { field: "major" }),
                "the major field is missing",
            ),
            (
                (None, Some("2"), Some("1.20")),
                |e| matches!(e, KubeVersionError::FieldsDisagree { .. }),
                r#"major field "2" disagrees with minor field "1.20""#,
            ),
            (
                (None, Some("1"), Some("1.20.3")),
                |e| matches!(e, KubeVersionError::BadField { field: "minor", .. }),
                "is not a number",
            ),
            // gitVersion unusable and no fields: the gitVersion error itself.
            (
                (Some("{gitVersion}"), None, None),
                |e| matches!(e, KubeVersionError::Placeholder { .. }),
                "unsubstituted build placeholder",
            ),
            (
                (Some("v0.2.3-1-g96ce0beb59c389+kcp"), None, Some("")),
                |e| matches!(e, KubeVersionError::MajorZero { .. }),
                "has major version 0",
            ),
            // Both unusable: both reasons in one line.
            (
                (Some("v0.2.3+kcp"), Some("1"), Some("x")),
                |e| {
                    matches!(e, KubeVersionError::Unusable { git_version, fields }
                        if matches!(**git_version, KubeVersionError::MajorZero { .. })
                        && matches!(**fields, KubeVersionError::BadField { .. }))
                },
                r#""v0.2.3+kcp" has major version 0"#,
            ),
        ];
        for &((git, major, minor), check, text) in cases {
            let err = KubeVersion::from_fields(git, major, minor).expect_err(&format!(
                "({git:?}, {major:?}, {minor:?}) should be rejected"
            ));
            assert!(check(&err), "({git:?}, {major:?}, {minor:?}) gave {err:?}");
            let msg = err.to_string();
            assert!(
                msg.contains(text),
                "message {msg:?} should contain {text:?}"
            );
            assert!(!msg.contains('\n'), "{msg:?}");
        }
    }

    #[test]
    fn table_of_parse_errors() {
        type Check = fn(&KubeVersionError) -> bool;
        let placeholder: Check = |e| matches!(e, KubeVersionError::Placeholder { .. });
        let malformed: Check = |e| matches!(e, KubeVersionError::Malformed { .. });
        let too_large: Check = |e| matches!(e, KubeVersionError::TooLarge { .. });
        let cases: &[(&str, Check, &str)] = &[
            (
                "{gitVersion}",
                placeholder,
                "unsubstituted build placeholder",
            ),
            (
                "$(KUBE_GIT_VERSION)",
                placeholder,
                "unsubstituted build placeholder",
            ),
            (
                "v0.0.0-master+$Format:%H$",
                placeholder,
                "unsubstituted build placeholder",
            ),
            ("v0.0.0", placeholder, r#""v0.0.0" is an unsubstituted"#),
            ("0.0", placeholder, "unsubstituted build placeholder"),
            (
                "",
                |e| matches!(e, KubeVersionError::Empty),
                "empty version string",
            ),
            (
                " \t\n",
                |e| matches!(e, KubeVersionError::Empty),
                "empty version string",
            ),
            (
                "banana",
                malformed,
                r#""banana" is not a Kubernetes version (expected"#,
            ),
            ("v", malformed, r#""v" is not a Kubernetes version"#),
            ("vv1.2.3", malformed, "not a Kubernetes version"),
            ("1", malformed, "the minor version is missing"),
            ("v1", malformed, "the minor version is missing"),
            ("1.", malformed, "the minor version is empty"),
            ("1..2", malformed, "the minor version is empty"),
            ("1.32.", malformed, "the patch version is empty"),
            ("1.x", malformed, r#"minor "x" is not a number"#),
            ("1.2.3.4", malformed, "at most 3"),
            ("1.2.3.4.5", malformed, "it has 5 dot-separated numbers"),
            ("v1.30.1-", malformed, "pre-release after '-' is empty"),
            ("v1.30.1+", malformed, "build metadata after '+' is empty"),
            (
                "v1.30.1-rc.1+",
                malformed,
                "build metadata after '+' is empty",
            ),
            (
                "v1.30.1 extra",
                malformed,
                r#"patch "1 extra" is not a number"#,
            ),
            ("v1.30.1-eks_5e0fdde", malformed, "its suffix contains '_'"),
            ("v1.30.1-é", malformed, "its suffix contains 'é'"),
            ("v1.30.1-a\u{0}b", malformed, r"its suffix contains '\0'"),
            ("v1.３0.1", malformed, "is not a number"),
            ("v١.30.1", malformed, "not a Kubernetes version"),
            ("v-1.30.1", malformed, "not a Kubernetes version"),
            ("v1.+30.1", malformed, "the minor version is empty"),
            (
                "99999999999999999999.1.0",
                too_large,
                "major 99999999999999999999 is too large",
            ),
            (
                "v1.18446744073709551616.0",
                too_large,
                "minor 18446744073709551616 is too large",
            ),
            ("v1.30.18446744073709551616", too_large, "patch"),
            (
                "v0.2.3-1-g96ce0beb59c389+kcp",
                |e| matches!(e, KubeVersionError::MajorZero { .. }),
                "has major version 0",
            ),
            (
                "0.28.1",
                |e| matches!(e, KubeVersionError::MajorZero { .. }),
                "has major version 0",
            ),
        ];
        for &(input, check, text) in cases {
            let err =
                KubeVersion::parse(input).expect_err(&format!("{input:?} should be rejected"));
            assert!(check(&err), "{input:?} gave {err:?}");
            let msg = err.to_string();
            assert!(
                msg.contains(text),
                "{input:?}: message {msg:?} should contain {text:?}"
            );
            assert!(!msg.contains('\n'), "{msg:?}");
            assert_eq!(input.parse::<KubeVersion>(), Err(err), "{input:?}");
        }
    }

    #[test]
    fn u64_max_is_accepted() {
        let max = u64::MAX;
        let v = KubeVersion::parse(&format!("v{max}.{max}.{max}")).unwrap();
        assert_eq!((v.major, v.minor, v.patch), (max, max, Some(max)));
    }

    #[test]
    fn long_garbage_is_quoted_shortened() {
        let garbage = "<html>".repeat(1000);
        let msg = KubeVersion::parse(&garbage).unwrap_err().to_string();
        assert!(msg.len() < 400, "{} chars", msg.len());
        assert!(msg.contains('…'));
    }

    /// A vendor suffix shape and the distribution it must be detected as.
    fn suffix() -> impl Strategy<Value = (String, Distribution)> {
        let n = || 0u32..10_000;
        let hex = |len: std::ops::RangeInclusive<usize>| {
            proptest::collection::vec(proptest::sample::select(b"0123456789abcdef".to_vec()), len)
                .prop_map(|bytes| String::from_utf8(bytes).unwrap())
        };
        let shapes = prop_oneof![
            Just((String::new(), Upstream)),
            hex(7..=12).prop_map(|h| (format!("-eks-{h}"), Eks)),
            n().prop_map(|b| (format!("-gke.{b}"), Gke)),
            n().prop_map(|b| (format!("+k3s{b}"), K3s)),
            n().prop_map(|b| (format!("+rke2r{b}"), Rke2)),
            hex(7..=12).prop_map(|h| (format!("+{h}"), Openshift)),
            n().prop_map(|b| (format!("-aliyun.{b}"), Ack)),
            n().prop_map(|b| (format!("-tke.{b}"), Tke)),
            (n(), n(), n()).prop_map(|(a, b, c)| (format!("-r0-CCE{a}.{b}.1.B{c:03}"), Cce)),
            (n(), hex(12..=16)).prop_map(|(b, h)| (format!("-{b}+{h}"), Microk8s)),
            Just(("+IKS".to_owned(), Iks)),
            Just(("+k0s".to_owned(), K0s)),
            n().prop_map(|b| (format!("+vmware.{b}"), Vmware)),
            n().prop_map(|b| (format!("+vmware.{b}-fips"), Vmware)),
            n().prop_map(|b| (format!("-mirantis-{b}"), Mirantis)),
            n().prop_map(|b| (format!("-rc.{b}"), Upstream)),
            n().prop_map(|b| (format!("-alpha.{b}"), Upstream)),
            n().prop_map(|b| (format!("-beta.{b}"), Upstream)),
        ];
        // Vendors vary in case; detection must not.
        (shapes, any::<bool>())
            .prop_map(|((s, d), upper)| (if upper { s.to_ascii_uppercase() } else { s }, d))
    }

    fn json_string(s: &str) -> String {
        serde_json::to_string(s).unwrap()
    }

    proptest! {
        #[test]
        fn prop_vendor_versions_keep_their_numbers(
            major in 1u64..,
            minor in any::<u64>(),
            patch in any::<u64>(),
            (suffix, distribution) in suffix(),
            v_prefix in any::<bool>(),
        ) {
            let v = if v_prefix { "v" } else { "" };
            let input = format!("{v}{major}.{minor}.{patch}{suffix}");
            let parsed = KubeVersion::parse(&input).unwrap();
            prop_assert_eq!(
                (parsed.major, parsed.minor, parsed.patch, parsed.distribution),
                (major, minor, Some(patch), distribution)
            );
            prop_assert_eq!(parsed.git_version.as_deref(), Some(input.as_str()));
        }

        #[test]
        fn prop_parse_never_panics(input in any::<String>()) {
            if let Err(e) = KubeVersion::parse(&input) {
                let msg = e.to_string();
                prop_assert!(!msg.contains('\n') && !msg.contains('\r'), "{:?}", msg);
                prop_assert!(msg.starts_with(|c: char| c.is_ascii_lowercase() || c == '"'), "{:?}", msg);
            }
        }

        #[test]
        fn prop_version_like_strings_never_panic(input in "[vV ]?[0-9.+\\-a-zA-Z$%{}_]{0,30}") {
            match KubeVersion::parse(&input) {
                Ok(v) => {
                    prop_assert!(v.major >= 1);
                    prop_assert_eq!(v.git_version.as_deref(), Some(input.trim()));
                }
                Err(e) => prop_assert!(!e.to_string().contains('\n')),
            }
        }

        #[test]
        fn prop_from_fields_never_panics(
            git in proptest::option::of(any::<String>()),
            major in proptest::option::of("[0-9+.a ]{0,6}"),
            minor in proptest::option::of(any::<String>()),
        ) {
            match KubeVersion::from_fields(git.as_deref(), major.as_deref(), minor.as_deref()) {
                Ok(v) => prop_assert!(v.major >= 1),
                Err(e) => prop_assert!(!e.to_string().contains('\n')),
            }
        }

        #[test]
        fn prop_display_round_trips(
            major in 1u64..,
            minor in any::<u64>(),
            patch in proptest::option::of(any::<u64>()),
            (suffix, _) in suffix(),
        ) {
            let input = match patch {
                Some(p) => format!("v{major}.{minor}.{p}{suffix}"),
                None => format!("v{major}.{minor}{suffix}"),
            };
            let v = KubeVersion::parse(&input).unwrap();
            let again = KubeVersion::parse(&v.to_string()).unwrap();
            prop_assert_eq!((again.major, again.minor, again.patch), (major, minor, patch));
            prop_assert_eq!(again.distribution, Upstream);
        }

        #[test]
        fn prop_json_field_order(
            major in 1u64..,
            minor in any::<u64>(),
            patch in proptest::option::of(any::<u64>()),
            (suffix, distribution) in suffix(),
            fields_only in any::<bool>(),
        ) {
            let v = if fields_only {
                KubeVersion::from_fields(None, Some(&major.to_string()), Some(&format!("{minor}+"))).unwrap()
            } else {
                let input = match patch {
                    Some(p) => format!("v{major}.{minor}.{p}{suffix}"),
                    None => format!("v{major}.{minor}{suffix}"),
                };
                KubeVersion::parse(&input).unwrap()
            };
            let expected_patch = if fields_only { None } else { patch };
            let expected_distribution = if fields_only { Upstream } else { distribution };
            let json = serde_json::to_string(&v).unwrap();
            let expected = format!(
                r#"{{"major":{major},"minor":{minor},"patch":{},"distribution":"{}","git_version":{}}}"#,
                expected_patch.map_or("null".to_owned(), |p| p.to_string()),
                expected_distribution.as_str(),
                v.git_version.as_deref().map_or("null".to_owned(), json_string),
            );
            prop_assert_eq!(json, expected);
        }
    }
}
