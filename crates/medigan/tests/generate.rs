//! Generation end to end over the ONNX fixtures in `tests/fixtures/`: determinism across batch
//! sizes, threads and shards, the manifest, the PNG and NPY writers, conditioning, input
//! images, and what a failing run leaves behind.
//!
//! Every facade reads one fixture's one-entry catalogue, whose package link `.` is the fixture
//! directory itself, with a fresh medigan home in a temporary directory.

mod common;

use common::Fixture;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use medigan::Error;
use medigan::catalog::Distribution;
use medigan::generate::{
    self, GenerateError, GenerateRequest, Generator, RunSummary, SampleRequest, Shard, WriteTarget,
};
use medigan::output::{
    Encoding, Format, ManifestHeader, NpyWriter, OutputError, Provenance, SampleWriter,
};
use medigan::progress::NoProgress;
use medigan::runtime::{BackendKind, NamedTensor, SessionOptions, find_onnxruntime, open_session};
use medigan::sample::{Sample, SampleRng, sample_seed};
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

const DCGAN: &str = "90001_FIXTURE_DCGAN";
const IMAGE_MASK: &str = "90003_FIXTURE_IMAGE_MASK";

fn fixture(case: &str) -> Fixture {
    Fixture::of(case, BackendKind::Tract)
}

impl Fixture {
    fn generate(&self, request: &GenerateRequest, dir: &Path, format: Format) -> RunSummary {
        self.gens
            .generate(self.id, request, dir, format, &NoProgress)
            .unwrap_or_else(|e| panic!("generate {}: {e}", self.id))
    }

    fn try_generate(
        &self,
        request: &GenerateRequest,
        dir: &Path,
        format: Format,
    ) -> medigan::Result<RunSummary> {
        self.gens
            .generate(self.id, request, dir, format, &NoProgress)
    }

    fn samples(&self, request: &GenerateRequest) -> Vec<Sample> {
        self.gens
            .generate_samples(self.id, request)
            .unwrap_or_else(|e| panic!("generate_samples {}: {e}", self.id))
    }
}

fn request(num_samples: u64, seed: u64, batch_size: usize, threads: usize) -> GenerateRequest {
    GenerateRequest {
        num_samples,
        seed,
        batch_size,
        threads: Some(threads),
        ..GenerateRequest::default()
    }
}

/// Every file in `dir` by name (hidden and temporary files included).
fn all_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {name}: {e}"));
            (name, bytes)
        })
        .collect()
}

/// The sample files of a run: everything but the manifests.
fn sample_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = all_files(dir);
    files.retain(|name, _| !name.starts_with("manifest"));
    files
}

/// The lines of a manifest, parsed.
fn manifest_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("bad line {line}: {e}")))
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A minimal `.npy` reader: little-endian float32, C order, format 1.0.
fn read_npy(bytes: &[u8]) -> ArrayD<f32> {
    assert_eq!(&bytes[..6], b"\x93NUMPY", "npy magic");
    assert_eq!(&bytes[6..8], &[1, 0], "npy format version 1.0");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let data_start = 10 + header_len;
    assert_eq!(data_start % 64, 0, "data is 64-byte aligned");
    let header = std::str::from_utf8(&bytes[10..data_start]).expect("ascii header");
    assert!(
        header.ends_with('\n'),
        "header ends with a newline: {header:?}"
    );
    assert!(header.contains("'descr': '<f4'"), "{header}");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no shape in {header}"));
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().expect("dimension"))
        .collect();
    let data = &bytes[data_start..];
    assert_eq!(
        data.len(),
        shape.iter().product::<usize>() * 4,
        "data length"
    );
    let values = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape), values).expect("shape matches data")
}

/// The documented PNG mapping: `low -> 0`, `high -> 255`, clamped, rounded to nearest.
fn to_u8(value: f32, range: [f32; 2]) -> u8 {
    ((value - range[0]) * (255.0 / (range[1] - range[0])))
        .round()
        .clamp(0.0, 255.0) as u8
}

fn max_abs_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn file_name(index: u64, suffix: &str, ext: &str) -> String {
    format!("{index:05}{suffix}.{ext}")
}

// ---------------------------------------------------------------------------------------------
// Determinism: batch sizes, threads, shards, in-memory and streaming use
// ---------------------------------------------------------------------------------------------

