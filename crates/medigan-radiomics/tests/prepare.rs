//! `filters::prepare` against pyradiomics' `loadImage` + `checkMask` on committed fixtures
//! (`tests/fixtures/prepare/make.py` writes them with the reference pyradiomics/SimpleITK).

use std::path::PathBuf;

use medigan_radiomics::filters::prepare::prepare;
use medigan_radiomics::settings::{Interpolator, Settings};
use medigan_radiomics::{Geometry, RadiomicsError, Volume};
use ndarray::{Array3, ArrayD, Ix3};
use ndarray_npy::read_npy;
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prepare")
}

/// A fixture array as `[z, y, x]` (a 2D array becomes `(1, H, W)`).
fn load<T: ndarray_npy::ReadableElement>(name: &str) -> Array3<T> {
    let a: ArrayD<T> = read_npy(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let a = if a.ndim() == 2 {
        a.insert_axis(ndarray::Axis(0))
    } else {
        a
    };
    a.into_dimensionality::<Ix3>().unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn three(v: &[f64], fill: f64) -> [f64; 3] {
    [v[0], v[1], v.get(2).copied().unwrap_or(fill)]
}

fn settings_of(s: &Value) -> Settings {
    let mut out = Settings::default();
    let get = |k: &str| s.get(k);
    if let Some(v) = get("normalize") {
        out.normalize = v.as_bool().unwrap();
    }
    if let Some(v) = get("normalizeScale") {
        out.normalize_scale = v.as_f64().unwrap();
    }
    if let Some(v) = get("removeOutliers") {
        out.remove_outliers = Some(v.as_f64().unwrap());
    }
    if let Some(v) = get("resampledPixelSpacing") {
        out.resampled_pixel_spacing = Some(three(&floats(v), 0.0));
    }
    if let Some(v) = get("interpolator") {
        out.interpolator = match v.as_str().unwrap() {
            "sitkBSpline" => Interpolator::BSpline,
            "sitkNearestNeighbor" => Interpolator::NearestNeighbor,
            other => panic!("interpolator {other}"),
        };
    }
    if let Some(v) = get("padDistance") {
        out.pad_distance = v.as_u64().unwrap() as usize;
    }
    if let Some(v) = get("preCrop") {
        out.pre_crop = v.as_bool().unwrap();
    }
    if let Some(v) = get("label") {
        out.label = v.as_u64().unwrap() as u8;
    }
    if let Some(v) = get("correctMask") {
        out.correct_mask = v.as_bool().unwrap();
    }
    if let Some(v) = get("minimumROIDimensions") {
        out.minimum_roi_dimensions = v.as_u64().unwrap() as usize;
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(a.abs()) || (a - b).abs() <= 1e-9
}

#[test]
fn prepare_matches_pyradiomics_on_every_fixture() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("expected.json")).unwrap())
            .unwrap();
    let cases = expected.as_object().unwrap();
    assert_eq!(cases.len(), 11);
    for (name, case) in cases {
        let dims = case["dims"].as_u64().unwrap() as usize;
        let settings = settings_of(&case["settings"]);
        let mut geometry = Geometry::unit(dims);
        geometry.spacing = three(&floats(&case["spacing"]), 1.0);
        geometry.origin = three(&floats(&case["origin"]), 0.0);
        let direction = floats(&case["direction"]);
        for i in 0..dims {
            for j in 0..dims {
                geometry.direction[i * 3 + j] = direction[i * dims + j];
            }
        }
        let image: Array3<f32> = load(&format!("{name}_image.npy"));
        let mask: Array3<u8> = load(&format!("{name}_mask.npy"));
        let image = Volume {
            data: image.mapv(f64::from),
            geometry: geometry.clone(),
        };
        let mask = Volume {
            data: mask.mapv(|v| v == settings.label),
            geometry,
        };
        let got = prepare(image, mask, &settings).unwrap_or_else(|e| panic!("{name}: {e}"));

        let want_image: Array3<f64> = load(&format!("{name}_out_image.npy"));
        let want_mask: Array3<u8> = load(&format!("{name}_out_mask.npy"));
        assert_eq!(got.image.data.shape(), want_image.shape(), "{name}: shape");
        assert_eq!(got.mask.data.mapv(u8::from), want_mask, "{name}: mask");
        let mut worst = 0.0f64;
        for (a, b) in got.image.data.iter().zip(want_image.iter()) {
            assert!(close(*a, *b), "{name}: voxel {a} vs {b}");
            worst = worst.max((a - b).abs() / b.abs().max(1e-300));
        }
        eprintln!("{name}: worst relative voxel difference {worst:.3e}");
        assert_eq!(
            got.f32_precision,
            !case["out_float64"].as_bool().unwrap(),
            "{name}: precision"
        );
        let spacing = three(&floats(&case["out_spacing"]), 1.0);
        let origin = three(&floats(&case["out_origin"]), 0.0);
        for a in 0..dims {
            assert!(
                close(got.image.geometry.spacing[a], spacing[a]),
                "{name}: spacing"
            );
            assert!(
                close(got.image.geometry.origin[a], origin[a]),
                "{name}: origin"
            );
            assert_eq!(
                got.mask.geometry, got.image.geometry,
                "{name}: mask geometry"
            );
        }
        let bbox: Vec<usize> = case["bbox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(got.bbox.to_pyradiomics(dims), bbox, "{name}: bounding box");
        let diags = case["diagnostics"].as_array().unwrap();
        assert_eq!(got.diagnostics.len(), diags.len(), "{name}: diagnostics");
        for ((k, v), want) in got.diagnostics.iter().zip(diags) {
            assert_eq!(k, want[0].as_str().unwrap(), "{name}: diagnostic name");
            let w = want[1].as_f64().unwrap();
            assert!(close(*v, w), "{name}: {k} = {v}, pyradiomics {w}");
        }
    }
}

#[test]
fn bad_inputs_are_rejected_with_the_field_named() {
    let image = Volume {
        data: Array3::from_shape_fn((1, 6, 6), |(_, y, x)| (y * 6 + x) as f64),
        geometry: Geometry::unit(3),
    };
    let empty = Volume {
        data: Array3::from_elem((1, 6, 6), false),
        geometry: Geometry::unit(3),
    };
    let err = prepare(image.clone(), empty.clone(), &Settings::default()).unwrap_err();
    assert!(matches!(err, RadiomicsError::Mask(_)), "{err}");

    let mut one = empty.clone();
    one.data[[0, 2, 2]] = true;
    let err = prepare(image.clone(), one.clone(), &Settings::default()).unwrap_err();
    assert!(err.to_string().contains("1 segmented voxel"), "{err}");

    let mut line = one.clone();
    line.data[[0, 2, 3]] = true;
    let err = prepare(image.clone(), line, &Settings::default()).unwrap_err();
    assert!(err.to_string().contains("too few dimensions"), "{err}");

    let mut square = one.clone();
    square.data[[0, 3, 3]] = true;
    let settings = Settings {
        resampled_pixel_spacing: Some([-1.0, 1.0, 1.0]),
        ..Settings::default()
    };
    let err = prepare(image.clone(), square.clone(), &settings).unwrap_err();
    assert!(err.to_string().contains("resampledPixelSpacing"), "{err}");

    let settings = Settings {
        resampled_pixel_spacing: Some([1e-6, 1e-6, 0.0]),
        ..Settings::default()
    };
    let err = prepare(image.clone(), square.clone(), &settings).unwrap_err();
    assert!(err.to_string().contains("resampledPixelSpacing"), "{err}");

    let flat = Volume {
        data: Array3::from_elem((1, 6, 6), 3.0),
        geometry: Geometry::unit(3),
    };
    let settings = Settings {
        normalize: true,
        ..Settings::default()
    };
    let err = prepare(flat, square.clone(), &settings).unwrap_err();
    assert!(err.to_string().contains("normalize"), "{err}");

    let mut moved = square;
    moved.geometry.origin = [1.0, 0.0, 0.0];
    let err = prepare(image, moved, &Settings::default()).unwrap_err();
    assert!(err.to_string().contains("correctMask"), "{err}");
}
