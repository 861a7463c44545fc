//! `tagwarden matrix check|show|verify`: an application's compatibility matrix against
//! Kubernetes versions.
//!
//! The file format, ranges, "nearest" and the Markdown live in `tagwarden_core::matrix`;
//! this module reads the file, reports its problems as `FILE:LINE:COLUMN: what`, and for
//! `verify` asks the engine ([`tagwarden_registry::promised`]): one tag listing per
//! repository, then a manifest (and config) only for listed tags whose entry lists
//! platforms.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use serde::Serialize;
use tagwarden_core::KubeVersion;
use tagwarden_core::Reference;
use tagwarden_core::matrix::{AppVersion, Entry, Layout, Matrix};
use tagwarden_registry::inspect::TagQuestion;
use tagwarden_registry::promised::{PromisedTag, check_promised_tags};
use tagwarden_registry::{Platform, Repository};

use crate::cli::TextOrJson;
use crate::commands::print_json;
use crate::exit::{CommandResult, Failure, Status};
use crate::output::{errln, out, outln};
use crate::settings::Settings;

pub const EXAMPLES: &str = "\
Examples:
  # Does Capsule 0.7.3 support Kubernetes 1.33? If not, what is the nearest supported pair?
  tagwarden matrix check --file compat.yaml --app 0.7.3 --kube-version v1.33.1-eks-5e0fdde

  # The matrix as a Markdown table for the README (or a ✓ grid)
  tagwarden matrix show --file compat.yaml
  tagwarden matrix show --file compat.yaml --layout grid

  # Every image tag the matrix promises exists, on every listed platform
  tagwarden matrix verify --file compat.yaml

The file (JSON Schema: schema/compat-matrix.schema.json):

  name: capsule
  image: clastix/kubectl:v{major}.{minor}   # default for every entry; {major}.{minor} of Kubernetes
  platforms: [linux/amd64, linux/arm64]     # default; needs an image
  versions:
    - app: 0.7.x                            # or 0.7.3, 0.7, >=0.7.0 <0.8.0, 0.7.0 - 0.7.5, *
      kubernetes: 1.28 - 1.32               # inclusive minors, or one minor: 1.30
    - app: 0.6.x
      kubernetes: 1.26 - 1.30
      image: clastix/kubectl:v{major}.{minor}.0
      notes: shown by `matrix show`

Application ranges must not overlap. A bad file is reported as FILE:LINE:COLUMN: what is
wrong (exit 2).

Exit: 0 supported / everything exists, 1 not supported / something missing,
2 bad flags or a bad file, 3 a registry could not be read (verify reports nothing then).";

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    pub command: MatrixCommand,
}

#[derive(Debug, Subcommand)]
pub enum MatrixCommand {
    /// Whether an application version supports a Kubernetes version; if not, the nearest
    /// supported combination (exit 1).
    #[command(after_help = EXAMPLES)]
    Check(CheckArgs),
    /// The matrix as a Markdown table (text), or as JSON.
    #[command(after_help = EXAMPLES)]
    Show(ShowArgs),
    /// Every image tag the matrix promises exists in its registry, on every listed platform.
    #[command(after_help = EXAMPLES)]
    Verify(crate::cli::WithRegistry<VerifyArgs, crate::cli::NoOutputFormat>),
}

#[derive(Debug, ClapArgs)]
pub struct CheckArgs {
    /// The compatibility matrix file; `-` reads stdin.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: PathBuf,

    /// The application version, e.g. 0.7.3 (missing numbers are 0; a pre-release
    /// suffix is ignored).
    #[arg(long, value_name = "VERSION")]
    pub app: String,

    /// The Kubernetes version, any distribution's string (v1.32.1-eks-5e0fdde, 1.32).
    #[arg(long, value_name = "VERSION")]
    pub kube_version: String,
}

#[derive(Debug, ClapArgs)]
pub struct ShowArgs {
    /// The compatibility matrix file; `-` reads stdin.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: PathBuf,

