//! One batch from noise to samples: the denoiser run once per step (twice per sample with
//! guidance, in one call), the scheduler advancing the samples, the decoder at the end.

use crate::error::OptionName;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ndarray::{ArrayD, Axis, IxDyn};

use medigan_diffusion::Scheduler;

use super::noise::{StepNoise, initial_noise};
use super::trajectory::Capture;
use super::{DiffusionRun, DiffusionSetup};
use crate::catalog::{ClassEncoding, ConditioningKind, TimestepType};
use crate::generate::{GenerateError, Generator, SampleRequest, StepWatch, Unwatched};
use crate::runtime::{BackendKind, NamedOutput, NamedTensor, Session, SessionOptions};
use crate::sample::Sample;

/// A diffusion sampler over open sessions of the denoiser (and decoder).
pub struct DiffusionGenerator {
    setup: Arc<DiffusionSetup>,
    run: DiffusionRun,
    denoiser: Box<dyn Session>,
    decoder: Option<Box<dyn Session>>,
    /// Time spent in the graphs' `Session::run` during the current batch (for the per-batch
    /// debug line comparing it with the batch's total time).
    graph_time: Duration,
}

impl std::fmt::Debug for DiffusionGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiffusionGenerator")
            .field("model", &self.setup.model)
            .field("run", &self.run)
            .finish()
    }
}

impl DiffusionGenerator {
    /// A sampler for `run` over open sessions.
    pub fn new(
        setup: Arc<DiffusionSetup>,
        run: DiffusionRun,
        denoiser: Box<dyn Session>,
        decoder: Option<Box<dyn Session>>,
    ) -> Self {
        DiffusionGenerator {
            setup,
            run,
            denoiser,
            decoder,
            graph_time: Duration::ZERO,
        }
    }

    /// A sampler for `run` over sessions opened here (`intra_threads` threads each, on
    /// `backend`, `None`: the default one), for a caller that keeps one sampler and changes its
    /// run ([`set_run`](Self::set_run)), as the visualiser does.
    pub fn open(
        setup: Arc<DiffusionSetup>,
        run: DiffusionRun,
        backend: Option<BackendKind>,
        intra_threads: usize,
    ) -> Result<Self, GenerateError> {
        let options = SessionOptions {
            backend,
            intra_threads: Some(intra_threads),
            ..SessionOptions::default()
        };
        let denoiser =
            crate::runtime::open_session(&setup.denoiser.0, &setup.denoiser.1, &options)?.session;
        let decoder = match &setup.decoder {
            Some((graph, spec)) => {
                Some(crate::runtime::open_session(graph, spec, &options)?.session)
            }
            None => None,
        };
        Ok(DiffusionGenerator::new(setup, run, denoiser, decoder))
    }

    /// The run's choices (steps, scheduler, guidance).
    pub fn run(&self) -> &DiffusionRun {
        &self.run
    }

    /// Samples with other choices from now on (resolved by [`DiffusionSetup::resolve`]); the
    /// sessions stay open.
    pub fn set_run(&mut self, run: DiffusionRun) {
        self.run = run;
    }

    /// The package's set-up.
    pub fn setup(&self) -> &Arc<DiffusionSetup> {
        &self.setup
    }

    /// Gives the sessions back (to keep them for a later run).
    pub fn into_sessions(self) -> (Box<dyn Session>, Option<Box<dyn Session>>) {
        (self.denoiser, self.decoder)
    }

    pub(super) fn scheduler(&self) -> Result<Box<dyn Scheduler>, GenerateError> {
        let name = self.run.scheduler_choice.as_deref();
        self.setup
            .scheduler(name, self.run.steps)
            .map_err(|e| GenerateError::Diffusion {
                model: self.setup.model.clone(),
                what: &[OptionName::Scheduler, OptionName::Steps],
                reason: e.to_string(),
            })
    }

