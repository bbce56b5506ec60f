//! One conformance suite for every ONNX backend: each `tests/fixtures/<case>/` package is run on
//! tract (always) and onnxruntime (when its library is found) and must reproduce the reference
//! outputs onnxruntime-Python computed, within a stated tolerance.
//!
//! The fixtures are written by `python3 scripts/make_fixtures.py`.

mod common;

use common::max_abs_diff;

use std::path::{Path, PathBuf};

use medigan::catalog::{ClassEncoding, InputKind, InputSpec, OnnxSpec};
use medigan::runtime::{
    BackendKind, Device, NamedOutput, NamedTensor, OrtSession, RuntimeError, Session,
    SessionOptions, TensorData, TractPlanning, TractSession, open_session, ort_library,
    read_signature, read_signature_with_ort,
};
use ndarray::{ArrayD, Axis, Slice};

/// The largest absolute difference allowed between an output and its reference.
const TOLERANCE: f32 = 1e-4;

/// One fixture package with its reference inputs and outputs.
struct Fixture {
    name: String,
    graph: PathBuf,
    spec: OnnxSpec,
    inputs: Vec<NamedTensor>,
    expected: Vec<NamedOutput>,
}

fn fixtures_dir() -> PathBuf {
    let dir = common::fixtures("");
    assert!(
        dir.is_dir(),
        "missing {}: write the ONNX fixtures with `python3 scripts/make_fixtures.py` (needs numpy, onnx, onnxruntime)",
        dir.display()
    );
    dir
}

fn fixtures() -> Vec<Fixture> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures directory is readable")
        .map(|e| e.expect("fixtures entry").path())
        .filter(|p| p.join("medigan.json").is_file())
        .collect();
    dirs.sort();
    assert!(
        !dirs.is_empty(),
        "no fixture packages under {}",
        fixtures_dir().display()
    );
    dirs.iter().map(|d| fixture(d)).collect()
}

fn fixture(dir: &Path) -> Fixture {
    let name = dir
        .file_name()
        .expect("dir name")
        .to_string_lossy()
        .into_owned();
    let spec = onnx_spec(&dir.join("medigan.json"));
    let inputs = spec
        .inputs
        .iter()
        .map(|i| reference_input(dir, i))
        .collect();
    let expected = spec
        .outputs
        .iter()
        .map(|o| NamedOutput {
            name: o.name.clone(),
            data: npy(&dir.join(format!("expected_{}.npy", o.name))),
        })
        .collect();
    let graph = dir.join(&spec.graph);
    Fixture {
        name,
        graph,
        spec,
        inputs,
        expected,
    }
}

/// `execution.onnx` of the one entry of a package's medigan.json.
fn onnx_spec(path: &Path) -> OnnxSpec {
    let text = std::fs::read_to_string(path).expect("medigan.json is readable");
    let json: serde_json::Value = serde_json::from_str(&text).expect("medigan.json is JSON");
    let (_, entry) = json
        .as_object()
        .and_then(|o| o.iter().next())
        .expect("one catalogue entry");
    serde_json::from_value(entry["execution"]["onnx"].clone()).expect("execution.onnx parses")
}

fn reference_input(dir: &Path, input: &InputSpec) -> NamedTensor {
    let path = dir.join(format!("input_{}.npy", input.name));
    let index = input.kind == InputKind::Class
        && input.encoding.unwrap_or_default() == ClassEncoding::Index;
    if index {
        NamedTensor::i64(&input.name, npy(&path))
    } else {
        NamedTensor::f32(&input.name, npy(&path))
    }
}