#[test]
fn same_seed_gives_identical_files_across_batch_sizes_and_thread_counts() {
    let mut runs = vec![
        ("dcgan", Format::Png, BackendKind::Tract),
        ("dcgan", Format::Npy, BackendKind::Tract),
        ("conditional", Format::Npy, BackendKind::Tract),
    ];
    // onnxruntime is the default backend when found: it must be as reproducible.
    match find_onnxruntime() {
        Ok(_) => runs.extend([
            ("dcgan", Format::Npy, BackendKind::Ort),
            ("image_mask", Format::Png, BackendKind::Ort),
        ]),
        Err(why) => medigan_testkit::skip(
            "the onnxruntime runs",
            &format!("{why} (pip install onnxruntime)"),
        ),
    }
    for (case, format, backend) in runs {
        let fx = Fixture::of(case, backend);
        let tmp = TempDir::new().unwrap();
        let mut reference: Option<BTreeMap<String, Vec<u8>>> = None;
        // (32, 2) is one batch on one worker with two threads inside the session.
        for (batch, threads) in [(1, 1), (3, 2), (16, 1), (16, 2), (3, 1), (1, 2), (32, 2)] {
            let what =
                format!("{case} {format} {backend:?}, batch size {batch}, {threads} threads");
            let dir = tmp.path().join(format!("b{batch}-t{threads}"));
            let summary = fx.generate(&request(20, 42, batch, threads), &dir, format);
            assert_eq!(summary.samples, 20, "{what}");
            let files = sample_files(&dir);
            match &reference {
                None => reference = Some(files),
                Some(expected) => {
                    assert_eq!(
                        files.keys().collect::<Vec<_>>(),
                        expected.keys().collect::<Vec<_>>(),
                        "{what}"
                    );
                    for (name, bytes) in expected {
                        assert!(files[name] == *bytes, "{what}: {name} differs");
                    }
                }
            }
        }
        // The seed matters: another seed gives other files.
        let other = tmp.path().join("other-seed");
        fx.generate(&request(20, 43, 16, 1), &other, format);
        let reference = reference.expect("runs were made");
        let first = file_name(0, "", format.name());
        assert_ne!(sample_files(&other)[&first], reference[&first]);
    }
}

#[test]
fn union_of_shards_equals_the_unsharded_run_file_for_file() {
    let fx = fixture("image_mask");
    let tmp = TempDir::new().unwrap();
    let whole = tmp.path().join("whole");
    fx.generate(&request(11, 9, 4, 2), &whole, Format::Png);
    assert!(whole.join("manifest.jsonl").is_file());

    let sharded = tmp.path().join("sharded");
    let mut shard_files = Vec::new();
    for k in 1..=3 {
        let shard: Shard = format!("{k}/3").parse().unwrap();
        let mut req = request(11, 9, 3, 1);
        req.shard = Some(shard);
        let before = all_files_or_empty(&sharded);
        fx.generate(&req, &sharded, Format::Png);
        let manifest = sharded.join(format!("manifest-shard-{k}-of-3.jsonl"));
        assert!(manifest.is_file(), "shard {k} writes its own manifest");
        let lines = manifest_lines(&manifest);
        assert_eq!(lines[0]["shard"], format!("{k}/3"));
        assert_eq!(
            lines[0]["num_samples"], 11,
            "the header counts the whole run"
        );
        // The shard's manifest lists exactly the files the shard added.
        let added: Vec<String> = all_files(&sharded)
            .into_keys()
            .filter(|name| !before.contains_key(name) && !name.starts_with("manifest"))
            .collect();
        let mut listed: Vec<String> = lines[1..]
            .iter()
            .map(|l| l["file"].as_str().unwrap().to_string())
            .collect();
        listed.sort();
        assert_eq!(listed, added, "shard {k}");
        let range = shard.range(11);
        for line in &lines[1..] {
            assert!(
                range.contains(&line["index"].as_u64().unwrap()),
                "shard {k}: {line}"
            );
        }
        shard_files.push(added);
    }
    assert!(
        !sharded.join("manifest.jsonl").exists(),
        "shards never write manifest.jsonl"
    );
    assert_eq!(
        shard_files.iter().map(Vec::len).collect::<Vec<_>>(),
        [6, 8, 8],
        "shards of 11 samples hold 3, 4, 4 samples (image and mask each)"
    );
    assert_eq!(sample_files(&sharded), sample_files(&whole));
}

fn all_files_or_empty(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    if dir.exists() {
        all_files(dir)
    } else {
        BTreeMap::new()
    }
}

