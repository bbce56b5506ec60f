//! The command line's words for the actions the library's hints suggest
//! (`medigan::error::Suggestion`) and the options its messages name (`OptionName`): flags and
//! commands.

use medigan::error::{OptionName, Suggestion, Wording};

/// Says a suggestion as a flag or a command of `medigan`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CliWording;

impl Wording for CliWording {
    fn say(&self, suggestion: Suggestion) -> String {
        match suggestion {
            Suggestion::Consent => "`--install-dependencies`",
            Suggestion::GenerateWithConsent => "`medigan generate MODEL --install-dependencies`",
            Suggestion::TestWithConsent => "`medigan test MODEL --install-dependencies`",
            Suggestion::Online { also_env: true } => {
                "without `--offline` (and without MEDIGAN_OFFLINE=1)"
            }
            Suggestion::Online { also_env: false } => "without `--offline`",
            Suggestion::ListModels => "`medigan list`",
            Suggestion::SearchModels => "`medigan search KEYWORD`",
            Suggestion::CatalogFile => "`--catalog FILE`",
            Suggestion::CacheDir => "`--cache-dir DIR`",
            Suggestion::TractBackend => "`--backend tract`",
            Suggestion::ModelOptions => "`--set key=value`",
            Suggestion::OnnxExtractor => "`--extractor onnx:PATH`",
            Suggestion::InceptionWeights => "`--inception-weights FILE`",
        }
        .to_string()
    }

    fn option(&self, option: OptionName, value: Option<&str>) -> String {
        let flag = match option {
            OptionName::Input => "--input",
            OptionName::Seed => "--seed",
            OptionName::Label => "--label",
            OptionName::Shard => "--shard",
            OptionName::Shards => "--shards",
            OptionName::Threads => "--threads",
            OptionName::Latent => "--latent",
            OptionName::ZenodoToken => "--zenodo-token",
            OptionName::GitHubToken => "--github-token",
            OptionName::Resume => "--resume",
            OptionName::Overwrite => "--overwrite",
            OptionName::Steps => "--steps",
            OptionName::Scheduler => "--scheduler",
            OptionName::Guidance => "--guidance",
            OptionName::Spacing => "--spacing",
            OptionName::Prompt => "--prompt",
            OptionName::InitialNoise => "--initial-noise",
            OptionName::NumSamples => "-n",
            OptionName::SamplesPerShard => "--samples-per-shard",
        };
        match value {
            Some(value) => format!("{flag} {value}"),
            None => flag.to_string(),
        }
    }
}
