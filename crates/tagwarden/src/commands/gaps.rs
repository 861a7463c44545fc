//! `tagwarden gaps`: the upstream Kubernetes versions an image has no tag for (for publishers).
//!
//! The decisions live in `tagwarden_core::gaps`; this module gathers the inputs (the
//! upstream image's tags or a version list, the image's published tags: one tag listing
//! each), has the engine check the expected tags ([`tagwarden_registry::promised`]: the
//! platforms of listed tags only, only when asked), and prints the report.
//! Nothing is printed on stdout until every registry answer is in, so a registry that
//! cannot be read (exit 3) never yields a partial report that looks like a real one.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::{ArgGroup, Args as ClapArgs};
use serde::Serialize;
use tagwarden_core::gaps::{self, ExpectedTag, Selection, UpstreamVersion, expected_tags};
use tagwarden_core::{Reference, TagFormat, VersionTag};
use tagwarden_registry::inspect::{self, TagQuestion};
use tagwarden_registry::promised::{PromisedTag, check_listed_tags};
use tagwarden_registry::{Client, Platform, Repository};

use crate::cli::GapsFormat;
use crate::commands::print_json;
use crate::exit::{CommandResult, Failure, Status};
use crate::output::{errln, outln};
use crate::settings::Settings;

pub const EXAMPLES: &str = "\
Examples:
  # Which Kubernetes minors since 1.28 have no clastix/kubectl:vX.Y tag?
  tagwarden gaps --image clastix/kubectl --upstream registry.k8s.io/kube-apiserver \\
      --tag-format 'v{major}.{minor}' --since 1.28

  # Per release and per minor at once, both platforms required, as a GitHub Actions matrix
  tagwarden gaps --image ghcr.io/org/kubectl --upstream registry.k8s.io/kube-apiserver \\
      --tag-format 'v{major}.{minor}.{patch}' --tag-format 'v{major}.{minor}' \\
      --platform linux/amd64 --platform linux/arm64 --since 1.30 -o github-matrix

  # Versions from a list instead of an upstream image; the tag scheme is read off IMAGE's tag
  tagwarden gaps --image clastix/kubectl:v1.31 --versions 1.31.4,1.32.0

Expected tags: each --tag-format renders every upstream version; versions that render the
same tag are one expectation, reported with the newest of them (v{major}.{minor} expects one
tag per minor, reported as that minor's newest release, the version to build it from;
v{major}.{minor}.{patch} expects one per release). A pre-release keeps its suffix after
{patch} (v1.33.0-rc.1). Without --tag-format, IMAGE's own tag is the template
(clastix/kubectl:v1.31 → v{major}.{minor}); without one either, the scheme most of IMAGE's
published tags follow is used and named on stderr.

Upstream tags count when they are [v]MAJOR.MINOR.PATCH[-(alpha|beta|rc).N]; others
(latest, v1.32, signatures) are ignored. GA releases only, unless --include-prereleases;
the same rule applies to --versions and --versions-file.

Output:
  text           a table: version, expected tag, present/missing (summary on stderr)
  json           {\"missing\":[{\"version\",\"tag\"}],\"present\":[{\"version\",\"tag\"}]}; with
                 --platform, a present tag that lacks a platform is listed in missing once
                 per platform, with \"platform\" and \"digest\"; present tags carry \"digest\"
  github-matrix  {\"include\":[{\"version\",\"tag\"}]} on one line, one entry per tag to build;
                 with --platform each entry has \"platforms\": \"linux/amd64,linux/arm64/v8\"
                 (all requested platforms: rebuilding a tag rebuilds its whole index)

Exit: 0 nothing missing, 1 something missing, 2 bad flags or versions,
3 a registry could not be read (nothing is reported then).";

#[derive(Debug, ClapArgs)]
#[command(group(
    ArgGroup::new("source")
        .required(true)
        .args(["upstream", "versions_file", "versions"])
))]
pub struct Args {
    /// The image that should have a tag for every upstream version, e.g. clastix/kubectl.
    /// A version tag on it (clastix/kubectl:v1.31) serves as the tag template.
    #[arg(long, value_name = "REF")]
    pub image: String,

