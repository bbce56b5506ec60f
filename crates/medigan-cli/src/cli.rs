//! The command-line grammar (clap derive): every subcommand, flag and its help text.

use std::ffi::OsStr;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::str::FromStr;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, Parser, Subcommand};
use medigan::evaluate::{EvaluateError, ExtractorKind, request};
use medigan::generate::ShardChoice;
use medigan::output::Format;
use medigan::runtime::BackendKind;
use medigan::search::{Operator, Order};

/// medigan: search, rank, run, explore, evaluate and contribute pretrained generative models for
/// medical images.
///
/// Models come from catalogues: the one bundled in this binary (the models this project ships),
/// the upstream medigan catalogue (a dated snapshot built into this binary until
/// `medigan catalog update` fetches the current one), or files and URLs given with `--catalog`
/// (a local file works offline). Model ids can be written in full (`00001_DCGAN_MMG_CALC_ROI`), as a
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
    /// merge several; later ones win by model id). Also MEDIGAN_CATALOG.
    #[arg(long, global = true, value_name = "PATH|URL", value_delimiter = ',')]
    pub catalog: Vec<String>,
    /// Never touch the network; fail with a clear message when something is not cached. Also
    /// MEDIGAN_OFFLINE.
    #[arg(long, global = true)]
    pub offline: bool,
    /// Where medigan keeps catalogues and packages (default: MEDIGAN_HOME, else the platform
    /// cache dir).
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// ONNX backend: `ort` (onnxruntime, fast; loaded at run time) or `tract` (pure Rust).
    /// Default: MEDIGAN_BACKEND, else ort when its library is found, else tract.
    #[arg(long, global = true, value_name = "BACKEND", value_parser = choice::<BackendKind>(BACKENDS))]
    pub backend: Option<BackendKind>,
    /// Hash every file of a cached package before it is used (default: only files whose size
    /// or modification time changed since they were installed). Also MEDIGAN_VERIFY.
    #[arg(long, global = true)]
    pub verify: bool,
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
        medigan generate MODEL -n 8 -o out/ --label malignant --format npy\n  \
        medigan generate MODEL -n 8 -o out/ --format dicom\n  \
        medigan generate 00900 -n 10000 -o out/ --shard auto     # in a Slurm array task (resumes a requeued task)\n  \
        medigan generate 00900 -n 10000 -o out/ --pack tar --samples-per-shard 1000  # WebDataset tars\n  \
        medigan generate 00900 -n 10000 -o out/ --resume     # after Ctrl-C, a kill or a crash")]
    Generate(GenerateArgs),
    /// Check and merge a dataset made of runs or shards: verify, merge.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Manage the package cache: ls, verify, rm, path.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Manage the catalogues: update, validate, sources, path.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// FID between a folder of real and a folder of synthetic images, with the real-real lower
    /// bound FID_rr (two random halves of REAL) and the FID ratio rFID = 1 - (FID - FID_rr) / FID.
    ///
    /// Images: .png, .jpg, .npy, .dcm, and every slice of .nii/.nii.gz volumes, searched
    /// recursively. The default extractor is the FID Inception-v3 (pytorch-fid's weights,
    /// downloaded once and checked by sha256).
    #[command(after_help = "Examples:\n  medigan fid real/ synthetic/\n  \
        medigan fid real/ synthetic/ --normalize --cache-features ~/.cache/fid\n  \
        medigan fid real/ synthetic/ --extractor onnx:radimagenet.onnx --input-size 224 \
        --range 0,1 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --metric-key FID_RADIMAGENET")]
    Fid(FidArgs),
    /// Generate samples with a model and report FID, FID_rr and rFID against a real folder, as
    /// a table, as JSON, and as the lines of the model's catalogue entry.
    #[command(after_help = "Examples:\n  medigan evaluate 00900 --real real/\n  \
        medigan evaluate 00900 --real real/ -n 1000 --plot fid.svg\n  \
        medigan evaluate 00900 --real real/ --extractor onnx:net.onnx --input-size 64\n  \
        medigan evaluate MODEL --real real/ --per-class   # real/CLASS/ per class label")]
    Evaluate(EvaluateArgs),
    /// Every metric between a folder of real and a folder of synthetic images, from one
    /// embedding pass: FID (with FID_rr and rFID), KID (mean and std over subsets) and
    /// precision, recall, density and coverage (k nearest neighbours). `medigan fid` with
    /// `--metrics fid,kid,prdc` as the default.
    #[command(after_help = "Examples:\n  medigan metrics real/ synthetic/\n  \
        medigan metrics real/ synthetic/ --repeats 5 --json\n  \
        medigan metrics real/ synthetic/ --metrics kid,prdc --nearest-k 3 --extractor onnx:net.onnx\n  \
        medigan metrics real/ shard1/ --metrics fid --save-stats shard1.stats  # one per shard\n  \
        medigan metrics --merge-stats shard1.stats shard2.stats  # the FID of the union")]
    Metrics(FidArgs),
    /// The Frechet Radiomics Distance (FRD, frd-score 1.0.1): pyradiomics features (first
    /// order, GLCM, GLRLM, GLSZM, NGTDM on the original and wavelet images, and LoG for volumes),
    /// computed natively on every core, z-scored on REAL and compared as Gaussians; v1 reports
    /// ln(d^2), v0 (--frd-version 0) d^2 of min-max scaled features.
    ///
    /// Images: .png, .jpg, .jpeg (2D) or .nii, .nii.gz (volumes) directly in each folder,
    /// paired with masks by sorted file name when --masks is given (default: the whole image).
    #[command(after_help = "Examples:\n  medigan frd real/ synthetic/\n  \
        medigan frd real/ synthetic/ --frd-version 0\n  \
        medigan frd real/ synthetic/ --masks real_masks/ synthetic_masks/ --json\n  \
        medigan frd real/ shard1/ --save-stats shard1.frd  # one per shard\n  \
        medigan frd --merge-stats shard1.frd shard2.frd     # the FRD of the union")]
    Frd(FrdArgs),
    /// Memorisation audit: for every synthetic image (a model's samples or a folder) its
    /// nearest training image in feature space and in pixel space, against the distances of
    /// new real images (--holdout) to the training set; likely copies are flagged, and the
    /// closest pairs can be written as an HTML gallery.
    #[command(
        after_help = "Examples:\n  medigan audit 00900 --train train/ --holdout holdout/\n  \
        medigan audit synthetic/ --train train/ --holdout holdout/ --gallery audit/ --json\n  \
        medigan audit synthetic/ --train train/ --extractor onnx:net.onnx --input-size 64"
    )]
    Audit(AuditArgs),
    /// Test models end to end: fetch, load, generate two samples, and check the declared
    /// shapes, the value range, that the same seed gives the same samples, and that samples
    /// depend on their latent input. Exits 1 when any model fails.
    #[command(
        after_help = "Examples:\n  medigan test 00900\n  medigan test --all --offline\n  \
        medigan test --all --json"
    )]
    Test(TestArgs),
    /// Explore a model in a local web page: sliders over groups of latent dimensions, Seed and
    /// Reset, a class selector, the image beside its mask, and Save (image + latent).
    ///
    /// Serves on 127.0.0.1 only; on a remote server, tunnel the port
    /// (`ssh -L 8765:127.0.0.1:8765 server`, then `medigan visualize MODEL --port 8765 --no-browser`).
    /// With every slider at zero the image is sample 0 of `medigan generate MODEL --seed SEED`.
    #[command(after_help = "Examples:\n  medigan visualize 00900\n  \
        medigan visualize 00900 --slider-grouper 4 --port 8765 --no-browser")]
    Visualize(VisualizeArgs),
    /// Write a new model package skeleton to fill in: medigan.json with every catalogue field,
    /// METADATA.md explaining them, a model card README.md with the PyTorch -> ONNX export, and
    /// a LICENSE placeholder. Refuses a folder that is not empty.
    #[command(after_help = "Examples:\n  medigan init-model my-model\n  \
        medigan --catalog my-model/medigan.json test 00000_NEW_MODEL")]
    InitModel(InitModelArgs),
    /// Contribute a model package: check the id and the package, ask for missing metadata, run
    /// the model test, pack a reproducible zip, upload it to Zenodo and open a GitHub issue
    /// proposing its catalogue entry. Nothing is sent with --dry-run.
    #[command(
        after_help = "Examples:\n  medigan contribute my-model --id 00100_DCGAN_MMG_MASS_128 --dry-run\n  \
        ZENODO_TOKEN=... medigan contribute my-model --id 00100_DCGAN_MMG_MASS_128 --sandbox\n  \
        ZENODO_TOKEN=... GITHUB_TOKEN=... medigan contribute my-model --id 00100_DCGAN_MMG_MASS_128 --publish"
    )]
    Contribute(ContributeArgs),
    /// Show the MEDIGAN_* environment variables: what each sets, its value here, and the
    /// setting in effect (with the flags given).
    Env,
    /// Convert a legacy (Python) zoo package, a diffusers pipeline folder (DDPM, DDIM, LDM
    /// with an AutoencoderKL or a VQModel; class-conditional UNets) or a MONAI bundle folder (2D latent
    /// diffusion: DiffusionModelUNet + AutoencoderKL + LatentDiffusionInferer, MONAI's
    /// DDPM/DDIM/PNDM) into a native package: ONNX graphs + medigan.json, no code. Runs the
    /// model once in its environment (consent: --install-dependencies), exports what generates,
    /// and writes nothing unless the native samples equal the source's own (legacy images for
    /// --samples seeds; the pipeline's or MONAI inferer's own loop from the same initial noise). `--all --dry-run` says, from metadata only, what it
    /// would do with every legacy entry of the catalogue; `PATH --dry-run` with a folder.
    #[command(
        after_help = "Examples:\n  medigan convert 00005 --install-dependencies -o dcgan-onnx\n  \
        medigan convert ./my-ddim-pipeline --install-dependencies -o ddim-onnx\n  \
        medigan convert ./my_monai_bundle --install-dependencies -o ldm-onnx\n  \
        medigan convert --all --dry-run\n  \
        medigan --catalog dcgan-onnx/medigan.json test 00005"
    )]
    Convert(ConvertArgs),
    /// Offline bundles for sites without internet: export packages, catalogue entries and a
    /// wheelhouse into one tar; import it there (checked member by member first).
    #[command(subcommand)]
    Bundle(BundleCommand),
}

