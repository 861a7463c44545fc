//! Applying the rules to one parsed document.
//!
//! A document holds one object, or many when it is a `List` (or a typed list such as
//! `DeploymentList`), whose items are searched as objects of their own. For each object, the
//! rules that apply to its kind are followed key by key and index by index
//! ([`DocumentSearch::follow`]); where a path ends, the node is an image, a skipped field, or,
//! when a list item lacks the last key, an absent one ([`DocumentSearch::record`]).
//!
//! Aliases are followed one counted step at a time: every dereference spends the document's
//! budget ([`Limits::max_alias_dereferences`]), and running out is a [`ManifestError::Limit`].

use std::collections::{BTreeMap, HashSet};

use crate::error::ManifestError;
use crate::find::value::classify;
use crate::find::{ImageField, Location, SkipReason, SkippedField};
use crate::path::{ImagePath, Segment, push_segment};
use crate::tree::{Document, Exhausted, Limits, NodeId, NodeKind};

/// Where the search of a document appends what it finds.
pub(crate) struct Found<'r> {
    pub images: &'r mut Vec<ImageField>,
    pub skipped: &'r mut Vec<SkippedField>,
    /// Objects per kind.
    pub kinds: &'r mut BTreeMap<String, usize>,
}

/// Applies every rule to one document, appending what it finds to `found` (images and
/// skipped fields each in source order, each field once).
pub(crate) fn search_document(
    file: &str,
    doc: &Document<'_>,
    rules: &[ImagePath],
    limits: &Limits,
    found: &mut Found<'_>,
) -> Result<(), ManifestError> {
    let first_image = found.images.len();
    let first_skipped = found.skipped.len();
    let mut search = DocumentSearch {
        file,
        doc,
        budget: limits.max_alias_dereferences,
        max_depth: limits.max_depth,
        found,
    };
    let mut objects = vec![Object {
        node: doc.root,
        prefix: String::new(),
        kind_fallback: None,
        via: false,
        depth: 0,
    }];
    while let Some(object) = objects.pop() {
        search
            .search_object(object, rules, &mut objects)
            .map_err(|_| alias_budget_exhausted(file, doc, limits))?;
    }
    let (images, skipped) = (&mut *found.images, &mut *found.skipped);
    // The sort is stable, so of fields found twice the first found stays first.
    sort_in_source_order(&mut images[first_image..], &mut skipped[first_skipped..]);
    dedup_tail(images, first_image, |i| {
        (i.span.start, i.location.path.clone())
    });
    dedup_tail(skipped, first_skipped, |s| s.location.clone());
    Ok(())
}

fn alias_budget_exhausted(file: &str, doc: &Document<'_>, limits: &Limits) -> ManifestError {
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
}

/// Sorts what one document produced into source order (line, column, then path).
fn sort_in_source_order(images: &mut [ImageField], skipped: &mut [SkippedField]) {
    images.sort_by(|a, b| {
        (a.location.line, a.location.column, &a.location.path).cmp(&(
            b.location.line,
            b.location.column,
            &b.location.path,
        ))
    });
    skipped.sort_by(|a, b| a.location.cmp(&b.location));
}

/// Several rules (or a shared alias) can reach the same field by the same path: keeps the
/// first of each `key` among `list[first..]`, in order.
fn dedup_tail<T, K: std::hash::Hash + Eq>(list: &mut Vec<T>, first: usize, key: impl Fn(&T) -> K) {
    let mut seen = HashSet::new();
    let mut tail = list.split_off(first);
    tail.retain(|item| seen.insert(key(item)));
    list.extend(tail);
}

/// One step of a path being followed.
struct Step {
    node: NodeId,
    path: String,
    via: bool,
    /// The sequence item holding the current key (for container names).
    holder: Option<NodeId>,
}

/// Where one rule's path ended.
enum PathEnd {
    /// At a node: the field's value.
    Reached(Step),
    /// At a list item that lacks the last key: `node` is the item, `path` the missing field's.
    Absent(Step),
}

/// An object whose kind decides which rules apply: the document root or a `List` item.
struct Object {
    node: NodeId,
    prefix: String,
    kind_fallback: Option<String>,
    via: bool,
    depth: usize,
}

/// What an object says about itself, copied into every location found in it.
struct ObjectInfo {
    kind: String,
    name: Option<String>,
    namespace: Option<String>,
    helm_hook: Option<String>,
}