    /// The final latents (or samples) of a batch: noise, then every step (reported to
    /// `watch`, which may stop the batch between steps); `capture` keeps the predicted clean
    /// sample of the steps it wants (it changes nothing else).
    pub(super) fn denoise(
        &mut self,
        batch: &[SampleRequest],
        watch: &dyn StepWatch,
        mut capture: Option<&mut Capture>,
    ) -> Result<Vec<f32>, GenerateError> {
        let len = self.setup.noise_len();
        let mut sample = initial_noise(batch, len);
        if sample.len() != batch.len() * len {
            return Err(GenerateError::BadRequest {
                what: "initial noise",
                reason: format!("each sample needs {len} values"),
            });
        }
        let mut scheduler = self.scheduler()?;
        let sigma = scheduler.init_noise_sigma();
        if sigma != 1.0 {
            sample.iter_mut().for_each(|v| *v *= sigma);
        }
        let mut noise = StepNoise::new(batch);
        let classes = self.classes(batch);
        let timesteps = scheduler.timesteps().to_vec();
        let mut model_input = vec![0f32; sample.len()];
        for (step, &timestep) in timesteps.iter().enumerate() {
            if watch.should_stop() {
                return Err(GenerateError::Cancelled);
            }
            scheduler.scale_model_input(step, &sample, &mut model_input);
            let output = self.predict(&model_input, timestep, classes.as_deref(), batch.len())?;
            let before = capture
                .as_deref()
                .filter(|c| c.wants(step))
                .map(|_| sample.clone());
            scheduler
                .step(step, &output, &mut sample, len, &mut noise)
                .map_err(|e| GenerateError::Worker(format!("scheduler step {step}: {e}")))?;
            if let (Some(capture), Some(before)) = (capture.as_deref_mut(), before) {
                capture.record(step, timestep, scheduler.as_ref(), &before, &output);
            }
            watch.step(step + 1, timesteps.len());
        }
        Ok(sample)
    }

    /// The class index of each sample, for a conditional model.
    fn classes(&self, batch: &[SampleRequest]) -> Option<Vec<usize>> {
        self.setup
            .class
            .as_ref()
            .map(|_| batch.iter().map(|r| r.class.unwrap_or(0)).collect())
    }

    /// The denoiser's (guided) prediction for the batch at `timestep`.
    fn predict(
        &mut self,
        input: &[f32],
        timestep: f32,
        classes: Option<&[usize]>,
        batch: usize,
    ) -> Result<Vec<f32>, GenerateError> {
        let conditional = classes.is_some() || self.setup.prompts.is_some();
        let guidance = self
            .run
            .guidance
            .filter(|_| self.run.guided() && conditional);
        let rows = if guidance.is_some() { 2 * batch } else { batch };
        let classes: Option<Vec<usize>> = classes.map(|classes| {
            let null = self.setup.spec.null_class.unwrap_or(0);
            let nulls = classes.iter().map(|_| null).take(rows - batch);
            classes.iter().copied().chain(nulls).collect()
        });
        let mut values = input.to_vec();
        if rows > batch {
            values.extend_from_slice(input);
        }
        let spec = &self.setup.spec;
        let mut inputs = vec![NamedTensor::f32(
            &spec.denoiser.sample,
            batched_array(rows, &spec.noise.shape, values)?,
        )];
        inputs.push(timestep_tensor(
            &spec.denoiser.timestep,
            spec.denoiser.timestep_type,
            timestep,
            rows,
        ));
        if let (Some(class), Some(classes)) = (&self.setup.class, &classes) {
            inputs.push(class_tensor(class, classes));
        }
        for input in &spec.conditioning {
            let array = match input.kind {
                ConditioningKind::Spacing => {
                    let values = self.run.spacing.as_deref().unwrap_or(&[]);
                    let row: Vec<f32> = values.iter().map(|v| (v * input.scale) as f32).collect();
                    ArrayD::from_shape_fn(IxDyn(&[rows, row.len()]), |i| row[i[1]])
                }
                ConditioningKind::Prompt => self.prompt_tensor(batch, rows)?,
            };
            inputs.push(NamedTensor::f32(&input.name, array));
        }
        let started = Instant::now();
        let outputs = self.denoiser.run(&inputs);
        self.graph_time += started.elapsed();
        let outputs = outputs?;
        let prediction = take_output(outputs, &spec.denoiser.output, rows * input.len() / batch)?;
        Ok(match guidance {
            Some(scale) if rows > batch => {
                let (conditional, unconditional) = prediction.split_at(input.len());
                let scale = scale as f32;
                unconditional
                    .iter()
                    .zip(conditional)
                    .map(|(u, c)| u + scale * (c - u))
                    .collect()
            }
            _ => prediction,
        })
    }

