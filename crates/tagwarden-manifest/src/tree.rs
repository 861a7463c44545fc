//! A light, alias-preserving tree of a YAML stream, one [`Document`] at a time.
//!
//! # Why a tree of our own
//!
//! General YAML loaders build values: they decode every scalar, expand every alias (a
//! "billion laughs" stream of a few hundred bytes becomes gigabytes) and forget where each
//! value came from. This crate needs the opposite: *where* each scalar is, byte for byte, so
//! that it can be rewritten in place, and *never* any alias expansion. So it walks
//! `granit-parser`'s event stream and keeps a small arena per document in which an alias is a
//! node of its own ([`NodeKind::Alias`]) pointing at its anchor. Nothing is ever copied
//! through an alias; following one is an explicit, counted step ([`Limits::max_alias_dereferences`]).
//!
//! The builder is iterative (an explicit stack, no recursion), so nesting depth costs heap, not
//! stack; depth is still limited ([`Limits::max_depth`]) and `granit-parser` is given the same
//! limit, so a 100,000-level `[[[[…` fails fast with [`ManifestError::Limit`].
//!
//! # Documents are split before they are parsed
//!
//! A line that starts with `---` followed by a space, a tab or a line break can only be a
//! document start: YAML forbids such a line inside any scalar or collection (it ends a block
//! scalar and is an error inside a quoted one). So a stream is cut at those lines into chunks
//! that are parsed independently, which lets [`crate::scan`] skip the parse of documents that
//! cannot contain an image and spread the others over threads. Streams with `%` directives or
//! lone `\r` line breaks are not cut (one chunk), since directives belong to the next document.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use granit_parser::{Event, Parser, ScanError, StrInput, StructureStyle};

use crate::error::ManifestError;

/// Resource limits for parsing and searching.
///
/// The defaults are far above anything a real chart renders and low enough that hostile input
/// fails in milliseconds with a clear error.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest accepted input, in bytes. Default 128 MiB.
    pub max_input_bytes: usize,
    /// Deepest accepted nesting of collections. Default 256.
    pub max_depth: usize,
    /// Most aliases (`*name`) accepted in one document. Default 10,000.
    pub max_aliases: usize,
    /// Most alias dereferences while searching one document for images. Aliases are never
    /// expanded, but the search follows them (`containers: *shared`), and nested aliases can
    /// make the number of paths explode; this bounds that walk. Default 10,000 (rendered charts rarely have a single alias).
    pub max_alias_dereferences: usize,
    /// Most nodes (scalars, collections, aliases) in one document. A document's tree takes
    /// about 100 bytes per node while it is searched, so this bounds memory on a stream that
    /// is one huge collection (a 48 MB file of 12 million list items). Default 2,000,000
    /// (about 200 MB): far above any object the API server accepts (etcd limits a request to
    /// 1.5 MiB), and enough for a `kubectl get -o yaml` `List` of a few thousand pods.
    /// Documents are parsed one at a time (one per thread), so a stream of many documents
    /// is not limited by this.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_bytes: 128 << 20,
            max_depth: 256,
            max_aliases: 10_000,
            max_alias_dereferences: 10_000,
            max_nodes: 2_000_000,
        }
    }
}

impl Limits {
    /// Returns the limits with `max_input_bytes` replaced.
    pub fn with_max_input_bytes(mut self, bytes: usize) -> Self {
        self.max_input_bytes = bytes;
        self
    }

    /// Returns the limits with `max_depth` replaced.
    pub fn with_max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Returns the limits with `max_aliases` replaced.
    pub fn with_max_aliases(mut self, aliases: usize) -> Self {
        self.max_aliases = aliases;
        self
    }

    /// Returns the limits with `max_alias_dereferences` replaced.
    pub fn with_max_alias_dereferences(mut self, dereferences: usize) -> Self {
        self.max_alias_dereferences = dereferences;
        self
    }

    /// Returns the limits with `max_nodes` replaced.
    pub fn with_max_nodes(mut self, nodes: usize) -> Self {
        self.max_nodes = nodes;
        self
    }

