//! The `Generators` facade: one struct through which a user reaches every capability.
//!
//! Like the paper's `generators` module it loads lazily: nothing is read or fetched until a
//! method needs it, and what was loaded is kept for later calls.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::catalog::{self, Catalog, CatalogSettings, ModelEntry, SourceKind};
use crate::error::Result;
use crate::evaluate::{
    self, EvaluateError, Evaluation, EvaluationRequest, ImageSet, InceptionSource,
};
use crate::generate::{self, GenerateRequest, RunSummary, SampleStream};
use crate::home::Home;
use crate::model::Model;
use crate::output::Format;
use crate::progress::{NoProgress, Progress};
use crate::runtime::BackendKind;
use crate::sample::Sample;
use crate::search::{self, KeywordQuery, Order, RankedModel};
use crate::store::Store;

/// Settings of a [`Generators`] instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The medigan home (cache directory).
    pub home: Home,
    /// Which catalogues to read, and whether the network may be used at all
    /// (`catalog.offline`, `MEDIGAN_OFFLINE`): for the catalogue and the packages alike.
    pub catalog: CatalogSettings,
    /// The ONNX backend; `None` picks onnxruntime when found, else tract (`MEDIGAN_BACKEND`).
    pub backend: Option<BackendKind>,
    /// Hash every file of a cached package before it is used (`--verify`, `MEDIGAN_VERIFY`).
    pub verify: bool,
}

impl Settings {
    /// Whether the network is never touched (`--offline`, `MEDIGAN_OFFLINE`): the one flag,
    /// kept in [`CatalogSettings::offline`].
    pub fn offline(&self) -> bool {
        self.catalog.offline
    }

    /// Settings from the environment ([`crate::env`]): `MEDIGAN_HOME`, `MEDIGAN_CATALOG`,
    /// `MEDIGAN_CATALOG_URL`, `MEDIGAN_OFFLINE`, `MEDIGAN_BACKEND`, `MEDIGAN_VERIFY`.
    pub fn from_env() -> Self {
        let mut catalog = CatalogSettings::from_env();
        catalog.offline = crate::env::OFFLINE.flag();
        let backend = BackendKind::from_setting(crate::env::BACKEND.choice());
        Settings {
            home: Home::resolve(None),
            catalog,
            backend,
            verify: crate::env::VERIFY.flag(),
        }
    }

    /// These settings with each override given replacing its setting: how every front end
    /// (flags, keyword arguments) applies its own on top of [`Settings::from_env`].
    pub fn with(mut self, overrides: Overrides) -> Self {
        if let Some(dir) = overrides.home {
            self.home = Home::new(dir);
        }
        if let Some(sources) = overrides.catalog {
            self.catalog.explicit = sources;
        }
        if let Some(offline) = overrides.offline {
            self.catalog.offline = offline;
        }
        if let Some(backend) = overrides.backend {
            self.backend = backend;
        }
        if let Some(verify) = overrides.verify {
            self.verify = verify;
        }
        self
    }
}

/// Settings a front end gives on top of the environment's (see [`Settings::with`]); `None`
/// keeps the environment's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// The medigan home (`--cache-dir`, `home=`).
    pub home: Option<PathBuf>,
    /// Catalogue sources, paths or URLs (`--catalog`, `catalog=`).
    pub catalog: Option<Vec<String>>,
    /// Never touch the network, or do (`--offline`, `offline=`).
    pub offline: Option<bool>,
    /// The backend: `Some(None)` picks one (`auto`), `Some(Some(kind))` names it.
    pub backend: Option<Option<BackendKind>>,
    /// Hash every cached package's files before use, or do not (`--verify`).
    pub verify: Option<bool>,
}

impl Overrides {
    /// A backend override from its name: `ort`, `tract`, or `auto` (or empty) to pick one.
    pub fn backend_named(
        name: &str,
    ) -> std::result::Result<Option<BackendKind>, crate::runtime::RuntimeError> {
        match name.trim() {
            "" | "auto" => Ok(None),
            name => name.parse().map(Some),
        }
    }
}

/// The single point of access to medigan: catalogue, search, ranking, generation.
#[derive(Debug)]
pub struct Generators {
    settings: Settings,
    catalog: OnceLock<Catalog>,
    store: OnceLock<Store>,
    loaded: Mutex<HashMap<String, Model>>,
    loads: AtomicU64,
    legacy: Mutex<crate::legacy::LegacySettings>,
}

