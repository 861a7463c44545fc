//! Platforms (`linux/arm64/v8`) and how they are compared: the grammar lives in
//! [`tagwarden_core::platform`], re-exported here so that the registry's API keeps its names.

pub use tagwarden_core::platform::{Platform, PlatformError};