    pub(crate) fn check_size(&self, file: &str, source: &str) -> Result<(), ManifestError> {
        if source.len() > self.max_input_bytes {
            return Err(ManifestError::TooLarge {
                file: file.to_string(),
                limit: self.max_input_bytes,
            });
        }
        Ok(())
    }
}

/// How a scalar is written in the source. See [`crate::rewrite()`] for how each style is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScalarStyle {
    /// `image: nginx:1.27`
    Plain,
    /// `image: 'nginx:1.27'`
    SingleQuoted,
    /// `image: "nginx:1.27"`
    DoubleQuoted,
    /// `image: |-` followed by an indented line.
    Literal,
    /// `image: >-` followed by an indented line.
    Folded,
}

impl From<granit_parser::ScalarStyle> for ScalarStyle {
    fn from(style: granit_parser::ScalarStyle) -> Self {
        match style {
            granit_parser::ScalarStyle::Plain => Self::Plain,
            granit_parser::ScalarStyle::SingleQuoted => Self::SingleQuoted,
            granit_parser::ScalarStyle::DoubleQuoted => Self::DoubleQuoted,
            granit_parser::ScalarStyle::Literal => Self::Literal,
            granit_parser::ScalarStyle::Folded => Self::Folded,
        }
    }
}

/// Index of a node in [`Document::nodes`].
pub type NodeId = usize;

/// One node of a document: what it is and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node<'a> {
    /// What the node is.
    pub kind: NodeKind<'a>,
    /// Byte range in the whole source. For scalars, exactly what [`crate::rewrite()`] replaces
    /// (see the crate documentation for the exact extent per style); for a block collection
    /// it starts at its first entry; for aliases it covers `*name`.
    pub span: Range<usize>,
    /// 1-based line of `span.start`.
    pub line: usize,
    /// 1-based column of `span.start`, in characters.
    pub column: usize,
    /// The resolved tag, if the node has one (`!!str` → `tag:yaml.org,2002:str`).
    pub tag: Option<String>,
    /// Whether the node carries an anchor (`&name`).
    pub anchored: bool,
}

/// The kinds of node. An alias stays an alias.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind<'a> {
    /// A scalar with its decoded value.
    Scalar {
        /// The decoded value (quotes removed, escapes and folding applied).
        value: Cow<'a, str>,
        /// The style it is written in.
        style: ScalarStyle,
        /// Whether it sits inside a flow collection (`[…]`, `{…}`), where a plain scalar
        /// may not contain `,[]{}`.
        in_flow: bool,
    },
    /// A sequence.
    Sequence {
        /// The items, in order.
        items: Vec<NodeId>,
        /// `[a, b]` rather than `- a`.
        flow: bool,
    },
    /// A mapping.
    Mapping {
        /// Key/value pairs in source order (duplicates kept).
        entries: Vec<(NodeId, NodeId)>,
        /// `{a: b}` rather than `a: b`.
        flow: bool,
    },
    /// An alias (`*name`) to an earlier anchored node of the same document.
    Alias {
        /// The anchored node. It may be an ancestor of the alias (`&a [*a]` is a cycle).
        target: NodeId,
    },
}

/// One document of a stream, as an arena of [`Node`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document<'a> {
    /// 0-based index in the stream, counting every document, empty ones included.
    pub index: usize,
    /// Whether the document starts with an explicit `---`.
    pub explicit_start: bool,
    /// Byte range from the document start (its `---`, if any) to its end.
    pub span: Range<usize>,
    /// The root node. An empty document has an empty plain scalar as root.
    pub root: NodeId,
    /// All nodes, parents before children.
    pub nodes: Vec<Node<'a>>,
    /// The text after `# Source: ` in the comments before the root node, as `helm template`
    /// writes them (`# Source: capsule/templates/post-install/job.yaml`).
    pub helm_source: Option<String>,
}

