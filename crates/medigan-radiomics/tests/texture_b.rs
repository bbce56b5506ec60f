//! GLRLM, GLSZM and GLDM against pyradiomics: every feature of every fixture case within 1e-6
//! relative (1e-9 absolute near zero), names and order as pyradiomics emits them, NaN where
//! pyradiomics gives NaN. Fixtures: `tests/fixtures/texture_b/make.py` (reference venv).

use std::path::{Path, PathBuf};

use medigan_radiomics::texture::{Roi, gldm, glrlm, glszm};
use medigan_radiomics::{Features, Settings};
use ndarray::{Array3, ArrayD, Ix3};
use serde_json::Value;

/// The committed fixtures, or the directory `MEDIGAN_TEXTURE_B_FIXTURES` names (random cases
/// from `make.py --random N DIR`).
fn fixtures() -> PathBuf {
    match std::env::var_os("MEDIGAN_TEXTURE_B_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/texture_b"),
    }
}

/// One fixture case: the region as the extractor hands it over, and its settings.
struct Case {
    name: String,
    image: Array3<f64>,
    mask: Array3<bool>,
    dims: usize,
    f32_precision: bool,
    settings: Settings,
    expected: Value,
}

/// A 2D array becomes `(1, H, W)`, as the crate holds every region.
fn to_3d<T: Clone>(array: ArrayD<T>) -> Array3<T> {
    let array = if array.ndim() == 2 {
        array.insert_axis(ndarray::Axis(0))
    } else {
        array
    };
    array.into_dimensionality::<Ix3>().expect("2D or 3D array")
}

fn cases() -> Vec<Case> {
    let dir = fixtures();
    let text = std::fs::read_to_string(dir.join("expected.json")).expect("expected.json");
    let json: Value = serde_json::from_str(&text).expect("valid JSON");
    let mut out = Vec::new();
    for case in json["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name").to_string();
        let f32_precision = case["f32"].as_bool().expect("f32");
        let image_path = dir.join(format!("{name}_image.npy"));
        let image: ArrayD<f64> = if f32_precision {
            let image: ArrayD<f32> = ndarray_npy::read_npy(&image_path).expect("f32 image");
            image.mapv(f64::from)
        } else {
            ndarray_npy::read_npy(&image_path).expect("f64 image")
        };
        let mask: ArrayD<u8> =
            ndarray_npy::read_npy(dir.join(format!("{name}_mask.npy"))).expect("mask");
        let settings = Settings {
            bin_width: case["bin_width"].as_f64().expect("bin_width"),
            force_2d: case["force_2d"].as_bool().expect("force_2d"),
            force_2d_dimension: case["force_2d_dimension"].as_u64().expect("dimension") as usize,
            distances: case["distances"]
                .as_array()
                .expect("distances")
                .iter()
                .map(|d| d.as_u64().expect("distance") as usize)
                .collect(),
            gldm_a: case["gldm_a"].as_f64().expect("gldm_a"),
            ..Settings::default()
        };
        out.push(Case {
            name,
            image: to_3d(image),
            mask: to_3d(mask.mapv(|m| m != 0)),
            dims: case["dims"].as_u64().expect("dims") as usize,
            f32_precision,
            settings,
            expected: case.clone(),
        });
    }
    assert!(!out.is_empty(), "no fixture case");
    out
}

fn check(class: &str, compute: fn(&Roi<'_>, &Settings) -> Features) {
    let mut failures = Vec::new();
    for case in cases() {
        let roi = Roi {
            image: case.image.view(),
            mask: case.mask.view(),
            spacing: [1.0, 1.0, 1.0],
            dims: case.dims,
            f32_precision: case.f32_precision,
            binned: None,
        };
        let got = compute(&roi, &case.settings);
        let expected = case.expected[class].as_array().expect("class features");
        let expected_names: Vec<&str> = expected.iter().map(|f| f[0].as_str().unwrap()).collect();
        let got_names: Vec<&str> = got.iter().map(|f| f.0).collect();
        assert_eq!(
            got_names, expected_names,
            "{class} names/order, case {}",
            case.name
        );
        for ((name, value), want) in got.iter().zip(expected) {
            let ok = match want[1].as_f64() {
                None => value.is_nan(),
                Some(want) => {
                    (value - want).abs() <= 1e-6 * want.abs() || (value - want).abs() <= 1e-9
                }
            };
            if !ok {
                failures.push(format!(
                    "{}: {name} = {value}, pyradiomics {}",
                    case.name, want[1]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{class} differs from pyradiomics:\n{}",
        failures.join("\n")
    );
}

#[test]
fn glrlm_matches_pyradiomics() {
    check("glrlm", glrlm::compute);
}

#[test]
fn glszm_matches_pyradiomics() {
    check("glszm", glszm::compute);
}

#[test]
fn gldm_matches_pyradiomics() {
    check("gldm", gldm::compute);
}

/// The fixtures hold what the contract asks to cover: NaN where no angle holds a run, and
/// regions where GLRLM averages several angles.
#[test]
fn fixtures_cover_nan_and_multi_angle_cases() {
    if std::env::var_os("MEDIGAN_TEXTURE_B_FIXTURES").is_some() {
        return;
    }
    let cases = cases();
    assert!(
        cases.len() >= 9,
        "expected the 9 fixture cases, found {}",
        cases.len()
    );
    let isolated = cases
        .iter()
        .find(|c| c.name == "isolated_voxels")
        .expect("case");
    let roi = Roi {
        image: isolated.image.view(),
        mask: isolated.mask.view(),
        spacing: [1.0; 3],
        dims: isolated.dims,
        f32_precision: false,
        binned: None,
    };
    assert!(
        glrlm::compute(&roi, &isolated.settings)
            .iter()
            .all(|(_, v)| v.is_nan())
    );
    assert!(
        glszm::compute(&roi, &isolated.settings)
            .iter()
            .all(|(_, v)| v.is_finite())
    );
}
