//! Golden tests on realistic rendered charts: every location field of every image, and
//! rewrites compared byte for byte with hand-made expected files.

use tagwarden_manifest::{
    Edit, FindOptions, ImageField, ImagePath, Location, ScalarStyle, Scan, SkipReason, rewrite,
    scan,
};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn scan_fixture(name: &str, options: &FindOptions) -> (String, Scan) {
    let source = fixture(name);
    let found = scan(name, &source, options).unwrap_or_else(|e| panic!("{}", e.snippet(&source)));
    // Whatever the options, each span holds the scalar the image was decoded from.
    for image in &found.images {
        let text = &source[image.span.clone()];
        match image.style {
            ScalarStyle::Plain => {
                assert!(text.starts_with(image.image.split_whitespace().next().unwrap()))
            }
            ScalarStyle::SingleQuoted => assert!(text.starts_with('\'') && text.ends_with('\'')),
            ScalarStyle::DoubleQuoted => assert!(text.starts_with('"') && text.ends_with('"')),
            ScalarStyle::Literal | ScalarStyle::Folded => {
                assert!(text.starts_with(image.image.trim_end()), "{text:?}")
            }
        }
    }
    (source, found)
}

/// (document, line, column, kind, namespace, name, container, path, image, style, via_alias)
type Row = (
    usize,
    usize,
    usize,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
    &'static str,
    ScalarStyle,
    bool,
);

