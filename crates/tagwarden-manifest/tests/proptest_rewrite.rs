//! Property test: generated streams with image fields in every style, comments and CRLF,
//! rewritten to random values. The bytes outside the rewritten spans are identical, the new
//! images read back at the same paths, and the rest of the tree is unchanged.

use proptest::prelude::*;
use tagwarden_manifest::{
    Document, Edit, FindOptions, Limits, NodeKind, ScalarStyle, documents, needs_quotes,
    rewrite_with_splices, scan,
};

#[derive(Clone, Copy, Debug)]
enum Style {
    Plain,
    Single,
    Double,
    LiteralStrip,
    LiteralClip,
    LiteralKeep,
    FoldedStrip,
    FoldedClip,
    FlowPlain,
    FlowSingle,
    FlowDouble,
}

#[derive(Clone, Debug)]
struct Container {
    name: String,
    image: String,
    style: Style,
    comment: bool,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Pod,
    Deployment,
    CronJob,
    ConfigMap,
}

#[derive(Clone, Debug)]
struct Doc {
    kind: Kind,
    name: String,
    containers: Vec<Container>,
    init: Vec<Container>,
    comments: bool,
    source_comment: bool,
}

#[derive(Clone, Debug)]
struct Stream {
    docs: Vec<Doc>,
    crlf: bool,
    bom: bool,
    explicit_end: bool,
    leading_empty_doc: bool,
}

fn reference() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,6}(/[a-z][a-z0-9-]{0,6}){0,2}:[a-zA-Z0-9][a-zA-Z0-9._-]{0,8}"
}

fn style() -> impl Strategy<Value = Style> {
    prop_oneof![
        Just(Style::Plain),
        Just(Style::Single),
        Just(Style::Double),
        Just(Style::LiteralStrip),
        Just(Style::LiteralClip),
        Just(Style::LiteralKeep),
        Just(Style::FoldedStrip),
        Just(Style::FoldedClip),
        Just(Style::FlowPlain),
        Just(Style::FlowSingle),
        Just(Style::FlowDouble),
    ]
}

fn container() -> impl Strategy<Value = Container> {
    ("[a-z]{1,8}", reference(), style(), any::<bool>()).prop_map(|(name, image, style, comment)| {
        Container {
            name,
            image,
            style,
            comment,
        }
    })
}

fn doc() -> impl Strategy<Value = Doc> {
    (
        prop_oneof![
            Just(Kind::Pod),
            Just(Kind::Deployment),
            Just(Kind::CronJob),
            Just(Kind::ConfigMap)
        ],
        "[a-z]{1,10}",
        prop::collection::vec(container(), 1..4),
        prop::collection::vec(container(), 0..2),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(kind, name, containers, init, comments, source_comment)| Doc {
                kind,
                name,
                containers,
                init,
                comments,
                source_comment,
            },
        )
}

fn stream() -> impl Strategy<Value = Stream> {
    (
        prop::collection::vec(doc(), 1..4),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(docs, crlf, bom, explicit_end, leading_empty_doc)| Stream {
                docs,
                crlf,
                bom,
                explicit_end,
                leading_empty_doc,
            },
        )
}

fn render_container(out: &mut Vec<String>, c: &Container, indent: usize) {
    let pad = " ".repeat(indent);
    let comment = if c.comment { "  # image comment" } else { "" };
    let single = c.image.replace('\'', "''");
    match c.style {
        Style::Plain => {
            out.push(format!("{pad}- name: {}", c.name));
            out.push(format!("{pad}  image: {}{comment}", c.image));
        }
        Style::Single => {
            out.push(format!("{pad}- image: '{single}'{comment}"));
            out.push(format!("{pad}  name: {}", c.name));
        }
        Style::Double => {
            out.push(format!("{pad}- name: \"{}\"", c.name));
            out.push(format!("{pad}  image: \"{}\"{comment}", c.image));
        }
        Style::LiteralStrip
        | Style::LiteralClip
        | Style::LiteralKeep
        | Style::FoldedStrip
        | Style::FoldedClip => {
            let header = match c.style {
                Style::LiteralStrip => "|-",
                Style::LiteralClip => "|",
                Style::LiteralKeep => "|+",
                Style::FoldedStrip => ">-",
                _ => ">",
            };
            out.push(format!("{pad}- name: {}", c.name));
            out.push(format!("{pad}  image: {header}{comment}"));
            out.push(format!("{pad}    {}", c.image));
            if c.comment {
                out.push(String::new());
            }
        }
        Style::FlowPlain => out.push(format!(
            "{pad}- {{name: {}, image: {}}}{comment}",
            c.name, c.image
        )),
        Style::FlowSingle => out.push(format!("{pad}- {{image: '{single}', name: {}}}", c.name)),
        Style::FlowDouble => out.push(format!(
            "{pad}- {{ \"name\": \"{}\", \"image\": \"{}\" }}",
            c.name, c.image
        )),
    }
}