/// `medigan bundle ...`.
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Write the models' packages, their pinned catalogue entries and, for legacy packages, a
    /// wheelhouse of their Python dependencies (`pip download`) into one tar.
    #[command(after_help = "Examples:\n  \
        medigan bundle export 00001 00002 -o site.tar --platform manylinux2014_x86_64 \
        --python-version 3.11\n  \
        medigan bundle export 00001 -o site.tar --skip-dependency torch   # the site has torch")]
    Export(BundleExportArgs),
    /// Check a bundle against its manifest, then install its packages into the cache, its
    /// wheels into the home's wheelhouse and its entries into the user catalogue.
    Import(BundleImportArgs),
}

/// `medigan bundle export`.
#[derive(Debug, Args)]
pub struct BundleExportArgs {
    /// The model ids to bundle.
    #[arg(required = true)]
    pub ids: Vec<String>,
    /// The bundle file to write (atomically).
    #[arg(short, long)]
    pub output: PathBuf,
    /// pip platform tag of the wheels (e.g. manylinux2014_x86_64); default: this machine's.
    #[arg(long)]
    pub platform: Option<String>,
    /// Python version of the wheels (e.g. 3.11); default: the legacy Python's.
    #[arg(long)]
    pub python_version: Option<String>,
    /// A requirement to leave out of the wheelhouse, because the site's Python has it (repeat).
    #[arg(long = "skip-dependency", value_name = "NAME")]
    pub skip_dependencies: Vec<String>,
}