fn assert_images(file: &str, images: &[ImageField], expected: &[Row]) {
    let actual: Vec<Row> = images
        .iter()
        .map(|i| {
            assert_eq!(i.location.file, file);
            let l: &Location = &i.location;
            (
                l.document,
                l.line,
                l.column,
                leak(&l.kind),
                l.namespace.as_deref().map(leak),
                l.name.as_deref().map(leak),
                l.container.as_deref().map(leak),
                leak(&l.path),
                leak(&i.image),
                i.style,
                i.via_alias,
            )
        })
        .collect();
    assert_eq!(actual.len(), expected.len(), "{file}: {actual:#?}");
    for (a, e) in actual.iter().zip(expected) {
        assert_eq!(a, e, "{file}");
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

use ScalarStyle::{DoubleQuoted, Folded, Literal, Plain, SingleQuoted};

const SPEC: &str = "spec.template.spec.containers[0].image";

#[test]
fn capsule_hook_jobs() {
    let (_, found) = scan_fixture("capsule.yaml", &FindOptions::default());
    assert_eq!(found.documents, 5);
    assert_images(
        "capsule.yaml",
        &found.images,
        &[
            (
                2,
                58,
                18,
                "Deployment",
                Some("capsule-system"),
                Some("capsule-controller-manager"),
                Some("manager"),
                SPEC,
                "ghcr.io/projectcapsule/capsule:v0.7.4",
                DoubleQuoted,
                false,
            ),
            (
                3,
                93,
                16,
                "Job",
                Some("capsule-system"),
                Some("capsule-crds"),
                Some("crds-hook"),
                SPEC,
                "clastix/kubectl:v1.32",
                DoubleQuoted,
                false,
            ),
            (
                4,
                128,
                18,
                "Job",
                Some("capsule-system"),
                Some("capsule-pre-delete"),
                Some("pre-delete-job"),
                SPEC,
                "clastix/kubectl:v1.32",
                Plain,
                false,
            ),
        ],
    );
    let hooks: Vec<_> = found
        .images
        .iter()
        .map(|i| i.helm_hook.as_deref())
        .collect();
    assert_eq!(
        hooks,
        [None, Some("pre-install,pre-upgrade"), Some("pre-delete")]
    );
    let sources: Vec<_> = found
        .images
        .iter()
        .map(|i| i.helm_source.as_deref().unwrap())
        .collect();
    assert_eq!(
        sources,
        [
            "capsule/templates/manager.yaml",
            "capsule/templates/pre-install-job.yaml",
            "capsule/templates/pre-delete-job.yaml"
        ]
    );
    assert!(found.skipped.is_empty());
}

#[test]
fn kube_prometheus_stack_crd_upgrade_job() {
    let (_, found) = scan_fixture("kube-prometheus-stack.yaml", &FindOptions::default());
    assert_eq!(found.documents, 5);
    let job = "kps-operator-crds-upgrade";
    assert_images(
        "kube-prometheus-stack.yaml",
        &found.images,
        &[
            (
                1,
                34,
                18,
                "Job",
                Some("monitoring"),
                Some(job),
                Some("busybox"),
                "spec.template.spec.initContainers[0].image",
                "docker.io/library/busybox:1.37",
                Plain,
                false,
            ),
            (
                1,
                44,
                18,
                "Job",
                Some("monitoring"),
                Some(job),
                Some("kubectl"),
                SPEC,
                "registry.k8s.io/kubectl:v1.32.0",
                Plain,
                false,
            ),
            (
                2,
                84,
                18,
                "Deployment",
                Some("monitoring"),
                Some("kps-operator"),
                Some("kube-prometheus-stack"),
                SPEC,
                "quay.io/prometheus-operator/prometheus-operator:v0.80.1",
                DoubleQuoted,
                false,
            ),
        ],
    );
    assert_eq!(
        found.images[0].helm_hook.as_deref(),
        Some("pre-install,pre-upgrade,pre-rollback")
    );

    // The Prometheus CR and the CRD schema have `image` fields too: images only with a rule.
    let options = FindOptions::default()
        .with_image_path_specs([
            "Prometheus:spec.image",
            "Prometheus:spec.containers[*].image",
        ])
        .unwrap();
    let (_, found) = scan_fixture("kube-prometheus-stack.yaml", &options);
    let prometheus: Vec<_> = found
        .images
        .iter()
        .filter(|i| i.location.kind == "Prometheus")
        .cloned()
        .collect();
    assert_images(
        "kube-prometheus-stack.yaml",
        &prometheus,
        &[
            (
                3,
                97,
                10,
                "Prometheus",
                Some("monitoring"),
                Some("kps-prometheus"),
                None,
                "spec.image",
                "quay.io/prometheus/prometheus:v3.2.1",
                DoubleQuoted,
                false,
            ),
            (
                3,
                102,
                14,
                "Prometheus",
                Some("monitoring"),
                Some("kps-prometheus"),
                Some("config-reloader"),
                "spec.containers[0].image",
                "quay.io/prometheus-operator/prometheus-config-reloader:v0.80.1",
                Plain,
                false,
            ),
        ],
    );
    assert_eq!(found.images.len(), 5);
    assert!(
        found
            .images
            .iter()
            .all(|i| i.location.kind != "CustomResourceDefinition")
    );
}

#[test]
fn velero_job_deployment_init_containers_and_cronjob() {
    let (_, found) = scan_fixture("velero.yaml", &FindOptions::default());
    assert_eq!(found.documents, 4);
    let ns = Some("velero");
    assert_images(
        "velero.yaml",
        &found.images,
        &[
            (
                0,
                30,
                18,
                "Deployment",
                ns,
                Some("velero"),
                Some("velero"),
                SPEC,
                "velero/velero:v1.15.2",
                DoubleQuoted,
                false,
            ),
            (
                0,
                41,
                18,
                "Deployment",
                ns,
                Some("velero"),
                Some("velero-plugin-for-aws"),
                "spec.template.spec.initContainers[0].image",
                "velero/velero-plugin-for-aws:v1.11.1",
                Plain,
                false,
            ),
            (
                0,
                48,
                18,
                "Deployment",
                ns,
                Some("velero"),
                Some("velero-velero-plugin-for-csi"),
                "spec.template.spec.initContainers[1].image",
                "velero/velero-plugin-for-csi:v0.7.1",
                SingleQuoted,
                false,
            ),
            (
                1,
                67,
                18,
                "DaemonSet",
                ns,
                Some("node-agent"),
                Some("node-agent"),
                SPEC,
                "velero/velero:v1.15.2",
                DoubleQuoted,
                false,
            ),
            (
                2,
                89,
                18,
                "Job",
                ns,
                Some("velero-upgrade-crds"),
                Some("kubectl"),
                "spec.template.spec.initContainers[0].image",
                "bitnami/kubectl:1.32",
                DoubleQuoted,
                false,
            ),
            (
                2,
                102,
                18,
                "Job",
                ns,
                Some("velero-upgrade-crds"),
                Some("velero"),
                SPEC,
                "velero/velero:v1.15.2",
                DoubleQuoted,
                false,
            ),
            (
                3,
                130,
                22,
                "CronJob",
                ns,
                Some("velero-cleanup"),
                Some("kubectl"),
                "spec.jobTemplate.spec.template.spec.containers[0].image",
                "bitnami/kubectl:1.32",
                Plain,
                false,
            ),
        ],
    );
}

#[test]
fn lists_and_typed_lists() {
    let (_, found) = scan_fixture("list.yaml", &FindOptions::default());
    assert_eq!(found.documents, 2);
    let digest = "ghcr.io/example/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_images(
        "list.yaml",
        &found.images,
        &[
            (
                0,
                15,
                14,
                "Pod",
                Some("shop"),
                Some("web-7d4b9c"),
                Some("web"),
                "items[0].spec.containers[0].image",
                "nginx:1.27.3",
                Plain,
                false,
            ),
            (
                0,
                18,
                14,
                "Pod",
                Some("shop"),
                Some("web-7d4b9c"),
                Some("debugger-x2k9"),
                "items[0].spec.ephemeralContainers[0].image",
                "busybox:1.37",
                Plain,
                false,
            ),
            (
                0,
                35,
                18,
                "Deployment",
                Some("shop"),
                Some("api"),
                Some("api"),
                "items[2].spec.template.spec.containers[0].image",
                digest,
                Plain,
                false,
            ),
            // Items of a typed list may omit `kind`: it comes from the list's kind.
            (
                1,
                44,
                43,
                "Deployment",
                Some("prod"),
                Some("typed"),
                Some("app"),
                "items[0].spec.template.spec.containers[0].image",
                "registry.local:5000/app:2.0",
                DoubleQuoted,
                false,
            ),
            (
                1,
                53,
                20,
                "PodTemplate",
                None,
                Some("tmpl"),
                Some("init"),
                "items[1].template.spec.initContainers[0].image",
                "alpine:3.21",
                Plain,
                false,
            ),
        ],
    );
}

#[test]
fn flow_style_and_json() {
    let (_, found) = scan_fixture("flow.yaml", &FindOptions::default());
    assert_eq!(found.documents, 4);
    assert_images(
        "flow.yaml",
        &found.images,
        &[
            (
                0,
                1,
                144,
                "Pod",
                Some("default"),
                Some("json-pod"),
                Some("app"),
                "spec.containers[0].image",
                "nginx:1.27",
                DoubleQuoted,
                false,
            ),
            (
                1,
                4,
                20,
                "Pod",
                None,
                Some("flow-pod"),
                Some("a"),
                "spec.containers[0].image",
                "x/a:1",
                DoubleQuoted,
                false,
            ),
            (
                1,
                5,
                20,
                "Pod",
                None,
                Some("flow-pod"),
                Some("b"),
                "spec.containers[1].image",
                "x/b:2",
                SingleQuoted,
                false,
            ),
            (
                1,
                6,
                20,
                "Pod",
                None,
                Some("flow-pod"),
                Some("c"),
                "spec.containers[2].image",
                "x/c:3",
                Plain,
                false,
            ),
            (
                1,
                7,
                39,
                "Pod",
                None,
                Some("flow-pod"),
                Some("i"),
                "spec.initContainers[0].image",
                "x/i:4",
                Plain,
                false,
            ),
            (
                2,
                14,
                42,
                "ReplicaSet",
                Some("ns1"),
                Some("rs"),
                Some("r"),
                SPEC,
                "quay.io/r/r:v1",
                Plain,
                false,
            ),
            (
                3,
                24,
                31,
                "ReplicationController",
                None,
                Some("rc"),
                Some("legacy"),
                SPEC,
                "gcr.io/google_containers/legacy:0.1",
                DoubleQuoted,
                false,
            ),
        ],
    );
    assert!(found.images.iter().all(|i| i.in_flow));
}

#[test]
fn anchors_and_aliases_point_at_the_anchored_scalar() {
    let (source, found) = scan_fixture("anchors.yaml", &FindOptions::default());
    assert_eq!(found.documents, 3);
    let ns = Some("data");
    assert_images(
        "anchors.yaml",
        &found.images,
        &[
            (
                0,
                12,
                27,
                "StatefulSet",
                ns,
                Some("db"),
                Some("init-perms"),
                "spec.template.spec.initContainers[0].image",
                "bitnami/kubectl:1.32",
                Plain,
                false,
            ),
            (
                0,
                12,
                27,
                "StatefulSet",
                ns,
                Some("db"),
                Some("migrate"),
                "spec.template.spec.initContainers[1].image",
                "bitnami/kubectl:1.32",
                Plain,
                true,
            ),
            (
                0,
                18,
                18,
                "StatefulSet",
                ns,
                Some("db"),
                Some("postgres"),
                SPEC,
                "postgres:17.2",
                Plain,
                false,
            ),
            // The second container is `<<: *main` with its own name: merged image.
            (
                0,
                18,
                18,
                "StatefulSet",
                ns,
                Some("db"),
                Some("replica"),
                "spec.template.spec.containers[1].image",
                "postgres:17.2",
                Plain,
                true,
            ),
            (
                1,
                31,
                18,
                "Job",
                None,
                Some("shared"),
                Some("one"),
                SPEC,
                "alpine:3.21",
                DoubleQuoted,
                false,
            ),
            (
                2,
                43,
                20,
                "Job",
                None,
                Some("shared-2"),
                Some("solo"),
                SPEC,
                "busybox:1.37",
                SingleQuoted,
                true,
            ),
        ],
    );
    // Both kubectl fields share the anchored scalar's bytes, not the alias's.
    assert_eq!(found.images[0].span, found.images[1].span);
    assert_eq!(
        &source[found.images[1].span.clone()],
        "bitnami/kubectl:1.32"
    );
    assert!(source[..found.images[1].span.start].ends_with("&kubectl "));
}

#[test]
fn crlf_and_bom() {
    let (source, found) = scan_fixture("crlf-bom.yaml", &FindOptions::default());
    assert!(source.starts_with('\u{feff}') && source.contains("\r\n"));
    assert_eq!(found.documents, 2);
    assert_images(
        "crlf-bom.yaml",
        &found.images,
        &[
            (
                0,
                10,
                12,
                "Pod",
                Some("win"),
                Some("crlf"),
                Some("plain"),
                "spec.containers[0].image",
                "mcr.microsoft.com/windows/nanoserver:ltsc2022",
                Plain,
                false,
            ),
            (
                0,
                12,
                12,
                "Pod",
                Some("win"),
                Some("crlf"),
                Some("quoted"),
                "spec.containers[1].image",
                "mcr.microsoft.com/powershell:lts-7.4",
                DoubleQuoted,
                false,
            ),
            (
                0,
                15,
                7,
                "Pod",
                Some("win"),
                Some("crlf"),
                Some("block"),
                "spec.containers[2].image",
                "mcr.microsoft.com/oss/kubernetes/pause:3.10",
                Literal,
                false,
            ),
            (
                1,
                23,
                12,
                "Pod",
                None,
                Some("second"),
                Some("last"),
                "spec.containers[0].image",
                "clastix/kubectl:v1.32",
                SingleQuoted,
                false,
            ),
        ],
    );
}

#[test]
fn helm_stream_with_empty_documents_markers_blocks_and_comments() {
    let (_, found) = scan_fixture("helm-misc.yaml", &FindOptions::default());
    assert_eq!(found.documents, 3);
    let n = Some("blocks");
    let p = |i: usize| leak(&format!("spec.containers[{i}].image"));
    assert_images(
        "helm-misc.yaml",
        &found.images,
        &[
            (
                2,
                33,
                9,
                "Pod",
                None,
                n,
                Some("literal-strip"),
                p(0),
                "registry.example.com/literal:v1.32",
                Literal,
                false,
            ),
            (
                2,
                36,
                9,
                "Pod",
                None,
                n,
                Some("folded-strip"),
                p(1),
                "registry.example.com/folded:v1.32",
                Folded,
                false,
            ),
            // Clip chomping keeps the line break in the value: reported as it is.
            (
                2,
                40,
                9,
                "Pod",
                None,
                n,
                Some("literal-clip"),
                p(2),
                "registry.example.com/clip:v1.32\n",
                Literal,
                false,
            ),
            (
                2,
                42,
                20,
                "Pod",
                None,
                n,
                Some("tagged"),
                p(3),
                "registry.example.com/tagged:v1.32",
                Plain,
                false,
            ),
            (
                2,
                44,
                14,
                "Pod",
                None,
                n,
                Some("multiline-quoted"),
                p(4),
                "registry.example.com/multi:v1.32",
                DoubleQuoted,
                false,
            ),
        ],
    );
    assert!(
        found
            .images
            .iter()
            .all(|i| i.helm_hook.as_deref() == Some("test"))
    );
    assert!(
        found
            .images
            .iter()
            .all(|i| i.helm_source.as_deref() == Some("misc/templates/blocks.yaml"))
    );
    let skipped: Vec<_> = found
        .skipped
        .iter()
        .map(|s| {
            (
                s.location.line,
                s.location.column,
                s.location.container.as_deref(),
                s.reason,
            )
        })
        .collect();
    assert_eq!(
        skipped,
        [
            (47, 12, Some("empty"), SkipReason::Null),
            (49, 14, Some("nulled"), SkipReason::Null),
            (52, 9, Some("mapping"), SkipReason::Mapping),
        ]
    );
}

#[test]
fn location_serialises_with_the_contract_field_names() {
    let (_, found) = scan_fixture("capsule.yaml", &FindOptions::default());
    let json = serde_json::to_value(&found.images[2].location).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "file": "capsule.yaml",
            "document": 4,
            "line": 128,
            "column": 18,
            "kind": "Job",
            "namespace": "capsule-system",
            "name": "capsule-pre-delete",
            "container": "pre-delete-job",
            "path": "spec.template.spec.containers[0].image"
        })
    );
    let json = serde_json::to_value(&found.images[0]).unwrap();
    assert_eq!(json["style"], "double_quoted");
    assert_eq!(
        json["span"],
        serde_json::json!({"start": 1435, "end": 1474})
    );
}

