//! The text report of `check`: a table grouped by image, then a summary line.

use comfy_table::{ColumnConstraint, ContentArrangement, Table, presets};
use tagwarden_manifest::Location;

use super::{CheckOutput, ImageReport, ImageStatus};
use crate::exit::Failure;
use crate::output::outln;

/// Locations shown per image; the rest are counted.
const MAX_LOCATIONS: usize = 20;

pub fn print(output: &CheckOutput) -> Result<(), Failure> {
    if !output.images.is_empty() {
        outln!("{}", table(output))?;
    }
    outln!("{}", summary_line(output))
}

fn table(output: &CheckOutput) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(["IMAGE", "STATUS", "DETAIL", "USED AT"]);
    for image in &output.images {
        table.add_row([
            image.image.escape_debug().to_string(),
            image.status.as_str().to_string(),
            detail(image),
            locations(&image.locations),
        ]);
    }
    // On a narrow terminal, wrap details and locations, never an image or a status.
    for index in [0, 1] {
        if let Some(column) = table.column_mut(index) {
            column.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    table
}

fn detail(image: &ImageReport) -> String {
    let mut lines = Vec::new();
    if let Some(digest) = &image.digest {
        lines.push(digest.clone());
    }
    if let Some(reason) = &image.reason {
        lines.push(reason.clone());
    }
    if let Some(fallback) = &image.fallback {
        lines.push(format!("fallback: {fallback}"));
    }
    lines.join("\n")
}

fn locations(locations: &[Location]) -> String {
    let mut lines: Vec<String> = locations.iter().take(MAX_LOCATIONS).map(describe).collect();
    if locations.len() > MAX_LOCATIONS {
        lines.push(format!("… and {} more", locations.len() - MAX_LOCATIONS));
    }
    lines.join("\n")
}

/// `file:line:col Kind namespace/name (container)`.
pub fn describe(l: &Location) -> String {
    let mut out = format!("{}:{}:{}", l.file, l.line, l.column);
    if !l.kind.is_empty() {
        out.push(' ');
        out.push_str(&l.kind);
    }
    match (&l.namespace, &l.name) {
        (Some(ns), Some(name)) => out.push_str(&format!(" {ns}/{name}")),
        (None, Some(name)) => out.push_str(&format!(" {name}")),
        _ => {}
    }
    if let Some(container) = &l.container {
        out.push_str(&format!(" ({container})"));
    }
    out
}

fn summary_line(output: &CheckOutput) -> String {
    let s = output.summary;
    let places: usize = output.images.iter().map(|i| i.locations.len()).sum();
    let fallbacks = output
        .images
        .iter()
        .filter(|i| i.status == ImageStatus::Missing && i.fallback.is_some())
        .count();
    let mut line = format!(
        "{} unique image{} in {} place{}: {} present, {} missing, {} undetermined, {} invalid",
        output.images.len(),
        if output.images.len() == 1 { "" } else { "s" },
        places,
        if places == 1 { "" } else { "s" },
        s.present,
        s.missing,
        s.undetermined,
        s.invalid
    );
    if fallbacks > 0 {
        line.push_str(&format!(
            " ({fallbacks} missing with a fallback: tagwarden post-render applies it)"
        ));
    }
    line
}