#[test]
fn an_empty_shard_writes_only_its_manifest() {
    let fx = fixture("dcgan");
    let tmp = TempDir::new().unwrap();
    let mut req = request(2, 1, 4, 1);
    req.shard = Some("1/3".parse().unwrap());
    let summary = fx.generate(&req, tmp.path(), Format::Png);
    assert_eq!((summary.samples, summary.files), (0, 0));
    assert_eq!(
        all_files(tmp.path()).into_keys().collect::<Vec<_>>(),
        ["manifest-shard-1-of-3.jsonl"]
    );
    assert_eq!(manifest_lines(&summary.manifest).len(), 1);
}

#[test]
fn a_sample_is_the_same_in_memory_as_in_a_bigger_run() {
    let fx = fixture("conditional");
    let big = fx.samples(&request(24, 5, 16, 1));
    assert_eq!(
        big.iter().map(|s| s.index).collect::<Vec<_>>(),
        (0..24).collect::<Vec<_>>()
    );
    let small = fx.samples(&request(3, 5, 1, 1));
    assert_eq!(small[..], big[..3]);
    let mut shard = request(24, 5, 5, 2);
    shard.shard = Some("2/3".parse().unwrap());
    let middle = fx.samples(&shard);
    assert_eq!(middle.first().map(|s| s.index), Some(8));
    assert_eq!(middle[..], big[8..16]);
    // Without a label each sample draws its class from its seed: both classes turn up.
    let labels: std::collections::BTreeSet<_> =
        big.iter().filter_map(|s| s.label.clone()).collect();
    assert_eq!(
        labels.into_iter().collect::<Vec<_>>(),
        ["benign", "malignant"]
    );
}

#[test]
fn samples_are_the_graph_run_on_their_own_seeded_latents() {
    let fx = fixture("conditional");
    let mut req = request(3, 11, 3, 1);
    req.label = Some("malignant".into());
    let samples = fx.samples(&req);
    let model = fx.gens.load_model(fx.id, &NoProgress).unwrap();
    let model = model.as_native().expect("a native model");
    let options = SessionOptions {
        backend: Some(BackendKind::Tract),
        ..SessionOptions::default()
    };
    let mut session = open_session(&model.graph, &model.spec, &options)
        .unwrap()
        .session;
    for sample in &samples {
        assert_eq!(sample.seed, sample_seed(11, sample.index));
        let z = SampleRng::new(sample.seed).draw(64, Distribution::Normal, None);
        let inputs = [
            NamedTensor::f32("z", ArrayD::from_shape_vec(IxDyn(&[1, 64]), z).unwrap()),
            NamedTensor::i64(
                "label",
                ArrayD::from_shape_vec(IxDyn(&[1]), vec![1]).unwrap(),
            ),
        ];
        let out = session.run(&inputs).unwrap();
        let expected = out[0].data.index_axis(ndarray::Axis(0), 0).to_owned();
        let diff = max_abs_diff(&sample.image, &expected);
        assert!(diff <= 1e-5, "sample {}: max abs diff {diff}", sample.index);
    }
}

#[test]
fn stream_yields_the_samples_of_the_run_in_order() {
    let fx = fixture("image_mask");
    let req = request(10, 3, 16, 1);
    let all = fx.samples(&req);
    let mut streaming = req.clone();
    streaming.batch_size = 3;
    let streamed: Vec<Sample> = fx
        .gens
        .stream(fx.id, &streaming)
        .unwrap()
        .map(|s| s.expect("stream sample"))
        .collect();
    assert_eq!(streamed.len(), 10);
    assert_eq!(streamed, all);
    // A stream can be consumed partly (a training loop that stops early).
    let first: Vec<Sample> = fx
        .gens
        .stream(fx.id, &streaming)
        .unwrap()
        .take(4)
        .map(Result::unwrap)
        .collect();
    assert_eq!(first[..], all[..4]);
}

#[test]
fn get_generate_function_call_generates_with_the_bound_defaults() {
    let fx = fixture("dcgan");
    let defaults = request(4, 21, 2, 1);
    let function = fx
        .gens
        .get_generate_function("90001", defaults.clone())
        .unwrap();
    assert_eq!(function.model_id(), DCGAN);
    let samples = function.call().unwrap();
    assert_eq!(samples.len(), 4);
    assert_eq!(samples, fx.samples(&defaults));
    assert_eq!(function.call().unwrap(), samples, "calls repeat");
    let other = function.call_with(|r| r.seed = 22).unwrap();
    assert_eq!(other.len(), 4);
    assert_ne!(other[0].image, samples[0].image);
}

