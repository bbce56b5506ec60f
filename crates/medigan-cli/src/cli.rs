//! The command-line grammar (clap derive): every subcommand, flag and its help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// medigan: search, rank and run pretrained generative models for medical images.
///
/// Models come from catalogues: the one bundled in this binary (the models this project ships),
/// the upstream medigan catalogue once fetched with `medigan catalog update`, or files and URLs
/// given with `--catalog`. Model ids can be written in full (`00001_DCGAN_MMG_CALC_ROI`), as a
/// number (`1`, `00001`) or as a unique prefix.
#[derive(Debug, Parser)]
#[command(name = "medigan", version, about, long_about, propagate_version = true)]
#[command(
    after_help = "Examples:\n  medigan list\n  medigan search mammography --rank FID --asc\n  \
    medigan info 1\n  medigan catalog update"
)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Read the catalogue from this file or URL instead of the default sources (repeat to
    /// merge several; later ones win by model id).
    #[arg(
        long,
        global = true,
        value_name = "PATH|URL",
        env = "MEDIGAN_CATALOG",
        value_delimiter = ','
    )]
    pub catalog: Vec<String>,
    /// Never touch the network; fail with a clear message when something is not cached.
    #[arg(long, global = true, env = "MEDIGAN_OFFLINE", value_parser = clap::builder::FalseyValueParser::new())]
    pub offline: bool,
    /// Where medigan keeps catalogues and packages (default: the platform cache dir).
    #[arg(long, global = true, value_name = "DIR", env = "MEDIGAN_HOME")]
    pub cache_dir: Option<PathBuf>,
    /// ONNX backend: `ort` (onnxruntime, fast; loaded at run time) or `tract` (pure Rust).
    /// Default: ort when its library is found, else tract.
    #[arg(long, global = true, value_name = "ort|tract", env = "MEDIGAN_BACKEND")]
    pub backend: Option<String>,
    /// Print machine-readable JSON on stdout instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but the results and errors (no progress bars, no hints).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more about what happens (repeat for more detail).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every model of the catalogue.
    List,
    /// Find models whose metadata has the given values, optionally ranked by a metric.
    ///
    /// Values are compared with whole metadata values (lists element by element), never as
    /// substrings: `mammography` matches, `mammo` does not.
    Search(SearchArgs),
    /// Rank models by a performance metric (models lacking it are left out).
    Rank(RankArgs),
    /// Find models whose selection field KEY (a dotted path) has VALUE.
    Lookup(LookupArgs),
    /// Show a model's metadata.
    Info(InfoArgs),
    /// Generate synthetic samples with a model into a folder, with a provenance manifest.
    ///
    /// Sample i is drawn from a seed derived from (--seed, i): the output is the same for any
    /// --batch, --threads or --shard. Run `--shard k/n` for k = 1..n on n machines (a Slurm
    /// array, a Kubernetes indexed Job) and the union of the folders is the whole run.
    #[command(after_help = "Examples:\n  medigan generate 00900 -n 16 -o out/\n  \
        medigan generate 00900 -n 10000 -o out/ --seed 7 --shard 2/4\n  \
        medigan generate MODEL -n 8 -o out/ --label malignant --format npy")]
    Generate(GenerateArgs),
    /// Manage the package cache: ls, verify, rm, path.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Manage the catalogues: update, validate, sources, path.
    #[command(subcommand)]
    Catalog(CatalogCommand),
}

