//! Generation end to end over the ONNX fixtures in `tests/fixtures/`, what stays the same:
//! identical files across batch sizes, threads and shards, in memory and streamed, the graph's
//! own output for each seeded latent, and the same samples from onnxruntime and tract.
//!
//! Every facade reads one fixture's one-entry catalogue, whose package link `.` is the fixture
//! directory itself, with a fresh medigan home in a temporary directory.

mod common;
#[path = "common/generate.rs"]
mod generate_helpers;

use common::{Fixture, max_abs_diff};
use generate_helpers::*;

use std::collections::BTreeMap;
use std::path::Path;

use medigan::Error;
use medigan::catalog::Distribution;
use medigan::generate::{GenerateError, Shard};
use medigan::output::Format;
use medigan::progress::NoProgress;
use medigan::runtime::{BackendKind, NamedTensor, SessionOptions, find_onnxruntime, open_session};
use medigan::sample::{Sample, SampleRng, sample_seed};
use ndarray::{ArrayD, IxDyn};
use tempfile::TempDir;

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
