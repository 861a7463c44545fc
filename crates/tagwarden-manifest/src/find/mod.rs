//! Finding the image fields of a stream: the public types, the options, and the driver that
//! cuts a stream into chunks, skips or parses them (on several threads for large streams) and
//! puts the results back in stream order.
//!
//! - [`search`]: applying the rules to one parsed document;
//! - [`value`]: telling an image string from an empty, null, absent or non-string field.

mod search;
mod value;

use std::collections::BTreeMap;
use std::ops::Range;

use crate::error::ManifestError;
use crate::path::ImagePath;
use crate::rewrite::Edit;
use crate::tree::{
    Chunk, ChunkParser, Chunks, Limits, ScalarStyle, split_chunks, starts_with_marker,
};

use search::{Found, search_document};

/// Where an image field is. Serialises with exactly these field names: it is the
/// `locations[]` entry of tagwarden's JSON reports.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Location {
    /// File name as given by the caller (`<stdin>` for standard input).
    pub file: String,
    /// 0-based index of the document in the stream, counting every document (empty ones too).
    pub document: usize,
    /// 1-based line of the image scalar's first byte (for a block scalar, its first content
    /// line; for a quoted scalar, the opening quote).
    pub line: usize,
    /// 1-based column of that byte, in characters.
    pub column: usize,
    /// The object's `kind` (inside a `List`, the item's kind).
    pub kind: String,
    /// `metadata.namespace`, when the object has one.
    pub namespace: Option<String>,
    /// `metadata.name`, when the object has one.
    pub name: Option<String>,
    /// The container's `name`, when the image belongs to a list item that has one.
    pub container: Option<String>,
    /// Path from the document root: `spec.template.spec.containers[0].image`,
    /// `items[3].spec.containers[1].image`.
    pub path: String,
}

/// One image field found in a stream: its value, where it is, and what [`crate::rewrite()`]
/// needs to replace it in place.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ImageField {
    /// The image reference exactly as the YAML value decodes (quotes removed, escapes
    /// applied, nothing trimmed or normalised). Invalid references are reported as they are:
    /// classifying them is the caller's job. Note that a `|` or `>` block scalar with the
    /// default "clip" chomping decodes with a trailing line break (`"nginx:1\n"`), which
    /// Kubernetes rejects; `|-` and `>-` do not.
    pub image: String,
    /// Where the field is.
    pub location: Location,
    /// Byte range of the scalar in the source, as the parser reports it: plain scalars
    /// exactly, quoted scalars with their quotes, block scalars from the first content
    /// character to the end of their trailing line breaks. With [`ImageField::via_alias`],
    /// the range of the anchored scalar.
    pub span: Range<usize>,
    /// How the scalar is written.
    pub style: ScalarStyle,
    /// Whether the scalar is inside a flow collection (`{image: x}`), which restricts how a
    /// plain replacement may look.
    pub in_flow: bool,
    /// Whether the field was reached through an alias (`image: *img`, `containers: *shared`,
    /// or a merge key). The span is then the anchored scalar, which other fields may share:
    /// rewriting it changes every alias, and the alias tokens stay as they are.
    pub via_alias: bool,
    /// The `# Source: chart/templates/x.yaml` comment of the document, from `helm template`.
    pub helm_source: Option<String>,
    /// The object's `helm.sh/hook` annotation (`pre-install,pre-upgrade`). Helm 3 does not
    /// pass hook manifests to post-renderers.
    pub helm_hook: Option<String>,
}

impl ImageField {
    /// Parses [`ImageField::image`] as an image reference (`tagwarden_core::Reference`).
    /// An error means the field holds something a container runtime cannot pull (a clip
    /// block scalar's trailing line break, a space, upper case in the repository, …).
    pub fn reference(&self) -> Result<tagwarden_core::Reference, tagwarden_core::ReferenceError> {
        tagwarden_core::Reference::parse(&self.image)
    }

    /// An edit that replaces this field's value with `new_value`, keeping its style.
    pub fn edit(&self, new_value: impl Into<String>) -> Edit {
        Edit {
            span: self.span.clone(),
            style: self.style,
            in_flow: self.in_flow,
            new_value: new_value.into(),
        }
    }
}