    /// The text embeddings of `rows` rows: the run's prompt for the batch's samples, the empty
    /// prompt's for the unconditional rows of guidance (`rows - batch` of them).
    fn prompt_tensor(&self, batch: usize, rows: usize) -> Result<ArrayD<f32>, GenerateError> {
        let table = self.setup.prompts.as_ref().ok_or_else(|| {
            GenerateError::Worker("a prompt input without prompt embeddings".into())
        })?;
        let prompt = self.run.prompt.as_deref().unwrap_or_default();
        let row = table.find(prompt).ok_or_else(|| GenerateError::Diffusion {
            model: self.setup.model.clone(),
            what: &[OptionName::Prompt],
            reason: format!("{prompt:?} is not one of the model's prompts"),
        })?;
        let mut values = Vec::with_capacity(rows * table.row_len());
        for r in 0..rows {
            let row = if r < batch { row } else { table.prompts.len() };
            values.extend_from_slice(table.row(row));
        }
        let [tokens, width] = table.shape;
        ArrayD::from_shape_vec(IxDyn(&[rows, tokens, width]), values)
            .map_err(|e| GenerateError::Worker(format!("tensor shape: {e}")))
    }

    /// The samples of the final latents: decoded by the decoder graph, or the latents
    /// themselves for a pixel-space model.
    pub(super) fn decode(
        &mut self,
        latents: Vec<f32>,
        batch: usize,
    ) -> Result<ArrayD<f32>, GenerateError> {
        let spec = &self.setup.spec;
        let (Some(decoder), Some(session)) = (&spec.decoder, self.decoder.as_mut()) else {
            return batched_array(batch, &self.setup.image.shape, latents);
        };
        let scale = decoder.scaling_factor as f32;
        let shift = decoder.shift_factor as f32;
        let scaled: Vec<f32> = latents.iter().map(|v| v / scale + shift).collect();
        if let (Some(plan), Some(window)) = (&self.setup.windows, &decoder.sliding_window) {
            let channels = spec.noise.shape[0];
            let out_channels = self.setup.image.shape.first().copied().unwrap_or(1);
            let roi = [&[channels][..], &plan.roi].concat();
            let expected = batch * out_channels * plan.window.iter().product::<usize>();
            let graph_time = &mut self.graph_time;
            let mut run = |values: Vec<f32>| {
                let input = NamedTensor::f32(&decoder.input, batched_array(batch, &roi, values)?);
                let started = Instant::now();
                let outputs = session.run(&[input]);
                *graph_time += started.elapsed();
                take_output(outputs?, &decoder.output, expected)
            };
            let values = super::sliding_window::decode(
                &scaled,
                batch,
                channels,
                out_channels,
                plan,
                window,
                &mut run,
            )?;
            return batched_array(batch, &self.setup.image.shape, values);
        }
        let input = NamedTensor::f32(
            &decoder.input,
            batched_array(batch, &spec.noise.shape, scaled)?,
        );
        let started = Instant::now();
        let outputs = session.run(&[input]);
        self.graph_time += started.elapsed();
        let outputs = outputs?;
        let expected = batch * self.setup.image.sample_len();
        let values = take_output(outputs, &decoder.output, expected)?;
        batched_array(batch, &self.setup.image.shape, values)
    }
}

impl Generator for DiffusionGenerator {
    fn generate(&mut self, batch: &[SampleRequest]) -> Result<Vec<Sample>, GenerateError> {
        self.generate_watched(batch, &Unwatched)
    }

