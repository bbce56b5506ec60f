//! DICOM images and NIfTI slices as FID inputs: what `medigan generate --format dicom|nifti`
//! writes reads back as the same images as its PNG output (within the PNG's 8-bit step), and a
//! volume gives one image per slice.

mod common;

use std::path::Path;

use medigan::Generators;
use medigan::evaluate::ImageSet;
use medigan::evaluate::images::ReadOptions;
use medigan::generate::GenerateRequest;
use medigan::output::Format;
use medigan::progress::NoProgress;
use medigan::runtime::BackendKind;
use ndarray::{Array3, s};

fn generators(case: &str, home: &Path) -> Generators {
    let catalog = common::fixture_dir(case).join("medigan.json");
    common::offline_generators(home, &catalog, BackendKind::Tract)
}

fn request(n: u64) -> GenerateRequest {
    GenerateRequest {
        num_samples: n,
        seed: 4,
        threads: Some(1),
        ..GenerateRequest::default()
    }
}

fn images(dir: &Path) -> Vec<Array3<f32>> {
    let set = ImageSet::from_folder(dir).unwrap();
    set.images
        .iter()
        .map(|i| i.load(&ReadOptions::default()).unwrap())
        .collect()
}

fn max_diff(a: &Array3<f32>, b: &Array3<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn dicom_and_nifti_outputs_read_back_as_the_png_images() {
    let home = tempfile::tempdir().unwrap();
    let gens = generators("dcgan", home.path());
    let write = |format: Format| {
        let dir = home.path().join(format.name());
        gens.generate("90001", &request(3), &dir, format, &NoProgress)
            .unwrap();
        images(&dir)
    };
    let png = write(Format::Png);
    assert_eq!(png.len(), 3);
    for format in [Format::Dicom, Format::Nifti, Format::NiftiGz] {
        let read = write(format);
        assert_eq!(read.len(), 3, "{}", format.name());
        for (a, b) in png.iter().zip(&read) {
            let diff = max_diff(a, b);
            // PNG rounds to 1/255; DICOM keeps 16 bits, NIfTI floats.
            assert!(diff <= 0.5 / 255.0 + 1e-4, "{}: {diff}", format.name());
        }
    }
}

#[test]
fn every_slice_of_a_nifti_volume_is_an_image() {
    let home = tempfile::tempdir().unwrap();
    let gens = generators("volume3d", home.path());
    let dir = home.path().join("nifti");
    gens.generate("90005", &request(2), &dir, Format::NiftiGz, &NoProgress)
        .unwrap();
    let read = images(&dir);
    assert_eq!(read.len(), 2 * 8, "two volumes of 8 slices");
    let samples = gens.generate_samples("90005", &request(2)).unwrap().samples;
    for (v, sample) in samples.iter().enumerate() {
        for k in 0..8 {
            // The model's range [-1, 1] (the file's cal_min..cal_max) mapped to [0, 1].
            let expected = sample
                .image
                .slice(s![.., k, .., ..])
                .mapv(|x| ((x + 1.0) / 2.0).clamp(0.0, 1.0));
            let diff = max_diff(&expected, &read[v * 8 + k]);
            assert!(diff < 1e-6, "volume {v} slice {k}: {diff}");
        }
    }
}

#[test]
fn an_unreadable_dicom_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.dcm"), b"not a dicom file").unwrap();
    let set = ImageSet::from_folder(dir.path()).unwrap();
    let error = set.images[0].load(&ReadOptions::default()).unwrap_err();
    assert!(error.to_string().contains("broken.dcm"), "{error}");
}
