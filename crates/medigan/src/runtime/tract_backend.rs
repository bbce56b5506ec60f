//! The tract backend: a pure-Rust ONNX runtime, always available, one thread per session.
//!
//! The graph's inputs are declared with one batch symbol and the declared per-sample shape.
//! By default ([`TractPlanning::PerSample`]) the model is concretised and optimised for a batch
//! of one and a batch runs sample by sample: measured on every fixture and on the DCGAN-128
//! benchmark, that is 2-5x faster in tract than one plan with a symbolic batch axis, and also
//! faster than plans concretised for larger batches. The generated samples do not depend on the
//! batch size (the conformance suite checks it), so nothing is lost.
//! [`TractPlanning::Symbolic`] makes one plan for every batch size instead, or, when the graph
//! does not optimise with a symbolic batch, one plan per batch size on first use (cached).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, Axis, Slice};
use tract_onnx::prelude::*;

use super::declaration::{self, Dim, GraphSignature, PortInfo};
use super::error::{Cause, RuntimeError};
use super::session::{
    BackendKind, Device, NamedOutput, NamedTensor, Session, SessionOptions, TensorData,
    validate_inputs, validate_output,
};
use super::tract_facts::{declare_inputs, elem_type, port_names, proto_signature, typed_outputs};
use crate::catalog::OnnxSpec;

type Plan = Arc<TypedRunnableModel>;

/// At most this many per-batch-size plans are kept (a run usually needs two: the batch size
/// and the last, partial batch).
const MAX_CACHED_PLANS: usize = 4;

/// How tract plans a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TractPlanning {
    /// One plan for a batch of one; a batch runs sample by sample (the fastest in tract).
    #[default]
    PerSample,
    /// One plan with a symbolic batch axis (or one per batch size, if that does not optimise).
    Symbolic,
}

/// A graph loaded into tract.
pub struct TractSession {
    ports: Ports,
    spec: OnnxSpec,
    plans: Plans,
}

/// The graph file and its input and output names, in the graph's order.
struct Ports {
    graph: PathBuf,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

/// The plans of a session.
enum Plans {
    /// A batch-of-one plan and its state, reused run after run.
    PerSample(Box<TypedSimpleState>),
    /// One plan for every batch size.
    AnyBatch(Plan),
    /// One plan per batch size, made on first use.
    PerBatch {
        template: Box<InferenceModel>,
        batch: Symbol,
        cache: HashMap<usize, Plan>,
    },
}

impl std::fmt::Debug for TractSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plans = match &self.plans {
            Plans::PerSample(_) => "per sample".to_string(),
            Plans::AnyBatch(_) => "any batch".to_string(),
            Plans::PerBatch { cache, .. } => format!("per batch size ({} cached)", cache.len()),
        };
        f.debug_struct("TractSession")
            .field("graph", &self.ports.graph)
            .field("plans", &plans)
            .finish_non_exhaustive()
    }
}

impl TractSession {
    /// Loads `graph`, checks it against `spec`, and plans it sample by sample. tract runs on
    /// the CPU only, on the calling thread.
    pub fn load(
        graph: &Path,
        spec: &OnnxSpec,
        options: &SessionOptions,
    ) -> Result<Self, RuntimeError> {
        Self::load_with(graph, spec, options, TractPlanning::default())
    }

    /// [`TractSession::load`] with a choice of planning.
    pub fn load_with(
        graph: &Path,
        spec: &OnnxSpec,
        options: &SessionOptions,
        planning: TractPlanning,
    ) -> Result<Self, RuntimeError> {
        if options.device != Device::Cpu {
            let (backend, device) = (BackendKind::Tract, options.device);
            return Err(RuntimeError::DeviceUnsupported { backend, device });
        }
        if !graph.is_file() {
            return Err(RuntimeError::GraphMissing {
                graph: graph.into(),
            });
        }
        let load_error = |e: TractError| RuntimeError::TractLoad {
            graph: graph.into(),
            source: Cause::tract(&e),
        };
        super::check_locations(graph)?;
        let onnx = tract_onnx::onnx();
        let proto = onnx.proto_model_for_path(graph).map_err(load_error)?;
        declaration(graph, spec, &proto_signature(&proto))?;
        let model = parse_in_folder(&onnx, &proto, graph).map_err(load_error)?;
        let (inputs, outputs) = port_names(&model).map_err(load_error)?;
        let (template, batch) = declare_inputs(model, spec).map_err(load_error)?;
        let plans = plan(graph, spec, template, batch, planning)?;
        let ports = Ports {
            graph: graph.into(),
            inputs,
            outputs,
        };
        Ok(TractSession {
            ports,
            spec: spec.clone(),
            plans,
        })
    }
}

