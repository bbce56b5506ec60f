//! The library's error type: one variant per module, each keeping the module's own error; and
//! [`Hint`], the next step each error suggests as data ([`Advice`], [`Suggestion`]), found
//! along a chain of causes by [`advice_of`] (other crates [`register_hint`] their error types)
//! and said in each front end's words ([`Wording`]).

use crate::catalog::CatalogError;
use crate::contribute::ContributeError;
use crate::dataset::DatasetError;
use crate::evaluate::EvaluateError;
use crate::generate::GenerateError;
use crate::legacy::LegacyError;
use crate::output::OutputError;
use crate::runtime::RuntimeError;
use crate::search::SearchError;
use crate::store::StoreError;

/// Any error of the medigan library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Loading, validating or querying the catalogue failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A search or ranking request is malformed.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// Fetching or caching a package failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Loading or running a graph failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A generation run failed.
    #[error(transparent)]
    Generate(#[from] GenerateError),
    /// Writing samples failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// Evaluating synthetic data (features, FID) failed.
    #[error(transparent)]
    Evaluate(#[from] EvaluateError),
    /// Running a package in the original medigan format failed.
    #[error(transparent)]
    Legacy(Box<LegacyError>),
    /// Converting a legacy package into a native one failed or was refused.
    #[error(transparent)]
    Convert(Box<crate::convert::ConvertError>),
    /// Preparing or publishing a contribution failed.
    #[error(transparent)]
    Contribute(#[from] ContributeError),
    /// Verifying or merging a dataset failed.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// The entry says `execution.runtime: onnx` but declares no graph (`execution.onnx`).
    #[error("model `{model}` has execution.runtime `onnx` but no execution.onnx declaration")]
    NoGraphDeclared {
        /// The model.
        model: String,
    },
}

/// What to do next after an error: the `hint:` line a front end prints below it. Every
/// module's error has one; [`advice_of`] finds it anywhere in an error's chain of causes. The
/// advice is data ([`Advice`]): text and the actions it suggests ([`Suggestion`]), which each
/// front end says in its own words ([`Wording`]).
pub trait Hint {
    /// The advice, if there is any (several lines: one piece of advice each).
    fn advice(&self) -> Option<Advice>;

    /// The advice in the library's own words (the Rust API's names, [`RustWording`]).
    fn hint(&self) -> Option<String> {
        self.advice().map(|advice| advice.render(&RustWording))
    }

    /// The error's message as data, when it names an option of a request ([`OptionName`]),
    /// so that each front end says the option in its own words ([`message_in`]); `None` when
    /// the message (`Display`) names none.
    fn message(&self) -> Option<Advice> {
        None
    }
}

impl Hint for Error {
    fn message(&self) -> Option<Advice> {
        match self {
            Error::Generate(e) => e.message(),
            Error::Contribute(e) => e.message(),
            _ => None,
        }
    }

    fn advice(&self) -> Option<Advice> {
        match self {
            Error::Catalog(e) => e.advice(),
            Error::Search(e) => e.advice(),
            Error::Store(e) => e.advice(),
            Error::Runtime(e) => e.advice(),
            Error::Generate(e) => e.advice(),
            Error::Output(e) => e.advice(),
            Error::Evaluate(e) => e.advice(),
            Error::Contribute(e) => e.advice(),
            Error::Dataset(e) => e.advice(),
            Error::Legacy(e) => e.advice(),
            Error::Convert(e) => e.advice(),
            Error::NoGraphDeclared { .. } => Some(
                "declare the graph's inputs and outputs under execution.onnx (see \
                 docs/model-format.md), or drop execution.runtime for a Python package"
                    .into(),
            ),
        }
    }
}

/// An action a hint suggests, as data: each front end says it in its own words ([`Wording`]):
/// a flag or a command for the command line, a keyword argument for Python, a field or a
/// method for Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suggestion {
    /// Consent to install a legacy package's dependencies and run its code.
    Consent,
    /// Generate with a model (`MODEL`) with that consent.
    GenerateWithConsent,
    /// Test a model (`MODEL`) with that consent.
    TestWithConsent,
    /// Work with the network: `also_env` says that `MEDIGAN_OFFLINE` must be unset too.
    Online {
        /// Mention the environment variable as well.
        also_env: bool,
    },
    /// List the models of the catalogue.
    ListModels,
    /// Find models by a keyword.
    SearchModels,
    /// Read a catalogue file (offline too).
    CatalogFile,
    /// Use another medigan home (cache folder).
    CacheDir,
    /// Run graphs on the pure-Rust backend (tract).
    TractBackend,
    /// Give model-specific options (`key=value`).
    ModelOptions,
    /// Embed with an ONNX network instead of Inception.
    OnnxExtractor,
    /// A local copy of the FID Inception weights.
    InceptionWeights,
}

/// An option of a request that an error's message or hint names: each front end says it in
/// its own words ([`Wording::option`]): a flag for the command line, a keyword argument for
/// Python, a field for Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionName {
    /// The input images of an image-to-image model.
    Input,
    /// The run's seed.
    Seed,
    /// The class of a conditional model.
    Label,
    /// Which part of a run (`K/N` or `auto`).
    Shard,
    /// The number of shards, with the shard `auto`.
    Shards,
    /// CPU threads.
    Threads,
    /// A latent every sample holds.
    Latent,
    /// The Zenodo token of a contribution.
    ZenodoToken,
    /// The GitHub token of a contribution.
    GitHubToken,
    /// Keep an earlier run's intact files and generate only the rest.
    Resume,
    /// Discard an earlier run and start again.
    Overwrite,
    /// A diffusion model's inference steps.
    Steps,
    /// A diffusion model's scheduler.
    Scheduler,
    /// A diffusion model's classifier-free guidance scale.
    Guidance,
    /// A file of a diffusion run's initial noise.
    InitialNoise,
    /// The voxel spacing a spacing-conditioned diffusion model is given.
    Spacing,
    /// The prompt of a text-conditioned diffusion model.
    Prompt,
    /// The number of samples of a run.
    NumSamples,
    /// Samples per WebDataset tar.
    SamplesPerShard,
}

