//! The medical output formats end to end over the ONNX fixtures: 16-bit PNG, DICOM, NIfTI
//! (plain and gzip), 3D volumes, masks, and the format-vs-model check that runs before any
//! sample is generated. Files are read back the way a user would: with dicom-rs and the image
//! crate here, and with pydicom, nibabel, Pillow and `dciodvfy` when they are installed (CI
//! installs the Python packages; each such check prints why it is skipped where they are not).

mod common;

use common::{Fixture, fixture_dir};

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use dicom_dictionary_std::{tags, uids};
use dicom_object::{DefaultDicomObject, open_file};
use medigan::generate::{GenerateRequest, Shard};
use medigan::output::{Format, is_valid_uid};
use medigan::progress::NoProgress;
use medigan::runtime::BackendKind;
use medigan::sample::Sample;
use ndarray::ArrayD;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

const DCGAN: &str = "90001_FIXTURE_DCGAN";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn fixture(case: &str) -> Fixture {
    Fixture::of(case, BackendKind::Tract)
}

/// A copy of a fixture whose image output declares `spacing` (mm), in `tmp`.
fn fixture_with_spacing(case: &str, spacing: Value, tmp: &Path) -> Fixture {
    let source = fixture_dir(case);
    let dir = tmp.join(format!("{case}-spaced"));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    let json_path = dir.join("medigan.json");
    let mut json: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let entry = json.as_object_mut().unwrap().values_mut().next().unwrap();
    entry["execution"]["onnx"]["outputs"][0]["spacing"] = spacing;
    std::fs::write(&json_path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    Fixture::at(common::fixture_id(case), &json_path, BackendKind::Tract)
}

impl Fixture {
    fn generate(&self, request: &GenerateRequest, dir: &Path, format: Format) {
        self.gens
            .generate(self.id, request, dir, format, &NoProgress)
            .unwrap_or_else(|e| panic!("generate {} as {format}: {e}", self.id));
    }

    fn try_generate(
        &self,
        request: &GenerateRequest,
        dir: &Path,
        format: Format,
    ) -> medigan::Result<()> {
        self.gens
            .generate(self.id, request, dir, format, &NoProgress)
            .map(|_| ())
    }

    fn samples(&self, request: &GenerateRequest) -> Vec<Sample> {
        self.gens
            .generate_samples(self.id, request)
            .unwrap_or_else(|e| panic!("generate_samples {}: {e}", self.id))
            .samples
    }
}

fn request(num_samples: u64, seed: u64) -> GenerateRequest {
    GenerateRequest {
        num_samples,
        seed,
        batch_size: 2,
        threads: Some(2),
        ..GenerateRequest::default()
    }
}

/// The sample files of a run (everything but the manifests), by name.
fn sample_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("manifest")
        })
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

