//! Reading manifests and finding their images, for `check` and `post-render`: turns
//! `tagwarden-manifest` errors into exit code 2 with a `file:line:col: message` line, and a
//! rendered snippet of the offending line when stderr is a terminal.

use anyhow::anyhow;
use tagwarden_manifest::{FindOptions, ManifestError, Scan, Source};

use crate::exit::Failure;

/// Find options with the `--image-path KIND:PATH` rules added; every CPU helps on large
/// streams (results do not depend on the thread count).
pub fn find_options(image_paths: &[String]) -> Result<FindOptions, Failure> {
    FindOptions::new()
        .with_threads(0)
        .with_image_path_specs(image_paths)
        .map_err(|e| Failure::bad_input(anyhow!("--image-path: {e}")))
}

/// Scans every source; the first broken one stops everything (exit 2).
pub fn scan_all(sources: &[Source], options: &FindOptions) -> Result<Vec<Scan>, Failure> {
    sources
        .iter()
        .map(|source| scan_one(source, options))
        .collect()
}

/// Scans one source.
pub fn scan_one(source: &Source, options: &FindOptions) -> Result<Scan, Failure> {
    tagwarden_manifest::scan(&source.name, &source.contents, options)
        .map_err(|e| manifest_error(e, Some(&source.contents)))
}

/// Exit 2 with the error's one-line form (`file:LINE:COL: message`). With the text it came
/// from and stderr on a terminal, the offending line is shown instead, underlined (coloured
/// as `--color` and `NO_COLOR` say), and nothing more.
pub fn manifest_error(error: ManifestError, source: Option<&str>) -> Failure {
    let failure = Failure::bad_input(anyhow!("{error}"));
    if let (Some(source), Some(_)) = (source, error.line_column())
        && crate::output::stderr_is_terminal()
    {
        let snippet = if crate::output::stderr_color() {
            error.snippet_styled(source)
        } else {
            error.snippet(source)
        };
        crate::output::errln!("{snippet}");
        return failure.shown();
    }
    failure
}
