//! The text report of `check`: a table grouped by image on stdout, then a summary line on
//! stderr (stdout is data; commentary and summaries go to stderr in every command).
//!
//! - **On a terminal** the table has borders and fits the terminal's width (`COLUMNS`
//!   when set): details and locations wrap between words first (here, not in
//!   `comfy-table`, which splits words anywhere), so a reference such as a fallback stays
//!   whole whenever the width allows it; only when it does not are the widest columns
//!   narrowed and their longest words split, after a `/` where possible. A terminal that
//!   reports no usable width (0 columns) gets the table at its natural width.
//! - **Piped or redirected**, it is plain columns separated by two spaces, never wrapped,
//!   with no trailing blanks: easy to read in a CI log and to `grep`.
//! - **Every cell line is truncated** to [`MAX_CELL_CHARS`] characters, so a 50 MB image
//!   string costs the time it takes to read it, not a table layout over 50 MB.

use std::io::IsTerminal;

use comfy_table::{ContentArrangement, Table, presets};
use tagwarden_manifest::Location;

use super::{Details, ImageReport, ImageStatus, Located, Report};
use crate::exit::Failure;
use crate::output::{errln, outln};

/// Locations shown per image; the rest are counted.
const MAX_LOCATIONS: usize = 20;

/// Characters shown of one line of a cell; longer lines end in `… (N bytes in all)`.
pub const MAX_CELL_CHARS: usize = 256;

/// Below this many columns, a terminal's width is not believed (some report 0).
const MIN_TERMINAL_WIDTH: u16 = 20;

const HEADER: [&str; 4] = ["IMAGE", "STATUS", "DETAIL", "USED AT"];

/// One row of the table: image, status, detail, locations (cells may hold several lines).
type Row = [String; 4];

pub fn print<L: Located, X: Details>(output: &Report<L, X>) -> Result<(), Failure> {
    print_named(output, None)
}

/// [`print()`], its summary line on stderr starting with `name: ` when given (a fleet's
/// cluster), so that piped stderr still says which cluster each line is about.
pub fn print_named<L: Located, X: Details>(
    output: &Report<L, X>,
    name: Option<&str>,
) -> Result<(), Failure> {
    if !output.images.is_empty() {
        let rows: Vec<Row> = output.images.iter().map(row).collect();
        let table = if std::io::stdout().is_terminal() {
            boxed(&rows)
        } else {
            plain(&rows)
        };
        outln!("{table}")?;
    }
    match name {
        Some(name) => errln!("{name}: {}", summary_line(output)),
        None => errln!("{}", summary_line(output)),
    }
    Ok(())
}

fn row<L: Located, X: Details>(image: &ImageReport<L, X>) -> Row {
    [
        truncate_lines(&image.image, true),
        image.status.as_str().to_string(),
        truncate_lines(&detail(image), false),
        truncate_lines(&locations(&image.locations), false),
    ]
}

/// The table for a terminal: borders, fitted to its width (`COLUMNS` when set, as other
/// tools honour it). Details and locations wrap between words first; only when the words
/// themselves are too wide for the terminal are the widest columns narrowed further, and
/// their longest words broken (after a `/` when there is one), so the table never runs
/// past the terminal's edge.
fn boxed(rows: &[Row]) -> String {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(HEADER);
    let terminal = columns_from_env()
        .or_else(|| table.width())
        .filter(|&w| w >= MIN_TERMINAL_WIDTH);
    let widths = match terminal {
        Some(width) => fitted_widths(rows, usize::from(width)),
        None => [usize::MAX; 4],
    };
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| wrap(cell, width))
            .collect();
        table.add_row(cells);
    }
    table.trim_fmt()
}

/// `COLUMNS`, when it holds a width.
fn columns_from_env() -> Option<u16> {
    std::env::var("COLUMNS").ok()?.trim().parse().ok()
}

/// Column widths that fit `terminal`: the image and status columns at their natural width
/// and the others wrapped between words ([`wrap_widths`]) when that fits; else the widest
/// of the image, detail and location columns narrowed one at a time (never below
/// [`NARROWEST_COLUMN`]).
fn fitted_widths(rows: &[Row], terminal: usize) -> [usize; 4] {
    let natural = |index: usize| {
        rows.iter()
            .flat_map(|row| row[index].lines())
            .map(|line| line.chars().count())
            .chain(std::iter::once(HEADER[index].len()))
            .max()
            .unwrap_or(0)
    };
    let [detail, locations] = wrap_widths(rows, terminal);
    let mut widths = [natural(0), natural(1), detail, locations];
    let available = terminal.saturating_sub(5 + 2 * HEADER.len());
    while widths.iter().sum::<usize>() > available {
        let Some(widest) = [0, 2, 3]
            .into_iter()
            .filter(|&i| widths[i] > NARROWEST_COLUMN)
            .max_by_key(|&i| widths[i])
        else {
            break;
        };
        widths[widest] -= 1;
    }
    widths
}

/// The narrowest a column gets to fit a terminal.
const NARROWEST_COLUMN: usize = 8;

