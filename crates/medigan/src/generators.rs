//! The `Generators` facade: one struct through which a user reaches every capability.
//!
//! Like the paper's `generators` module it loads lazily: nothing is read or fetched until a
//! method needs it, and what was loaded is kept for later calls.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::catalog::{self, Catalog, CatalogSettings, ModelEntry, SourceKind};
use crate::error::Result;
use crate::generate::{
    self, GenerateRequest, Generator, RunSummary, SampleConditioning, SampleRequest, SampleStream,
    WriteTarget,
};
use crate::home::Home;
use crate::model::{self, NativeModel};
use crate::output::{self, Format, ManifestHeader, Provenance, index_digits, manifest_name};
use crate::progress::{NoProgress, Progress};
use crate::runtime::BackendKind;
use crate::sample::{Sample, sample_seed};
use crate::search::{self, KeywordQuery, Order, RankedModel};
use crate::store::Store;

/// Settings of a [`Generators`] instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The medigan home (cache directory).
    pub home: Home,
    /// Which catalogues to read.
    pub catalog: CatalogSettings,
    /// Never touch the network (`MEDIGAN_OFFLINE=1`).
    pub offline: bool,
    /// The ONNX backend; `None` picks onnxruntime when found, else tract (`MEDIGAN_BACKEND`).
    pub backend: Option<BackendKind>,
}

impl Settings {
    /// Settings from the environment: `MEDIGAN_HOME`, `MEDIGAN_CATALOG`, `MEDIGAN_CATALOG_URL`,
    /// `MEDIGAN_OFFLINE`.
    pub fn from_env() -> Self {
        let offline = std::env::var("MEDIGAN_OFFLINE")
            .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"));
        let mut catalog = CatalogSettings::from_env();
        catalog.offline = offline;
        let backend = std::env::var("MEDIGAN_BACKEND")
            .ok()
            .and_then(|b| b.parse().ok());
        Settings {
            home: Home::resolve(None),
            catalog,
            offline,
            backend,
        }
    }
}

/// The single point of access to medigan: catalogue, search, ranking, generation.
#[derive(Debug)]
pub struct Generators {
    settings: Settings,
    catalog: OnceLock<Catalog>,
    store: OnceLock<Store>,
    loaded: Mutex<HashMap<String, Arc<NativeModel>>>,
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

    /// Prepares a model in the original Python format for `request` (fetch, trust check,
    /// environment), or `None` for a native model.
    fn legacy_model(
        &self,
        model_id: &str,
        request: &GenerateRequest,
        progress: &dyn Progress,
    ) -> Result<Option<crate::legacy::LegacyModel>> {
        let entry = self.get_config_by_id(model_id)?;
        if !crate::legacy::is_legacy(entry) {
            return Ok(None);
        }
        let base = self.source_dir(entry)?;
        let settings = self.legacy_settings();
        crate::legacy::prepare(
            entry,
            self.store(),
            base.as_deref(),
            &settings,
            request,
            progress,
        )
        .map(Some)
    }

