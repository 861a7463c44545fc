//! The CLI's integration tests, in one test binary (as ripgrep's `tests/tests.rs`): one
//! link instead of one per file, and one shared registry for the chart fixtures.
//!
//! Every test runs the real `tagwarden` binary against Debian's `docker-registry`, started
//! and seeded by `tagwarden-testbed`.

mod charts;
mod common;

mod alerts;
mod budget;
mod cache;
mod chart;
mod check;
mod check_table;
mod cli_surface;
mod cluster;
mod cluster_connection;
mod color;
mod config_file;
mod credential_provider;
mod credentials;
mod debug_log;
mod decisions;
mod fleet_install;
mod fleet_metrics;
mod fleet_scan;
mod gaps;
mod gitops;
mod helm_plugin;
mod help;
mod hung_registry;
mod inputs;
mod installed;
mod kube_version;
mod matrix;
mod output_errors;
mod output_schemas;
mod post_render;
mod progress;
mod registry_options;
mod resolve;
mod scan;
mod schema;
mod scripts;
mod serve;
mod streams;