/// The state of the search of one document.
struct DocumentSearch<'r, 'f, 'a> {
    file: &'r str,
    doc: &'r Document<'a>,
    /// Alias dereferences left.
    budget: usize,
    max_depth: usize,
    found: &'r mut Found<'f>,
}

impl DocumentSearch<'_, '_, '_> {
    /// Applies the rules for its kind to one object, and queues the items of a list.
    fn search_object(
        &mut self,
        object: Object,
        rules: &[ImagePath],
        objects: &mut Vec<Object>,
    ) -> Result<(), Exhausted> {
        let (node, via) = self.deref(object.node, object.via)?;
        if !matches!(self.doc.node(node).kind, NodeKind::Mapping { .. }) {
            return Ok(());
        }
        let info = self.describe_object(node, object.kind_fallback.as_deref())?;
        if !info.kind.is_empty() {
            *self.found.kinds.entry(info.kind.clone()).or_default() += 1;
        }
        for rule in rules.iter().filter(|r| r.matches_kind(&info.kind)) {
            let start = Step {
                node,
                path: object.prefix.clone(),
                via,
                holder: None,
            };
            for end in self.follow(rule, start)? {
                self.record(end, &info)?;
            }
        }
        self.queue_list_items(&object, node, via, &info.kind, objects)
    }

    /// The kind (or the list's item kind), name, namespace and Helm hook of an object.
    fn describe_object(
        &mut self,
        node: NodeId,
        kind_fallback: Option<&str>,
    ) -> Result<ObjectInfo, Exhausted> {
        let kind = self
            .string_at(Some(node), "kind")?
            .or_else(|| kind_fallback.map(str::to_string))
            .unwrap_or_default();
        let metadata = self.get(Some(node), "metadata")?;
        let name = self.string_at(metadata, "name")?;
        let namespace = self.string_at(metadata, "namespace")?;
        let annotations = self.get(metadata, "annotations")?;
        let helm_hook = self.string_at(annotations, "helm.sh/hook")?;
        Ok(ObjectInfo {
            kind,
            name,
            namespace,
            helm_hook,
        })
    }

    /// Follows `rule` from `start`, returning every place its path ends: reached fields, and
    /// list items that lack a required last key ([`ImagePath::item_key_required`]).
    fn follow(&mut self, rule: &ImagePath, start: Step) -> Result<Vec<PathEnd>, Exhausted> {
        let segments = rule.segments();
        let report_absent = rule.item_key_required();
        let mut ends = Vec::new();
        let mut frontier = vec![start];
        for (i, segment) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            let after_index =
                i > 0 && matches!(segments[i - 1], Segment::Index(_) | Segment::AnyIndex);
            let mut next = Vec::new();
            for step in frontier {
                let (current, via) = self.deref(step.node, step.via)?;
                match segment {
                    Segment::Key(key) => {
                        let child = self.doc.get_bounded(current, key, &mut self.budget)?;
                        let mut path = step.path;
                        push_segment(&mut path, segment);
                        let holder = after_index.then_some(current);
                        match child {
                            Some((child, via_child)) => next.push(Step {
                                node: child,
                                path,
                                via: via || via_child,
                                holder,
                            }),
                            None if last
                                && report_absent
                                && matches!(
                                    self.doc.node(current).kind,
                                    NodeKind::Mapping { .. }
                                ) =>
                            {
                                ends.push(PathEnd::Absent(Step {
                                    node: current,
                                    path,
                                    via,
                                    holder,
                                }));
                            }
                            None => {}
                        }
                    }
                    Segment::Index(index) => {
                        if let Some(&item) = self.items(current).get(*index) {
                            next.push(item_step(&step.path, *index, item, via));
                        }
                    }
                    Segment::AnyIndex => {
                        for (index, &item) in self.items(current).iter().enumerate() {
                            next.push(item_step(&step.path, index, item, via));
                        }
                    }
                }
            }
            frontier = next;
            if frontier.is_empty() {
                break;
            }
        }
        ends.extend(frontier.into_iter().map(PathEnd::Reached));
        Ok(ends)
    }

    /// Records where a path ended: an image, or a skipped field with its reason.
    fn record(&mut self, end: PathEnd, info: &ObjectInfo) -> Result<(), Exhausted> {
        let (target, via, step, absent) = match end {
            PathEnd::Reached(step) => {
                let (target, via) = self.deref(step.node, step.via)?;
                (target, via, step, false)
            }
            PathEnd::Absent(step) => (step.node, step.via, step, true),
        };
        let container = match step.holder {
            Some(holder) => self.string_at(Some(holder), "name")?,
            None => None,
        };
        let node = self.doc.node(target);
        let location = Location {
            file: self.file.to_string(),
            document: self.doc.index,
            line: node.line,
            column: node.column,
            kind: info.kind.clone(),
            namespace: info.namespace.clone(),
            name: info.name.clone(),
            container,
            path: step.path,
        };
        let reason = if absent {
            Some(SkipReason::Absent)
        } else {
            classify(node)
        };
        match (reason, &node.kind) {
            (
                None,
                NodeKind::Scalar {
                    value,
                    style,
                    in_flow,
                },
            ) => {
                self.found.images.push(ImageField {
                    image: value.to_string(),
                    location,
                    span: node.span.clone(),
                    style: *style,
                    in_flow: *in_flow,
                    via_alias: via,
                    helm_source: self.doc.helm_source.clone(),
                    helm_hook: info.helm_hook.clone(),
                });
            }
            (reason, kind) => {
                let reason = reason.unwrap_or(SkipReason::Null);
                let value = match kind {
                    NodeKind::Scalar { value, .. }
                        if matches!(reason, SkipReason::Number | SkipReason::Boolean) =>
                    {
                        Some(value.to_string())
                    }
                    _ => None,
                };
                self.found.skipped.push(SkippedField {
                    location,
                    reason,
                    value,
                    via_alias: via,
                });
            }
        }
        Ok(())
    }

    /// `List` and typed lists (`DeploymentList`): queues every item as an object, in order.
    /// Items of a typed list may omit their kind.
    fn queue_list_items(
        &mut self,
        object: &Object,
        node: NodeId,
        via: bool,
        kind: &str,
        objects: &mut Vec<Object>,
    ) -> Result<(), Exhausted> {
        let is_list = kind == "List" || kind.ends_with("List");
        if !is_list || object.depth >= self.max_depth {
            return Ok(());
        }
        let Some(items) = self.get(Some(node), "items")? else {
            return Ok(());
        };
        let (items, via_items) = self.deref(items, via)?;
        let fallback = kind
            .strip_suffix("List")
            .filter(|k| !k.is_empty())
            .map(str::to_string);
        // Pushed in reverse so that items are searched in order.
        for (i, &item) in self.items(items).iter().enumerate().rev() {
            let mut prefix = object.prefix.clone();
            push_segment(&mut prefix, &Segment::Key("items".to_string()));
            push_segment(&mut prefix, &Segment::Index(i));
            objects.push(Object {
                node: item,
                prefix,
                kind_fallback: fallback.clone(),
                via: via_items,
                depth: object.depth + 1,
            });
        }
        Ok(())
    }

    /// The items of `node` if it is a sequence, else none.
    fn items(&self, node: NodeId) -> &[NodeId] {
        match &self.doc.node(node).kind {
            NodeKind::Sequence { items, .. } => items,
            _ => &[],
        }
    }

    fn deref(&mut self, node: NodeId, via: bool) -> Result<(NodeId, bool), Exhausted> {
        self.doc.deref(node, via, &mut self.budget)
    }

    /// The value of `key` in `map` (none when `map` is none or has no such key).
    fn get(&mut self, map: Option<NodeId>, key: &str) -> Result<Option<NodeId>, Exhausted> {
        match map {
            Some(map) => Ok(self
                .doc
                .get_bounded(map, key, &mut self.budget)?
                .map(|(id, _)| id)),
            None => Ok(None),
        }
    }

    /// The string value of `key` in `map`, when it is a non-null scalar.
    fn string_at(&mut self, map: Option<NodeId>, key: &str) -> Result<Option<String>, Exhausted> {
        Ok(self
            .get(map, key)?
            .and_then(|id| self.doc.string(id))
            .map(str::to_string))
    }
}

/// The step to item `index` of a sequence whose path so far is `path`.
fn item_step(path: &str, index: usize, item: NodeId, via: bool) -> Step {
    let mut path = path.to_string();
    push_segment(&mut path, &Segment::Index(index));
    Step {
        node: item,
        path,
        via,
        holder: None,
    }
}