fn expected(name: &str) -> String {
    fixture(&format!("expected/{name}"))
}

/// Rewrites every image whose value contains `from` by replacing it with `to`.
fn retag(name: &str, from: &str, to: &str) -> String {
    let (source, found) = scan_fixture(name, &FindOptions::default());
    let edits: Vec<Edit> = found
        .images
        .iter()
        .filter(|i| i.image.contains(from))
        .map(|i| i.edit(i.image.trim_end().replace(from, to)))
        .collect();
    assert!(!edits.is_empty());
    rewrite(&source, &edits).unwrap()
}

#[test]
fn rewrite_goldens_are_byte_for_byte() {
    for name in ["capsule", "anchors", "velero", "helm-misc"] {
        let out = retag(&format!("{name}.yaml"), "1.32", "1.31");
        assert_eq!(out, expected(&format!("{name}.rewritten.yaml")), "{name}");
    }
    let out = retag("kube-prometheus-stack.yaml", "v1.32.0", "v1.31.0");
    assert_eq!(out, expected("kube-prometheus-stack.rewritten.yaml"));
}

#[test]
fn rewrite_golden_pins_crlf_bom_stream() {
    let (source, found) = scan_fixture("crlf-bom.yaml", &FindOptions::default());
    let digest = format!("sha256:{}", "ab".repeat(32));
    let edits: Vec<Edit> = found
        .images
        .iter()
        .map(|i| i.edit(format!("{}@{digest}", i.image)))
        .collect();
    let out = rewrite(&source, &edits).unwrap();
    assert_eq!(out, expected("crlf-bom.pinned.yaml"));
    assert!(out.starts_with('\u{feff}'));
    assert_eq!(out.matches("\r\n").count(), source.matches("\r\n").count());
    assert_eq!(out.matches('\n').count(), source.matches('\n').count());
}