impl Generators {
    /// A facade with the given settings; nothing is loaded yet.
    pub fn new(settings: Settings) -> Self {
        Generators {
            settings,
            catalog: OnceLock::new(),
            store: OnceLock::new(),
            loaded: Mutex::new(HashMap::new()),
            loads: AtomicU64::new(0),
            legacy: Mutex::new(crate::legacy::LegacySettings::from_env()),
        }
    }

    /// How packages in the original Python format are run (consent, Python, pip, time limit).
    pub fn legacy_settings(&self) -> crate::legacy::LegacySettings {
        self.legacy.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Changes how packages in the original Python format are run, e.g. gives consent to
    /// install their dependencies and run their code (`install_dependencies`).
    pub fn set_legacy_settings(&self, settings: crate::legacy::LegacySettings) {
        if let Ok(mut slot) = self.legacy.lock() {
            *slot = settings;
        }
    }

    /// A facade configured from the environment (see [`Settings::from_env`]).
    pub fn from_env() -> Self {
        Generators::new(Settings::from_env())
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The setting each `MEDIGAN_*` variable gives in this facade, in the order of
    /// [`crate::env::VARIABLES`] (what `medigan env` and the Python `Generators.environment()`
    /// report): from the facade's settings where it holds them (so a front end that built them
    /// otherwise shows it), else as the environment reads.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        use crate::env;
        let settings = &self.settings;
        let legacy = self.legacy_settings();
        let held = [
            (env::HOME, settings.home.root().display().to_string()),
            (env::CATALOG, settings.catalog.explicit.join(",")),
            (env::CATALOG_URL, settings.catalog.upstream_url.clone()),
            (env::OFFLINE, settings.offline().to_string()),
            (
                env::BACKEND,
                settings.backend.map_or("auto", BackendKind::name).into(),
            ),
            (env::PYTHON, legacy.python.clone()),
            (env::PIP_ARGS, legacy.pip_args.join(" ")),
            (
                env::LEGACY_TIMEOUT,
                legacy
                    .timeout
                    .map_or("none".into(), |t| t.as_secs_f64().to_string()),
            ),
        ];
        env::VARIABLES
            .iter()
            .map(|v| match held.iter().find(|(variable, _)| variable == v) {
                Some((_, setting)) => (v.name, setting.clone()),
                None => (v.name, v.reading_now()),
            })
            .collect()
    }

    /// The merged catalogue, loaded on first use.
    pub fn catalog(&self) -> Result<&Catalog> {
        if let Some(catalog) = self.catalog.get() {
            return Ok(catalog);
        }
        let loaded = catalog::source::load(&self.settings.catalog, &self.settings.home)?;
        Ok(self.catalog.get_or_init(|| loaded))
    }

    /// The ids of all models, in catalogue order.
    pub fn list_models(&self) -> Result<Vec<String>> {
        Ok(self.catalog()?.ids().map(String::from).collect())
    }

    /// The entry of a model given by full id, number or unique prefix.
    pub fn get_config_by_id(&self, model_id: &str) -> Result<&ModelEntry> {
        Ok(self.catalog()?.resolve(model_id)?)
    }

    /// Models whose selection metadata has the query's values (the original
    /// `find_matching_models_by_values`), in catalogue order.
    pub fn find_matching_models_by_values(&self, query: &KeywordQuery) -> Result<Vec<String>> {
        let catalog = self.catalog()?;
        Ok(owned(search::find_matching(catalog.selections(), query)))
    }

    /// Models ranked by a metric path below `selection.performance` (the original
    /// `rank_models_by_performance`); `model_ids` (ids, numbers or prefixes) restricts the
    /// ranking to those models.
    pub fn rank_models_by_performance(
        &self,
        model_ids: Option<&[String]>,
        metric: &str,
        order: Order,
    ) -> Result<Vec<RankedModel>> {
        let catalog = self.catalog()?;
        let restrict = model_ids.map(|ids| self.resolve_known(ids)).transpose()?;
        Ok(search::rank(
            catalog.selections(),
            metric,
            order,
            restrict.as_deref(),
        )?)
    }

    /// Keyword search, then ranking of the models found (the original `find_models_and_rank`).
    pub fn find_models_and_rank(
        &self,
        query: &KeywordQuery,
        metric: &str,
        order: Order,
    ) -> Result<Vec<RankedModel>> {
        let catalog = self.catalog()?;
        Ok(search::find_and_rank(
            catalog.selections(),
            query,
            metric,
            order,
        )?)
    }

    /// Models whose selection field at the dotted `key` path has `value` (the original
    /// `get_models_by_key_value_pair`).
    pub fn get_models_by_key_value_pair(
        &self,
        key: &str,
        value: &str,
        case_sensitive: bool,
    ) -> Result<Vec<String>> {
        let catalog = self.catalog()?;
        Ok(owned(search::find_by_key_value(
            catalog.selections(),
            key,
            value,
            case_sensitive,
        )))
    }

    /// The selection metadata of one model (the original `get_selection_criteria_by_id`).
    pub fn get_selection_criteria_by_id(&self, model_id: &str) -> Result<&serde_json::Value> {
        Ok(&self.get_config_by_id(model_id)?.selection_json)
    }

    /// The selection keys of one model, or of all models (the original `get_selection_keys`).
    pub fn get_selection_keys(&self, model_id: Option<&str>) -> Result<Vec<String>> {
        let catalog = self.catalog()?;
        let keys = match model_id {
            Some(id) => {
                let entry = catalog.resolve(id)?;
                search::selection_keys([(entry.id.as_str(), &entry.selection_json)])
            }
            None => search::selection_keys(catalog.selections()),
        };
        Ok(owned(keys))
    }

    /// The values found under a selection key, for one model or all models (the original
    /// `get_selection_values_for_key`).
    pub fn get_selection_values_for_key(
        &self,
        key: &str,
        model_id: Option<&str>,
    ) -> Result<Vec<serde_json::Value>> {
        let catalog = self.catalog()?;
        let values = match model_id {
            Some(id) => {
                let entry = catalog.resolve(id)?;
                search::selection_values_for_key([(entry.id.as_str(), &entry.selection_json)], key)
            }
            None => search::selection_values_for_key(catalog.selections(), key),
        };
        Ok(values.into_iter().cloned().collect())
    }

    /// The package store, created on first use.
    pub fn store(&self) -> &Store {
        self.store.get_or_init(|| {
            let store = Store::new(self.settings.home.clone(), self.settings.offline());
            store.set_always_rehash(self.settings.verify);
            store
        })
    }

    /// The loaded model (native or legacy), fetching its package on first use (kept for
    /// later calls). A legacy package also needs its environment, made only with consent
    /// ([`set_legacy_settings`](Self::set_legacy_settings)).
    pub fn load_model(&self, model_id: &str, progress: &dyn Progress) -> Result<Model> {
        let entry = self.get_config_by_id(model_id)?;
        if let Some(model) = self
            .loaded
            .lock()
            .ok()
            .and_then(|m| m.get(&entry.id).cloned())
        {
            return Ok(model);
        }
        let base = self.source_dir(entry)?;
        let settings = self.legacy_settings();
        let model = Model::load(entry, self.store(), base.as_deref(), &settings, progress)?;
        self.loads.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.insert(entry.id.clone(), model.clone());
        }
        Ok(model)
    }