/// `medigan bundle import`.
#[derive(Debug, Args)]
pub struct BundleImportArgs {
    /// The bundle file.
    pub bundle: PathBuf,
}

/// Arguments of `medigan convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The legacy model (full id, number or unique prefix), a diffusers pipeline folder
    /// (`model_index.json`, `unet/`, `scheduler/`, optional `vqvae/`) or a MONAI bundle folder
    /// (`configs/inference.json`, `configs/metadata.json`, `models/*.pt`).
    pub model: Option<String>,
    /// Every legacy entry of the catalogue (with --dry-run).
    #[arg(long)]
    pub all: bool,
    /// Only say what convert would do, from the metadata (no download, no code run).
    #[arg(long)]
    pub dry_run: bool,
    /// The folder of the native package (default `<model id>-onnx`); must not exist or be empty.
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Seeds compared between the legacy and the native package.
    #[arg(long, default_value_t = medigan::convert::DEFAULT_SAMPLES, value_name = "K")]
    pub samples: u64,
    /// Tolerance on graph values: a pixel one level off counts as float rounding when the
    /// graph's value is this close to a rounding boundary.
    #[arg(long, default_value_t = medigan::convert::DEFAULT_TOLERANCE, value_name = "T")]
    pub tolerance: f64,
    /// Write the package even when the images differ; its card records the measured error.
    #[arg(long)]
    pub accept_differences: bool,
    /// Consent to create the legacy model's environment, install its dependencies and run its
    /// code (converting runs it once); for a pipeline folder, the converter's environment
    /// (torch, diffusers, onnx); for a MONAI bundle, its own (torch, monai, einops, onnx).
    #[arg(long)]
    pub install_dependencies: bool,
    /// The model id of a package converted from a folder (default `00000_<FOLDER NAME>`).
    #[arg(long, value_name = "NNNNN_NAME")]
    pub id: Option<String>,
    /// Inference steps of the comparison of a diffusion model with its source (default: 50,
    /// at most the model's default steps).
    #[arg(long, value_name = "K")]
    pub steps: Option<usize>,
    /// A text-conditioned pipeline (StableDiffusionPipeline): the prompts its package will
    /// offer, one per line. Their text embeddings are computed now by the pipeline's own
    /// tokenizer and text encoder and shipped in the package (no text encoder runs when
    /// generating; `generate --prompt TEXT` picks one, exactly).
    #[arg(long, value_name = "FILE")]
    pub prompts: Option<PathBuf>,
}

/// Arguments of `medigan init-model`.
#[derive(Debug, Args)]
pub struct InitModelArgs {
    /// The folder to create (or an empty one).
    pub dir: PathBuf,
}

/// Arguments of `medigan contribute`.
#[derive(Debug, Args)]
pub struct ContributeArgs {
    /// The package folder (medigan.json, the ONNX graph, README.md, LICENSE).
    pub dir: PathBuf,
    /// The new model id: five digits, `_`, an UPPER_SNAKE name, not used by any catalogue.
    #[arg(long, value_name = "NNNNN_NAME")]
    pub id: String,
    /// Zenodo token with the deposit:write and deposit:actions scopes.
    #[arg(
        long,
        env = "ZENODO_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub zenodo_token: Option<String>,
    /// GitHub token allowed to open issues on the catalogue repository.
    #[arg(
        long,
        env = "GITHUB_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub github_token: Option<String>,
    /// Use sandbox.zenodo.org (a rehearsal: opens no GitHub issue unless --catalog-repo is given).
    #[arg(long)]
    pub sandbox: bool,
    /// Check, test and pack, print what would be sent, and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Publish the Zenodo deposition (without it, it stays a draft you can review and publish).
    #[arg(long)]
    pub publish: bool,
    /// The repository to open the issue on, `owner/name` (default: RichardObi/medigan).
    #[arg(long, value_name = "OWNER/REPO")]
    pub catalog_repo: Option<String>,
    /// Where to write the packed zip (default: `ID.zip` in the current folder).
    #[arg(long, value_name = "PATH")]
    pub zip: Option<PathBuf>,
    /// Publish to this Hugging Face Hub model repository (`hf://OWNER/REPO[@BRANCH]`, the
    /// repository must exist) instead of Zenodo: one commit of the package's files, card
    /// included; the proposed entry links `hf://OWNER/REPO@COMMIT`. Zenodo stays for a DOI.
    #[arg(long, value_name = "hf://OWNER/REPO")]
    pub to: Option<String>,
    /// Hugging Face token with write access to the repository of `--to`.
    #[arg(long, env = "HF_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub hf_token: Option<String>,
    /// Zenodo base URL (tests; also MEDIGAN_ZENODO_URL).
    #[arg(long, hide = true)]
    pub zenodo_url: Option<String>,
    /// GitHub API base URL (tests; also MEDIGAN_GITHUB_API_URL).
    #[arg(long, hide = true)]
    pub github_api_url: Option<String>,
}

/// Arguments of `medigan visualize`.
#[derive(Debug, Args)]
pub struct VisualizeArgs {
    /// The model: full id, number or unique prefix.
    pub model: String,
    /// Latent dimensions moved together by one slider.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub slider_grouper: usize,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0, value_name = "P")]
    pub port: u16,
    /// Print the address only; do not open a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Where the Save button writes images and their latents.
    #[arg(long, default_value = "medigan-visualize", value_name = "DIR")]
    pub save_dir: std::path::PathBuf,
    /// Consent, for a model in the original Python format, to create its environment, install
    /// its dependencies with pip and run its code.
    #[arg(long)]
    pub install_dependencies: bool,
}