    /// An image released with every Kubernetes version, whose tags are the upstream
    /// versions, e.g. registry.k8s.io/kube-apiserver.
    #[arg(long, value_name = "REF")]
    pub upstream: Option<String>,

    /// A file with one upstream version per line (blank lines and # comments ignored).
    #[arg(long, value_name = "FILE")]
    pub versions_file: Option<PathBuf>,

    /// Upstream versions, comma-separated: 1.31.4,1.32.0.
    #[arg(long, value_name = "V,V,…", value_delimiter = ',')]
    pub versions: Vec<String>,

    /// How a Kubernetes version becomes a tag: placeholders {major}, {minor}, {patch};
    /// repeatable (every format is expected).
    #[arg(long = "tag-format", value_name = "FORMAT")]
    pub tag_formats: Vec<String>,

    /// Ignore upstream versions below this one (MAJOR.MINOR[.PATCH], e.g. 1.28).
    #[arg(long, value_name = "VERSION")]
    pub since: Option<String>,

    /// Count alpha, beta and rc releases too (default: GA releases only).
    #[arg(long)]
    pub include_prereleases: bool,

    /// A platform every present tag must provide (OS/ARCH[/VARIANT]); repeatable. `all`: every
    /// platform its index lists, each of whose manifests must exist (a broken index is caught).
    /// A present tag without it is a gap.
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    pub platforms: Vec<String>,
}

/// One line of the JSON report (a stable interface).
#[derive(Debug, Clone, Serialize)]
struct GapEntry {
    version: String,
    tag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
}

#[derive(Debug, Serialize)]
struct GapsOutput {
    missing: Vec<GapEntry>,
    present: Vec<GapEntry>,
}

#[derive(Debug, Serialize)]
struct MatrixEntry {
    version: String,
    tag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    platforms: Option<String>,
}

#[derive(Debug, Serialize)]
struct GithubMatrix {
    include: Vec<MatrixEntry>,
}

/// Where the upstream versions come from, parsed before any request.
enum Source {
    Upstream(Reference),
    Listed(Vec<UpstreamVersion>),
}

pub async fn run(settings: &Settings<GapsFormat>, args: &Args) -> CommandResult {
    // Everything the user typed is checked before the first request.
    let image = image_from(args)?;
    let mut formats = formats_from(args, &image)?;
    let since = args
        .since
        .as_deref()
        .map(gaps::parse_since)
        .transpose()
        .map_err(|e| Failure::bad_input(anyhow!("--since {e}")))?;
    let selection = Selection {
        include_prereleases: args.include_prereleases,
        since,
    };
    let platforms = crate::commands::platforms_flag(&args.platforms)?;
    let source = source_from(args)?;

    // The network: upstream versions, then the image's tags (one listing each).
    let client = settings.client.build()?;
    let spinner = crate::progress::Spinner::start("listing upstream versions and published tags");
    let (all_versions, origin) = upstream_versions(&client, source).await?;
    let versions = gaps::select(&all_versions, &selection);
    let repo = Repository::of(&image);
    let listed = inspect::published_tags(&client, &repo).await?;
    let repository_missing = listed.is_none();
    if formats.is_empty() {
        let newest = versions.last().or(all_versions.last());
        let published = listed.as_deref().unwrap_or_default();
        formats.push(inferred_format(
            &image,
            newest,
            published,
            repository_missing,
        )?);
    }

    let expected = expected_tags(&versions, &formats).map_err(Failure::bad_input)?;
    spinner.set_message(format!("checking {} expected tags", expected.len()));
    let listings = HashMap::from([(repo.clone(), listed)]);
    let checked = check_platforms(&client, &listings, &repo, &expected, &platforms).await?;
    drop(spinner);

    // Only now, with every answer in, is anything printed.
    let summary = summarize(&checked, &platforms);
    match settings.output {
        GapsFormat::Json => print_json(&summary.json)?,
        GapsFormat::GithubMatrix => crate::output::json_line(&summary.matrix)?,
        GapsFormat::Text => print_table(&checked)?,
    }
    let context = SummaryContext {
        name: image.name_as_written(),
        repository_missing,
        expected: expected.len(),
        versions: versions.len(),
        all_versions: all_versions.len(),
        origin: &origin,
        selection: &selection,
        formats: &formats,
    };
    print_summary(&context, &summary);
    Ok(if summary.json.missing.is_empty() {
        Status::Success
    } else {
        Status::Finding
    })
}

