//! The generator of native packages: draws each sample's inputs from its seed, runs the graph
//! in batches, and splits the outputs into samples.

use ndarray::{ArrayD, Axis, IxDyn, concatenate};

use super::{GenerateError, Generator, SampleRequest};
use crate::catalog::{ClassEncoding, InputKind, InputSpec, OnnxSpec, OutputKind, OutputSpec};
use crate::runtime::{NamedOutput, NamedTensor, Session, TensorData};
use crate::sample::{Sample, SampleRng};

/// A native (ONNX) generator: a declaration and a session of one backend.
pub struct OnnxGenerator {
    model: String,
    spec: OnnxSpec,
    session: Box<dyn Session>,
    /// Whether non-finite outputs were reported already (once per generator).
    warned_non_finite: std::sync::atomic::AtomicBool,
    /// Notes not yet taken ([`Generator::take_notes`]).
    notes: std::sync::Mutex<Vec<String>>,
}

impl std::fmt::Debug for OnnxGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxGenerator")
            .field("model", &self.model)
            .field("backend", &self.session.backend())
            .finish()
    }
}

/// How a request conditions a model: the class it asks for, checked against the declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampleConditioning {
    /// The model has no class input.
    None,
    /// Every sample gets this class index.
    Fixed(usize),
    /// Each sample draws its class from its seed.
    Drawn(usize),
}

impl SampleConditioning {
    /// Resolves `label` against the model's class input.
    pub fn resolve(
        model: &str,
        spec: &OnnxSpec,
        label: Option<&str>,
    ) -> Result<Self, GenerateError> {
        let classes = spec.input(InputKind::Class).map(InputSpec::class_names);
        match (classes, label) {
            (None, None) => Ok(SampleConditioning::None),
            (None, Some(label)) => Err(GenerateError::NotConditional {
                model: model.to_string(),
                label: label.to_string(),
            }),
            (Some(classes), None) => Ok(SampleConditioning::Drawn(classes.len())),
            (Some(classes), Some(label)) => classes
                .iter()
                .position(|c| c == label)
                .or_else(|| classes.iter().position(|c| c.eq_ignore_ascii_case(label)))
                .map(SampleConditioning::Fixed)
                .ok_or_else(|| GenerateError::UnknownLabel {
                    model: model.to_string(),
                    label: label.to_string(),
                    classes: classes.to_vec(),
                }),
        }
    }

    /// The class of the sample with this seed.
    pub fn class_for(&self, seed: u64) -> Option<usize> {
        match *self {
            SampleConditioning::None => None,
            SampleConditioning::Fixed(class) => Some(class),
            SampleConditioning::Drawn(count) => {
                let mut rng = SampleRng::new(seed ^ 0xC1A5_5E5E_C1A5_5E5E);
                let u = rng.draw(1, crate::catalog::Distribution::Uniform, None)[0];
                let class = (((u + 1.0) / 2.0) * count as f32) as usize;
                Some(class.min(count.saturating_sub(1)))
            }
        }
    }
}

