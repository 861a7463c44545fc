//! The compatibility matrix: the shipped example and schema, file errors with positions,
//! `check` and its nearest combinations, promises, and range properties.

use proptest::prelude::*;
use tagwarden_core::matrix::{AppRange, AppVersion, Keeps, Layout, Matrix};

const CAPSULE: &str = "\
name: capsule
image: clastix/kubectl:v{major}.{minor}
platforms: [linux/amd64, linux/arm64]
versions:
  - app: 0.7.x
    kubernetes: 1.28 - 1.32
  - app: \">=0.5.0 <0.7.0\"
    kubernetes: 1.25 - 1.29
  - app: 0.8.x
    kubernetes: 1.30 - 1.33
    image: ghcr.io/clastix/kubectl:{major}.{minor}
    platforms: [linux/amd64]
  - app: 0.4.0 - 0.4.5
    kubernetes: 1.23
";

fn capsule() -> Matrix {
    Matrix::parse(CAPSULE).unwrap_or_else(|e| panic!("{e}"))
}

fn app(v: &str) -> AppVersion {
    AppVersion::parse(v).unwrap()
}

#[test]
fn the_shipped_example_parses_and_the_schema_names_the_same_keys() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let example = std::fs::read_to_string(format!("{root}/examples/compat.yaml")).unwrap();
    let matrix = Matrix::parse(&example).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(matrix.name.as_deref(), Some("capsule"));
    assert!(matrix.entries.len() >= 2);

    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/schema/compat-matrix.schema.json")).unwrap(),
    )
    .unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(
        keys(&schema),
        ["$schema", "image", "name", "platforms", "versions"]
    );
    assert_eq!(
        keys(&schema["$defs"]["entry"]),
        ["app", "image", "kubernetes", "notes", "platforms"]
    );
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["$defs"]["entry"]["additionalProperties"], false);
    // Every key the schema names is accepted by the parser.
    let all_keys = "\
$schema: ./schema.json
name: x
image: a/b:v{major}.{minor}
platforms: [linux/amd64]
versions:
  - app: '*'
    kubernetes: 1.30
    image: a/c:{major}.{minor}
    platforms: [linux/arm64/v8]
    notes: hi
";
    Matrix::parse(all_keys).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn defaults_apply_and_entries_keep_their_own() {
    let m = capsule();
    let e = &m.entries;
    assert_eq!(
        e[0].image.as_ref().unwrap().as_str(),
        "clastix/kubectl:v{major}.{minor}"
    );
    assert_eq!(e[0].platforms, ["linux/amd64", "linux/arm64"]);
    assert_eq!(
        e[2].image.as_ref().unwrap().render(1, 33),
        "ghcr.io/clastix/kubectl:1.33"
    );
    assert_eq!(e[2].platforms, ["linux/amd64"]);
    assert_eq!(e.iter().map(|e| e.line).collect::<Vec<_>>(), [5, 7, 9, 13]);
    assert_eq!(e[3].kubernetes.to_string(), "1.23");
}

#[test]
fn promises_are_every_entry_times_every_minor() {
    let m = capsule();
    let promises = m.promises();
    assert_eq!(promises.len(), 5 + 5 + 4 + 1);
    let first: Vec<&str> = promises.iter().take(5).map(|p| p.image.as_str()).collect();
    assert_eq!(
        first,
        [
            "clastix/kubectl:v1.28",
            "clastix/kubectl:v1.29",
            "clastix/kubectl:v1.30",
            "clastix/kubectl:v1.31",
            "clastix/kubectl:v1.32"
        ]
    );
    assert_eq!(promises[10].repository, "ghcr.io/clastix/kubectl");
    assert_eq!(promises[10].tag, "1.30");
}

