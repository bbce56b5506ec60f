//! A model's run into a folder, assembled: the plan, the worker split, the run's provenance
//! (one value, from which the manifest header is built) and the write target, handed to the
//! pipeline ([`super::write_run`]). The facade only delegates here.

use std::path::Path;
use std::sync::Arc;

use super::{GenerateRequest, RunSummary, WriteTarget, write_run};
use crate::catalog::ModelEntry;
use crate::formats::SampleWriter;
use crate::model::{Model, RunPlan};
use crate::output::{Format, ManifestHeader, Provenance, index_digits, manifest_name};
use crate::progress::Progress;
use crate::runtime::BackendKind;

/// What a run to a folder is asked for.
#[derive(Debug, Clone, Copy)]
pub struct DirRun<'a> {
    /// The run.
    pub request: &'a GenerateRequest,
    /// A latent every sample holds instead of the one drawn from its seed (the visualiser's).
    pub latent: Option<&'a Arc<Vec<f32>>>,
    /// The output folder.
    pub dir: &'a Path,
    /// The file format.
    pub format: Format,
}

/// The one run-to-disk path of every model kind (`entry` is the model's catalogue entry):
/// plan, generators on `backend`, writer, manifest.
pub fn run_to_dir(
    model: &Model,
    entry: &ModelEntry,
    run: &DirRun<'_>,
    backend: Option<BackendKind>,
    progress: &dyn Progress,
) -> crate::Result<RunSummary> {
    let request = run.request;
    let setup = RunSetup::prepare(model, entry, request, run.latent.cloned(), run.format)?;
    let RunSetup {
        plan,
        writer,
        provenance,
        header,
    } = setup;
    let (workers, intra) = model.workers(&plan, request.thread_count());
    let factory = || model.generator(&plan, backend, intra);
    let target = WriteTarget {
        dir: run.dir,
        writer: writer.as_ref(),
        header,
        manifest_name: manifest_name(request.shard.map(|s| (s.index, s.count))),
        image_range: model.image_range(),
        mask_range: model.mask_range(),
        provenance,
        digits: index_digits(request.num_samples),
        mode: request.mode,
        pack: request.pack,
    };
    let indices = plan.indices();
    progress.begin(
        &format!("generate {}", model.id()),
        Some(indices.end - indices.start),
    );
    let make_batch = |b: usize| plan.batch(b);
    let summary = write_run(
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

/// What every run of a model writes with, checked and resolved once: the plan, the format's
/// writer, the provenance its samples carry and the manifest header built from it. A run into
/// a folder and a run packed by another engine ([`super::PackedRun`]) both start here.
pub(super) struct RunSetup {
    /// The run resolved against the model.
    pub plan: RunPlan,
    /// The format's writer.
    pub writer: Box<dyn SampleWriter>,
    /// What the samples' files carry.
    pub provenance: Provenance,
    /// The manifest's first line.
    pub header: ManifestHeader,
}

impl RunSetup {
    /// Checks `request` and `format` against `model` (catalogue entry `entry`) and resolves
    /// the run; `latent` is given to every sample instead of the one drawn from its seed.
    pub fn prepare(
        model: &Model,
        entry: &ModelEntry,
        request: &GenerateRequest,
        latent: Option<Arc<Vec<f32>>>,
        format: Format,
    ) -> crate::Result<RunSetup> {
        request.check()?;
        format.check_built()?;
        let writer = format.writer();
        model.check_format(writer.as_ref())?;
        let (modality, spacing) = model.imaging(entry)?;
        let plan = model.plan(request, latent)?;
        // A model conditioned on the spacing writes the spacing it was given.
        let spacing = plan.diffusion().and_then(|d| d.spacing.clone()).or(spacing);
        let provenance = Provenance {
            model_id: model.id().to_string(),
            model_version: model.version().map(String::from),
            package_sha256: model.package_sha256().to_string(),
            run_seed: request.seed,
            modality,
            spacing,
        };
        let mut arguments = model.manifest_arguments(request, &plan);
        if let Some(pack) = request.pack {
            pack.record(&mut arguments);
        }
        let header = manifest_header(
            &provenance,
            request,
            format,
            writer.value_mapping(model.image_range()),
            arguments,
        );
        Ok(RunSetup {
            plan,
            writer,
            provenance,
            header,
        })
    }
}

/// The manifest header of a run whose samples carry `provenance`: the model's facts come from
/// it, not from a second copy.
fn manifest_header(
    provenance: &Provenance,
    request: &GenerateRequest,
    format: Format,
    value_mapping: Option<String>,
    arguments: serde_json::Value,
) -> ManifestHeader {
    ManifestHeader {
        tool: concat!("medigan-rs ", env!("CARGO_PKG_VERSION")).to_string(),
        model_id: provenance.model_id.clone(),
        model_version: provenance.model_version.clone(),
        package_sha256: provenance.package_sha256.clone(),
        seed: provenance.run_seed,
        num_samples: request.num_samples,
        shard: request.shard.map(|s| s.to_string()),
        format: format.name().to_string(),
        value_mapping,
        arguments,
    }
}
