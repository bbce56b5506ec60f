//! `--initial-noise FILE.npy`: the initial noise of every sample of a diffusion run, given
//! instead of drawn (to reproduce a sample made by another tool, or for golden tests).

use crate::error::OptionName;
use ndarray::{ArrayD, IxDyn};

use crate::generate::{GenerateError, GenerateRequest};

/// The rows of the noise file of `request`, `[num_samples, len]`, checked against the run:
/// float32, one row per sample of the whole run, `len` values per row. `None` without a file.
pub fn read_rows(
    model: &str,
    request: &GenerateRequest,
    len: usize,
) -> Result<Option<ArrayD<f32>>, GenerateError> {
    let Some(path) = &request.initial_noise else {
        return Ok(None);
    };
    let bad = |reason: String| GenerateError::Diffusion {
        model: model.to_string(),
        what: &[OptionName::InitialNoise],
        reason: format!("{}: {reason}", path.display()),
    };
    let expected = (request.num_samples as usize).saturating_mul(len);
    let limit = (expected as u64).saturating_mul(4).saturating_add(1 << 16);
    let size = std::fs::metadata(path)
        .map_err(|e| bad(e.to_string()))?
        .len();
    if size > limit {
        return Err(bad(format!(
            "{size} bytes, more than {} samples of {len} float32 values need",
            request.num_samples
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let (array, _) = crate::formats::npy::decode(&bytes).map_err(|e| bad(e.to_string()))?;
    let rows = array.shape().first().copied().unwrap_or(0);
    let per_row: usize = array.shape().iter().skip(1).product();
    if rows as u64 != request.num_samples || per_row != len || array.ndim() < 2 {
        return Err(bad(format!(
            "shape {:?}; expected float32 [{}, ...] with {len} values per row (one row per \
             sample of the whole run, shaped like the model's noise)",
            array.shape(),
            request.num_samples
        )));
    }
    if let Some(v) = array.iter().find(|v| !v.is_finite()) {
        return Err(bad(format!("holds a non-finite value ({v})")));
    }
    let values: Vec<f32> = array.into_iter().collect();
    ArrayD::from_shape_vec(IxDyn(&[rows, len]), values)
        .map(Some)
        .map_err(|e| bad(e.to_string()))
}
