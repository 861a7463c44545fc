//! Deterministic, valid container images built in memory (no docker, no skopeo).
//!
//! An image as a registry sees it is a small tree of content-addressed blobs:
//!
//! ```text
//! index / manifest list      (only for multi-platform images)
//!  └─ image manifest          one per platform
//!      ├─ config blob          JSON: os, architecture, variant, rootfs.diff_ids, ...
//!      └─ layer blob           a gzip'd tar; its *uncompressed* sha256 is the diff_id
//! ```
//!
//! Every byte here is a pure function of the inputs (repo, tag, platform, kind):
//!
//! - the tar is written by hand (ustar headers, mtime 0, uid/gid 0, no user names),
//! - gzip gets no file name and mtime 0 ([`flate2::GzBuilder`] defaults),
//! - JSON is serialized from structs, so field order is fixed,
//! - the config's `created` dates are the Unix epoch.
//!
//! So digests are identical on every run. They are *not* promised to stay the
//! same across versions of this crate or of flate2's deflate backend: tests
//! must take digests from [`crate::Seeded`] / [`crate::Seeder`] return values,
//! never hard-code them.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI gzip'd layer media type.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (the Docker flavour of an index).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config media type.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip'd layer media type.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The `Accept` header value that asks for any of the four manifest media types.
///
/// Send it on every manifest request: distribution 2.8 answers 404 for an OCI
/// manifest when the client does not say it accepts OCI types.
pub const ACCEPT_ALL_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json,\
application/vnd.oci.image.manifest.v1+json,\
application/vnd.docker.distribution.manifest.list.v2+json,\
application/vnd.docker.distribution.manifest.v2+json";

/// Which family of media types an image is pushed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ManifestKind {
    /// OCI image manifest; multi-platform images get an OCI image index.
    Oci,
    /// Docker schema 2 manifest; multi-platform images get a Docker manifest list.
    Docker,
}

impl ManifestKind {
    /// Media type of a single-platform image manifest.
    pub fn manifest_media_type(self) -> &'static str {
        match self {
            ManifestKind::Oci => OCI_MANIFEST,
            ManifestKind::Docker => DOCKER_MANIFEST,
        }
    }

    /// Media type of the multi-platform index / manifest list.
    pub fn index_media_type(self) -> &'static str {
        match self {
            ManifestKind::Oci => OCI_INDEX,
            ManifestKind::Docker => DOCKER_MANIFEST_LIST,
        }
    }

    /// Media type of the config blob.
    pub fn config_media_type(self) -> &'static str {
        match self {
            ManifestKind::Oci => OCI_CONFIG,
            ManifestKind::Docker => DOCKER_CONFIG,
        }
    }

    /// Media type of a gzip'd layer blob.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            ManifestKind::Oci => OCI_LAYER_GZIP,
            ManifestKind::Docker => DOCKER_LAYER_GZIP,
        }
    }
}

/// An OS/architecture(/variant) triple, as written in image configs and index entries.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU architecture in Go spelling, e.g. `amd64`, `arm64`.
    pub architecture: String,
    /// CPU variant, e.g. `v8` for arm64; omitted from JSON when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// Any platform.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// `linux/amd64`.
    pub fn linux_amd64() -> Platform {
        Platform::new("linux", "amd64", None)
    }

    /// `linux/arm64/v8`.
    pub fn linux_arm64() -> Platform {
        Platform::new("linux", "arm64", Some("v8"))
    }
}

impl fmt::Display for Platform {
    /// `os/architecture[/variant]`, e.g. `linux/arm64/v8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// One content-addressed blob: its bytes, digest and the media type it is referenced with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    /// Media type used in the descriptor that points at this blob.
    pub media_type: &'static str,
    /// `sha256:<hex>` of `bytes`.
    pub digest: String,
    /// The exact bytes.
    pub bytes: Vec<u8>,
}