/// How a front end says a [`Suggestion`] and an [`OptionName`].
pub trait Wording {
    /// The words for `suggestion`, to stand inside a sentence of advice.
    fn say(&self, suggestion: Suggestion) -> String;

    /// The words for `option`, set to `value` when one is given (a value or a placeholder
    /// such as `PATH`), to stand inside a message or a piece of advice.
    fn option(&self, option: OptionName, value: Option<&str>) -> String;
}

/// The Rust API's words: fields and methods of the library.
#[derive(Debug, Clone, Copy, Default)]
pub struct RustWording;

impl Wording for RustWording {
    fn say(&self, suggestion: Suggestion) -> String {
        match suggestion {
            Suggestion::Consent => "`LegacySettings::install_dependencies = true`".into(),
            Suggestion::GenerateWithConsent => {
                "`Generators::generate` after `LegacySettings::install_dependencies = true`".into()
            }
            Suggestion::TestWithConsent => {
                "`Generators::test_model` after `LegacySettings::install_dependencies = true`"
                    .into()
            }
            Suggestion::Online { also_env: true } => {
                "with `Overrides::offline = Some(false)` (and without MEDIGAN_OFFLINE=1)".into()
            }
            Suggestion::Online { also_env: false } => {
                "with `Overrides::offline = Some(false)`".into()
            }
            Suggestion::ListModels => "`Generators::list_models`".into(),
            Suggestion::SearchModels => "`Generators::find_matching_models_by_values`".into(),
            Suggestion::CatalogFile => "`Overrides::catalog` naming the FILE".into(),
            Suggestion::CacheDir => "`Overrides::home`".into(),
            Suggestion::TractBackend => {
                "`Overrides::backend = Some(Some(BackendKind::Tract))`".into()
            }
            Suggestion::ModelOptions => "`GenerateRequest::options`".into(),
            Suggestion::OnnxExtractor => "`ExtractorKind::Onnx(PATH)`".into(),
            Suggestion::InceptionWeights => "`ExtractorSpec::inception_weights`".into(),
        }
    }