    /// list: one row per entry with its ranges, image and platforms;
    /// grid: one column per Kubernetes minor, ✓ where supported.
    #[arg(long, value_enum, default_value_t = LayoutArg::List)]
    pub layout: LayoutArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutArg {
    List,
    Grid,
}

#[derive(Debug, ClapArgs)]
pub struct VerifyArgs {
    /// The compatibility matrix file; `-` reads stdin.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: PathBuf,
}

pub async fn run(settings: &Settings<TextOrJson>, args: &Args) -> CommandResult {
    match &args.command {
        MatrixCommand::Check(args) => check(settings, args),
        MatrixCommand::Show(args) => show(settings, args),
        MatrixCommand::Verify(args) => verify(settings, &args.args).await,
    }
}

/// Read and validate the file. Every problem goes to stderr as `FILE:LINE:COLUMN: what`;
/// the last one is the command's error (exit 2).
/// `-` reads stdin (named `<stdin>` in messages), as `check -` does.
fn load(path: &Path) -> Result<Matrix, Failure> {
    let (file, source) = if path == Path::new("-") {
        let mut source = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut source)
            .map_err(|e| Failure::bad_input(anyhow!("cannot read stdin: {e}")))?;
        (tagwarden_manifest::STDIN_NAME.to_string(), source)
    } else {
        let source = std::fs::read_to_string(path)
            .map_err(|e| Failure::bad_input(anyhow!("cannot read {}: {e}", path.display())))?;
        (path.display().to_string(), source)
    };
    Matrix::parse(&source).map_err(|errors| {
        let mut lines: Vec<String> = errors.0.iter().map(|e| e.in_file(&file)).collect();
        let last = lines.pop().unwrap_or_else(|| format!("{file}: invalid"));
        for line in lines {
            errln!("error: {line}");
        }
        Failure::bad_input(anyhow!(last))
    })
}

fn app_label(matrix: &Matrix, version: &str) -> String {
    match &matrix.name {
        Some(name) => format!("{name} {version}"),
        None => version.to_string(),
    }
}

// ---------------------------------------------------------------------------
// check
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize)]
struct EntryRef {
    app: String,
    kubernetes: String,
    line: u64,
}

impl EntryRef {
    fn of(entry: &Entry) -> Self {
        EntryRef {
            app: entry.app.as_str().to_string(),
            kubernetes: entry.kubernetes.to_string(),
            line: entry.line,
        }
    }
}

#[derive(Debug, Serialize)]
struct Combination {
    app: String,
    kubernetes: String,
    image: Option<String>,
    keeps: &'static str,
}

#[derive(Debug, Serialize)]
struct CheckOutput {
    app: String,
    kubernetes: String,
    supported: bool,
    entry: Option<EntryRef>,
    image: Option<String>,
    nearest: Vec<Combination>,
}

fn check(settings: &Settings<TextOrJson>, args: &CheckArgs) -> CommandResult {
    let app =
        AppVersion::parse(&args.app).map_err(|e| Failure::bad_input(anyhow!("--app: {e}")))?;
    let kube = KubeVersion::parse(&args.kube_version)
        .map_err(|e| Failure::bad_input(anyhow!("--kube-version: {e}")))?;
    let matrix = load(&args.file)?;
    let (major, minor) = kube.major_minor();
    let result = matrix.check(&app, major, minor);

    let output = CheckOutput {
        app: app.to_string(),
        kubernetes: format!("{major}.{minor}"),
        supported: result.supported,
        entry: result.entry.map(EntryRef::of),
        image: result
            .entry
            .filter(|_| result.supported)
            .and_then(|e| e.image.as_ref())
            .map(|i| i.render(major, minor)),
        nearest: result
            .nearest
            .iter()
            .map(|s| Combination {
                app: s.entry.app.as_str().to_string(),
                kubernetes: format!("{}.{}", s.major, s.minor),
                image: s.image(),
                keeps: s.keeps.as_str(),
            })
            .collect(),
    };
    match settings.output {
        TextOrJson::Json => print_json(&output)?,
        _ => {
            let asked = format!(
                "{} on Kubernetes {}",
                app_label(&matrix, &output.app),
                output.kubernetes
            );
            let entry = match &output.entry {
                Some(e) => format!(
                    "{} supports Kubernetes {}, line {}",
                    e.app, e.kubernetes, e.line
                ),
                None => format!("no entry holds {}", output.app),
            };
            if output.supported {
                outln!("supported: {asked} ({entry})")?;
                if let Some(image) = &output.image {
                    outln!("image: {image}")?;
                }
            } else {
                outln!("not supported: {asked} ({entry})")?;
                for (i, c) in output.nearest.iter().enumerate() {
                    let why = match c.keeps {
                        "kubernetes" => format!("keeps Kubernetes {}", output.kubernetes),
                        "app" => format!("keeps {}", output.app),
                        _ => "nearest entry".to_string(),
                    };
                    let image = c
                        .image
                        .as_ref()
                        .map(|i| format!(", image {i}"))
                        .unwrap_or_default();
                    outln!(
                        "{}: {} on Kubernetes {} ({why}{image})",
                        if i == 0 { "nearest supported" } else { "or" },
                        app_label(&matrix, &c.app),
                        c.kubernetes
                    )?;
                }
            }
        }
    }
    Ok(if output.supported {
        Status::Success
    } else {
        Status::Finding
    })
}

