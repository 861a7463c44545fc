//! Finding and rewriting image fields in Kubernetes YAML streams.
//!
//! Not built yet: the `check` and `post-render` commands arrive with their own issue.
//! The crate exists now so the workspace already shows the architecture:
//! `tagwarden` (CLI) → `tagwarden-cluster` → `tagwarden-registry`, `tagwarden-manifest` → `tagwarden-core`.
