//! The memorisation audit on planted copies: procedural images (random Gaussian blobs, seeded)
//! stand for a training set, a holdout and generated samples; 20 training images, mirrored,
//! noised and shifted by 2 px, are planted among 200 generated ones. The feature space is the
//! small ONNX extractor of `tests/fixtures/fid/` (no Inception weights needed).
//!
//! Why not the bundled phantom model (00900): its samples are so alike (a fresh sample
//! correlates up to 0.97 with some training sample, while a 2 px shift alone drops a phantom's
//! correlation with itself to 0.42) that a noised, shifted copy is no closer to its source
//! than fresh samples are to theirs; no threshold separates them there.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use medigan::evaluate::audit::gallery::write_gallery;
use medigan::evaluate::audit::pixels::PixelMetric;
use medigan::evaluate::audit::ssim::ssim;
use medigan::evaluate::audit::{AuditOptions, AuditReport, AuditSets, audit};
use medigan::evaluate::{
    ImageSet, ImageSource, InputNormalization, OnnxExtractorConfig, OnnxExtractorSpec,
};
use medigan::progress::NoProgress;
use ndarray::{Array2, Array3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

fn extractor() -> OnnxExtractorSpec {
    let graph = common::fixtures("fid/extractor.onnx");
    OnnxExtractorSpec::resolve(OnnxExtractorConfig {
        graph,
        input_size: None,
        normalization: InputNormalization {
            range: [0.0, 1.0],
            mean_std: None,
        },
        output: None,
        backend: None,
    })
    .unwrap()
}

/// `n` gray 64 x 64 images of six Gaussian blobs each (random centre, width, brightness).
fn blobs(label: &str, n: usize, seed: u64) -> ImageSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let images = (0..n)
        .map(|_| {
            let blobs: Vec<[f32; 4]> = (0..6)
                .map(|_| {
                    [
                        rng.random_range(0.0..64.0),
                        rng.random_range(0.0..64.0),
                        rng.random_range(4.0..12.0),
                        rng.random_range(0.2..1.0),
                    ]
                })
                .collect();
            let mut image = Array3::from_shape_fn((1, 64, 64), |(_, y, x)| {
                blobs
                    .iter()
                    .map(|&[cy, cx, s, a]| {
                        let d2 = (y as f32 - cy).powi(2) + (x as f32 - cx).powi(2);
                        a * (-d2 / (2.0 * s * s)).exp()
                    })
                    .sum::<f32>()
            });
            let max = image.iter().cloned().fold(f32::MIN_POSITIVE, f32::max);
            image.mapv_inplace(|v| v / max);
            ImageSource::Array(Arc::new(image))
        })
        .collect();
    ImageSet {
        label: label.into(),
        images,
    }
}

/// Mirrored, shifted right and down by 2 px (edge pixels repeated), with Gaussian noise.
fn augmented(image: &Array3<f32>, rng: &mut ChaCha8Rng) -> Array3<f32> {
    let (c, h, w) = image.dim();
    let noise = Normal::new(0.0f32, 0.03).unwrap();
    Array3::from_shape_fn((c, h, w), |(ch, y, x)| {
        let sy = y.saturating_sub(2);
        let sx = w - 1 - x.saturating_sub(2);
        (image[(ch, sy, sx)] + noise.sample(rng)).clamp(0.0, 1.0)
    })
}

fn array(source: &ImageSource) -> Arc<Array3<f32>> {
    match source {
        ImageSource::Array(a) => Arc::clone(a),
        _ => panic!("generated images are in memory"),
    }
}

struct Setup {
    train: ImageSet,
    holdout: ImageSet,
    planted: ImageSet,
    fresh: ImageSet,
}

fn setup() -> Setup {
    let train = blobs("train", 100, 1);
    let holdout = blobs("holdout", 100, 2);
    let mut planted = blobs("planted", 200, 3);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for source in &train.images[..20] {
        let copy = augmented(&array(source), &mut rng);
        planted.images.push(ImageSource::Array(Arc::new(copy)));
    }
    let fresh = blobs("fresh", 200, 4);
    Setup {
        train,
        holdout,
        planted,
        fresh,
    }
}

fn run(setup: &Setup, synthetic: &ImageSet) -> AuditReport {
    run_with(setup, synthetic, PixelMetric::Ncc)
}

fn run_with(setup: &Setup, synthetic: &ImageSet, pixel_metric: PixelMetric) -> AuditReport {
    let sets = AuditSets {
        synthetic,
        train: &setup.train,
        holdout: Some(&setup.holdout),
    };
    let options = AuditOptions {
        pixel_metric,
        ..AuditOptions::default()
    };
    audit("test", sets, &extractor(), &options, &NoProgress).unwrap()
}

