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

/// Reads every source named by `args`, in order, and drops what [`read_inputs`] reports as
/// skipped; use [`read_inputs`] to tell the user about it.
pub fn read_sources<S: AsRef<str>>(
    args: &[S],
    limits: &Limits,
) -> Result<Vec<Source>, ManifestError> {
    read_inputs(args, limits).map(|inputs| inputs.sources)
}

/// What [`read_inputs`] read, and the folder entries it could not read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inputs {
    /// The sources, in order.
    pub sources: Vec<Source>,
    /// Entries of folders that have a manifest's name but were not read, in path order.
    pub skipped: Vec<SkippedPath>,
}

/// A folder entry named like a manifest (`*.yaml`, `*.yml`, `*.json`) that was not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedPath {
    /// The path, as found under the folder given.
    pub path: String,
    /// Why it was not read.
    pub reason: SkippedPathReason,
}

/// Why a folder entry named like a manifest was not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkippedPathReason {
    /// A symbolic link whose target does not exist.
    DanglingSymlink,
    /// A symbolic link to a folder: not followed, so that links cannot make a loop.
    SymlinkToFolder,
    /// A named pipe, socket or device: reading it could block forever or never end.
    NotARegularFile,
}

impl std::fmt::Display for SkippedPathReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::DanglingSymlink => "a symbolic link to nothing",
            Self::SymlinkToFolder => "a symbolic link to a folder, not followed",
            Self::NotARegularFile => "not a regular file (a named pipe, socket or device)",
        })
    }
}

/// Reads every source named by `args`, in order:
///
/// - `-` reads standard input (named [`STDIN_NAME`]);
/// - a file is read whatever its extension and type (a named pipe such as `<(helm template
///   …)` included);
/// - a folder is read recursively for `*.yaml`, `*.yml` and `*.json` files (any case:
///   `.YAML`), in sorted path order so that output is deterministic. Symbolic links to files
///   are followed; symbolic links to folders are not (no loops). Entries named like a
///   manifest that cannot be read as one (a dangling symbolic link, a symbolic link to a
///   folder, a named pipe, socket or device) are not read and are listed in
///   [`Inputs::skipped`], for the caller to report.
///
/// Each source must be UTF-8 ([`ManifestError::Encoding`] with the position of the first bad
/// byte otherwise) and at most `limits.max_input_bytes` long ([`ManifestError::TooLarge`]);
/// a source is never read past that limit.
pub fn read_inputs<S: AsRef<str>>(args: &[S], limits: &Limits) -> Result<Inputs, ManifestError> {
    let mut inputs = Inputs::default();
    for arg in args {
        let arg = arg.as_ref();
        if arg == "-" {
            let stdin = std::io::stdin();
            inputs
                .sources
                .push(read_source(STDIN_NAME, stdin.lock(), limits)?);
            continue;
        }
        let path = Path::new(arg);
        let meta = std::fs::metadata(path).map_err(|e| io_error(arg, e))?;
        if meta.is_dir() {
            let folder = manifest_files(path)?;
            for file in folder.files {
                let name = file.to_string_lossy().into_owned();
                inputs.sources.push(read_file(&name, &file, limits)?);
            }
            inputs.skipped.extend(folder.skipped);
        } else {
            inputs.sources.push(read_file(arg, path, limits)?);
        }
    }
    Ok(inputs)
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

/// Whether a folder entry is named like a manifest: `*.yaml`, `*.yml` or `*.json`, any case.
fn is_manifest_name(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["yaml", "yml", "json"]
            .iter()
            .any(|m| e.eq_ignore_ascii_case(m))
    })
}

/// The manifests of a folder tree, and the entries named like one that cannot be read.
struct Folder {
    files: Vec<PathBuf>,
    skipped: Vec<SkippedPath>,
}

/// Every manifest file under `root`, sorted by path; see [`read_inputs`].
fn manifest_files(root: &Path) -> Result<Folder, ManifestError> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
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
                continue;
            }
            if !is_manifest_name(&path) {
                continue;
            }
            // What the entry is once symbolic links are followed.
            let reason = match std::fs::metadata(&path) {
                Ok(target) if target.is_file() => None,
                Ok(target) if target.is_dir() => Some(SkippedPathReason::SymlinkToFolder),
                Ok(_) => Some(SkippedPathReason::NotARegularFile),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && file_type.is_symlink() => {
                    Some(SkippedPathReason::DanglingSymlink)
                }
                Err(e) => return Err(io_error(&path.to_string_lossy(), e)),
            };
            match reason {
                None => files.push(path),
                Some(reason) => skipped.push(SkippedPath {
                    path: path.to_string_lossy().into_owned(),
                    reason,
                }),
            }
        }
    }
    files.sort();
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Folder { files, skipped })
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
        assert_eq!(
            names,
            ["/a/two.yaml", "/b/nested/z.yml", "/b/one.YAML", "/c.json"]
        );
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

    #[test]
    fn folders_report_what_they_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::fs::write(root.join("ok.Yml"), "a: 1\n").unwrap();
        std::fs::write(root.join("data.JSON"), "{\"a\": 1}").unwrap();
        std::os::unix::fs::symlink(root.join("gone.yaml"), root.join("dangling.yaml")).unwrap();
        std::os::unix::fs::symlink(root.join("ok.Yml"), root.join("link.yaml")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("folder.yaml")).unwrap();
        // A dangling link not named like a manifest is none of our business.
        std::os::unix::fs::symlink(root.join("gone"), root.join("README")).unwrap();
        let fifo = root.join("pipe.yaml");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo (coreutils) failed");

        let arg = root.to_string_lossy().into_owned();
        let inputs = read_inputs(&[arg.as_str()], &Limits::default()).unwrap();
        let strip = |p: &str| p.strip_prefix(&arg).unwrap().to_string();
        let names: Vec<String> = inputs.sources.iter().map(|s| strip(&s.name)).collect();
        assert_eq!(names, ["/data.JSON", "/link.yaml", "/ok.Yml"]);
        let skipped: Vec<(String, SkippedPathReason)> = inputs
            .skipped
            .iter()
            .map(|s| (strip(&s.path), s.reason))
            .collect();
        assert_eq!(
            skipped,
            [
                (
                    "/dangling.yaml".to_string(),
                    SkippedPathReason::DanglingSymlink
                ),
                (
                    "/folder.yaml".to_string(),
                    SkippedPathReason::SymlinkToFolder
                ),
                ("/pipe.yaml".to_string(), SkippedPathReason::NotARegularFile),
            ]
        );
        // The old entry point reads the same sources.
        assert_eq!(
            read_sources(&[arg.as_str()], &Limits::default()).unwrap(),
            inputs.sources
        );
    }
}