/// Words that a plain scalar may spell to mean "null".
pub(crate) fn is_null_plain(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

impl<'a> Document<'a> {
    /// The node with id `id`.
    ///
    /// # Panics
    /// If `id` does not belong to this document.
    pub fn node(&self, id: NodeId) -> &Node<'a> {
        &self.nodes[id]
    }

    /// Follows aliases from `id` to a node that is not an alias (at most `nodes.len()`
    /// steps, so a malformed chain cannot loop).
    pub fn resolve(&self, mut id: NodeId) -> NodeId {
        for _ in 0..=self.nodes.len() {
            match self.nodes[id].kind {
                NodeKind::Alias { target } => id = target,
                _ => return id,
            }
        }
        id
    }

    /// The decoded value of `id` if it is a scalar (after following aliases).
    pub fn scalar(&self, id: NodeId) -> Option<&str> {
        match &self.nodes[self.resolve(id)].kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The value of `id` as a string, if it is a non-null scalar.
    pub fn string(&self, id: NodeId) -> Option<&str> {
        match &self.nodes[self.resolve(id)].kind {
            NodeKind::Scalar { value, style, .. } => {
                if *style == ScalarStyle::Plain && is_null_plain(value) {
                    None
                } else {
                    Some(value)
                }
            }
            _ => None,
        }
    }

    /// Whether the document has no content (only comments, or nothing, after its `---`).
    pub fn is_empty(&self) -> bool {
        matches!(&self.nodes[self.root].kind,
            NodeKind::Scalar { value, style: ScalarStyle::Plain, .. } if is_null_plain(value))
            && self.nodes[self.root].span.is_empty()
    }

    /// Looks up `key` in the mapping `map` (after following aliases). The last of duplicate
    /// keys wins, as in the YAML loaders Kubernetes uses; keys not found directly are looked
    /// up through merge keys (`<<: *base`). Returns `None` for non-mappings.
    pub fn get(&self, map: NodeId, key: &str) -> Option<NodeId> {
        let mut budget = self.nodes.len() + 16;
        self.get_bounded(map, key, &mut budget)
            .ok()
            .flatten()
            .map(|(id, _)| id)
    }

    /// [`Document::get`] that also reports whether an alias or merge key was followed, and
    /// spends `budget` on each alias or merge it follows.
    pub(crate) fn get_bounded(
        &self,
        map: NodeId,
        key: &str,
        budget: &mut usize,
    ) -> Result<Option<(NodeId, bool)>, Exhausted> {
        // Explicit work list instead of recursion: merges can nest and even loop.
        let mut work = vec![(map, false)];
        while let Some((id, via)) = work.pop() {
            let (id, via) = self.deref(id, via, budget)?;
            let NodeKind::Mapping { entries, .. } = &self.nodes[id].kind else {
                continue;
            };
            let mut merges = Vec::new();
            for &(k, v) in entries.iter().rev() {
                match self.scalar_direct(k) {
                    Some(name) if name == key => return Ok(Some((v, via))),
                    Some("<<") if self.is_plain(k) => merges.push(v),
                    _ => {}
                }
            }
            // `merges` holds the merge keys last to first; the work list is a stack, so the
            // first merge key, and the first mapping of a merged sequence, is tried first.
            for m in merges {
                spend(budget)?;
                let (m, _) = self.deref(m, true, budget)?;
                match &self.nodes[m].kind {
                    NodeKind::Sequence { items, .. } => {
                        for &item in items.iter().rev() {
                            work.push((item, true));
                        }
                    }
                    _ => work.push((m, true)),
                }
            }
        }
        Ok(None)
    }

    /// Follows aliases from `id`, spending one unit of `budget` per alias.
    pub(crate) fn deref(
        &self,
        mut id: NodeId,
        mut via: bool,
        budget: &mut usize,
    ) -> Result<(NodeId, bool), Exhausted> {
        while let NodeKind::Alias { target } = self.nodes[id].kind {
            spend(budget)?;
            id = target;
            via = true;
        }
        Ok((id, via))
    }

    fn scalar_direct(&self, id: NodeId) -> Option<&str> {
        match &self.nodes[id].kind {
            NodeKind::Scalar { value, .. } => Some(value),
            NodeKind::Alias { target } => match &self.nodes[*target].kind {
                NodeKind::Scalar { value, .. } => Some(value),
                _ => None,
            },
            _ => None,
        }
    }

    fn is_plain(&self, id: NodeId) -> bool {
        matches!(
            self.nodes[id].kind,
            NodeKind::Scalar {
                style: ScalarStyle::Plain,
                ..
            }
        )
    }
}

/// The alias-dereference budget ran out.
#[derive(Debug)]
pub(crate) struct Exhausted;

pub(crate) fn spend(budget: &mut usize) -> Result<(), Exhausted> {
    if *budget == 0 {
        return Err(Exhausted);
    }
    *budget -= 1;
    Ok(())
}

/// A piece of the stream that starts at a line start and is parsed on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// Byte offset of the chunk in the source.
    pub start: usize,
    /// Byte offset of the end of the chunk.
    pub end: usize,
    /// Number of lines before the chunk.
    pub lines_before: usize,
    /// Whether the stream was cut at document markers; `false` for the single chunk of a
    /// stream that could not be cut, whose document count is only known by parsing it.
    pub cut: bool,
}