    fn option(&self, option: OptionName, value: Option<&str>) -> String {
        let field = match option {
            OptionName::Input => "GenerateRequest::inputs",
            OptionName::Seed => "GenerateRequest::seed",
            OptionName::Label => "GenerateRequest::label",
            OptionName::Shard => "ShardRequest::choice",
            OptionName::Shards => "ShardRequest::shards",
            OptionName::Threads => "GenerateRequest::threads",
            OptionName::Latent => "the latent of `Generators::generate_with_latent`",
            OptionName::ZenodoToken => "ContributeRequest::zenodo_token",
            OptionName::GitHubToken => "ContributeRequest::github_token",
            OptionName::Resume => "GenerateRequest::mode = RunMode::Resume",
            OptionName::Overwrite => "GenerateRequest::mode = RunMode::Overwrite",
            OptionName::Steps => "DiffusionOptions::steps",
            OptionName::Scheduler => "DiffusionOptions::scheduler",
            OptionName::Guidance => "DiffusionOptions::guidance",
            OptionName::Spacing => "DiffusionOptions::spacing",
            OptionName::Prompt => "DiffusionOptions::prompt",
            OptionName::InitialNoise => "GenerateRequest::initial_noise",
            OptionName::NumSamples => "GenerateRequest::num_samples",
            OptionName::SamplesPerShard => "Pack::samples_per_tar",
        };
        match value {
            Some(value) => format!("`{field}` ({value})"),
            None => format!("`{field}`"),
        }
    }
}

/// One piece of advice: text with the actions it suggests in place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Advice {
    parts: Vec<AdvicePart>,
}

/// A part of [`Advice`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdvicePart {
    /// Words the same for every front end.
    Text(String),
    /// An action, said by each front end in its words.
    Suggest(Suggestion),
    /// An option, set to a value (or a placeholder) when one is given, said by each front end
    /// in its words.
    Option(OptionName, Option<String>),
    /// A line break: what follows is another piece of advice.
    Break,
}

impl Advice {
    /// Advice that starts with `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Advice {
            parts: vec![AdvicePart::Text(text.into())],
        }
    }

    /// This advice, then `text`.
    pub fn then_text(mut self, text: impl Into<String>) -> Self {
        self.parts.push(AdvicePart::Text(text.into()));
        self
    }

    /// This advice, then the action `suggestion`.
    pub fn then(mut self, suggestion: Suggestion) -> Self {
        self.parts.push(AdvicePart::Suggest(suggestion));
        self
    }

    /// This advice, then the option `option` (set to `value`, when given).
    pub fn then_option(mut self, option: OptionName, value: Option<&str>) -> Self {
        self.parts
            .push(AdvicePart::Option(option, value.map(str::to_string)));
        self
    }

    /// This advice, then all of `other`.
    pub fn then_advice(mut self, other: Advice) -> Self {
        self.parts.extend(other.parts);
        self
    }

    /// Pieces of advice, one per line; `None` without any.
    pub fn lines(pieces: impl IntoIterator<Item = Advice>) -> Option<Advice> {
        let mut joined: Option<Advice> = None;
        for piece in pieces {
            joined = Some(match joined {
                None => piece,
                Some(mut advice) => {
                    advice.parts.push(AdvicePart::Break);
                    advice.parts.extend(piece.parts);
                    advice
                }
            });
        }
        joined
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[AdvicePart] {
        &self.parts
    }

    /// The actions suggested, in order.
    pub fn suggestions(&self) -> impl Iterator<Item = Suggestion> + '_ {
        self.parts.iter().filter_map(|p| match p {
            AdvicePart::Suggest(s) => Some(*s),
            _ => None,
        })
    }

    /// The advice in `words` (lines separated by `\n`).
    pub fn render(&self, words: &dyn Wording) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                AdvicePart::Text(text) => text.clone(),
                AdvicePart::Suggest(suggestion) => words.say(*suggestion),
                AdvicePart::Option(option, value) => words.option(*option, value.as_deref()),
                AdvicePart::Break => "\n".into(),
            })
            .collect()
    }
}

