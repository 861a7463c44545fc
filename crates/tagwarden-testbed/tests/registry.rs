//! The test bed against the real registry: what it seeds is what a client sees.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::Value;
use tagwarden_testbed::image::{
    self, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST,
};
use tagwarden_testbed::{
    ACCEPT_ALL_MANIFESTS, MANY_TAGS, ManifestKind, Platform, Registry, Seeded, seed_standard,
};

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn header(resp: &reqwest::blocking::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {resp:?}"))
        .to_str()
        .unwrap()
        .to_string()
}

/// GET a manifest with all media types accepted: (Content-Type, parsed JSON, digest header).
fn get_manifest(c: &Client, base: &str, repo: &str, reference: &str) -> (String, Value, String) {
    let resp = c
        .get(format!("{base}/v2/{repo}/manifests/{reference}"))
        .header("Accept", ACCEPT_ALL_MANIFESTS)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200, "GET {repo}:{reference}");
    let ct = header(&resp, "content-type");
    let dg = header(&resp, "docker-content-digest");
    let bytes = resp.bytes().unwrap();
    assert_eq!(image::sha256_digest(&bytes), dg, "digest header vs body");
    (ct, serde_json::from_slice(&bytes).unwrap(), dg)
}

fn get_blob(c: &Client, base: &str, repo: &str, digest: &str) -> Vec<u8> {
    let resp = c
        .get(format!("{base}/v2/{repo}/blobs/{digest}"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200, "GET blob {repo}@{digest}");
    resp.bytes().unwrap().to_vec()
}

#[test]
fn standard_data_set_is_served() {
    let registry = Registry::start();
    let t = Instant::now();
    let seeded = seed_standard(&registry);
    eprintln!("seed_standard took {:?}", t.elapsed());
    let c = client();
    let base = registry.url();

    // HEAD of an alias answers with the digest of the newest patch.
    let resp = c
        .head(format!("{base}/v2/clastix/kubectl/manifests/v1.31"))
        .header("Accept", ACCEPT_ALL_MANIFESTS)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "docker-content-digest"),
        seeded.digest("clastix/kubectl", "v1.31.4")
    );
    assert_eq!(header(&resp, "content-type"), OCI_INDEX);
    assert_eq!(
        seeded.digest("clastix/kubectl", "latest"),
        seeded.digest("clastix/kubectl", "v1.31.4")
    );
    assert_ne!(
        seeded.digest("clastix/kubectl", "v1.31.3"),
        seeded.digest("clastix/kubectl", "v1.31.4")
    );

    // There is deliberately no v1.32: HEAD and GET say 404, GET with MANIFEST_UNKNOWN.
    let url = format!("{base}/v2/clastix/kubectl/manifests/v1.32");
    let resp = c
        .head(&url)
        .header("Accept", ACCEPT_ALL_MANIFESTS)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = c
        .get(&url)
        .header("Accept", ACCEPT_ALL_MANIFESTS)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().unwrap();
    assert_eq!(body["errors"][0]["code"], "MANIFEST_UNKNOWN", "{body}");
    assert!(
        seeded
            .tags("clastix/kubectl")
            .iter()
            .all(|t| !t.starts_with("v1.32"))
    );

    // The v1.31.4 index has amd64 and arm64/v8, each a real OCI image manifest.
    let (ct, index, _) = get_manifest(&c, &base, "clastix/kubectl", "v1.31.4");
    assert_eq!(ct, OCI_INDEX);
    let entries = index["manifests"].as_array().unwrap();
    let platforms: Vec<String> = entries
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let mut s = format!(
                "{}/{}",
                p["os"].as_str().unwrap(),
                p["architecture"].as_str().unwrap()
            );
            if let Some(v) = p["variant"].as_str() {
                s = format!("{s}/{v}");
            }
            s
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);
    for entry in entries {
        assert_eq!(entry["mediaType"], OCI_MANIFEST);
        let (ct, m, dg) = get_manifest(
            &c,
            &base,
            "clastix/kubectl",
            entry["digest"].as_str().unwrap(),
        );
        assert_eq!(ct, OCI_MANIFEST);
        assert_eq!(dg, entry["digest"].as_str().unwrap());
        let config = get_blob(
            &c,
            &base,
            "clastix/kubectl",
            m["config"]["digest"].as_str().unwrap(),
        );
        let config: Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(config["architecture"], entry["platform"]["architecture"]);
        assert_eq!(config["os"], "linux");
    }

    // bitnami/kubectl carries the Docker media types.
    let docker: BTreeMap<&str, &str> = [
        ("1.28.15", DOCKER_MANIFEST),
        ("1.29.10", DOCKER_MANIFEST),
        ("1.30.6", DOCKER_MANIFEST_LIST),
        ("1.31.2", DOCKER_MANIFEST_LIST),
        ("1.31", DOCKER_MANIFEST_LIST),
        ("latest", DOCKER_MANIFEST_LIST),
        ("1.28", DOCKER_MANIFEST),
    ]
    .into_iter()
    .collect();
    for (tag, want) in docker {
        let (ct, m, dg) = get_manifest(&c, &base, "bitnami/kubectl", tag);
        assert_eq!(ct, want, "bitnami/kubectl:{tag}");
        assert_eq!(m["mediaType"], want);
        assert_eq!(dg, seeded.digest("bitnami/kubectl", tag));
        assert_eq!(seeded.media_type("bitnami/kubectl", tag), want);
    }
    let (_, list, _) = get_manifest(&c, &base, "library/busybox", "latest");
    assert_eq!(list["manifests"][1]["platform"]["variant"], "v8");

    // A layer blob is a real gzip'd tar whose sha256 matches its digest and
    // whose uncompressed sha256 is the config's diff_id.
    let (_, m, _) = get_manifest(&c, &base, "bitnami/kubectl", "1.28.15");
    let layer_digest = m["layers"][0]["digest"].as_str().unwrap();
    assert_eq!(
        m["layers"][0]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
    let layer = get_blob(&c, &base, "bitnami/kubectl", layer_digest);
    assert_eq!(image::sha256_digest(&layer), layer_digest);
    assert_eq!(m["layers"][0]["size"], layer.len() as u64);
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&layer[..])
        .read_to_end(&mut tar)
        .unwrap();
    let config = get_blob(
        &c,
        &base,
        "bitnami/kubectl",
        m["config"]["digest"].as_str().unwrap(),
    );
    let config: Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(
        config["rootfs"]["diff_ids"][0],
        image::sha256_digest(&tar).as_str()
    );
    let text = String::from_utf8_lossy(&tar);
    assert!(
        text.contains("repo=bitnami/kubectl\ntag=1.28.15\narch=amd64\n"),
        "layer content"
    );

    // tags/list of every repository matches what Seeded says.
    for repo in seeded.repos() {
        let resp = c.get(format!("{base}/v2/{repo}/tags/list")).send().unwrap();
        assert_eq!(resp.status(), 200, "{repo}");
        let body: Value = resp.json().unwrap();
        let mut tags: Vec<String> = body["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        tags.sort();
        assert_eq!(tags, seeded.tags(&repo), "{repo}");
    }
    assert_eq!(seeded.tags("seed/many-tags").len(), MANY_TAGS);
    assert_eq!(
        seeded.repos(),
        [
            "acme/tools/kubectl",
            "bitnami/kubectl",
            "clastix/kubectl",
            "library/busybox",
            "seed/many-tags",
            "suffix/kubectl"
        ]
    );
    assert_eq!(
        seeded.tags("suffix/kubectl"),
        [
            "1.30.9-debian-12",
            "1.31.2-debian-12",
            "1.31.3-debian-11",
            "1.31.5",
            "1.32.0-alpine"
        ]
    );
    let (ct, _, _) = get_manifest(&c, &base, "acme/tools/kubectl", "v1.31.1");
    assert_eq!(ct, OCI_MANIFEST);
    let digests: std::collections::BTreeSet<&str> = seeded
        .tags("seed/many-tags")
        .iter()
        .map(|t| seeded.digest("seed/many-tags", t))
        .collect::<Vec<_>>()
        .into_iter()
        .collect();
    assert_eq!(digests.len(), 1, "many-tags share one digest");

    // Asking Seeded for a tag it does not have names the tags it has.
    let err = std::panic::catch_unwind(|| seeded.digest("clastix/kubectl", "v1.32").to_string())
        .unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.starts_with("tag clastix/kubectl:v1.32 was not seeded; clastix/kubectl has: ["),
        "{msg}"
    );
}