// ---------------------------------------------------------------------------
// show
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize)]
struct ShowEntry {
    app: String,
    kubernetes: String,
    minors: Vec<String>,
    image: Option<String>,
    platforms: Vec<String>,
    notes: Option<String>,
}

#[derive(Debug, Serialize)]
struct ShowOutput {
    name: Option<String>,
    versions: Vec<ShowEntry>,
}

fn show(settings: &Settings<TextOrJson>, args: &ShowArgs) -> CommandResult {
    let matrix = load(&args.file)?;
    match settings.output {
        TextOrJson::Json => print_json(&ShowOutput {
            name: matrix.name.clone(),
            versions: matrix
                .entries
                .iter()
                .map(|e| ShowEntry {
                    app: e.app.as_str().to_string(),
                    kubernetes: e.kubernetes.to_string(),
                    minors: e
                        .kubernetes
                        .minors()
                        .map(|(major, minor)| format!("{major}.{minor}"))
                        .collect(),
                    image: e.image.as_ref().map(ToString::to_string),
                    platforms: e.platforms.clone(),
                    notes: e.notes.clone(),
                })
                .collect(),
        })?,
        _ => {
            let markdown = matrix.to_markdown(match args.layout {
                LayoutArg::List => Layout::List,
                LayoutArg::Grid => Layout::Grid,
            });
            let newline = if markdown.ends_with('\n') { "" } else { "\n" };
            out!("{markdown}{newline}")?
        }
    }
    Ok(Status::Success)
}

// ---------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
struct VerifyEntry {
    app: String,
    kubernetes: String,
    image: String,
    tag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
}

#[derive(Debug, Serialize)]
struct VerifyOutput {
    missing: Vec<VerifyEntry>,
    present: Vec<VerifyEntry>,
}

/// One promise of the matrix, resolved to a repository, and the platforms it needs.
struct Planned<'a> {
    promise: tagwarden_core::matrix::Promise<'a>,
    repo: Repository,
    platforms: Vec<Platform>,
}

async fn verify(settings: &Settings<TextOrJson>, args: &VerifyArgs) -> CommandResult {
    let matrix = load(&args.file)?;
    for entry in matrix.entries.iter().filter(|e| e.image.is_none()) {
        errln!(
            "note: {} (line {}) names no image; nothing to verify for it",
            entry.app,
            entry.line
        );
    }
    let planned = plan(&matrix, &args.file)?;
    let client = settings.client.build()?;
    let spinner = crate::progress::Spinner::start("asking registries about promised tags");
    let promises: Vec<TagQuestion> = planned
        .iter()
        .map(|p| TagQuestion {
            repository: p.repo.clone(),
            tag: p.promise.tag.clone(),
            platforms: p.platforms.clone(),
        })
        .collect();
    let states = check_promised_tags(&client, &promises).await?;
    drop(spinner);

    // Only now, with every answer in, is anything printed.
    let (output, rows) = outcome(&planned, &states);
    match settings.output {
        TextOrJson::Json => print_json(&output)?,
        _ if planned.is_empty() => errln!("no entry names an image: nothing to verify"),
        _ => {
            let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
            let (w0, w1, w2) = (width(0), width(1), width(2));
            for [app, kube, image, status] in &rows {
                outln!("{app:<w0$}  {kube:<w1$}  {image:<w2$}  {status}")?;
            }
        }
    }
    summarize_verify(&output, planned.is_empty());
    Ok(if output.missing.is_empty() {
        Status::Success
    } else {
        Status::Finding
    })
}