/// Whether `rest` (a line's text from its start) begins with a document marker `---`/`...`.
pub(crate) fn starts_with_marker(rest: &[u8], marker: &[u8; 3]) -> bool {
    rest.starts_with(marker) && matches!(rest.get(3), None | Some(b' ' | b'\t' | b'\r' | b'\n'))
}

/// Whether `source` may be cut at `---` lines: not when a line starts with a `%` directive
/// (directives belong to the next document) or a lone `\r` line break would shift the line
/// count.
fn can_cut(source: &[u8]) -> bool {
    if source.first() == Some(&b'%') || memchr::memmem::find(source, b"\n%").is_some() {
        return false;
    }
    memchr::memchr_iter(b'\r', source).all(|i| source.get(i + 1) == Some(&b'\n'))
}

/// Cuts `source` at lines starting with `---` (see the module docs), lazily: memory does not
/// grow with the number of documents. Always at least one chunk.
pub(crate) fn split_chunks(source: &str) -> Chunks<'_> {
    let cut = can_cut(source.as_bytes());
    Chunks::new(
        source,
        Chunk {
            start: 0,
            end: source.len(),
            lines_before: 0,
            cut,
        },
    )
}

/// The chunks of `source`, one by one; see [`split_chunks`].
pub(crate) struct Chunks<'s> {
    bytes: &'s [u8],
    /// What is left to cut: `start` is a line start, `cut` false means "yield it whole".
    rest: Chunk,
    /// Line start being looked at, and its line number.
    pos: usize,
    line: usize,
    done: bool,
}

impl<'s> Chunks<'s> {
    /// The chunks of `range` (a chunk of [`split_chunks`], or several adjacent ones merged).
    pub(crate) fn new(source: &'s str, range: Chunk) -> Self {
        Self {
            bytes: source.as_bytes(),
            rest: range,
            pos: range.start,
            line: range.lines_before,
            done: false,
        }
    }
}

impl Iterator for Chunks<'_> {
    type Item = Chunk;

    fn next(&mut self) -> Option<Chunk> {
        if self.done {
            return None;
        }
        if self.rest.cut {
            let end = self.rest.end;
            while self.pos < end {
                // `pos` is a line start.
                let line = &self.bytes[self.pos..end];
                if self.pos > self.rest.start && starts_with_marker(line, b"---") {
                    let chunk = Chunk {
                        end: self.pos,
                        ..self.rest
                    };
                    self.rest.start = self.pos;
                    self.rest.lines_before = self.line;
                    return Some(chunk);
                }
                match memchr::memchr(b'\n', line) {
                    Some(i) => {
                        self.pos += i + 1;
                        self.line += 1;
                    }
                    None => self.pos = end,
                }
            }
        }
        self.done = true;
        Some(self.rest)
    }
}