impl Blob {
    /// Wrap bytes, computing the digest.
    pub fn new(media_type: &'static str, bytes: Vec<u8>) -> Blob {
        Blob {
            media_type,
            digest: sha256_digest(&bytes),
            bytes,
        }
    }

    /// Size in bytes, as written in descriptors.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// A single-platform image: layer, config and the manifest that ties them together.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    /// The platform the config declares.
    pub platform: Platform,
    /// `sha256:<hex>` of the uncompressed layer tar (the config's `rootfs.diff_ids[0]`).
    pub diff_id: String,
    /// The gzip'd tar layer.
    pub layer: Blob,
    /// The image config JSON.
    pub config: Blob,
    /// The image manifest JSON (OCI or Docker schema 2).
    pub manifest: Blob,
}

/// `sha256:<lowercase hex>` of `bytes`: the digest format registries use.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in hash {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The text of `/etc/seed-release` in the layer of `repo:tag` for `platform`.
pub fn seed_release_text(repo: &str, tag: &str, platform: &Platform) -> String {
    format!(
        "seed-registry test image\nrepo={repo}\ntag={tag}\narch={}\nplatform={platform}\n",
        platform.architecture
    )
}

/// Build the deterministic single-platform image for `repo:tag`.
pub fn build_image(repo: &str, tag: &str, kind: ManifestKind, platform: &Platform) -> BuiltImage {
    let content = seed_release_text(repo, tag, platform);
    let tar = tar_archive(&[
        TarEntry::Dir { path: "etc/" },
        TarEntry::File {
            path: "etc/seed-release",
            data: content.as_bytes(),
        },
    ]);
    let diff_id = sha256_digest(&tar);
    let layer = Blob::new(kind.layer_media_type(), gzip(&tar));

    let mut labels = BTreeMap::new();
    labels.insert("org.opencontainers.image.title", repo.to_string());
    labels.insert("org.opencontainers.image.version", tag.to_string());
    let config = ImageConfig {
        architecture: &platform.architecture,
        os: &platform.os,
        variant: platform.variant.as_deref(),
        created: EPOCH,
        config: RunConfig {
            cmd: vec!["/bin/sh"],
            labels,
        },
        rootfs: RootFs {
            kind: "layers",
            diff_ids: vec![diff_id.clone()],
        },
        history: vec![History {
            created: EPOCH,
            created_by: "tagwarden-testbed",
        }],
    };
    let config = Blob::new(kind.config_media_type(), to_json(&config));

    let manifest = ImageManifest {
        schema_version: 2,
        media_type: kind.manifest_media_type(),
        config: Descriptor::of(&config, None),
        layers: vec![Descriptor::of(&layer, None)],
    };
    let manifest = Blob::new(kind.manifest_media_type(), to_json(&manifest));

    BuiltImage {
        platform: platform.clone(),
        diff_id,
        layer,
        config,
        manifest,
    }
}

/// Build the index (OCI) or manifest list (Docker) over `images`, each entry
/// carrying its image's `platform`.
pub fn build_index(kind: ManifestKind, images: &[BuiltImage]) -> Blob {
    let index = ImageIndex {
        schema_version: 2,
        media_type: kind.index_media_type(),
        manifests: images
            .iter()
            .map(|img| Descriptor::of(&img.manifest, Some(&img.platform)))
            .collect(),
    };
    Blob::new(kind.index_media_type(), to_json(&index))
}

const EPOCH: &str = "1970-01-01T00:00:00Z";

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("serializing a plain struct cannot fail")
}

#[derive(Serialize)]
struct Descriptor<'a> {
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    digest: &'a str,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<&'a Platform>,
}

impl<'a> Descriptor<'a> {
    fn of(blob: &'a Blob, platform: Option<&'a Platform>) -> Descriptor<'a> {
        Descriptor {
            media_type: blob.media_type,
            digest: &blob.digest,
            size: blob.size(),
            platform,
        }
    }
}