    /// How many models this facade has loaded (package fetched and checked, sessions made);
    /// a model served from its cache is not counted. A debug counter: the Python bindings
    /// show with it that an executor keeps its model between calls.
    pub fn models_loaded(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// The folder that relative package links of `entry` are resolved against (its
    /// catalogue file's folder), if its source is a file.
    pub fn source_dir(&self, entry: &ModelEntry) -> Result<Option<PathBuf>> {
        let source = &self.catalog()?.sources()[entry.source];
        Ok(match source.kind {
            SourceKind::File | SourceKind::Upstream => {
                Path::new(&source.location).parent().map(Path::to_path_buf)
            }
            SourceKind::Snapshot | SourceKind::Bundled | SourceKind::Url => None,
        })
    }

    /// Generates a run (or one shard of it) into `dir` in `format`, with a manifest
    /// (the original `generate` with `save_images=True`).
    pub fn generate(
        &self,
        model_id: &str,
        request: &GenerateRequest,
        dir: &Path,
        format: Format,
        progress: &dyn Progress,
    ) -> Result<RunSummary> {
        self.run_to_dir(model_id, request, None, dir, format, progress)
    }

    /// Like [`generate`](Self::generate), but every sample's latent holds `latent` instead of
    /// values drawn from its seed (its other inputs, e.g. a drawn class, still come from the
    /// seed): how a sample saved from the visualiser is regenerated.
    pub fn generate_with_latent(
        &self,
        model_id: &str,
        request: &GenerateRequest,
        latent: Vec<f32>,
        dir: &Path,
        format: Format,
        progress: &dyn Progress,
    ) -> Result<RunSummary> {
        let latent = Some(Arc::new(latent));
        self.run_to_dir(model_id, request, latent, dir, format, progress)
    }

    /// The one run-to-disk path of every model kind ([`generate::run_to_dir`]).
    fn run_to_dir(
        &self,
        model_id: &str,
        request: &GenerateRequest,
        latent: Option<Arc<Vec<f32>>>,
        dir: &Path,
        format: Format,
        progress: &dyn Progress,
    ) -> Result<RunSummary> {
        request.check()?;
        format.check_built()?;
        let model = self.load_model(model_id, progress)?;
        let entry = self.get_config_by_id(model.id())?;
        let run = generate::DirRun {
            request,
            latent: latent.as_ref(),
            dir,
            format,
        };
        generate::run_to_dir(&model, entry, &run, self.settings.backend, progress)
    }

    /// A `--pack tar` run whose samples and tars another engine's tasks make (Ray Data's
    /// `map_batches` and its writer): the same bytes as [`generate`](Self::generate) with the
    /// same request ([`generate::PackedRun`]).
    pub fn packed_run(
        &self,
        model_id: &str,
        request: &GenerateRequest,
        format: Format,
    ) -> Result<generate::PackedRun> {
        let model = self.load_model(model_id, &NoProgress)?;
        let entry = self.get_config_by_id(model.id())?;
        generate::PackedRun::new(model, entry, request, format, self.settings.backend)
    }

    /// Generates the samples of a run in memory (the original `generate` with
    /// `save_images=False`), with the run's notes (as [`Generators::generate`] returns them in
    /// its [`RunSummary`](generate::RunSummary)).
    pub fn generate_samples(
        &self,
        model_id: &str,
        request: &GenerateRequest,
    ) -> Result<generate::GeneratedSamples> {
        request.check()?;
        let indices = request.indices();
        self.check_in_memory(model_id, indices.end - indices.start)?;
        let mut stream = self.stream(model_id, request)?;
        let samples = stream.by_ref().collect::<Result<Vec<_>, _>>()?;
        Ok(generate::GeneratedSamples {
            samples,
            notes: stream.take_notes(),
        })
    }

    /// Refuses `count` samples of a native model in memory when they would need more than
    /// [`crate::limits::max_in_memory_bytes`], before anything is generated (the model is
    /// loaded, and kept for the run); the error names the size. (Legacy models declare no
    /// sample size, and are not checked.)
    pub fn check_in_memory(&self, model_id: &str, count: u64) -> Result<()> {
        let model = self.load_model(model_id, &NoProgress)?;
        let Some(per_sample) = model.sample_bytes() else {
            return Ok(());
        };
        let bytes = per_sample.saturating_mul(count);
        let limit = crate::limits::max_in_memory_bytes();
        if bytes > limit {
            return Err(generate::GenerateError::TooLargeForMemory {
                model: model.id().to_string(),
                samples: count,
                bytes,
                limit,
            }
            .into());
        }
        Ok(())
    }

    /// A stream over a run's samples, one batch at a time, for training loops.
    pub fn stream(
        &self,
        model_id: &str,
        request: &GenerateRequest,
    ) -> Result<SampleStream<'static>> {
        request.check()?;
        let indices = request.indices();
        let count = indices.end - indices.start;
        self.stream_of(model_id, request, 0..count, move |j| indices.start + j)
    }

