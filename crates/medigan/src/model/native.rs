//! Native (ONNX) models, loaded as a staged pipeline: catalogue entry -> fetched package ->
//! validated native model -> pooled sessions (the paper's `model_executor` set-up).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::catalog::{ModelEntry, OnnxSpec, OutputKind, RuntimeKind};
use crate::diffusion::{DiffusionGenerator, DiffusionRun, DiffusionSetup};
use crate::generate::{GenerateError, Generator, OnnxGenerator, SampleRequest};
use crate::progress::Progress;
use crate::runtime::{self, BackendKind, Session, SessionOptions};
use crate::sample::Sample;
use crate::store::{FetchRequest, InstalledPackage, Store};
use crate::{Error, Result, bundled};

/// A native model whose package is on disk and whose declaration is known.
pub struct NativeModel {
    /// The model id.
    pub id: String,
    /// The model version, if declared.
    pub version: Option<String>,
    /// The ONNX declaration.
    pub spec: OnnxSpec,
    /// The package on disk.
    pub package: InstalledPackage,
    /// The graph file (the denoiser of a diffusion model).
    pub graph: PathBuf,
    /// The sampler's set-up, for a diffusion model.
    pub diffusion: Option<Arc<DiffusionSetup>>,
    sessions: Mutex<Vec<(usize, Box<dyn Session>)>>,
    diffusion_sessions: Mutex<Vec<(usize, DiffusionSessions)>>,
}

impl std::fmt::Debug for NativeModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeModel")
            .field("id", &self.id)
            .field("graph", &self.graph)
            .finish()
    }
}

/// Fetches the package of a native model and checks that its graph is where it is declared.
///
/// `base` is the directory that relative package links are resolved against (the directory of
/// the catalogue file the entry came from).
pub fn fetch_native(
    entry: &ModelEntry,
    store: &Store,
    base: Option<&Path>,
    progress: &dyn Progress,
) -> Result<NativeModel> {
    let execution = &entry.metadata.execution;
    let spec = match (entry.metadata.runtime(), &execution.onnx) {
        (RuntimeKind::Onnx, Some(spec)) => spec.clone(),
        _ => {
            return Err(Error::NoGraphDeclared {
                model: entry.id.clone(),
            });
        }
    };
    check_sample_size(&entry.id, &spec)?;
    let package = fetch_package(entry, store, base, progress)?;
    let graph = runtime::graph_path(&package.dir, &spec)?;
    if let Err(e) = check_external_data(&package.dir, &spec, store) {
        // A package in the cache that does not hold the data files its entry declares is
        // of no use: it leaves the cache (a local directory used in place is left alone).
        if package.dir.starts_with(store.path())
            && let Err(removed) = store.remove(&package.sha256)
        {
            tracing::warn!(
                "cannot remove the refused package {}: {removed}",
                package.sha256
            );
        }
        return Err(e.into());
    }
    let diffusion = match spec.diffusion {
        Some(_) => Some(Arc::new(DiffusionSetup::load(
            &entry.id,
            &package.dir,
            &spec,
        )?)),
        None => None,
    };
    Ok(NativeModel {
        id: entry.id.clone(),
        version: entry.metadata.description.version.get().cloned(),
        spec,
        package,
        graph,
        diffusion,
        sessions: Mutex::new(Vec::new()),
        diffusion_sessions: Mutex::new(Vec::new()),
    })
}

/// Checks the external-data files of the graph (and of the decoder graph of a latent diffusion
/// model) against their declaration, before any graph is loaded: see
/// [`runtime::check_external_data`]. Files the store recorded at install are not hashed again.
fn check_external_data(
    dir: &Path,
    spec: &OnnxSpec,
    store: &Store,
) -> std::result::Result<(), runtime::RuntimeError> {
    let recorded = store.recorded_files(dir).unwrap_or_default();
    let lookup = |key: &str| {
        recorded
            .iter()
            .find(|(path, _, _)| path == key)
            .map(|(_, size, sha256)| (*size, sha256.clone()))
    };
    runtime::check_external_data(
        dir,
        &spec.graph,
        "execution.onnx.external_data",
        &spec.external_data,
        &lookup,
    )?;
    if let Some(decoder) = spec.diffusion.as_ref().and_then(|d| d.decoder.as_ref()) {
        runtime::check_external_data(
            dir,
            &decoder.graph,
            "execution.onnx.diffusion.decoder.external_data",
            &decoder.external_data,
            &lookup,
        )?;
    }
    Ok(())
}

