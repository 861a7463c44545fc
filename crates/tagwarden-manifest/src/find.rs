//! Finding the image fields of a stream.

use std::collections::HashSet;
use std::ops::Range;

use crate::error::ManifestError;
use crate::path::{ImagePath, Segment, push_segment};
use crate::rewrite::Edit;
use crate::tree::{
    Chunk, ChunkParser, Document, Exhausted, Limits, NodeId, NodeKind, ScalarStyle, is_null_plain,
    split_chunks, starts_with_marker,
};

/// Where an image field is. Serialises with exactly these field names: it is the
/// `locations[]` entry of `tagwarden check -o json`.
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

/// One image field found in a stream: its value, where it is, and what [`crate::rewrite`]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// `image:`, `image: ~`, `image: null` or `image: ""`. Kubernetes allows an empty image
    /// in templates for higher-level tools to fill in.
    Empty,
    /// A mapping or a sequence where an image string belongs.
    NotAScalar,
    /// A scalar that Kubernetes' YAML loader reads as a number or a boolean (`image: 1.32`,
    /// `image: yes`, `image: !!int 5`), which the API server rejects for a string field.
    NotAString,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Empty => "the image is empty",
            Self::NotAScalar => "the image is a mapping or a sequence, not a string",
            Self::NotAString => "the image is a number or a boolean, not a string (quote it)",
        })
    }
}

/// A field that a rule names but that holds no image string.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SkippedField {
    /// Where the field is (line and column of its value).
    pub location: Location,
    /// Why it is not an image.
    pub reason: SkipReason,
    /// The scalar's text, for [`SkipReason::NotAString`].
    pub value: Option<String>,
}