fn declaration(
    graph: &Path,
    spec: &OnnxSpec,
    signature: &GraphSignature,
) -> Result<(), RuntimeError> {
    let problems = declaration::check_declaration(spec, signature);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RuntimeError::Declaration {
            graph: graph.into(),
            problems,
        })
    }
}

/// Plans the graph; either way its typed output facts are checked against the declaration.
fn plan(
    graph: &Path,
    spec: &OnnxSpec,
    template: InferenceModel,
    batch: Symbol,
    planning: TractPlanning,
) -> Result<Plans, RuntimeError> {
    let optimise_error = |n: usize| {
        move |e: TractError| RuntimeError::TractOptimise {
            graph: graph.into(),
            batch: Some(n),
            source: Cause::tract(&e),
        }
    };
    let typed = typed_at(&template, &batch, 1).map_err(optimise_error(1))?;
    check_intermediates(graph, &typed, crate::limits::max_sample_bytes())?;
    if planning == TractPlanning::Symbolic {
        match symbolic_plan(&template) {
            Ok((outputs, plan)) => {
                check_outputs(graph, spec, outputs, None)?;
                return Ok(Plans::AnyBatch(plan));
            }
            Err(e) => tracing::debug!(
                graph = %graph.display(),
                "no symbolic-batch plan ({e:#}); planning per batch size"
            ),
        }
    }
    check_outputs(
        graph,
        spec,
        typed_outputs(&typed).map_err(optimise_error(1))?,
        Some(&batch),
    )?;
    if planning == TractPlanning::Symbolic {
        let template = Box::new(template);
        return Ok(Plans::PerBatch {
            template,
            batch,
            cache: HashMap::new(),
        });
    }
    let state = optimised(typed)
        .and_then(|plan| plan.spawn())
        .map_err(optimise_error(1))?;
    Ok(Plans::PerSample(Box::new(state)))
}

/// Refuses a graph that computes, for a batch of one, a tensor larger than `limit` bytes (the
/// shapes are known once the graph is typed at batch 1; a tensor whose shape is not is let
/// through). An estimate before running: without it, an honest `[1, 4, 4]` output can hide a
/// 14 GB intermediate that only an outside memory limit stops.
pub(crate) fn check_intermediates(
    graph: &Path,
    typed: &TypedModel,
    limit: u64,
) -> Result<(), RuntimeError> {
    match largest_tensor(typed) {
        Some((node, shape, bytes)) if bytes > limit => Err(RuntimeError::IntermediateTooLarge {
            graph: graph.into(),
            node,
            shape,
            bytes,
            limit,
        }),
        _ => Ok(()),
    }
}

/// The model of `proto`, its external-data files read from the graph's folder (tract reads
/// them only when it is given the folder; `model_for_proto_model` refuses them).
fn parse_in_folder(
    onnx: &tract_onnx::Onnx,
    proto: &tract_onnx::pb::ModelProto,
    graph: &Path,
) -> TractResult<InferenceModel> {
    let folder = graph
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .and_then(Path::to_str);
    let parsed = onnx.parse(proto, folder)?;
    if !parsed.unresolved_inputs.is_empty() {
        return Err(TractError::msg(format!(
            "could not resolve inputs at top-level: {:?}",
            parsed.unresolved_inputs
        )));
    }
    Ok(parsed.model)
}

/// The same estimate for a graph another backend runs (onnxruntime has no bound of its own on
/// the memory of a run): the graph is typed by tract at a batch of one and refused when a
/// tensor it computes exceeds [`crate::limits::max_sample_bytes`]. A graph tract cannot read
/// or type is let through (onnxruntime reports its own load errors).
/// Each graph is read once per process and limit: the sessions of one model (one per worker)
/// share the answer.
pub(crate) fn check_graph_intermediates(graph: &Path, spec: &OnnxSpec) -> Result<(), RuntimeError> {
    static PASSED: std::sync::Mutex<Vec<(PathBuf, u64)>> = std::sync::Mutex::new(Vec::new());
    let key = (graph.to_path_buf(), crate::limits::max_sample_bytes());
    let passed = || PASSED.lock().unwrap_or_else(|e| e.into_inner());
    if passed().contains(&key) {
        return Ok(());
    }
    estimate_graph_intermediates(graph, spec)?;
    passed().push(key);
    Ok(())
}