#[test]
fn generate_samples_returns_arrays_of_the_declared_shape() {
    for (case, image, mask) in [
        ("dcgan", vec![1, 32, 32], None),
        ("conditional", vec![1, 32, 32], None),
        ("image_mask", vec![1, 32, 32], Some(vec![1, 32, 32])),
        ("rgb", vec![3, 32, 32], None),
        ("volume3d", vec![1, 8, 16, 16], None),
    ] {
        let fx = fixture(case);
        let samples = fx.samples(&request(3, 0, 2, 1));
        assert_eq!(samples.len(), 3, "{case}");
        for sample in &samples {
            assert_eq!(sample.image.shape(), &image[..], "{case}");
            assert_eq!(
                sample.mask.as_ref().map(|m| m.shape().to_vec()),
                mask,
                "{case}"
            );
            assert!(sample.image.iter().all(|v| v.is_finite()), "{case}");
            assert_eq!(sample.is_volume(), case == "volume3d");
        }
    }
}

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
    assert!(error.to_string().contains("--input"), "{error}");
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

// ---------------------------------------------------------------------------------------------
// Bad input and failures
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_shards_are_refused() {
    for bad in ["0/4", "5/4", "1/0", "3", "a/b", ""] {
        match bad.parse::<Shard>() {
            Err(medigan::sample::BadShard { value }) => assert_eq!(value, bad),
            other => panic!("`{bad}`: expected BadShard, got {other:?}"),
        }
    }
    assert_eq!(
        "2/4".parse::<Shard>().unwrap(),
        Shard { index: 2, count: 4 }
    );
}

#[test]
fn zero_batch_size_or_threads_are_refused() {
    let fx = fixture("dcgan");
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("out");
    for req in [request(2, 0, 0, 1), request(2, 0, 2, 0)] {
        let error = fx.try_generate(&req, &dir, Format::Png).unwrap_err();
        assert!(
            matches!(error, Error::Generate(GenerateError::BadRequest { .. })),
            "{error:?}"
        );
        assert!(fx.gens.generate_samples(fx.id, &req).is_err());
    }
    assert!(!dir.exists());
}

#[test]
fn an_output_dir_that_cannot_be_created_is_refused_and_nothing_is_written() {
    let fx = fixture("dcgan");
    let tmp = TempDir::new().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"keep me").unwrap();
    let dir = file.join("out");
    let error = fx
        .try_generate(&request(3, 0, 2, 1), &dir, Format::Png)
        .unwrap_err();
    match &error {
        Error::Generate(GenerateError::OutputDir { path, .. }) => assert_eq!(path, &dir),
        other => panic!("expected OutputDir, got {other:?}"),
    }
    assert!(error.to_string().contains("a-file"), "{error}");
    assert_eq!(
        all_files(tmp.path()).into_keys().collect::<Vec<_>>(),
        ["a-file"]
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
}

/// How a fake run fails.
#[derive(Debug, Clone, Copy)]
enum Failure {
    /// It does not.
    Never,
    /// Generating this sample returns an error.
    Error(u64),
    /// Generating this sample panics.
    Panic(u64),
    /// Opening a generator fails.
    Factory,
}

/// A generator without a model: sample `i` is filled with `i / 100`.
struct FakeGenerator {
    failure: Failure,
}

impl Generator for FakeGenerator {
    fn generate(&mut self, batch: &[SampleRequest]) -> Result<Vec<Sample>, GenerateError> {
        batch
            .iter()
            .map(|r| {
                match self.failure {
                    Failure::Error(i) | Failure::Panic(i) if i == r.index => {
                        // Fail late enough for the other threads to be waiting on this one.
                        std::thread::sleep(Duration::from_millis(50));
                        if matches!(self.failure, Failure::Panic(_)) {
                            panic!("simulated panic on {i}");
                        }
                        return Err(GenerateError::Worker(format!("simulated failure on {i}")));
                    }
                    _ => {}
                }
                Ok(Sample {
                    index: r.index,
                    seed: r.seed,
                    image: ArrayD::from_elem(IxDyn(&[1, 4, 4]), r.index as f32 / 100.0),
                    mask: None,
                    label: None,
                })
            })
            .collect()
    }
}

/// NPY, except that encoding sample `fail_on` fails like a full disk.
struct FailingWriter {
    fail_on: u64,
}