/// Everything [`scan`] found in one stream.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Scan {
    /// The images, in document order and, within a document, in source order.
    pub images: Vec<ImageField>,
    /// Fields that rules name but that hold no image string.
    pub skipped: Vec<SkippedField>,
    /// Number of documents in the stream, empty ones included.
    pub documents: usize,
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

    /// Adds rules given as `KIND:PATH` strings (`--image-path` flags).
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
    let chunks = split_chunks(source);
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let results: Vec<Result<ChunkResult, ManifestError>> =
        if threads <= 1 || chunks.len() < 2 || source.len() < 256 << 10 {
            process_chunks(&ctx, &chunks)
        } else {
            let groups = balance(&chunks, threads);
            std::thread::scope(|scope| {
                let handles: Vec<_> = groups
                    .iter()
                    .map(|group| scope.spawn(|| process_chunks(&ctx, group)))
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| match h.join() {
                        Ok(results) => results,
                        Err(panic) => std::panic::resume_unwind(panic),
                    })
                    .collect()
            })
        };
    let mut scan = Scan::default();
    for result in results {
        let result = result?;
        for mut image in result.images {
            image.location.document += scan.documents;
            scan.images.push(image);
        }
        for mut skipped in result.skipped {
            skipped.location.document += scan.documents;
            scan.skipped.push(skipped);
        }
        scan.documents += result.documents;
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
        let key = rule.last_key()?.as_bytes().to_vec();
        if !needles.contains(&key) {
            needles.push(key);
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

struct ChunkResult {
    documents: usize,
    images: Vec<ImageField>,
    skipped: Vec<SkippedField>,
}

/// Splits chunks into `n` contiguous groups of similar byte size.
fn balance(chunks: &[Chunk], n: usize) -> Vec<Vec<Chunk>> {
    let total: usize = chunks.iter().map(|c| c.end - c.start).sum();
    let target = total.div_ceil(n).max(1);
    let mut groups = vec![Vec::new()];
    let mut size = 0;
    for &chunk in chunks {
        if size >= target && groups.len() < n {
            groups.push(Vec::new());
            size = 0;
        }
        size += chunk.end - chunk.start;
        if let Some(group) = groups.last_mut() {
            group.push(chunk);
        }
    }
    groups
}

/// Processes chunks in order, stopping after the first error.
fn process_chunks<'s>(
    ctx: &Context<'s>,
    chunks: &[Chunk],
) -> Vec<Result<ChunkResult, ManifestError>> {
    let mut out = Vec::with_capacity(chunks.len());
    for &chunk in chunks {
        let result = process_chunk(ctx, chunk);
        let failed = result.is_err();
        out.push(result);
        if failed {
            break;
        }
    }
    out
}

fn process_chunk<'s>(ctx: &Context<'s>, chunk: Chunk) -> Result<ChunkResult, ManifestError> {
    let mut result = ChunkResult {
        documents: 0,
        images: Vec::new(),
        skipped: Vec::new(),
    };
    if let (Some(needles), true) = (&ctx.needles, chunk.cut) {
        let text = &ctx.source.as_bytes()[chunk.start..chunk.end];
        let maybe_images = needles
            .iter()
            .any(|n| memchr::memmem::find(text, n).is_some());
        if !maybe_images
            && let Some(count) = count_documents_without_parsing(text, chunk.start == 0)
        {
            result.documents = count;
            return Ok(result);
        }
    }
    let mut parser = ChunkParser::new(ctx.source, chunk, ctx.file, ctx.limits);
    while let Some(doc) = parser.next_document()? {
        search_document(
            ctx.file,
            &doc,
            ctx.rules,
            ctx.limits,
            &mut result.images,
            &mut result.skipped,
        )?;
    }
    result.documents = parser.documents;
    Ok(result)
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

/// One step of a path being followed.
struct Step {
    node: NodeId,
    path: String,
    via: bool,
    /// The sequence item holding the current key (for container names).
    holder: Option<NodeId>,
}

/// An object whose kind decides which rules apply: the document root or a `List` item.
struct Object {
    node: NodeId,
    prefix: String,
    kind_fallback: Option<String>,
    via: bool,
    depth: usize,
}

/// Applies every rule to one document.
pub(crate) fn search_document(
    file: &str,
    doc: &Document<'_>,
    rules: &[ImagePath],
    limits: &Limits,
    images: &mut Vec<ImageField>,
    skipped: &mut Vec<SkippedField>,
) -> Result<(), ManifestError> {
    let mut budget = limits.max_alias_dereferences;
    let exhausted = |_: Exhausted| {
        let root = doc.node(doc.root);
        ManifestError::Limit {
            file: file.to_string(),
            line: root.line,
            column: root.column,
            message: format!(
                "more than {} alias dereferences while looking for images (an alias bomb?)",
                limits.max_alias_dereferences
            ),
        }
    };
    let first_image = images.len();
    let first_skipped = skipped.len();
    let mut work = vec![Object {
        node: doc.root,
        prefix: String::new(),
        kind_fallback: None,
        via: false,
        depth: 0,
    }];
    while let Some(object) = work.pop() {
        let (node, via) = doc
            .deref(object.node, object.via, &mut budget)
            .map_err(exhausted)?;
        if !matches!(doc.node(node).kind, NodeKind::Mapping { .. }) {
            continue;
        }
        let get = |map: Option<NodeId>,
                   key: &str,
                   budget: &mut usize|
         -> Result<Option<NodeId>, Exhausted> {
            match map {
                Some(map) => Ok(doc.get_bounded(map, key, budget)?.map(|(id, _)| id)),
                None => Ok(None),
            }
        };
        let kind = get(Some(node), "kind", &mut budget)
            .map_err(exhausted)?
            .and_then(|k| doc.string(k))
            .map(str::to_string)
            .or(object.kind_fallback.clone())
            .unwrap_or_default();
        let metadata = get(Some(node), "metadata", &mut budget).map_err(exhausted)?;
        let string_at = |map: Option<NodeId>, key: &str, budget: &mut usize| {
            get(map, key, budget).map(|id| id.and_then(|id| doc.string(id)).map(str::to_string))
        };
        let name = string_at(metadata, "name", &mut budget).map_err(exhausted)?;
        let namespace = string_at(metadata, "namespace", &mut budget).map_err(exhausted)?;
        let annotations = get(metadata, "annotations", &mut budget).map_err(exhausted)?;
        let hook = string_at(annotations, "helm.sh/hook", &mut budget).map_err(exhausted)?;

        for rule in rules.iter().filter(|r| r.matches_kind(&kind)) {
            let mut frontier = vec![Step {
                node,
                path: object.prefix.clone(),
                via,
                holder: None,
            }];
            let mut previous_was_index = false;
            for segment in rule.segments() {
                let mut next = Vec::new();
                for step in frontier {
                    let (current, via) = doc
                        .deref(step.node, step.via, &mut budget)
                        .map_err(exhausted)?;
                    match segment {
                        Segment::Key(key) => {
                            if let Some((child, via2)) = doc
                                .get_bounded(current, key, &mut budget)
                                .map_err(exhausted)?
                            {
                                let mut path = step.path;
                                push_segment(&mut path, segment);
                                next.push(Step {
                                    node: child,
                                    path,
                                    via: via || via2,
                                    holder: if previous_was_index {
                                        Some(current)
                                    } else {
                                        None
                                    },
                                });
                            }
                        }
                        Segment::Index(i) => {
                            if let NodeKind::Sequence { items, .. } = &doc.node(current).kind
                                && let Some(&item) = items.get(*i)
                            {
                                let mut path = step.path;
                                push_segment(&mut path, segment);
                                next.push(Step {
                                    node: item,
                                    path,
                                    via,
                                    holder: None,
                                });
                            }
                        }
                        Segment::AnyIndex => {
                            if let NodeKind::Sequence { items, .. } = &doc.node(current).kind {
                                for (i, &item) in items.iter().enumerate() {
                                    let mut path = step.path.clone();
                                    push_segment(&mut path, &Segment::Index(i));
                                    next.push(Step {
                                        node: item,
                                        path,
                                        via,
                                        holder: None,
                                    });
                                }
                            }
                        }
                    }
                }
                previous_was_index = matches!(segment, Segment::Index(_) | Segment::AnyIndex);
                frontier = next;
                if frontier.is_empty() {
                    break;
                }
            }
            for step in frontier {
                let (target, via) = doc
                    .deref(step.node, step.via, &mut budget)
                    .map_err(exhausted)?;
                let container = match step.holder {
                    Some(holder) => {
                        string_at(Some(holder), "name", &mut budget).map_err(exhausted)?
                    }
                    None => None,
                };
                let target_node = doc.node(target);
                let location = Location {
                    file: file.to_string(),
                    document: doc.index,
                    line: target_node.line,
                    column: target_node.column,
                    kind: kind.clone(),
                    namespace: namespace.clone(),
                    name: name.clone(),
                    container,
                    path: step.path,
                };
                match &target_node.kind {
                    NodeKind::Scalar {
                        value,
                        style,
                        in_flow,
                    } => {
                        let tag = target_node.tag.as_deref();
                        let plain = *style == ScalarStyle::Plain;
                        if value.is_empty() || (plain && tag.is_none() && is_null_plain(value)) {
                            skipped.push(SkippedField {
                                location,
                                reason: SkipReason::Empty,
                                value: None,
                            });
                        } else if is_non_string(value, plain, tag) {
                            skipped.push(SkippedField {
                                location,
                                reason: SkipReason::NotAString,
                                value: Some(value.to_string()),
                            });
                        } else {
                            images.push(ImageField {
                                image: value.to_string(),
                                location,
                                span: target_node.span.clone(),
                                style: *style,
                                in_flow: *in_flow,
                                via_alias: via,
                                helm_source: doc.helm_source.clone(),
                                helm_hook: hook.clone(),
                            });
                        }
                    }
                    _ => skipped.push(SkippedField {
                        location,
                        reason: SkipReason::NotAScalar,
                        value: None,
                    }),
                }
            }
        }

        // `List` and typed lists (`DeploymentList`): search every item.
        let is_list = kind == "List" || kind.ends_with("List");
        let items = if is_list && object.depth < limits.max_depth {
            get(Some(node), "items", &mut budget).map_err(exhausted)?
        } else {
            None
        };
        if let Some(items) = items {
            let (items, via_items) = doc.deref(items, via, &mut budget).map_err(exhausted)?;
            if let NodeKind::Sequence { items, .. } = &doc.node(items).kind {
                // Items of a typed list may omit their kind.
                let fallback = kind
                    .strip_suffix("List")
                    .filter(|k| !k.is_empty())
                    .map(str::to_string);
                // Pushed in reverse so that items are searched in order.
                for (i, &item) in items.iter().enumerate().rev() {
                    let mut prefix = object.prefix.clone();
                    push_segment(&mut prefix, &Segment::Key("items".to_string()));
                    push_segment(&mut prefix, &Segment::Index(i));
                    work.push(Object {
                        node: item,
                        prefix,
                        kind_fallback: fallback.clone(),
                        via: via_items,
                        depth: object.depth + 1,
                    });
                }
            }
        }
    }

    // Several rules (or a shared alias) can reach the same field by the same path: keep one.
    let mut seen = HashSet::new();
    let mut tail = images.split_off(first_image);
    tail.retain(|image| seen.insert((image.span.start, image.location.path.clone())));
    images.extend(tail);
    images[first_image..].sort_by(|a, b| {
        (a.location.line, a.location.column, &a.location.path).cmp(&(
            b.location.line,
            b.location.column,
            &b.location.path,
        ))
    });
    let mut seen = HashSet::new();
    let mut tail: Vec<SkippedField> = skipped.drain(first_skipped..).collect();
    tail.retain(|s| seen.insert(s.location.clone()));
    tail.sort_by(|a, b| a.location.cmp(&b.location));
    skipped.extend(tail);
    Ok(())
}

/// Whether a scalar decodes to something other than a string for the YAML loader Kubernetes
/// uses (`sigs.k8s.io/yaml`, YAML 1.1 rules with Go's number syntax): a core-schema tag other
/// than `!!str`, or an untagged plain scalar spelling a boolean or a number.
fn is_non_string(value: &str, plain: bool, tag: Option<&str>) -> bool {
    if let Some(tag) = tag {
        return matches!(
            tag.strip_prefix("tag:yaml.org,2002:"),
            Some("int" | "float" | "bool" | "null")
        );
    }
    plain && (is_yaml11_bool(value) || is_number(value))
}

fn is_yaml11_bool(value: &str) -> bool {
    matches!(
        value,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// Integers in Go's base-prefixed syntax (`12`, `0x1F`, `0o14`, `0b101`, `1_000`) and decimal
/// floats (`1.32`, `.5`, `1e3`, `.inf`, `.nan`).
fn is_number(value: &str) -> bool {
    let unsigned = value.strip_prefix(['+', '-']).unwrap_or(value);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(value, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let digits = |s: &str, radix: u32| {
        s.chars().any(|c| c.is_digit(radix)) && s.chars().all(|c| c == '_' || c.is_digit(radix))
    };
    for (prefix, radix) in [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ] {
        if let Some(rest) = unsigned.strip_prefix(prefix) {
            return digits(rest, radix);
        }
    }
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    if let Some(exponent) = exponent {
        let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
        if exponent.is_empty() || !exponent.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (mantissa, None),
    };
    let ok = |s: &str| s.chars().all(|c| c == '_' || c.is_ascii_digit());
    let has_digit = mantissa.chars().any(|c| c.is_ascii_digit());
    has_digit && ok(whole) && fraction.is_none_or(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_booleans_are_not_strings() {
        for v in [
            "12", "-3", "+4", "1_000", "0x1F", "0o14", "0b101", "1.32", ".5", "1e3", "1.5E-3",
            ".inf", "-.Inf", ".nan", "yes", "Off", "y",
        ] {
            assert!(is_non_string(v, true, None), "{v}");
            assert!(!is_non_string(v, false, None), "quoted {v}");
        }
        for v in [
            "nginx",
            "1.2.3",
            "1:20",
            "v1.32",
            "0x",
            "1e",
            "e3",
            ".",
            "_",
            "12abc",
            "2001-12-14",
            "0o19",
            "yes please",
        ] {
            assert!(!is_non_string(v, true, None), "{v}");
        }
        assert!(is_non_string("5", false, Some("tag:yaml.org,2002:int")));
        assert!(!is_non_string("5", true, Some("tag:yaml.org,2002:str")));
        assert!(!is_non_string("x", true, Some("!custom")));
    }
}