fn estimate_graph_intermediates(graph: &Path, spec: &OnnxSpec) -> Result<(), RuntimeError> {
    let typed = tract_onnx::onnx()
        .model_for_path(graph)
        .and_then(|model| declare_inputs(model, spec))
        .and_then(|(template, batch)| typed_at(&template, &batch, 1));
    match typed {
        Ok(typed) => check_intermediates(graph, &typed, crate::limits::max_sample_bytes()),
        Err(e) => {
            tracing::debug!(
                graph = %graph.display(),
                "no size estimate of the intermediate tensors ({e:#})"
            );
            Ok(())
        }
    }
}

/// The largest tensor of a typed model with concrete shapes: (node name, shape, bytes).
fn largest_tensor(typed: &TypedModel) -> Option<(String, String, u64)> {
    let mut largest: Option<(String, String, u64)> = None;
    for node in typed.nodes() {
        for output in &node.outputs {
            let fact = &output.fact;
            let Some(dims) = fact.shape.as_concrete() else {
                continue;
            };
            let bytes = dims
                .iter()
                .try_fold(fact.datum_type.size_of() as u64, |acc, &d| {
                    acc.checked_mul(d as u64)
                })
                .unwrap_or(u64::MAX);
            if largest.as_ref().is_none_or(|(_, _, most)| bytes > *most) {
                largest = Some((node.name.clone(), format!("{dims:?}"), bytes));
            }
        }
    }
    largest
}

/// The typed output facts and the optimised plan for a symbolic batch.
fn symbolic_plan(template: &InferenceModel) -> TractResult<(Vec<PortInfo>, Plan)> {
    let typed = template.clone().into_typed()?;
    let outputs = typed_outputs(&typed)?;
    Ok((outputs, optimised(typed)?))
}

/// The model typed for a batch of `n`.
fn typed_at(template: &InferenceModel, batch: &Symbol, n: usize) -> TractResult<TypedModel> {
    let mut model = template.clone();
    let size = i64::try_from(n)?;
    model.set_symbols(&HashMap::from([(batch.clone(), TDim::Val(size))]))?;
    model.into_typed()
}

fn optimised(typed: TypedModel) -> TractResult<Plan> {
    typed.into_optimized()?.into_runnable()
}

/// Checks typed output facts against the declaration (the inputs were checked already). With
/// `batch`, the facts are of a concretised model and their first axis is put back as a symbol.
fn check_outputs(
    graph: &Path,
    spec: &OnnxSpec,
    mut outputs: Vec<PortInfo>,
    batch: Option<&Symbol>,
) -> Result<(), RuntimeError> {
    if let Some(batch) = batch {
        for port in &mut outputs {
            if let Some(first) = port.dims.as_mut().and_then(|d| d.first_mut()) {
                *first = Dim::Symbol(batch.to_string());
            }
        }
    }
    let inputs = spec
        .inputs
        .iter()
        .map(|i| PortInfo {
            name: i.name.clone(),
            elem: None,
            dims: None,
        })
        .collect();
    declaration(graph, spec, &GraphSignature { inputs, outputs })
}

impl Session for TractSession {
    fn run(&mut self, inputs: &[NamedTensor]) -> Result<Vec<NamedOutput>, RuntimeError> {
        let ports = &self.ports;
        let batch = validate_inputs(&ports.graph, &self.spec, inputs)?;
        let fail = |e: TractError| ports.run_error(batch, Cause::tract(&e));
        let arrays = match &mut self.plans {
            Plans::PerSample(state) => per_sample(ports, state, inputs, batch)?,
            Plans::AnyBatch(plan) => {
                ports.arrays(plan.run(ports.values(inputs, None)?).map_err(fail)?)?
            }
            Plans::PerBatch {
                template,
                batch: symbol,
                cache,
            } => {
                let plan = cached_plan(&ports.graph, template, symbol, cache, batch)?;
                ports.arrays(plan.run(ports.values(inputs, None)?).map_err(fail)?)?
            }
        };
        ports.named(&self.spec, arrays, batch)
    }