/// Why a field that a rule names was not reported as an image.
///
/// The first three mean that no image was given at all ([`SkipReason::is_unset`]), the
/// usual result of an unset Helm value; the other four that the field holds something other
/// than a string ([`SkipReason::is_not_a_string`]), which the API server rejects. A field
/// reached through an alias (`image: *shared`) is classified by the anchored node, with
/// [`SkippedField::via_alias`] set. Serialises in `snake_case` (`"absent"`, `"mapping"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SkipReason {
    /// An empty string: `image: ""`, `image: ''`, or an empty block scalar.
    Empty,
    /// Null: `image:` with nothing after it, `image: ~`, `image: null` (any case YAML allows),
    /// or `image: !!null …`.
    Null,
    /// The field is missing: a list item that a rule's path goes through (a container) has
    /// no such key. Reported only when the step before the field's key is a list index
    /// (`containers[*].image`, every built-in rule), because a container must name its
    /// image; a rule such as `Prometheus:spec.image`, whose field an operator may default,
    /// reports nothing when the field is missing. The location is the item's first key.
    Absent,
    /// A scalar that Kubernetes' YAML loader reads as a number: `image: 1.32`, `image: 0x1F`,
    /// `image: !!int 5`. [`SkippedField::value`] holds its text.
    Number,
    /// A scalar that Kubernetes' YAML loader (YAML 1.1 rules) reads as a boolean:
    /// `image: yes`, `image: off`, `image: !!bool true`. [`SkippedField::value`] holds its text.
    Boolean,
    /// A mapping: `image: {repository: nginx, tag: "1.27"}` (a chart's values object pasted
    /// whole).
    Mapping,
    /// A sequence: `image: [nginx]`.
    Sequence,
}

impl SkipReason {
    /// True when no image was given: [`SkipReason::Empty`], [`SkipReason::Null`] or
    /// [`SkipReason::Absent`].
    pub fn is_unset(self) -> bool {
        matches!(self, Self::Empty | Self::Null | Self::Absent)
    }

    /// True when the field holds a value that is not a string: [`SkipReason::Number`],
    /// [`SkipReason::Boolean`], [`SkipReason::Mapping`] or [`SkipReason::Sequence`].
    pub fn is_not_a_string(self) -> bool {
        !self.is_unset()
    }
}

impl std::fmt::Display for SkipReason {
    /// One phrase for people, e.g. `the image is null (an unset value?)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Empty => "the image is an empty string",
            Self::Null => "the image is null (an unset value?)",
            Self::Absent => "the container has no image",
            Self::Number => "the image is a number, not a string (quote it)",
            Self::Boolean => "the image is a boolean, not a string (quote it)",
            Self::Mapping => "the image is a mapping, not a string",
            Self::Sequence => "the image is a sequence, not a string",
        })
    }
}

/// A field that a rule names but that holds no image string (or, for
/// [`SkipReason::Absent`], a container without the field).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SkippedField {
    /// Where the field is: line and column of its value (for [`SkipReason::Absent`], of the
    /// container's first key), and the path of the field itself (`…containers[0].image`).
    pub location: Location,
    /// Why it is not an image.
    pub reason: SkipReason,
    /// The scalar's text, for [`SkipReason::Number`] and [`SkipReason::Boolean`].
    pub value: Option<String>,
    /// Whether the value was reached through an alias (`image: *shared`, `containers: *list`,
    /// a merge key); the location is then the anchored node's.
    pub via_alias: bool,
}

impl SkippedField {
    /// The reason with how the value was reached, for one warning or error line:
    /// `the image is a mapping, not a string (through an alias)`.
    pub fn message(&self) -> String {
        if self.via_alias {
            format!("{} (through an alias)", self.reason)
        } else {
            self.reason.to_string()
        }
    }
}