/// Parser options derived from our limits.
fn parser_options(limits: &Limits) -> granit_parser::Options {
    let mut options = granit_parser::Options::default();
    options.flow_nesting_limit = limits.max_depth;
    options.block_nesting_limit = limits.max_depth;
    // Comments are not needed as events: `# Source:` lines are read from the text.
    options.set_emit_comments(false);
    options
}

struct Open {
    id: NodeId,
    /// A mapping key waiting for its value.
    pending_key: Option<NodeId>,
    flow: bool,
}

/// Builds [`Document`]s from the events of one chunk.
pub(crate) struct ChunkParser<'a> {
    source: &'a str,
    chunk: Chunk,
    parser: Parser<'a, StrInput<'a>>,
    file: &'a str,
    limits: &'a Limits,
    /// Documents started so far in this chunk.
    pub documents: usize,
    done: bool,
}

impl<'a> ChunkParser<'a> {
    pub(crate) fn new(source: &'a str, chunk: Chunk, file: &'a str, limits: &'a Limits) -> Self {
        let text = &source[chunk.start..chunk.end];
        Self {
            source,
            chunk,
            parser: Parser::new_from_str_with_options(text, parser_options(limits)),
            file,
            limits,
            documents: 0,
            done: false,
        }
    }

    fn offset(&self, marker: &granit_parser::Marker) -> usize {
        self.chunk.start + marker.byte_offset().unwrap_or(0)
    }

    fn position(&self, marker: &granit_parser::Marker) -> (usize, usize) {
        (self.chunk.lines_before + marker.line(), marker.col() + 1)
    }

    fn scan_error(&self, err: &ScanError) -> ManifestError {
        let (line, column) = self.position(err.marker());
        if matches!(err.kind(), granit_parser::ErrorKind::RecursionLimitExceeded) {
            ManifestError::Limit {
                file: self.file.to_string(),
                line,
                column,
                message: format!(
                    "collections nested deeper than {} levels",
                    self.limits.max_depth
                ),
            }
        } else {
            ManifestError::Syntax {
                file: self.file.to_string(),
                line,
                column,
                message: err.info(),
            }
        }
    }

    fn limit(&self, span: &granit_parser::Span, message: String) -> ManifestError {
        let (line, column) = self.position(&span.start);
        ManifestError::Limit {
            file: self.file.to_string(),
            line,
            column,
            message,
        }
    }

