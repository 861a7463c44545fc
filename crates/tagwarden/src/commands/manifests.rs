//! Reading manifests and finding their images, for `check` and `post-render`: turns
//! `tagwarden-manifest` errors into exit code 2 with a `file:line:col: message` line (and a
//! rendered snippet of the offending line when stderr is a terminal), and warns about what
//! would otherwise pass silently: folder entries that cannot be read, raw Helm templates,
//! `--image-path` rules whose kind is not in the input.

use anyhow::anyhow;
use tagwarden_manifest::{FindOptions, Limits, ManifestError, Scan, Source, read_inputs};

use crate::exit::Failure;
use crate::output::errln;

/// Find options with the `--image-path KIND:PATH` rules added; every CPU helps on large
/// streams (results do not depend on the thread count).
pub fn find_options(image_paths: &[String]) -> Result<FindOptions, Failure> {
    FindOptions::new()
        .with_threads(0)
        .with_image_path_specs(image_paths)
        .map_err(|e| Failure::bad_input(anyhow!("--image-path: {e}")))
}

/// Reads files, folders and `-` (stdin) for `check`; folder entries that cannot be read (a
/// dangling symbolic link, a named pipe) are a warning each, never silently skipped.
pub fn read_all(paths: &[String], limits: &Limits) -> Result<Vec<Source>, Failure> {
    let inputs = read_inputs(paths, limits).map_err(|e| manifest_error(e, None))?;
    for skipped in &inputs.skipped {
        errln!(
            "warning: {}: {}; not read",
            skipped.path.escape_debug(),
            skipped.reason
        );
    }
    Ok(inputs.sources)
}

/// Scans every source for `check`; the first broken one stops everything (exit 2). A syntax
/// error in an unrendered Helm template gets a hint to render it first, and an
/// `--image-path` rule whose kind no object has gets a warning.
pub fn scan_all(sources: &[Source], options: &FindOptions) -> Result<Vec<Scan>, Failure> {
    let scans = sources
        .iter()
        .map(|source| {
            tagwarden_manifest::scan(&source.name, &source.contents, options).map_err(|e| {
                let hint = unrendered_template(&e, &source.contents)
                    .then_some("this is an unrendered Helm template: render it first: helm template … | tagwarden check -");
                manifest_error_with_hint(e, Some(&source.contents), hint)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    warn_about_unmatched_kinds(options, &scans);
    Ok(scans)
}

/// Scans one source (`post-render`'s stdin).
pub fn scan_one(source: &Source, options: &FindOptions) -> Result<Scan, Failure> {
    let scan = tagwarden_manifest::scan(&source.name, &source.contents, options)
        .map_err(|e| manifest_error(e, Some(&source.contents)))?;
    warn_about_unmatched_kinds(options, std::slice::from_ref(&scan));
    Ok(scan)
}

/// Whether a syntax error is in a Helm template that was not rendered: `{{` on or before the
/// line of the error.
fn unrendered_template(error: &ManifestError, source: &str) -> bool {
    let ManifestError::Syntax { line, .. } = error else {
        return false;
    };
    source
        .split_inclusive('\n')
        .take(*line)
        .any(|text| text.contains("{{"))
}

/// A warning for each `--image-path` rule whose kind no object of the input has, naming the
/// kind that differs only in case when there is one (kinds are case-sensitive).
fn warn_about_unmatched_kinds(options: &FindOptions, scans: &[Scan]) {
    for rule in &options.image_paths {
        if rule.kind() == "*" || scans.iter().any(|s| s.kinds.contains_key(rule.kind())) {
            continue;
        }
        let kinds = scans
            .iter()
            .flat_map(|s| s.kinds.keys().map(String::as_str));
        match rule.kind_suggestion(kinds) {
            Some(kind) => errln!(
                "warning: --image-path {rule}: no object has kind {}; kinds are case-sensitive: did you mean {kind}?",
                rule.kind()
            ),
            None => errln!(
                "warning: --image-path {rule}: no object has kind {}, so it matched nothing",
                rule.kind()
            ),
        }
    }
}

/// Exit 2 with the error's one-line form (`file:LINE:COL: message`). With the text it came
/// from and stderr on a terminal, the offending line is shown instead, underlined (coloured
/// as `--color` and `NO_COLOR` say), and nothing more.
pub fn manifest_error(error: ManifestError, source: Option<&str>) -> Failure {
    manifest_error_with_hint(error, source, None)
}

/// [`manifest_error`] with a hint: appended to the one-line form, or on a line of its own
/// after the snippet.
fn manifest_error_with_hint(
    error: ManifestError,
    source: Option<&str>,
    hint: Option<&str>,
) -> Failure {
    let failure = match hint {
        Some(hint) => Failure::bad_input(anyhow!("{error}; {hint}")),
        None => Failure::bad_input(anyhow!("{error}")),
    };
    if let (Some(source), Some(_)) = (source, error.line_column())
        && crate::output::stderr_is_terminal()
    {
        let snippet = if crate::output::stderr_color() {
            error.snippet_styled(source)
        } else {
            error.snippet(source)
        };
        crate::output::errln!("{snippet}");
        if let Some(hint) = hint {
            crate::output::errln!("note: {hint}");
        }
        return failure.shown();
    }
    failure
}