#[derive(Serialize)]
struct ImageManifest<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    config: Descriptor<'a>,
    layers: Vec<Descriptor<'a>>,
}

#[derive(Serialize)]
struct ImageIndex<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    manifests: Vec<Descriptor<'a>>,
}

#[derive(Serialize)]
struct ImageConfig<'a> {
    architecture: &'a str,
    os: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    created: &'a str,
    config: RunConfig<'a>,
    rootfs: RootFs<'a>,
    history: Vec<History<'a>>,
}

#[derive(Serialize)]
struct RunConfig<'a> {
    #[serde(rename = "Cmd")]
    cmd: Vec<&'a str>,
    #[serde(rename = "Labels")]
    labels: BTreeMap<&'a str, String>,
}

#[derive(Serialize)]
struct RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    diff_ids: Vec<String>,
}

#[derive(Serialize)]
struct History<'a> {
    created: &'a str,
    created_by: &'a str,
}

/// One member of a hand-written tar archive.
enum TarEntry<'a> {
    /// A directory; `path` ends with `/`.
    Dir { path: &'a str },
    /// A regular file.
    File { path: &'a str, data: &'a [u8] },
}

/// Write a POSIX ustar archive.
///
/// The format is simple enough to write by hand: every member is a 512-byte
/// header followed by its data padded to a multiple of 512 bytes, and the
/// archive ends with two all-zero blocks. Numeric header fields are ASCII
/// octal, NUL-terminated; the checksum is the byte sum of the header with the
/// checksum field itself counted as eight spaces.
fn tar_archive(entries: &[TarEntry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        let (path, mode, typeflag, data): (&str, u32, u8, &[u8]) = match entry {
            TarEntry::Dir { path } => (path, 0o755, b'5', &[]),
            TarEntry::File { path, data } => (path, 0o644, b'0', data),
        };
        out.extend_from_slice(&ustar_header(path, mode, typeflag, data.len() as u64));
        out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        out.extend(std::iter::repeat_n(0u8, pad));
    }
    out.extend(std::iter::repeat_n(0u8, 1024));
    out
}

fn ustar_header(path: &str, mode: u32, typeflag: u8, size: u64) -> [u8; 512] {
    assert!(
        path.len() <= 100,
        "tar path too long for a plain ustar name: {path}"
    );
    let mut h = [0u8; 512];
    h[..path.len()].copy_from_slice(path.as_bytes());
    octal(&mut h[100..108], u64::from(mode)); // mode
    octal(&mut h[108..116], 0); // uid
    octal(&mut h[116..124], 0); // gid
    octal(&mut h[124..136], size); // size
    octal(&mut h[136..148], 0); // mtime: the epoch
    h[148..156].fill(b' '); // checksum placeholder
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0"); // magic
    h[263..265].copy_from_slice(b"00"); // version
    octal(&mut h[329..337], 0); // devmajor
    octal(&mut h[337..345], 0); // devminor
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    // six octal digits, NUL, space: the traditional checksum layout
    h[148..154].copy_from_slice(format!("{sum:06o}").as_bytes());
    h[154] = 0;
    h[155] = b' ';
    h
}

/// Zero-padded octal digits filling `field` except its last byte, which is NUL.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    assert!(
        s.len() == digits,
        "{value} does not fit in {digits} octal digits"
    );
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

