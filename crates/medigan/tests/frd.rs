//! The FRD equals frd-score 1.0.1 (v1 and v0, 2D PNG and 3D NIfTI) within 1e-6 relative, and
//! every radiomics feature of the first image equals pyradiomics' within 1e-6 relative.
//! Reference values: `scripts/make_frd_fixtures.py` (frd-score and pyradiomics), which draws
//! the same images from the same integer formula as `pixel` here.

use std::path::Path;

use medigan::evaluate::frd::{
    self, FrdRequest, FrdSettings, FrdVersion, config_for, image_features,
};
use medigan::progress::NoProgress;
use medigan_radiomics::extractor::Extractor;
use serde_json::Value;

const IMAGES_2D: usize = 48;
const SHAPE_2D: (usize, usize) = (40, 36);
const VOLUMES_3D: usize = 24;
const SHAPE_3D: (usize, usize, usize) = (10, 12, 12);
const SPACING_3D: [f32; 3] = [1.5, 1.5, 2.0];

fn mix(values: &[i64]) -> u64 {
    let mut h: u64 = 0x9E37_79B9_7F4A_7C15;
    for &v in values {
        h ^= v as u64;
        h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 31;
        h = h.wrapping_mul(0x94D0_49BB_1331_11EB);
        h ^= h >> 29;
    }
    h
}

/// Voxel (z, y, x) of image i of set s, as `pixel` in the fixture script.
fn pixel(s: i64, i: i64, z: i64, y: i64, x: i64) -> u8 {
    let base = 40 + (i * 37) % 80 + 15 * s;
    let gradient = (x * (i % 5 + 1) + y * ((i * 3) % 7) + z * (i % 3)) / 2;
    let (cx, cy, r) = (8 + i % 20, 10 + (i * 7) % 15, 4 + i % 6);
    let blob = if (x - cx).pow(2) + (y - cy).pow(2) < r * r {
        60 + 10 * s
    } else {
        0
    };
    let noise = (mix(&[s, i, z, y, x]) % (41 + 20 * s as u64)) as i64;
    (base + gradient + blob + noise).min(255) as u8
}

fn write_png(path: &Path, s: i64, i: i64) {
    let (h, w) = SHAPE_2D;
    let img = image::GrayImage::from_fn(w as u32, h as u32, |x, y| {
        image::Luma([pixel(s, i, 0, i64::from(y), i64::from(x))])
    });
    img.save(path).unwrap();
}

/// A NIfTI-1 file of uint8 voxels with the fixture's spacing.
fn write_nifti(path: &Path, s: i64, i: i64) {
    let (d, h, w) = SHAPE_3D;
    let mut bytes = vec![0u8; 352];
    bytes[..4].copy_from_slice(&348i32.to_le_bytes());
    for (k, v) in [3i16, w as i16, h as i16, d as i16, 1, 1, 1, 1]
        .iter()
        .enumerate()
    {
        bytes[40 + 2 * k..42 + 2 * k].copy_from_slice(&v.to_le_bytes());
    }
    bytes[70..72].copy_from_slice(&2i16.to_le_bytes());
    bytes[72..74].copy_from_slice(&8i16.to_le_bytes());
    for (k, v) in [1.0f32, SPACING_3D[0], SPACING_3D[1], SPACING_3D[2]]
        .iter()
        .enumerate()
    {
        bytes[76 + 4 * k..80 + 4 * k].copy_from_slice(&v.to_le_bytes());
    }
    bytes[108..112].copy_from_slice(&352f32.to_le_bytes());
    bytes[344..348].copy_from_slice(b"n+1\0");
    for z in 0..d as i64 {
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                bytes.push(pixel(s, i, z, y, x));
            }
        }
    }
    std::fs::write(path, bytes).unwrap();
}

fn write_sets(root: &Path, kind: &str) {
    for (s, name) in ["real", "synthetic"].iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        if kind == "2d" {
            for i in 0..IMAGES_2D {
                write_png(&dir.join(format!("{i:03}.png")), s as i64, i as i64);
            }
        } else {
            for i in 0..VOLUMES_3D {
                write_nifti(&dir.join(format!("{i:03}.nii")), s as i64, i as i64);
            }
        }
    }
}

fn expected() -> Value {
    let text = include_str!("fixtures/frd/expected.json");
    serde_json::from_str(text).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-6 * a.abs().max(b.abs()) + 1e-9
}

fn check_case(case: &Value) {
    let kind = case["kind"].as_str().unwrap();
    let version: FrdVersion = case["version"].as_str().unwrap().parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_sets(dir.path(), kind);
    // Features of the first real image, one by one.
    let extractor = Extractor::new(config_for(version, kind == "2d")).unwrap();
    let first = frd::inputs::list(&dir.path().join("real")).unwrap()[0].clone();
    let ours = image_features(&extractor, &first, None, version)
        .unwrap()
        .unwrap();
    let theirs = case["first_real_features"].as_array().unwrap();
    let names: Vec<&str> = theirs.iter().map(|p| p[0].as_str().unwrap()).collect();
    let our_names: Vec<&str> = ours.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        our_names, names,
        "{kind} {version:?}: feature names and order"
    );
    let wrong: Vec<String> = ours
        .iter()
        .zip(theirs)
        .filter(|((_, v), p)| !close(*v, p[1].as_f64().unwrap_or(f64::NAN)))
        .map(|((n, v), p)| format!("{n}: ours {v}, pyradiomics {}", p[1]))
        .collect();
    assert!(
        wrong.is_empty(),
        "{kind} {version:?}: {} features differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // The FRD of the two sets.
    let settings = FrdSettings {
        version,
        paper_log: false,
    };
    let request = FrdRequest::folders(
        &dir.path().join("real"),
        &dir.path().join("synthetic"),
        settings,
    );
    let report = frd::run(&request, &NoProgress).unwrap();
    let reference = case["frd"].as_f64().unwrap();
    let relative = (report.frd - reference).abs() / reference.abs();
    eprintln!(
        "{kind} {version:?}: FRD {} vs frd-score {reference}: relative {relative:.2e}",
        report.frd
    );
    assert!(
        relative <= 1e-6,
        "{kind} {version:?}: FRD {} vs frd-score {reference} (relative {relative:.2e})",
        report.frd
    );
}