    fn generate_watched(
        &mut self,
        batch: &[SampleRequest],
        watch: &dyn StepWatch,
    ) -> Result<Vec<Sample>, GenerateError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        self.graph_time = Duration::ZERO;
        let latents = self.denoise(batch, watch, None)?;
        let samples = self.finish(batch, latents)?;
        let total = started.elapsed();
        let graph = self.graph_time;
        tracing::debug!(
            target: "medigan::diffusion::timing",
            batch = batch.len(),
            steps = self.run.steps,
            total_us = total.as_micros() as u64,
            graph_us = graph.as_micros() as u64,
            outside_us = total.saturating_sub(graph).as_micros() as u64,
            "diffusion batch timing"
        );
        Ok(samples)
    }
}

impl DiffusionGenerator {
    /// The samples of a batch's final latents: decoded, with their seeds and labels.
    pub(super) fn finish(
        &mut self,
        batch: &[SampleRequest],
        latents: Vec<f32>,
    ) -> Result<Vec<Sample>, GenerateError> {
        let mut images = self.decode(latents, batch.len())?;
        // As diffusers' pipelines do: the last step may overshoot the data range.
        let [low, high] = self.setup.image.range.map(|v| v as f32);
        images.mapv_inplace(|v| v.clamp(low, high));
        let names = self.setup.class.as_ref().map(|c| c.class_names());
        Ok(batch
            .iter()
            .zip(images.axis_iter(Axis(0)))
            .map(|(request, image)| Sample {
                index: request.index,
                seed: request.seed,
                image: image.to_owned(),
                mask: None,
                label: request
                    .class
                    .zip(names)
                    .and_then(|(c, names)| names.get(c).cloned()),
            })
            .collect())
    }
}

fn batched_array(
    batch: usize,
    shape: &[usize],
    values: Vec<f32>,
) -> Result<ArrayD<f32>, GenerateError> {
    let dims: Vec<usize> = std::iter::once(batch)
        .chain(shape.iter().copied())
        .collect();
    ArrayD::from_shape_vec(IxDyn(&dims), values)
        .map_err(|e| GenerateError::Worker(format!("tensor shape: {e}")))
}

/// The timestep of every row, as the denoiser's input type (int64 rounds a discrete timestep).
fn timestep_tensor(name: &str, kind: TimestepType, timestep: f32, rows: usize) -> NamedTensor {
    match kind {
        TimestepType::Int64 => NamedTensor::i64(
            name,
            ArrayD::from_elem(IxDyn(&[rows]), timestep.round() as i64),
        ),
        TimestepType::Float32 => {
            NamedTensor::f32(name, ArrayD::from_elem(IxDyn(&[rows]), timestep))
        }
    }
}

fn class_tensor(class: &crate::catalog::InputSpec, classes: &[usize]) -> NamedTensor {
    match class.encoding.unwrap_or_default() {
        ClassEncoding::Index => NamedTensor::i64(
            &class.name,
            ArrayD::from_shape_fn(IxDyn(&[classes.len()]), |i| classes[i[0]] as i64),
        ),
        ClassEncoding::OneHot => {
            let count = class.class_names().len();
            let mut values = ArrayD::zeros(IxDyn(&[classes.len(), count]));
            for (row, &c) in classes.iter().enumerate() {
                if c < count {
                    values[[row, c]] = 1.0;
                }
            }
            NamedTensor::f32(&class.name, values)
        }
    }
}

/// The values of output `name`, checked to hold `expected` values.
fn take_output(
    outputs: Vec<NamedOutput>,
    name: &str,
    expected: usize,
) -> Result<Vec<f32>, GenerateError> {
    let output = outputs
        .into_iter()
        .find(|o| o.name == name)
        .ok_or_else(|| GenerateError::Worker(format!("the graph gave no output `{name}`")))?;
    if output.data.len() != expected {
        return Err(GenerateError::Worker(format!(
            "output `{name}` holds {} values, expected {expected}",
            output.data.len()
        )));
    }
    // The backends give standard-layout arrays: take their buffer as it is (iterating an
    // `IxDyn` array element by element cost ~2% of the denoiser's time).
    if output.data.is_standard_layout() {
        let (values, offset) = output.data.into_raw_vec_and_offset();
        if offset.unwrap_or(0) == 0 && values.len() == expected {
            return Ok(values);
        }
        return Ok(values[offset.unwrap_or(0)..][..expected].to_vec());
    }
    Ok(output.data.iter().copied().collect())
}
