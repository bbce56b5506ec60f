//! pyradiomics' image preparation: `RadiomicsFeatureExtractor.loadImage` (normalise, resample,
//! pre-crop) followed by `imageoperations.checkMask`, with the numeric diagnostics
//! (`generalinfo.GeneralInfo`) that `frd-score` keeps as features.
//!
//! The numerics follow SimpleITK/ITK 5.4 step by step, so that the result equals pyradiomics'
//! to the last bits wherever ITK is deterministic:
//! - `sitk.Normalize` (`NormalizeImageFilter`): mean and unbiased sigma from compensated sums,
//!   then `(x - mean) * (1 / sigma)`; its output is `Float64`, so everything after it is
//!   double precision (without normalising, the `Float32` input stays `Float32`).
//! - `resampleImage`: the output grid as pyradiomics derives it from the mask's bounding box,
//!   then ITK's `ResampleImageFilter` (its linear-transform scanline path) with the cubic
//!   `BSplineInterpolateImageFunction` for the image (coefficients from
//!   `BSplineDecompositionImageFilter` with mirror boundaries and its tolerance-limited causal
//!   initialisation; evaluation with mirrored indices) and nearest neighbour for the mask.
//!
//! Where this departs from pyradiomics (each is an error here, or a last-bit difference):
//! - a constant image cannot be normalised (pyradiomics fails later, in binning);
//! - the mask must lie on the image's grid (`correctMask` resampling is not done);
//! - `sitkLinear` is not implemented;
//! - along an oblique direction, ITK inverts the index-to-physical matrix by SVD and we by
//!   cofactors: the last bits differ, which can tip a nearest-neighbour tie of the mask
//!   (flips and axis permutations invert exactly, as in ITK);
//! - on an axis of exactly 2 voxels ITK's mirrored B-spline index can fall outside the image
//!   (ITK then reads outside its buffer); we mirror again into the image.

use ndarray::{Array3, ArrayView3};

use crate::error::RadiomicsError;
use crate::filters::crop::{BoundingBox, crop_to_mask};
use crate::settings::{Interpolator, Settings};
use crate::volume::{Geometry, Volume};

/// Most voxels a resampled grid may hold (2^27, 1 GiB of `f64`).
pub const MAX_RESAMPLED_VOXELS: usize = 1 << 27;

/// The image and mask as pyradiomics hands them to the feature classes, with the bounding box
/// of the mask and the numeric diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The image after normalising, resampling and pre-cropping.
    pub image: Volume<f64>,
    /// The mask on the same grid (`true` = the selected label).
    pub mask: Volume<bool>,
    /// The mask's bounding box on that grid (`checkMask`).
    pub bbox: BoundingBox,
    /// The numeric diagnostics in pyradiomics' order and names
    /// (`diagnostics_Image-original_Mean`, ..., `diagnostics_Mask-interpolated_Maximum`).
    pub diagnostics: Vec<(String, f64)>,
    /// Whether SimpleITK holds `image` as `Float32` (no normalising: the input type is kept);
    /// `false` once normalised (`sitk.Normalize` returns `Float64`).
    pub f32_precision: bool,
}

/// pyradiomics' `loadImage` then `checkMask` for `settings`: the image and mask ready for the
/// feature classes. `image` holds `Float32` values (as `sitk.ReadImage(path, sitkFloat32)`
/// reads them); `mask` selects the voxels of `settings.label` and must lie on the image's grid.
/// For a 2D image (`dims` 2) only the first two entries of `resampledPixelSpacing` are used.
pub fn prepare(
    image: Volume<f64>,
    mask: Volume<bool>,
    settings: &Settings,
) -> Result<Prepared, RadiomicsError> {
    check_inputs(&image, &mask, settings)?;
    let mut diagnostics = Vec::new();
    image_diagnostics(&image.data, "original", &mut diagnostics);
    mask_diagnostics(None, &mask, "original", &mut diagnostics);

    let mut image = image;
    let mut mask = mask;
    let mut f32_precision = true;
    if settings.normalize {
        normalize(
            &mut image.data,
            settings.normalize_scale,
            settings.remove_outliers,
        )?;
        f32_precision = false;
    }
    if let Some(spacing) = settings.resampled_pixel_spacing {
        (image, mask) = resample(&image, &mask, spacing, settings, f32_precision)?;
        image_diagnostics(&image.data, "interpolated", &mut diagnostics);
        mask_diagnostics(Some(&image.data), &mask, "interpolated", &mut diagnostics);
    } else if settings.pre_crop {
        let bbox = check_mask(&mask, settings)?;
        (image, mask) = crop_to_mask(&image, &mask, &bbox, settings.pad_distance);
    }
    let bbox = check_mask(&mask, settings)?;
    Ok(Prepared {
        image,
        mask,
        bbox,
        diagnostics,
        f32_precision,
    })
}

