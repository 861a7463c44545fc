//! Finding image fields in Kubernetes YAML streams, and rewriting them in place, byte for byte.
//!
//! This crate is the YAML half of `tagwarden check` (report every image of a rendered chart,
//! with its location) and `tagwarden post-render` (a Helm post-renderer that repairs image
//! tags and changes nothing else).
//!
//! ```
//! use tagwarden_manifest::{FindOptions, find_images, rewrite};
//!
//! let rendered = "\
//! ---
//! # Source: capsule/templates/pre-delete-job.yaml
//! apiVersion: batch/v1
//! kind: Job
//! metadata:
//!   name: capsule-pre-delete
//!   annotations:
//!     \"helm.sh/hook\": pre-delete
//! spec:
//!   template:
//!     spec:
//!       containers:
//!         - name: pre-delete-job
//!           image: clastix/kubectl:v1.32  # tracks the cluster version
//! ";
//! let images = find_images("rendered.yaml", rendered, &FindOptions::default())?;
//! assert_eq!(images.len(), 1);
//! let kubectl = &images[0];
//! assert_eq!(kubectl.image, "clastix/kubectl:v1.32");
//! assert_eq!(kubectl.location.path, "spec.template.spec.containers[0].image");
//! assert_eq!((kubectl.location.line, kubectl.location.column), (14, 18));
//! assert_eq!(kubectl.helm_hook.as_deref(), Some("pre-delete"));
//!
//! // The tag v1.32 does not exist yet: fall back to v1.31, keeping everything else.
//! let fixed = rewrite(rendered, &[kubectl.edit("clastix/kubectl:v1.31")])?;
//! assert_eq!(fixed, rendered.replace("kubectl:v1.32", "kubectl:v1.31"));
//! # Ok::<(), tagwarden_manifest::ManifestError>(())
//! ```
//!
//! # Which fields are images
//!
//! The `image` of every entry of `containers`, `initContainers` and `ephemeralContainers` in
//! the pod spec of `Pod`, `PodTemplate`, `Deployment`, `ReplicaSet`, `StatefulSet`,
//! `DaemonSet`, `Job`, `ReplicationController` and `CronJob` objects, in every document of a
//! stream, and in the `items` of `List` and `*List` objects. Any other field named `image` (a
//! ConfigMap's data, a CRD's spec) is *not* an image unless an [`ImagePath`] rule
//! (`Prometheus:spec.image`) names it. See [`ImagePath`] for the rule syntax and
//! [`Location`] for what is recorded about each field.
//!
//! An image is reported exactly as its scalar decodes; telling valid references from invalid
//! ones is the caller's job ([`ImageField::reference`] helps). A field that a rule names but
//! that holds no image string is listed in [`Scan::skipped`] with its location and a
//! [`SkipReason`] instead, never dropped: an empty string, null (`image:`, `~`, `null`, the
//! usual result of an unset chart value), a container without `image:` at all, a plain number
//! or boolean such as `1.32` or `yes` (which the API server rejects), a mapping or a
//! sequence, directly or through an alias ([`SkippedField::via_alias`]).
//! [`SkipReason::is_unset`] and [`SkipReason::is_not_a_string`] group them.
//!
//! Reading inputs: [`read_inputs`] takes a list of paths (files, folders read recursively for
//! `*.yaml`/`*.yml`/`*.json` in any case and in sorted order, `-` for stdin), checks size and
//! encoding, and lists the folder entries it could not read (dangling symbolic links, named
//! pipes) in [`Inputs::skipped`]; [`read_sources`] is the same without that list.
//!
//! # Why byte spans
//!
//! A post-renderer must return the manifests it was given with only the image tags changed:
//! Helm computes diffs and three-way merges from them, and reviewers read them. Loading the
//! YAML into values and serialising it again loses comments, key order, quoting, anchors,
//! CRLF line endings and the BOM, and turns `yes`, `0o14` or `2001-12-14t21:59:43.10-05:00`
//! into something else. So this crate never writes YAML: it records the exact byte range of
//! each image scalar ([`ImageField::span`]) and [`rewrite()`] splices new text into those ranges,
//! copying every other byte as it is.
//!
//! The ranges come from `granit-parser`'s event API, which reports UTF-8 byte offsets
//! (`saphyr-parser` counts characters and widens quoted ranges; `yaml-rust2` has no end
//! positions). What a span covers per style is pinned by `tests/granit_spans.rs`: exactly the
//! text of a plain scalar, the quotes and everything between them of a quoted one, and for a
//! `|`/`>` block scalar the content from its first character to the end of its trailing line
//! breaks (never the header). Lines and columns are 1-based; columns count characters, and a
//! BOM at the start is not counted.
//!
//! # Why aliases are never expanded
//!
//! `a: &a [x, x]`, `b: &b [*a, *a]`, … doubles with every line: thirty lines of "billion
//! laughs" expand to more data than any machine holds. The tree this crate builds
//! ([`Document`]) keeps an alias as a node pointing at its anchor, and the image search follows
//! aliases one counted step at a time ([`Limits::max_alias_dereferences`]). An image reached
//! through an alias (`image: *kubectl`, `containers: *shared`, a `<<` merge key) is reported
//! with the span of the *anchored* scalar and [`ImageField::via_alias`] set: rewriting it
//! changes the anchor's value, which every alias shares, and leaves the alias tokens alone.
//!
//! # Style rules of the rewrite
//!
//! Plain stays plain (double quotes only when the new value would not read back as the same
//! string, see [`needs_quotes`]), single-quoted stays single-quoted, double-quoted stays
//! double-quoted, and a literal or folded block scalar keeps its header, chomping indicator,
//! indentation and line breaks. The details are in the [`rewrite()`] function's module docs.
//!
//! # Limits
//!
//! Everything hostile fails fast with an error, never a panic, a stack overflow or unbounded
//! memory: nesting depth, alias count, alias dereferences, nodes per document and input size
//! are bounded by [`Limits`]; the tree is built without recursion. Memory does not grow with
//! the number of documents: the stream is cut into documents lazily, a document that is
//! only `---` and comments is counted without a parser, and only one document's tree per
//! thread is alive at a time. Broken YAML is a [`ManifestError::Syntax`]
//! with a `file:LINE:COL: message` display and a rendered [`ManifestError::snippet`].
//!
//! # Performance
//!
//! Parsing dominates: `granit-parser` reads dense Kubernetes YAML at about 25–40 MB/s per
//! core on the project's 2-core machines, and the tree and search add 15–20 %. A splice
//! ([`rewrite()`]) runs at 2–3 GB/s. For a 10 MB stream with 5,000 images (`benches/`), finding
//! takes about 0.4 s on one thread; [`FindOptions::threads`] spreads documents over cores and
//! [`FindOptions::validate_all_documents`]` = false` skips documents that cannot hold an
//! image (CRDs, ConfigMaps). Peak memory is about three times the input (input, output, one
//! document's tree at a time): about 32 MB for 10 MB.

#![warn(missing_docs)]

mod error;
mod find;
#[doc(hidden)]
pub mod fuzzing;
mod path;
mod rewrite;
mod source;
mod text;
mod tree;

pub use error::ManifestError;
pub use find::{
    FindOptions, ImageField, Location, Scan, SkipReason, SkippedField, find_images, scan,
};
pub use path::{ImagePath, Segment};
pub use rewrite::{Edit, Splice, needs_quotes, rewrite, rewrite_with_splices};
pub use source::{
    Inputs, STDIN_NAME, SkippedPath, SkippedPathReason, Source, read_inputs, read_source,
    read_sources,
};
pub use text::decode_utf8;
pub use tree::{Document, Documents, Limits, Node, NodeId, NodeKind, ScalarStyle, documents};
