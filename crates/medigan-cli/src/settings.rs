//! Resolved settings: command-line flags and environment merged in one place.

use medigan::Settings;
use medigan::home::Home;

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
    let mut settings = Settings::from_env();
    if let Some(dir) = &args.cache_dir {
        settings.home = Home::new(dir);
    }
    if !args.catalog.is_empty() {
        settings.catalog.explicit = args.catalog.clone();
    }
    if args.offline {
        settings.catalog.offline = true;
    }
    if args.backend.is_some() {
        settings.backend = args.backend;
    }
    settings
}

/// The output settings from the global flags.
pub fn output(args: &GlobalArgs) -> Output {
    Output {
        json: args.json,
        quiet: args.quiet,
    }
}