impl SampleWriter for FailingWriter {
    fn extension(&self) -> &'static str {
        "npy"
    }

    fn check(&self, shape: &[usize]) -> Result<(), OutputError> {
        NpyWriter.check(shape)
    }

    fn encode(&self, array: &ArrayD<f32>, encoding: &Encoding<'_>) -> Result<Vec<u8>, OutputError> {
        if encoding.index == self.fail_on {
            return Err(OutputError::Io {
                path: PathBuf::from(file_name(encoding.index, "", "npy")),
                cause: std::io::Error::other("no space left on device (simulated)"),
            });
        }
        NpyWriter.encode(array, encoding)
    }
}

fn header() -> ManifestHeader {
    ManifestHeader {
        tool: "medigan-rs test".into(),
        model_id: "fake".into(),
        model_version: None,
        package_sha256: "0".repeat(64),
        seed: 1,
        num_samples: 30,
        shard: None,
        format: "npy".into(),
        value_mapping: None,
        arguments: Value::Null,
    }
}

/// Runs `write_run` over 30 fake samples (batches of `batch_size`) on another thread, failing
/// if it does not return within a minute (a hung pipeline).
fn fake_run(
    dir: &Path,
    writer: Arc<dyn SampleWriter>,
    failure: Failure,
    batch_size: usize,
    workers: usize,
) -> Result<RunSummary, GenerateError> {
    let (tx, rx) = mpsc::channel();
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        let factory = || -> Result<Box<dyn Generator>, GenerateError> {
            if matches!(failure, Failure::Factory) {
                return Err(GenerateError::Worker("simulated session failure".into()));
            }
            Ok(Box::new(FakeGenerator { failure }))
        };
        let make_batch = |b: usize| common::batch_requests(0..30, batch_size, b, 1);
        let target = WriteTarget {
            dir: &dir,
            writer: writer.as_ref(),
            header: header(),
            manifest_name: "manifest.jsonl".into(),
            image_range: [0.0, 1.0],
            mask_range: None,
            provenance: Provenance::default(),
            digits: 5,
            mode: generate::RunMode::Fresh,
            pack: None,
        };
        let batches = 30usize.div_ceil(batch_size);
        let result = generate::write_run(
            &factory,
            &make_batch,
            batches,
            workers,
            &target,
            &NoProgress,
        );
        let _ = tx.send(result);
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("write_run hung after a failure")
}

#[test]
fn a_disk_error_mid_run_leaves_only_complete_files_and_no_manifest() {
    for (batch_size, workers) in [(1, 1), (1, 2), (2, 3), (4, 2)] {
        let tmp = TempDir::new().unwrap();
        let writer: Arc<dyn SampleWriter> = Arc::new(FailingWriter { fail_on: 5 });
        let error = fake_run(tmp.path(), writer, Failure::Never, batch_size, workers).unwrap_err();
        assert!(
            matches!(&error, GenerateError::Output(OutputError::Io { .. })),
            "b{batch_size} w{workers}: {error:?}"
        );
        assert!(error.to_string().contains("no space left"), "{error}");
        let mut files = all_files(tmp.path());
        assert!(
            !files.contains_key("manifest.jsonl"),
            "no manifest for a failed run"
        );
        let journal = files
            .remove(".manifest.journal")
            .expect("the journal stays for --resume");
        assert_eq!(
            String::from_utf8(journal).unwrap().lines().count(),
            6,
            "its first line and the 5 complete samples"
        );
        let expected: Vec<String> = (0..5).map(|i| file_name(i, "", "npy")).collect();
        assert_eq!(
            files.keys().cloned().collect::<Vec<_>>(),
            expected,
            "b{batch_size} w{workers}: only the complete files written before the error remain"
        );
        for (i, name) in expected.iter().enumerate() {
            let array = read_npy(&files[name]);
            assert_eq!(
                array,
                ArrayD::from_elem(IxDyn(&[1, 4, 4]), i as f32 / 100.0)
            );
        }
    }
}