/// Everything [`scan`] found in one stream.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Scan {
    /// The images, in document order and, within a document, in source order.
    pub images: Vec<ImageField>,
    /// Fields that rules name but that hold no image string, and containers without an
    /// image, in the same order as [`Scan::images`].
    pub skipped: Vec<SkippedField>,
    /// Number of documents in the stream, empty ones included.
    pub documents: usize,
    /// How many objects of each `kind` the parsed documents hold (`List` items included), so
    /// that a rule for a kind the input does not have can be reported
    /// ([`ImagePath::kind_suggestion`]). Documents skipped without parsing
    /// ([`FindOptions::validate_all_documents`]` = false`) are not counted.
    pub kinds: BTreeMap<String, usize>,
}

/// What to look for and how hard to look.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FindOptions {
    /// Extra rules (`Prometheus:spec.image`), in addition to the built-in ones.
    pub image_paths: Vec<ImagePath>,
    /// Whether to apply [`ImagePath::builtin`] (the containers of workload kinds). Default true.
    pub builtin: bool,
    /// Resource limits.
    pub limits: Limits,
    /// Parse every document, so that broken YAML anywhere is an error (default `true`, what
    /// `check` wants). With `false`, documents that cannot hold an image are not parsed:
    /// much faster on streams full of CRDs and ConfigMaps, and still exact for images (a
    /// document is skipped only when it contains none of the rules' last keys, e.g. `image`,
    /// and no `\` escape), but YAML errors in such documents go unnoticed. A post-renderer,
    /// whose output Helm parses next anyway, may choose that.
    pub validate_all_documents: bool,
    /// Worker threads for large streams: documents are parsed in parallel, results and
    /// errors are the same as with one thread. `0` means one per CPU. Default 1.
    pub threads: usize,
}

impl Default for FindOptions {
    fn default() -> Self {
        Self {
            image_paths: Vec::new(),
            builtin: true,
            limits: Limits::default(),
            validate_all_documents: true,
            threads: 1,
        }
    }
}

impl FindOptions {
    /// The defaults: built-in rules, default limits, every document validated, one thread.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a rule.
    pub fn with_image_path(mut self, rule: ImagePath) -> Self {
        self.image_paths.push(rule);
        self
    }

    /// Adds rules given as `KIND:PATH` strings.
    pub fn with_image_path_specs<S: AsRef<str>>(
        mut self,
        specs: impl IntoIterator<Item = S>,
    ) -> Result<Self, ManifestError> {
        for spec in specs {
            self.image_paths.push(ImagePath::parse(spec.as_ref())?);
        }
        Ok(self)
    }

    /// Replaces the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`FindOptions::validate_all_documents`].
    pub fn with_validate_all_documents(mut self, validate: bool) -> Self {
        self.validate_all_documents = validate;
        self
    }

    /// Sets [`FindOptions::threads`].
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    fn rules(&self) -> Vec<ImagePath> {
        let mut rules = if self.builtin {
            ImagePath::builtin()
        } else {
            Vec::new()
        };
        rules.extend(self.image_paths.iter().cloned());
        rules
    }
}

/// Finds every image field of `source` (a multi-document YAML stream named `file`).
///
/// Shorthand for [`scan`]`(…).images`.
///
/// ```
/// use tagwarden_manifest::{find_images, FindOptions};
/// let yaml = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: hook}\nspec:\n  template:\n    spec:\n      containers:\n        - name: kubectl\n          image: clastix/kubectl:v1.32\n";
/// let images = find_images("job.yaml", yaml, &FindOptions::default()).unwrap();
/// assert_eq!(images[0].image, "clastix/kubectl:v1.32");
/// assert_eq!(images[0].location.path, "spec.template.spec.containers[0].image");
/// assert_eq!((images[0].location.line, images[0].location.column), (9, 18));
/// assert_eq!(images[0].location.container.as_deref(), Some("kubectl"));
/// ```
pub fn find_images(
    file: &str,
    source: &str,
    options: &FindOptions,
) -> Result<Vec<ImageField>, ManifestError> {
    scan(file, source, options).map(|s| s.images)
}