#[test]
fn rewrite_golden_flow_style() {
    let (source, found) = scan_fixture("flow.yaml", &FindOptions::default());
    let edits: Vec<Edit> = found
        .images
        .iter()
        .map(|i| i.edit(format!("mirror.local/{}", i.image)))
        .collect();
    assert_eq!(
        rewrite(&source, &edits).unwrap(),
        expected("flow.mirrored.yaml")
    );
}

#[test]
fn rewritten_streams_read_back_with_the_new_images() {
    for name in [
        "capsule.yaml",
        "velero.yaml",
        "anchors.yaml",
        "crlf-bom.yaml",
        "flow.yaml",
        "list.yaml",
        "helm-misc.yaml",
    ] {
        let (source, found) = scan_fixture(name, &FindOptions::default());
        let edits: Vec<Edit> = found
            .images
            .iter()
            .map(|i| i.edit(format!("new.example/{}", i.image.trim_end())))
            .collect();
        let out = rewrite(&source, &edits).unwrap();
        let again = scan(name, &out, &FindOptions::default()).unwrap();
        assert_eq!(again.images.len(), found.images.len(), "{name}");
        assert_eq!(again.documents, found.documents);
        for (before, after) in found.images.iter().zip(&again.images) {
            assert_eq!(before.location.path, after.location.path);
            assert_eq!(before.location.line, after.location.line);
            assert_eq!(before.style, after.style);
            // Block scalars keep their chomping: a clip scalar keeps its final line break.
            let suffix = &before.image[before.image.trim_end().len()..];
            assert_eq!(
                after.image,
                format!("new.example/{}{suffix}", before.image.trim_end())
            );
        }
    }
}

