//! Every format written, then read back through the module that wrote it (`medigan::formats`),
//! gives back the sample: exactly for float formats (NPY, NIfTI), within half a quantisation
//! step for integer ones (PNG, 16-bit PNG, DICOM). A 16-bit input image keeps its 16 bits, a
//! NIfTI volume is decompressed once per pass over its slices, and the feature cache keeps the
//! features of two weight files apart.

use std::path::Path;
use std::sync::Arc;

use medigan::evaluate::extractor::{ExtractorSource, FeatureExtractor, InputNormalization};
use medigan::evaluate::{EvaluateError, EvaluateOptions, ImageSet, ImageSource, embed};
use medigan::formats::{dicom, nifti, npy, png, quantize};
use medigan::output::{
    DicomWriter, Encoding, NiftiWriter, NpyWriter, Part, Png16Writer, PngWriter, Provenance,
    SampleWriter,
};
use medigan::progress::NoProgress;
use ndarray::{Array2, ArrayD, ArrayView4, Dimension, IxDyn};

const RANGE: [f64; 2] = [-1.0, 1.0];

/// A `shape` sample sweeping the whole range, with values outside it at neither end.
fn sample(shape: &[usize]) -> ArrayD<f32> {
    let count: usize = shape.iter().product();
    ArrayD::from_shape_fn(IxDyn(shape), |index| {
        let flat = index
            .slice()
            .iter()
            .zip(shape)
            .fold(0, |acc, (i, n)| acc * n + i);
        -1.0 + 2.0 * flat as f32 / (count - 1) as f32
    })
}