/// Every promise with an image, resolved to a repository, with its entry's platforms.
fn plan<'a>(matrix: &'a Matrix, file: &Path) -> Result<Vec<Planned<'a>>, Failure> {
    let mut planned = Vec::new();
    for promise in matrix.promises() {
        let at_line = |e: &dyn std::fmt::Display| {
            Failure::bad_input(anyhow!(
                "{} line {}: {e}",
                file.display(),
                promise.entry.line
            ))
        };
        let reference = Reference::parse(&promise.image).map_err(|e| at_line(&e))?;
        let platforms = tagwarden_core::platform::parse_platforms(&promise.entry.platforms)
            .map_err(|e| at_line(&e))?;
        planned.push(Planned {
            repo: Repository::of(&reference),
            promise,
            platforms,
        });
    }
    Ok(planned)
}

/// The report (JSON) and the table rows, in the matrix's order.
fn outcome(planned: &[Planned<'_>], states: &[PromisedTag]) -> (VerifyOutput, Vec<[String; 4]>) {
    let mut output = VerifyOutput {
        missing: Vec::new(),
        present: Vec::new(),
    };
    let mut rows: Vec<[String; 4]> = vec![[
        "APP".into(),
        "KUBERNETES".into(),
        "IMAGE".into(),
        "STATUS".into(),
    ]];
    for (p, state) in planned.iter().zip(states) {
        let promise = &p.promise;
        let kubernetes = format!("{}.{}", promise.major, promise.minor);
        let entry = |platform: Option<String>, digest: Option<String>| VerifyEntry {
            app: promise.entry.app.as_str().to_string(),
            kubernetes: kubernetes.clone(),
            image: promise.image.clone(),
            tag: promise.tag.clone(),
            platform,
            digest,
        };
        let row = |status: String| {
            [
                promise.entry.app.as_str().to_string(),
                kubernetes.clone(),
                promise.image.clone(),
                status,
            ]
        };
        let (digest, lacking) = match state {
            PromisedTag::Missing => {
                output.missing.push(entry(None, None));
                rows.push(row("missing".into()));
                continue;
            }
            PromisedTag::Listed => (None, &[][..]),
            PromisedTag::Present { digest, lacking } => (Some(digest.clone()), &lacking[..]),
        };
        if lacking.is_empty() {
            output.present.push(entry(None, digest.clone()));
            rows.push(row("present".into()));
        }
        for platform in lacking {
            output
                .missing
                .push(entry(Some(platform.to_string()), digest.clone()));
            rows.push(row(format!("missing {platform}")));
        }
    }
    (output, rows)
}

/// The summary line on stderr.
fn summarize_verify(output: &VerifyOutput, nothing_planned: bool) {
    let images = |n: usize| if n == 1 { "image" } else { "images" };
    if !output.missing.is_empty() {
        let mut names: Vec<String> = Vec::new();
        for m in &output.missing {
            let name = match &m.platform {
                Some(platform) => format!("{} ({platform})", m.image),
                None => m.image.clone(),
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let all = output.missing.len() + output.present.len();
        errln!(
            "{} of {all} promised {} missing: {}",
            output.missing.len(),
            images(all),
            names.join(", ")
        );
    } else if !nothing_planned {
        match output.present.len() {
            1 => errln!("the 1 promised image exists"),
            n => errln!("all {n} promised images exist"),
        }
    }
}
