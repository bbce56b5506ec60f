//! Resolved settings: command-line flags and environment merged in one place.

use medigan::{Overrides, Settings};

use crate::cli::GlobalArgs;

/// How the CLI prints.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// JSON on stdout instead of tables.
    pub json: bool,
    /// No progress, no hints.
    pub quiet: bool,
}

/// The library settings: the environment's (read by `medigan::env`, as the Python bindings
/// read it), then each global flag given.
pub fn library_settings(args: &GlobalArgs) -> Settings {
    Settings::from_env().with(Overrides {
        home: args.cache_dir.clone(),
        catalog: (!args.catalog.is_empty()).then(|| args.catalog.clone()),
        offline: args.offline.then_some(true),
        backend: args.backend.map(Some),
        verify: args.verify.then_some(true),
    })
}

/// The output settings from the global flags.
pub fn output(args: &GlobalArgs) -> Output {
    Output {
        json: args.json,
        quiet: args.quiet,
    }
}
