//! 2.5D FID of volumes (`--volumes planes`): every 3D volume of the real and the synthetic
//! folder (`.nii`, `.nii.gz`, `.npy` of shape `[D, H, W]`) is cut into slices along its three
//! axes, each plane's slices are embedded by the 2D extractor, and the FID is reported per plane
//! (axial, coronal, sagittal) with the mean of the three, as NV-Generate-CTMR's
//! `scripts/compute_fid_2-5d_ct.py` (MAISI's evaluation) does.
//!
//! Axes: a `.npy` volume is `[D, H, W]`; a NIfTI volume `[nx, ny, nz]` is read as `[nz, ny,
//! nx]` (its voxel axes as stored, not reoriented to RAS as NV-Generate's `Orientationd` does).
//! Axial slices are `v[k, :, :]` (along the first axis), coronal `v[:, k, :]`, sagittal
//! `v[:, :, k]`.
//!
//! Per volume and plane, as NV-Generate's `get_features_2p5d`:
//! 1. values clipped to `clip` when given (its `ScaleIntensityRanged(-1000, 1000, clip=True)`);
//! 2. the slices kept: with a central ratio `r`, indices `int((1 - r) / 2 n)` to
//!    `int((1 + r) / 2 n)` (its `enable_center_slices_ratio`), every `k`-th (its
//!    `sample_every_k`);
//! 3. the kept slices min-max scaled together: `(x - min) / (max - min + 1e-10)` over all of
//!    them (its `radimagenet_intensity_normalisation`), giving gray images in [0, 1];
//! 4. slices whose largest (clipped) value is below `empty_below` dropped (its `drop_empty`
//!    with `empty_threshold`), after the scaling;
//! 5. each slice embedded like any image: replicated to 3 channels, resized (bilinear,
//!    `align_corners=False`) to the extractor's input and mapped by its range, mean and std.
//!    NV-Generate feeds the slices at their own size to a fully convolutional RadImageNet
//!    ResNet-50 and subtracts the means `0.406, 0.456, 0.485`: `--range 0,1 --mean
//!    0.406,0.456,0.485 --std 1` does the same with an ONNX export of that network.
//!
//! Memory: one volume at a time; each plane's features go into exact sums
//! ([`ExactMoments`]), so nothing grows with the number of volumes. The FIDs come from those
//! sums, the same numbers `--save-stats` would merge.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{Array3, ArrayD, ArrayView2, Axis};
use serde::Serialize;

use super::error::EvaluateError;
use super::extractor::ExtractorSource;
use super::features::extract_features;
use super::frechet::frechet_distance;
use super::images::{self, ImageSource};
use super::moments::ExactMoments;
use super::provenance::Provenance;
use super::request::ExtractorSpec;
use super::synthetic::{ModelSamples, synthetic_stream};
use super::{EvaluateOptions, SyntheticSide};
use crate::formats::{self, ImageKind, nifti};
use crate::progress::Progress;

/// The three planes, in the order they are reported.
pub const PLANES: [&str; 3] = ["axial", "coronal", "sagittal"];

/// How slices are taken from each volume (NV-Generate's options; see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PlaneOptions {
    /// Keep the central fraction `(0, 1]` of the slices of each axis (`None`: all).
    pub center_ratio: Option<f64>,
    /// Every k-th of the kept slices (1: all).
    pub every: usize,
    /// Drop slices whose largest value (after `clip`) is below this.
    pub empty_below: Option<f32>,
    /// Clip the volume's values to `[min, max]` first.
    pub clip: Option<[f32; 2]>,
}

impl Default for PlaneOptions {
    fn default() -> Self {
        PlaneOptions {
            center_ratio: None,
            every: 1,
            empty_below: None,
            clip: None,
        }
    }
}

impl PlaneOptions {
    /// Refuses values no slicing can use, naming the option.
    pub fn check(&self) -> Result<(), EvaluateError> {
        if let Some(r) = self.center_ratio
            && !(r > 0.0 && r <= 1.0)
        {
            return Err(invalid(
                "center slices",
                &r.to_string(),
                "a fraction in (0, 1]",
            ));
        }
        if self.every == 0 {
            return Err(invalid("every slice", "0", "at least 1"));
        }
        if let Some([lo, hi]) = self.clip
            && !(lo.is_finite() && hi.is_finite() && lo < hi)
        {
            return Err(invalid(
                "clip",
                &format!("{lo},{hi}"),
                "MIN,MAX with MIN < MAX, e.g. -1000,1000",
            ));
        }
        if self.empty_below.is_some_and(|v| !v.is_finite()) {
            return Err(invalid("empty below", "NaN", "a finite value"));
        }
        Ok(())
    }