    /// The next document of the chunk, with `index` set relative to the chunk (the caller
    /// adds the documents before it).
    pub(crate) fn next_document(&mut self) -> Result<Option<Document<'a>>, ManifestError> {
        if self.done {
            return Ok(None);
        }
        let result = self.build_document();
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result
    }

    fn build_document(&mut self) -> Result<Option<Document<'a>>, ManifestError> {
        let mut state = State::default();
        let mut doc_start: Option<(usize, bool)> = None;
        loop {
            let Some(next) = self.parser.next() else {
                return Ok(None);
            };
            let (event, span) = next.map_err(|e| self.scan_error(&e))?;
            let start = self.offset(&span.start);
            let end = self.offset(&span.end);
            match event {
                Event::StreamEnd => return Ok(None),
                Event::DocumentStart(explicit, _) => doc_start = Some((start, explicit)),
                Event::DocumentEnd => {
                    let begin = doc_start.unwrap_or((start, false));
                    return self.finish_document(state, begin, &span, end).map(Some);
                }
                Event::Alias(anchor) => self.add_alias(&mut state, anchor, &span, start..end)?,
                Event::UnresolvedAlias(_) => {
                    // Only emitted with `emit_unresolved_aliases`, which is never set.
                    return Err(self.syntax(&span, "alias to an unknown anchor"));
                }
                Event::Scalar(value, style, anchor, tag) => {
                    let in_flow = state.stack.last().is_some_and(|o| o.flow);
                    let kind = NodeKind::Scalar {
                        value,
                        style: style.into(),
                        in_flow,
                    };
                    self.add(
                        &mut state,
                        kind,
                        anchor,
                        tag.map(|t| t.to_string()),
                        &span,
                        start..end,
                    )?;
                }
                Event::SequenceStart(style, anchor, tag) => {
                    let kind = NodeKind::Sequence {
                        items: Vec::new(),
                        flow: matches!(style, StructureStyle::Flow),
                    };
                    self.open(
                        &mut state,
                        kind,
                        anchor,
                        tag.map(|t| t.to_string()),
                        &span,
                        start..end,
                    )?;
                }
                Event::MappingStart(style, anchor, tag) => {
                    let kind = NodeKind::Mapping {
                        entries: Vec::new(),
                        flow: matches!(style, StructureStyle::Flow),
                    };
                    self.open(
                        &mut state,
                        kind,
                        anchor,
                        tag.map(|t| t.to_string()),
                        &span,
                        start..end,
                    )?;
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    if let Some(open) = state.stack.pop() {
                        let node = &mut state.nodes[open.id];
                        node.span.end = end.max(node.span.start);
                    }
                }
                // StreamStart, Anchor and Comment events carry nothing we keep.
                _ => {}
            }
        }
    }

    /// The document whose `DocumentEnd` event (at `span`, ending at byte `end`) was just
    /// read; `begin` is where it started and whether that was an explicit `---`.
    fn finish_document(
        &mut self,
        state: State<'a>,
        (doc_begin, explicit_start): (usize, bool),
        span: &granit_parser::Span,
        end: usize,
    ) -> Result<Document<'a>, ManifestError> {
        let index = self.documents;
        self.documents += 1;
        let Some(root) = state.root else {
            // The parser always emits a root node; an empty document gets `~`.
            return Err(self.syntax(span, "document without a root node"));
        };
        let root_start = state.nodes[root].span.start.max(doc_begin);
        Ok(Document {
            index,
            explicit_start,
            span: doc_begin..end.max(doc_begin),
            root,
            helm_source: helm_source(&self.source[doc_begin..root_start]),
            nodes: state.nodes,
        })
    }

    /// Adds an alias node pointing at its anchor, within [`Limits::max_aliases`].
    fn add_alias(
        &self,
        state: &mut State<'a>,
        anchor: usize,
        span: &granit_parser::Span,
        range: Range<usize>,
    ) -> Result<(), ManifestError> {
        state.aliases += 1;
        if state.aliases > self.limits.max_aliases {
            let max = self.limits.max_aliases;
            return Err(self.limit(span, format!("more than {max} aliases in one document")));
        }
        let Some(&target) = state.anchors.get(&anchor) else {
            return Err(self.syntax(span, "alias to an unknown anchor"));
        };
        self.add(state, NodeKind::Alias { target }, 0, None, span, range)?;
        Ok(())
    }

    fn syntax(&self, span: &granit_parser::Span, message: &str) -> ManifestError {
        let (line, column) = self.position(&span.start);
        ManifestError::Syntax {
            file: self.file.to_string(),
            line,
            column,
            message: message.to_string(),
        }
    }

    /// Adds a node and attaches it to the open collection (or makes it the root).
    fn add(
        &self,
        state: &mut State<'a>,
        kind: NodeKind<'a>,
        anchor: usize,
        tag: Option<String>,
        span: &granit_parser::Span,
        range: Range<usize>,
    ) -> Result<NodeId, ManifestError> {
        if state.nodes.len() >= self.limits.max_nodes {
            let max = self.limits.max_nodes;
            return Err(self.limit(
                span,
                format!("more than {max} nodes in one document (a YAML bomb, or split the stream)"),
            ));
        }
        let (line, column) = self.position(&span.start);
        let id = state.nodes.len();
        state.nodes.push(Node {
            kind,
            span: range,
            line,
            column,
            tag,
            anchored: anchor != 0,
        });
        if anchor != 0 {
            state.anchors.insert(anchor, id);
        }
        match state.stack.last_mut() {
            None => state.root = Some(id),
            Some(parent) => match &mut state.nodes[parent.id].kind {
                NodeKind::Sequence { items, .. } => items.push(id),
                NodeKind::Mapping { entries, .. } => match parent.pending_key.take() {
                    Some(key) => entries.push((key, id)),
                    None => parent.pending_key = Some(id),
                },
                _ => {}
            },
        }
        Ok(id)
    }

    /// Adds a collection node and makes it the open collection.
    fn open(
        &self,
        state: &mut State<'a>,
        kind: NodeKind<'a>,
        anchor: usize,
        tag: Option<String>,
        span: &granit_parser::Span,
        range: Range<usize>,
    ) -> Result<(), ManifestError> {
        if state.stack.len() >= self.limits.max_depth {
            let max = self.limits.max_depth;
            return Err(self.limit(span, format!("collections nested deeper than {max} levels")));
        }
        let flow = matches!(
            kind,
            NodeKind::Sequence { flow: true, .. } | NodeKind::Mapping { flow: true, .. }
        );
        let id = self.add(state, kind, anchor, tag, span, range)?;
        state.stack.push(Open {
            id,
            pending_key: None,
            flow,
        });
        Ok(())
    }
}