    fn backend(&self) -> BackendKind {
        BackendKind::Tract
    }
}

/// Runs the batch one sample at a time on the batch-of-one plan and stacks the outputs.
fn per_sample(
    ports: &Ports,
    state: &mut TypedSimpleState,
    inputs: &[NamedTensor],
    batch: usize,
) -> Result<Vec<ArrayD<f32>>, RuntimeError> {
    let mut samples: Vec<Vec<ArrayD<f32>>> = vec![Vec::with_capacity(batch); ports.outputs.len()];
    for i in 0..batch {
        let values = ports.values(inputs, Some(i))?;
        let results = state
            .run(values)
            .map_err(|e| ports.run_error(batch, Cause::tract(&e)))?;
        for (stack, array) in samples.iter_mut().zip(ports.arrays(results)?) {
            stack.push(array);
        }
    }
    samples
        .iter()
        .map(|stack| {
            let views: Vec<_> = stack.iter().map(|a| a.view()).collect();
            ndarray::concatenate(Axis(0), &views)
                .map_err(|e| ports.run_error(batch, Cause(e.to_string())))
        })
        .collect()
}

/// The plan for `batch`, made and cached on first use.
fn cached_plan(
    graph: &Path,
    template: &InferenceModel,
    symbol: &Symbol,
    cache: &mut HashMap<usize, Plan>,
    batch: usize,
) -> Result<Plan, RuntimeError> {
    if let Some(plan) = cache.get(&batch) {
        return Ok(plan.clone());
    }
    let plan = typed_at(template, symbol, batch)
        .and_then(optimised)
        .map_err(|e| RuntimeError::TractOptimise {
            graph: graph.into(),
            batch: Some(batch),
            source: Cause::tract(&e),
        })?;
    if cache.len() >= MAX_CACHED_PLANS {
        cache.clear();
    }
    cache.insert(batch, plan.clone());
    Ok(plan)
}

impl Ports {
    fn run_error(&self, batch: usize, source: Cause) -> RuntimeError {
        RuntimeError::Run {
            graph: self.graph.clone(),
            backend: BackendKind::Tract,
            batch,
            source,
        }
    }

    /// The inputs (or sample `i` of each) as tract values, in the graph's input order.
    fn values(
        &self,
        inputs: &[NamedTensor],
        i: Option<usize>,
    ) -> Result<TVec<TValue>, RuntimeError> {
        let rows = i.map(|i| Slice::from(i..i + 1));
        self.inputs
            .iter()
            .map(|name| {
                let tensor = inputs.iter().find(|t| &t.name == name).ok_or_else(|| {
                    RuntimeError::InputMissing {
                        graph: self.graph.clone(),
                        name: name.clone(),
                    }
                })?;
                Ok(match (&tensor.data, rows) {
                    (TensorData::F32(a), None) => a.clone().into_tvalue(),
                    (TensorData::I64(a), None) => a.clone().into_tvalue(),
                    (TensorData::F32(a), Some(s)) => {
                        a.slice_axis(Axis(0), s).to_owned().into_tvalue()
                    }
                    (TensorData::I64(a), Some(s)) => {
                        a.slice_axis(Axis(0), s).to_owned().into_tvalue()
                    }
                })
            })
            .collect()
    }

    /// A run's results as float32 arrays, in the graph's output order.
    fn arrays(&self, results: TVec<TValue>) -> Result<Vec<ArrayD<f32>>, RuntimeError> {
        self.outputs
            .iter()
            .zip(results)
            .map(|(name, value)| {
                let tensor = value.into_tensor();
                let found = elem_type(tensor.datum_type());
                tensor
                    .into_plain_array::<f32>()
                    .map_err(|_| RuntimeError::OutputType {
                        graph: self.graph.clone(),
                        name: name.clone(),
                        found,
                    })
            })
            .collect()
    }