#[test]
fn image_path_rules_in_crds_and_lists() {
    let yaml = "kind: List\nitems:\n- kind: Thing\n  spec:\n    sidecars:\n    - {name: s0, image: a:1}\n    - {name: s1, image: b:2}\n    images: [c:3, d:4]\n";
    let options = FindOptions::default()
        .with_image_path(ImagePath::parse("Thing:spec.sidecars[1].image").unwrap())
        .with_image_path(ImagePath::parse("Thing:spec.images[*]").unwrap());
    let images = tagwarden_manifest::find_images("t.yaml", yaml, &options).unwrap();
    let got: Vec<_> = images
        .iter()
        .map(|i| {
            (
                i.image.as_str(),
                i.location.path.as_str(),
                i.location.container.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("b:2", "items[0].spec.sidecars[1].image", Some("s1")),
            ("c:3", "items[0].spec.images[0]", None),
            ("d:4", "items[0].spec.images[1]", None),
        ]
    );
    // A rule for every kind, and the built-in rules switched off.
    let mut options = FindOptions::default()
        .with_image_path_specs(["*:image"])
        .unwrap();
    options.builtin = false;
    let images = tagwarden_manifest::find_images(
        "t.yaml",
        "---\nimage: x:1\n---\nkind: Pod\nimage: y:2\nspec: {containers: [{image: z:3}]}\n",
        &options,
    )
    .unwrap();
    let got: Vec<_> = images
        .iter()
        .map(|i| {
            (
                i.location.document,
                i.location.kind.as_str(),
                i.image.as_str(),
            )
        })
        .collect();
    assert_eq!(got, [(0, "", "x:1"), (1, "Pod", "y:2")]);
}

#[test]
fn references_parse_except_what_kubernetes_would_reject() {
    let (_, found) = scan_fixture("capsule.yaml", &FindOptions::default());
    let kubectl = found.images[1].reference().unwrap();
    assert_eq!(kubectl.tag(), Some("v1.32"));
    assert_eq!(
        kubectl.with_tag("v1.31").unwrap().original(),
        "clastix/kubectl:v1.31"
    );
    let (_, found) = scan_fixture("helm-misc.yaml", &FindOptions::default());
    let clip = found
        .images
        .iter()
        .find(|i| i.location.container.as_deref() == Some("literal-clip"))
        .unwrap();
    assert!(
        clip.reference().is_err(),
        "a trailing line break is not a reference"
    );
    let strip = found
        .images
        .iter()
        .find(|i| i.location.container.as_deref() == Some("literal-strip"))
        .unwrap();
    assert!(strip.reference().is_ok());
}

#[test]
fn numbers_and_booleans_are_skipped_not_reported() {
    let yaml = "kind: Pod\nspec:\n  containers:\n  - {name: a, image: 1.32}\n  - {name: b, image: \"1.32\"}\n  - {name: c, image: yes}\n  - {name: d, image: !!str 0o14}\n";
    let found = scan("n.yaml", yaml, &FindOptions::default()).unwrap();
    let images: Vec<_> = found
        .images
        .iter()
        .map(|i| (i.location.container.as_deref(), i.image.as_str()))
        .collect();
    assert_eq!(images, [(Some("b"), "1.32"), (Some("d"), "0o14")]);
    let skipped: Vec<_> = found
        .skipped
        .iter()
        .map(|s| {
            (
                s.location.container.as_deref(),
                s.reason,
                s.value.as_deref(),
                s.location.line,
                s.location.column,
            )
        })
        .collect();
    assert_eq!(
        skipped,
        [
            (Some("a"), SkipReason::Number, Some("1.32"), 4, 22),
            (Some("c"), SkipReason::Boolean, Some("yes"), 6, 22),
        ]
    );
    assert_eq!(
        SkipReason::Number.to_string(),
        "the image is a number, not a string (quote it)"
    );
}

/// Issue 12 items 7 and 8: every way a container can fail to name an image string is
/// reported with its own reason and location, directly and through aliases.
#[test]
fn every_missing_or_non_string_image_has_its_reason() {
    let yaml = "\
kind: Pod
metadata: {name: p}
shared:
  map: &map {repository: nginx, tag: \"1.27\"}
  seq: &seq [nginx]
  nul: &nul ~
spec:
  containers:
  - {name: quoted-empty, image: \"\"}
  - {name: single-empty, image: ''}
  - name: bare
    image:
  - {name: tilde, image: ~}
  - {name: word, image: null}
  - {name: tagged-null, image: !!null \"\"}
  - name: absent
    ports: [{containerPort: 80}]
  - {name: number, image: 1.32}
  - {name: boolean, image: off}
  - {name: mapping, image: {repository: nginx}}
  - {name: sequence, image: [nginx]}
  - {name: map-alias, image: *map}
  - {name: seq-alias, image: *seq}
  - {name: null-alias, image: *nul}
  - {name: ok, image: nginx:1.27}
  initContainers:
  - name: init-absent
";
    let found = scan("reasons.yaml", yaml, &FindOptions::default()).unwrap();
    assert_eq!(found.images.len(), 1);
    assert_eq!(found.images[0].image, "nginx:1.27");
    let skipped: Vec<_> = found
        .skipped
        .iter()
        .map(|s| {
            (
                s.location.container.as_deref().unwrap(),
                s.reason,
                s.value.as_deref(),
                s.via_alias,
                (s.location.line, s.location.column),
            )
        })
        .collect();
    use SkipReason::*;
    assert_eq!(
        skipped,
        [
            ("map-alias", Mapping, None, true, (4, 13)),
            ("seq-alias", Sequence, None, true, (5, 13)),
            ("null-alias", Null, None, true, (6, 13)),
            ("quoted-empty", Empty, None, false, (9, 33)),
            ("single-empty", Empty, None, false, (10, 33)),
            ("bare", Null, None, false, (12, 10)),
            ("tilde", Null, None, false, (13, 26)),
            ("word", Null, None, false, (14, 25)),
            ("tagged-null", Null, None, false, (15, 39)),
            ("absent", Absent, None, false, (16, 5)),
            ("number", Number, Some("1.32"), false, (18, 27)),
            ("boolean", Boolean, Some("off"), false, (19, 28)),
            ("mapping", Mapping, None, false, (20, 28)),
            ("sequence", Sequence, None, false, (21, 29)),
            ("init-absent", Absent, None, false, (27, 5)),
        ]
    );
    let absent = found.skipped.iter().find(|s| s.reason == Absent).unwrap();
    assert_eq!(absent.location.path, "spec.containers[6].image");
    assert_eq!(absent.message(), "the container has no image");
    let via = found.skipped.iter().find(|s| s.via_alias).unwrap();
    assert_eq!(
        via.message(),
        "the image is a mapping, not a string (through an alias)"
    );
    assert_eq!(via.location.path, "spec.containers[11].image");
    for reason in [Empty, Null, Absent] {
        assert!(reason.is_unset() && !reason.is_not_a_string(), "{reason:?}");
    }
    for reason in [Number, Boolean, Mapping, Sequence] {
        assert!(reason.is_not_a_string() && !reason.is_unset(), "{reason:?}");
    }
    assert_eq!(
        serde_json::to_value(&found.skipped[9]).unwrap()["reason"],
        "absent"
    );

    // Skipping documents without image keys must not hide a container without one.
    let no_image = "kind: Pod\nspec:\n  containers:\n  - name: a\n";
    let fast = FindOptions::default().with_validate_all_documents(false);
    let stream = format!("---\nkind: ConfigMap\n---\n{no_image}");
    let found = scan("fast.yaml", &stream, &fast).unwrap();
    assert_eq!(found.skipped.len(), 1, "{found:?}");
    assert_eq!(found.skipped[0].reason, Absent);
    assert_eq!(found.skipped[0].location.document, 1);

    // A rule whose field is not in a list item (an operator may default it) reports nothing
    // when the field is missing.
    let options = FindOptions::default()
        .with_image_path_specs(["Prometheus:spec.image", "Thing:spec.sidecars[*].image"])
        .unwrap();
    let crs = "kind: Prometheus\nspec: {replicas: 1}\n---\nkind: Thing\nspec:\n  sidecars:\n  - name: s\n";
    let found = scan("crs.yaml", crs, &options).unwrap();
    let reasons: Vec<_> = found
        .skipped
        .iter()
        .map(|s| (s.location.kind.as_str(), s.reason, s.location.path.as_str()))
        .collect();
    assert_eq!(reasons, [("Thing", Absent, "spec.sidecars[0].image")]);
}