fn case(kind: &str, version: &str) -> Value {
    expected()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == kind && c["version"] == version)
        .cloned()
        .unwrap()
}

#[test]
fn frd_v1_of_png_images_equals_frd_score() {
    check_case(&case("2d", "v1"));
}

#[test]
fn frd_v0_of_png_images_equals_frd_score() {
    check_case(&case("2d", "v0"));
}

#[test]
fn frd_v1_of_nifti_volumes_equals_frd_score() {
    check_case(&case("3d", "v1"));
}

#[test]
fn frd_v0_of_nifti_volumes_equals_frd_score() {
    check_case(&case("3d", "v0"));
}

/// The FRD of shards' saved features, merged in any order, is bit-identical to one pass.
#[test]
fn merged_shards_give_the_single_pass_frd_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    write_sets(dir.path(), "2d");
    let (real, synthetic) = (dir.path().join("real"), dir.path().join("synthetic"));
    // Two shards of the synthetic set: every third image, and the rest.
    let shards = [dir.path().join("shard_a"), dir.path().join("shard_b")];
    for (i, file) in frd::inputs::list(&synthetic).unwrap().iter().enumerate() {
        let shard = &shards[usize::from(i % 3 != 0)];
        std::fs::create_dir_all(shard).unwrap();
        std::fs::copy(file, shard.join(file.file_name().unwrap())).unwrap();
    }
    for version in [FrdVersion::V1, FrdVersion::V0] {
        let settings = FrdSettings {
            version,
            paper_log: false,
        };
        let single = frd::run(
            &FrdRequest::folders(&real, &synthetic, settings),
            &NoProgress,
        )
        .unwrap();
        let files: Vec<_> = shards
            .iter()
            .enumerate()
            .map(|(i, shard)| {
                let path = dir.path().join(format!("{version:?}-{i}.frd"));
                let request = FrdRequest {
                    save_stats: Some(path.clone()),
                    ..FrdRequest::folders(&real, shard, settings)
                };
                frd::run(&request, &NoProgress).unwrap();
                path
            })
            .collect();
        for order in [files.clone(), files.iter().rev().cloned().collect()] {
            let merged = frd::run_merged(&order, false).unwrap();
            assert_eq!(merged.frd.to_bits(), single.frd.to_bits(), "{version:?}");
            assert_eq!(merged.images, single.images);
            assert_eq!(merged.version, version);
        }
    }
    // A shard against another real set is refused, naming the file.
    let other = dir.path().join("other.frd");
    let request = FrdRequest {
        save_stats: Some(other.clone()),
        ..FrdRequest::folders(&shards[0], &shards[1], FrdSettings::default())
    };
    frd::run(&request, &NoProgress).unwrap();
    let first = dir.path().join("V1-0.frd");
    let error = frd::run_merged(&[first, other.clone()], false)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("real set differs") && error.contains("other.frd"),
        "{error}"
    );
    // A truncated file is refused before its rows are read.
    let bytes = std::fs::read(&other).unwrap();
    std::fs::write(&other, &bytes[..bytes.len() - 8]).unwrap();
    let error = frd::run_merged(&[other], false).unwrap_err().to_string();
    assert!(error.contains("bytes of features"), "{error}");
}

/// `--metrics frd` compares two folders: with models, repeats or FID statistics it is refused
/// before anything runs, naming the option; so is the paper's log with v0.
#[test]
fn frd_as_a_metric_is_refused_where_it_cannot_apply() {
    use medigan::evaluate::{
        EvaluateOptions, EvaluationRequest, ExtractorKind, ExtractorSpec, MetricSet, SyntheticRun,
        SyntheticSide,
    };
    let folder = |dir: &str| SyntheticSide::Folder(dir.into());
    let base = EvaluationRequest {
        real: "real".into(),
        synthetic: folder("synthetic"),
        extractor: ExtractorSpec::new(ExtractorKind::Inception),
        options: EvaluateOptions::default(),
        metric_key: None,
        save_stats: None,
        per_class: false,
    };
    let mut frd = base.clone();
    frd.options.metrics.metrics = MetricSet::parse("frd").unwrap();
    assert!(frd.check().is_ok());
    let models = EvaluationRequest {
        synthetic: SyntheticSide::Models {
            models: vec!["00900".into()],
            run: SyntheticRun::default(),
        },
        ..frd.clone()
    };
    let mut repeats = frd.clone();
    repeats.options.metrics.repeats = 2;
    let stats = EvaluationRequest {
        save_stats: Some("a.stats".into()),
        ..frd.clone()
    };
    let mut paper_v0 = frd.clone();
    paper_v0.options.metrics.frd = FrdSettings {
        version: FrdVersion::V0,
        paper_log: true,
    };
    for (request, says) in [
        (models, "generate the samples to a folder"),
        (repeats, "drop --repeats"),
        (stats, "medigan frd --save-stats"),
        (paper_v0, "v1 option"),
    ] {
        let error = request.check().unwrap_err().to_string();
        assert!(error.contains(says), "{error}");
    }
}