#[test]
fn check_finds_the_entry_and_the_nearest_combinations() {
    let m = capsule();
    // (app, kube minor) → supported, [(suggested app range, minor, keeps)]
    type Row = (
        &'static str,
        u64,
        bool,
        &'static [(&'static str, u64, Keeps)],
    );
    let table: &[Row] = &[
        ("0.7.3", 28, true, &[]),
        ("0.7.3", 32, true, &[]),
        (
            "0.7.3",
            33,
            false,
            &[("0.8.x", 33, Keeps::Kubernetes), ("0.7.x", 32, Keeps::App)],
        ),
        (
            "0.7.3",
            27,
            false,
            &[
                (">=0.5.0 <0.7.0", 27, Keeps::Kubernetes),
                ("0.7.x", 28, Keeps::App),
            ],
        ),
        (
            "0.6.1",
            30,
            false,
            &[
                ("0.7.x", 30, Keeps::Kubernetes),
                (">=0.5.0 <0.7.0", 29, Keeps::App),
            ],
        ),
        // Equally near below and above: the newer application range wins the tie.
        (
            "0.6.9",
            31,
            false,
            &[
                ("0.7.x", 31, Keeps::Kubernetes),
                (">=0.5.0 <0.7.0", 29, Keeps::App),
            ],
        ),
        (
            "0.4.6",
            23,
            false,
            &[("0.4.0 - 0.4.5", 23, Keeps::Kubernetes)],
        ),
        ("0.9.0", 40, false, &[("0.8.x", 33, Keeps::Neither)]),
        ("0.1.0", 20, false, &[("0.4.0 - 0.4.5", 23, Keeps::Neither)]),
        ("0.8.0-rc.1", 33, true, &[]),
    ];
    for (version, minor, supported, nearest) in table {
        let result = m.check(&app(version), 1, *minor);
        assert_eq!(result.supported, *supported, "{version} on 1.{minor}");
        let got: Vec<(&str, u64, Keeps)> = result
            .nearest
            .iter()
            .map(|s| (s.entry.app.as_str(), s.minor, s.keeps))
            .collect();
        assert_eq!(got, *nearest, "{version} on 1.{minor}");
    }
    let s = &m.check(&app("0.7.3"), 1, 33).nearest[0];
    assert_eq!(s.image().as_deref(), Some("ghcr.io/clastix/kubectl:1.33"));
}

#[test]
fn errors_carry_line_and_column() {
    let cases: &[(&str, &[&str])] = &[
        (
            "versions:\n  - app: 1\n    kubernetes: 1.2\n    bogus: 3\n",
            &["4:5: unknown field `bogus`"],
        ),
        (
            "image: 'a/b:v{major}.{mnor}'\nversions:\n  - app: 1\n    kubernetes: 1.2\n",
            &["1:22: tag format \"v{major}.{mnor}\" has unknown placeholder \"{mnor}\""],
        ),
        (
            "image: a/b:v{major}.{mnor}\nversions:\n  - app: 1\n    kubernetes: 1.2\n",
            &["1:21: tag format"],
        ),
        (
            "versions:\n  - app: 0.x\n    kubernetes: 1.2\n  - app: '>=0.9.1'\n    kubernetes: 1.2\n  - app: 0.9.1\n    kubernetes: 1.3\n",
            &[
                "4:10: application range \">=0.9.1\" overlaps \"0.x\" on line 2 (both contain 0.9.1)",
                "6:10: application range \"0.9.1\" overlaps \"0.x\" on line 2 (both contain 0.9.1)",
            ],
        ),
        (
            "versions:\n  - app: 1\n    kubernetes: ~\n",
            &["3:17: expected text here, found nothing (null)"],
        ),
        (
            "versions:\n  - app: 1\n",
            &["2:5: missing field `kubernetes`"],
        ),
        ("versions: 3\n", &["1:11: expected a list here"]),
        ("- 1\n", &["1:1: expected a mapping (key: value) here"]),
        (
            "versions:\n  - app: 1\n    kubernetes: 1.2\n    platforms: [linux/amd64]\n",
            &["4:16: platforms apply to the entry's image"],
        ),
        (
            "image: a/b:v{major}.{minor}\nplatforms: [linux/amd64, linux, all]\nversions:\n  - app: 1\n    kubernetes: 1.2\n",
            &[
                "2:26: platform \"linux\" is not OS/ARCH[/VARIANT]",
                "2:33: platform \"all\": a matrix names the platforms it promises",
            ],
        ),
        (
            "image: a/b@sha256:00\nversions:\n  - app: 1\n    kubernetes: 1.2\n",
            &["1:11: an image template names tags, not a digest"],
        ),
    ];
    for (text, expected) in cases {
        let errors = Matrix::parse(text).expect_err(text).0;
        let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(got.len(), expected.len(), "{text}: {got:?}");
        for (g, want) in got.iter().zip(expected.iter()) {
            assert!(g.starts_with(want), "{text}\n got: {g}\nwant: {want}");
        }
    }
    let e = &Matrix::parse("versions: []\n").unwrap_err().0[0];
    assert_eq!(
        e.in_file("compat.yaml"),
        "compat.yaml:1:11: `versions` is empty; list at least one entry, e.g. `- app: 0.7.x` with `kubernetes: 1.28 - 1.32`"
    );
}

