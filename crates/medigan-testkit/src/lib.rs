//! Test helpers for medigan (dev-only, never published): a local HTTP server with failure
//! injection ([`TestServer`]), in-memory zip archives, good and hostile ([`ZipBuilder`]), and
//! the report of checks skipped for a missing prerequisite ([`skip`]).
//!
//! Tests use only what the repository holds or builds: every download in a test goes to a
//! [`TestServer`] on `127.0.0.1` that the test itself starts.
#![deny(missing_docs)]

mod server;
mod skip;
mod zips;

pub use server::{RecordedRequest, Route, TestServer};
pub use skip::{SKIP_LOG_VAR, python_importing, skip, skip_allowed_in_ci};
pub use zips::{ZipBuilder, zip_bomb, zip_of, zip_with_duplicate};
