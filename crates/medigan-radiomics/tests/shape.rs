//! Shape features (`shape2D`, `shape`) against pyradiomics on the masks of
//! `tests/fixtures/shape/` (written by its `make.py` with the reference pyradiomics).

use medigan_radiomics::shape::{shape2d, shape3d};
use medigan_radiomics::{Geometry, Settings, Volume};
use ndarray::Array3;
use ndarray_npy::read_npy;
use serde_json::Value;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shape")
}

/// One fixture: its name, mask, settings and pyradiomics' features.
type Case = (String, Volume<bool>, Settings, Vec<(String, f64)>);

/// The fixtures of `class` (`shape2D` or `shape`).
fn cases(class: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    let all: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for case in all.iter().filter(|c| c["class"] == class) {
        let name = case["name"].as_str().unwrap().to_string();
        let data: Array3<u8> = read_npy(fixtures().join(format!("{name}.npy"))).unwrap();
        let spacing: Vec<f64> = case["spacing"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let mut geometry = Geometry::unit(case["dims"].as_u64().unwrap() as usize);
        geometry.spacing = [spacing[0], spacing[1], spacing[2]];
        let settings = Settings {
            force_2d: case["force2D"].as_bool().unwrap(),
            force_2d_dimension: case["force2Ddimension"].as_u64().unwrap() as usize,
            ..Settings::default()
        };
        let expected = case["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let value = match &f[1] {
                    Value::String(s) => s.parse::<f64>().unwrap(),
                    v => v.as_f64().unwrap(),
                };
                (f[0].as_str().unwrap().to_string(), value)
            })
            .collect();
        let mask = Volume {
            data: data.mapv(|v| v != 0),
            geometry,
        };
        out.push((name, mask, settings, expected));
    }
    assert!(!out.is_empty(), "no {class} case in expected.json");
    out
}

fn close(got: f64, want: f64) -> bool {
    if want.is_nan() {
        return got.is_nan();
    }
    (got - want).abs() <= 1e-9_f64.max(1e-6 * want.abs())
}

fn check(class: &str, compute: fn(&Volume<bool>, &Settings) -> Features) {
    let mut failures = Vec::new();
    for (name, mask, settings, expected) in cases(class) {
        let got = compute(&mask, &settings);
        let got_names: Vec<&str> = got.iter().map(|(n, _)| *n).collect();
        let want_names: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(got_names, want_names, "{name}: feature names and order");
        for ((feature, g), (_, w)) in got.iter().zip(&expected) {
            if !close(*g, *w) {
                failures.push(format!("{name} {feature}: got {g}, pyradiomics {w}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

type Features = Vec<(&'static str, f64)>;

#[test]
fn shape2d_equals_pyradiomics() {
    check("shape2D", |m, s| shape2d::compute(m, s).unwrap());
}

#[test]
fn shape3d_equals_pyradiomics() {
    check("shape", |m, s| shape3d::compute(m, s).unwrap());
}

#[test]
fn wrong_masks_are_refused_with_the_reason() {
    use medigan_radiomics::RadiomicsError;
    let volume = |shape: (usize, usize, usize), dims: usize, on: bool| Volume {
        data: Array3::from_elem(shape, on),
        geometry: Geometry::unit(dims),
    };
    let plain = Settings::default();
    let force = Settings {
        force_2d: true,
        ..Settings::default()
    };
    // shape2D on a volume needs force2D, and then one slice along its axis.
    let err = shape2d::compute(&volume((2, 3, 3), 3, true), &plain).unwrap_err();
    assert!(err.to_string().contains("force2D"), "{err}");
    let err = shape2d::compute(&volume((2, 3, 3), 3, true), &force).unwrap_err();
    assert!(err.to_string().contains("2 slices"), "{err}");
    let bad_axis = Settings {
        force_2d_dimension: 3,
        ..force.clone()
    };
    let err = shape2d::compute(&volume((1, 3, 3), 3, true), &bad_axis).unwrap_err();
    assert!(
        matches!(
            err,
            RadiomicsError::Setting {
                name: "force2Ddimension",
                ..
            }
        ),
        "{err}"
    );
    // shape needs a volume; neither accepts an empty mask.
    let err = shape3d::compute(&volume((1, 3, 3), 2, true), &plain).unwrap_err();
    assert!(err.to_string().contains("3D mask"), "{err}");
    assert!(shape2d::compute(&volume((1, 3, 3), 2, false), &plain).is_err());
    assert!(shape3d::compute(&volume((2, 3, 3), 3, false), &plain).is_err());
    // The same slice as a 2D mask and as a force2D volume gives the same features.
    let a = shape2d::compute(&volume((1, 3, 4), 2, true), &plain).unwrap();
    let b = shape2d::compute(&volume((1, 3, 4), 3, true), &force).unwrap();
    assert_eq!(a, b);
}