    /// The indices of the slices kept along an axis of `n` slices.
    pub fn indices(&self, n: usize) -> Vec<usize> {
        let (start, end) = match self.center_ratio {
            Some(r) => (
                ((1.0 - r) / 2.0 * n as f64) as usize,
                (((1.0 + r) / 2.0 * n as f64) as usize).min(n),
            ),
            None => (0, n),
        };
        (start..end).step_by(self.every.max(1)).collect()
    }
}

fn invalid(option: &str, value: &str, reason: &str) -> EvaluateError {
    EvaluateError::InvalidOption {
        option: option.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// One plane's FID.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlaneScore {
    /// `axial`, `coronal` or `sagittal`.
    pub plane: &'static str,
    /// The FID between the real and the synthetic slices of this plane.
    pub fid: f64,
    /// Real slices embedded.
    pub real_slices: u64,
    /// Synthetic slices embedded.
    pub synthetic_slices: u64,
}

/// The 2.5D FID of two folders of volumes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanesReport {
    /// The synthetic folder, or the model.
    pub subject: String,
    /// The extractor's name.
    pub extractor: String,
    /// Per plane: axial, coronal, sagittal.
    pub planes: Vec<PlaneScore>,
    /// The mean of the three FIDs.
    pub fid_mean: f64,
    /// Real volumes.
    pub real_volumes: usize,
    /// Synthetic volumes (a folder's, or the samples generated).
    pub synthetic_volumes: usize,
    /// How slices were taken.
    pub options: PlaneOptions,
    /// Where the numbers come from (image counts: slices of all planes).
    pub provenance: Provenance,
}

/// What `--volumes planes` evaluates.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanesRequest {
    /// The folder of real volumes.
    pub real: PathBuf,
    /// The synthetic volumes: a folder, or models whose samples are volumes (`[C, D, H, W]`
    /// with one channel, or `[D, H, W]`).
    pub synthetic: SyntheticSide,
    /// The 2D extractor.
    pub extractor: ExtractorSpec,
    /// Embedding options (the metrics must be FID alone, one repeat).
    pub options: EvaluateOptions,
    /// How slices are taken.
    pub planes: PlaneOptions,
}

/// Runs a 2.5D evaluation: checks the options, lists the real volumes (and the synthetic
/// folder's, or checks the models), then embeds each volume's planes (one volume in memory at
/// a time); one report per synthetic folder or model.
pub fn run(
    samples_of: &dyn ModelSamples,
    request: &PlanesRequest,
    progress: &dyn Progress,
) -> crate::Result<Vec<PlanesReport>> {
    request.planes.check()?;
    request.extractor.check()?;
    let metrics = &request.options.metrics;
    if metrics.metrics.frd {
        return Err(EvaluateError::InvalidOption {
            option: "metrics".into(),
            value: "frd".into(),
            reason: "the FRD of volumes uses 3D radiomics, not planes: run `medigan frd` on \
                     the volume folders"
                .into(),
        }
        .into());
    }
    if metrics.metrics.kid || metrics.metrics.prdc || metrics.metrics.cmmd || metrics.repeats > 1 {
        return Err(invalid(
            "volumes",
            "planes",
            "the 2.5D evaluation gives FID per plane and their mean: drop --metrics kid/prdc/cmmd \
             and --repeats",
        )
        .into());
    }
    let real = list_volumes(&request.real)?;
    let folder = match &request.synthetic {
        SyntheticSide::Folder(dir) => Some(list_volumes(dir)?),
        SyntheticSide::Models { models, .. } => {
            for model in models {
                samples_of.check_model(model)?;
            }
            None
        }
    };
    let source = request
        .extractor
        .source(samples_of.store(), samples_of.backend(), progress)?;
    let source = source.as_ref();
    let volumes = real.iter().map(|path| read_volume(path));
    let real_moments = embed_planes(volumes, real.len(), source, request, "real", progress)?;
    let report = |subject: String, synthetic: [ExactMoments; 3], volumes: usize| {
        score(
            subject,
            &real_moments,
            synthetic,
            real.len(),
            volumes,
            source,
            request,
        )
    };
    match (&request.synthetic, folder) {
        (SyntheticSide::Folder(dir), Some(files)) => {
            let volumes = files.iter().map(|path| read_volume(path));
            let moments =
                embed_planes(volumes, files.len(), source, request, "synthetic", progress)?;
            Ok(vec![report(
                dir.display().to_string(),
                moments,
                files.len(),
            )?])
        }
        (SyntheticSide::Models { models, run }, _) => {
            let n = run.num_samples.unwrap_or(real.len() as u64);
            let mut reports = Vec::with_capacity(models.len());
            for model in models {
                let synthetic = synthetic_stream(samples_of, model, n, 0, 1, run.seed, None)?;
                let id = synthetic.model_id.clone();
                let volumes = synthetic.samples.map(|sample| {
                    let sample = sample.map_err(|e| EvaluateError::Extractor {
                        name: id.clone(),
                        reason: e.to_string(),
                    })?;
                    sample_volume(&sample.image, &id)
                });
                let moments = embed_planes(volumes, n as usize, source, request, &id, progress)?;
                reports.push(report(id.clone(), moments, n as usize)?);
            }
            Ok(reports)
        }
        _ => unreachable!("a folder was listed"),
    }
}

