//! Generation end to end over the ONNX fixtures, what each kind of model writes: the manifest of
//! a run, image+mask models, conditioning by label, and image-to-image inputs.

mod common;
#[path = "common/generate.rs"]
mod generate_helpers;

use common::max_abs_diff;
use generate_helpers::*;

use std::path::Path;

use medigan::Error;
use medigan::generate::GenerateError;
use medigan::output::Format;
use medigan::progress::NoProgress;
use medigan::runtime::{BackendKind, NamedTensor, SessionOptions, open_session};
use medigan::sample::sample_seed;
use ndarray::{ArrayD, IxDyn};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// The manifest
// ---------------------------------------------------------------------------------------------

#[test]
fn manifest_records_the_run_then_every_file_with_its_sha256() {
    let fx = fixture("image_mask");
    let tmp = TempDir::new().unwrap();
    let summary = fx.generate(&request(5, 77, 2, 2), tmp.path(), Format::Png);
    assert_eq!((summary.samples, summary.files), (5, 10));
    assert_eq!(summary.manifest, tmp.path().join("manifest.jsonl"));
    let lines = manifest_lines(&summary.manifest);
    let header = &lines[0];
    assert!(
        header["tool"].as_str().unwrap().starts_with("medigan-rs "),
        "{header}"
    );
    assert_eq!(header["model_id"], IMAGE_MASK);
    let package = header["package_sha256"].as_str().unwrap();
    assert!(
        package.len() == 64 && package.chars().all(|c| c.is_ascii_hexdigit()),
        "package_sha256 `{package}`"
    );
    assert_eq!(header["seed"], 77);
    assert_eq!(header["num_samples"], 5);
    assert_eq!(header["format"], "png");
    assert!(header["shard"].is_null());

    let files = sample_files(tmp.path());
    assert_eq!(lines.len(), 1 + files.len(), "one line per file");
    let mut listed = Vec::new();
    for line in &lines[1..] {
        let name = line["file"].as_str().unwrap();
        let index = line["index"].as_u64().unwrap();
        assert_eq!(
            line["seed"].as_u64().unwrap(),
            sample_seed(77, index),
            "{line}"
        );
        let bytes = files
            .get(name)
            .unwrap_or_else(|| panic!("{name} listed but not written"));
        assert_eq!(
            line["sha256"].as_str().unwrap(),
            sha256_hex(bytes),
            "{name}"
        );
        let part = line["part"].as_str().unwrap();
        let expected_name = file_name(index, if part == "mask" { "_mask" } else { "" }, "png");
        assert_eq!(name, expected_name);
        listed.push(name.to_string());
    }
    listed.sort();
    assert_eq!(listed, files.keys().cloned().collect::<Vec<_>>());
    // Lines come in sample order.
    let indices: Vec<u64> = lines[1..]
        .iter()
        .map(|l| l["index"].as_u64().unwrap())
        .collect();
    assert!(indices.windows(2).all(|w| w[0] <= w[1]), "{indices:?}");
}

// ---------------------------------------------------------------------------------------------
// Model kinds: image+mask, conditional, image-to-image
// ---------------------------------------------------------------------------------------------

#[test]
fn image_mask_model_writes_image_and_mask_pngs() {
    let fx = fixture("image_mask");
    let tmp = TempDir::new().unwrap();
    let req = request(3, 4, 2, 1);
    fx.generate(&req, tmp.path(), Format::Png);
    let files = sample_files(tmp.path());
    let expected: Vec<String> = (0..3)
        .flat_map(|i| [file_name(i, "", "png"), file_name(i, "_mask", "png")])
        .collect();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(files.keys().cloned().collect::<Vec<_>>(), expected_sorted);
    // The mask file is the mask output mapped from its own range [0, 1].
    let samples = fx.samples(&req);
    for sample in &samples {
        let mask = sample
            .mask
            .as_ref()
            .expect("image+mask samples carry a mask");
        let png = image::load_from_memory(&files[&file_name(sample.index, "_mask", "png")])
            .unwrap()
            .to_luma8();
        for ((_, y, x), value) in mask
            .view()
            .into_dimensionality::<ndarray::Ix3>()
            .unwrap()
            .indexed_iter()
        {
            assert_eq!(
                png.get_pixel(x as u32, y as u32).0[0],
                to_u8(*value, [0.0, 1.0])
            );
        }
    }
}

#[test]
fn label_by_name_conditions_every_sample() {
    let fx = fixture("conditional");
    let tmp = TempDir::new().unwrap();
    let mut req = request(4, 8, 3, 1);
    req.label = Some("malignant".into());
    fx.generate(&req, tmp.path(), Format::Npy);
    let lines = manifest_lines(&tmp.path().join("manifest.jsonl"));
    assert_eq!(lines[0]["arguments"]["label"], "malignant");
    assert!(
        lines[1..].iter().all(|l| l["label"] == "malignant"),
        "{lines:?}"
    );
    let malignant = fx.samples(&req);
    assert!(
        malignant
            .iter()
            .all(|s| s.label.as_deref() == Some("malignant"))
    );
    // Matching ignores case; the sample records the declared name.
    req.label = Some("BENIGN".into());
    let benign = fx.samples(&req);
    assert!(benign.iter().all(|s| s.label.as_deref() == Some("benign")));
    // Same latents, other class: other images.
    assert!(max_abs_diff(&benign[0].image, &malignant[0].image) > 1e-3);
}

