//! `tagwarden gaps`: being built (issue 5).

use clap::Args as ClapArgs;

use crate::cli::GlobalOptions;
use crate::exit::{CommandResult, Failure};

pub const EXAMPLES: &str = "";

#[derive(Debug, ClapArgs)]
pub struct Args {}

pub async fn run(_global: &GlobalOptions, _args: &Args) -> CommandResult {
    Err(Failure::bad_input(anyhow::anyhow!(
        "`gaps` is not available yet"
    )))
}