/// A model's sample as a volume `[D, H, W]`: `[1, D, H, W]` or `[D, H, W]`.
fn sample_volume(image: &ArrayD<f32>, model: &str) -> Result<Array3<f32>, EvaluateError> {
    let shape = image.shape().to_vec();
    let view = match shape.as_slice() {
        [1, _, _, _] => image.view().index_axis_move(Axis(0), 0),
        _ => image.view(),
    };
    view.into_dimensionality::<ndarray::Ix3>()
        .map(|v| v.to_owned())
        .map_err(|_| EvaluateError::Extractor {
            name: model.to_string(),
            reason: format!(
                "samples of shape {shape:?} are not volumes ([1, D, H, W] or [D, H, W]): \
                 --volumes planes needs a 3D model"
            ),
        })
}

/// The FID of each plane and their mean.
fn score(
    subject: String,
    real: &[ExactMoments; 3],
    synthetic: [ExactMoments; 3],
    real_volumes: usize,
    synthetic_volumes: usize,
    source: &dyn ExtractorSource,
    request: &PlanesRequest,
) -> Result<PlanesReport, EvaluateError> {
    let mut planes = Vec::with_capacity(3);
    for (p, name) in PLANES.iter().enumerate() {
        let (r, s) = (&real[p], &synthetic[p]);
        let fid = frechet_distance(&r.stats()?, &s.stats()?)?;
        planes.push(PlaneScore {
            plane: name,
            fid,
            real_slices: r.count(),
            synthetic_slices: s.count(),
        });
    }
    let fid_mean = planes.iter().map(|p| p.fid).sum::<f64>() / 3.0;
    let mut provenance = Provenance::new(source, &request.options);
    provenance.real_images = planes.iter().map(|p| p.real_slices as usize).sum();
    provenance.synthetic_images = planes.iter().map(|p| p.synthetic_slices as usize).sum();
    provenance.metrics = vec!["fid"];
    if let SyntheticSide::Models { run, .. } = &request.synthetic {
        provenance.generation_seed = Some(run.seed);
    }
    Ok(PlanesReport {
        subject,
        extractor: source.name(),
        planes,
        fid_mean,
        real_volumes,
        synthetic_volumes,
        options: request.planes,
        provenance,
    })
}

/// The volumes below `dir`: `.nii`, `.nii.gz` and `.npy` files (other images are refused).
pub fn list_volumes(dir: &Path) -> Result<Vec<PathBuf>, EvaluateError> {
    let files = images::list_images(dir)?;
    if let Some(other) = files
        .iter()
        .find(|p| !nifti::is_nifti(p) && ImageKind::of(p) != Some(ImageKind::Npy))
    {
        return Err(EvaluateError::Image {
            path: other.clone(),
            reason: "--volumes planes reads volumes: .nii, .nii.gz or .npy of shape [D, H, W]"
                .into(),
        });
    }
    Ok(files)
}

/// A volume file as `[D, H, W]` raw values (see the module docs for the axes).
pub fn read_volume(path: &Path) -> Result<Array3<f32>, EvaluateError> {
    let bad = |reason: String| EvaluateError::Image {
        path: path.to_path_buf(),
        reason,
    };
    if nifti::is_nifti(path) {
        let volume = nifti::read(path).map_err(|e| bad(e.to_string()))?;
        let [nx, ny, nz] = volume.dims;
        return Array3::from_shape_vec((nz, ny, nx), volume.values).map_err(|e| bad(e.to_string()));
    }
    let bytes = images::read_file(path)?;
    let (array, _) = formats::npy::decode(&bytes).map_err(|e| bad(e.to_string()))?;
    let shape = array.shape().to_vec();
    array
        .into_dimensionality::<ndarray::Ix3>()
        .map_err(|_| bad(format!("shape {shape:?}: a volume is [D, H, W]")))
}

