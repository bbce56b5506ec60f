//! Sliding-window decoding (`execution.onnx.diffusion.decoder.sliding_window`) on the 3D latent
//! diffusion fixture (`tests/fixtures/sliding_window/ldm_3d/`, written by
//! `scripts/make_sliding_window_fixtures.py`): `medigan generate` with no Python on the path
//! gives MONAI's own `sliding_window_inference` of the same latents within 1e-4 relative, the
//! volumes written as NIfTI carry the declared spacing (read back with nibabel), and a window
//! that does not fit the latent is refused naming the field.

use std::path::{Path, PathBuf};

mod common;
use common::convert::read_npy;
use common::{medigan, run};

/// Relative tolerance: max |native - MONAI| / max |MONAI| (issue #27: 1e-4).
const TOLERANCE: f64 = 1e-4;
const ID: &str = "00000_LDM_3D_WINDOWS";

fn fixture() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/sliding_window/ldm_3d");
    assert!(
        dir.join("medigan.json").is_file(),
        "missing {}: run `python3 scripts/make_sliding_window_fixtures.py`",
        dir.display()
    );
    dir
}

fn generate(home: &Path, catalog: &Path, out: &Path) -> std::process::Output {
    let noise = fixture().join("golden/initial_noise.npy");
    run(medigan(home)
        .env("PATH", home.join("no-python"))
        .arg("--offline")
        .arg("--catalog")
        .arg(catalog)
        .args([
            "generate",
            ID,
            "-n",
            "2",
            "--format",
            "npy",
            "--initial-noise",
        ])
        .arg(noise)
        .arg("-o")
        .arg(out))
}

#[test]
fn sliding_window_decode_equals_monai_sliding_window_inference() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("volumes");
    let output = generate(home.path(), &fixture().join("medigan.json"), &out);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let got: Vec<f32> = (0..2)
        .flat_map(|i| read_npy(&out.join(format!("{i:05}.npy"))))
        .collect();
    let want = read_npy(&fixture().join("golden/samples_5_steps.npy"));
    assert_eq!(got.len(), want.len(), "2 volumes of 1 x 12 x 12 x 12");
    let diff = got
        .iter()
        .zip(&want)
        .map(|(g, w)| f64::from((g - w).abs()))
        .fold(0.0, f64::max);
    let scale = want.iter().map(|w| f64::from(w.abs())).fold(0.0, f64::max);
    eprintln!(
        "sliding-window decode vs MONAI: relative {:.3e}",
        diff / scale
    );
    assert!(
        diff / scale <= TOLERANCE,
        "relative difference {}",
        diff / scale
    );
}

#[test]
fn a_window_larger_than_the_latent_is_refused_naming_the_field() {
    let home = tempfile::tempdir().unwrap();
    let package = home.path().join("package");
    std::fs::create_dir(&package).unwrap();
    for entry in std::fs::read_dir(fixture()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, package.join(path.file_name().unwrap())).unwrap();
        }
    }
    let catalog = package.join("medigan.json");
    let mut metadata: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&catalog).unwrap()).unwrap();
    metadata[ID]["execution"]["onnx"]["diffusion"]["decoder"]["sliding_window"]["roi"] =
        serde_json::json!([7, 4, 4]);
    std::fs::write(&catalog, metadata.to_string()).unwrap();
    let out = home.path().join("volumes");
    let output = generate(home.path(), &catalog, &out);
    assert!(
        !output.status.success(),
        "a 7-voxel window over 6 voxels ran"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("decoder.sliding_window") && stderr.contains("roi"),
        "{stderr}"
    );
    assert!(!out.join("00000.npy").exists());
}

/// Volumes written as NIfTI, read back by nibabel: the declared spacing (`[D, H, W]` mm) in the
/// header (nibabel's zooms are x, y, z = W, H, D) and MONAI's decoded values in the voxels.
#[test]
fn volumes_written_as_nifti_carry_the_declared_spacing() {
    let python = match medigan_testkit::python_importing(&["nibabel", "numpy"]) {
        Ok(python) => python,
        Err(why) => {
            return medigan_testkit::skip("reading sliding-window volumes with nibabel", &why);
        }
    };
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("volumes");
    let noise = fixture().join("golden/initial_noise.npy");
    let output = run(medigan(home.path())
        .arg("--offline")
        .arg("--catalog")
        .arg(fixture().join("medigan.json"))
        .args([
            "generate",
            ID,
            "-n",
            "2",
            "--format",
            "nifti",
            "--initial-noise",
        ])
        .arg(noise)
        .arg("-o")
        .arg(&out));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let script = r#"
import json, sys
import nibabel, numpy
out, golden = sys.argv[1], numpy.load(sys.argv[2])
rows = []
for k in range(golden.shape[0]):
    image = nibabel.load(f"{out}/{k:05d}.nii")
    volume = numpy.asarray(image.dataobj, dtype=numpy.float64).transpose(2, 1, 0)
    error = float(abs(volume - golden[k, 0]).max() / abs(golden).max())
    rows.append({"zooms": [float(z) for z in image.header.get_zooms()], "shape": list(image.shape), "error": error})
print(json.dumps(rows))
"#;
    let read = run(std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(&out)
        .arg(fixture().join("golden/samples_5_steps.npy")));
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
    let metadata: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("medigan.json")).unwrap())
            .unwrap();
    let spacing = &metadata[ID]["execution"]["onnx"]["outputs"][0]["spacing"];
    let mut declared: Vec<f64> = serde_json::from_value(spacing.clone()).unwrap();
    declared.reverse();
    for row in rows.as_array().unwrap() {
        let zooms: Vec<f64> = serde_json::from_value(row["zooms"].clone()).unwrap();
        assert_eq!(zooms, declared, "{row}");
        assert_eq!(row["shape"], serde_json::json!([12, 12, 12]));
        assert!(row["error"].as_f64().unwrap() <= TOLERANCE, "{row}");
    }
}
