//! One file per subcommand: each calls the library and prints, nothing more.

mod audit;
mod bundle;
mod cache;
mod catalog;
mod contribute;
mod convert;
mod dataset;
mod env;
mod evaluate;
mod evaluation;
mod fid;
mod frd;
mod generate;
mod info;
mod init_model;
mod list;
mod metrics;
mod search;
mod test;
mod visualize;

use std::process::ExitCode;

use medigan::Generators;

use crate::cli::{Cli, Command};
use crate::settings;

/// Runs the parsed command line and returns the exit status.
pub fn run(mut cli: Cli) -> anyhow::Result<ExitCode> {
    let hub_model = match &cli.command {
        Command::Info(args) => hub_link(&args.model),
        Command::Generate(args) => hub_link(&args.model),
        _ => None,
    };
    if let Some(link) = &hub_model {
        cli.global.catalog.push(link.clone());
    }
    let generators = Generators::new(settings::library_settings(&cli.global));
    if let Some(link) = &hub_model {
        let id = hub_model_id(&generators, link)?;
        match &mut cli.command {
            Command::Info(args) => args.model = id,
            Command::Generate(args) => args.model = id,
            _ => {}
        }
    }
    let out = settings::output(&cli.global);
    match cli.command {
        Command::List => list::run(&generators, out),
        Command::Search(args) => search::search(&generators, &args, out),
        Command::Rank(args) => search::rank(&generators, &args, out),
        Command::Lookup(args) => search::lookup(&generators, &args, out),
        Command::Info(args) => info::run(&generators, &args, out),
        Command::Generate(args) => generate::run(&generators, &args, out),
        Command::Dataset(command) => dataset::run(command, out),
        Command::Cache(command) => cache::run(&generators, command, out),
        Command::Catalog(command) => catalog::run(&generators, command, out),
        Command::Fid(args) => fid::run(&generators, &args, out),
        Command::Evaluate(args) => evaluate::run(&generators, &args, out),
        Command::Metrics(args) => metrics::run(&generators, &args, out),
        Command::Frd(args) => frd::run(&generators, &args, out),
        Command::Audit(args) => audit::run(&generators, &args, out),
        Command::Test(args) => test::run(&generators, &args, out),
        Command::Visualize(args) => visualize::run(&generators, &args, out),
        Command::InitModel(args) => init_model::run(&args, out),
        Command::Contribute(args) => contribute::run(&generators, &args, out),
        Command::Env => env::run(&generators, out),
        Command::Convert(args) => convert::run(&generators, &args, out),
        Command::Bundle(command) => bundle::run(&generators, command, out),
    }
}

/// A model given as an `hf://` link (`medigan info hf://OWNER/REPO`): the link, read as one
/// more catalogue source (its package's `medigan.json`).
fn hub_link(model: &str) -> Option<String> {
    model
        .trim()
        .to_ascii_lowercase()
        .starts_with("hf://")
        .then(|| model.trim().to_owned())
}

/// The one model of the package at `link` (which was added as the last catalogue source).
fn hub_model_id(generators: &Generators, link: &str) -> anyhow::Result<String> {
    let catalog = generators.catalog()?;
    let source = catalog.sources().len().saturating_sub(1);
    let ids: Vec<&str> = catalog
        .entries()
        .iter()
        .filter(|e| e.source == source)
        .map(|e| e.id.as_str())
        .collect();
    match ids[..] {
        [id] => Ok(id.to_owned()),
        _ => anyhow::bail!(
            "the package at `{link}` describes {} models ({}); name one with \
             `--catalog {link} MODEL`",
            ids.len(),
            ids.join(", ")
        ),
    }
}

/// Shorthand for the success exit status.
fn success() -> anyhow::Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}

/// Records `--install-dependencies`: consent to make a legacy model's environment and run its
/// code. Without the flag, settings stay as they are (consent is never given by default).
fn consent_to_legacy(generators: &medigan::Generators, given: bool) {
    if given {
        let mut legacy = generators.legacy_settings();
        legacy.install_dependencies = true;
        generators.set_legacy_settings(legacy);
    }
}