/// Arguments of `medigan test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Models to test: full ids, numbers or unique prefixes.
    pub models: Vec<String>,
    /// Test every model of the catalogue.
    #[arg(long)]
    pub all: bool,
    /// Also test models in the original Python format: consent to create their environments,
    /// install their dependencies and run their code (without it they are skipped).
    #[arg(long)]
    pub install_dependencies: bool,
}

/// Arguments of `medigan fid`.
#[derive(Debug, Args)]
pub struct FidArgs {
    /// Folder of real images.
    #[arg(required_unless_present = "merge_stats")]
    pub real: Option<PathBuf>,
    /// Folder of synthetic images.
    #[arg(required_unless_present = "merge_stats")]
    pub synthetic: Option<PathBuf>,
    /// Feature extraction.
    #[command(flatten)]
    pub extraction: ExtractionArgs,
    /// Mergeable statistics.
    #[command(flatten)]
    pub stats: StatsArgs,
    /// 3D volumes.
    #[command(flatten)]
    pub volumes: VolumeArgs,
}

/// How the volumes of a 3D evaluation are read (`--volumes planes`: the 2.5D FID).
#[derive(Debug, Args)]
pub struct VolumeArgs {
    /// `slices`: every slice of a NIfTI volume along its third axis is an image (default);
    /// `planes`: the 2.5D FID of volumes (.nii, .nii.gz, .npy of D x H x W): slices along the axial,
    /// coronal and sagittal axes, the FID per plane and their mean (NV-Generate's evaluation).
    #[arg(long, value_enum, default_value = "slices")]
    pub volumes: VolumeMode,
    /// With --volumes planes: only the central fraction (0, 1] of each axis's slices
    /// (NV-Generate's enable_center_slices_ratio, e.g. 0.4).
    #[arg(long, value_name = "RATIO")]
    pub center_slices: Option<f64>,
    /// With --volumes planes: every K-th of those slices.
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub every_slice: usize,
    /// With --volumes planes: drop slices whose largest value is below VALUE (e.g. -700 for CT
    /// in Hounsfield units).
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub empty_below: Option<f32>,
    /// With --volumes planes: clip the volumes' values to MIN,MAX first (e.g. -1000,1000 for CT).
    #[arg(long, value_name = "MIN,MAX", allow_hyphen_values = true, value_parser = parse_range)]
    pub clip: Option<[f32; 2]>,
}

/// How volumes are evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VolumeMode {
    /// Every slice along the third axis is an image.
    Slices,
    /// The 2.5D FID: three planes, per-plane FID and their mean.
    Planes,
}

/// The statistics flags of `medigan fid` and `medigan metrics`: sharded evaluations merged
/// into the exact FID of the union.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Also write the exact feature statistics (count, sums, co-moments) of both sets to FILE,
    /// for --merge-stats (about 64 MiB for Inception's 2048 features).
    #[arg(long, value_name = "FILE", conflicts_with = "merge_stats")]
    pub save_stats: Option<PathBuf>,
    /// Read no images: the FID of the union of the synthetic sets of these --save-stats files
    /// (shards), bit-identical to one pass over all the images. FID only: KID, PRDC and CMMD need
    /// the features themselves.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["real", "synthetic"])]
    pub merge_stats: Vec<PathBuf>,
    /// With --merge-stats: the real set is the union of the real sets of these files (a real
    /// set evaluated in shards); default: the real set the --merge-stats files share.
    #[arg(long, value_name = "FILE", num_args = 1.., requires = "merge_stats")]
    pub real_stats: Vec<PathBuf>,
}

/// Arguments of `medigan frd`.
#[derive(Debug, Args)]
pub struct FrdArgs {
    /// Folder of real images (the reference the features are z-scored on).
    #[arg(required_unless_present = "merge_stats")]
    pub real: Option<PathBuf>,
    /// Folder of synthetic images.
    #[arg(required_unless_present = "merge_stats")]
    pub synthetic: Option<PathBuf>,
    /// Also write both sets' radiomics features to FILE (about 3 KiB per 2D image), for
    /// --merge-stats.
    #[arg(long, value_name = "FILE", conflicts_with = "merge_stats")]
    pub save_stats: Option<PathBuf>,
    /// Read no images: the FRD of the union of the synthetic sets of these --save-stats files
    /// (shards against one real set), bit-identical to one pass over all the images.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["real", "synthetic", "masks"])]
    pub merge_stats: Vec<PathBuf>,
    /// Mask folders of the two sets (files paired with the images by sorted name; label 1, or
    /// 255 in 8-bit masks).
    #[arg(long, num_args = 2, value_names = ["REAL_MASKS", "SYNTHETIC_MASKS"])]
    pub masks: Vec<PathBuf>,
    /// Version and convention.
    #[command(flatten)]
    pub frd: FrdFlags,
}

/// The FRD's version and log convention (`medigan frd`, and `--metrics frd`).
#[derive(Debug, Args)]
pub struct FrdFlags {
    /// FRD: 1 (FRDv1, the default: ~400 features, z-score on the real set, ln(d^2)) or 0
    /// (FRDv0: original image, min-max scaling, d^2).
    #[arg(long, value_name = "VERSION", default_value = "1")]
    pub frd_version: String,
    /// FRD v1: report ln(d) as the paper's Eq. 3 writes it (half of frd-score's default
    /// ln(d^2)).
    #[arg(long)]
    pub paper_log: bool,
}

impl FrdFlags {
    /// The typed settings.
    pub fn settings(&self) -> anyhow::Result<medigan::evaluate::FrdSettings> {
        Ok(medigan::evaluate::FrdSettings {
            version: self.frd_version.parse()?,
            paper_log: self.paper_log,
        })
    }
}