/// Refuses a model whose declared sample (image and mask, float32) is larger than
/// [`crate::limits::max_sample_bytes`], before anything is downloaded or allocated.
fn check_sample_size(model: &str, spec: &OnnxSpec) -> Result<()> {
    let bytes = output_bytes(spec).max(
        spec.diffusion
            .as_ref()
            .map_or(0, |d| (d.noise.sample_len() as u64).saturating_mul(4)),
    );
    let limit = crate::limits::max_sample_bytes();
    if bytes > limit {
        return Err(GenerateError::SampleTooLarge {
            model: model.to_string(),
            bytes,
            limit,
        }
        .into());
    }
    Ok(())
}

/// Bytes of one sample's outputs (image and mask) as float32.
fn output_bytes(spec: &OnnxSpec) -> u64 {
    spec.outputs
        .iter()
        .map(|o| (o.sample_len() as u64).saturating_mul(4))
        .fold(0, u64::saturating_add)
}

fn fetch_package(
    entry: &ModelEntry,
    store: &Store,
    base: Option<&Path>,
    progress: &dyn Progress,
) -> Result<InstalledPackage> {
    let execution = &entry.metadata.execution;
    let link = execution.package_link.as_str();
    if let Some(bytes) = bundled::package(link).filter(|_| link.starts_with(bundled::SCHEME)) {
        return Ok(store.install_bytes(&entry.id, bytes, execution.sha256.as_deref())?);
    }
    let request = FetchRequest::for_package(&entry.id, link, base, execution.sha256.as_deref());
    Ok(store.fetch(&request, progress)?)
}

impl NativeModel {
    /// Bytes one sample (image and mask, float32) takes in memory.
    pub fn sample_bytes(&self) -> u64 {
        output_bytes(&self.spec)
    }

    /// Value range of the image output.
    pub fn image_range(&self) -> [f64; 2] {
        self.spec
            .output(OutputKind::Image)
            .map_or([0.0, 1.0], |o| o.range)
    }

    /// Value range of the mask output, for image+mask models.
    pub fn mask_range(&self) -> Option<[f64; 2]> {
        self.spec.output(OutputKind::Mask).map(|o| o.range)
    }

    /// Shape of one image sample (`[C, H, W]` or `[C, D, H, W]`).
    pub fn image_shape(&self) -> Vec<usize> {
        self.spec
            .output(OutputKind::Image)
            .map_or_else(Vec::new, |o| o.shape.clone())
    }

    /// A generator with its own session of `intra_threads` threads, reusing a kept session
    /// when one is free. The session goes back to the model when the generator is dropped.
    pub fn generator(
        self: &Arc<Self>,
        backend: Option<BackendKind>,
        intra_threads: usize,
    ) -> Result<PooledGenerator, GenerateError> {
        let kept = self.sessions.lock().ok().and_then(|mut pool| {
            let position = pool
                .iter()
                .position(|(threads, _)| *threads == intra_threads)?;
            Some(pool.swap_remove(position).1)
        });
        let (session, note) = match kept {
            Some(session) => (session, None),
            None => {
                let options = SessionOptions {
                    backend,
                    intra_threads: Some(intra_threads),
                    ..SessionOptions::default()
                };
                let loaded = runtime::open_session(&self.graph, &self.spec, &options)?;
                (loaded.session, loaded.hint)
            }
        };
        Ok(PooledGenerator {
            inner: Some(OnnxGenerator::new(&self.id, self.spec.clone(), session).with_note(note)),
            model: Arc::clone(self),
            intra_threads,
        })
    }
}

/// The open sessions of a diffusion model: denoiser and decoder.
type DiffusionSessions = (Box<dyn Session>, Option<Box<dyn Session>>);