fn render(stream: &Stream) -> String {
    let mut lines: Vec<String> = Vec::new();
    if stream.leading_empty_doc {
        lines.push("---".into());
        lines.push("# Source: chart/templates/empty.yaml".into());
    }
    for doc in &stream.docs {
        lines.push("---".into());
        if doc.source_comment {
            lines.push(format!("# Source: chart/templates/{}.yaml", doc.name));
        }
        let kind = match doc.kind {
            Kind::Pod => "Pod",
            Kind::Deployment => "Deployment",
            Kind::CronJob => "CronJob",
            Kind::ConfigMap => "ConfigMap",
        };
        lines.push(format!(
            "kind: {kind}{}",
            if doc.comments { " # the kind" } else { "" }
        ));
        lines.push("metadata:".into());
        lines.push(format!("  name: {}", doc.name));
        lines.push("  annotations:".into());
        lines.push("    octal: 0o14".into());
        lines.push("    truthy: yes".into());
        lines.push("    when: 2001-12-14t21:59:43.10-05:00".into());
        if doc.comments {
            lines.push("# a comment line".into());
        }
        let (prefix, indent) = match doc.kind {
            Kind::Pod => (vec!["spec:"], 4),
            Kind::Deployment => (vec!["spec:", "  template:", "    spec:"], 8),
            Kind::CronJob => (
                vec![
                    "spec:",
                    "  jobTemplate:",
                    "    spec:",
                    "      template:",
                    "        spec:",
                ],
                12,
            ),
            Kind::ConfigMap => (vec!["data:"], 4),
        };
        for p in prefix {
            lines.push(p.to_string());
        }
        let pad = " ".repeat(indent - 2);
        lines.push(format!("{pad}containers:"));
        for c in &doc.containers {
            render_container(&mut lines, c, indent);
        }
        if !doc.init.is_empty() {
            if doc.comments {
                lines.push(format!("{pad}# init containers"));
            }
            lines.push(format!("{pad}initContainers:"));
            for c in &doc.init {
                render_container(&mut lines, c, indent);
            }
        }
        if stream.explicit_end {
            lines.push("...".into());
        }
    }
    let eol = if stream.crlf { "\r\n" } else { "\n" };
    let mut text = String::new();
    if stream.bom {
        text.push('\u{feff}');
    }
    for line in lines {
        text.push_str(&line);
        text.push_str(eol);
    }
    text
}

/// A replacement value: usually a reference, sometimes text that forces quoting.
fn new_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => reference(),
        1 => "[a-z0-9*&!#:' \"@,{}\\[\\]\\\\é-]{1,12}",
    ]
}

fn is_block(style: ScalarStyle) -> bool {
    matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
}

/// Style of the scalar after a rewrite to `value`.
fn expected_style(style: ScalarStyle, value: &str, in_flow: bool) -> ScalarStyle {
    match style {
        ScalarStyle::Plain if needs_quotes(value, in_flow) => ScalarStyle::DoubleQuoted,
        ScalarStyle::SingleQuoted if value.chars().any(|c| c.is_control()) => {
            ScalarStyle::DoubleQuoted
        }
        other => other,
    }
}