    /// The declared outputs, in declaration order, checked.
    fn named(
        &self,
        spec: &OnnxSpec,
        arrays: Vec<ArrayD<f32>>,
        batch: usize,
    ) -> Result<Vec<NamedOutput>, RuntimeError> {
        let mut by_name: HashMap<&str, ArrayD<f32>> = self
            .outputs
            .iter()
            .map(String::as_str)
            .zip(arrays)
            .collect();
        let mut named = Vec::with_capacity(spec.outputs.len());
        for declared in &spec.outputs {
            let data = by_name.remove(declared.name.as_str()).ok_or_else(|| {
                RuntimeError::OutputMissing {
                    graph: self.graph.clone(),
                    name: declared.name.clone(),
                }
            })?;
            validate_output(&self.graph, declared, batch, &data)?;
            named.push(NamedOutput {
                name: declared.name.clone(),
                data,
            });
        }
        Ok(named)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(case: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(case)
    }

    fn spec(dir: &Path) -> OnnxSpec {
        let text = std::fs::read_to_string(dir.join("medigan.json")).expect("medigan.json");
        let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let entry = json
            .as_object()
            .and_then(|o| o.values().next())
            .expect("one entry");
        serde_json::from_value(entry["execution"]["onnx"].clone()).expect("execution.onnx")
    }

    fn npy(path: &Path) -> ArrayD<f32> {
        ndarray_npy::read_npy(path).expect("reference .npy")
    }

    /// Runs the dcgan fixture with batches of 4, 1, 3 and 4 and compares with the references.
    fn matches_references(session: &mut TractSession, dir: &Path) {
        let z = npy(&dir.join("input_z.npy"));
        let expected = npy(&dir.join("expected_image.npy"));
        for n in [4, 1, 3, 4] {
            let input = z.slice_axis(Axis(0), (0..n).into()).to_owned();
            let out = session.run(&[NamedTensor::f32("z", input)]).expect("runs");
            let want = expected.slice_axis(Axis(0), (0..n).into());
            let err = out[0]
                .data
                .iter()
                .zip(want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(err < 1e-4, "batch {n}: max abs error {err}");
        }
    }

    fn load(planning: TractPlanning) -> (TractSession, PathBuf) {
        let dir = package("dcgan");
        let spec = spec(&dir);
        let options = SessionOptions::default();
        let session = TractSession::load_with(&dir.join(&spec.graph), &spec, &options, planning)
            .expect("dcgan loads");
        (session, dir)
    }

    #[test]
    fn per_sample_plan_matches_the_references() {
        let (mut session, dir) = load(TractPlanning::PerSample);
        assert!(matches!(session.plans, Plans::PerSample(_)));
        matches_references(&mut session, &dir);
    }

    #[test]
    fn symbolic_plan_matches_the_references() {
        let (mut session, dir) = load(TractPlanning::Symbolic);
        assert!(matches!(session.plans, Plans::AnyBatch(_)));
        matches_references(&mut session, &dir);
    }

    /// The fallback when a symbolic batch does not optimise: one plan per batch size.
    #[test]
    fn per_batch_plans_match_the_references() {
        let (mut session, dir) = load(TractPlanning::Symbolic);
        let Plans::AnyBatch(_) = session.plans else {
            panic!("dcgan plans symbolically")
        };
        let template = Box::new(
            tract_onnx::onnx()
                .model_for_path(dir.join("model.onnx"))
                .and_then(|m| declare_inputs(m, &session.spec))
                .expect("template"),
        );
        let (template, batch) = (Box::new(template.0), template.1);
        session.plans = Plans::PerBatch {
            template,
            batch,
            cache: HashMap::new(),
        };
        matches_references(&mut session, &dir);
        assert!(matches!(&session.plans, Plans::PerBatch { cache, .. } if cache.len() == 3));
    }

    /// Issue 26, finding 12: a graph with an honest small output computed a 14 GB tensor per
    /// sample; it is now refused from its shapes before it runs. The graph: `latent [N, 4]`
    /// -> Reshape `[N, 4, 1, 1]` -> Expand `[N, 4, 1000, 1000000]` (16 GB of f32 at N = 1)
    /// -> ReduceMean -> `[N, 4]`.
    #[cfg(feature = "inception")]
    #[test]
    fn regression_26_a_huge_intermediate_tensor_is_refused_before_running() {
        let bytes = huge_intermediate::graph();
        let model = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
            .unwrap()
            .with_input_fact(0, f32::fact([1usize, 4]).into())
            .unwrap();
        let typed = model.into_typed().unwrap();
        let (_, shape, size) = largest_tensor(&typed).unwrap();
        assert_eq!(size, 16_000_000_000, "{shape}");
        let error = check_intermediates(Path::new("g.onnx"), &typed, 2 << 30).unwrap_err();
        assert!(
            matches!(error, RuntimeError::IntermediateTooLarge { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("16000000000 bytes"), "{error}");
        check_intermediates(Path::new("g.onnx"), &typed, u64::MAX).unwrap();
    }

    /// Issue 26, finding 12, on onnxruntime: the same graph is refused from its shapes before
    /// an onnxruntime session is made (onnxruntime would allocate the 16 GB tensor at run time).
    #[cfg(feature = "inception")]
    #[test]
    fn regression_26_onnxruntime_refuses_a_huge_intermediate_tensor_before_running() {
        if let Err(why) = crate::runtime::find_onnxruntime() {
            medigan_testkit::skip("the onnxruntime intermediate check", &why.to_string());
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let graph = dir.path().join("g.onnx");
        std::fs::write(&graph, huge_intermediate::graph()).unwrap();
        let spec: OnnxSpec = serde_json::from_value(serde_json::json!({
            "graph": "g.onnx",
            "inputs": [{"name": "latent", "kind": "latent", "shape": [4], "distribution": "normal"}],
            "outputs": [{"name": "image", "kind": "image", "shape": [4], "range": [-1, 1]}]
        }))
        .unwrap();
        let options = SessionOptions::default();
        let error = crate::runtime::OrtSession::load(&graph, &spec, &options).unwrap_err();
        assert!(
            matches!(error, RuntimeError::IntermediateTooLarge { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("16000000000 bytes"), "{error}");
    }

    /// Just enough of `onnx.proto` to write the test graph.
    #[cfg(feature = "inception")]
    mod huge_intermediate {
        use prost::Message;

        use crate::evaluate::inception::onnx::{
            AttributeProto as Attribute, Dimension, DimensionValue, GraphProto as Graph,
            ModelProto as Model, NodeProto as Node, OperatorSetIdProto as Opset,
            TensorProto as Tensor, TensorShapeProto as Shape, TensorTypeProto as TensorType,
            TypeProto as Type, ValueInfoProto as ValueInfo,
        };

        fn value(name: &str) -> ValueInfo {
            let dims = [
                DimensionValue::DimParam("N".into()),
                DimensionValue::DimValue(4),
            ]
            .map(|value| Dimension { value: Some(value) });
            ValueInfo {
                name: name.into(),
                r#type: Some(Type {
                    tensor_type: Some(TensorType {
                        elem_type: 1,
                        shape: Some(Shape { dim: dims.to_vec() }),
                    }),
                }),
            }
        }

        fn ints(name: &str, values: &[i64]) -> Tensor {
            Tensor {
                dims: vec![values.len() as i64],
                data_type: 7,
                int64_data: values.to_vec(),
                name: name.into(),
                ..Tensor::default()
            }
        }

        fn node(op: &str, input: &[&str], output: &str, attribute: Vec<Attribute>) -> Node {
            Node {
                input: input.iter().map(|s| s.to_string()).collect(),
                output: vec![output.into()],
                name: output.into(),
                op_type: op.into(),
                attribute,
            }
        }

        pub fn graph() -> Vec<u8> {
            let axes = Attribute {
                name: "axes".into(),
                ints: vec![2, 3],
                r#type: 7,
                ..Attribute::default()
            };
            let keepdims = Attribute {
                name: "keepdims".into(),
                i: 0,
                r#type: 2,
                ..Attribute::default()
            };
            Model {
                ir_version: 8,
                graph: Some(Graph {
                    node: vec![
                        node("Reshape", &["latent", "to4d"], "r", vec![]),
                        node("Expand", &["r", "huge"], "e", vec![]),
                        node("ReduceMean", &["e"], "image", vec![axes, keepdims]),
                    ],
                    name: "g".into(),
                    initializer: vec![
                        ints("to4d", &[-1, 4, 1, 1]),
                        ints("huge", &[1, 1, 1000, 1_000_000]),
                    ],
                    input: vec![value("latent")],
                    output: vec![value("image")],
                }),
                opset_import: vec![Opset {
                    domain: String::new(),
                    version: 17,
                }],
                ..Model::default()
            }
            .encode_to_vec()
        }
    }
}