    /// A stream over chosen samples of a run, in the order given: sample `i` is the same as in
    /// the whole run (it is drawn from `(request.seed, i)`), so a dataset can fetch any index.
    /// Every index must be below `request.num_samples`; `request.shard` is ignored.
    pub fn stream_indices(
        &self,
        model_id: &str,
        request: &GenerateRequest,
        indices: Vec<u64>,
    ) -> Result<SampleStream<'static>> {
        request.check()?;
        if let Some(bad) = indices.iter().find(|&&i| i >= request.num_samples) {
            return Err(generate::GenerateError::BadRequest {
                what: "sample index",
                reason: format!(
                    "{bad} is out of range: the run has {} samples (0..{})",
                    request.num_samples, request.num_samples
                ),
            }
            .into());
        }
        let count = indices.len() as u64;
        self.stream_of(model_id, request, 0..count, move |j| indices[j as usize])
    }

    /// A stream whose `j`-th sample is sample `index_of(j)` of the run, for `j` in `positions`.
    fn stream_of(
        &self,
        model_id: &str,
        request: &GenerateRequest,
        positions: std::ops::Range<u64>,
        index_of: impl Fn(u64) -> u64 + Send + 'static,
    ) -> Result<SampleStream<'static>> {
        request.check()?;
        let model = self.load_model(model_id, &NoProgress)?;
        let plan = model.plan(request, None)?;
        let generator = model.generator(&plan, self.settings.backend, request.thread_count())?;
        let make = move |j: u64| plan.request(index_of(j));
        Ok(SampleStream::new(
            generator,
            Box::new(make),
            positions,
            request.batch_size,
        ))
    }

    /// A reusable generate function with bound defaults (the original
    /// `is_gen_function_returned=True`).
    pub fn get_generate_function(
        &self,
        model_id: &str,
        defaults: GenerateRequest,
    ) -> Result<GenerateFunction<'_>> {
        let model = self.load_model(model_id, &NoProgress)?.id().to_string();
        Ok(GenerateFunction {
            generators: self,
            model,
            defaults,
        })
    }

    /// Evaluates synthetic data against a folder of real images (`medigan fid`, `medigan
    /// metrics`, `medigan evaluate`): a synthetic folder, or each model's generated samples;
    /// one report per folder or model, under [`EvaluationRequest::metric_key`].
    pub fn evaluate(
        &self,
        request: &EvaluationRequest,
        progress: &dyn Progress,
    ) -> Result<Vec<Evaluation>> {
        evaluate::run(self, request, progress)
    }

    /// The Frechet Radiomics Distance of two folders (`medigan frd`, `--metrics frd`).
    pub fn frd(
        &self,
        request: &evaluate::frd::FrdRequest,
        progress: &dyn Progress,
    ) -> Result<evaluate::frd::FrdReport> {
        Ok(evaluate::frd::run(request, progress)?)
    }

    /// The FRD of the union of the shards saved by `frd --save-stats` (`medigan frd
    /// --merge-stats`), bit-identical to one pass over all their images.
    pub fn frd_merged(
        &self,
        stats: &[std::path::PathBuf],
        paper_log: bool,
    ) -> Result<evaluate::frd::FrdReport> {
        Ok(evaluate::frd::run_merged(stats, paper_log)?)
    }

    /// Audits a folder or a model's samples for copies of its training images (`medigan
    /// audit`): the report, and the gallery's page when one was asked for.
    pub fn audit(
        &self,
        request: &evaluate::audit::AuditRequest,
        progress: &dyn Progress,
    ) -> Result<evaluate::audit::AuditOutcome> {
        evaluate::audit::request::run(self, request, progress)
    }

    /// The FID Inception extractor as every front end makes it (see [`evaluate::request::inception`]).
    pub fn fid_inception(
        &self,
        weights: Option<&Path>,
        progress: &dyn Progress,
    ) -> std::result::Result<InceptionSource, EvaluateError> {
        evaluate::request::inception(self.store(), self.settings.backend, weights, progress)
    }

    /// `num_samples` samples of a model (seeded), as an image set for evaluation.
    pub fn synthetic_set(&self, model_id: &str, num_samples: u64, seed: u64) -> Result<ImageSet> {
        evaluate::synthetic_part(self, model_id, num_samples, 0, 1, seed)
    }

    /// Part `part` of `parts` of a run of `parts x num_samples` samples (seeded), as an image
    /// set (see [`evaluate::synthetic_part`]).
    pub fn synthetic_part(
        &self,
        model_id: &str,
        num_samples: u64,
        part: u64,
        parts: u64,
        seed: u64,
    ) -> Result<ImageSet> {
        evaluate::synthetic_part(self, model_id, num_samples, part, parts, seed)
    }

    /// Runs the model test pipeline on one model (the original `test_model`): fetch, load,
    /// generate two samples, check shapes, ranges, determinism and variation.
    pub fn test_model(
        &self,
        model_id: &str,
        progress: &dyn Progress,
    ) -> Result<crate::contribute::ModelTestReport> {
        crate::contribute::test_model(self, model_id, progress)
    }

    /// Resolves user-given ids (numbers, prefixes) to full ids; ids matching no model are kept
    /// as given so that ranking ignores them, as the original does.
    fn resolve_known(&self, ids: &[String]) -> Result<Vec<String>> {
        let catalog = self.catalog()?;
        Ok(ids
            .iter()
            .map(|id| {
                catalog
                    .resolve(id)
                    .map_or_else(|_| id.clone(), |e| e.id.clone())
            })
            .collect())
    }
}