/// Arguments of `medigan generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The model: full id, number or unique prefix.
    pub model: String,
    /// Number of samples in the whole run (all shards together).
    #[arg(
        short = 'n',
        long = "num-samples",
        default_value_t = 30,
        value_name = "N"
    )]
    pub num_samples: u64,
    /// Output folder (created if missing).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Run seed; the same seed gives the same samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Samples per inference call.
    #[arg(long = "batch", default_value_t = 16, value_name = "B")]
    pub batch: usize,
    /// File format: png (8-bit) or npy (float32, values unchanged).
    #[arg(long, default_value = "png", value_name = "png|npy")]
    pub format: String,
    /// Class to generate, by name, for conditional models (default: drawn per sample).
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
    /// Input images (files or folders) for image-to-image models.
    #[arg(long = "input", value_name = "PATH", num_args = 1..)]
    pub inputs: Vec<PathBuf>,
    /// A model specific option `key=value` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Generate only part K of N of the run, e.g. 2/4.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// CPU threads to use (default: all cores).
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
}

/// `medigan cache ...`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List the cached packages.
    Ls,
    /// Re-hash a cached package's files against its record.
    Verify(CacheKeyArgs),
    /// Remove a cached package.
    Rm(CacheKeyArgs),
    /// Print where packages are cached.
    Path,
}

/// A cached package: its sha256 (or a prefix of at least 6 digits) or model id.
#[derive(Debug, Args)]
pub struct CacheKeyArgs {
    /// sha256, a unique prefix of it, or the model id the package was fetched for.
    pub key: String,
}

/// Ascending or descending order flags.
#[derive(Debug, Args, Clone, Copy)]
#[group(multiple = false)]
pub struct OrderArgs {
    /// Lowest value first (the default; best for FID).
    #[arg(long)]
    pub asc: bool,
    /// Highest value first.
    #[arg(long)]
    pub desc: bool,
}

/// Arguments of `medigan search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Values to look for, e.g. `mammography` `DCGAN`.
    #[arg(required = true, value_name = "VALUE")]
    pub values: Vec<String>,
    /// How values combine: `and` (all must match), `or` (any), `xor` (exactly one).
    #[arg(long, default_value = "and", value_name = "and|or|xor")]
    pub op: String,
    /// Also match metadata keys (field names), not only values.
    #[arg(long)]
    pub keys: bool,
    /// Compare case-sensitively (the default ignores case).
    #[arg(long)]
    pub case_sensitive: bool,
    /// Rank the found models by this metric, e.g. `FID` or `CLF.trained_on_real_and_fake.f1`.
    #[arg(long, value_name = "METRIC")]
    pub rank: Option<String>,
    /// Order of the ranking.
    #[command(flatten)]
    pub order: OrderArgs,
}

/// Arguments of `medigan rank`.
#[derive(Debug, Args)]
pub struct RankArgs {
    /// Metric path below `selection.performance`, e.g. `FID`, `FID_ratio`, `turing_test.AUC`.
    pub metric: String,
    /// Order of the ranking.
    #[command(flatten)]
    pub order: OrderArgs,
    /// Rank only these models (full ids, numbers or prefixes).
    #[arg(long, num_args = 1.., value_name = "ID")]
    pub models: Option<Vec<String>>,
}

/// Arguments of `medigan lookup`.
#[derive(Debug, Args)]
pub struct LookupArgs {
    /// Dotted path into a model's selection metadata, e.g. `modality` or `performance.FID`.
    pub key: String,
    /// The value to find (an element, for list fields).
    pub value: String,
    /// Compare case-sensitively.
    #[arg(long)]
    pub case_sensitive: bool,
}

/// Arguments of `medigan info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The model: full id, number or unique prefix.
    pub model: String,
}

/// `medigan catalog ...`.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Download the upstream catalogue and cache it (replacing the cached copy only if valid).
    Update(UpdateArgs),
    /// Check catalogue files (default: the configured sources) and list every problem.
    Validate(ValidateArgs),
    /// Show the catalogue sources, their precedence and how many models each gives.
    Sources,
    /// Print the path of the cached upstream catalogue.
    Path,
}

/// Arguments of `medigan catalog update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Download from this URL instead of the upstream one (also `MEDIGAN_CATALOG_URL`).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

/// Arguments of `medigan catalog validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Catalogue files to check (default: the configured sources).
    pub files: Vec<PathBuf>,
    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,
}