    /// A facade configured from the environment (see [`Settings::from_env`]).
    pub fn from_env() -> Self {
        Generators::new(Settings::from_env())
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
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
            let store = Store::new(self.settings.home.clone(), self.settings.offline);
            store.set_always_rehash(
                std::env::var("MEDIGAN_VERIFY")
                    .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on")),
            );
            store
        })
    }

    /// The loaded native model, fetching its package on first use (kept for later calls).
    pub fn load_model(&self, model_id: &str, progress: &dyn Progress) -> Result<Arc<NativeModel>> {
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
        let model = Arc::new(model::fetch_native(
            entry,
            self.store(),
            base.as_deref(),
            progress,
        )?);
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.insert(entry.id.clone(), Arc::clone(&model));
        }
        Ok(model)
    }

    /// The directory relative package links of an entry are resolved against.
    fn source_dir(&self, entry: &ModelEntry) -> Result<Option<PathBuf>> {
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
        request.check()?;
        if let Some(legacy) = self.legacy_model(model_id, request, progress)? {
            let settings = self.legacy_settings();
            let home = &self.settings.home;
            return crate::legacy::generate_to_dir(
                legacy, home, &settings, request, dir, format, progress,
            );
        }
        self.generate_native(model_id, request, None, dir, format, progress)
    }

    /// Like [`generate`](Self::generate), but every sample's latent input holds `latent`
    /// instead of values drawn from its seed (its other inputs, e.g. a drawn class, still come
    /// from the seed): how a sample saved from the visualiser is regenerated. Native models only.
    pub fn generate_with_latent(
        &self,
        model_id: &str,
        request: &GenerateRequest,
        latent: Vec<f32>,
        dir: &Path,
        format: Format,
        progress: &dyn Progress,
    ) -> Result<RunSummary> {
        request.check()?;
        let latent = Arc::new(latent);
        self.generate_native(model_id, request, Some(latent), dir, format, progress)
    }

    fn generate_native(
        &self,
        model_id: &str,
        request: &GenerateRequest,
        latent: Option<Arc<Vec<f32>>>,
        dir: &Path,
        format: Format,
        progress: &dyn Progress,
    ) -> Result<RunSummary> {
        let model = self.load_model(model_id, progress)?;
        let writer = format.writer();
        writer.check(&model.image_shape())?;
        if let Some(mask) = model.spec.output(catalog::OutputKind::Mask) {
            writer.check(&mask.shape)?;
        }
        let (modality, spacing) = self.imaging(&model)?;
        let plan = RunPlan::new(&model, request)?;
        let threads = request.thread_count();
        // One session per worker, never more than the cores (issue #14, defect 19).
        let workers = threads
            .min(plan.batch_count())
            .min(crate::limits::cores())
            .max(1);
        let intra = (threads / workers).max(1);
        let backend = self.settings.backend;
        let factory = || -> Result<Box<dyn Generator>, generate::GenerateError> {
            let generator = model.generator(backend, intra)?;
            Ok(match &latent {
                Some(latent) => Box::new(model::FixedLatent::new(generator, Arc::clone(latent))),
                None => Box::new(generator),
            })
        };
        let mut header = self.manifest_header(
            &model,
            request,
            format,
            writer.value_mapping(model.image_range()),
        );
        if let Some(latent) = &latent {
            header.arguments["latent"] = serde_json::json!(latent.as_slice());
        }
        let target = WriteTarget {
            dir,
            writer: writer.as_ref(),
            header,
            manifest_name: manifest_name(request.shard.map(|s| (s.index, s.count))),
            image_range: model.image_range(),
            mask_range: model.mask_range(),
            provenance: Provenance {
                model_id: model.id.clone(),
                model_version: model.version.clone(),
                package_sha256: model.package.sha256.clone(),
                run_seed: request.seed,
                modality,
                spacing,
            },
            digits: index_digits(request.num_samples),
        };
        progress.begin(
            &format!("generate {}", model.id),
            Some(plan.indices.end - plan.indices.start),
        );
        let make_batch = |b: usize| plan.batch(b);
        let summary = generate::write_run(
            &factory,
            &make_batch,
            plan.batch_count(),
            workers,
            &target,
            progress,
        );
        progress.finish();
        Ok(summary?)
    }

    /// Generates the samples of a run in memory (the original `generate` with
    /// `save_images=False`).
    pub fn generate_samples(
        &self,
        model_id: &str,
        request: &GenerateRequest,
    ) -> Result<Vec<Sample>> {
        request.check()?;
        let indices = request.indices();
        self.check_in_memory(model_id, indices.end - indices.start)?;
        Ok(self
            .stream(model_id, request)?
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// Refuses `count` samples of a native model in memory when they would need more than
    /// [`crate::limits::max_in_memory_bytes`], before anything is generated; the error names
    /// the size. (Legacy models declare no sample size, and are not checked.)
    pub fn check_in_memory(&self, model_id: &str, count: u64) -> Result<()> {
        let entry = self.catalog()?.resolve(model_id)?;
        let Some(spec) = entry.metadata.execution.onnx.as_ref() else {
            return Ok(());
        };
        let per_sample: u64 = spec
            .outputs
            .iter()
            .map(|o| (o.sample_len() as u64).saturating_mul(4))
            .fold(0, u64::saturating_add);
        let bytes = per_sample.saturating_mul(count);
        let limit = crate::limits::max_in_memory_bytes();
        if bytes > limit {
            return Err(generate::GenerateError::TooLargeForMemory {
                model: entry.id.clone(),
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
        if let Some(legacy) = self.legacy_model(model_id, request, &NoProgress)? {
            let indices = request.indices().collect();
            let settings = self.legacy_settings();
            return crate::legacy::stream(legacy, &self.settings.home, &settings, request, indices);
        }
        let model = self.load_model(model_id, &NoProgress)?;
        let plan = Arc::new(RunPlan::new(&model, request)?);
        let generator = model.generator(self.settings.backend, request.thread_count())?;
        let indices = plan.indices.clone();
        let make = move |i: u64| plan.request(i);
        Ok(SampleStream::new(
            Box::new(generator),
            Box::new(make),
            indices,
            request.batch_size,
        ))
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
        if let Some(legacy) = self.legacy_model(model_id, request, &NoProgress)? {
            let settings = self.legacy_settings();
            return crate::legacy::stream(legacy, &self.settings.home, &settings, request, indices);
        }
        let model = self.load_model(model_id, &NoProgress)?;
        let plan = RunPlan::new(&model, request)?;
        let generator = model.generator(self.settings.backend, request.thread_count())?;
        let count = indices.len() as u64;
        let make = move |j: u64| plan.request(indices[j as usize]);
        Ok(SampleStream::new(
            Box::new(generator),
            Box::new(make),
            0..count,
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
        let entry = self.get_config_by_id(model_id)?;
        let model = entry.id.clone();
        if !crate::legacy::is_legacy(entry) {
            self.load_model(&model, &NoProgress)?;
        }
        Ok(GenerateFunction {
            generators: self,
            model,
            defaults,
        })
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

    /// The DICOM modality (from `selection.modality`) and the spacing the image output declares.
    fn imaging(&self, model: &NativeModel) -> Result<(Option<String>, Option<Vec<f64>>)> {
        let entry = self.get_config_by_id(&model.id)?;
        let modality = entry
            .metadata
            .selection
            .modality
            .get()
            .and_then(|terms| output::dicom_modality(terms))
            .map(str::to_string);
        let spacing = match model
            .spec
            .outputs
            .iter()
            .position(|o| o.kind == catalog::OutputKind::Image)
        {
            Some(i) => {
                let out = &model.spec.outputs[i];
                output::declared_spacing(
                    out.extra.get("spacing"),
                    &format!("`{}`: execution.onnx.outputs[{i}].spacing", model.id),
                    &out.shape,
                )?
            }
            None => None,
        };
        Ok((modality, spacing))
    }

    fn manifest_header(
        &self,
        model: &NativeModel,
        request: &GenerateRequest,
        format: Format,
        value_mapping: Option<String>,
    ) -> ManifestHeader {
        let inputs: Vec<String> = request
            .inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        ManifestHeader {
            tool: concat!("medigan-rs ", env!("CARGO_PKG_VERSION")).to_string(),
            model_id: model.id.clone(),
            model_version: model.version.clone(),
            package_sha256: model.package.sha256.clone(),
            seed: request.seed,
            num_samples: request.num_samples,
            shard: request.shard.map(|s| s.to_string()),
            format: format.name().to_string(),
            value_mapping,
            arguments: serde_json::json!({
                "label": request.label,
                "inputs": inputs,
                "options": request.options,
                "batch_size": request.batch_size,
            }),
        }
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

fn owned(ids: Vec<&str>) -> Vec<String> {
    ids.into_iter().map(String::from).collect()
}

/// What every sample of a run needs, resolved once: indices, conditioning, input images.
struct RunPlan {
    seed: u64,
    indices: std::ops::Range<u64>,
    batch_size: usize,
    conditioning: SampleConditioning,
    inputs: Vec<Arc<ndarray::ArrayD<f32>>>,
}

impl RunPlan {
    fn new(model: &NativeModel, request: &GenerateRequest) -> Result<Self> {
        if let Some(key) = request.options.keys().next() {
            return Err(generate::GenerateError::UnknownOption {
                model: model.id.clone(),
                key: key.clone(),
            }
            .into());
        }
        let conditioning =
            SampleConditioning::resolve(&model.id, &model.spec, request.label.as_deref())?;
        Ok(RunPlan {
            seed: request.seed,
            indices: request.indices(),
            batch_size: request.batch_size,
            conditioning,
            inputs: load_inputs(model, request)?,
        })
    }

    fn batch_count(&self) -> usize {
        let count = self.indices.end - self.indices.start;
        count.div_ceil(self.batch_size as u64) as usize
    }

    fn batch(&self, b: usize) -> Vec<SampleRequest> {
        let start = self.indices.start + (b * self.batch_size) as u64;
        let end = (start + self.batch_size as u64).min(self.indices.end);
        (start..end).map(|i| self.request(i)).collect()
    }

    fn request(&self, index: u64) -> SampleRequest {
        let seed = sample_seed(self.seed, index);
        let input = match self.inputs.len() {
            0 => None,
            n => Some(Arc::clone(&self.inputs[(index % n as u64) as usize])),
        };
        SampleRequest {
            index,
            seed,
            class: self.conditioning.class_for(seed),
            input,
        }
    }
}

/// Reads the input images an image-to-image model needs.
fn load_inputs(
    model: &NativeModel,
    request: &GenerateRequest,
) -> Result<Vec<Arc<ndarray::ArrayD<f32>>>> {
    use crate::catalog::InputKind;
    let declared = model
        .spec
        .inputs
        .iter()
        .find(|i| matches!(i.kind, InputKind::Image | InputKind::Mask));
    let Some(declared) = declared else {
        if request.inputs.is_empty() {
            return Ok(Vec::new());
        }
        return Err(generate::GenerateError::UnexpectedInput {
            model: model.id.clone(),
        }
        .into());
    };
    if request.inputs.is_empty() {
        return Err(generate::GenerateError::MissingInput {
            model: model.id.clone(),
        }
        .into());
    }
    let shape = declared.shape.clone().unwrap_or_default();
    let range = declared.range.unwrap_or([0.0, 1.0]);
    generate::expand_inputs(&request.inputs)?
        .iter()
        .map(|path| Ok(Arc::new(generate::load_input_image(path, &shape, range)?)))
        .collect()
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
    }

    /// Generates with the bound defaults changed by `adjust`.
    pub fn call_with(&self, adjust: impl FnOnce(&mut GenerateRequest)) -> Result<Vec<Sample>> {
        let mut request = self.defaults.clone();
        adjust(&mut request);
        self.generators.generate_samples(&self.model, &request)
    }
}
