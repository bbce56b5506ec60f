//! Resolved settings: command-line flags and environment merged in one place.

use medigan::Settings;
use medigan::catalog::CatalogSettings;
use medigan::home::Home;

use crate::cli::{GlobalArgs, OrderArgs};

/// How the CLI prints.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// JSON on stdout instead of tables.
    pub json: bool,
    /// No progress, no hints.
    pub quiet: bool,
}

/// Builds the library settings from the global flags (clap already merged the environment).
pub fn library_settings(args: &GlobalArgs) -> anyhow::Result<Settings> {
    let mut catalog = CatalogSettings::from_env();
    catalog.explicit = args.catalog.clone();
    catalog.offline = args.offline;
    Ok(Settings {
        home: Home::resolve(args.cache_dir.as_deref()),
        catalog,
        offline: args.offline,
        backend: args
            .backend
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(medigan::Error::from)?,
    })
}

/// The output settings from the global flags.
pub fn output(args: &GlobalArgs) -> Output {
    Output {
        json: args.json,
        quiet: args.quiet,
    }
}

/// The order the flags ask for, as the library spells it.
pub fn order_name(order: OrderArgs) -> &'static str {
    if order.desc { "desc" } else { "asc" }
}