/// The document being built.
#[derive(Default)]
struct State<'a> {
    nodes: Vec<Node<'a>>,
    stack: Vec<Open>,
    anchors: HashMap<usize, NodeId>,
    root: Option<NodeId>,
    aliases: usize,
}

/// Finds `# Source: …` in the text before a document's root node.
fn helm_source(prefix: &str) -> Option<String> {
    prefix.lines().find_map(|line| {
        line.trim()
            .strip_prefix('#')
            .map(str::trim_start)
            .and_then(|rest| rest.strip_prefix("Source:"))
            .map(|s| s.trim().to_string())
    })
}

/// Iterator over the [`Document`]s of a stream; see [`documents`].
pub struct Documents<'a> {
    source: &'a str,
    file: &'a str,
    limits: &'a Limits,
    chunks: Option<Chunks<'a>>,
    current: Option<ChunkParser<'a>>,
    before: usize,
    /// An error to report next (the input is too large), or `None`.
    pending: Option<ManifestError>,
    failed: bool,
}

/// Parses `source` document by document, without expanding aliases.
///
/// Each item is one document (empty ones included) or the first error, after which the
/// iterator ends. Only one document's tree is in memory at a time unless the caller keeps them.
///
/// ```
/// use tagwarden_manifest::{documents, Limits};
/// let limits = Limits::default();
/// let docs: Vec<_> = documents("f.yaml", "a: &x 1\nb: *x\n---\n", &limits)
///     .collect::<Result<_, _>>()
///     .unwrap();
/// assert_eq!(docs.len(), 2);
/// let b = docs[0].get(docs[0].root, "b").unwrap();
/// assert_eq!(docs[0].scalar(b), Some("1")); // through the alias, which is still an alias
/// assert!(docs[1].is_empty());
/// ```
pub fn documents<'a>(file: &'a str, source: &'a str, limits: &'a Limits) -> Documents<'a> {
    let pending = limits.check_size(file, source).err();
    let chunks = if pending.is_some() {
        None
    } else {
        Some(split_chunks(source))
    };
    Documents {
        source,
        file,
        limits,
        chunks,
        current: None,
        before: 0,
        pending,
        failed: false,
    }
}

impl<'a> Iterator for Documents<'a> {
    type Item = Result<Document<'a>, ManifestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if let Some(err) = self.pending.take() {
            self.failed = true;
            return Some(Err(err));
        }
        loop {
            if self.current.is_none() {
                let chunk = self.chunks.as_mut()?.next()?;
                self.current = Some(ChunkParser::new(self.source, chunk, self.file, self.limits));
            }
            let parser = self.current.as_mut()?;
            match parser.next_document() {
                Ok(Some(mut doc)) => {
                    doc.index += self.before;
                    return Some(Ok(doc));
                }
                Ok(None) => {
                    self.before += parser.documents;
                    self.current = None;
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