/// Arguments of `medigan evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The models (full ids, numbers or unique prefixes); all are compared with the same real set.
    #[arg(required = true, value_name = "MODEL")]
    pub models: Vec<String>,
    /// Folder of real images (the model's training data or a held-out part of it).
    #[arg(long, value_name = "DIR")]
    pub real: PathBuf,
    /// Synthetic samples per model (default: as many as there are real images).
    #[arg(short = 'n', long = "num-samples", value_name = "N")]
    pub num_samples: Option<u64>,
    /// Seed of the generation run.
    #[arg(long, default_value_t = 0, value_parser = parse_seed, allow_negative_numbers = true)]
    pub seed: u64,
    /// Draw FID_rs against FID_rr as SVG (the paper's Fig. 8): the catalogue's models with both
    /// numbers, and the models just evaluated, with the regression line.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Consent, for a model in the original Python format, to create its environment, install
    /// its dependencies with pip and run its code.
    #[arg(long)]
    pub install_dependencies: bool,
    /// A conditional model, class by class: REAL holds one subfolder per class label
    /// (real/benign/, real/malignant/); each is scored against the model's samples of that
    /// class (-n per class, default: as many as its real images), then all classes together.
    #[arg(long)]
    pub per_class: bool,
    /// Feature extraction.
    #[command(flatten)]
    pub extraction: ExtractionArgs,
    /// 3D volumes (a 3D model's samples against REAL's volumes with --volumes planes).
    #[command(flatten)]
    pub volumes: VolumeArgs,
}

/// Arguments of `medigan audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// A model (its samples are generated) or a folder of synthetic images.
    #[arg(value_name = "MODEL|SYNTH_DIR")]
    pub subject: String,
    /// Folder of the model's training images.
    #[arg(long, value_name = "DIR")]
    pub train: PathBuf,
    /// Folder of real images from the same source that the model never saw: calibrates the
    /// threshold (without it, each training image against the others).
    #[arg(long, value_name = "DIR")]
    pub holdout: Option<PathBuf>,
    /// Samples to generate for a model (default: as many as the training images).
    #[arg(short = 'n', long = "num-samples", value_name = "N")]
    pub num_samples: Option<u64>,
    /// Seed of the generation run (for a model).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Flag images closer to a training image than MARGIN times the closest holdout image.
    #[arg(long, default_value_t = 0.5, value_name = "MARGIN")]
    pub margin: f64,
    /// Side of the common size of the pixel comparison.
    #[arg(long, default_value_t = 32, value_name = "PX")]
    pub pixel_size: usize,
    /// Largest shift (pixels of the common size, each direction) tried when comparing pixels.
    #[arg(long, default_value_t = 2, value_name = "PX")]
    pub max_shift: usize,
    /// Pixel similarity: `ncc` (normalised correlation, blind to brightness and contrast) or
    /// `ssim` (structural similarity of the most correlated training images).
    #[arg(long, default_value = "ncc", value_name = "ncc|ssim")]
    pub pixel_metric: String,
    /// Write the closest pairs as an HTML page with PNGs into this new (or empty) folder.
    #[arg(long, value_name = "DIR")]
    pub gallery: Option<PathBuf>,
    /// Pairs in the gallery (flagged first, then the most similar).
    #[arg(long, default_value_t = 24, value_name = "N")]
    pub pairs: usize,
    /// Feature extraction.
    #[command(flatten)]
    pub extraction: ExtractionArgs,
}