/// Finds every image field of `source`, the fields that rules name but that hold no image,
/// and the number of documents.
///
/// Errors: [`ManifestError::Syntax`] for broken YAML (the first error in the stream),
/// [`ManifestError::Limit`] / [`ManifestError::TooLarge`] for input over a [`Limits`] value.
pub fn scan(file: &str, source: &str, options: &FindOptions) -> Result<Scan, ManifestError> {
    options.limits.check_size(file, source)?;
    let rules = options.rules();
    let ctx = Context {
        file,
        source,
        rules: &rules,
        limits: &options.limits,
        needles: needles(&rules, options.validate_all_documents),
    };
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let groups = if threads <= 1 || source.len() < 256 << 10 {
        vec![whole_stream(source)]
    } else {
        balance(source, threads)
    };
    let results: Vec<Result<ChunkResult, ManifestError>> = if groups.len() < 2 {
        groups
            .iter()
            .map(|&group| process_group(&ctx, group))
            .collect()
    } else {
        let ctx = &ctx;
        std::thread::scope(|scope| {
            let handles: Vec<_> = groups
                .iter()
                .map(|&group| scope.spawn(move || process_group(ctx, group)))
                .collect();
            handles
                .into_iter()
                .map(|h| match h.join() {
                    Ok(result) => result,
                    Err(panic) => std::panic::resume_unwind(panic),
                })
                .collect()
        })
    };
    let mut scan = Scan::default();
    for result in results {
        result?.append_to(&mut scan);
    }
    Ok(scan)
}

/// Byte strings whose absence from a document proves it holds no image; `None` when every
/// document must be parsed.
fn needles(rules: &[ImagePath], validate_all: bool) -> Option<Vec<Vec<u8>>> {
    if validate_all {
        return None;
    }
    let mut needles: Vec<Vec<u8>> = vec![b"\\".to_vec()];
    for rule in rules {
        // The field's own key, and the list key whose items must have it
        // (`containers` for `containers[*].image`), so that absent images are found too.
        let keys = [Some(rule.last_key()?), rule.list_key()];
        for key in keys.into_iter().flatten() {
            let key = key.as_bytes().to_vec();
            if !needles.contains(&key) {
                needles.push(key);
            }
        }
    }
    Some(needles)
}

struct Context<'s> {
    file: &'s str,
    source: &'s str,
    rules: &'s [ImagePath],
    limits: &'s Limits,
    needles: Option<Vec<Vec<u8>>>,
}

/// What one chunk, or a group of chunks, holds; document numbers count from its start.
#[derive(Default)]
struct ChunkResult {
    documents: usize,
    images: Vec<ImageField>,
    skipped: Vec<SkippedField>,
    kinds: BTreeMap<String, usize>,
}

/// Adds the counts of `from` to `into`.
fn add_kinds(into: &mut BTreeMap<String, usize>, from: BTreeMap<String, usize>) {
    for (kind, count) in from {
        *into.entry(kind).or_default() += count;
    }
}

impl ChunkResult {
    /// Appends `self`, which follows what `scan` holds in the stream, renumbering documents.
    fn append_to(self, scan: &mut Scan) {
        for mut image in self.images {
            image.location.document += scan.documents;
            scan.images.push(image);
        }
        for mut skipped in self.skipped {
            skipped.location.document += scan.documents;
            scan.skipped.push(skipped);
        }
        scan.documents += self.documents;
        add_kinds(&mut scan.kinds, self.kinds);
    }

    /// Appends `next`, the result of the chunk that follows.
    fn append(&mut self, next: ChunkResult) {
        let before = self.documents;
        self.images.extend(next.images.into_iter().map(|mut image| {
            image.location.document += before;
            image
        }));
        self.skipped
            .extend(next.skipped.into_iter().map(|mut skipped| {
                skipped.location.document += before;
                skipped
            }));
        self.documents += next.documents;
        add_kinds(&mut self.kinds, next.kinds);
    }
}

/// The whole stream as one range of chunks.
fn whole_stream(source: &str) -> Chunk {
    Chunk {
        start: 0,
        end: source.len(),
        lines_before: 0,
        cut: true,
    }
}

