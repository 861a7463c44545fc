//! Synthetic rendered-chart streams for the benchmark and the peak-memory example.

/// One Deployment with one image, padded with realistic fields to about `size` bytes. The
/// image's style rotates through plain, double-quoted, single-quoted, literal and flow.
pub fn workload(i: usize, size: usize) -> String {
    let image = format!("registry.example.com/team-{}/app-{i}:v1.32", i % 17);
    let container = match i % 5 {
        0 => format!("        - name: app\n          image: {image}\n"),
        1 => format!("        - name: app\n          image: \"{image}\"\n"),
        2 => format!("        - name: app\n          image: '{image}' # pinned by CI\n"),
        3 => format!("        - name: app\n          image: |-\n            {image}\n"),
        // A flow container; the padding fields go to a second container without an image.
        _ => format!("        - {{name: app, image: {image}}}\n        - name: config-watcher\n"),
    };
    let mut doc = format!(
        "---\n# Source: chart-{c}/templates/deployment-{i}.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  namespace: ns-{c}\n  labels:\n    app.kubernetes.io/name: app-{i}\n    app.kubernetes.io/instance: release-{c}\n    helm.sh/chart: chart-{c}-1.2.3\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: app-{i}\n  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: app-{i}\n      annotations:\n        checksum/config: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n    spec:\n      serviceAccountName: app-{i}\n      securityContext: {{runAsNonRoot: true, runAsUser: 1000}}\n      containers:\n{container}          imagePullPolicy: IfNotPresent\n          ports:\n            - name: http\n              containerPort: 8080\n              protocol: TCP\n          resources:\n            limits: {{cpu: 500m, memory: 128Mi}}\n            requests: {{cpu: 10m, memory: 64Mi}}\n",
        c = i % 40
    );
    let mut n = 0;
    if doc.ends_with('\n') && doc.len() < size {
        doc.push_str("          env:\n");
    }
    while doc.len() < size {
        doc.push_str(&format!(
            "            - name: SETTING_{n}\n              value: \"value number {n} of a long-ish environment\"\n"
        ));
        n += 1;
    }
    doc
}

/// A CRD-like document without any `image` key, about `size` bytes.
pub fn crd(i: usize, size: usize) -> String {
    let mut doc = format!(
        "---\n# Source: chart/crds/crd-{i}.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: things{i}.example.com\nspec:\n  group: example.com\n  versions:\n  - name: v1\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n"
    );
    let mut n = 0;
    while doc.len() < size {
        doc.push_str(&format!(
            "          field{n}:\n            description: Field number {n} describes something of the resource in a sentence that is rather long, as CRD descriptions are.\n            type: string\n"
        ));
        n += 1;
    }
    doc
}

/// 10 MB, 5,000 images: every document is a ~2 KB Deployment (the worst case: every
/// document must be parsed).
pub fn all_workloads() -> String {
    (0..5_000).map(|i| workload(i, 2_000)).collect()
}

/// 10 MB, 5,000 images in ~700-byte Deployments, the rest CRDs (as a kube-prometheus-stack
/// render is: mostly CRDs).
pub fn mixed() -> String {
    let mut s: String = (0..5_000).map(|i| workload(i, 700)).collect();
    let mut i = 0;
    while s.len() < 10_000_000 {
        s.push_str(&crd(i, 60_000));
        i += 1;
    }
    s
}
