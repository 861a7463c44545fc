//! Reading YAML sources: files, folders and standard input.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::ManifestError;
use crate::text::decode_utf8;
use crate::tree::Limits;

/// The name given to standard input in [`Source::name`] and in every location.
pub const STDIN_NAME: &str = "<stdin>";

/// One input: its name (for locations and errors) and its text, exactly as read (a BOM and
/// CRLF line endings included, so that a rewrite can keep them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The path as given or found (`charts/x/templates/job.yaml`), or [`STDIN_NAME`].
    pub name: String,
    /// The UTF-8 text.
    pub contents: String,
}

/// Reads every source named by `args`, in order:
///
/// - `-` reads standard input (named [`STDIN_NAME`]);
/// - a file is read whatever its extension;
/// - a folder is read recursively for `*.yaml` and `*.yml` files (any case), in sorted path
///   order so that output is deterministic. Symbolic links to folders are not followed (no
///   loops); symbolic links to files are.
///
/// Each source must be UTF-8 ([`ManifestError::Encoding`] with the position of the first bad
/// byte otherwise) and at most `limits.max_input_bytes` long ([`ManifestError::TooLarge`]);
/// a source is never read past that limit.
pub fn read_sources<S: AsRef<str>>(
    args: &[S],
    limits: &Limits,
) -> Result<Vec<Source>, ManifestError> {
    let mut sources = Vec::new();
    for arg in args {
        let arg = arg.as_ref();
        if arg == "-" {
            let stdin = std::io::stdin();
            sources.push(read_source(STDIN_NAME, stdin.lock(), limits)?);
            continue;
        }
        let path = Path::new(arg);
        let meta = std::fs::metadata(path).map_err(|e| io_error(arg, e))?;
        if meta.is_dir() {
            for file in yaml_files(path)? {
                let name = file.to_string_lossy().into_owned();
                sources.push(read_file(&name, &file, limits)?);
            }
        } else {
            sources.push(read_file(arg, path, limits)?);
        }
    }
    Ok(sources)
}

/// Reads one source from `reader`, named `name`.
pub fn read_source(
    name: &str,
    reader: impl Read,
    limits: &Limits,
) -> Result<Source, ManifestError> {
    let mut bytes = Vec::new();
    let cap = u64::try_from(limits.max_input_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(name, e))?;
    if bytes.len() > limits.max_input_bytes {
        return Err(ManifestError::TooLarge {
            file: name.to_string(),
            limit: limits.max_input_bytes,
        });
    }
    decode_utf8(name, &bytes)?;
    // Valid by the check above; no second copy of the data.
    let contents =
        String::from_utf8(bytes).map_err(|e| io_error(name, std::io::Error::other(e)))?;
    Ok(Source {
        name: name.to_string(),
        contents,
    })
}

fn read_file(name: &str, path: &Path, limits: &Limits) -> Result<Source, ManifestError> {
    let file = std::fs::File::open(path).map_err(|e| io_error(name, e))?;
    read_source(name, file, limits)
}

fn io_error(file: &str, source: std::io::Error) -> ManifestError {
    ManifestError::Io {
        file: file.to_string(),
        source,
    }
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// Every `*.yaml`/`*.yml` file under `root`, sorted by path.
fn yaml_files(root: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let name = folder.to_string_lossy().into_owned();
        let entries = std::fs::read_dir(&folder).map_err(|e| io_error(&name, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_error(&name, e))?;
            let path = entry.path();
            let file_type = entry.file_type().map_err(|e| io_error(&name, e))?;
            if file_type.is_dir() {
                folders.push(path);
            } else if is_yaml(&path) && (file_type.is_file() || path.is_file()) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_folders_recursively_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/nested")).unwrap();
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(root.join("b/nested/z.yml"), "z: 1\n").unwrap();
        std::fs::write(root.join("b/one.YAML"), "one: 1\n").unwrap();
        std::fs::write(root.join("a/two.yaml"), "\u{feff}two: 2\r\n").unwrap();
        std::fs::write(root.join("a/notes.txt"), "not yaml").unwrap();
        std::fs::write(root.join("c.json"), "{}").unwrap();
        let arg = root.to_string_lossy().into_owned();
        let sources = read_sources(&[arg.as_str()], &Limits::default()).unwrap();
        let names: Vec<String> = sources
            .iter()
            .map(|s| s.name.strip_prefix(&arg).unwrap().to_string())
            .collect();
        assert_eq!(names, ["/a/two.yaml", "/b/nested/z.yml", "/b/one.YAML"]);
        assert_eq!(sources[0].contents, "\u{feff}two: 2\r\n");

        // A file given by name is read whatever its extension.
        let json = root.join("c.json").to_string_lossy().into_owned();
        let sources = read_sources(&[json.as_str()], &Limits::default()).unwrap();
        assert_eq!(sources[0].name, json);
        assert_eq!(sources[0].contents, "{}");
    }

    #[test]
    fn reports_missing_binary_and_oversized_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir
            .path()
            .join("missing.yaml")
            .to_string_lossy()
            .into_owned();
        let err = read_sources(&[missing.as_str()], &Limits::default()).unwrap_err();
        assert!(matches!(err, ManifestError::Io { .. }), "{err:?}");
        assert!(err.to_string().starts_with(&missing), "{err}");

        let err =
            read_source("bin", &b"a: 1\n\x00\x9f\x92\x96"[..], &Limits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ManifestError::Encoding {
                    line: 2,
                    column: 2,
                    offset: 6,
                    ..
                }
            ),
            "{err:?}"
        );

        let limits = Limits::default().with_max_input_bytes(4);
        let err = read_source("big", &b"a: 12"[..], &limits).unwrap_err();
        assert!(
            matches!(err, ManifestError::TooLarge { limit: 4, .. }),
            "{err:?}"
        );
        assert!(read_source("ok", &b"a: 1"[..], &limits).is_ok());
    }
}