/// Widths for the detail and location columns so that the table fits `terminal` columns,
/// but never narrower than a column's longest word (the table is wider then: a reference
/// broken in two cannot be copied).
fn wrap_widths(rows: &[Row], terminal: usize) -> [usize; 2] {
    let widest = |index: usize, measure: fn(&str) -> usize| {
        rows.iter()
            .flat_map(|row| row[index].lines())
            .map(measure)
            .chain(std::iter::once(HEADER[index].len()))
            .max()
            .unwrap_or(0)
    };
    let chars = |line: &str| line.chars().count();
    // A digest may be split (it is 71 characters of hex); a reference or a location not.
    let longest_word = |line: &str| {
        line.split(' ')
            .filter(|word| !is_digest(word))
            .map(|word| word.chars().count())
            .max()
            .unwrap_or(0)
    };
    // Five borders and one blank either side of every cell.
    let overhead = 5 + 2 * HEADER.len();
    let available = terminal.saturating_sub(overhead + widest(0, chars) + widest(1, chars));
    let (natural, least) = (
        [widest(2, chars), widest(3, chars)],
        [widest(2, longest_word), widest(3, longest_word)],
    );
    if natural[0] + natural[1] <= available {
        return natural;
    }
    // Share what is left in proportion to what each column would like.
    let share = available * natural[0] / (natural[0] + natural[1]).max(1);
    let detail = share.clamp(least[0], natural[0]);
    let locations = available.saturating_sub(detail).clamp(least[1], natural[1]);
    [detail, locations]
}

/// `text` with every line wrapped at spaces to at most `width` characters; a word longer
/// than `width` is split ([`split_word`]).
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut used = 0;
        let words = line.split(' ').filter(|w| !w.is_empty());
        for word in words.flat_map(|word| split_word(word, width)) {
            let length = word.chars().count();
            if used > 0 && used + 1 + length > width {
                out.push('\n');
                used = 0;
            } else if used > 0 {
                out.push(' ');
                used += 1;
            }
            out.push_str(word);
            used += length;
        }
    }
    out
}

/// `sha256:…` and the like: an algorithm, a colon, and at least 32 hex digits.
fn is_digest(word: &str) -> bool {
    word.split_once(':').is_some_and(|(algorithm, hex)| {
        !algorithm.is_empty()
            && algorithm.chars().all(|c| c.is_ascii_alphanumeric())
            && hex.len() >= 32
            && hex.chars().all(|c| c.is_ascii_hexdigit())
    })
}

/// A word wider than `width` in pieces of at most `width` characters, each cut after its
/// last `/` when it has one (a digest is cut anywhere); a word that fits, whole.
fn split_word(word: &str, width: usize) -> Vec<&str> {
    if width == 0 || word.chars().count() <= width {
        return vec![word];
    }
    let mut pieces = Vec::new();
    let mut rest = word;
    while rest.chars().count() > width {
        let cut = rest
            .char_indices()
            .nth(width)
            .map_or(rest.len(), |(i, _)| i);
        let at = if is_digest(word) {
            cut
        } else {
            match rest[..cut].rfind('/') {
                Some(slash) if slash > 0 => slash + 1,
                _ => cut,
            }
        };
        pieces.push(&rest[..at]);
        rest = &rest[at..];
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// The table for a pipe or a file: plain columns, two spaces apart, never wrapped.
fn plain(rows: &[Row]) -> String {
    let header: Row = HEADER.map(str::to_string);
    let all: Vec<&Row> = std::iter::once(&header).chain(rows).collect();
    let mut widths = [0usize; 4];
    for row in &all {
        for (width, cell) in widths.iter_mut().zip(row.iter()) {
            let widest = cell.lines().map(|l| l.chars().count()).max().unwrap_or(0);
            *width = (*width).max(widest);
        }
    }
    let mut out = String::new();
    for row in all {
        let cells: Vec<Vec<&str>> = row.iter().map(|c| c.lines().collect()).collect();
        let height = cells.iter().map(Vec::len).max().unwrap_or(0).max(1);
        for line in 0..height {
            let mut text = String::new();
            for (column, cell) in cells.iter().enumerate() {
                let part = cell.get(line).copied().unwrap_or("");
                if column > 0 {
                    text.push_str("  ");
                }
                text.push_str(part);
                let pad = widths[column].saturating_sub(part.chars().count());
                text.extend(std::iter::repeat_n(' ', pad));
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
    }
    out.pop();
    out
}

/// `text` with control characters (newlines, tabs, escapes) shown as `\n`, `\t`, `\u{1b}`;
/// quotes and everything else as they are.
fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// An image string as one short line for a message: escaped and cut to
/// [`MAX_CELL_CHARS`] characters, in time linear in its length.
pub fn short_image(image: &str) -> String {
    truncate_lines(image, true)
}

/// Every line of `text` cut to [`MAX_CELL_CHARS`]; with `escape`, control characters
/// escaped (an image string may hold newlines or terminal escapes). Linear in the
/// length of `text`.
fn truncate_lines(text: &str, escape: bool) -> String {
    let one = |line: &str| -> String {
        let cut = line
            .char_indices()
            .nth(MAX_CELL_CHARS)
            .map_or(line.len(), |(i, _)| i);
        let head = &line[..cut];
        let mut shown = if escape {
            escape_controls(head)
        } else {
            head.to_string()
        };
        if cut < line.len() {
            shown.push_str(&format!("… ({} bytes in all)", line.len()));
        }
        shown
    };
    if escape {
        // The whole string is one cell line: its newlines are shown as `\n`.
        return one(text);
    }
    text.lines().map(one).collect::<Vec<_>>().join("\n")
}

fn detail<L, X: Details>(image: &ImageReport<L, X>) -> String {
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
    lines.extend(image.details.detail_lines());
    lines.join("\n")
}

fn locations<L: Located>(locations: &[L]) -> String {
    let mut lines: Vec<String> = locations
        .iter()
        .take(MAX_LOCATIONS)
        .map(Located::describe)
        .collect();
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

fn summary_line<L, X>(output: &Report<L, X>) -> String {
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
