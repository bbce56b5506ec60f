//! The native FID Inception-v3 (`medigan::evaluate::inception`): pool3 features against
//! pytorch-fid (where python3 has torch and pytorch-fid), and, everywhere, loading and running a
//! full-size random state dict and the errors that name a bad file's tensor.
//!
//! Fixtures: `tests/fixtures/inception/` (written by
//! `python3 scripts/inception_reference.py OUT --fixtures tests/fixtures/inception`).

mod common;

use common::max_abs_diff;

use std::path::{Path, PathBuf};
use std::process::Command;

use medigan::evaluate::inception::{FEATURE_DIMS, INPUT_SIZE, InceptionError, InceptionV3};
use medigan::evaluate::{ExtractorSource, InceptionSource};
use medigan::runtime::BackendKind;
use ndarray::{Array2, Array4, Axis, s};
use ndarray_npy::read_npy;

fn fixture(name: &str) -> PathBuf {
    common::fixtures("inception").join(name)
}

/// Runs `scripts/inception_reference.py` into `dir`, or returns `false` after printing why not.
fn torch_reference(dir: &Path) -> bool {
    let python = match medigan_testkit::python_importing(&["torch", "pytorch_fid"]) {
        Ok(python) => python,
        Err(why) => {
            // Allowed in CI: CI does not install torch and pytorch-fid (large downloads).
            medigan_testkit::skip_allowed_in_ci("the comparison with pytorch-fid", &why);
            return false;
        }
    };
    let out = Command::new(python)
        .arg(common::repo_root().join("scripts/inception_reference.py"))
        .arg(dir)
        .args(["--images", "3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "inception_reference.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

#[test]
fn features_match_pytorch_fid() {
    let dir = tempfile::tempdir().unwrap();
    if !torch_reference(dir.path()) {
        return;
    }
    let input: Array4<f32> = read_npy(dir.path().join("input.npy")).unwrap();
    let want: Array2<f32> = read_npy(dir.path().join("features.npy")).unwrap();
    let largest = want.iter().fold(0f32, |m, v| m.max(v.abs()));

    // The legacy torch.save format (that of the real 2019 weights file) and the zip format.
    let legacy = InceptionV3::from_pth(&dir.path().join("weights.pth")).unwrap();
    let zip = InceptionV3::from_pth(&dir.path().join("weights_zip.pth")).unwrap();
    let got = legacy.features(input.view()).unwrap();
    assert_eq!(got.dim(), (input.dim().0, FEATURE_DIMS));
    let diff = max_abs_diff(&got, &want);
    eprintln!(
        "FID Inception-v3 vs pytorch-fid: max abs difference {diff:e} over {} features \
         (largest feature {largest})",
        want.len()
    );
    assert!(diff < 1e-4, "max abs difference {diff} vs pytorch-fid");
    assert_eq!(
        zip.features(input.view()).unwrap(),
        got,
        "zip and legacy files differ"
    );

    // One image at a time (products split across threads) gives the batch's rows.
    for i in 0..input.dim().0 {
        let one = legacy
            .features(input.slice(s![i..i + 1, .., .., ..]))
            .unwrap();
        let d = max_abs_diff(&one, &got.slice(s![i..i + 1, ..]).to_owned());
        assert!(d < 1e-5, "image {i} alone differs by {d}");
    }

    // The network's ONNX graph on onnxruntime (what `medigan fid` runs when it finds it).
    if medigan::runtime::ort_library().is_ok() {
        let source = InceptionSource::from_pth(&dir.path().join("weights.pth"))
            .and_then(|s| s.on_onnxruntime(None, &dir.path().join("graphs")))
            .unwrap();
        assert!(source.runs_on_onnxruntime());
        let onnx = source.make().unwrap().extract(input.view()).unwrap();
        let diff = max_abs_diff(&onnx, &want);
        eprintln!("its ONNX graph on onnxruntime vs pytorch-fid: max abs difference {diff:e}");
        assert!(
            diff < 1e-4,
            "max abs difference {diff} vs pytorch-fid on onnxruntime"
        );
    }
}

/// A full-size state dict in the legacy `torch.save` format, pseudo-random weights, written
/// without torch from the committed list of tensor names and shapes.
fn write_random_state_dict(path: &Path) {
    let shapes = std::fs::read_to_string(fixture("shapes.txt")).unwrap();
    let tensors: Vec<(String, Vec<usize>)> = shapes
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let mut it = l.split_whitespace();
            let name = it.next().unwrap().to_owned();
            (name, it.map(|d| d.parse().unwrap()).collect())
        })
        .collect();
    let mut p = Pickle::default();
    p.0.extend(b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."); // magic
    p.0.extend(b"\x80\x02M\xe9\x03."); // protocol 1001
    p.0.extend(b"\x80\x02}."); // sys_info
    p.0.extend(b"\x80\x02}(");
    for (key, (name, shape)) in tensors.iter().enumerate() {
        let numel: usize = shape.iter().product();
        p.str(name);
        p.0.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        p.0.extend(b"(");
        p.str("storage");
        p.0.extend(b"ctorch\nFloatStorage\n");
        p.str(&key.to_string());
        p.str("cpu");
        p.int(numel);
        p.0.extend(b"NtQ");
        p.int(0);
        p.0.push(b'(');
        shape.iter().for_each(|&d| p.int(d));
        p.0.push(b't');
        p.0.push(b'(');
        let mut stride = vec![1; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * shape[d + 1];
        }
        stride.iter().for_each(|&d| p.int(d));
        p.0.push(b't');
        p.0.extend(b"\x89ccollections\nOrderedDict\n)RtR");
    }
    p.0.extend(b"u.");
    p.0.extend(b"\x80\x02](");
    (0..tensors.len()).for_each(|key| p.str(&key.to_string()));
    p.0.extend(b"e.");
    let mut state = 0x2545_f491u32;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as f32 / u32::MAX as f32
    };
    for (name, shape) in &tensors {
        let numel: usize = shape.iter().product();
        p.0.extend((numel as u64).to_le_bytes());
        let fan_in: usize = shape.iter().skip(1).product();
        for _ in 0..numel {
            let v = if name.ends_with("conv.weight") {
                (uniform() * 2.0 - 1.0) * (6.0 / fan_in as f32).sqrt()
            } else if name.ends_with("running_var") || name.ends_with("bn.weight") {
                0.5 + uniform()
            } else {
                0.2 * (uniform() - 0.5)
            };
            p.0.extend(v.to_le_bytes());
        }
    }
    std::fs::write(path, p.0).unwrap();
}

/// A tiny pickle (protocol 2) writer, for the test's state dict.
#[derive(Default)]
struct Pickle(Vec<u8>);

impl Pickle {
    fn str(&mut self, s: &str) {
        self.0.push(b'X');
        self.0.extend((s.len() as u32).to_le_bytes());
        self.0.extend(s.as_bytes());
    }

    fn int(&mut self, v: usize) {
        self.0.push(b'J');
        self.0.extend((v as i32).to_le_bytes());
    }
}

/// A batch of `n` smooth test images in [-1, 1].
fn images(n: usize) -> Array4<f32> {
    Array4::from_shape_fn((n, 3, INPUT_SIZE, INPUT_SIZE), |(i, c, y, x)| {
        let t = (x as f32 * (0.03 + 0.01 * i as f32) + y as f32 * 0.05 + c as f32).sin();
        t * 0.9
    })
}

#[test]
fn runs_a_full_size_random_state_dict() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random.pth");
    write_random_state_dict(&path);
    let net = InceptionV3::from_pth(&path).unwrap();
    fn shareable<T: Send + Sync>(_: &T) {}
    shareable(&net);

    let batch = images(3);
    let feats = net.features(batch.view()).unwrap();
    assert_eq!(feats.dim(), (3, FEATURE_DIMS));
    // pool3 averages ReLU outputs: finite, non-negative, not all zero.
    assert!(feats.iter().all(|v| v.is_finite() && *v >= 0.0));
    assert!(feats.iter().any(|v| *v > 0.0));
    assert_ne!(feats.row(0), feats.row(1));

    // Per image (products split across threads) = in a batch (whole images per thread); any
    // memory layout of the input gives the same features.
    let one = net.features(batch.slice(s![1..2, .., .., ..])).unwrap();
    assert!(max_abs_diff(&one, &feats.slice(s![1..2, ..]).to_owned()) < 1e-5);
    let mut transposed = Array4::<f32>::zeros((3, INPUT_SIZE, INPUT_SIZE, 3));
    transposed.assign(&batch.view().permuted_axes([0, 2, 3, 1]));
    let strided = transposed.view().permuted_axes([0, 3, 1, 2]);
    assert_eq!(net.features(strided).unwrap(), feats);

    let empty = net.features(batch.slice(s![0..0, .., .., ..])).unwrap();
    assert_eq!(empty.dim(), (0, FEATURE_DIMS));

    let small = Array4::<f32>::zeros((1, 3, 224, 224));
    let err = net.features(small.view()).unwrap_err();
    assert!(matches!(err, InceptionError::InputShape { .. }), "{err}");
    assert!(err.to_string().contains("[1, 3, 224, 224]"), "{err}");
    let gray = batch.index_axis(Axis(1), 0).insert_axis(Axis(1)).to_owned();
    assert!(matches!(
        net.features(gray.view()),
        Err(InceptionError::InputShape { .. })
    ));
}

