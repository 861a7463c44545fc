//! Loading a matrix file: YAML text to a validated [`Matrix`], with every problem reported at
//! its line and column.

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::grammar::{AppRange, ImageTemplate, KubeRange, show_triple};
use super::model::{Entry, Matrix, MatrixError, MatrixErrors};
use crate::platform::Platform;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(rename = "$schema", default)]
    _schema: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    image: Option<Spanned<String>>,
    #[serde(default)]
    platforms: Option<Vec<Spanned<String>>>,
    versions: Spanned<Vec<Spanned<RawEntry>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    app: Spanned<String>,
    kubernetes: Spanned<String>,
    #[serde(default)]
    image: Option<Spanned<String>>,
    #[serde(default)]
    platforms: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    notes: Option<String>,
}

/// Turn a serde-saphyr message into one for people.
fn tidy_message(message: &str, location: Option<Location>) -> String {
    let mut text = message.to_owned();
    if let Some(loc) = location {
        let suffix = format!(" at line {}, column {}", loc.line(), loc.column());
        if let Some(stripped) = text.strip_suffix(&suffix) {
            text = stripped.to_owned();
        }
    }
    if let Some(i) = text.find(", set DuplicateKeyPolicy") {
        text.truncate(i);
    }
    let replacements = [
        (
            "cannot deserialize null into string; use Option<String>",
            "expected text here, found nothing (null)",
        ),
        ("expected sequence start", "expected a list here"),
        (
            "expected mapping start",
            "expected a mapping (key: value) here",
        ),
        ("expected string scalar", "expected text here"),
    ];
    for (from, to) in replacements {
        if text == from {
            text = to.to_owned();
        }
    }
    text
}

/// Where the character at byte `index` of a scalar's value is in the source,
/// when the scalar is written on one line without escapes before that point;
/// otherwise the scalar's own position.
fn position_in_value(source: &str, at: &Location, value: &str, index: usize) -> (u64, u64) {
    let base = (at.line(), at.column());
    let (Some(start), Some(prefix)) = (at.span().byte_offset(), value.get(..index)) else {
        return base;
    };
    let Some(raw) = usize::try_from(start).ok().and_then(|s| source.get(s..)) else {
        return base;
    };
    let chars = prefix.chars().count() as u64;
    if raw.starts_with(prefix) {
        return (base.0, base.1 + chars);
    }
    if raw.starts_with(['"', '\'']) && raw[1..].starts_with(prefix) {
        return (base.0, base.1 + 1 + chars);
    }
    base
}

fn at(loc: &Location, message: String) -> MatrixError {
    MatrixError {
        line: loc.line(),
        column: loc.column(),
        message,
    }
}

impl Matrix {
    /// Parse and validate a matrix file. Every problem is reported, each with
    /// its line and column; see the [module documentation](super) for the format.
    pub fn parse(source: &str) -> Result<Matrix, MatrixErrors> {
        reject_empty(source)?;
        let raw = read_raw(source)?;
        let mut loader = Loader {
            source,
            errors: Vec::new(),
        };
        let defaults = loader.defaults(&raw);
        if raw.versions.value.is_empty() {
            loader.errors.push(at(
                &raw.versions.referenced,
                "`versions` is empty; list at least one entry, e.g. `- app: 0.7.x` with `kubernetes: 1.28 - 1.32`".into(),
            ));
        }
        let mut entries: Vec<Entry> = Vec::new();
        // Every application range that parsed, for the overlap check.
        let mut ranges: Vec<(AppRange, Location, u64)> = Vec::new();
        for spanned in &raw.versions.value {
            let (entry, app) = loader.entry(spanned, &defaults);
            let entry_line = spanned.referenced.line();
            ranges.extend(app.map(|app| (app, spanned.value.app.referenced, entry_line)));
            entries.extend(entry);
        }
        loader.check_overlaps(&ranges);

        let mut errors = loader.errors;
        if !errors.is_empty() {
            errors.sort_by_key(|e| (e.line, e.column));
            return Err(MatrixErrors(errors));
        }
        Ok(Matrix {
            name: raw.name.filter(|n| !n.trim().is_empty()),
            entries,
        })
    }
}

/// An error for a file with nothing but comments, blank lines and `---`.
fn reject_empty(source: &str) -> Result<(), MatrixErrors> {
    let meaningful = source.lines().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with('#') && line != "---"
    });
    if meaningful {
        return Ok(());
    }
    Err(MatrixErrors(vec![MatrixError {
        line: 1,
        column: 1,
        message: "the matrix file is empty; it needs a `versions:` list".into(),
    }]))
}

