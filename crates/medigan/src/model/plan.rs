//! What every sample of a run needs, resolved once for any model kind: indices, seeds, class,
//! input images, a fixed latent, and a legacy package's call arguments.

use crate::error::OptionName;
use std::ops::Range;
use std::sync::Arc;

use ndarray::ArrayD;

use super::NativeModel;
use crate::catalog::InputKind;
use crate::diffusion::DiffusionRun;
use crate::generate::{self, GenerateError, GenerateRequest, SampleConditioning, SampleRequest};
use crate::legacy::LegacyCall;
use crate::sample::sample_seed;

/// A run resolved against its model: sample `i` of the plan is the same whatever the batch,
/// thread count or shard.
#[derive(Debug)]
pub struct RunPlan {
    seed: u64,
    indices: Range<u64>,
    batch_size: usize,
    conditioning: SampleConditioning,
    inputs: Vec<Arc<ArrayD<f32>>>,
    latent: Option<Arc<Vec<f32>>>,
    /// Given initial noise: one row per sample index of the whole run.
    noise_rows: Option<Arc<ArrayD<f32>>>,
    pub(super) call: Option<Arc<LegacyCall>>,
    /// A diffusion model's steps, scheduler and guidance.
    pub(super) diffusion: Option<DiffusionRun>,
}

impl RunPlan {
    /// The plan of a native model: no options, the label checked against the class input,
    /// the input images read.
    pub(super) fn native(
        model: &NativeModel,
        request: &GenerateRequest,
        latent: Option<Arc<Vec<f32>>>,
    ) -> crate::Result<Self> {
        if let Some(key) = request.options.keys().next() {
            return Err(GenerateError::UnknownOption {
                model: model.id.clone(),
                key: key.clone(),
            }
            .into());
        }
        let conditioning =
            SampleConditioning::resolve(&model.id, &model.spec, request.label.as_deref())?;
        let (diffusion, noise_rows) = match &model.diffusion {
            Some(setup) => (
                Some(setup.resolve(&request.diffusion)?),
                super::noise_file::read_rows(&model.id, request, setup.noise_len())?.map(Arc::new),
            ),
            None => {
                refuse_diffusion_options(&model.id, request)?;
                (None, None)
            }
        };
        Ok(RunPlan {
            conditioning,
            inputs: load_inputs(model, request)?,
            diffusion,
            noise_rows,
            ..RunPlan::basic(request, latent, None)
        })
    }

    /// The plan of a legacy model: its options, input folder and label are in `call`.
    pub(super) fn legacy(
        request: &GenerateRequest,
        latent: Option<Arc<Vec<f32>>>,
        call: LegacyCall,
    ) -> Self {
        RunPlan::basic(request, latent, Some(Arc::new(call)))
    }

    fn basic(
        request: &GenerateRequest,
        latent: Option<Arc<Vec<f32>>>,
        call: Option<Arc<LegacyCall>>,
    ) -> Self {
        RunPlan {
            seed: request.seed,
            indices: request.indices(),
            batch_size: request.batch_size,
            conditioning: SampleConditioning::None,
            inputs: Vec::new(),
            latent,
            noise_rows: None,
            call,
            diffusion: None,
        }
    }

    /// The diffusion choices of the run, for a diffusion model.
    pub fn diffusion(&self) -> Option<&DiffusionRun> {
        self.diffusion.as_ref()
    }

    /// The sample indices of the run (or shard).
    pub fn indices(&self) -> Range<u64> {
        self.indices.clone()
    }

    /// How many batches the run has.
    pub fn batch_count(&self) -> usize {
        let count = self.indices.end - self.indices.start;
        count.div_ceil(self.batch_size as u64) as usize
    }

    /// The requests of batch `b`.
    pub fn batch(&self, b: usize) -> Vec<SampleRequest> {
        let start = self.indices.start + (b * self.batch_size) as u64;
        let end = (start + self.batch_size as u64).min(self.indices.end);
        (start..end).map(|i| self.request(i)).collect()
    }

    /// The request of sample `index`: its seed `(run seed, index)`, class, input and latent.
    pub fn request(&self, index: u64) -> SampleRequest {
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
            latent: self.noise_row(index).or_else(|| self.latent.clone()),
        }
    }

    /// The given initial noise of sample `index`, if a noise file was given.
    fn noise_row(&self, index: u64) -> Option<Arc<Vec<f32>>> {
        let rows = self.noise_rows.as_ref()?;
        let row = rows.index_axis(ndarray::Axis(0), index as usize);
        Some(Arc::new(row.iter().copied().collect()))
    }

    /// The latent every sample takes, if one was given.
    pub fn fixed_latent(&self) -> Option<&[f32]> {
        self.latent.as_deref().map(Vec::as_slice)
    }
}

/// Refuses the choices only a diffusion model takes, for a model that is not one.
pub(super) fn refuse_diffusion_options(
    model: &str,
    request: &GenerateRequest,
) -> Result<(), GenerateError> {
    let what: &'static [OptionName] = if request.initial_noise.is_some() {
        &[OptionName::InitialNoise]
    } else if request.diffusion.steps.is_some() {
        &[OptionName::Steps]
    } else if request.diffusion.scheduler.is_some() {
        &[OptionName::Scheduler]
    } else if request.diffusion.guidance.is_some() {
        &[OptionName::Guidance]
    } else if request.diffusion.spacing.is_some() {
        &[OptionName::Spacing]
    } else if request.diffusion.prompt.is_some() {
        &[OptionName::Prompt]
    } else {
        return Ok(());
    };
    Err(GenerateError::Diffusion {
        model: model.to_string(),
        what,
        reason: "it is not a diffusion model; steps, scheduler, guidance, spacing, prompt \
                 and initial noise apply only to diffusion models (`medigan list` marks them)"
            .into(),
    })
}

/// Reads the input images a native image-to-image model needs.
fn load_inputs(
    model: &NativeModel,
    request: &GenerateRequest,
) -> crate::Result<Vec<Arc<ArrayD<f32>>>> {
    let declared = model
        .spec
        .inputs
        .iter()
        .find(|i| matches!(i.kind, InputKind::Image | InputKind::Mask));
    let Some(declared) = declared else {
        if request.inputs.is_empty() {
            return Ok(Vec::new());
        }
        return Err(GenerateError::UnexpectedInput {
            model: model.id.clone(),
        }
        .into());
    };
    if request.inputs.is_empty() {
        return Err(GenerateError::MissingInput {
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