#[test]
fn a_generator_error_or_panic_surfaces_without_hanging_or_a_manifest() {
    for (failure, batch_size, workers) in [
        (Failure::Error(0), 1, 1),
        (Failure::Error(7), 1, 2),
        (Failure::Error(12), 3, 2),
        (Failure::Factory, 2, 2),
        (Failure::Panic(0), 1, 1),
        (Failure::Panic(7), 1, 2),
        (Failure::Panic(12), 3, 3),
    ] {
        let tmp = TempDir::new().unwrap();
        let writer: Arc<dyn SampleWriter> = Arc::new(NpyWriter);
        let error = fake_run(tmp.path(), writer, failure, batch_size, workers).unwrap_err();
        match (&error, failure) {
            (GenerateError::Worker(message), Failure::Panic(i)) => {
                assert!(
                    message.contains(&format!("simulated panic on {i}")),
                    "{message}"
                );
            }
            (GenerateError::Worker(_), _) => {}
            _ => panic!("{failure:?}: {error:?}"),
        }
        let files = all_files(tmp.path());
        assert!(!files.contains_key("manifest.jsonl"));
        assert!(
            files
                .keys()
                .all(|name| (name.ends_with(".npy") && !name.starts_with('.'))
                    || name == ".manifest.journal"),
            "{:?}",
            files.keys().collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_complete_fake_run_writes_every_file_and_the_manifest() {
    let tmp = TempDir::new().unwrap();
    let summary = fake_run(tmp.path(), Arc::new(NpyWriter), Failure::Never, 4, 3).unwrap();
    assert_eq!((summary.samples, summary.files), (30, 30));
    let files = all_files(tmp.path());
    assert_eq!(files.len(), 31, "30 samples and the manifest, no leftovers");
    assert_eq!(manifest_lines(&summary.manifest).len(), 31);
}

// ---------------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------------

#[test]
fn ort_and_tract_produce_the_same_samples() {
    if let Err(why) = find_onnxruntime() {
        return medigan_testkit::skip(
            "the comparison of tract with onnxruntime",
            &format!("{why} (pip install onnxruntime)"),
        );
    }
    for case in ["dcgan", "conditional", "image_mask", "rgb", "volume3d"] {
        let req = request(6, 2, 4, 1);
        let tract = Fixture::of(case, BackendKind::Tract).samples(&req);
        let ort = Fixture::of(case, BackendKind::Ort).samples(&req);
        assert_eq!(tract.len(), ort.len());
        for (t, o) in tract.iter().zip(&ort) {
            assert_eq!((t.index, t.seed, &t.label), (o.index, o.seed, &o.label));
            let diff = max_abs_diff(&t.image, &o.image);
            assert!(
                diff <= 1e-4,
                "{case} sample {}: max abs diff {diff:.2e}",
                t.index
            );
            if let (Some(tm), Some(om)) = (&t.mask, &o.mask) {
                let diff = max_abs_diff(tm, om);
                assert!(
                    diff <= 1e-4,
                    "{case} mask {}: max abs diff {diff:.2e}",
                    t.index
                );
            }
        }
        eprintln!("{case}: ort and tract agree within 1e-4");
    }
}

#[test]
fn a_shard_built_by_hand_is_checked_too() {
    let fx = fixture("dcgan");
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("out");
    for (index, count) in [(0, 4), (5, 4), (0, 0), (1, 0)] {
        let mut req = request(8, 0, 2, 1);
        req.shard = Some(Shard { index, count });
        let error = fx.try_generate(&req, &dir, Format::Png).unwrap_err();
        assert!(
            matches!(error, Error::Generate(GenerateError::BadShard { .. })),
            "{index}/{count}: {error:?}"
        );
        assert!(matches!(
            fx.gens.generate_samples(fx.id, &req),
            Err(Error::Generate(GenerateError::BadShard { .. }))
        ));
    }
    assert!(!dir.exists());
}

#[test]
fn a_given_latent_reproduces_the_seeded_sample_and_moving_it_changes_the_image() {
    let fx = fixture("dcgan");
    let seeded = fx.samples(&request(1, 9, 1, 1)).remove(0);
    let model = fx.gens.load_model(fx.id, &NoProgress).unwrap();
    let plan = model.plan(&request(1, 9, 1, 1), None).unwrap();
    let mut generator = model.generator(&plan, Some(BackendKind::Tract), 1).unwrap();
    let latent = model.seeded_latent(seeded.seed).expect("a latent input");
    assert_eq!(latent.len(), 100);
    let mut with_latent = |latent: &[f32]| {
        let mut sample = plan.request(0);
        sample.latent = Some(std::sync::Arc::new(latent.to_vec()));
        generator.generate(&[sample]).map(|mut s| s.remove(0))
    };
    let same = with_latent(&latent).unwrap();
    assert_eq!(
        same.image, seeded.image,
        "the seeded latent gives the seeded sample"
    );

    let mut moved = latent.clone();
    for v in &mut moved[..10] {
        *v += 1.0;
    }
    let other = with_latent(&moved).unwrap();
    assert_ne!(other.image, seeded.image);

    let error = with_latent(&latent[..5]).unwrap_err();
    assert!(
        error.to_string().contains("5 values given") && error.to_string().contains("has 100"),
        "{error}"
    );
}