/// Feature extraction options of `medigan fid` and `medigan evaluate`.
#[derive(Debug, Args)]
pub struct ExtractionArgs {
    /// `inception` (FID Inception-v3) or `onnx:PATH` (a network taking [batch, 3, H, W] and
    /// giving [batch, D] or [batch, D, 1, 1], e.g. a RadImageNet model).
    #[arg(
        long,
        default_value = "inception",
        value_name = "inception|onnx:PATH",
        value_parser = parse_extractor
    )]
    pub extractor: ExtractorKind,
    /// A local copy of pt_inception-2015-12-05-6726825d.pth, instead of the download (also
    /// MEDIGAN_FID_WEIGHTS).
    #[arg(long, value_name = "FILE")]
    pub inception_weights: Option<PathBuf>,
    /// Input size of an ONNX extractor, `N` or `HxW` (needed when the graph leaves it open).
    #[arg(long, value_name = "N|HxW", value_parser = parse_input_size)]
    pub input_size: Option<[usize; 2]>,
    /// Range images in [0, 1] are mapped to for an ONNX extractor.
    #[arg(
        long,
        default_value = "-1,1",
        value_name = "MIN,MAX",
        allow_hyphen_values = true,
        value_parser = parse_range
    )]
    pub range: [f32; 2],
    /// Per-channel mean subtracted after --range (ONNX extractor), e.g. 0.485,0.456,0.406.
    #[arg(long, value_name = "R,G,B", requires = "std", value_parser = parse_mean)]
    pub mean: Option<[f32; 3]>,
    /// Per-channel standard deviation divided by after --mean, e.g. 0.229,0.224,0.225.
    #[arg(long, value_name = "R,G,B", requires = "mean", value_parser = parse_std)]
    pub std: Option<[f32; 3]>,
    /// The ONNX output holding the features (default: the first output).
    #[arg(long, value_name = "NAME")]
    pub output_name: Option<String>,
    /// Min-max normalise each image before resizing (the paper's normalised FID, Table 4).
    #[arg(long)]
    pub normalize: bool,
    /// Value range of .npy images (default: [0, 1] for floats, the type's range for integers).
    #[arg(long, value_name = "MIN,MAX", allow_hyphen_values = true, value_parser = parse_range)]
    pub npy_range: Option<[f32; 2]>,
    /// Images per extractor call.
    #[arg(long = "batch", default_value_t = 32, value_name = "B", value_parser = parse_positive)]
    pub batch: usize,
    /// CPU threads (default: all cores).
    #[arg(long, value_name = "T", value_parser = parse_positive)]
    pub threads: Option<usize>,
    /// Seed of the random split of the real set into two halves for FID_rr.
    #[arg(long, default_value_t = 0)]
    pub split_seed: u64,
    /// Keep features in this folder, keyed by image content and extractor: a set is embedded once.
    #[arg(long, value_name = "DIR")]
    pub cache_features: Option<PathBuf>,
    /// Metrics from the one embedding pass: a comma-separated list of fid, kid, prdc, cmmd, frd,
    /// or all (fid, kid, prdc; default: fid; `medigan metrics`: all). cmmd is CMMD
    /// (Gaussian-kernel MMD on L2-normalised embeddings), meaningful with an onnx: CLIP image
    /// tower; frd is the Frechet Radiomics Distance of two folders (radiomics, no network; see
    /// `medigan frd`).
    #[arg(long, value_name = "LIST")]
    pub metrics: Option<String>,
    /// With --metrics frd: the FRD's version and convention.
    #[command(flatten)]
    pub frd: FrdFlags,
    /// KID: number of random subsets.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub kid_subsets: usize,
    /// KID: images of each set per subset (at most; smaller sets are used whole).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub kid_subset_size: usize,
    /// Precision/recall/density/coverage: the k of the k-nearest-neighbour radii.
    #[arg(long, default_value_t = 5, value_name = "K")]
    pub nearest_k: usize,
    /// Evaluate R disjoint parts of the synthetic samples (a model: R seed ranges of N samples;
    /// a folder: R parts of it) against bootstrap resamples of the real set, and report each
    /// metric's mean and 95% interval.
    #[arg(long, default_value_t = 1, value_name = "R")]
    pub repeats: usize,
    /// Seed of the KID subsets and the bootstrap resamples (repeat r uses SEED + r).
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    pub resample_seed: u64,
    /// Catalogue key of the metric (default: `FID` for inception, else `FID_<FILE STEM>`), e.g.
    /// `FID_RADIMAGENET`; the ratio is written as `<KEY>_ratio`.
    #[arg(long, value_name = "KEY")]
    pub metric_key: Option<String>,
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
        value_name = "N",
        value_parser = parse_sample_count
    )]
    pub num_samples: u64,
    /// Output folder (created if missing).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Run seed; the same seed gives the same samples.
    #[arg(long, default_value_t = 0, value_parser = parse_seed, allow_negative_numbers = true)]
    pub seed: u64,
    /// Samples per inference call.
    #[arg(long = "batch", default_value_t = 16, value_name = "B", value_parser = parse_positive)]
    pub batch: usize,
    /// File format: png (8-bit), png16 (16-bit gray), npy (float32, values unchanged), dicom
    /// (Secondary Capture, marked synthetic), nifti (.nii, float32) or nifti-gz (.nii.gz). Masks
    /// are written in the same format, named `*_mask.*`.
    #[arg(
        long,
        default_value = "png",
        value_name = "FORMAT",
        value_parser = choice::<Format>(&Format::NAMES)
    )]
    pub format: Format,
    /// Class to generate, by name, for conditional models (default: drawn per sample).
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
    /// Input images (files or folders) for image-to-image models.
    #[arg(long = "input", value_name = "PATH", num_args = 1..)]
    pub inputs: Vec<PathBuf>,
    /// A model specific option `key=value` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Generate only part K of N of the run, e.g. 2/4; `auto` takes it from a Slurm job array
    /// (SLURM_ARRAY_TASK_ID, 0- or 1-based) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX,
    /// with --shards N), and resumes the shard when the scheduler reruns the task.
    #[arg(long, value_name = "K/N|auto", value_parser = parse_shard)]
    pub shard: Option<ShardChoice>,
    /// The number of shards, with `--shard auto` (needed under Kubernetes, which does not say).
    #[arg(long, value_name = "N")]
    pub shards: Option<u64>,
    /// CPU threads to use (default: all cores).
    #[arg(long, value_name = "T", value_parser = parse_positive)]
    pub threads: Option<usize>,
    /// Consent, for a model in the original Python format, to create its environment, install
    /// its dependencies with pip and run its code (environments: `medigan cache path --json`).
    #[arg(long)]
    pub install_dependencies: bool,
    /// Give every sample this latent instead of drawing it from its seed: a JSON file saved by
    /// `medigan visualize` (its `latent`) or a JSON array of numbers.
    #[arg(long, value_name = "FILE")]
    pub latent: Option<std::path::PathBuf>,
    /// Continue an interrupted run (or repair a finished one) in the output folder: keep the
    /// files its journal vouches for by sha256 and generate only the rest. Without an earlier
    /// run it is an ordinary run, so it is safe to pass every time (e.g. in a Slurm requeue).
    #[arg(long, conflicts_with = "overwrite")]
    pub resume: bool,
    /// Discard an earlier run of this shard in the output folder (its manifest, journal and the
    /// files they list) and start again. Without it, or --resume, such a folder is refused.
    #[arg(long)]
    pub overwrite: bool,
    /// Pack the samples into WebDataset tar files (shard-000000.tar, ...) instead of one file
    /// per image: sample KEY (its zero-padded index) is KEY.json (index, seed, label, model id),
    /// KEY.png (or the --format's extension) and KEY.mask.png. Tar t holds samples t*K to
    /// (t+1)*K-1 of the whole run, so its bytes are the same for any --batch or --shard; each
    /// shard must start and end on a multiple of K (make -n a multiple of shards x K).
    #[arg(long, value_enum, value_name = "tar")]
    pub pack: Option<PackKind>,
    /// Samples per tar file with --pack tar (K); the last tar of the run may hold fewer.
    #[arg(long, value_name = "K", default_value_t = 1000, requires = "pack")]
    pub samples_per_shard: u64,
    /// Diffusion models: inference steps (default: the package's; `medigan info ID` shows it).
    /// More steps, slower and usually finer samples; at most the model's training steps.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..=medigan::generate::MAX_STEPS as u64), help_heading = "Diffusion models")]
    pub steps: Option<u64>,
    /// Diffusion models: the scheduler, a diffusers class name (`DDIMScheduler`) or an alias:
    /// ddpm, ddim, pndm, euler, euler-a, dpm++, unipc, rflow, flow-match (default: the
    /// package's).
    #[arg(long, value_name = "NAME", help_heading = "Diffusion models")]
    pub scheduler: Option<String>,
    /// Diffusion models with classes: classifier-free guidance scale (1 = none; higher follows
    /// --label more closely, at some cost in variety).
    #[arg(long, value_name = "G", value_parser = parse_guidance, allow_negative_numbers = true, help_heading = "Diffusion models")]
    pub guidance: Option<medigan::generate::Guidance>,
    /// Diffusion models: take each sample's initial noise from FILE.npy (float32
    /// `[N, *noise shape]`, row i for sample i of the whole run) instead of drawing it from the
    /// seed; reproduces a sample made by another tool from the same noise.
    #[arg(long, value_name = "FILE.npy", help_heading = "Diffusion models")]
    pub initial_noise: Option<PathBuf>,
    /// Diffusion models with a spacing input (3D volumes, as MAISI's): the voxel spacing in mm,
    /// one number per spatial axis in the image's axis order, e.g. 1.5,1.5,2 (default: the
    /// package's declared spacing); the NIfTI volumes are written with it.
    #[arg(long, value_name = "MM,MM,MM", value_parser = parse_spacing, help_heading = "Diffusion models")]
    pub spacing: Option<medigan::generate::Spacing>,
    /// Text-conditioned diffusion models (converted Stable Diffusion pipelines): the prompt,
    /// exactly one of those the package declares (`medigan info MODEL` lists them; their text
    /// embeddings were computed at conversion); default: the first.
    #[arg(long, value_name = "TEXT", help_heading = "Diffusion models")]
    pub prompt: Option<String>,
}