fn npy<T: ndarray_npy::ReadableElement>(path: &Path) -> ArrayD<T> {
    ndarray_npy::read_npy(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// tract always; onnxruntime when its library is found and opens (else reported as skipped,
/// with why).
fn backends() -> Vec<BackendKind> {
    match ort_library() {
        Ok(library) => {
            eprintln!("ort: {} (from {})", library.path.display(), library.source);
            vec![BackendKind::Ort, BackendKind::Tract]
        }
        Err(why) => {
            let mut reason = why.to_string();
            let mut source = std::error::Error::source(&why);
            while let Some(cause) = source {
                reason.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            medigan_testkit::skip(
                "the onnxruntime cases",
                &format!("{reason} (pip install onnxruntime)"),
            );
            vec![BackendKind::Tract]
        }
    }
}

fn load(backend: BackendKind, fixture: &Fixture) -> Result<Box<dyn Session>, RuntimeError> {
    let options = SessionOptions {
        backend: Some(backend),
        intra_threads: Some(1),
        ..Default::default()
    };
    Ok(match backend {
        BackendKind::Ort => Box::new(OrtSession::load(&fixture.graph, &fixture.spec, &options)?),
        BackendKind::Tract => {
            Box::new(TractSession::load(&fixture.graph, &fixture.spec, &options)?)
        }
    })
}

/// Compares outputs by name; returns a line per disagreement.
fn compare(label: &str, got: &[NamedOutput], want: &[NamedOutput]) -> Vec<String> {
    let mut failures = Vec::new();
    assert_eq!(got.len(), want.len(), "{label}: number of outputs");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.name, w.name, "{label}: output order");
        if g.data.shape() != w.data.shape() {
            failures.push(format!(
                "{label} `{}`: shape {:?}, expected {:?}",
                g.name,
                g.data.shape(),
                w.data.shape()
            ));
            continue;
        }
        let err = max_abs_diff(&g.data, &w.data);
        eprintln!("{label} `{}`: max abs error {err:.2e}", g.name);
        if err.is_nan() || err >= TOLERANCE {
            failures.push(format!(
                "{label} `{}`: max abs error {err:e} >= {TOLERANCE:e}",
                g.name
            ));
        }
    }
    failures
}

fn run(session: &mut dyn Session, inputs: &[NamedTensor], label: &str) -> Vec<NamedOutput> {
    session.run(inputs).unwrap_or_else(|e| {
        panic!(
            "{label}: run failed: {e}\ncaused by: {:?}",
            std::error::Error::source(&e)
        )
    })
}

fn batch_slice(tensors: &[NamedTensor], range: std::ops::Range<usize>) -> Vec<NamedTensor> {
    let slice = Slice::from(range);
    tensors
        .iter()
        .map(|t| NamedTensor {
            name: t.name.clone(),
            data: match &t.data {
                TensorData::F32(a) => TensorData::F32(a.slice_axis(Axis(0), slice).to_owned()),
                TensorData::I64(a) => TensorData::I64(a.slice_axis(Axis(0), slice).to_owned()),
            },
        })
        .collect()
}

fn output_slice(outputs: &[NamedOutput], range: std::ops::Range<usize>) -> Vec<NamedOutput> {
    let slice = Slice::from(range);
    outputs
        .iter()
        .map(|o| NamedOutput {
            name: o.name.clone(),
            data: o.data.slice_axis(Axis(0), slice).to_owned(),
        })
        .collect()
}

#[test]
fn every_backend_reproduces_the_reference_outputs() {
    let mut failures = Vec::new();
    for backend in backends() {
        for fixture in fixtures() {
            let label = format!("{backend}/{}", fixture.name);
            let mut session =
                load(backend, &fixture).unwrap_or_else(|e| panic!("{label}: load failed: {e}"));
            assert_eq!(session.backend(), backend);
            let got = run(session.as_mut(), &fixture.inputs, &label);
            failures.extend(compare(&label, &got, &fixture.expected));
        }
    }
    assert!(
        failures.is_empty(),
        "outputs differ from the references:\n{}",
        failures.join("\n")
    );
}

/// tract's other planning (one plan with a symbolic batch axis) on every fixture, with the
/// batch of 4 and batches of 1 and 3 through the same plan.
#[test]
fn tract_symbolic_batch_plans_reproduce_the_references() {
    let mut failures = Vec::new();
    let options = SessionOptions::default();
    for fixture in fixtures() {
        let label = format!("tract-symbolic/{}", fixture.name);
        let mut session = TractSession::load_with(
            &fixture.graph,
            &fixture.spec,
            &options,
            TractPlanning::Symbolic,
        )
        .unwrap_or_else(|e| panic!("{label}: load failed: {e}"));
        for range in [0..4, 0..1, 1..4] {
            let label = format!("{label}[{range:?}]");
            let got = run(
                &mut session,
                &batch_slice(&fixture.inputs, range.clone()),
                &label,
            );
            failures.extend(compare(
                &label,
                &got,
                &output_slice(&fixture.expected, range),
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "outputs differ from the references:\n{}",
        failures.join("\n")
    );
}

#[test]
fn ort_and_tract_agree() {
    if !backends().contains(&BackendKind::Ort) {
        return;
    }
    let mut failures = Vec::new();
    for fixture in fixtures() {
        let mut outputs = Vec::new();
        for backend in [BackendKind::Ort, BackendKind::Tract] {
            let label = format!("{backend}/{}", fixture.name);
            let mut session =
                load(backend, &fixture).unwrap_or_else(|e| panic!("{label}: load failed: {e}"));
            outputs.push(run(session.as_mut(), &fixture.inputs, &label));
        }
        failures.extend(compare(
            &format!("ort~tract/{}", fixture.name),
            &outputs[0],
            &outputs[1],
        ));
    }
    assert!(
        failures.is_empty(),
        "ort and tract disagree:\n{}",
        failures.join("\n")
    );
}

/// A build without tract (the Python wheel) reads a user's graph's inputs and outputs with
/// onnxruntime: both readers must see the same names, element types and dimensions.
#[test]
fn ort_and_tract_read_the_same_graph_signatures() {
    if !backends().contains(&BackendKind::Ort) {
        return;
    }
    let mut graphs: Vec<PathBuf> = fixtures().into_iter().map(|f| f.graph).collect();
    graphs.push(common::fixtures("fid/extractor.onnx"));
    for graph in graphs {
        let tract = read_signature(&graph).expect("tract reads the signature");
        let ort = read_signature_with_ort(&graph).expect("onnxruntime reads the signature");
        assert_eq!(ort, tract, "{}", graph.display());
        assert!(!ort.inputs.is_empty() && !ort.outputs.is_empty());
    }
    let missing = read_signature_with_ort(Path::new("no-such-graph.onnx")).unwrap_err();
    assert!(
        matches!(missing, RuntimeError::GraphMissing { .. }),
        "{missing}"
    );
}

#[test]
fn batches_of_1_and_3_give_the_same_samples_as_the_batch_of_4() {
    let mut failures = Vec::new();
    for backend in backends() {
        for fixture in fixtures() {
            let label = format!("{backend}/{}", fixture.name);
            let mut session =
                load(backend, &fixture).unwrap_or_else(|e| panic!("{label}: load failed: {e}"));
            for range in [0..1, 1..4] {
                let label = format!("{label}[{range:?}]");
                let got = run(
                    session.as_mut(),
                    &batch_slice(&fixture.inputs, range.clone()),
                    &label,
                );
                failures.extend(compare(
                    &label,
                    &got,
                    &output_slice(&fixture.expected, range),
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "batch size changes the samples:\n{}",
        failures.join("\n")
    );
}

fn dcgan() -> Fixture {
    fixture(&fixtures_dir().join("dcgan"))
}

/// Loads with a declaration that disagrees with the graph; returns the error message.
fn declaration_error(backend: BackendKind, fixture: &Fixture) -> String {
    match load(backend, fixture) {
        Err(e @ RuntimeError::Declaration { .. }) => e.to_string(),
        Err(e) => panic!("{backend}: expected a declaration error, got: {e}"),
        Ok(_) => panic!("{backend}: a wrong declaration was accepted"),
    }
}

#[test]
fn a_wrong_declaration_is_reported_precisely() {
    let mut fixture = dcgan();
    fixture.spec.inputs[0].shape = Some(vec![128, 1, 1]);
    let mut label = fixture.spec.inputs[0].clone();
    label.name = "label".into();
    label.kind = InputKind::Class;
    label.shape = None;
    label.classes = Some(vec!["benign".into(), "malignant".into()]);
    fixture.spec.inputs.push(label);
    let mut mask = fixture.spec.outputs[0].clone();
    mask.name = "mask".into();
    fixture.spec.outputs.push(mask);
    for backend in backends() {
        let message = declaration_error(backend, &fixture);
        eprintln!("{backend}: {message}");
        let graph = fixture.graph.display();
        assert_eq!(
            message,
            format!(
                "`{graph}` does not match its declaration in medigan.json (execution.onnx):\n  \
                 - input `z`: declared shape [128,1,1] but graph has [batch,100,1,1]\n  \
                 - graph has no input named `label`; its inputs are: z\n  \
                 - output `mask` declared but the graph has none; its outputs are: image"
            ),
            "{backend}"
        );
    }
}

#[test]
fn a_wrong_element_type_and_output_shape_are_reported() {
    let mut fixture = fixture(&fixtures_dir().join("conditional"));
    let label = fixture
        .spec
        .inputs
        .iter_mut()
        .find(|i| i.name == "label")
        .expect("label input");
    label.encoding = Some(ClassEncoding::OneHot);
    fixture.spec.outputs[0].shape = vec![1, 64, 64];
    for backend in backends() {
        let message = declaration_error(backend, &fixture);
        eprintln!("{backend}: {message}");
        for line in [
            "input `label`: declared float32 but graph has int64",
            "input `label`: declared shape [2] but graph has [batch]",
            "output `image`: declared shape [1,64,64] but graph has [batch,1,32,32]",
        ] {
            assert!(
                message.contains(line),
                "{backend}: `{line}` missing from:\n{message}"
            );
        }
    }
}

#[test]
fn wrong_run_inputs_are_refused_with_the_expected_shape() {
    let fixture = dcgan();
    for backend in backends() {
        let mut session = load(backend, &fixture).expect("dcgan loads");
        let wrong = vec![NamedTensor::f32("z", ArrayD::zeros(vec![2, 128, 1, 1]))];
        let message = session
            .run(&wrong)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            message.ends_with("must have shape [batch,100,1,1] but has [2,128,1,1]"),
            "{backend}: {message}"
        );
        let unknown = vec![NamedTensor::f32("w", ArrayD::zeros(vec![2, 100, 1, 1]))];
        let message = session
            .run(&unknown)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            message.ends_with("has no input named `w`; its inputs are: z"),
            "{backend}: {message}"
        );
    }
}

#[test]
fn open_session_prefers_ort_when_found() {
    let fixture = dcgan();
    let loaded = open_session(&fixture.graph, &fixture.spec, &SessionOptions::default())
        .expect("dcgan opens");
    let expected = if ort_library().is_ok() {
        BackendKind::Ort
    } else {
        BackendKind::Tract
    };
    assert_eq!(loaded.session.backend(), expected);
    assert_eq!(loaded.hint.is_some(), expected == BackendKind::Tract);
}

#[test]
fn a_cuda_device_is_used_or_refused_with_a_clear_error() {
    let fixture = dcgan();
    let options = SessionOptions {
        device: Device::Cuda(0),
        ..Default::default()
    };
    let message = TractSession::load(&fixture.graph, &fixture.spec, &options)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        message.as_deref(),
        Some("the tract backend cannot run on CUDA device 0; it runs on the CPU only")
    );
    if !backends().contains(&BackendKind::Ort) {
        return;
    }
    match OrtSession::load(&fixture.graph, &fixture.spec, &options) {
        Ok(mut session) => {
            eprintln!("CUDA execution provider registered");
            run(&mut session, &fixture.inputs, "ort/cuda/dcgan");
        }
        Err(e @ RuntimeError::CudaNotEnabled { .. }) if !cfg!(feature = "cuda") => {
            assert!(e.to_string().contains("not enabled in this build"), "{e}");
        }
        Err(e @ RuntimeError::CudaUnavailable { .. }) if cfg!(feature = "cuda") => {
            let cause = std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_default();
            eprintln!("{e}: {cause}");
            assert!(
                e.to_string()
                    .contains("CUDA execution provider for device 0"),
                "{e}"
            );
        }
        Err(e) => panic!("unexpected error for a CUDA device: {e}"),
    }
}