/// What an evaluation of models takes from the facade: its store and backend, and each
/// model's samples, loaded and generated as [`Generators::stream_indices`] makes them.
impl evaluate::ModelSamples for Generators {
    fn store(&self) -> &Store {
        Generators::store(self)
    }

    fn backend(&self) -> Option<BackendKind> {
        self.settings.backend
    }

    fn check_model(&self, model_id: &str) -> Result<()> {
        self.get_config_by_id(model_id).map(drop)
    }

    fn samples(
        &self,
        model_id: &str,
        total: u64,
        seed: u64,
        indices: Vec<u64>,
        label: Option<&str>,
    ) -> Result<evaluate::SyntheticSamples> {
        let model = self.load_model(model_id, &NoProgress)?;
        let request = GenerateRequest {
            num_samples: total,
            seed,
            label: label.map(String::from),
            ..Default::default()
        };
        let samples = self
            .stream_indices(model.id(), &request, indices)?
            .map(|sample| sample.map_err(crate::Error::from));
        Ok(evaluate::SyntheticSamples {
            model_id: model.id().to_string(),
            image_range: model.image_range(),
            samples: Box::new(samples),
        })
    }
}

fn owned(ids: Vec<&str>) -> Vec<String> {
    ids.into_iter().map(String::from).collect()
}