fn all_documents<'a>(source: &'a str, limits: &'a Limits) -> Vec<Document<'a>> {
    documents("p.yaml", source, limits)
        .collect::<Result<_, _>>()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn rewrite_changes_only_the_image_scalars(stream in stream(), values in prop::collection::vec(new_value(), 16)) {
        let source = render(&stream);
        let found = scan("p.yaml", &source, &FindOptions::default()).unwrap();
        let expected_images: usize = stream.docs.iter()
            .filter(|d| !matches!(d.kind, Kind::ConfigMap))
            .map(|d| d.containers.len() + d.init.len())
            .sum();
        prop_assert_eq!(found.images.len(), expected_images, "{}", source);
        prop_assert_eq!(found.documents, stream.docs.len() + usize::from(stream.leading_empty_doc));

        // One new value per image; block scalars only take references.
        let mut edits: Vec<Edit> = Vec::new();
        let mut wanted = Vec::new();
        for (i, image) in found.images.iter().enumerate() {
            let mut value = values[i % values.len()].clone();
            if is_block(image.style) && needs_quotes(&value, false) {
                value = format!("fallback/{i}:v1");
            }
            wanted.push(value.clone());
            edits.push(image.edit(value));
        }
        let (out, splices) = rewrite_with_splices(&source, &edits).unwrap();

        // (1) Every byte outside the rewritten spans is identical.
        prop_assert_eq!(splices.len(), edits.len());
        let (mut old_cursor, mut new_cursor) = (0, 0);
        for splice in &splices {
            prop_assert_eq!(&source[old_cursor..splice.old.start], &out[new_cursor..splice.new.start]);
            old_cursor = splice.old.end;
            new_cursor = splice.new.end;
        }
        prop_assert_eq!(&source[old_cursor..], &out[new_cursor..]);

        // (2) The new images are found at the same paths, with the style kept.
        let again = scan("p.yaml", &out, &FindOptions::default()).unwrap();
        prop_assert_eq!(again.images.len(), found.images.len());
        prop_assert_eq!(again.documents, found.documents);
        for ((before, after), value) in found.images.iter().zip(&again.images).zip(&wanted) {
            prop_assert_eq!(&before.location.path, &after.location.path);
            prop_assert_eq!(before.location.document, after.location.document);
            prop_assert_eq!(&before.location.container, &after.location.container);
            prop_assert_eq!(after.style, expected_style(before.style, value, before.in_flow));
            // Block scalars keep their chomping: whatever followed the content line stays.
            let suffix = &before.image[before.image.trim_end_matches('\n').len()..];
            prop_assert_eq!(&after.image, &format!("{value}{suffix}"));
        }

        // (3) The rest of the tree is unchanged.
        let limits = Limits::default();
        let old_docs = all_documents(&source, &limits);
        let new_docs = all_documents(&out, &limits);
        prop_assert_eq!(old_docs.len(), new_docs.len());
        for (old, new) in old_docs.iter().zip(&new_docs) {
            prop_assert_eq!(old.nodes.len(), new.nodes.len());
            prop_assert_eq!(old.root, new.root);
            prop_assert_eq!(&old.helm_source, &new.helm_source);
            for (id, (a, b)) in old.nodes.iter().zip(&new.nodes).enumerate() {
                let edited = found.images.iter().any(|i| i.location.document == old.index && i.span == a.span);
                prop_assert_eq!(&a.tag, &b.tag);
                prop_assert_eq!(a.anchored, b.anchored);
                match (&a.kind, &b.kind) {
                    (NodeKind::Scalar { value: va, style: sa, in_flow: fa }, NodeKind::Scalar { value: vb, style: sb, in_flow: fb }) => {
                        prop_assert_eq!(fa, fb);
                        if !edited {
                            prop_assert_eq!(va, vb, "node {}", id);
                            prop_assert_eq!(sa, sb);
                        }
                    }
                    (NodeKind::Sequence { items: ia, flow: fa }, NodeKind::Sequence { items: ib, flow: fb }) => {
                        prop_assert_eq!(ia, ib);
                        prop_assert_eq!(fa, fb);
                    }
                    (NodeKind::Mapping { entries: ea, flow: fa }, NodeKind::Mapping { entries: eb, flow: fb }) => {
                        prop_assert_eq!(ea, eb);
                        prop_assert_eq!(fa, fb);
                    }
                    (NodeKind::Alias { target: ta }, NodeKind::Alias { target: tb }) => prop_assert_eq!(ta, tb),
                    (a, b) => prop_assert!(false, "node {} changed kind: {:?} -> {:?}", id, a, b),
                }
            }
        }

        // The faster modes find exactly the same.
        let fast = FindOptions::default().with_validate_all_documents(false);
        prop_assert_eq!(&scan("p.yaml", &source, &fast).unwrap(), &found);
    }
}