/// Shapes, geometry, values and settings that pyradiomics would reject or that are out of range.
fn check_inputs(
    image: &Volume<f64>,
    mask: &Volume<bool>,
    settings: &Settings,
) -> Result<(), RadiomicsError> {
    let g = &image.geometry;
    if g.dims != 2 && g.dims != 3 {
        return Err(RadiomicsError::Image(format!(
            "dims must be 2 or 3, got {}",
            g.dims
        )));
    }
    if image.data.is_empty() || (g.dims == 2 && image.data.shape()[0] != 1) {
        return Err(RadiomicsError::Image(format!(
            "shape {:?} does not fit a {}D image",
            image.data.shape(),
            g.dims
        )));
    }
    if g.spacing[..g.dims]
        .iter()
        .any(|s| !(s.is_finite() && *s > 0.0))
    {
        return Err(RadiomicsError::Image(format!(
            "spacing must be positive and finite, got {:?}",
            g.spacing
        )));
    }
    if g.origin
        .iter()
        .chain(g.direction.iter())
        .any(|v| !v.is_finite())
    {
        return Err(RadiomicsError::Image(
            "origin and direction must be finite".into(),
        ));
    }
    if inverse(&index_to_physical_matrix(g), g.dims).is_none() {
        return Err(RadiomicsError::Image("direction matrix is singular".into()));
    }
    if image.data.iter().any(|v| !v.is_finite()) {
        return Err(RadiomicsError::Image(
            "contains NaN or infinite values".into(),
        ));
    }
    if mask.data.shape() != image.data.shape() || mask.geometry != image.geometry {
        return Err(RadiomicsError::Mask(format!(
            "mask grid (shape {:?}, {:?}) differs from the image's (shape {:?}, {:?}); \
             resampling the mask onto the image (correctMask) is not supported",
            mask.data.shape(),
            mask.geometry,
            image.data.shape(),
            image.geometry
        )));
    }
    if !mask.data.iter().any(|&v| v) {
        return Err(RadiomicsError::Mask(format!(
            "label {} not present in the mask",
            settings.label
        )));
    }
    if !settings.normalize_scale.is_finite() {
        return Err(RadiomicsError::Setting {
            name: "normalizeScale",
            reason: format!("must be finite, got {}", settings.normalize_scale),
        });
    }
    if let Some(o) = settings.remove_outliers
        && !(o.is_finite() && o > 0.0)
    {
        return Err(RadiomicsError::Setting {
            name: "removeOutliers",
            reason: format!("must be positive, got {o}"),
        });
    }
    if let Some(sp) = settings.resampled_pixel_spacing {
        if sp[..g.dims].iter().any(|s| !(s.is_finite() && *s >= 0.0)) {
            return Err(RadiomicsError::Setting {
                name: "resampledPixelSpacing",
                reason: format!(
                    "each entry must be finite and >= 0 (0 keeps the axis), got {sp:?}"
                ),
            });
        }
        if settings.interpolator == Interpolator::Linear {
            return Err(RadiomicsError::Setting {
                name: "interpolator",
                reason: "sitkLinear is not supported; use sitkBSpline or sitkNearestNeighbor"
                    .into(),
            });
        }
    }
    if !(1..=3).contains(&settings.minimum_roi_dimensions) {
        return Err(RadiomicsError::Setting {
            name: "minimumROIDimensions",
            reason: format!("must be 1, 2 or 3, got {}", settings.minimum_roi_dimensions),
        });
    }
    Ok(())
}

/// pyradiomics' `checkMask` on a mask already on the image grid: the bounding box, then the
/// `minimumROIDimensions` and `minimumROISize` checks.
fn check_mask(mask: &Volume<bool>, settings: &Settings) -> Result<BoundingBox, RadiomicsError> {
    let bbox = BoundingBox::of(&mask.data).ok_or_else(|| {
        RadiomicsError::Mask(format!("label {} not present in the mask", settings.label))
    })?;
    let ndims = bbox.size().iter().filter(|&&n| n > 1).count();
    if ndims == 0 {
        return Err(RadiomicsError::Mask(
            "mask only contains 1 segmented voxel; features need more".into(),
        ));
    }
    if ndims < settings.minimum_roi_dimensions {
        return Err(RadiomicsError::Mask(format!(
            "mask has too few dimensions ({ndims}; minimumROIDimensions is {})",
            settings.minimum_roi_dimensions
        )));
    }
    if let Some(min) = settings.minimum_roi_size {
        let n = mask.data.iter().filter(|&&v| v).count();
        if n <= min {
            return Err(RadiomicsError::Mask(format!(
                "ROI of {n} voxels is too small (minimumROISize {min})"
            )));
        }
    }
    Ok(bbox)
}

/// `Image-<prefix>_Mean/Minimum/Maximum` over all voxels (numpy's mean of the float64 array).
fn image_diagnostics(image: &Array3<f64>, prefix: &str, out: &mut Vec<(String, f64)>) {
    let name = format!("diagnostics_Image-{prefix}");
    match image.as_slice() {
        Some(values) => push_stats(values, &name, out),
        None => push_stats(&image.iter().copied().collect::<Vec<_>>(), &name, out),
    }
}

/// `Mask-<prefix>_VoxelNum`, `_VolumeNum` (26-connected components in 3D, 8 in 2D, as
/// SimpleITK's fully connected `ConnectedComponent` counts them) and, with an image, the
/// `Mean/Minimum/Maximum` of the image inside the mask.
fn mask_diagnostics(
    image: Option<&Array3<f64>>,
    mask: &Volume<bool>,
    prefix: &str,
    out: &mut Vec<(String, f64)>,
) {
    let name = format!("diagnostics_Mask-{prefix}");
    let voxels = mask.data.iter().filter(|&&v| v).count();
    out.push((format!("{name}_VoxelNum"), voxels as f64));
    out.push((
        format!("{name}_VolumeNum"),
        connected_components(mask.data.view(), mask.geometry.dims) as f64,
    ));
    if let Some(image) = image {
        let values: Vec<f64> = image
            .iter()
            .zip(mask.data.iter())
            .filter(|&(_, &m)| m)
            .map(|(&v, _)| v)
            .collect();
        push_stats(&values, &name, out);
    }
}