/// Two fresh registries get the same digests, and those equal what is built
/// offline, without a registry.
#[test]
fn seeding_is_deterministic() {
    let seed = || {
        let r = Registry::start();
        let seeded = seed_standard(&r);
        (r, seeded)
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(seed);
        let b = s.spawn(seed);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.0.addr(), b.0.addr());
    let all = |s: &Seeded| {
        s.iter()
            .map(|(r, t, d)| format!("{r}:{t}@{d}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(all(&a.1), all(&b.1));
    let img = image::build_image(
        "suffix/kubectl",
        "1.31.5",
        ManifestKind::Oci,
        &Platform::linux_amd64(),
    );
    assert_eq!(a.1.digest("suffix/kubectl", "1.31.5"), img.manifest.digest);
}

#[test]
fn drop_stops_the_registry() {
    let registry = Registry::start();
    let addr: SocketAddr = registry.addr().parse().unwrap();
    let pid = registry.pid();
    let dir = registry.data_dir().to_path_buf();
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok());
    let t = Instant::now();
    drop(registry);
    eprintln!("drop took {:?}", t.elapsed());
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "port still answers after drop"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} still exists after drop"
    );
    assert!(!dir.exists(), "data dir {} survived drop", dir.display());
}

/// The registry must outlive the thread that started it (see the module docs
/// of `registry` on PR_SET_PDEATHSIG and the spawner thread).
#[test]
fn registry_outlives_the_thread_that_started_it() {
    let registry = std::thread::spawn(Registry::start).join().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let resp = client()
        .get(format!("{}/v2/", registry.url()))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// The sync API must not panic with "cannot block inside a runtime" when a
/// test happens to be async.
#[test]
fn works_from_inside_a_tokio_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let registry = Registry::start();
        let seeder = registry.seeder();
        let d = seeder.push_image(
            "async/repo",
            "1.0.0",
            ManifestKind::Docker,
            &[Platform::linux_amd64(), Platform::linux_arm64()],
        );
        assert_eq!(seeder.alias("async/repo", "1.0.0", "1.0"), d);
        let (ct, _) = seeder.get_manifest("async/repo", "1.0");
        assert_eq!(ct, DOCKER_MANIFEST_LIST);
        let tags: Vec<String> = (0..5).map(|i| format!("t{i}")).collect();
        let shared = seeder.many_tags("async/many", &tags);
        assert_eq!(seeder.alias("async/many", "t4", "t5"), shared);
        drop(seeder);
        drop(registry);
    });
}

#[test]
#[should_panic(expected = "repository \"nope/nothing\" was not seeded")]
fn unknown_repo_panics_clearly() {
    let _ = Seeded::default().digest("nope/nothing", "latest");
}
