//! `tagwarden cache`: inspect or empty the on-disk cache of digests and tag lists.

use anyhow::anyhow;
use clap::{Args as ClapArgs, Subcommand};
use tagwarden_registry::{DiskCache, cache};

use crate::cli::{GlobalOptions, OutputFormat};
use crate::commands::print_json;
use crate::exit::{CommandResult, Failure, Status};
use crate::output::{errln, outln};

pub const EXAMPLES: &str = "\
Examples:
  tagwarden cache path
  tagwarden cache clear";

#[derive(Debug, ClapArgs)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Print where the cache lives.
    Path,
    /// Remove every cached digest and tag list.
    Clear,
}

pub fn run(global: &GlobalOptions, args: &Args) -> CommandResult {
    let path = DiskCache::default_path().ok_or_else(|| {
        Failure::bad_input(anyhow!(
            "no cache folder: neither XDG_CACHE_HOME nor HOME is set"
        ))
    })?;
    match args.action {
        Action::Path => match global.output {
            OutputFormat::Json => print_json(&serde_json::json!({ "path": path }))?,
            _ => outln!("{}", path.display())?,
        },
        Action::Clear => {
            if path.exists() {
                DiskCache::open(&path, cache::DEFAULT_TTL)
                    .and_then(|c| c.clear())
                    .map_err(Failure::bad_input)?;
            }
            errln!("cleared {}", path.display());
        }
    }
    Ok(Status::Success)
}