impl OnnxGenerator {
    /// A generator over an open session.
    pub fn new(model: impl Into<String>, spec: OnnxSpec, session: Box<dyn Session>) -> Self {
        OnnxGenerator {
            model: model.into(),
            spec,
            session,
            warned_non_finite: std::sync::atomic::AtomicBool::new(false),
            notes: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// A generator that says `note` with its first notes (how its session was opened).
    pub fn with_note(self, note: Option<String>) -> Self {
        if let (Some(note), Ok(mut notes)) = (note, self.notes.lock()) {
            notes.push(note);
        }
        self
    }

    /// Gives the session back (to keep it for a later run).
    pub fn into_session(self) -> Box<dyn Session> {
        self.session
    }

    fn inputs(&self, batch: &[SampleRequest]) -> Result<Vec<NamedTensor>, GenerateError> {
        let mut draws: Vec<SampleRng> = batch.iter().map(|r| SampleRng::new(r.seed)).collect();
        let mut inputs = self
            .spec
            .inputs
            .iter()
            .map(|input| self.input_tensor(input, batch, &mut draws))
            .collect::<Result<Vec<_>, _>>()?;
        if batch.iter().any(|r| r.latent.is_some()) {
            self.set_given_latents(&mut inputs, batch)?;
        }
        Ok(inputs)
    }

    /// Replaces the drawn latent of each sample that was given one (its other inputs, drawn
    /// after the latent from the same stream, stay as they are).
    fn set_given_latents(
        &self,
        inputs: &mut [NamedTensor],
        batch: &[SampleRequest],
    ) -> Result<(), GenerateError> {
        let bad = |reason: String| GenerateError::BadRequest {
            what: "latent",
            reason,
        };
        let position = latent_position(&self.spec)
            .ok_or_else(|| bad(format!("{} has no latent input", self.model)))?;
        let spec = &self.spec.inputs[position];
        let len = spec.sample_len();
        let mut values: Vec<f32> = match &inputs[position].data {
            TensorData::F32(drawn) => drawn.iter().copied().collect(),
            TensorData::I64(_) => {
                return Err(bad(format!("{}: the latent is not float", self.model)));
            }
        };
        for (i, request) in batch.iter().enumerate() {
            let Some(latent) = &request.latent else {
                continue;
            };
            if latent.len() != len {
                return Err(bad(format!(
                    "{} values given; the latent input `{}` of {} has {len}",
                    latent.len(),
                    spec.name,
                    self.model,
                )));
            }
            values[i * len..(i + 1) * len].copy_from_slice(latent);
        }
        let shape = batched(batch.len(), spec.shape.as_deref().unwrap_or(&[]));
        inputs[position] = NamedTensor::f32(&spec.name, array(shape, values)?);
        Ok(())
    }

    fn input_tensor(
        &self,
        input: &InputSpec,
        batch: &[SampleRequest],
        draws: &mut [SampleRng],
    ) -> Result<NamedTensor, GenerateError> {
        let shape = batched(batch.len(), input.shape.as_deref().unwrap_or(&[]));
        match input.kind {
            InputKind::Latent | InputKind::Noise => {
                let distribution = input.distribution.unwrap_or_default();
                let values: Vec<f32> = draws
                    .iter_mut()
                    .flat_map(|rng| rng.draw(input.sample_len(), distribution, input.truncation))
                    .collect();
                Ok(NamedTensor::f32(&input.name, array(shape, values)?))
            }
            InputKind::Class => Ok(self.class_tensor(input, batch)),
            InputKind::Image | InputKind::Mask => {
                let views = batch
                    .iter()
                    .map(|r| {
                        r.input
                            .as_ref()
                            .map(|a| a.view().insert_axis(Axis(0)))
                            .ok_or_else(|| GenerateError::MissingInput {
                                model: self.model.clone(),
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let stacked =
                    concatenate(Axis(0), &views).map_err(|e| GenerateError::BadRequest {
                        what: "input images",
                        reason: e.to_string(),
                    })?;
                Ok(NamedTensor::f32(&input.name, stacked))
            }
        }
    }

    fn class_tensor(&self, input: &InputSpec, batch: &[SampleRequest]) -> NamedTensor {
        let classes = batch.iter().map(|r| r.class.unwrap_or(0));
        match input.encoding.unwrap_or_default() {
            ClassEncoding::Index => {
                let values: Vec<i64> = classes.map(|c| c as i64).collect();
                NamedTensor::i64(
                    &input.name,
                    ArrayD::from_shape_vec(IxDyn(&[batch.len()]), values).expect("one per sample"),
                )
            }
            ClassEncoding::OneHot => {
                let count = input.class_names().len();
                let mut values = vec![0f32; batch.len() * count];
                for (i, c) in classes.enumerate() {
                    values[i * count + c.min(count.saturating_sub(1))] = 1.0;
                }
                NamedTensor::f32(
                    &input.name,
                    ArrayD::from_shape_vec(IxDyn(&[batch.len(), count]), values)
                        .expect("one-hot rows"),
                )
            }
        }
    }

    fn split(
        &self,
        outputs: Vec<NamedOutput>,
        batch: &[SampleRequest],
    ) -> Result<Vec<Sample>, GenerateError> {
        let image = self.output_arrays(&outputs, OutputKind::Image, batch.len())?;
        let mask = self.output_arrays(&outputs, OutputKind::Mask, batch.len())?;
        let labels = self
            .spec
            .input(InputKind::Class)
            .map(InputSpec::class_names);
        let mut masks = mask.map(Vec::into_iter);
        let samples = batch
            .iter()
            .zip(image.unwrap_or_default())
            .map(|(request, image)| Sample {
                index: request.index,
                seed: request.seed,
                image,
                mask: masks.as_mut().and_then(Iterator::next),
                label: request
                    .class
                    .zip(labels)
                    .and_then(|(c, names)| names.get(c).cloned()),
            })
            .collect();
        Ok(samples)
    }

    /// The per-sample arrays of the first output of `kind`, if the model declares one.
    fn output_arrays(
        &self,
        outputs: &[NamedOutput],
        kind: OutputKind,
        batch: usize,
    ) -> Result<Option<Vec<ArrayD<f32>>>, GenerateError> {
        let Some(spec) = self.spec.output(kind) else {
            return Ok(None);
        };
        let data = outputs
            .iter()
            .find(|o| o.name == spec.name)
            .map(|o| &o.data)
            .ok_or_else(|| self.shape_error(spec, vec![]))?;
        if data.shape() != batched(batch, &spec.shape).as_slice() {
            return Err(self.shape_error(spec, data.shape().to_vec()));
        }
        self.report_non_finite(spec, data);
        Ok(Some(
            data.axis_iter(Axis(0)).map(|a| a.to_owned()).collect(),
        ))
    }

    /// Notes (once per generator) when an output holds NaN or infinite values: the writers
    /// store them as their format can (float formats keep them, 8/16-bit ones cannot), so the
    /// user must hear of it (issue #14, defect 21).
    fn report_non_finite(&self, spec: &OutputSpec, data: &ArrayD<f32>) {
        let bad = data.iter().filter(|v| !v.is_finite()).count();
        if bad == 0
            || self
                .warned_non_finite
                .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let note = format!(
            "model `{}` gave {bad} NaN or infinite values (of {}) in output `{}`; the samples hold \
             them as their format can: check the model, its inputs and its declared range",
            self.model,
            data.len(),
            spec.name
        );
        if let Ok(mut notes) = self.notes.lock() {
            notes.push(note);
        }
    }

    fn shape_error(&self, spec: &OutputSpec, got: Vec<usize>) -> GenerateError {
        GenerateError::OutputShape {
            model: self.model.clone(),
            output: spec.name.clone(),
            got,
            expected: spec.shape.clone(),
        }
    }
}

impl OnnxGenerator {
    /// Generates one sample whose latent input (the first input of kind `latent`) holds
    /// `latent` instead of the values drawn from the sample's seed; every other input is
    /// made as usual. With [`seeded_latent`] as the start, this is how the visualiser moves
    /// through a model's latent space.
    pub fn generate_with_latent(
        &mut self,
        request: &SampleRequest,
        latent: &[f32],
    ) -> Result<Sample, GenerateError> {
        let mut request = request.clone();
        request.latent = Some(std::sync::Arc::new(latent.to_vec()));
        self.generate(std::slice::from_ref(&request))?
            .pop()
            .ok_or_else(|| GenerateError::Worker("the graph returned no sample".into()))
    }
}

/// Index of the first latent input of a declaration.
fn latent_position(spec: &OnnxSpec) -> Option<usize> {
    spec.inputs.iter().position(|i| i.kind == InputKind::Latent)
}

/// The values a sample with seed `seed` feeds to the model's first latent input: exactly what
/// generation draws for it (random inputs are drawn in declaration order from one stream).
/// `None` when the model has no latent input.
pub fn seeded_latent(spec: &OnnxSpec, seed: u64) -> Option<Vec<f32>> {
    let position = latent_position(spec)?;
    let mut rng = SampleRng::new(seed);
    let mut values = Vec::new();
    for input in &spec.inputs[..=position] {
        if matches!(input.kind, InputKind::Latent | InputKind::Noise) {
            values = rng.draw(
                input.sample_len(),
                input.distribution.unwrap_or_default(),
                input.truncation,
            );
        }
    }
    Some(values)
}

impl Generator for OnnxGenerator {
    fn generate(&mut self, batch: &[SampleRequest]) -> Result<Vec<Sample>, GenerateError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let inputs = self.inputs(batch)?;
        let outputs = self.session.run(&inputs)?;
        self.split(outputs, batch)
    }

    fn take_notes(&mut self) -> Vec<String> {
        self.notes.get_mut().map(std::mem::take).unwrap_or_default()
    }
}

fn batched(batch: usize, shape: &[usize]) -> Vec<usize> {
    std::iter::once(batch)
        .chain(shape.iter().copied())
        .collect()
}

fn array(shape: Vec<usize>, values: Vec<f32>) -> Result<ArrayD<f32>, GenerateError> {
    ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(|e| GenerateError::BadRequest {
        what: "input shape",
        reason: e.to_string(),
    })
}