/// The slices of one plane of a volume as gray images in [0, 1] (steps 1 to 4 of the module
/// docs).
pub fn plane_slices(volume: &Array3<f32>, axis: usize, options: &PlaneOptions) -> Vec<Array3<f32>> {
    let clip = |v: f32| match options.clip {
        Some([lo, hi]) => v.clamp(lo, hi),
        None => v,
    };
    let kept: Vec<ArrayView2<'_, f32>> = options
        .indices(volume.len_of(Axis(axis)))
        .into_iter()
        .map(|k| volume.index_axis(Axis(axis), k))
        .collect();
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for slice in &kept {
        for &v in slice {
            let v = clip(v);
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    kept.into_iter()
        .filter(|slice| match options.empty_below {
            Some(threshold) => slice.iter().map(|&v| clip(v)).fold(f32::MIN, f32::max) >= threshold,
            None => true,
        })
        .map(|slice| {
            let (h, w) = slice.dim();
            let scale = |v: f32| {
                ((f64::from(clip(v)) - f64::from(lo)) / (f64::from(hi) - f64::from(lo) + 1e-10))
                    as f32
            };
            Array3::from_shape_fn((1, h, w), |(_, i, j)| scale(slice[(i, j)]))
        })
        .collect()
}

/// Embeds every volume's three planes into exact sums, one volume at a time.
fn embed_planes(
    volumes: impl Iterator<Item = Result<Array3<f32>, EvaluateError>>,
    total: usize,
    source: &dyn ExtractorSource,
    request: &PlanesRequest,
    what: &str,
    progress: &dyn Progress,
) -> Result<[ExactMoments; 3], EvaluateError> {
    let dims = source.feature_dims();
    let mut moments = [
        ExactMoments::new(dims),
        ExactMoments::new(dims),
        ExactMoments::new(dims),
    ];
    progress.begin(
        &format!("embed the {what} volumes' planes with {}", source.name()),
        Some(total as u64),
    );
    for volume in volumes {
        let volume = volume?;
        for (axis, sums) in moments.iter_mut().enumerate() {
            let slices: Vec<ImageSource> = plane_slices(&volume, axis, &request.planes)
                .into_iter()
                .map(|s| ImageSource::Array(Arc::new(s)))
                .collect();
            if slices.is_empty() {
                continue;
            }
            let features = extract_features(
                &slices,
                source,
                &request.options.features,
                &crate::progress::NoProgress,
            )?;
            sums.add(features.view())?;
        }
        progress.advance(1);
    }
    progress.finish();
    Ok(moments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn central_slices_follow_nv_generate_indices() {
        let options = PlaneOptions {
            center_ratio: Some(0.4),
            every: 1,
            ..Default::default()
        };
        // int(0.3 * 10) = 3, int(0.7 * 10) = 7.
        assert_eq!(options.indices(10), vec![3, 4, 5, 6]);
        let every = PlaneOptions {
            every: 3,
            ..Default::default()
        };
        assert_eq!(every.indices(7), vec![0, 3, 6]);
        assert!(
            PlaneOptions {
                center_ratio: Some(0.0),
                ..Default::default()
            }
            .check()
            .unwrap_err()
            .to_string()
            .contains("center slices")
        );
    }

    #[test]
    fn slices_are_scaled_together_and_empty_ones_dropped() {
        let volume = Array3::from_shape_fn((3, 2, 4), |(d, h, w)| (d * 100 + h * 10 + w) as f32);
        let options = PlaneOptions {
            empty_below: Some(100.0),
            ..Default::default()
        };
        let axial = plane_slices(&volume, 0, &options);
        // Slice 0 (max 13) is dropped; the scale is over all three slices (0..213).
        assert_eq!(axial.len(), 2);
        assert_eq!(axial[0].dim(), (1, 2, 4));
        assert!((axial[0][(0, 0, 0)] - 100.0 / 213.0).abs() < 1e-6);
        let sagittal = plane_slices(&volume, 2, &PlaneOptions::default());
        assert_eq!(sagittal.len(), 4);
        assert_eq!(sagittal[0].dim(), (1, 3, 2));
    }
}