/// A voxel spacing, as the library checks it.
fn parse_spacing(text: &str) -> Result<medigan::generate::Spacing, String> {
    medigan::generate::Spacing::parse(text).map_err(|e| e.to_string())
}

/// A guidance scale, as the library checks it (a finite number >= 0).
fn parse_guidance(text: &str) -> Result<medigan::generate::Guidance, String> {
    let scale = text
        .trim()
        .parse::<f64>()
        .map_err(|_| format!("`{text}`: expected a number >= 0 (1 means no guidance)"))?;
    medigan::generate::Guidance::new(scale).map_err(|e| e.to_string())
}

/// What `--pack` packs samples into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PackKind {
    /// WebDataset-style tar files, `--samples-per-shard` samples each.
    Tar,
}

/// `medigan dataset ...`.
#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Check a dataset folder: every file its manifests list exists with its sha256, the shards
    /// cover the run exactly once, all from the same run (model, seed, arguments). Exits 1
    /// naming each problem.
    #[command(after_help = "Examples:\n  medigan dataset verify out/\n  \
        medigan dataset verify out/ --json")]
    Verify(DatasetDirArgs),
    /// Verify a dataset folder, then write `dataset-manifest.json` with its root digest (one
    /// sha256 over every file's sha256: two sites compare whole datasets by it).
    #[command(after_help = "Examples:\n  medigan dataset merge out/")]
    Merge(DatasetDirArgs),
}

/// The dataset folder of `medigan dataset verify|merge`.
#[derive(Debug, Args)]
pub struct DatasetDirArgs {
    /// The folder the runs or shards wrote to (manifests in subfolders are found too).
    pub dir: PathBuf,
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
    /// The order by name: `asc` (as --asc) or `desc` (as --desc).
    #[arg(long, value_name = "ORDER", value_parser = choice::<Order>(ORDERS))]
    pub order: Option<Order>,
}

impl OrderArgs {
    /// The order the flags ask for (ascending when none is given).
    pub fn order(self) -> Order {
        match (self.order, self.desc) {
            (Some(order), _) => order,
            (None, true) => Order::Descending,
            (None, false) => Order::Ascending,
        }
    }
}

/// Arguments of `medigan search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Values to look for, e.g. `mammography` `DCGAN`.
    #[arg(required = true, value_name = "VALUE")]
    pub values: Vec<String>,
    /// How values combine: `and` (all must match), `or` (any), `xor` (exactly one).
    #[arg(long, default_value = "and", value_name = "OP", value_parser = choice::<Operator>(OPERATORS))]
    pub op: Operator,
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

/// A run seed: a whole number from 0 to 2^64 - 1.
fn parse_seed(text: &str) -> Result<u64, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "a seed is a whole number from 0 to {}, got `{text}`",
            u64::MAX
        )
    })
}

/// A sample count: a whole number from 1 (a run of no samples writes nothing worth a manifest).
fn parse_sample_count(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("a run needs at least 1 sample, got 0".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "the number of samples is a whole number from 1 to {}, got `{text}`",
            u64::MAX
        )),
    }
}

/// A count that must be at least 1 (`--batch`, `--threads`): 0 is a usage error (exit 2).
fn parse_positive(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1, got 0".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "a whole number from 1 to {}, got `{text}`",
            usize::MAX
        )),
    }
}

/// The choices of `--backend`, as `BackendKind` reads them.
const BACKENDS: &[&str] = &["ort", "tract"];
/// The choices of `--op`, as `Operator` reads them (any case).
const OPERATORS: &[&str] = &["and", "or", "xor"];
/// The choices of `--order`, as `Order` reads them (also `ascending`, `descending`; any case).
const ORDERS: &[&str] = &["asc", "desc"];

