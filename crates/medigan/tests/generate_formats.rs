//! Generation end to end over the ONNX fixtures, in each output format: NPY values exact, PNG
//! pixels mapped from the declared range, volumes refused or kept whole.

mod common;
#[path = "common/generate.rs"]
mod generate_helpers;

use generate_helpers::*;

use medigan::Error;
use medigan::output::{Format, OutputError};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------------------------

#[test]
fn npy_round_trips_float32_values_exactly() {
    let fx = fixture("dcgan");
    let tmp = TempDir::new().unwrap();
    let req = request(4, 13, 4, 1);
    fx.generate(&req, tmp.path(), Format::Npy);
    let samples = fx.samples(&req);
    for sample in &samples {
        let bytes = std::fs::read(tmp.path().join(file_name(sample.index, "", "npy"))).unwrap();
        let array = read_npy(&bytes);
        assert_eq!(array.shape(), &[1, 32, 32]);
        let same_bits = array
            .iter()
            .zip(sample.image.iter())
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same_bits, "sample {} is stored bit for bit", sample.index);
    }
}

#[test]
fn png_of_a_volume_is_refused_before_generation() {
    let fx = fixture("volume3d");
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("out");
    let error = fx
        .try_generate(&request(2, 0, 2, 1), &dir, Format::Png)
        .unwrap_err();
    assert!(
        matches!(error, Error::Output(OutputError::Unsupported { .. })),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("3D volumes") && message.contains("npy"),
        "{message}"
    );
    assert!(!dir.exists(), "nothing is written");
}

#[test]
fn npy_of_a_volume_has_shape_1_8_16_16() {
    let fx = fixture("volume3d");
    let tmp = TempDir::new().unwrap();
    let req = request(2, 3, 2, 1);
    let summary = fx.generate(&req, tmp.path(), Format::Npy);
    assert_eq!(summary.files, 2);
    let samples = fx.samples(&req);
    for sample in &samples {
        let array =
            read_npy(&std::fs::read(tmp.path().join(file_name(sample.index, "", "npy"))).unwrap());
        assert_eq!(array.shape(), &[1, 8, 16, 16]);
        assert_eq!(array, sample.image);
    }
}

#[test]
fn png_pixels_are_the_sample_mapped_from_its_range_to_0_255() {
    // Grayscale in [-1, 1].
    let fx = fixture("dcgan");
    let tmp = TempDir::new().unwrap();
    let req = request(3, 17, 3, 1);
    fx.generate(&req, tmp.path(), Format::Png);
    let lines = manifest_lines(&tmp.path().join("manifest.jsonl"));
    assert!(
        lines[0]["value_mapping"]
            .as_str()
            .unwrap()
            .contains("-1 -> 0"),
        "{}",
        lines[0]
    );
    for sample in fx.samples(&req) {
        let png = image::open(tmp.path().join(file_name(sample.index, "", "png"))).unwrap();
        assert_eq!(png.color(), image::ColorType::L8);
        let png = png.to_luma8();
        assert_eq!(png.dimensions(), (32, 32));
        let image = sample.image.into_dimensionality::<ndarray::Ix3>().unwrap();
        for ((_, y, x), value) in image.indexed_iter() {
            assert_eq!(
                png.get_pixel(x as u32, y as u32).0[0],
                to_u8(*value, [-1.0, 1.0]),
                "sample {} pixel ({x}, {y}) value {value}",
                sample.index
            );
        }
    }
    // RGB in [0, 1]: planes become interleaved channels.
    let fx = fixture("rgb");
    let tmp = TempDir::new().unwrap();
    fx.generate(&req, tmp.path(), Format::Png);
    for sample in fx.samples(&req) {
        let png = image::open(tmp.path().join(file_name(sample.index, "", "png"))).unwrap();
        assert_eq!(png.color(), image::ColorType::Rgb8);
        let png = png.to_rgb8();
        let image = sample.image.into_dimensionality::<ndarray::Ix3>().unwrap();
        for ((c, y, x), value) in image.indexed_iter() {
            assert_eq!(
                png.get_pixel(x as u32, y as u32).0[c],
                to_u8(*value, [0.0, 1.0])
            );
        }
    }
}