impl NativeModel {
    /// A diffusion sampler for `run` with sessions of `intra_threads` threads, reusing kept
    /// sessions when free; they go back to the model when the sampler is dropped.
    pub fn diffusion_generator(
        self: &Arc<Self>,
        run: &DiffusionRun,
        backend: Option<BackendKind>,
        intra_threads: usize,
    ) -> Result<PooledDiffusion, GenerateError> {
        let setup = self.diffusion.clone().ok_or_else(|| {
            GenerateError::Worker(format!("`{}` is not a diffusion model", self.id))
        })?;
        let kept = self.diffusion_sessions.lock().ok().and_then(|mut pool| {
            let position = pool.iter().position(|(t, _)| *t == intra_threads)?;
            Some(pool.swap_remove(position).1)
        });
        let mut notes = Vec::new();
        let (denoiser, decoder) = match kept {
            Some(sessions) => sessions,
            None => {
                let mut open = |graph: &Path, spec: &OnnxSpec| {
                    let loaded = self.open(graph, spec, backend, intra_threads)?;
                    notes.extend(loaded.hint.filter(|h| !notes.contains(h)));
                    Ok::<_, GenerateError>(loaded.session)
                };
                let denoiser = open(&setup.denoiser.0, &setup.denoiser.1)?;
                let decoder = match &setup.decoder {
                    Some((graph, spec)) => Some(open(graph, spec)?),
                    None => None,
                };
                (denoiser, decoder)
            }
        };
        Ok(PooledDiffusion {
            notes,
            inner: Some(DiffusionGenerator::new(
                setup,
                run.clone(),
                denoiser,
                decoder,
            )),
            model: Arc::clone(self),
            intra_threads,
        })
    }

    fn open(
        &self,
        graph: &Path,
        spec: &OnnxSpec,
        backend: Option<BackendKind>,
        intra_threads: usize,
    ) -> Result<runtime::LoadedSession, GenerateError> {
        let options = SessionOptions {
            backend,
            intra_threads: Some(intra_threads),
            ..SessionOptions::default()
        };
        Ok(runtime::open_session(graph, spec, &options)?)
    }
}

/// A diffusion sampler whose sessions return to its model's pool when dropped.
#[derive(Debug)]
pub struct PooledDiffusion {
    inner: Option<DiffusionGenerator>,
    /// How its sessions were opened, until taken.
    notes: Vec<String>,
    model: Arc<NativeModel>,
    intra_threads: usize,
}

impl Generator for PooledDiffusion {
    fn generate(&mut self, batch: &[SampleRequest]) -> Result<Vec<Sample>, GenerateError> {
        self.generate_watched(batch, &crate::generate::Unwatched)
    }

    fn generate_watched(
        &mut self,
        batch: &[SampleRequest],
        watch: &dyn crate::generate::StepWatch,
    ) -> Result<Vec<Sample>, GenerateError> {
        match self.inner.as_mut() {
            Some(inner) => inner.generate_watched(batch, watch),
            None => Err(GenerateError::Worker("generator used after release".into())),
        }
    }

    fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }
}

impl Drop for PooledDiffusion {
    fn drop(&mut self) {
        if let (Some(inner), Ok(mut pool)) =
            (self.inner.take(), self.model.diffusion_sessions.lock())
        {
            pool.push((self.intra_threads, inner.into_sessions()));
        }
    }
}

/// A generator whose session returns to its model's pool when dropped.
#[derive(Debug)]
pub struct PooledGenerator {
    inner: Option<OnnxGenerator>,
    model: Arc<NativeModel>,
    intra_threads: usize,
}

impl Generator for PooledGenerator {
    fn generate(&mut self, batch: &[SampleRequest]) -> Result<Vec<Sample>, GenerateError> {
        match self.inner.as_mut() {
            Some(inner) => inner.generate(batch),
            None => Err(GenerateError::Worker("generator used after release".into())),
        }
    }

    fn take_notes(&mut self) -> Vec<String> {
        self.inner
            .as_mut()
            .map(Generator::take_notes)
            .unwrap_or_default()
    }
}

impl Drop for PooledGenerator {
    fn drop(&mut self) {
        if let (Some(inner), Ok(mut pool)) = (self.inner.take(), self.model.sessions.lock()) {
            pool.push((self.intra_threads, inner.into_session()));
        }
    }
}