fn manifest(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `python3` with `modules` importable, or `None` after reporting the check as skipped (CI
/// installs them from `scripts/requirements-ci.txt`, so there a missing one fails).
fn python_with(modules: &[&str], check: &str) -> Option<Command> {
    match medigan_testkit::python_importing(modules) {
        Ok(python) => Some(Command::new(python)),
        Err(why) => {
            medigan_testkit::skip(check, &format!("{why} (or -r scripts/requirements-ci.txt)"));
            None
        }
    }
}

fn run_python(mut python: Command, script: &str, args: &[&Path]) -> String {
    let out = python.arg("-c").arg(script).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn text(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag)
        .unwrap_or_else(|e| panic!("missing {tag}: {e}"))
        .to_str()
        .unwrap()
        .trim_end_matches(['\0', ' '])
        .to_string()
}

fn number(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> f64 {
    obj.element(tag).unwrap().to_float64().unwrap()
}

fn uint(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> u16 {
    obj.element(tag).unwrap().to_int::<u16>().unwrap()
}

/// A grayscale DICOM file's pixels in model units (stored value x slope + intercept).
fn dicom_values(obj: &DefaultDicomObject) -> Vec<f64> {
    let (slope, intercept) = (
        number(obj, tags::RESCALE_SLOPE),
        number(obj, tags::RESCALE_INTERCEPT),
    );
    let bytes = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
    bytes
        .chunks_exact(2)
        .map(|b| f64::from(u16::from_le_bytes([b[0], b[1]])) * slope + intercept)
        .collect()
}

fn pixel_bytes(path: &Path) -> Vec<u8> {
    let obj = open_file(path).unwrap();
    obj.element(tags::PIXEL_DATA)
        .unwrap()
        .to_bytes()
        .unwrap()
        .into_owned()
}

// ---------------------------------------------------------------------------------------------
// Format names
// ---------------------------------------------------------------------------------------------

#[test]
fn every_format_name_parses_back_and_unknown_names_list_them() {
    for format in Format::ALL {
        assert_eq!(format.name().parse::<Format>().unwrap(), format);
    }
    assert_eq!("nii.gz".parse::<Format>().unwrap(), Format::NiftiGz);
    assert_eq!("DCM".parse::<Format>().unwrap(), Format::Dicom);
    let error = "tiff".parse::<Format>().unwrap_err().to_string();
    assert!(
        error.contains("`tiff`") && error.contains("png16") && error.contains("nifti-gz"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// 16-bit PNG
// ---------------------------------------------------------------------------------------------

#[test]
fn png16_maps_the_model_range_onto_sixteen_bits_and_pillow_reads_i16() {
    let fx = fixture("dcgan");
    let tmp = TempDir::new().unwrap();
    let req = request(3, 11);
    fx.generate(&req, tmp.path(), Format::Png16);
    let samples = fx.samples(&req);
    let header = &manifest(tmp.path())[0];
    assert_eq!(header["format"], "png16");
    let mapping = header["value_mapping"].as_str().unwrap();
    assert!(
        mapping.contains("-1 -> 0") && mapping.contains("1 -> 65535"),
        "{mapping}"
    );

    let mut expected_json = Vec::new();
    for sample in &samples {
        let path = tmp.path().join(format!("{:05}.png", sample.index));
        let image = image::open(&path).unwrap();
        assert_eq!(image.color(), image::ColorType::L16, "{}", path.display());
        let luma = image.into_luma16();
        assert_eq!(luma.dimensions(), (32, 32));
        let expected: Vec<u16> = sample
            .image
            .iter()
            .map(|v| {
                ((f64::from(*v) + 1.0) / 2.0 * 65535.0)
                    .round()
                    .clamp(0.0, 65535.0) as u16
            })
            .collect();
        assert_eq!(luma.as_raw(), &expected, "{}", path.display());
        // Back to model values within half a step.
        for (stored, value) in expected.iter().zip(sample.image.iter()) {
            let back = f64::from(*stored) / 65535.0 * 2.0 - 1.0;
            assert!((back - f64::from(*value)).abs() <= 1.0 / 65535.0 + 1e-6);
        }
        expected_json.push(serde_json::json!({"file": path, "values": expected}));
    }

    let Some(python) = python_with(&["PIL", "numpy"], "the Pillow read-back of 16-bit PNG") else {
        return;
    };
    let expected_path = tmp.path().join("expected.json");
    std::fs::write(&expected_path, serde_json::to_vec(&expected_json).unwrap()).unwrap();
    let out = run_python(
        python,
        r#"
import json, sys
import numpy as np
from PIL import Image
for case in json.load(open(sys.argv[1])):
    image = Image.open(case["file"])
    assert image.mode == "I;16", (case["file"], image.mode)
    assert image.size == (32, 32), image.size
    values = np.array(image).astype(np.int64).ravel()
    assert values.tolist() == case["values"], case["file"]
print("pillow ok", len(json.load(open(sys.argv[1]))))
"#,
        &[&expected_path],
    );
    assert!(out.contains("pillow ok 3"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// DICOM
// ---------------------------------------------------------------------------------------------

#[test]
fn dicom_files_are_secondary_captures_marked_synthetic_with_run_provenance() {
    let fx = fixture("dcgan");
    let tmp = TempDir::new().unwrap();
    let req = request(3, 5);
    fx.generate(&req, tmp.path(), Format::Dicom);
    let samples = fx.samples(&req);
    let lines = manifest(tmp.path());
    let sha = lines[0]["package_sha256"].as_str().unwrap().to_string();
    assert_eq!(lines[0]["format"], "dicom");
    assert_eq!(lines.len(), 4, "a header and one line per file");

    let mut studies = Vec::new();
    let mut series = Vec::new();
    let mut instances = Vec::new();
    for sample in &samples {
        let path = tmp.path().join(format!("{:05}.dcm", sample.index));
        let obj = open_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            obj.meta().transfer_syntax().trim_end_matches('\0'),
            uids::EXPLICIT_VR_LITTLE_ENDIAN
        );
        assert_eq!(
            obj.meta()
                .media_storage_sop_class_uid()
                .trim_end_matches('\0'),
            uids::SECONDARY_CAPTURE_IMAGE_STORAGE
        );
        assert_eq!(
            text(&obj, tags::SOP_CLASS_UID),
            uids::SECONDARY_CAPTURE_IMAGE_STORAGE
        );
        let instance = text(&obj, tags::SOP_INSTANCE_UID);
        assert_eq!(
            obj.meta()
                .media_storage_sop_instance_uid()
                .trim_end_matches('\0'),
            instance
        );
        for uid in [
            &instance,
            &text(&obj, tags::STUDY_INSTANCE_UID),
            &text(&obj, tags::SERIES_INSTANCE_UID),
        ] {
            assert!(is_valid_uid(uid) && uid.starts_with("2.25."), "{uid}");
        }
        studies.push(text(&obj, tags::STUDY_INSTANCE_UID));
        series.push(text(&obj, tags::SERIES_INSTANCE_UID));
        instances.push(instance);

        // Plainly synthetic, no patient.
        assert_eq!(text(&obj, tags::PATIENT_NAME), "SYNTHETIC^MEDIGAN");
        assert_eq!(text(&obj, tags::PATIENT_ID), "SYNTHETIC");
        assert_eq!(text(&obj, tags::CONVERSION_TYPE), "SYN");
        assert_eq!(text(&obj, tags::BURNED_IN_ANNOTATION), "NO");
        assert_eq!(text(&obj, tags::MANUFACTURER_MODEL_NAME), DCGAN);
        assert_eq!(
            text(&obj, tags::MODALITY),
            "MG",
            "from selection.modality MMG"
        );
        let derivation = text(&obj, tags::DERIVATION_DESCRIPTION);
        let comments = text(&obj, tags::IMAGE_COMMENTS);
        for needle in [
            DCGAN.to_string(),
            "0.1.0".to_string(),
            sha.clone(),
            "run seed 5".to_string(),
            format!("sample index {}", sample.index),
        ] {
            assert!(derivation.contains(&needle), "{needle} in {derivation}");
        }
        assert!(comments.starts_with("SYNTHETIC"), "{comments}");
        assert!(
            comments.contains(&format!("sample_index={}", sample.index)),
            "{comments}"
        );
        assert_eq!(
            text(&obj, tags::INSTANCE_NUMBER),
            (sample.index + 1).to_string()
        );

        // Pixel module and values within the quantisation step.
        assert_eq!(uint(&obj, tags::ROWS), 32);
        assert_eq!(uint(&obj, tags::COLUMNS), 32);
        assert_eq!(uint(&obj, tags::SAMPLES_PER_PIXEL), 1);
        assert_eq!(uint(&obj, tags::BITS_ALLOCATED), 16);
        assert_eq!(uint(&obj, tags::BITS_STORED), 16);
        assert_eq!(uint(&obj, tags::HIGH_BIT), 15);
        assert_eq!(uint(&obj, tags::PIXEL_REPRESENTATION), 0);
        assert_eq!(text(&obj, tags::PHOTOMETRIC_INTERPRETATION), "MONOCHROME2");
        assert!(
            obj.element(tags::PIXEL_SPACING).is_err(),
            "no spacing declared"
        );
        let step = number(&obj, tags::RESCALE_SLOPE);
        assert!((step - 2.0 / 65535.0).abs() < 1e-12, "slope {step}");
        let values = dicom_values(&obj);
        assert_eq!(values.len(), 32 * 32);
        for (back, value) in values.iter().zip(sample.image.iter()) {
            assert!(
                (back - f64::from(*value)).abs() <= step / 2.0 + 1e-6,
                "{back} vs {value}"
            );
        }
    }
    assert!(
        studies.iter().all(|s| *s == studies[0]),
        "one study per run"
    );
    assert!(series.iter().all(|s| *s == series[0]), "one series per run");
    instances.sort();
    instances.dedup();
    assert_eq!(instances.len(), 3, "a fresh instance UID per file");
}

#[test]
fn dicom_pixels_are_reproducible_and_shards_match_the_whole_run_but_uids_are_fresh() {
    let fx = fixture("dcgan");
    let tmp = TempDir::new().unwrap();
    let (whole, again, sharded) = (
        tmp.path().join("whole"),
        tmp.path().join("again"),
        tmp.path().join("sharded"),
    );
    fx.generate(&request(5, 9), &whole, Format::Dicom);
    fx.generate(&request(5, 9), &again, Format::Dicom);
    for index in 1..=2 {
        let mut req = request(5, 9);
        req.shard = Some(Shard { index, count: 2 });
        fx.generate(&req, &sharded, Format::Dicom);
    }
    let names: Vec<String> = sample_files(&whole).into_keys().collect();
    assert_eq!(names.len(), 5);
    assert_eq!(
        sample_files(&sharded).into_keys().collect::<Vec<_>>(),
        names
    );
    for name in &names {
        let pixels = pixel_bytes(&whole.join(name));
        assert_eq!(pixel_bytes(&again.join(name)), pixels, "{name}");
        assert_eq!(pixel_bytes(&sharded.join(name)), pixels, "{name}");
    }
    let study = |dir: &Path| {
        text(
            &open_file(dir.join(&names[0])).unwrap(),
            tags::STUDY_INSTANCE_UID,
        )
    };
    assert_ne!(study(&whole), study(&again), "each run is a new study");
}

#[test]
fn dicom_masks_and_rgb_images() {
    let tmp = TempDir::new().unwrap();
    // Image + mask: the mask in the same format, `_mask`, its own series, values in [0, 1].
    let fx = fixture("image_mask");
    let req = request(2, 3);
    let dir = tmp.path().join("mask");
    fx.generate(&req, &dir, Format::Dicom);
    let samples = fx.samples(&req);
    let names: Vec<String> = sample_files(&dir).into_keys().collect();
    assert_eq!(
        names,
        ["00000.dcm", "00000_mask.dcm", "00001.dcm", "00001_mask.dcm"]
    );
    let image = open_file(dir.join("00001.dcm")).unwrap();
    let mask = open_file(dir.join("00001_mask.dcm")).unwrap();
    assert_eq!(
        text(&image, tags::MODALITY),
        "ES",
        "from selection.modality endoscopy"
    );
    assert_eq!(
        text(&image, tags::STUDY_INSTANCE_UID),
        text(&mask, tags::STUDY_INSTANCE_UID)
    );
    assert_ne!(
        text(&image, tags::SERIES_INSTANCE_UID),
        text(&mask, tags::SERIES_INSTANCE_UID)
    );
    assert!(text(&mask, tags::IMAGE_COMMENTS).contains("mask"));
    let step = number(&mask, tags::RESCALE_SLOPE);
    let truth = samples[1].mask.as_ref().expect("a mask");
    for (back, value) in dicom_values(&mask).iter().zip(truth.iter()) {
        assert!((back - f64::from(*value)).abs() <= step / 2.0 + 1e-6);
    }

    // RGB: 8-bit, interleaved, no rescale (the modality LUT is for grayscale only).
    let fx = fixture("rgb");
    let req = request(1, 4);
    let dir = tmp.path().join("rgb");
    fx.generate(&req, &dir, Format::Dicom);
    let sample = &fx.samples(&req)[0];
    let obj = open_file(dir.join("00000.dcm")).unwrap();
    assert_eq!(text(&obj, tags::PHOTOMETRIC_INTERPRETATION), "RGB");
    assert_eq!(uint(&obj, tags::SAMPLES_PER_PIXEL), 3);
    assert_eq!(uint(&obj, tags::BITS_ALLOCATED), 8);
    assert_eq!(uint(&obj, tags::PLANAR_CONFIGURATION), 0);
    assert!(obj.element(tags::RESCALE_SLOPE).is_err());
    let bytes = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
    assert_eq!(bytes.len(), 3 * 32 * 32);
    for ((c, y, x), value) in sample
        .image
        .view()
        .into_dimensionality::<ndarray::Ix3>()
        .unwrap()
        .indexed_iter()
    {
        // The model's range mapped onto 0..255 as in PNG (computed in f32, as PNG is).
        let expected = (*value * 255.0).round().clamp(0.0, 255.0) as u8;
        assert_eq!(bytes[(y * 32 + x) * 3 + c], expected);
    }
}

#[test]
fn dicom_pixel_spacing_comes_from_the_declared_spacing() {
    let tmp = TempDir::new().unwrap();
    let fx = fixture_with_spacing("dcgan", serde_json::json!([0.5, 0.25]), tmp.path());
    let dir = tmp.path().join("out");
    fx.generate(&request(1, 0), &dir, Format::Dicom);
    let obj = open_file(dir.join("00000.dcm")).unwrap();
    let spacing = obj
        .element(tags::PIXEL_SPACING)
        .unwrap()
        .to_multi_float64()
        .unwrap();
    assert_eq!(spacing, [0.5, 0.25], "row spacing, then column spacing");
}

#[test]
fn pydicom_reads_every_written_dicom_file() {
    let tmp = TempDir::new().unwrap();
    let mut dirs = Vec::new();
    for (case, seed) in [("dcgan", 1), ("image_mask", 2), ("rgb", 3)] {
        let fx = fixture(case);
        let dicom = tmp.path().join(format!("{case}-dicom"));
        let npy = tmp.path().join(format!("{case}-npy"));
        fx.generate(&request(2, seed), &dicom, Format::Dicom);
        fx.generate(&request(2, seed), &npy, Format::Npy);
        dirs.push((dicom, npy));
    }
    let Some(python) = python_with(&["pydicom", "numpy"], "the pydicom read-back") else {
        return;
    };
    let args: Vec<&Path> = dirs
        .iter()
        .flat_map(|(d, n)| [d.as_path(), n.as_path()])
        .collect();
    let out = run_python(
        python,
        r#"
import pathlib, sys
import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut
checked = 0
pairs = sys.argv[1:]
for dicom_dir, npy_dir in zip(pairs[0::2], pairs[1::2]):
    for path in sorted(pathlib.Path(dicom_dir).glob("*.dcm")):
        ds = pydicom.dcmread(path)
        assert ds.preamble is not None and ds.file_meta.MediaStorageSOPClassUID, path
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1", path
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7", path
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID, path
        assert str(ds.PatientName) == "SYNTHETIC^MEDIGAN" and ds.PatientID == "SYNTHETIC", path
        assert ds.BurnedInAnnotation == "NO" and ds.ConversionType == "SYN", path
        assert "SYNTHETIC" in ds.DerivationDescription, path
        truth = np.load(pathlib.Path(npy_dir) / (path.stem + ".npy"))
        if ds.SamplesPerPixel == 1:
            values = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
            step = float(ds.RescaleSlope)
            assert values.shape == truth.shape[1:], (path, values.shape)
            error = np.abs(values - truth[0]).max()
            assert error <= step / 2 + 1e-6, (path, error, step)
        else:
            pixels = ds.pixel_array
            assert ds.PhotometricInterpretation == "RGB" and pixels.dtype == np.uint8, path
            # The documented mapping, in float64, rounding halves up as Rust's round does.
            scaled = truth.transpose(1, 2, 0).astype(np.float64) * 255
            expected = np.clip(np.floor(scaled + 0.5), 0, 255)
            assert np.array_equal(pixels, expected.astype(np.uint8)), path
        checked += 1
print("pydicom ok", checked)
"#,
        &args,
    );
    assert!(out.contains("pydicom ok 8"), "{out}");
}

#[test]
fn dciodvfy_reports_no_errors_on_gray_mask_and_rgb_files() {
    let tmp = TempDir::new().unwrap();
    let mut files = Vec::new();
    for case in ["dcgan", "image_mask", "rgb"] {
        let dir = tmp.path().join(case);
        let fx = if case == "dcgan" {
            fixture_with_spacing("dcgan", serde_json::json!([0.1, 0.1]), tmp.path())
        } else {
            fixture(case)
        };
        fx.generate(&request(1, 0), &dir, Format::Dicom);
        files.extend(sample_files(&dir).into_keys().map(|n| dir.join(n)));
    }
    let probe = Command::new("dciodvfy").arg("-").output();
    if let Err(e) = probe {
        // Allowed in CI: dicom3tools is missing from some Debian releases.
        return medigan_testkit::skip_allowed_in_ci(
            "the dciodvfy check",
            &format!("`dciodvfy` is not installed ({e}); on Debian: apt-get install dicom3tools"),
        );
    }
    for file in &files {
        let out = Command::new("dciodvfy").arg(file).output().unwrap();
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("Error")).collect();
        assert!(errors.is_empty(), "dciodvfy {}:\n{report}", file.display());
        eprintln!("dciodvfy {}:\n{report}", file.display());
    }
}

// ---------------------------------------------------------------------------------------------
// NIfTI and 3D
// ---------------------------------------------------------------------------------------------

/// The parts of a NIfTI-1 file a reader needs: dims, datatype, pixdim, sform, data.
struct Nifti {
    dim: Vec<i16>,
    datatype: i16,
    pixdim: Vec<f32>,
    srow: Vec<f32>,
    descrip: String,
    data: Vec<f32>,
}

fn read_nifti(bytes: &[u8]) -> Nifti {
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).unwrap();
        out
    } else {
        bytes.to_vec()
    };
    let i32_at = |o: usize| i32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let i16_at = |o: usize| i16::from_le_bytes(bytes[o..o + 2].try_into().unwrap());
    let f32_at = |o: usize| f32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    assert_eq!(i32_at(0), 348, "sizeof_hdr");
    assert_eq!(&bytes[344..348], b"n+1\0", "magic");
    let vox_offset = f32_at(108) as usize;
    Nifti {
        dim: (0..8).map(|i| i16_at(40 + 2 * i)).collect(),
        datatype: i16_at(70),
        pixdim: (0..4).map(|i| f32_at(76 + 4 * i)).collect(),
        srow: (0..12).map(|i| f32_at(280 + 4 * i)).collect(),
        descrip: String::from_utf8_lossy(&bytes[148..228])
            .trim_end_matches('\0')
            .to_string(),
        data: bytes[vox_offset..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
    }
}

#[test]
fn volumes_and_images_are_written_as_nifti_with_float32_values_unchanged() {
    let tmp = TempDir::new().unwrap();
    for (case, format, dims) in [
        ("volume3d", Format::Nifti, [16, 16, 8]),
        ("volume3d", Format::NiftiGz, [16, 16, 8]),
        ("dcgan", Format::Nifti, [32, 32, 1]),
    ] {
        let fx = fixture(case);
        let dir = tmp.path().join(format!("{case}-{format}"));
        let req = request(2, 21);
        fx.generate(&req, &dir, format);
        let samples = fx.samples(&req);
        let ext = if format == Format::NiftiGz {
            "nii.gz"
        } else {
            "nii"
        };
        for sample in &samples {
            let name = format!("{:05}.{ext}", sample.index);
            let bytes = std::fs::read(dir.join(&name)).unwrap();
            assert_eq!(bytes.starts_with(&[0x1f, 0x8b]), format == Format::NiftiGz);
            let nifti = read_nifti(&bytes);
            assert_eq!(nifti.dim[..4], [3, dims[0], dims[1], dims[2]], "{name}");
            assert_eq!(nifti.datatype, 16, "float32");
            assert_eq!(nifti.pixdim[1..], [1.0, 1.0, 1.0]);
            assert_eq!(
                nifti.srow,
                [1., 0., 0., 0., 0., 1., 0., 0., 0., 0., 1., 0.],
                "identity affine"
            );
            assert!(nifti.descrip.starts_with("SYNTHETIC "), "{}", nifti.descrip);
            assert!(nifti.descrip.contains(fx.id), "{}", nifti.descrip);
            let values: Vec<f32> = sample.image.iter().copied().collect();
            assert_eq!(nifti.data, values, "{name}: float32 values unchanged");
        }
    }
}

#[test]
fn volumes_are_identical_across_batches_threads_and_shards_in_nifti_and_npy() {
    let fx = fixture("volume3d");
    let tmp = TempDir::new().unwrap();
    for format in [Format::NiftiGz, Format::Npy] {
        let whole = tmp.path().join(format!("whole-{format}"));
        fx.generate(&request(5, 13), &whole, format);
        let expected = sample_files(&whole);
        assert_eq!(expected.len(), 5);
        let mut other = request(5, 13);
        (other.batch_size, other.threads) = (5, Some(1));
        let rebatched = tmp.path().join(format!("rebatched-{format}"));
        fx.generate(&other, &rebatched, format);
        assert!(
            sample_files(&rebatched) == expected,
            "{format}: batch/threads"
        );
        let sharded = tmp.path().join(format!("sharded-{format}"));
        for index in 1..=3 {
            let mut req = request(5, 13);
            req.shard = Some(Shard { index, count: 3 });
            fx.generate(&req, &sharded, format);
        }
        assert!(sample_files(&sharded) == expected, "{format}: shards");
        // The manifest's hashes are the files' hashes.
        for line in &manifest(&whole)[1..] {
            let name = line["file"].as_str().unwrap();
            assert_eq!(
                line["sha256"],
                hex::encode(Sha256::digest(&expected[name])),
                "{name}"
            );
        }
    }
}

#[test]
fn nifti_affine_follows_the_declared_spacing() {
    let tmp = TempDir::new().unwrap();
    let fx = fixture_with_spacing("volume3d", serde_json::json!([2.0, 0.5, 0.25]), tmp.path());
    let dir = tmp.path().join("out");
    fx.generate(&request(1, 0), &dir, Format::Nifti);
    let nifti = read_nifti(&std::fs::read(dir.join("00000.nii")).unwrap());
    // [slice, row, column] -> x = column, y = row, z = slice.
    assert_eq!(nifti.pixdim[1..], [0.25, 0.5, 2.0]);
    assert_eq!(
        nifti.srow,
        [0.25, 0., 0., 0., 0., 0.5, 0., 0., 0., 0., 2.0, 0.]
    );
}

#[test]
fn nibabel_reads_nifti_with_the_right_shape_dtype_affine_and_values() {
    let tmp = TempDir::new().unwrap();
    let mut cases = Vec::new();
    let spaced = fixture_with_spacing("volume3d", serde_json::json!([2.0, 0.5, 0.25]), tmp.path());
    for (name, fx, format) in [
        ("vol", fixture("volume3d"), Format::NiftiGz),
        ("spaced", spaced, Format::Nifti),
        ("img", fixture("dcgan"), Format::Nifti),
        ("masks", fixture("image_mask"), Format::NiftiGz),
    ] {
        let nifti = tmp.path().join(format!("{name}-nifti"));
        let npy = tmp.path().join(format!("{name}-npy"));
        fx.generate(&request(2, 8), &nifti, format);
        fx.generate(&request(2, 8), &npy, Format::Npy);
        cases.push((nifti, npy));
    }
    let Some(python) = python_with(&["nibabel", "numpy"], "the nibabel read-back") else {
        return;
    };
    let args: Vec<&Path> = cases
        .iter()
        .flat_map(|(a, b)| [a.as_path(), b.as_path()])
        .collect();
    let out = run_python(
        python,
        r#"
import json, pathlib, sys
import numpy as np
import nibabel as nib
affines = {
    "spaced": np.diag([0.25, 0.5, 2.0, 1.0]),
}
checked = 0
pairs = sys.argv[1:]
for nifti_dir, npy_dir in zip(pairs[0::2], pairs[1::2]):
    case = pathlib.Path(nifti_dir).name.split("-")[0]
    files = sorted(pathlib.Path(nifti_dir).glob("*.nii*"))
    assert files, nifti_dir
    for path in files:
        img = nib.load(path)
        stem = path.name.split(".")[0]
        truth = np.load(pathlib.Path(npy_dir) / (stem + ".npy"))[0]
        if truth.ndim == 2:
            truth = truth[np.newaxis]
        expected_shape = truth.shape[::-1]  # (W, H, D)
        assert img.shape == expected_shape, (path, img.shape, expected_shape)
        assert img.get_data_dtype() == np.float32, (path, img.get_data_dtype())
        assert np.allclose(img.affine, affines.get(case, np.eye(4))), (path, img.affine)
        data = np.asanyarray(img.dataobj)
        assert data.dtype == np.float32, data.dtype
        assert np.array_equal(data, truth.transpose(2, 1, 0)), path
        assert img.header["descrip"].tobytes().startswith(b"SYNTHETIC"), path
        comment = json.loads(img.header.extensions[0].get_content().rstrip(b"\0"))
        assert comment["synthetic"] is True and comment["model_id"], comment
        assert comment["part"] == ("mask" if "_mask" in path.name else "image"), comment
        checked += 1
print("nibabel ok", checked)
"#,
        &args,
    );
    assert!(out.contains("nibabel ok 10"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// Bad combinations fail before any sample is generated
// ---------------------------------------------------------------------------------------------

#[test]
fn formats_that_cannot_hold_the_model_output_fail_before_generating() {
    let tmp = TempDir::new().unwrap();
    for (case, format, needles) in [
        ("volume3d", Format::Dicom, ["3D volumes", "nifti"]),
        ("volume3d", Format::Png16, ["3D volumes", "nifti"]),
        ("rgb", Format::Nifti, ["RGB", "png"]),
        ("rgb", Format::NiftiGz, ["RGB", "npy"]),
        ("rgb", Format::Png16, ["3 channels", "png"]),
    ] {
        let fx = fixture(case);
        let dir = tmp.path().join(format!("{case}-{format}"));
        let error = fx
            .try_generate(&request(2, 0), &dir, format)
            .expect_err("an unsupported combination")
            .to_string();
        assert!(error.contains(&format!("`{format}`")), "{error}");
        for needle in needles {
            assert!(
                error.contains(needle),
                "{case} {format}: {needle} in {error}"
            );
        }
        assert!(
            !dir.exists(),
            "{case} {format}: nothing written before the error"
        );
    }
}

#[test]
fn malformed_declared_spacing_is_reported_with_its_field() {
    let tmp = TempDir::new().unwrap();
    let fx = fixture_with_spacing("dcgan", serde_json::json!([1.0, -2.0]), tmp.path());
    let dir = tmp.path().join("out");
    let error = fx
        .try_generate(&request(1, 0), &dir, Format::Nifti)
        .expect_err("negative spacing")
        .to_string();
    assert!(
        error.contains("execution.onnx.outputs[0].spacing") && error.contains("positive"),
        "{error}"
    );
    assert!(!dir.exists());
}

#[test]
fn arrays_round_trip_through_npy_unchanged_for_volumes() {
    let fx = fixture("volume3d");
    let tmp = TempDir::new().unwrap();
    let req = request(1, 2);
    fx.generate(&req, tmp.path(), Format::Npy);
    let bytes = std::fs::read(tmp.path().join("00000.npy")).unwrap();
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = String::from_utf8_lossy(&bytes[10..10 + header_len]);
    assert!(header.contains("'shape': (1, 8, 16, 16)"), "{header}");
    let values: Vec<f32> = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let sample: ArrayD<f32> = fx.samples(&req).remove(0).image;
    assert_eq!(values, sample.iter().copied().collect::<Vec<_>>());
}
