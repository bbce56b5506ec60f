//! First order, GLCM and NGTDM features and the discretisation against pyradiomics, on the
//! fixtures written by `tests/fixtures/texture_a/make.py` (pyradiomics-bhklab 3.1.4).

use std::path::{Path, PathBuf};

use medigan_radiomics::texture::discretize::{bin_edges, discretize};
use medigan_radiomics::texture::{Roi, firstorder, glcm, ngtdm};
use medigan_radiomics::{Features, Settings};
use ndarray::{Array3, ArrayD, Ix3};
use ndarray_npy::read_npy;
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/texture_a")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// One fixture case: the region and its settings.
struct Case {
    name: String,
    image: Array3<f64>,
    mask: Array3<bool>,
    levels: Array3<u16>,
    spacing: [f64; 3],
    dims: usize,
    f32_precision: bool,
    settings: Settings,
    json: Value,
}

impl Case {
    fn roi(&self) -> Roi<'_> {
        Roi {
            image: self.image.view(),
            mask: self.mask.view(),
            spacing: self.spacing,
            dims: self.dims,
            f32_precision: self.f32_precision,
            binned: None,
        }
    }
}

/// Exact floats written as strings (`repr`) by `make.py`.
fn exact(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().parse().unwrap())
        .collect()
}

/// A 2D array becomes `(1, H, W)`, as the crate holds 2D images.
fn to3<T: Clone>(a: ArrayD<T>) -> Array3<T> {
    let a = if a.ndim() == 2 {
        a.insert_axis(ndarray::Axis(0))
    } else {
        a
    };
    a.into_dimensionality::<Ix3>().unwrap()
}

fn cases() -> Vec<Case> {
    let all = expected();
    all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap().to_string();
            let f32_precision = c["f32"].as_bool().unwrap();
            let path = |kind: &str| dir().join(format!("{name}_{kind}.npy"));
            let image = if f32_precision {
                to3(read_npy::<_, ArrayD<f32>>(path("image")).unwrap()).mapv(f64::from)
            } else {
                to3(read_npy::<_, ArrayD<f64>>(path("image")).unwrap())
            };
            let mask = to3(read_npy::<_, ArrayD<u8>>(path("mask")).unwrap()).mapv(|m| m == 1);
            let levels = to3(read_npy::<_, ArrayD<u16>>(path("levels")).unwrap());
            let spacing: Vec<f64> = c["spacing"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let settings = Settings {
                bin_width: c["bin_width"].as_f64().unwrap(),
                voxel_array_shift: c["voxel_array_shift"].as_f64().unwrap(),
                force_2d: c["force_2d"].as_bool().unwrap(),
                force_2d_dimension: c["force_2d_dimension"].as_u64().unwrap() as usize,
                distances: c["distances"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .collect(),
                ..Settings::default()
            };
            Case {
                name,
                image,
                mask,
                levels,
                spacing: [spacing[0], spacing[1], spacing[2]],
                dims: c["dims"].as_u64().unwrap() as usize,
                f32_precision,
                settings,
                json: c.clone(),
            }
        })
        .collect()
}

/// Equal within 1e-6 relative or 1e-9 absolute; NaN (null in the JSON) equals NaN.
fn close(ours: f64, theirs: Option<f64>) -> bool {
    match theirs {
        None => ours.is_nan(),
        Some(t) => (ours - t).abs() <= 1e-9_f64.max(1e-6 * t.abs()),
    }
}