/// `array` encoded by `writer`, written to `dir/name`.
fn write(writer: &dyn SampleWriter, array: &ArrayD<f32>, dir: &Path, name: &str) -> String {
    let provenance = Provenance {
        model_id: "00000_ROUNDTRIP".into(),
        package_sha256: "0".repeat(64),
        ..Provenance::default()
    };
    let encoding = Encoding {
        index: 0,
        part: Part::Image,
        range: RANGE,
        provenance: &provenance,
    };
    let bytes = writer.encode(array, &encoding).expect("encode");
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

fn assert_within(back: &ArrayD<f32>, sample: &ArrayD<f32>, tolerance: f32, what: &str) {
    assert_eq!(back.shape(), sample.shape(), "{what}");
    let worst = back
        .iter()
        .zip(sample)
        .map(|(b, s)| (b - s).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= tolerance, "{what}: off by {worst} > {tolerance}");
}

#[test]
fn png_and_png16_come_back_within_half_a_step() {
    let dir = tempfile::tempdir().unwrap();
    for (shape, channels) in [(vec![1, 5, 7], 1), (vec![3, 4, 6], 3), (vec![4, 3, 5], 4)] {
        let array = sample(&shape);
        let path = write(&PngWriter, &array, dir.path(), &format!("{channels}.png"));
        let image = png::open(Path::new(&path)).unwrap();
        let raster = png::with_channels(&image, channels);
        assert_eq!(raster.top, 255.0);
        let back = raster.to_range(RANGE).into_dyn();
        let step = quantize::half_step(255.0, RANGE) * 1.001;
        assert_within(&back, &array, step, &format!("png, {channels} channels"));
    }
    let array = sample(&[1, 9, 11]);
    let path = write(&Png16Writer, &array, dir.path(), "16.png");
    let raster = png::read(Path::new(&path)).unwrap();
    assert_eq!(raster.top, 65535.0, "16-bit PNG read at 16 bits");
    let back = raster.to_range(RANGE).into_dyn();
    let step = quantize::half_step(65535.0, RANGE) * 1.001;
    assert_within(&back, &array, step, "png16");
}

#[test]
fn npy_comes_back_exactly_in_any_dimension() {
    for shape in [vec![1, 4, 5], vec![3, 2, 2], vec![1, 3, 4, 5], vec![7]] {
        let array = sample(&shape);
        let bytes = NpyWriter
            .encode(
                &array,
                &Encoding {
                    index: 0,
                    part: Part::Mask,
                    range: RANGE,
                    provenance: &Provenance::default(),
                },
            )
            .unwrap();
        let (back, range) = npy::decode(&bytes).unwrap();
        assert_eq!(back, array, "{shape:?}");
        assert_eq!(range, [0.0, 1.0], "float data: [0, 1] unless told");
    }
}

#[test]
fn dicom_gray_and_rgb_come_back_within_half_a_step() {
    let dir = tempfile::tempdir().unwrap();
    let writer = DicomWriter::new();
    for (shape, top) in [(vec![1, 6, 5], 65535.0), (vec![3, 4, 3], 255.0)] {
        let array = sample(&shape);
        let path = write(&writer, &array, dir.path(), &format!("{}.dcm", shape[0]));
        let (stored, stored_range) = dicom::read(Path::new(&path)).unwrap();
        assert_eq!(stored_range, [0.0, top], "{shape:?}");
        let back = stored.mapv(|level| quantize::from_level(level, top, RANGE));
        let step = quantize::half_step(top, RANGE) * 1.001;
        assert_within(&back, &array, step, &format!("dicom {shape:?}"));
    }
}

#[test]
fn nifti_plain_and_gzip_come_back_exactly_in_2d_and_3d() {
    let dir = tempfile::tempdir().unwrap();
    for gzip in [false, true] {
        for shape in [vec![1, 4, 6], vec![1, 3, 4, 6]] {
            let array = sample(&shape);
            let writer = NiftiWriter { gzip };
            let name = format!("{}d.{}", shape.len() - 1, writer.extension());
            let path = write(&writer, &array, dir.path(), &name);
            let volume = nifti::read(Path::new(&path)).unwrap();
            assert_eq!(volume.range, Some([-1.0, 1.0]), "{name}: cal_min..cal_max");
            // Voxel (x, y, z) holds the sample's [0, z, y, x]: the values in C order.
            assert_eq!(
                volume.values,
                array.iter().copied().collect::<Vec<_>>(),
                "{name}"
            );
            let depth = if shape.len() == 4 { shape[1] } else { 1 };
            assert_eq!(volume.dims, [6, 4, depth], "{name}");
            assert_eq!(nifti::slice_count(Path::new(&path)).unwrap(), depth);
        }
    }
}

#[test]
fn a_16_bit_input_image_keeps_its_16_bits() {
    let dir = tempfile::tempdir().unwrap();
    // 256 neighbouring 16-bit levels: an 8-bit reader folds them into one or two values.
    let levels: Vec<f32> = (0..256).map(|i| (30000 + i) as f32).collect();
    let array = ArrayD::from_shape_vec(IxDyn(&[1, 16, 16]), levels.clone())
        .unwrap()
        .mapv(|level| quantize::from_level(level, 65535.0, RANGE));
    let path = write(&Png16Writer, &array, dir.path(), "input16.png");
    let input =
        medigan::generate::load_input_image(Path::new(&path), &[1, 16, 16], [0.0, 1.0]).unwrap();
    let expected: Vec<f32> = levels.iter().map(|l| l / 65535.0).collect();
    let got: Vec<f32> = input.iter().copied().collect();
    for (g, e) in got.iter().zip(&expected) {
        assert!((g - e).abs() < 1e-6, "{g} vs {e}");
    }
    let distinct = got.windows(2).filter(|w| w[1] > w[0]).count();
    assert_eq!(distinct, 255, "every 16-bit level stays distinct");
    // An 8-bit input reads as before: level / 255 of the range.
    let eight = sample(&[1, 4, 4]);
    let path = write(&PngWriter, &eight, dir.path(), "input8.png");
    let input = medigan::generate::load_input_image(Path::new(&path), &[1, 4, 4], RANGE).unwrap();
    let step = quantize::half_step(255.0, RANGE) * 1.001;
    assert_within(&input, &eight, step, "8-bit input");
}

#[test]
fn a_nifti_volume_is_decompressed_once_per_pass_with_the_feature_cache() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let slices = 7;
    write(
        &NiftiWriter { gzip: true },
        &sample(&[1, slices, 8, 8]),
        &images,
        "volume.nii.gz",
    );
    let set = ImageSet::from_folder(&images).unwrap();
    assert_eq!(set.len(), slices);
    let volume = match &set.images[0] {
        ImageSource::Slice { volume, .. } => Arc::clone(volume),
        other => panic!("a slice, not {other:?}"),
    };
    assert!(set.images.iter().all(|image| matches!(
        image,
        ImageSource::Slice { volume: v, .. } if Arc::ptr_eq(v, &volume)
    )));
    assert_eq!(volume.decodes(), 0, "listing reads the header only");
    let options = EvaluateOptions {
        cache_dir: Some(dir.path().join("cache")),
        features: medigan::evaluate::FeatureOptions {
            batch_size: 2,
            threads: Some(2),
            ..Default::default()
        },
        ..EvaluateOptions::default()
    };
    let source = Means::new("weights-a");
    let first = embed(&set, &source, &options, &NoProgress).unwrap();
    assert_eq!(
        volume.decodes(),
        1,
        "one decode for {slices} slices (cache key included)"
    );
    let again = embed(&set, &source, &options, &NoProgress).unwrap();
    assert_eq!(again, first);
    assert_eq!(
        volume.decodes(),
        1,
        "the second embedding comes from the cache"
    );
    // Each slice is its own image: slice k holds the values of plane k.
    let slice3 = set.images[3].load(&Default::default()).unwrap();
    let plane = 3 * 64..4 * 64;
    let expected: Vec<f32> = sample(&[1, slices, 8, 8])
        .iter()
        .skip(plane.start)
        .take(plane.len())
        .map(|v| (v + 1.0) / 2.0)
        .collect();
    let got: Vec<f32> = slice3.iter().copied().collect();
    for (g, e) in got.iter().zip(&expected) {
        assert!((g - e).abs() < 1e-6);
    }
}

