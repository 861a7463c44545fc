//! `tagwarden cache`: inspect or empty the on-disk cache of digests and tag lists.

use anyhow::anyhow;
use clap::{Args as ClapArgs, Subcommand};
use tagwarden_registry::{DiskCache, cache};

use crate::cli::TextOrJson;
use crate::commands::print_json;
use crate::exit::{CommandResult, Failure, Status};
use crate::output::{errln, outln};
use crate::settings::Settings;

pub const EXAMPLES: &str = "\
Examples:
  tagwarden cache path
  tagwarden cache clear

The cache is a folder of small files, one per answer: any number of tagwarden processes
read and write it at once, and `cache clear` is safe while they run.";

#[derive(Debug, ClapArgs)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Print the folder the cache lives in.
    Path,
    /// Remove every cached digest and tag list.
    Clear,
}

pub fn run(settings: &Settings<TextOrJson>, args: &Args) -> CommandResult {
    let path = DiskCache::default_path().ok_or_else(|| {
        Failure::bad_input(anyhow!(
            "no cache folder: neither XDG_CACHE_HOME nor HOME is set to an absolute path"
        ))
    })?;
    match args.action {
        Action::Path => match settings.output {
            TextOrJson::Json => print_json(&serde_json::json!({ "path": path }))?,
            _ => outln!("{}", path.display())?,
        },
        Action::Clear => {
            // Never opened first: a corrupt or foreign cache must still be removable.
            let cleared = cache::clear_folder(&path).map_err(Failure::bad_input)?;
            if cleared.is_empty() {
                errln!("nothing to clear: the cache at {} is empty", path.display());
            } else {
                let plural = if cleared.entries == 1 { "y" } else { "ies" };
                let legacy = if cleared.legacy_file {
                    " and the cache file of an earlier version"
                } else {
                    ""
                };
                errln!(
                    "cleared {} entr{plural}{legacy} from {}",
                    cleared.entries,
                    path.display()
                );
            }
        }
    }
    Ok(Status::Success)
}