/// Every feature of `class` in every case: same names, same order, same values.
fn check_class(class: &str, compute: fn(&Roi<'_>, &Settings) -> Features) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases() {
        let ours = compute(&case.roi(), &case.settings);
        let theirs = case.json["features"][class].as_object().unwrap();
        let our_names: Vec<&str> = ours.iter().map(|(n, _)| *n).collect();
        let their_names: Vec<&str> = theirs.keys().map(String::as_str).collect();
        assert_eq!(
            our_names, their_names,
            "{class} names in case {}",
            case.name
        );
        for ((name, value), (_, expected)) in ours.iter().zip(theirs) {
            checked += 1;
            if !close(*value, expected.as_f64()) {
                failures.push(format!(
                    "{}: {name} = {value}, pyradiomics {expected}",
                    case.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{class}:\n{}", failures.join("\n"));
    assert!(checked > 50, "only {checked} values checked");
}

#[test]
fn firstorder_matches_pyradiomics() {
    check_class("firstorder", firstorder::compute);
}

#[test]
fn glcm_matches_pyradiomics() {
    check_class("glcm", glcm::compute);
}

#[test]
fn glcm_selected_features_come_in_the_order_asked() {
    // frd-score's parameter file names 22 GLCM features (no MCC, no SumAverage) in its order.
    let names = medigan_radiomics::extractor::FRD_V1_GLCM;
    for case in cases() {
        let all = glcm::compute(&case.roi(), &case.settings);
        let selected = glcm::compute_selected(&case.roi(), &case.settings, &names).unwrap();
        let got: Vec<&str> = selected.iter().map(|(n, _)| *n).collect();
        assert_eq!(got, names);
        for (name, value) in selected {
            let full = all.iter().find(|(n, _)| *n == name).unwrap().1;
            assert!(value == full || (value.is_nan() && full.is_nan()), "{name}");
        }
    }
    let case = &cases()[0];
    let err = glcm::compute_selected(&case.roi(), &case.settings, &["Contrast", "Homogeneity"])
        .unwrap_err();
    assert!(err.to_string().contains("`Homogeneity`"), "{err}");
    let err = glcm::compute_selected(&case.roi(), &case.settings, &["Id", "Id"]).unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");
}

#[test]
fn glcm_mcc_keeps_pyradiomics_eps() {
    // MCC's denominators carry pyradiomics' `eps` (1e-9 relative on `rare_levels`): matched to
    // 1e-11 in every case.
    for case in cases() {
        let ours = glcm::compute(&case.roi(), &case.settings);
        let mcc = ours.iter().find(|(n, _)| *n == "MCC").unwrap().1;
        let theirs = case.json["features"]["glcm"]["MCC"].as_f64().unwrap();
        assert!(
            (mcc - theirs).abs() <= 1e-11 * theirs.abs(),
            "{}: MCC {mcc}, pyradiomics {theirs}",
            case.name
        );
    }
}

#[test]
fn ngtdm_matches_pyradiomics() {
    check_class("ngtdm", ngtdm::compute);
}

#[test]
fn bin_edges_match_pyradiomics() {
    let all = expected();
    let cases = all["bin_edges"].as_array().unwrap();
    assert!(cases.len() >= 40);
    for c in cases {
        let values = exact(&c["values"]);
        let expected = exact(&c["edges"]);
        let width: f64 = c["bin_width"].as_str().unwrap().parse().unwrap();
        let ours = bin_edges(&values, width, c["f32"].as_bool().unwrap());
        assert_eq!(ours, expected, "bin edges of {c}");
    }
}

#[test]
fn discretize_matches_pyradiomics_bin_image() {
    for case in cases() {
        let binned = discretize(&case.roi(), case.settings.bin_width, case.f32_precision);
        let edges = exact(&case.json["edges"]);
        assert_eq!(binned.edges, edges, "edges of {}", case.name);
        let levels = binned.levels.mapv(|l| l as u16);
        assert_eq!(levels, case.levels, "levels of {}", case.name);
        assert_eq!(
            binned.ng,
            u32::from(*case.levels.iter().max().unwrap()),
            "Ng of {}",
            case.name
        );
    }
}

#[test]
fn angles_are_pyradiomics_neighbourhoods() {
    // 3D: 13 directions (26 neighbours both ways); in a plane: 4 (8).
    assert_eq!(glcm::angles(&[5, 6, 7], &[1], None, false).len(), 13);
    assert_eq!(glcm::angles(&[5, 6, 7], &[1], None, true).len(), 26);
    let in_plane = glcm::angles(&[5, 6, 7], &[1], Some(0), false);
    assert_eq!(in_plane, vec![[0, 1, 1], [0, 1, 0], [0, 1, -1], [0, 0, 1]]);
    // A single slice has no z neighbours even without force2D; a 2D image the same 4.
    assert_eq!(glcm::angles(&[1, 6, 7], &[1], None, false), in_plane);
    assert_eq!(glcm::angles(&[6, 7], &[1], None, false), in_plane);
    // The first of pyradiomics' 3D angles, and distance 2 only: the outer shell.
    assert_eq!(glcm::angles(&[5, 6, 7], &[1], None, false)[0], [1, 1, 1]);
    assert_eq!(glcm::angles(&[5, 6, 7], &[2], Some(0), true).len(), 16);
    assert_eq!(glcm::angles(&[5, 6, 7], &[1, 2], Some(0), true).len(), 24);
    // No valid distance: no angles.
    assert!(glcm::angles(&[5, 6, 7], &[0], None, false).is_empty());
}

#[test]
fn glcm_refuses_more_gray_levels_than_its_bound() {
    // 70 x 70 distinct values one apart with bin width 1: 4900 gray levels.
    let image = Array3::from_shape_fn((1, 70, 70), |(_, y, x)| (y * 70 + x) as f64);
    let mask = Array3::from_elem((1, 70, 70), true);
    let roi = Roi {
        image: image.view(),
        mask: mask.view(),
        spacing: [1.0; 3],
        dims: 3,
        f32_precision: true,
        binned: None,
    };
    let settings = Settings {
        bin_width: 1.0,
        force_2d: true,
        ..Settings::default()
    };
    let err = glcm::compute_selected(&roi, &settings, &["Contrast"]).unwrap_err();
    assert!(err.to_string().contains("binWidth"), "{err}");
    assert!(
        glcm::compute(&roi, &settings)
            .iter()
            .all(|(_, v)| v.is_nan())
    );
    // With a wider bin the same region is fine.
    let settings = Settings {
        bin_width: 25.0,
        ..settings
    };
    let contrast = glcm::compute_selected(&roi, &settings, &["Contrast"]).unwrap()[0].1;
    assert!(contrast > 0.0);
}
