//! Test helpers for medigan (dev-only, never published): a local HTTP server with failure
//! injection ([`TestServer`]) and in-memory zip archives, good and hostile ([`ZipBuilder`]).
//!
//! Tests use only what the repository holds or builds: every download in a test goes to a
//! [`TestServer`] on `127.0.0.1` that the test itself starts.
#![deny(missing_docs)]

mod server;
mod zips;

pub use server::{RecordedRequest, Route, TestServer};
pub use zips::{ZipBuilder, zip_bomb, zip_of, zip_with_duplicate};