/// With onnxruntime found, the Inception source runs the network's ONNX graph
/// (`InceptionV3::to_onnx`), built once into the graphs folder, and gives the native network's
/// features; asked for tract, it stays native.
#[test]
fn on_onnxruntime_the_graph_gives_the_native_features() {
    if medigan::runtime::ort_library().is_err() {
        medigan_testkit::skip(
            "the Inception graph on onnxruntime",
            "onnxruntime was not found (pip install onnxruntime)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("random.pth");
    write_random_state_dict(&weights);
    let graphs = dir.path().join("graphs-v1");
    let native = InceptionSource::from_pth(&weights).unwrap();
    let stays = native
        .clone()
        .on_onnxruntime(Some(BackendKind::Tract), &graphs);
    assert!(!stays.unwrap().runs_on_onnxruntime());
    assert!(!graphs.exists(), "no graph is built for the native network");

    let onnx = native.clone().on_onnxruntime(None, &graphs).unwrap();
    assert!(onnx.runs_on_onnxruntime());
    let built: Vec<PathBuf> = std::fs::read_dir(&graphs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(built.len(), 1, "{built:?}");
    let name = built[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("fid-inception-v1-") && name.ends_with(".onnx"),
        "{name}"
    );
    assert_eq!(
        (onnx.name(), onnx.sha256()),
        (native.name(), native.sha256())
    );
    assert_eq!(onnx.input_size(), [INPUT_SIZE, INPUT_SIZE]);
    assert_eq!(onnx.feature_dims(), FEATURE_DIMS);

    let batch = images(3);
    let expected = native.make().unwrap().extract(batch.view()).unwrap();
    let got = onnx.make().unwrap().extract(batch.view()).unwrap();
    assert_eq!(got.dim(), (3, FEATURE_DIMS));
    let largest = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = max_abs_diff(&expected, &got);
    assert!(
        diff < 1e-4 * largest.max(1.0),
        "largest difference {diff} (largest feature {largest})"
    );

    // A second source finds the graph built by the first and leaves it; a damaged graph is
    // replaced, not run.
    let graph = std::fs::read(&built[0]).unwrap();
    let modified = std::fs::metadata(&built[0]).unwrap().modified().unwrap();
    let again = native.clone().on_onnxruntime(None, &graphs).unwrap();
    assert!(again.runs_on_onnxruntime());
    assert_eq!(
        std::fs::metadata(&built[0]).unwrap().modified().unwrap(),
        modified
    );
    std::fs::write(&built[0], &graph[..graph.len() / 2]).unwrap();
    let repaired = native.on_onnxruntime(None, &graphs).unwrap();
    assert_eq!(std::fs::read(&built[0]).unwrap(), graph);
    let features = repaired.make().unwrap().extract(batch.view()).unwrap();
    assert_eq!(features, got);
}

#[test]
fn missing_tensor_is_named() {
    let path = fixture("missing.pth");
    let err = InceptionV3::from_pth(&path).unwrap_err();
    match &err {
        InceptionError::MissingTensor { name, .. } => assert_eq!(name, "Conv2d_2a_3x3.conv.weight"),
        other => panic!("expected a missing tensor, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("`Conv2d_2a_3x3.conv.weight`") && msg.contains("missing.pth"),
        "{msg}"
    );
}

#[test]
fn wrong_shape_is_named() {
    let err = InceptionV3::from_pth(&fixture("wrong_shape.pth")).unwrap_err();
    match &err {
        InceptionError::Shape {
            name,
            expected,
            found,
            ..
        } => {
            assert_eq!(name, "Conv2d_1a_3x3.conv.weight");
            assert_eq!(
                (expected.as_slice(), found.as_slice()),
                (&[32, 3, 3, 3][..], &[32, 3, 3, 4][..])
            );
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("`Conv2d_1a_3x3.conv.weight`") && msg.contains("[32, 3, 3, 4]"),
        "{msg}"
    );
}

#[test]
fn unreadable_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("absent.pth");
    let err = InceptionV3::from_pth(&absent).unwrap_err();
    assert!(matches!(err, InceptionError::Io { .. }) && err.to_string().contains("absent.pth"));

    let garbage = dir.path().join("garbage.pth");
    std::fs::write(&garbage, b"this is not a pickle at all").unwrap();
    let err = InceptionV3::from_pth(&garbage).unwrap_err();
    assert!(matches!(err, InceptionError::Format { .. }), "{err:?}");
    assert!(err.to_string().contains("garbage.pth"), "{err}");

    // Every truncation of a real (small) torch.save file: an error, never a panic.
    let bytes = std::fs::read(fixture("wrong_shape.pth")).unwrap();
    let cut = dir.path().join("cut.pth");
    for len in (0..bytes.len()).step_by(97) {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        assert!(InceptionV3::from_pth(&cut).is_err(), "truncated at {len}");
    }

    // A zip archive that is not a torch.save file.
    let zip_path = dir.path().join("other.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    zip.start_file("readme.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut zip, b"hello").unwrap();
    zip.finish().unwrap();
    let err = InceptionV3::from_pth(&zip_path).unwrap_err();
    assert!(err.to_string().contains("data.pkl"), "{err}");
}