#[test]
fn unknown_label_is_refused_naming_the_classes_before_any_file_is_written() {
    let fx = fixture("conditional");
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("out");
    let mut req = request(4, 0, 2, 1);
    req.label = Some("cyst".into());
    let error = fx.try_generate(&req, &dir, Format::Png).unwrap_err();
    match &error {
        Error::Generate(GenerateError::UnknownLabel { label, classes, .. }) => {
            assert_eq!(label, "cyst");
            assert_eq!(classes, &["benign", "malignant"]);
        }
        other => panic!("expected UnknownLabel, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("benign") && message.contains("malignant"),
        "{message}"
    );
    assert!(!dir.exists(), "nothing is written for a refused label");
    assert!(matches!(
        fx.gens.generate_samples(fx.id, &req),
        Err(Error::Generate(GenerateError::UnknownLabel { .. }))
    ));
}

#[test]
fn label_on_an_unconditional_model_is_refused() {
    let fx = fixture("dcgan");
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("out");
    let mut req = request(2, 0, 2, 1);
    req.label = Some("benign".into());
    let error = fx.try_generate(&req, &dir, Format::Png).unwrap_err();
    assert!(
        matches!(error, Error::Generate(GenerateError::NotConditional { .. })),
        "{error:?}"
    );
    assert!(!dir.exists());
}

/// Writes a grayscale 32x32 PNG whose pixels are `pixel(x, y)`.
fn write_gray_png(path: &Path, pixel: impl Fn(u32, u32) -> u8) -> Vec<u8> {
    let img = image::GrayImage::from_fn(32, 32, |x, y| image::Luma([pixel(x, y)]));
    img.save(path).unwrap();
    img.into_raw()
}

#[test]
fn image_to_image_model_translates_input_pngs() {
    let fx = fixture("image_to_image");
    let tmp = TempDir::new().unwrap();
    let inputs = tmp.path().join("inputs");
    std::fs::create_dir(&inputs).unwrap();
    let a = write_gray_png(&inputs.join("a.png"), |x, y| (x * 8 + y) as u8);
    let b = write_gray_png(&inputs.join("b.png"), |x, y| {
        if (x / 4 + y / 4) % 2 == 0 { 0 } else { 255 }
    });
    std::fs::write(inputs.join("notes.txt"), "not an image").unwrap();

    let mut req = request(5, 0, 2, 1);
    req.inputs = vec![inputs.clone()];
    let out = tmp.path().join("out");
    let summary = fx.generate(&req, &out, Format::Npy);
    assert_eq!(summary.samples, 5);
    let samples = fx.samples(&req);

    // Sample i translates input i % 2 (a.png, b.png in name order).
    let model = fx.gens.load_model(fx.id, &NoProgress).unwrap();
    let model = model.as_native().expect("a native model");
    let options = SessionOptions {
        backend: Some(BackendKind::Tract),
        ..SessionOptions::default()
    };
    let mut session = open_session(&model.graph, &model.spec, &options)
        .unwrap()
        .session;
    let expected: Vec<ArrayD<f32>> = [a, b]
        .iter()
        .map(|pixels| {
            let values = pixels
                .iter()
                .map(|&p| f32::from(p) / 255.0 * 2.0 - 1.0)
                .collect();
            let input = ArrayD::from_shape_vec(IxDyn(&[1, 1, 32, 32]), values).unwrap();
            let out = session.run(&[NamedTensor::f32("image_in", input)]).unwrap();
            out[0].data.index_axis(ndarray::Axis(0), 0).to_owned()
        })
        .collect();
    assert!(
        max_abs_diff(&expected[0], &expected[1]) > 1e-3,
        "the inputs differ"
    );
    for sample in &samples {
        let diff = max_abs_diff(&sample.image, &expected[(sample.index % 2) as usize]);
        assert!(diff <= 1e-5, "sample {}: max abs diff {diff}", sample.index);
        let written =
            read_npy(&std::fs::read(out.join(file_name(sample.index, "", "npy"))).unwrap());
        assert_eq!(written, sample.image);
    }

    // Files work as inputs too, in the order given.
    req.inputs = vec![inputs.join("b.png"), inputs.join("a.png")];
    req.num_samples = 2;
    let swapped = fx.samples(&req);
    assert_eq!(swapped[0].image, samples[1].image);
    assert_eq!(swapped[1].image, samples[0].image);
}

#[test]
fn image_to_image_without_inputs_is_missing_input() {
    let fx = fixture("image_to_image");
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("out");
    let error = fx
        .try_generate(&request(2, 0, 2, 1), &dir, Format::Png)
        .unwrap_err();
    assert!(
        matches!(error, Error::Generate(GenerateError::MissingInput { .. })),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("`GenerateRequest::inputs` (PATH)"),
        "{error}"
    );
    assert!(!dir.exists());
    assert!(matches!(
        fx.gens.generate_samples(fx.id, &request(2, 0, 2, 1)),
        Err(Error::Generate(GenerateError::MissingInput { .. }))
    ));
}

#[test]
fn input_images_for_a_noise_model_are_refused() {
    let fx = fixture("dcgan");
    let tmp = TempDir::new().unwrap();
    let png = tmp.path().join("a.png");
    write_gray_png(&png, |_, _| 0);
    let mut req = request(2, 0, 2, 1);
    req.inputs = vec![png];
    let error = fx
        .try_generate(&req, &tmp.path().join("out"), Format::Png)
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Generate(GenerateError::UnexpectedInput { .. })
        ),
        "{error:?}"
    );
}
