//! A model's run into a folder, assembled: the plan, the worker split, the run's provenance
//! (one value, from which the manifest header is built) and the write target, handed to the
//! pipeline ([`super::write_run`]). The facade only delegates here.

use std::path::Path;
use std::sync::Arc;

use super::{GenerateRequest, RunSummary, WriteTarget, write_run};
use crate::catalog::ModelEntry;
use crate::model::Model;
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
    request.check()?;
    run.format.check_built()?;
    let writer = run.format.writer();
    model.check_format(writer.as_ref())?;
    let (modality, spacing) = model.imaging(entry)?;
    let plan = model.plan(request, run.latent.cloned())?;
    // A model conditioned on the spacing writes the spacing it was given.
    let spacing = plan.diffusion().and_then(|d| d.spacing.clone()).or(spacing);
    let (workers, intra) = model.workers(&plan, request.thread_count());
    let factory = || model.generator(&plan, backend, intra);
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
        run.format,
        writer.value_mapping(model.image_range()),
        arguments,
    );
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