/// The file's structure (keys, types), before any value is validated; a structural error
/// stops everything, since nothing after it can be trusted.
fn read_raw(source: &str) -> Result<RawFile, MatrixErrors> {
    serde_saphyr::from_str(source).map_err(|e| {
        let plain = e.without_snippet();
        let location = plain.location().or_else(|| e.location());
        let message = tidy_message(&plain.to_string(), location);
        let (line, column) = location.map_or((0, 0), |l| (l.line(), l.column()));
        MatrixErrors(vec![MatrixError {
            line,
            column,
            message,
        }])
    })
}

/// The file-wide image and platforms that entries inherit.
struct Defaults {
    image: Option<ImageTemplate>,
    platforms: Vec<String>,
}

/// Validates the values of a structurally sound file, collecting every problem.
struct Loader<'s> {
    source: &'s str,
    errors: Vec<MatrixError>,
}

impl Loader<'_> {
    fn defaults(&mut self, raw: &RawFile) -> Defaults {
        Defaults {
            image: raw.image.as_ref().and_then(|i| self.image(i)),
            platforms: raw
                .platforms
                .as_deref()
                .map(|p| self.platforms(p))
                .unwrap_or_default(),
        }
    }

    /// One entry with the defaults applied (when its ranges parse), and its application
    /// range (when that parses).
    fn entry(
        &mut self,
        spanned: &Spanned<RawEntry>,
        defaults: &Defaults,
    ) -> (Option<Entry>, Option<AppRange>) {
        let raw = &spanned.value;
        let app = AppRange::parse(&raw.app.value)
            .map_err(|m| self.errors.push(at(&raw.app.referenced, m)))
            .ok();
        let kubernetes = KubeRange::parse(&raw.kubernetes.value)
            .map_err(|m| self.errors.push(at(&raw.kubernetes.referenced, m)))
            .ok();
        let image = match &raw.image {
            Some(own) => self.image(own),
            None => defaults.image.clone(),
        };
        let platforms = match &raw.platforms {
            Some(list) => {
                let platforms = self.platforms(&list.value);
                if raw.image.is_none() && defaults.image.is_none() {
                    self.errors.push(at(
                        &list.referenced,
                        "platforms apply to the entry's image, and it names none; add `image:` here or at the top".into(),
                    ));
                }
                platforms
            }
            None => defaults.platforms.clone(),
        };
        let entry = match (&app, kubernetes) {
            (Some(app), Some(kubernetes)) => Some(Entry {
                app: app.clone(),
                kubernetes,
                platforms: if image.is_some() {
                    platforms
                } else {
                    Vec::new()
                },
                image,
                notes: raw.notes.clone(),
                line: spanned.referenced.line(),
            }),
            _ => None,
        };
        (entry, app)
    }

    /// An image template, or an error pointing at the offending character.
    fn image(&mut self, spanned: &Spanned<String>) -> Option<ImageTemplate> {
        match ImageTemplate::parse(&spanned.value) {
            Ok(template) => Some(template),
            Err(e) => {
                let (line, column) =
                    position_in_value(self.source, &spanned.referenced, &spanned.value, e.offset);
                self.errors.push(MatrixError {
                    line,
                    column,
                    message: e.message,
                });
                None
            }
        }
    }

    /// Platforms in the core grammar, written as given (for rendering), each normalised
    /// platform once; `all` is refused, since a matrix promises concrete platforms.
    fn platforms(&mut self, list: &[Spanned<String>]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut seen: Vec<Platform> = Vec::new();
        for p in list {
            match Platform::parse(&p.value) {
                Ok(platform) if platform.is_all() => self.errors.push(at(
                    &p.referenced,
                    format!(
                        "platform {:?}: a matrix names the platforms it promises, e.g. linux/amd64 or linux/arm64/v8",
                        p.value
                    ),
                )),
                Ok(platform) => {
                    if !seen.contains(&platform) {
                        seen.push(platform);
                        out.push(p.value.clone());
                    }
                }
                Err(_) => self.errors.push(at(
                    &p.referenced,
                    format!(
                        "platform {:?} is not OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8",
                        p.value
                    ),
                )),
            }
        }
        out
    }

    /// Two entries must not claim the same application version. `ranges` holds each
    /// parsed application range, where it is written, and its entry's line.
    fn check_overlaps(&mut self, ranges: &[(AppRange, Location, u64)]) {
        for (j, (later, location, _)) in ranges.iter().enumerate() {
            if let Some((earlier, line, witness)) = ranges[..j]
                .iter()
                .find_map(|(e, _, line)| e.overlap(later).map(|w| (e, line, w)))
            {
                self.errors.push(at(
                    location,
                    format!(
                        "application range {:?} overlaps {:?} on line {line} (both contain {}); each application version must match one entry",
                        later.as_str(),
                        earlier.as_str(),
                        show_triple(&witness)
                    ),
                ));
            }
        }
    }
}