/// `<name>_Mean`, `_Minimum`, `_Maximum` of a non-empty list.
fn push_stats(values: &[f64], name: &str, out: &mut Vec<(String, f64)>) {
    let mean = pairwise_sum(values) / values.len() as f64;
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    out.push((format!("{name}_Mean"), mean));
    out.push((format!("{name}_Minimum"), min));
    out.push((format!("{name}_Maximum"), max));
}

/// numpy's pairwise summation (`np.sum`/`np.mean` of a contiguous float64 array).
fn pairwise_sum(a: &[f64]) -> f64 {
    const BLOCK: usize = 128;
    let n = a.len();
    if n < 8 {
        a.iter().fold(-0.0, |s, &v| s + v)
    } else if n <= BLOCK {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for (j, rj) in r.iter_mut().enumerate() {
                *rj += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &a[i..] {
            res += v;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// Number of connected components of the `true` voxels: 26-connectivity for a 3D image
/// (8 within a single slice), 8-connectivity for a 2D one. Works on runs along x: two runs in
/// neighbouring rows touch when their x ranges overlap or meet diagonally.
fn connected_components(mask: ArrayView3<bool>, dims: usize) -> usize {
    let (nz, ny, _) = mask.dim();
    // Runs (x_first, x_last) of every row, and where each row's runs start.
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut row_start = Vec::with_capacity(nz * ny + 1);
    for z in 0..nz {
        for y in 0..ny {
            row_start.push(runs.len());
            let row = mask.slice(ndarray::s![z, y, ..]);
            let mut open: Option<usize> = None;
            for (x, &v) in row.iter().enumerate() {
                match (v, open) {
                    (true, None) => open = Some(x),
                    (false, Some(a)) => {
                        runs.push((a, x - 1));
                        open = None;
                    }
                    _ => {}
                }
            }
            if let Some(a) = open {
                runs.push((a, row.len() - 1));
            }
        }
    }
    row_start.push(runs.len());
    let mut parent: Vec<usize> = (0..runs.len()).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let row_runs = |z: usize, y: usize| row_start[z * ny + y]..row_start[z * ny + y + 1];
    for z in 0..nz {
        for y in 0..ny {
            let mut neighbours: Vec<(usize, usize)> = Vec::with_capacity(4);
            if y > 0 {
                neighbours.push((z, y - 1));
            }
            if dims == 3 && z > 0 {
                for yy in y.saturating_sub(1)..=(y + 1).min(ny - 1) {
                    neighbours.push((z - 1, yy));
                }
            }
            for (qz, qy) in neighbours {
                let (mine, theirs) = (row_runs(z, y), row_runs(qz, qy));
                let (mut i, mut j) = (mine.start, theirs.start);
                while i < mine.end && j < theirs.end {
                    let (a, b) = (runs[i], runs[j]);
                    if a.0 <= b.1 + 1 && b.0 <= a.1 + 1 {
                        let (ra, rb) = (find(&mut parent, i), find(&mut parent, j));
                        if ra != rb {
                            parent[ra.max(rb)] = ra.min(rb);
                        }
                    }
                    if a.1 < b.1 {
                        i += 1;
                    } else {
                        j += 1;
                    }
                }
            }
        }
    }
    (0..runs.len())
        .filter(|&i| find(&mut parent, i) == i)
        .count()
}

/// pyradiomics' `normalizeImage`: SimpleITK's `Normalize` (mean and unbiased sigma over all
/// voxels from ITK's compensated sums; `(x - mean) * (1 / sigma)` in double), outliers clipped
/// to `+-remove_outliers`, then times `scale`.
fn normalize(
    image: &mut Array3<f64>,
    scale: f64,
    remove_outliers: Option<f64>,
) -> Result<(), RadiomicsError> {
    let n = image.len() as f64;
    // Compensated sums as ITK's StatisticsImageFilter (which sums per thread, then adds the
    // threads' sums): here four interleaved lanes, then the lanes added.
    const LANES: usize = 4;
    let mut sums = [[0.0f64; 2]; LANES];
    let mut sqs = [[0.0f64; 2]; LANES];
    let owned;
    let values = match image.as_slice() {
        Some(v) => v,
        None => {
            owned = image.iter().copied().collect::<Vec<f64>>();
            &owned
        }
    };
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for v in 0..LANES {
            let [s, c] = &mut sums[v];
            kahan_add(s, c, chunk[v]);
            let [s, c] = &mut sqs[v];
            kahan_add(s, c, chunk[v] * chunk[v]);
        }
    }
    for &x in chunks.remainder() {
        let [s, c] = &mut sums[0];
        kahan_add(s, c, x);
        let [s, c] = &mut sqs[0];
        kahan_add(s, c, x * x);
    }
    let (mut sum, mut sum_c) = (0.0f64, 0.0f64);
    let (mut sq, mut sq_c) = (0.0f64, 0.0f64);
    for v in 0..LANES {
        kahan_add(&mut sum, &mut sum_c, sums[v][0]);
        kahan_add(&mut sum, &mut sum_c, -sums[v][1]);
        kahan_add(&mut sq, &mut sq_c, sqs[v][0]);
        kahan_add(&mut sq, &mut sq_c, -sqs[v][1]);
    }
    let mean = sum / n;
    let variance = (sq - (sum * sum / n)) / (n - 1.0);
    let sigma = variance.sqrt();
    if !(sigma > 0.0 && sigma.is_finite()) {
        return Err(RadiomicsError::Image(format!(
            "cannot normalize: the standard deviation over the image is {sigma} \
             (a constant image or a single voxel)"
        )));
    }
    let shift = -mean;
    let inv = 1.0 / sigma;
    match remove_outliers {
        None => image.mapv_inplace(|v| ((v + shift) * inv) * scale),
        Some(o) => image.mapv_inplace(|v| {
            let mut x = (v + shift) * inv;
            if x > o {
                x = o;
            }
            if x < -o {
                x = -o;
            }
            x * scale
        }),
    }
    Ok(())
}

/// ITK's `CompensatedSummation` step (Kahan).
fn kahan_add(sum: &mut f64, compensation: &mut f64, element: f64) {
    let input = element - *compensation;
    let temp = *sum + input;
    *compensation = (temp - *sum) - input;
    *sum = temp;
}

/// Row-major 3x3 `direction * diag(spacing)` (ITK's `IndexToPhysicalPoint` matrix).
fn index_to_physical_matrix(g: &Geometry) -> [f64; 9] {
    let mut m = [0.0; 9];
    for i in 0..3 {
        for j in 0..3 {
            m[i * 3 + j] = g.direction[i * 3 + j] * g.spacing[j];
        }
    }
    m
}

/// Inverse of the leading `dims x dims` block of `m` (row-major 3x3; the rest identity).
/// A matrix with one non-zero per row and column (a direction made of flips and axis
/// permutations, times the spacing) inverts to `1 / m_ij` exactly, as ITK's SVD-based inverse
/// does; an oblique one may differ from ITK's in the last bits.
fn inverse(m: &[f64; 9], dims: usize) -> Option<[f64; 9]> {
    let mut inv = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
    let nonzero = |i: usize| (0..dims).filter(move |&j| m[i * 3 + j] != 0.0);
    let monomial = (0..dims).all(|i| nonzero(i).count() == 1)
        && (0..dims).all(|j| (0..dims).filter(|&i| m[i * 3 + j] != 0.0).count() == 1);
    if monomial {
        inv = [0.0; 9];
        if dims == 2 {
            inv[8] = 1.0;
        }
        for i in 0..dims {
            for j in nonzero(i) {
                inv[j * 3 + i] = 1.0 / m[i * 3 + j];
            }
        }
        return Some(inv);
    }
    if dims == 2 {
        let det = m[0] * m[4] - m[1] * m[3];
        if det == 0.0 || !det.is_finite() {
            return None;
        }
        inv[0] = m[4] / det;
        inv[1] = -m[1] / det;
        inv[3] = -m[3] / det;
        inv[4] = m[0] / det;
        return Some(inv);
    }
    let c = |r: usize, k: usize| m[r * 3 + k];
    let cof = [
        c(1, 1) * c(2, 2) - c(1, 2) * c(2, 1),
        c(1, 2) * c(2, 0) - c(1, 0) * c(2, 2),
        c(1, 0) * c(2, 1) - c(1, 1) * c(2, 0),
    ];
    let det = c(0, 0) * cof[0] + c(0, 1) * cof[1] + c(0, 2) * cof[2];
    if det == 0.0 || !det.is_finite() {
        return None;
    }
    for r in 0..3 {
        for k in 0..3 {
            // inverse[r][k] = cofactor[k][r] / det
            let (a, b) = ((k + 1) % 3, (k + 2) % 3);
            let (p, q) = ((r + 1) % 3, (r + 2) % 3);
            inv[r * 3 + k] = (c(a, p) * c(b, q) - c(a, q) * c(b, p)) / det;
        }
    }
    Some(inv)
}

/// Where the voxels of one grid fall in the continuous index space of another, as ITK's
/// `ResampleImageFilter::LinearThreadedGenerateData` computes it.
struct Mapping {
    dims: usize,
    out_geometry: Geometry,
    out_matrix: [f64; 9],
    in_origin: [f64; 3],
    in_inverse: [f64; 9],
    /// Output size `(x, y, z)`.
    out_size: [usize; 3],
}

impl Mapping {
    fn new(input: &Geometry, output: &Geometry, out_size: [usize; 3]) -> Mapping {
        let dims = input.dims;
        Mapping {
            dims,
            out_geometry: output.clone(),
            out_matrix: index_to_physical_matrix(output),
            in_origin: input.origin,
            in_inverse: inverse(&index_to_physical_matrix(input), dims)
                .expect("checked by check_inputs"),
            out_size,
        }
    }

    /// `TransformPhysicalPointToContinuousIndex(TransformIndexToPhysicalPoint(index))`.
    fn transform_index(&self, index: [f64; 3]) -> [f64; 3] {
        let d = self.dims;
        let mut point = self.out_geometry.origin;
        for (i, p) in point.iter_mut().enumerate().take(d) {
            for (j, &idx) in index.iter().enumerate().take(d) {
                *p += self.out_matrix[i * 3 + j] * idx;
            }
        }
        let mut v = [0.0; 3];
        for k in 0..d {
            v[k] = point[k] - self.in_origin[k];
        }
        let mut out = [0.0; 3];
        for (r, o) in out.iter_mut().enumerate().take(d) {
            let mut sum = 0.0;
            for (c, &vc) in v.iter().enumerate().take(d) {
                sum += self.in_inverse[r * 3 + c] * vc;
            }
            *o = sum;
        }
        out
    }

    /// Start and direction of the scanline `(y, z)` in input continuous index space.
    fn scanline(&self, y: usize, z: usize) -> ([f64; 3], [f64; 3]) {
        let start = self.transform_index([0.0, y as f64, z as f64]);
        let end = self.transform_index([self.out_size[0] as f64, y as f64, z as f64]);
        (start, [0, 1, 2].map(|i| end[i] - start[i]))
    }

    /// The continuous input index of output voxel `x` on a scanline.
    fn along(&self, line: &([f64; 3], [f64; 3]), x: usize) -> [f64; 3] {
        let alpha = x as f64 / self.out_size[0] as f64;
        [0, 1, 2].map(|i| line.0[i] + alpha * line.1[i])
    }

    /// Whether both index-to-physical matrices are diagonal: then each input axis depends on
    /// the same output axis only, and weights can be precomputed per axis.
    fn separable(&self, input: &Geometry) -> bool {
        let m_in = index_to_physical_matrix(input);
        (0..3).all(|i| {
            (0..3).all(|j| i == j || (m_in[i * 3 + j] == 0.0 && self.out_matrix[i * 3 + j] == 0.0))
        })
    }
}

/// ITK's `ImageFunction::IsInsideBuffer` for a continuous index: `[-0.5, size - 0.5)`.
fn inside(ci: f64, len: usize) -> bool {
    ci >= -0.5 && ci < (len as f64 - 1.0) + 0.5
}

/// The four coefficient indices (mirrored into the volume) and cubic B-spline weights of one
/// axis at continuous index `x` (`BSplineInterpolateImageFunction`, order 3).
#[derive(Debug, Clone, Copy)]
struct Support {
    index: [usize; 4],
    weight: [f64; 4],
}

fn bspline_support(x: f64, len: usize) -> Support {
    // DetermineRegionOfSupport rounds through float before taking the floor.
    let first = ((x as f32).floor() as i64) - 1;
    let w = x - (first + 1) as f64;
    let w3 = (1.0 / 6.0) * w * w * w;
    let w0 = (1.0 / 6.0) + 0.5 * w * (w - 1.0) - w3;
    let w2 = w + w0 - 2.0 * w3;
    let w1 = 1.0 - w0 - w2 - w3;
    let mut index = [0usize; 4];
    if len > 1 {
        let end = len as i64 - 1;
        for (k, slot) in index.iter_mut().enumerate() {
            let mut e = first + k as i64;
            // ITK mirrors once at each end; for a 2-voxel axis that can leave the volume (ITK
            // then reads outside its buffer), so mirror until inside.
            loop {
                if e < 0 {
                    e = -e;
                }
                if e >= end {
                    e = end - (e - end);
                }
                if (0..=end).contains(&e) {
                    break;
                }
            }
            *slot = e as usize;
        }
    }
    Support {
        index,
        weight: [w0, w1, w2, w3],
    }
}

/// ITK's `BSplineDecompositionImageFilter` (order 3): the interpolation coefficients of `data`
/// along each of the first `dims` axes `(x, y, z)`. Lines along y and z are processed a row
/// at a time (the same operations per element, in the same order, as ITK's line by line).
fn bspline_coefficients(data: &Array3<f64>, dims: usize) -> Array3<f64> {
    let (nz, ny, nx) = data.dim();
    let mut flat: Vec<f64> = match data.as_slice() {
        Some(v) => v.to_vec(),
        None => data.iter().copied().collect(),
    };
    // x: blocks of up to 8 rows transposed, so that their lines are processed side by side.
    const ROWS: usize = 8;
    let mut t = vec![0.0; ROWS * nx];
    for block in flat.chunks_mut(ROWS * nx) {
        let rows = block.len() / nx;
        for r in 0..rows {
            for x in 0..nx {
                t[x * rows + r] = block[r * nx + x];
            }
        }
        decompose(&mut t[..rows * nx], nx, rows, rows);
        for r in 0..rows {
            for x in 0..nx {
                block[r * nx + x] = t[x * rows + r];
            }
        }
    }
    if dims >= 2 {
        for slice in flat.chunks_mut(ny * nx) {
            decompose(slice, ny, nx, nx);
        }
    }
    if dims == 3 {
        decompose(&mut flat, nz, ny * nx, ny * nx);
    }
    Array3::from_shape_vec((nz, ny, nx), flat).expect("same shape")
}

/// `BSplineDecompositionImageFilter::DataToCoefficients1D` (mirror boundaries) on `count`
/// interleaved lines of `n` samples: sample `i` of line `j` is `d[i * stride + j]`.
fn decompose(d: &mut [f64], n: usize, stride: usize, count: usize) {
    if n == 1 {
        return;
    }
    let z = 3.0f64.sqrt() - 2.0;
    let gain = 1.0 * (1.0 - z) * (1.0 - 1.0 / z);
    for i in 0..n {
        for v in &mut d[i * stride..i * stride + count] {
            *v *= gain;
        }
    }
    // Causal initialisation, truncated at the horizon where z^n < 1e-10.
    let horizon = ((1e-10f64).ln() / z.abs().ln()).ceil() as usize;
    let (first, rest) = d.split_at_mut(stride);
    let first = &mut first[..count];
    // Sample i >= 1 of the lines lies in `rest` at this range.
    let row = |i: usize| (i - 1) * stride..(i - 1) * stride + count;
    if horizon < n {
        let mut zn = z;
        for i in 1..horizon {
            for (s0, &v) in first.iter_mut().zip(&rest[row(i)]) {
                *s0 += zn * v;
            }
            zn *= z;
        }
    } else {
        let iz = 1.0 / z;
        let mut zn = z;
        let mut z2n = z.powf((n - 1) as f64);
        for (s0, &v) in first.iter_mut().zip(&rest[row(n - 1)]) {
            *s0 += z2n * v;
        }
        // ITK: `z2n *= z2n * iz`.
        z2n = z2n * (z2n * iz);
        for i in 1..n - 1 {
            let f = zn + z2n;
            for (s0, &v) in first.iter_mut().zip(&rest[row(i)]) {
                *s0 += f * v;
            }
            zn *= z;
            z2n *= iz;
        }
        let div = 1.0 - zn * zn;
        for s0 in first.iter_mut() {
            *s0 /= div;
        }
    }
    // Causal recursion.
    for i in 1..n {
        let (done, cur) = d.split_at_mut(i * stride);
        let prev = &done[(i - 1) * stride..(i - 1) * stride + count];
        for (c, &p) in cur[..count].iter_mut().zip(prev) {
            *c += z * p;
        }
    }
    // Anticausal initialisation and recursion.
    let k = z / (z * z - 1.0);
    {
        let (done, last) = d.split_at_mut((n - 1) * stride);
        let prev = &done[(n - 2) * stride..(n - 2) * stride + count];
        for (c, &p) in last[..count].iter_mut().zip(prev) {
            *c = k * (z * p + *c);
        }
    }
    for i in (0..n - 1).rev() {
        let (cur, next) = d.split_at_mut((i + 1) * stride);
        let cur = &mut cur[i * stride..i * stride + count];
        for (c, &nx) in cur.iter_mut().zip(&next[..count]) {
            *c = z * (nx - *c);
        }
    }
}

/// One line (`BSplineDecompositionImageFilter::DataToCoefficients1D`); `false` for one sample.
#[cfg(test)]
fn data_to_coefficients_1d(s: &mut [f64]) -> bool {
    let n = s.len();
    decompose(s, n, 1, 1);
    n > 1
}

/// Evaluates the B-spline at up to four points that share their y and z supports (`sxs` holds
/// each point's x support), in ITK's summation order for each point: x fastest, weight
/// `(wx * wy) * wz`, one running sum (a 2D image has no z term). The points are interleaved so
/// that their sums proceed side by side. `c` is the flat coefficient array, `strides` its row
/// and slice strides.
fn bspline_eval(
    c: &[f64],
    strides: (usize, usize),
    sxs: &[&Support],
    sy: &Support,
    sz: Option<&Support>,
) -> [f64; 4] {
    const LANES: usize = 4;
    debug_assert!(!sxs.is_empty() && sxs.len() <= LANES);
    // Missing lanes repeat the first point; their sums are dropped by the caller.
    let lane = |v: usize| sxs.get(v).unwrap_or(&sxs[0]);
    let mut wxy = [[[0.0f64; 4]; 4]; LANES];
    let mut oxy = [[[0usize; 4]; 4]; LANES];
    for v in 0..LANES {
        let sx = lane(v);
        for ky in 0..4 {
            for kx in 0..4 {
                wxy[v][ky][kx] = sx.weight[kx] * sy.weight[ky];
                oxy[v][ky][kx] = sy.index[ky] * strides.0 + sx.index[kx];
            }
        }
    }
    let mut acc = [0.0f64; LANES];
    match sz {
        None => {
            for ky in 0..4 {
                for kx in 0..4 {
                    for v in 0..LANES {
                        acc[v] += wxy[v][ky][kx] * c[oxy[v][ky][kx]];
                    }
                }
            }
        }
        Some(sz) => {
            for kz in 0..4 {
                let (wz, oz) = (sz.weight[kz], sz.index[kz] * strides.1);
                for ky in 0..4 {
                    for kx in 0..4 {
                        for v in 0..LANES {
                            acc[v] += (wxy[v][ky][kx] * wz) * c[oz + oxy[v][ky][kx]];
                        }
                    }
                }
            }
        }
    }
    acc
}

/// ITK's `Math::RoundHalfIntegerUp` (`NearestNeighborInterpolateImageFunction`).
fn round_half_up(x: f64) -> usize {
    ((x + x + 0.5).round_ties_even() as i64 >> 1) as usize
}

/// `ResampleImageFilter` with the cubic B-spline for `input` onto the grid `output` of
/// `out_size` `(x, y, z)` voxels; `0` outside the input.
fn resample_bspline(
    input: &Volume<f64>,
    output: &Geometry,
    out_size: [usize; 3],
    f32_precision: bool,
) -> Array3<f64> {
    let dims = input.geometry.dims;
    let coef = bspline_coefficients(&input.data, dims);
    let (iz, iy, ix) = input.data.dim();
    let strides = (ix, iy * ix);
    let coef = coef.as_slice().expect("standard layout");
    let in_len = [ix, iy, iz];
    let map = Mapping::new(&input.geometry, output, out_size);
    let cast = |v: f64| {
        if f32_precision {
            v.clamp(-(f32::MAX as f64), f32::MAX as f64) as f32 as f64
        } else {
            v
        }
    };
    let mut out = Array3::zeros((out_size[2], out_size[1], out_size[0]));
    let support = |ci: [f64; 3]| -> Option<[Support; 3]> {
        if (0..dims).all(|a| inside(ci[a], in_len[a])) {
            Some([0, 1, 2].map(|a| bspline_support(ci[a], in_len[a])))
        } else {
            None
        }
    };
    let z_of = |s: &[Support; 3]| if dims == 3 { Some(s[2]) } else { None };
    if map.separable(&input.geometry) {
        // Per-axis tables: the continuous index along each axis depends on that axis only.
        let axis_table = |a: usize, n: usize| -> Vec<Option<Support>> {
            (0..n)
                .map(|i| {
                    let ci = if a == 0 {
                        map.along(&map.scanline(0, 0), i)[0]
                    } else {
                        let (y, z) = if a == 1 { (i, 0) } else { (0, i) };
                        map.scanline(y, z).0[a]
                    };
                    (a >= dims || inside(ci, in_len[a])).then(|| bspline_support(ci, in_len[a]))
                })
                .collect()
        };
        let xs = axis_table(0, out_size[0]);
        let ys = axis_table(1, out_size[1]);
        let zs = axis_table(2, out_size[2]);
        // The output columns inside the input, in runs of up to four evaluated together.
        let columns: Vec<usize> = (0..out_size[0]).filter(|&x| xs[x].is_some()).collect();
        for (z, sz) in zs.iter().enumerate() {
            let Some(sz) = sz else { continue };
            let sz = if dims == 3 { Some(sz) } else { None };
            for (y, sy) in ys.iter().enumerate() {
                let Some(sy) = sy else { continue };
                for chunk in columns.chunks(4) {
                    let first = xs[chunk[0]].as_ref().expect("inside column");
                    let mut sxs = [first; 4];
                    for (slot, &x) in sxs.iter_mut().zip(chunk) {
                        *slot = xs[x].as_ref().expect("inside column");
                    }
                    let values = bspline_eval(coef, strides, &sxs[..chunk.len()], sy, sz);
                    for (&x, &v) in chunk.iter().zip(values.iter()) {
                        out[[z, y, x]] = cast(v);
                    }
                }
            }
        }
    } else {
        for z in 0..out_size[2] {
            for y in 0..out_size[1] {
                let line = map.scanline(y, z);
                for x in 0..out_size[0] {
                    if let Some(s) = support(map.along(&line, x)) {
                        let sz = z_of(&s);
                        out[[z, y, x]] =
                            cast(bspline_eval(coef, strides, &[&s[0]], &s[1], sz.as_ref())[0]);
                    }
                }
            }
        }
    }
    out
}

/// `ResampleImageFilter` with nearest neighbour for a mask; `false` outside the input.
fn resample_nearest<T: Copy + Default>(
    input: &Volume<T>,
    output: &Geometry,
    out_size: [usize; 3],
) -> Array3<T> {
    let dims = input.geometry.dims;
    let (iz, iy, ix) = input.data.dim();
    let in_len = [ix, iy, iz];
    let map = Mapping::new(&input.geometry, output, out_size);
    let mut out = Array3::from_elem((out_size[2], out_size[1], out_size[0]), T::default());
    for z in 0..out_size[2] {
        for y in 0..out_size[1] {
            let line = map.scanline(y, z);
            for x in 0..out_size[0] {
                let ci = map.along(&line, x);
                if (0..dims).all(|a| inside(ci[a], in_len[a])) {
                    let idx = [0, 1, 2].map(|a| if a < dims { round_half_up(ci[a]) } else { 0 });
                    out[[z, y, x]] = input.data[[idx[2], idx[1], idx[0]]];
                }
            }
        }
    }
    out
}

/// pyradiomics' `resampleImage`: the grid from the mask's bounding box, `padDistance` and the
/// new spacing, then the image (B-spline or nearest neighbour) and the mask (nearest
/// neighbour) resampled onto it.
fn resample(
    image: &Volume<f64>,
    mask: &Volume<bool>,
    spacing: [f64; 3],
    settings: &Settings,
    f32_precision: bool,
) -> Result<(Volume<f64>, Volume<bool>), RadiomicsError> {
    let g = &mask.geometry;
    let d = g.dims;
    let bbox = BoundingBox::of(&mask.data).ok_or_else(|| {
        RadiomicsError::Mask(format!("label {} not present in the mask", settings.label))
    })?;
    // In ITK order (x, y, z).
    let lower = [bbox.lower[2], bbox.lower[1], bbox.lower[0]].map(|v| v as f64);
    let size = [bbox.size()[2], bbox.size()[1], bbox.size()[0]].map(|v| v as f64);
    let shape = mask.data.shape();
    let mask_size = [shape[2], shape[1], shape[0]].map(|v| v as f64);
    let mut new_spacing = g.spacing;
    for a in 0..d {
        if spacing[a] != 0.0 && size[a] != 1.0 {
            new_spacing[a] = spacing[a];
        }
    }
    let all_close = (0..d).all(|a| {
        (image.geometry.spacing[a] - new_spacing[a]).abs() <= 1e-8 + 1e-5 * new_spacing[a].abs()
    });
    if all_close {
        // Same spacing: the mask already lies on the image grid; only crop.
        return Ok(crop_to_mask(image, mask, &bbox, settings.pad_distance));
    }
    let pad = settings.pad_distance as f64;
    let mut new_size = [1usize; 3];
    let mut origin_index = [0.0f64; 3];
    for a in 0..d {
        let ratio = g.spacing[a] / new_spacing[a];
        let mut lo = ((lower[a] - 0.5) * ratio - pad).floor();
        let mut hi = ((lower[a] + size[a] - 0.5) * ratio + pad).ceil();
        let max_hi = (mask_size[a] * ratio).ceil() - 1.0;
        if lo < 0.0 {
            lo = 0.0;
        }
        if hi > max_hi {
            hi = max_hi;
        }
        let n = hi - lo + 1.0;
        if !(n >= 1.0 && n <= MAX_RESAMPLED_VOXELS as f64) {
            return Err(RadiomicsError::Setting {
                name: "resampledPixelSpacing",
                reason: format!("gives {n} voxels along axis {a}"),
            });
        }
        new_size[a] = n as usize;
        let original_lower = lo / ratio;
        let new_origin_index = 0.5 * (new_spacing[a] - g.spacing[a]) / g.spacing[a];
        origin_index[a] = new_origin_index + original_lower;
    }
    if new_size.iter().product::<usize>() > MAX_RESAMPLED_VOXELS {
        return Err(RadiomicsError::Setting {
            name: "resampledPixelSpacing",
            reason: format!(
                "the resampled grid {new_size:?} exceeds {MAX_RESAMPLED_VOXELS} voxels"
            ),
        });
    }
    // TransformContinuousIndexToPhysicalPoint: sum of the matrix row, then the origin.
    let m = index_to_physical_matrix(g);
    let mut new_origin = g.origin;
    for (r, o) in new_origin.iter_mut().enumerate().take(d) {
        let mut sum = 0.0;
        for (c, &ci) in origin_index.iter().enumerate().take(d) {
            sum += m[r * 3 + c] * ci;
        }
        *o = sum + g.origin[r];
    }
    let out_geometry = Geometry {
        dims: d,
        spacing: new_spacing,
        origin: new_origin,
        direction: g.direction,
    };
    let data = match settings.interpolator {
        Interpolator::BSpline => resample_bspline(image, &out_geometry, new_size, f32_precision),
        _ => resample_nearest(image, &out_geometry, new_size),
    };
    let mask_data = resample_nearest(mask, &out_geometry, new_size);
    Ok((
        Volume {
            data,
            geometry: out_geometry.clone(),
        },
        Volume {
            data: mask_data,
            geometry: out_geometry,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coefficients_interpolate_the_data_at_the_nodes() {
        // A B-spline through its own coefficients reproduces the samples.
        for n in [2usize, 3, 5, 17, 18, 19, 40] {
            let data: Vec<f64> = (0..n).map(|i| ((i * 7 % 5) as f64).sin() * 10.0).collect();
            let mut c = data.clone();
            assert!(data_to_coefficients_1d(&mut c));
            for (i, &d) in data.iter().enumerate() {
                let s = bspline_support(i as f64, n);
                let v: f64 = (0..4).map(|k| s.weight[k] * c[s.index[k]]).sum();
                assert!((v - d).abs() < 1e-8, "n {n} i {i}: {v} vs {d}");
            }
        }
    }

    #[test]
    fn numpy_pairwise_sum_matches_plain_sum_closely() {
        let v: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.37).sin()).collect();
        let plain: f64 = v.iter().sum();
        assert!((pairwise_sum(&v) - plain).abs() < 1e-12);
        assert_eq!(pairwise_sum(&[1.0, 2.0]), 3.0);
    }

    #[test]
    fn components_use_full_connectivity() {
        let mut m = Array3::from_elem((2, 4, 4), false);
        m[[0, 0, 0]] = true;
        m[[0, 1, 1]] = true; // diagonal neighbour
        m[[1, 3, 3]] = true;
        m[[0, 3, 0]] = true;
        assert_eq!(connected_components(m.view(), 3), 3);
        m[[1, 2, 2]] = true; // touches [0,1,1] and [1,3,3] diagonally
        assert_eq!(connected_components(m.view(), 3), 2);
    }

    /// Plain flood fill with the full neighbourhood, to check the run-based count.
    fn flood_count(mask: &Array3<bool>, dims: usize) -> usize {
        let (nz, ny, nx) = mask.dim();
        let mut seen = Array3::from_elem(mask.dim(), false);
        let mut count = 0;
        for ((z, y, x), &v) in mask.indexed_iter() {
            if !v || seen[[z, y, x]] {
                continue;
            }
            count += 1;
            let mut stack = vec![(z, y, x)];
            seen[[z, y, x]] = true;
            while let Some((cz, cy, cx)) = stack.pop() {
                for qz in cz.saturating_sub(1)..=(cz + 1).min(nz - 1) {
                    if dims == 2 && qz != cz {
                        continue;
                    }
                    for qy in cy.saturating_sub(1)..=(cy + 1).min(ny - 1) {
                        for qx in cx.saturating_sub(1)..=(cx + 1).min(nx - 1) {
                            if mask[[qz, qy, qx]] && !seen[[qz, qy, qx]] {
                                seen[[qz, qy, qx]] = true;
                                stack.push((qz, qy, qx));
                            }
                        }
                    }
                }
            }
        }
        count
    }

    #[test]
    fn run_based_components_equal_a_flood_fill() {
        let mut state = 12345u64;
        for case in 0..200 {
            let shape = (1 + case % 4, 3 + case % 7, 2 + case % 9);
            let density = 0.2 + 0.5 * ((case % 5) as f64 / 5.0);
            let m = Array3::from_shape_simple_fn(shape, || {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 33) as f64 / (1u64 << 31) as f64) < density
            });
            for dims in [2, 3] {
                assert_eq!(
                    connected_components(m.view(), dims),
                    flood_count(&m, dims),
                    "case {case} dims {dims}: {m:?}"
                );
            }
        }
    }

    #[test]
    fn round_half_up_like_itk() {
        assert_eq!(round_half_up(2.5), 3);
        assert_eq!(round_half_up(2.4999999999999996), 2);
        assert_eq!(round_half_up(0.0), 0);
        assert_eq!(round_half_up(-0.5) as i64, 0);
    }
}