/// A flag's value read by the library's `FromStr` (its aliases and any case included), with
/// `names` the choices clap lists in `--help` and after a bad value (exit 2).
#[derive(Clone)]
pub struct Choice<T> {
    names: &'static [&'static str],
    value: PhantomData<fn() -> T>,
}

/// A [`Choice`] among `names`.
pub const fn choice<T>(names: &'static [&'static str]) -> Choice<T> {
    Choice {
        names,
        value: PhantomData,
    }
}

impl<T: FromStr + Clone + Send + Sync + 'static> TypedValueParser for Choice<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        if let Some(parsed) = value.to_str().and_then(|v| v.parse().ok()) {
            return Ok(parsed);
        }
        let mut error = clap::Error::new(ErrorKind::InvalidValue).with_cmd(cmd);
        let arg = arg.map_or_else(|| "...".to_string(), ToString::to_string);
        error.insert(ContextKind::InvalidArg, ContextValue::String(arg));
        let value = value.to_string_lossy().into_owned();
        error.insert(ContextKind::InvalidValue, ContextValue::String(value));
        let names = self.names.iter().map(|n| n.to_string()).collect();
        error.insert(ContextKind::ValidValue, ContextValue::Strings(names));
        Err(error)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.names.iter().map(|n| PossibleValue::new(*n))))
    }
}

fn parse_shard(text: &str) -> Result<ShardChoice, String> {
    text.parse()
        .map_err(|_| "expected K/N with 1 <= K <= N (e.g. 2/4), or `auto`".to_string())
}

/// The library's reason for refusing a flag's value (clap names the flag and the value).
fn reason(error: EvaluateError) -> String {
    match error {
        EvaluateError::InvalidOption { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// `--extractor`: the library's [`ExtractorKind`] (`inception` or `onnx:PATH`).
fn parse_extractor(text: &str) -> Result<ExtractorKind, String> {
    text.parse().map_err(reason)
}

/// `MIN,MAX` with MIN < MAX, both finite ([`request::parse_range`]).
fn parse_range(text: &str) -> Result<[f32; 2], String> {
    request::parse_range("range", text).map_err(reason)
}

/// `N` or `HxW` ([`request::parse_input_size`]).
fn parse_input_size(text: &str) -> Result<[usize; 2], String> {
    request::parse_input_size(text).map_err(reason)
}

/// One value or `R,G,B` ([`request::parse_channels`]).
fn parse_mean(text: &str) -> Result<[f32; 3], String> {
    request::parse_channels("mean", text).map_err(reason)
}

/// One value or `R,G,B` ([`request::parse_channels`]).
fn parse_std(text: &str) -> Result<[f32; 3], String> {
    request::parse_channels("std", text).map_err(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_choice_is_read_by_the_library_and_none_is_missing() {
        for name in BACKENDS {
            assert!(name.parse::<BackendKind>().is_ok(), "{name}");
        }
        for kind in BackendKind::ALL {
            assert!(BACKENDS.contains(&kind.name()), "{kind}");
        }
        for name in OPERATORS {
            assert!(name.parse::<Operator>().is_ok(), "{name}");
        }
        for name in ORDERS {
            assert!(name.parse::<Order>().is_ok(), "{name}");
        }
        for format in Format::ALL {
            assert!(Format::NAMES.contains(&format.name()), "{format}");
        }
    }

    #[test]
    fn shard_extractor_and_range_values() {
        assert_eq!(parse_shard(" AUTO "), Ok(ShardChoice::Auto));
        assert_eq!(
            parse_shard("2/4"),
            Ok(ShardChoice::Part(medigan::generate::Shard {
                index: 2,
                count: 4
            }))
        );
        assert!(parse_shard("0/4").is_err() && parse_shard("5/4").is_err());
        assert_eq!(
            parse_extractor("onnx:net.onnx"),
            Ok(ExtractorKind::Onnx("net.onnx".into()))
        );
        assert!(parse_extractor("onnx:").is_err() && parse_extractor("vgg").is_err());
        assert_eq!(parse_range("-1, 1"), Ok([-1.0, 1.0]));
        assert!(parse_range("1,1").is_err() && parse_range("0,nan").is_err());
    }
}

/// The flags of the commands the Python API mirrors, read from this parser, kept in
/// `bindings/python/tests/cli_options.json` for the Python parity test (`test_parity.py`),
/// which fails when a flag has no Python keyword (or listed exception).
#[cfg(test)]
mod python_parity {
    use clap::CommandFactory;

    use super::Cli;

    /// The commands whose flags Python must offer.
    const MIRRORED: &[&str] = &["generate", "fid", "metrics", "frd", "evaluate", "audit"];

    fn names(arguments: Vec<&clap::Arg>) -> Vec<String> {
        let mut names: Vec<String> = arguments
            .into_iter()
            .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
            .map(|a| match a.get_long() {
                Some(long) => format!("--{long}"),
                None => a.get_id().to_string(),
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_python_parity_list_is_the_parsers() {
        let cli = Cli::command();
        let mut listed = serde_json::Map::new();
        let global = cli.get_arguments().filter(|a| a.is_global_set()).collect();
        listed.insert("global".into(), names(global).into());
        for name in MIRRORED {
            let command = cli.find_subcommand(name).expect("a mirrored command");
            let own = command
                .get_arguments()
                .filter(|a| !a.is_global_set())
                .collect();
            listed.insert((*name).into(), names(own).into());
        }
        let text = serde_json::to_string_pretty(&listed).unwrap() + "\n";
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../bindings/python/tests/cli_options.json");
        if std::env::var_os("MEDIGAN_UPDATE_DOCS").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            committed,
            text,
            "{} is out of date: run MEDIGAN_UPDATE_DOCS=1 cargo test -p medigan-cli --bin medigan python_parity",
            path.display()
        );
    }
}
