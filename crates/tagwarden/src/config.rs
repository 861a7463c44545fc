//! The config file (`--config FILE`) is read by the registry crate, so that every front end
//! builds its client the same way: see [`tagwarden_registry::config`]. This module keeps
//! the names the commands use.

pub use tagwarden_registry::config::Config;
