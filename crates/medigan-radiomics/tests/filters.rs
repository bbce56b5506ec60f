//! The derived image types (wavelet, LoG) against pyradiomics on the fixtures that
//! `tests/fixtures/filters/make.py` writes: the same names in the same order, every voxel within
//! 1e-6 of the image's range.

use std::path::{Path, PathBuf};

use medigan_radiomics::filters::{log, wavelet};
use medigan_radiomics::{Geometry, Settings, Volume};
use ndarray::{Array3, Array4, Axis};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/filters")
}

struct Case {
    name: String,
    image: Volume<f64>,
    mask: Volume<bool>,
    settings: Settings,
    names: Vec<String>,
    expected: Array4<f64>,
    /// The voxels are `f32` in pyradiomics (else `f64`).
    f32: bool,
}

/// The fixture cases of `kind` (`wavelet` or `log`).
fn cases(kind: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for case in json["cases"].as_array().unwrap() {
        if case["kind"] != kind {
            continue;
        }
        let name = case["name"].as_str().unwrap().to_string();
        let input_path = fixtures().join(format!("{name}_input.npy"));
        let expected_path = fixtures().join(format!("{name}_expected.npy"));
        let input: Array3<f64> = match case["pixel"].as_str() {
            Some("float32") => ndarray_npy::read_npy::<_, Array3<f32>>(input_path)
                .unwrap()
                .mapv(f64::from),
            Some("float64") => ndarray_npy::read_npy(input_path).unwrap(),
            other => panic!("{name}: pixel type {other:?}"),
        };
        let expected: Array4<f64> = match case["output_pixel"].as_str() {
            Some("float32") => ndarray_npy::read_npy::<_, Array4<f32>>(expected_path)
                .unwrap()
                .mapv(f64::from),
            Some("float64") => ndarray_npy::read_npy(expected_path).unwrap(),
            other => panic!("{name}: output pixel type {other:?}"),
        };
        let dims = case["dims"].as_u64().unwrap() as usize;
        let spacing: Vec<f64> = case["spacing"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let mut geometry = Geometry::unit(dims);
        geometry.spacing[..spacing.len()].copy_from_slice(&spacing);
        let s = &case["settings"];
        let mut settings = Settings::default();
        if let Some(v) = s.get("normalize") {
            settings.normalize = v.as_bool().unwrap();
        }
        if let Some(v) = s.get("force2D") {
            settings.force_2d = v.as_bool().unwrap();
        }
        if let Some(v) = s.get("force2Ddimension") {
            settings.force_2d_dimension = v.as_u64().unwrap() as usize;
        }
        if let Some(v) = s.get("wavelet") {
            settings.wavelet = v.as_str().unwrap().to_string();
        }
        if let Some(v) = s.get("level") {
            settings.wavelet_level = v.as_u64().unwrap() as usize;
        }
        if let Some(v) = s.get("start_level") {
            settings.wavelet_start_level = v.as_u64().unwrap() as usize;
        }
        if let Some(v) = s.get("sigma") {
            settings.log_sigma = v
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
        }
        let names = case["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let image = Volume {
            data: input.clone(),
            geometry: geometry.clone(),
        };
        let mask = Volume {
            data: Array3::from_elem(input.raw_dim(), true),
            geometry,
        };
        let f32 = case["output_pixel"] == "float32";
        out.push(Case {
            f32,
            name,
            image,
            mask,
            settings,
            names,
            expected,
        });
    }
    assert!(!out.is_empty(), "no {kind} fixtures");
    out
}

/// Every image named and ordered as pyradiomics, every voxel within 1e-6 of the expected
/// image's range; returns how many voxels are bit-for-bit equal and how many in all.
fn check(case: &Case, got: &[(String, Volume<f64>)]) -> (usize, usize) {
    let got_names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(got_names, case.names, "{}: image names", case.name);
    let (mut exact, mut total) = (0, 0);
    for ((label, vol), want) in got.iter().zip(case.expected.axis_iter(Axis(0))) {
        assert_eq!(vol.data.dim(), want.dim(), "{} {label}: shape", case.name);
        assert_eq!(vol.geometry, case.image.geometry, "{} {label}", case.name);
        let lo = want.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = want.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let tol = 1e-6 * (hi - lo).max(1e-3);
        for (ix, &w) in want.indexed_iter() {
            let g = vol.data[ix];
            assert!(
                (g - w).abs() <= tol,
                "{} {label} at {ix:?}: got {g}, pyradiomics {w}",
                case.name
            );
            if case.f32 {
                assert_eq!(g, f64::from(g as f32), "{} {label}: not an f32", case.name);
            }
            exact += usize::from(g == w);
            total += 1;
        }
    }
    (exact, total)
}

#[test]
fn wavelet_images_match_pyradiomics() {
    for case in cases("wavelet") {
        let got = wavelet::images(&case.image, &case.mask, &case.settings).unwrap();
        let (exact, total) = check(&case, &got);
        // PyWavelets sums in the image's float type; the same taps and order of additions give
        // the same bits.
        assert_eq!(exact, total, "{}: voxels not bit-exact", case.name);
    }
}

#[test]
fn wavelet_rejects_bad_settings() {
    let case = cases("wavelet").remove(0);
    let mut s = case.settings.clone();
    s.wavelet = "db2".to_string();
    let err = wavelet::images(&case.image, &case.mask, &s).unwrap_err();
    assert!(err.to_string().contains("wavelet"), "{err}");
    let mut s = case.settings.clone();
    s.force_2d = true;
    s.force_2d_dimension = 3;
    let err = wavelet::images(&case.image, &case.mask, &s).unwrap_err();
    assert!(err.to_string().contains("force2Ddimension"), "{err}");
    let mut s = case.settings.clone();
    s.wavelet_level = 0;
    let err = wavelet::images(&case.image, &case.mask, &s).unwrap_err();
    assert!(err.to_string().contains("level"), "{err}");
}

#[test]
fn log_images_match_pyradiomics() {
    let mut exact = 0;
    let mut total = 0;
    for case in cases("log") {
        let got = log::images(&case.image, &case.mask, &case.settings).unwrap();
        let (e, t) = check(&case, &got);
        exact += e;
        total += t;
    }
    eprintln!("LoG: {exact} of {total} voxels bit-exact");
}

#[test]
fn log_rejects_unusable_images() {
    let case = cases("log").remove(0);
    let mut image = case.image.clone();
    image.geometry.spacing[1] = 0.0;
    let err = log::images(&image, &case.mask, &case.settings).unwrap_err();
    assert!(err.to_string().contains("spacing"), "{err}");
    let mut image = case.image.clone();
    image.geometry.dims = 2;
    let err = log::images(&image, &case.mask, &case.settings).unwrap_err();
    assert!(err.to_string().contains("2D"), "{err}");
}
