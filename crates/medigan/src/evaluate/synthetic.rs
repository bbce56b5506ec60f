//! What an evaluation of models takes from the layer above it ([`ModelSamples`], implemented
//! by the facade, `Generators`): the store and backend its extractor runs with, and each
//! model's generated samples. So `evaluate` knows neither the facade nor how a model is
//! loaded or run.

use crate::runtime::BackendKind;
use crate::sample::Sample;
use crate::store::Store;

use super::ImageSet;

/// The models an evaluation scores, as the layer above hands them out.
pub trait ModelSamples {
    /// The store the extractor's weights are fetched into.
    fn store(&self) -> &Store;

    /// The ONNX backend asked for (`None`: the fastest found).
    fn backend(&self) -> Option<BackendKind>;

    /// Checks that `model_id` names a model (before any weights are fetched or samples made).
    fn check_model(&self, model_id: &str) -> crate::Result<()>;

    /// The samples at `indices` of the model's seeded run of `total` samples, made as they are
    /// read (one generation batch held at a time); `label`: the class of a conditional model
    /// (`None`: each sample draws one from its seed).
    fn samples(
        &self,
        model_id: &str,
        total: u64,
        seed: u64,
        indices: Vec<u64>,
        label: Option<&str>,
    ) -> crate::Result<SyntheticSamples>;
}

/// A model's generated samples, with what scoring them needs to know of the model.
pub struct SyntheticSamples {
    /// The model's full id.
    pub model_id: String,
    /// The range of the model's sample values (`[lo, hi]`).
    pub image_range: [f64; 2],
    /// The samples, in index order.
    pub samples: Box<dyn Iterator<Item = crate::Result<Sample>>>,
}

/// Part `part` of `parts` of a run of `parts x num_samples` samples (seeded) as an image set:
/// samples `part x num_samples ..`, a seed range disjoint from every other part's.
pub fn synthetic_part(
    models: &dyn ModelSamples,
    model_id: &str,
    num_samples: u64,
    part: u64,
    parts: u64,
    seed: u64,
) -> crate::Result<ImageSet> {
    let synthetic = synthetic_stream(models, model_id, num_samples, part, parts, seed, None)?;
    let samples = synthetic.samples.collect::<Result<Vec<_>, _>>()?;
    Ok(ImageSet::from_samples(
        synthetic.model_id,
        &samples,
        synthetic.image_range,
    )?)
}

/// The samples of part `part` of `parts` (see [`synthetic_part`]) as a stream that holds one
/// generation batch.
pub(super) fn synthetic_stream(
    models: &dyn ModelSamples,
    model_id: &str,
    num_samples: u64,
    part: u64,
    parts: u64,
    seed: u64,
    label: Option<&str>,
) -> crate::Result<SyntheticSamples> {
    let indices: Vec<u64> = (part * num_samples..(part + 1) * num_samples).collect();
    models.samples(
        model_id,
        num_samples.saturating_mul(parts.max(1)),
        seed,
        indices,
        label,
    )
}