#[test]
fn audit_flags_planted_copies_and_no_fresh_images_and_shows_them_in_a_gallery() {
    let setup = setup();
    let report = run(&setup, &setup.planted);
    let copies: Vec<usize> = (200..220).collect();
    for copy in &copies {
        let m = report
            .matches
            .iter()
            .find(|m| m.synthetic == *copy)
            .unwrap();
        assert!(m.flagged, "planted copy {copy} not flagged: {m:?}");
        assert_eq!(m.pixel_nearest, copy - 200, "{m:?}");
        assert!(m.pixel_flipped, "{m:?}");
    }
    let flagged: Vec<usize> = report
        .matches
        .iter()
        .filter(|m| m.flagged)
        .map(|m| m.synthetic)
        .collect();
    let false_flags = flagged.iter().filter(|i| !copies.contains(i)).count();
    assert!(
        false_flags <= 2,
        "{false_flags} false flags: {flagged:?} (pixel threshold {}, feature threshold {})",
        report.pixel_threshold,
        report.feature_threshold
    );
    assert_eq!(report.flagged, flagged.len());
    assert!(report.synthetic_pixel_similarity.max > report.calibration_pixel_similarity.max);

    let fresh = run(&setup, &setup.fresh);
    assert_eq!(
        fresh.flagged,
        0,
        "fresh images flagged: {:?}",
        fresh
            .matches
            .iter()
            .filter(|m| m.flagged)
            .collect::<Vec<_>>()
    );
    let privacy = &fresh.catalog_privacy()["selection"]["privacy_preservation"];
    assert_eq!(privacy["memorisation_audit"]["flagged_copies"], 0);
    assert_eq!(privacy["memorisation_audit"]["holdout_images"], 100);

    // The gallery: the flagged pairs first, PNGs beside the page, nothing staged left over.
    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("gallery");
    let read = Default::default();
    let page = write_gallery(&report, &setup.planted, &setup.train, &out, 5, &read).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html.matches("likely copy").count(), 5, "{html}");
    assert_eq!(std::fs::read_dir(out.join("pairs")).unwrap().count(), 10);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    let err = write_gallery(&report, &setup.planted, &setup.train, &out, 5, &read)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not empty"), "{err}");
}

#[test]
fn ssim_matches_scikit_image() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/ssim/reference.json");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let shape = (
            case["height"].as_u64().unwrap() as usize,
            case["width"].as_u64().unwrap() as usize,
        );
        let scale = case["scale"].as_f64().unwrap();
        let image = |key: &str| {
            let values: Vec<f64> = case[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() / scale)
                .collect();
            Array2::from_shape_vec(shape, values).unwrap()
        };
        let (a, b) = (image("a"), image("b"));
        let got = ssim(a.view(), b.view(), case["data_range"].as_f64().unwrap()).unwrap();
        let want = case["ssim"].as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-10,
            "{}: {got} vs scikit-image {want}",
            case["name"]
        );
    }
}

#[test]
fn audit_with_ssim_finds_the_source_of_planted_copies_and_flags_no_fresh_images() {
    // SSIM is not blind to the noise of the copies (0.84 for a copy with noise of sd 0.03):
    // it finds each copy's source, but flags fewer copies than the correlation does.
    let setup = setup();
    let report = run_with(&setup, &setup.planted, PixelMetric::Ssim);
    assert_eq!(report.pixel_metric, "ssim");
    for copy in 200..220 {
        let m = report.matches.iter().find(|m| m.synthetic == copy).unwrap();
        assert_eq!(m.pixel_nearest, copy - 200, "{m:?}");
        assert!(m.pixel_flipped, "{m:?}");
    }
    let flagged: Vec<usize> = report
        .matches
        .iter()
        .filter(|m| m.flagged)
        .map(|m| m.synthetic)
        .collect();
    let false_flags = flagged.iter().filter(|&&i| i < 200).count();
    assert!(false_flags <= 2, "{false_flags} false flags: {flagged:?}");
    eprintln!(
        "SSIM: {} of 20 planted copies flagged (pixel threshold {:.3})",
        flagged.len() - false_flags,
        report.pixel_threshold
    );
    let fresh = run_with(&setup, &setup.fresh, PixelMetric::Ssim);
    assert_eq!(
        fresh.flagged, 0,
        "pixel threshold {}",
        fresh.pixel_threshold
    );
}