#[test]
fn markdown_escapes_pipes_and_omits_empty_columns() {
    let m = Matrix::parse(
        "versions:\n  - app: 1.x\n    kubernetes: 1.29 - 1.30\n    notes: \"a | b\"\n  - app: 2.x\n    kubernetes: 1.31\n",
    )
    .unwrap();
    assert_eq!(
        m.to_markdown(Layout::List),
        "| Version | Kubernetes | Notes |\n|---|---|---|\n| 1.x | 1.29 - 1.30 | a \\| b |\n| 2.x | 1.31 |  |\n"
    );
    assert_eq!(
        m.to_markdown(Layout::Grid),
        "| Version | 1.29 | 1.30 | 1.31 |\n|---|---|---|---|\n| 1.x | ✓ | ✓ |  |\n| 2.x |  |  | ✓ |\n"
    );
}

/// A random range in one of the accepted spellings.
fn range_text() -> impl Strategy<Value = String> {
    let n = || 0u64..4;
    prop_oneof![
        (n(), n(), n()).prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
        (n(), n()).prop_map(|(a, b)| format!("{a}.{b}.x")),
        (n(), n()).prop_map(|(a, b)| format!("{a}.{b}")),
        n().prop_map(|a| format!("{a}.x")),
        (n(), n(), n(), n()).prop_map(|(a, b, c, d)| format!("{a}.{b} - {c}.{d}")),
        (
            n(),
            n(),
            n(),
            n(),
            prop::sample::select(vec![">=", ">"]),
            prop::sample::select(vec!["<", "<="])
        )
            .prop_map(|(a, b, c, d, lo, hi)| format!("{lo}{a}.{b} {hi}{c}.{d}")),
        (
            n(),
            n(),
            prop::sample::select(vec![">=", ">", "<", "<=", "="])
        )
            .prop_map(|(a, b, op)| format!("{op}{a}.{b}.0")),
    ]
}

fn triple() -> impl Strategy<Value = String> {
    (0u64..5, 0u64..5, 0u64..5).prop_map(|(a, b, c)| format!("{a}.{b}.{c}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn canonical_ranges_mean_the_same(text in range_text(), versions in prop::collection::vec(triple(), 1..20)) {
        // Inverted random ranges are errors; the rest must agree with their canonical form.
        if let Ok(range) = AppRange::parse(&text) {
            let canonical = AppRange::parse(&range.canonical()).unwrap();
            for v in &versions {
                let v = app(v);
                prop_assert_eq!(range.contains(&v), canonical.contains(&v), "{} vs {}", text, range.canonical());
            }
        }
    }

    #[test]
    fn overlap_is_symmetric_and_its_witness_is_in_both(
        a in range_text(), b in range_text(), versions in prop::collection::vec(triple(), 1..30),
    ) {
        let (Ok(a), Ok(b)) = (AppRange::parse(&a), AppRange::parse(&b)) else { return Ok(()); };
        prop_assert_eq!(a.overlap(&b).is_some(), b.overlap(&a).is_some());
        match a.overlap(&b) {
            Some([x, y, z]) => {
                let w = app(&format!("{x}.{y}.{z}"));
                prop_assert!(a.contains(&w) && b.contains(&w));
            }
            None => {
                for v in &versions {
                    let v = app(v);
                    prop_assert!(!(a.contains(&v) && b.contains(&v)), "{} in both", v);
                }
            }
        }
    }

    #[test]
    fn parsing_never_panics(text in "\\PC{0,200}") {
        let _ = Matrix::parse(&text);
        let _ = AppRange::parse(&text);
        let _ = AppVersion::parse(&text);
    }
}

#[test]
fn platforms_use_the_core_grammar_and_keep_each_once() {
    let m = Matrix::parse(
        "image: a/b:v{major}.{minor}\nplatforms: [linux/amd64, linux/arm64, linux/x86_64, Linux/ARM64/v8]\nversions:\n  - app: 1\n    kubernetes: 1.2\n",
    )
    .unwrap();
    // Written as first given; `linux/x86_64` is `linux/amd64` and `Linux/ARM64/v8` is `linux/arm64`.
    assert_eq!(m.entries[0].platforms, ["linux/amd64", "linux/arm64"]);
}