/// Splits the stream into at most `n` contiguous groups of chunks of similar byte size, each
/// a merged [`Chunk`] that [`process_group`] cuts again. Memory does not grow with the number
/// of documents.
fn balance(source: &str, n: usize) -> Vec<Chunk> {
    let target = source.len().div_ceil(n).max(1);
    let mut groups: Vec<Chunk> = Vec::new();
    for chunk in split_chunks(source) {
        let full = groups.len() >= n;
        match groups.last_mut() {
            Some(group) if group.end - group.start < target || full => group.end = chunk.end,
            _ => groups.push(chunk),
        }
    }
    groups
}

/// Processes the chunks of `group` in order, stopping at the first error.
fn process_group(ctx: &Context<'_>, group: Chunk) -> Result<ChunkResult, ManifestError> {
    let mut result = ChunkResult::default();
    let chunks = if group.start == 0 && group.end == ctx.source.len() {
        split_chunks(ctx.source)
    } else {
        Chunks::new(ctx.source, group)
    };
    for chunk in chunks {
        result.append(process_chunk(ctx, chunk)?);
    }
    Ok(result)
}

/// Finds what one chunk holds; parses it only when it may hold an image or must be validated.
fn process_chunk(ctx: &Context<'_>, chunk: Chunk) -> Result<ChunkResult, ManifestError> {
    let mut result = ChunkResult::default();
    if chunk.cut {
        let text = &ctx.source.as_bytes()[chunk.start..chunk.end];
        let first = chunk.start == 0;
        // Nothing but a `---` line and comments: valid, and nothing to parse.
        if let Some(count) = count_blank_documents(text, first) {
            result.documents = count;
            return Ok(result);
        }
        if let Some(needles) = &ctx.needles {
            let maybe_images = needles
                .iter()
                .any(|n| memchr::memmem::find(text, n).is_some());
            if !maybe_images && let Some(count) = count_documents_without_parsing(text, first) {
                result.documents = count;
                return Ok(result);
            }
        }
    }
    let mut parser = ChunkParser::new(ctx.source, chunk, ctx.file, ctx.limits);
    while let Some(doc) = parser.next_document()? {
        search_document(
            ctx.file,
            &doc,
            ctx.rules,
            ctx.limits,
            &mut Found {
                images: &mut result.images,
                skipped: &mut result.skipped,
                kinds: &mut result.kinds,
            },
        )?;
    }
    result.documents = parser.documents;
    Ok(result)
}

/// How many documents a chunk holds when it has no content at all: one (empty) document for
/// a `---` line followed only by blank and comment lines, none for a first chunk of only
/// blank and comment lines; `None` for anything else, which must be parsed. A stream of
/// millions of `---` lines is thus counted without starting a parser per document.
fn count_blank_documents(text: &[u8], first: bool) -> Option<usize> {
    let text = if first {
        text.strip_prefix("\u{feff}".as_bytes()).unwrap_or(text)
    } else {
        text
    };
    let mut lines = text.split(|&b| b == b'\n');
    if !first {
        // The chunk starts with the `---` marker; what follows it on that line must be blank
        // or a comment (`--- # note`), not content (`--- |`, `--- a: 1`).
        let marker = lines.next()?;
        if !blank_or_comment(marker.get(3..)?) {
            return None;
        }
    }
    for line in lines {
        if !blank_or_comment(line) {
            return None;
        }
    }
    Some(usize::from(!first))
}

/// Whether a line (or the rest of one) is only spaces, tabs and a carriage return, optionally
/// followed by a comment.
fn blank_or_comment(line: &[u8]) -> bool {
    match line.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\r')) {
        None => true,
        Some(i) => line[i] == b'#',
    }
}

/// How many documents a chunk holds, when that is clear from its text alone: one for a
/// chunk that starts with `---`, zero or one for the first chunk (depending on whether it has
/// content besides comments), and unknown (`None`) when a `...` line may start another one.
fn count_documents_without_parsing(text: &[u8], first: bool) -> Option<usize> {
    let mut content = !first;
    for line in text.split(|&b| b == b'\n') {
        if starts_with_marker(line, b"...") {
            return None;
        }
        if !content {
            let line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
            let trimmed = line
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\r'))
                .map(|i| &line[i..]);
            if trimmed.is_some_and(|rest| rest[0] != b'#') {
                content = true;
            }
        }
    }
    Some(usize::from(content))
}