/// What the summary line on stderr talks about.
struct SummaryContext<'a> {
    name: &'a str,
    repository_missing: bool,
    /// Expected tags.
    expected: usize,
    /// Upstream versions selected.
    versions: usize,
    /// Upstream versions before selection.
    all_versions: usize,
    origin: &'a str,
    selection: &'a Selection,
    formats: &'a [TagFormat],
}

/// The summary on stderr: how many expected tags are missing, and of what.
fn print_summary(context: &SummaryContext<'_>, summary: &Summary) {
    let name = context.name;
    let origin = context.origin;
    if context.repository_missing {
        errln!("note: {name} does not exist in its registry, so every expected tag is missing");
    }
    if context.expected == 0 {
        errln!(
            "no upstream versions to expect tags for: {} from {origin}, none {}",
            counted(context.all_versions, "version", "versions"),
            describe_selection(context.selection)
        );
        return;
    }
    errln!(
        "{} of {} of {name} missing{} ({} from {origin}; tag format {})",
        summary.missing_tags,
        counted(context.expected, "expected tag", "expected tags"),
        if summary.platform_gaps > 0 {
            format!(
                ", {}",
                counted(summary.platform_gaps, "platform gap", "platform gaps")
            )
        } else {
            String::new()
        },
        counted(context.versions, "upstream version", "upstream versions"),
        context
            .formats
            .iter()
            .map(TagFormat::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// `1 platform gap`, `2 platform gaps`.
fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `--image`, which names a repository (maybe with a version tag as template), not a digest.
fn image_from(args: &Args) -> Result<Reference, Failure> {
    let image =
        Reference::parse(&args.image).map_err(|e| Failure::bad_input(anyhow!("--image: {e}")))?;
    if image.digest().is_some() {
        return Err(Failure::bad_input(anyhow!(
            "--image {}: name the repository (optionally with a version tag as template), not a digest",
            args.image
        )));
    }
    Ok(image)
}

/// The `--tag-format`s, else the image's own version tag as the template; empty when the
/// scheme must be inferred from the published tags.
fn formats_from(args: &Args, image: &Reference) -> Result<Vec<TagFormat>, Failure> {
    let mut formats = args
        .tag_formats
        .iter()
        .map(|f| TagFormat::parse(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::bad_input(anyhow!("--tag-format: {e}")))?;
    if formats.is_empty()
        && let Some(tag) = image.tag()
    {
        let format = VersionTag::parse(tag)
            .and_then(|t| gaps::format_of_tag(&t))
            .ok_or_else(|| {
                Failure::bad_input(anyhow!(
                    "--image {}: tag {tag:?} is not a template (expected a version tag such as v1.31 or 1.31.4); drop the tag or give --tag-format",
                    args.image
                ))
            })?;
        formats.push(format);
    }
    Ok(formats)
}

/// The upstream versions, and where they came from (for the summary).
async fn upstream_versions(
    client: &Client,
    source: Source,
) -> Result<(Vec<UpstreamVersion>, String), Failure> {
    let upstream = match source {
        Source::Listed(versions) => return Ok((versions, "the listed versions".to_string())),
        Source::Upstream(upstream) => upstream,
    };
    let name = upstream.name_as_written();
    let Some(tags) = inspect::published_tags(client, &Repository::of(&upstream)).await? else {
        return Err(Failure::bad_input(anyhow!(
            "--upstream {name}: the repository does not exist"
        )));
    };
    let versions = gaps::versions_from_tags(tags.iter().map(String::as_str));
    if versions.is_empty() {
        return Err(Failure::bad_input(anyhow!(
            "--upstream {name}: none of its {} is a Kubernetes release ([v]MAJOR.MINOR.PATCH[-(alpha|beta|rc).N])",
            counted(tags.len(), "tag", "tags")
        )));
    }
    Ok((versions, name.to_string()))
}

/// The scheme most of the image's published tags follow, named on stderr.
fn inferred_format(
    image: &Reference,
    newest: Option<&UpstreamVersion>,
    published: &[String],
    repository_missing: bool,
) -> Result<TagFormat, Failure> {
    let Some(newest) = newest else {
        return Err(Failure::bad_input(anyhow!("no upstream versions given")));
    };
    let inferred =
        gaps::infer_format(newest, published.iter().map(String::as_str)).ok_or_else(|| {
            let why = if repository_missing {
                "the repository does not exist"
            } else {
                "it publishes no version tags with two or three numbers"
            };
            Failure::bad_input(anyhow!(
                "cannot infer the tag scheme of {}: {why}; give --tag-format, e.g. 'v{{major}}.{{minor}}'",
                image.name_as_written()
            ))
        })?;
    errln!(
        "note: tag format {} inferred from the tags of {}; give --tag-format to choose (repeatable)",
        inferred,
        image.name_as_written()
    );
    Ok(inferred)
}

fn describe_selection(selection: &Selection) -> String {
    let kind = if selection.include_prereleases {
        "release"
    } else {
        "GA release"
    };
    match selection.since {
        Some((major, minor, patch)) => format!("a {kind} at or above {major}.{minor}.{patch}"),
        None => format!("a {kind}"),
    }
}

fn source_from(args: &Args) -> Result<Source, Failure> {
    if let Some(upstream) = &args.upstream {
        let reference = Reference::parse(upstream)
            .map_err(|e| Failure::bad_input(anyhow!("--upstream: {e}")))?;
        if reference.tag().is_some() || reference.digest().is_some() {
            return Err(Failure::bad_input(anyhow!(
                "--upstream {upstream}: name the repository only (e.g. registry.k8s.io/kube-apiserver); its tags are the upstream versions"
            )));
        }
        return Ok(Source::Upstream(reference));
    }
    let mut versions = Vec::new();
    if let Some(path) = &args.versions_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--versions-file {}", path.display()))
            .map_err(Failure::bad_input)?;
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let version = UpstreamVersion::parse(line).map_err(|e| {
                Failure::bad_input(anyhow!("{}:{}: {e}", path.display(), number + 1))
            })?;
            versions.push(version);
        }
        if versions.is_empty() {
            return Err(Failure::bad_input(anyhow!(
                "--versions-file {}: no versions in it (one per line, e.g. 1.32.0)",
                path.display()
            )));
        }
    } else {
        for text in &args.versions {
            if text.trim().is_empty() {
                continue;
            }
            versions.push(
                UpstreamVersion::parse(text)
                    .map_err(|e| Failure::bad_input(anyhow!("--versions: {e}")))?,
            );
        }
        if versions.is_empty() {
            return Err(Failure::bad_input(anyhow!(
                "--versions: no versions given (e.g. --versions 1.31.4,1.32.0)"
            )));
        }
    }
    versions.sort();
    versions.dedup();
    Ok(Source::Listed(versions))
}

/// A present tag after the platform check.
struct Checked {
    expected: ExpectedTag,
    /// `None`: missing. `Some(digest)`: present (the digest is known only when
    /// platforms were checked, otherwise empty).
    digest: Option<String>,
    /// Requested platforms the tag lacks.
    lacking: Vec<Platform>,
}

/// Each expected tag as the engine finds it: missing unless listed, and the platforms of
/// the listed ones checked only when platforms were asked for
/// ([`tagwarden_registry::promised`]); in version order.
async fn check_platforms(
    client: &Client,
    listings: &HashMap<Repository, Option<Vec<String>>>,
    repo: &Repository,
    expected: &[ExpectedTag],
    platforms: &[Platform],
) -> Result<Vec<Checked>, Failure> {
    let promises: Vec<TagQuestion> = expected
        .iter()
        .map(|expected| TagQuestion {
            repository: repo.clone(),
            tag: expected.tag.clone(),
            platforms: platforms.to_vec(),
        })
        .collect();
    let states = check_listed_tags(client, listings, &promises).await?;
    let mut checked: Vec<Checked> = expected
        .iter()
        .zip(states)
        .map(|(expected, state)| {
            let (digest, lacking) = match state {
                PromisedTag::Missing => (None, Vec::new()),
                PromisedTag::Listed => (Some(String::new()), Vec::new()),
                PromisedTag::Present { digest, lacking } => (Some(digest), lacking),
            };
            Checked {
                expected: expected.clone(),
                digest,
                lacking,
            }
        })
        .collect();
    checked.sort_by(|a, b| a.expected.cmp(&b.expected));
    Ok(checked)
}

struct Summary {
    json: GapsOutput,
    matrix: GithubMatrix,
    missing_tags: usize,
    platform_gaps: usize,
}

fn summarize(checked: &[Checked], platforms: &[Platform]) -> Summary {
    let mut json = GapsOutput {
        missing: Vec::new(),
        present: Vec::new(),
    };
    let mut matrix = GithubMatrix {
        include: Vec::new(),
    };
    let (mut missing_tags, mut platform_gaps) = (0, 0);
    let all_platforms = (!platforms.is_empty()).then(|| {
        platforms
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    });
    for c in checked {
        let entry = |platform: Option<String>, digest: Option<String>| GapEntry {
            version: c.expected.version.to_string(),
            tag: c.expected.tag.clone(),
            platform,
            digest: digest.filter(|d| !d.is_empty()),
        };
        let needs_build = match &c.digest {
            None => {
                missing_tags += 1;
                json.missing.push(entry(None, None));
                true
            }
            Some(digest) if c.lacking.is_empty() => {
                json.present.push(entry(None, Some(digest.clone())));
                false
            }
            Some(digest) => {
                for platform in &c.lacking {
                    platform_gaps += 1;
                    json.missing
                        .push(entry(Some(platform.to_string()), Some(digest.clone())));
                }
                true
            }
        };
        if needs_build {
            matrix.include.push(MatrixEntry {
                version: c.expected.version.to_string(),
                tag: c.expected.tag.clone(),
                platforms: all_platforms.clone(),
            });
        }
    }
    Summary {
        json,
        matrix,
        missing_tags,
        platform_gaps,
    }
}

fn print_table(checked: &[Checked]) -> Result<(), Failure> {
    let mut rows: Vec<[String; 3]> = vec![["VERSION".into(), "TAG".into(), "STATUS".into()]];
    for c in checked {
        let version = c.expected.version.to_string();
        let tag = c.expected.tag.clone();
        match &c.digest {
            None => rows.push([version, tag, "missing".into()]),
            Some(_) if c.lacking.is_empty() => rows.push([version, tag, "present".into()]),
            Some(_) => {
                for platform in &c.lacking {
                    rows.push([version.clone(), tag.clone(), format!("missing {platform}")]);
                }
            }
        }
    }
    let width = |i: usize| rows.iter().map(|r| r[i].len()).max().unwrap_or(0);
    let (w0, w1) = (width(0), width(1));
    for [version, tag, status] in &rows {
        outln!("{version:<w0$}  {tag:<w1$}  {status}")?;
    }
    Ok(())
}