/// A model's generate function with bound defaults; call it as often as needed.
#[derive(Debug)]
pub struct GenerateFunction<'a> {
    generators: &'a Generators,
    model: String,
    defaults: GenerateRequest,
}

impl GenerateFunction<'_> {
    /// The model it generates with.
    pub fn model_id(&self) -> &str {
        &self.model
    }

    /// Generates with the bound defaults.
    pub fn call(&self) -> Result<Vec<Sample>> {
        self.generators
            .generate_samples(&self.model, &self.defaults)
            .map(|run| run.samples)
    }

    /// Generates with the bound defaults changed by `adjust`.
    pub fn call_with(&self, adjust: impl FnOnce(&mut GenerateRequest)) -> Result<Vec<Sample>> {
        let mut request = self.defaults.clone();
        adjust(&mut request);
        self.generators
            .generate_samples(&self.model, &request)
            .map(|run| run.samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_the_settings_they_give() {
        let base = Settings::from_env();
        assert_eq!(base.clone().with(Overrides::default()), base);
        let changed = base.clone().with(Overrides {
            home: Some("/elsewhere".into()),
            catalog: Some(vec!["cat.json".into()]),
            offline: Some(true),
            backend: Some(Some(BackendKind::Tract)),
            verify: Some(true),
        });
        assert_eq!(changed.home, Home::new("/elsewhere"));
        assert_eq!(changed.catalog.explicit, ["cat.json"]);
        assert!(changed.offline());
        assert_eq!(changed.backend, Some(BackendKind::Tract));
        assert!(changed.verify);
        let generators = Generators::new(changed.clone());
        assert!(
            generators.store().always_rehash(),
            "the store hashes every file on use"
        );
        let auto = changed.with(Overrides {
            backend: Some(Overrides::backend_named(" auto ").unwrap()),
            ..Overrides::default()
        });
        assert_eq!(auto.backend, None, "`auto` picks a backend");
        assert!(Overrides::backend_named("cuda").is_err());
    }
}