#[test]
fn two_weight_files_give_two_feature_cache_entries() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    for i in 0..3 {
        let image = sample(&[1, 4, 4]).mapv(|v| 0.5 * v + 0.2 * i as f32);
        write(&PngWriter, &image, &images, &format!("{i}.png"));
    }
    let set = ImageSet::from_folder(&images).unwrap();
    let cache = dir.path().join("cache");
    let options = EvaluateOptions {
        cache_dir: Some(cache.clone()),
        ..EvaluateOptions::default()
    };
    // One extractor name, two weight files with different features.
    let (a, b) = (Means::new("weights-a"), Means::new("weights-b"));
    let features_a = embed(&set, &a, &options, &NoProgress).unwrap();
    let features_b = embed(&set, &b, &options, &NoProgress).unwrap();
    assert_ne!(features_a, features_b, "features of b are not those of a");
    let entries = |ext: &str| {
        std::fs::read_dir(&cache)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == ext)
            })
            .count()
    };
    assert_eq!((entries("npy"), entries("json")), (2, 2));
    assert_eq!(embed(&set, &a, &options, &NoProgress).unwrap(), features_a);
}

/// A toy extractor named the same whatever its weights: per-channel mean times a weight that
/// depends on the weights file, whose sha256 it reports.
struct Means {
    weight: f32,
    sha256: String,
}

impl Means {
    fn new(weights: &str) -> Means {
        Means {
            weight: weights.len() as f32 + f32::from(weights.as_bytes()[weights.len() - 1]),
            sha256: format!(
                "{:0>64}",
                weights.len() * 1000 + weights.as_bytes()[weights.len() - 1] as usize
            ),
        }
    }
}

impl ExtractorSource for Means {
    fn name(&self) -> String {
        "means".into()
    }
    fn input_size(&self) -> [usize; 2] {
        [4, 4]
    }
    fn feature_dims(&self) -> usize {
        3
    }
    fn normalization(&self) -> InputNormalization {
        InputNormalization::FID
    }
    fn sha256(&self) -> Option<String> {
        Some(self.sha256.clone())
    }
    fn make(&self) -> Result<Box<dyn FeatureExtractor>, EvaluateError> {
        Ok(Box::new(MeansExtractor(self.weight)))
    }
}

struct MeansExtractor(f32);

impl FeatureExtractor for MeansExtractor {
    fn name(&self) -> String {
        "means".into()
    }
    fn input_size(&self) -> [usize; 2] {
        [4, 4]
    }
    fn feature_dims(&self) -> usize {
        3
    }
    fn extract(&mut self, batch: ArrayView4<'_, f32>) -> Result<Array2<f32>, EvaluateError> {
        let weight = self.0;
        Ok(Array2::from_shape_fn((batch.shape()[0], 3), |(n, c)| {
            batch
                .index_axis(ndarray::Axis(0), n)
                .index_axis(ndarray::Axis(0), c)
                .mean()
                .unwrap_or(0.0)
                * weight
        }))
    }
}