impl std::fmt::Display for Advice {
    /// In the library's words ([`RustWording`]).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(&RustWording))
    }
}

impl From<String> for Advice {
    fn from(text: String) -> Self {
        Advice::text(text)
    }
}

impl From<&str> for Advice {
    fn from(text: &str) -> Self {
        Advice::text(text)
    }
}

/// The advice of every error in the chain from `error` (itself, then each
/// [`source`](std::error::Error::source)) that the library knows or a crate registered
/// ([`register_hint`]), outermost first.
pub fn advice_of(error: &(dyn std::error::Error + 'static)) -> Vec<Advice> {
    std::iter::successors(Some(error), |e| e.source())
        .filter_map(own_advice)
        .collect()
}

/// The hints of the chain from `error` ([`advice_of`]) in `words`, one per line, each line
/// once.
pub fn hint_in(error: &(dyn std::error::Error + 'static), words: &dyn Wording) -> Option<String> {
    let mut lines: Vec<String> = Vec::new();
    for advice in advice_of(error) {
        for line in advice.render(words).lines() {
            if !lines.iter().any(|l| l == line) {
                lines.push(line.to_string());
            }
        }
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// The message of `error` itself (not its causes) in `words`: its [`Hint::message`] when it is
/// one of the library's errors that names an option, else its `Display`.
pub fn message_in(error: &(dyn std::error::Error + 'static), words: &dyn Wording) -> String {
    macro_rules! first_of {
        ($($kind:ty),*) => {
            $(if let Some(e) = error.downcast_ref::<$kind>() {
                return e.message().map_or_else(|| e.to_string(), |m| m.render(words));
            })*
        };
    }
    first_of!(Error, GenerateError, ContributeError);
    error.to_string()
}

/// The hints of the chain from `error` in the library's words ([`RustWording`]).
pub fn hint_of(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    hint_in(error, &RustWording)
}

/// Finds the advice of one error type of another crate (its own `Hint`), registered once.
type Finder = fn(&(dyn std::error::Error + 'static)) -> Option<Option<Advice>>;

/// The error types other crates registered ([`register_hint`]).
static REGISTERED: std::sync::RwLock<Vec<Finder>> = std::sync::RwLock::new(Vec::new());

/// Adds `E` (an error type of another crate, e.g. the visualiser's) to the chain walk of
/// [`advice_of`], [`hint_in`] and [`hint_of`]; registering a type twice has no effect.
pub fn register_hint<E: Hint + std::error::Error + 'static>() {
    fn find<E: Hint + std::error::Error + 'static>(
        error: &(dyn std::error::Error + 'static),
    ) -> Option<Option<Advice>> {
        error.downcast_ref::<E>().map(Hint::advice)
    }
    if let Ok(mut registered) = REGISTERED.write() {
        let finder: Finder = find::<E>;
        if !registered.iter().any(|f| std::ptr::fn_addr_eq(*f, finder)) {
            registered.push(finder);
        }
    }
}

/// The advice of `error` itself, when it is one of the library's errors or a registered one.
pub(crate) fn own_advice(error: &(dyn std::error::Error + 'static)) -> Option<Advice> {
    macro_rules! first_of {
        ($($kind:ty),*) => {
            $(if let Some(e) = error.downcast_ref::<$kind>() {
                return e.advice();
            })*
        };
    }
    first_of!(
        Error,
        CatalogError,
        SearchError,
        StoreError,
        RuntimeError,
        GenerateError,
        OutputError,
        EvaluateError,
        LegacyError,
        crate::convert::ConvertError,
        ContributeError,
        DatasetError
    );
    #[cfg(feature = "object-store")]
    if let Some(e) = error.downcast_ref::<crate::remote::RemoteError>() {
        return e.advice();
    }
    let registered = REGISTERED.read().ok()?;
    registered.iter().find_map(|find| find(error)).flatten()
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A front end's words, as a test writes them.
    struct Shout;

    impl Wording for Shout {
        fn say(&self, suggestion: Suggestion) -> String {
            format!("<{suggestion:?}>")
        }

        fn option(&self, option: OptionName, value: Option<&str>) -> String {
            format!(
                "<{option:?}{}>",
                value.map(|v| format!("={v}")).unwrap_or_default()
            )
        }
    }

    #[test]
    fn messages_that_name_an_option_are_said_in_each_front_ends_words() {
        let error = Error::Generate(GenerateError::ShardsWithoutAuto {
            shards: 3,
            shard: Some(crate::generate::Shard { index: 1, count: 2 }),
        });
        assert_eq!(
            message_in(&error, &Shout),
            "<Shards=3> goes with <Shard=auto>; <Shard=1/2> already says N"
        );
        assert_eq!(
            error.to_string(),
            message_in(&error, &RustWording),
            "Display is the message in the library's words"
        );
        assert!(error.to_string().contains("`ShardRequest::shards` (3)"));
        assert_eq!(
            hint_in(&error, &Shout).as_deref(),
            Some("give <Shard=K/N> alone, or <Shard=auto> with <Shards=N>")
        );
        let plain = Error::Generate(GenerateError::Cancelled);
        assert_eq!(message_in(&plain, &Shout), "generation cancelled");
    }

    /// An error of another crate, with its own hint.
    #[derive(Debug, thiserror::Error)]
    #[error("outside")]
    struct Outside(#[source] crate::legacy::LegacyError);

    impl Hint for Outside {
        fn advice(&self) -> Option<Advice> {
            Some(Advice::text("pass ").then(Suggestion::CacheDir))
        }
    }

    fn consent_needed() -> crate::legacy::LegacyError {
        crate::legacy::LegacyError::ConsentNeeded {
            model: "m".into(),
            dependencies: Vec::new(),
            env: "env".into(),
        }
    }

    #[test]
    fn advice_is_said_in_each_front_ends_words() {
        let advice = Advice::text("rerun with ")
            .then(Suggestion::Consent)
            .then_text(" now");
        assert_eq!(advice.render(&Shout), "rerun with <Consent> now");
        assert_eq!(
            advice.render(&RustWording),
            "rerun with `LegacySettings::install_dependencies = true` now"
        );
        let two = Advice::lines([Advice::text("a"), Advice::text("b")]).unwrap();
        assert_eq!(two.render(&Shout), "a\nb");
        assert!(Advice::lines([]).is_none());
    }

    #[test]
    fn a_model_layer_error_inside_a_generation_error_keeps_its_hint_and_kind() {
        let inside = GenerateError::from(consent_needed());
        assert_eq!(inside.to_string(), consent_needed().to_string());
        assert!(matches!(
            inside.model_error::<LegacyError>(),
            Some(LegacyError::ConsentNeeded { .. })
        ));
        let error = Error::Generate(inside);
        assert_eq!(
            hint_in(&error, &Shout).as_deref(),
            Some("if you trust this model's code, rerun with <Consent>")
        );
        assert!(
            GenerateError::Cancelled
                .model_error::<LegacyError>()
                .is_none()
        );
    }

    #[test]
    fn registered_error_types_join_the_chain_walk() {
        let error = Outside(consent_needed());
        assert_eq!(
            hint_in(&error, &Shout).as_deref(),
            Some("if you trust this model's code, rerun with <Consent>"),
            "only the library's own error is known before registration"
        );
        register_hint::<Outside>();
        register_hint::<Outside>();
        assert_eq!(
            hint_in(&error, &Shout).as_deref(),
            Some("pass <CacheDir>\nif you trust this model's code, rerun with <Consent>")
        );
    }
}