/// Gzip with no file name, mtime 0 and the default OS byte: same input, same bytes.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
    enc.write_all(data).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::process::{Command, Stdio};

    #[test]
    fn tar_layout_is_blocks_of_512() {
        let tar = tar_archive(&[
            TarEntry::Dir { path: "etc/" },
            TarEntry::File {
                path: "etc/seed-release",
                data: b"hello\n",
            },
        ]);
        // dir header + file header + 1 data block + 2 end blocks
        assert_eq!(tar.len(), 5 * 512);
        assert_eq!(&tar[257..263], b"ustar\0");
        assert_eq!(&tar[1024..1030], b"hello\n");
        assert!(tar[1536..].iter().all(|&b| b == 0));
    }

    #[test]
    fn checksum_matches_definition() {
        let h = ustar_header("etc/seed-release", 0o644, b'0', 6);
        let mut copy = h;
        copy[148..156].fill(b' ');
        let sum: u32 = copy.iter().map(|&b| u32::from(b)).sum();
        let field = std::str::from_utf8(&h[148..154]).unwrap();
        assert_eq!(u32::from_str_radix(field, 8).unwrap(), sum);
    }

    #[test]
    fn gzip_is_deterministic_and_decodes() {
        let a = gzip(b"abc");
        assert_eq!(a, gzip(b"abc"));
        // mtime bytes 4..8 are zero, no FNAME flag
        assert_eq!(&a[4..8], &[0, 0, 0, 0]);
        assert_eq!(a[3] & 0x08, 0);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&a[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"abc");
    }

    /// The layer must be readable by a real tar implementation, not only by us.
    #[test]
    fn system_tar_reads_the_layer() {
        let img = build_image(
            "clastix/kubectl",
            "v1.31.4",
            ManifestKind::Oci,
            &Platform::linux_arm64(),
        );
        let mut child = Command::new("tar")
            .args(["-xzOf", "-", "etc/seed-release"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("`tar` must be installed (it is part of every Debian system)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&img.layer.bytes)
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "tar failed: {out:?}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            seed_release_text("clastix/kubectl", "v1.31.4", &Platform::linux_arm64())
        );
    }

    #[test]
    fn image_is_deterministic_and_consistent() {
        let p = Platform::linux_amd64();
        let a = build_image("r", "t", ManifestKind::Docker, &p);
        let b = build_image("r", "t", ManifestKind::Docker, &p);
        assert_eq!(a.manifest, b.manifest);
        let m: serde_json::Value = serde_json::from_slice(&a.manifest.bytes).unwrap();
        assert_eq!(m["mediaType"], DOCKER_MANIFEST);
        assert_eq!(m["config"]["digest"], a.config.digest.as_str());
        assert_eq!(m["config"]["mediaType"], DOCKER_CONFIG);
        assert_eq!(m["layers"][0]["digest"], a.layer.digest.as_str());
        assert_eq!(m["layers"][0]["size"], a.layer.size());
        let c: serde_json::Value = serde_json::from_slice(&a.config.bytes).unwrap();
        assert_eq!(c["rootfs"]["diff_ids"][0], a.diff_id.as_str());
        assert_eq!(c["architecture"], "amd64");
        assert!(c.get("variant").is_none());
        // different tag, different layer content, different digests
        let other = build_image("r", "t2", ManifestKind::Docker, &p);
        assert_ne!(other.layer.digest, a.layer.digest);
    }

    #[test]
    fn index_entries_carry_platforms() {
        let imgs: Vec<_> = [Platform::linux_amd64(), Platform::linux_arm64()]
            .iter()
            .map(|p| build_image("r", "t", ManifestKind::Oci, p))
            .collect();
        let idx = build_index(ManifestKind::Oci, &imgs);
        let v: serde_json::Value = serde_json::from_slice(&idx.bytes).unwrap();
        assert_eq!(v["mediaType"], OCI_INDEX);
        assert_eq!(v["manifests"][0]["platform"]["architecture"], "amd64");
        assert!(v["manifests"][0]["platform"].get("variant").is_none());
        assert_eq!(v["manifests"][1]["platform"]["variant"], "v8");
        assert_eq!(
            v["manifests"][1]["digest"],
            imgs[1].manifest.digest.as_str()
        );
    }

    #[test]
    fn platform_display() {
        assert_eq!(Platform::linux_arm64().to_string(), "linux/arm64/v8");
        assert_eq!(Platform::linux_amd64().to_string(), "linux/amd64");
    }
}
