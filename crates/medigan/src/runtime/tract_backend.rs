//! The tract backend: a pure-Rust ONNX runtime, always available, single-threaded per session.
//!
//! The graph's inputs are declared with one symbolic batch dimension and the declared
//! per-sample shape, then typed and optimised once, so any batch size runs on one plan. When a
//! graph does not optimise with a symbolic batch, a plan is concretised per batch size on first
//! use and cached.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{DimFact, GenericFactoid, ShapeFactoid};

use super::check::{self, Dim, GraphSignature, PortInfo};
use super::error::{Cause, RuntimeError};
use super::session::{
    BackendKind, Device, ElemType, NamedOutput, NamedTensor, Session, SessionOptions, TensorData,
    validate_inputs, validate_output,
};
use crate::catalog::OnnxSpec;

type Plan = Arc<TypedRunnableModel>;

/// A graph loaded into tract.
pub struct TractSession {
    graph: PathBuf,
    spec: OnnxSpec,
    /// Graph input names, in the graph's order.
    inputs: Vec<String>,
    /// Graph output names, in the graph's order.
    outputs: Vec<String>,
    plans: Plans,
}

/// One plan for every batch size, or one per batch size.
enum Plans {
    AnyBatch(Plan),
    PerBatch {
        template: Box<InferenceModel>,
        batch: Symbol,
        cache: HashMap<usize, Plan>,
    },
}

impl std::fmt::Debug for TractSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plans = match &self.plans {
            Plans::AnyBatch(_) => "any batch".to_string(),
            Plans::PerBatch { cache, .. } => format!("per batch ({} cached)", cache.len()),
        };
        f.debug_struct("TractSession")
            .field("graph", &self.graph)
            .field("plans", &plans)
            .finish_non_exhaustive()
    }
}

impl TractSession {
    /// Loads `graph`, checks it against `spec`, and optimises it for any batch size. tract
    /// runs on the CPU only, on the calling thread.
    pub fn load(
        graph: &Path,
        spec: &OnnxSpec,
        options: &SessionOptions,
    ) -> Result<Self, RuntimeError> {
        if options.device != Device::Cpu {
            return Err(RuntimeError::DeviceUnsupported {
                backend: BackendKind::Tract,
                device: options.device,
            });
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
        let onnx = tract_onnx::onnx();
        let proto = onnx.proto_model_for_path(graph).map_err(load_error)?;
        declaration(graph, spec, &proto_signature(&proto))?;
        let model = onnx.model_for_proto_model(&proto).map_err(load_error)?;
        let (inputs, outputs) = port_names(&model).map_err(load_error)?;
        let (template, batch) = declare_inputs(model, spec).map_err(load_error)?;
        let plans = plan(graph, spec, template, batch)?;
        Ok(TractSession {
            graph: graph.into(),
            spec: spec.clone(),
            inputs,
            outputs,
            plans,
        })
    }

    /// Whether one plan serves every batch size (else plans are made per batch size).
    pub fn is_batch_symbolic(&self) -> bool {
        matches!(self.plans, Plans::AnyBatch(_))
    }

    fn plan_for(&mut self, batch: usize) -> Result<Plan, RuntimeError> {
        match &mut self.plans {
            Plans::AnyBatch(plan) => Ok(plan.clone()),
            Plans::PerBatch {
                template,
                batch: symbol,
                cache,
            } => {
                if let Some(plan) = cache.get(&batch) {
                    return Ok(plan.clone());
                }
                let plan = concretised(template, symbol, batch).map_err(|e| {
                    RuntimeError::TractOptimise {
                        graph: self.graph.clone(),
                        batch: Some(batch),
                        source: Cause::tract(&e),
                    }
                })?;
                cache.insert(batch, plan.clone());
                Ok(plan)
            }
        }
    }
}

fn declaration(
    graph: &Path,
    spec: &OnnxSpec,
    signature: &GraphSignature,
) -> Result<(), RuntimeError> {
    let problems = check::check_declaration(spec, signature);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RuntimeError::Declaration {
            graph: graph.into(),
            problems,
        })
    }
}

/// Optimises for a symbolic batch; falls back to per-batch plans when that fails. Either way
/// the typed output facts are checked against the declaration.
fn plan(
    graph: &Path,
    spec: &OnnxSpec,
    template: InferenceModel,
    batch: Symbol,
) -> Result<Plans, RuntimeError> {
    let symbolic = template.clone().into_typed().and_then(|typed| {
        let outputs = typed_outputs(&typed)?;
        Ok((outputs, typed.into_optimized()?.into_runnable()?))
    });
    match symbolic {
        Ok((outputs, plan)) => {
            declaration(
                graph,
                spec,
                &GraphSignature {
                    inputs: Vec::new(),
                    outputs,
                }
                .with_inputs_of(spec),
            )?;
            Ok(Plans::AnyBatch(plan))
        }
        Err(e) => {
            tracing::debug!(graph = %graph.display(), "no symbolic-batch plan ({e:#}); planning per batch size");
            let outputs =
                batch_one_outputs(&template, &batch).map_err(|e| RuntimeError::TractOptimise {
                    graph: graph.into(),
                    batch: Some(1),
                    source: Cause::tract(&e),
                })?;
            declaration(
                graph,
                spec,
                &GraphSignature {
                    inputs: Vec::new(),
                    outputs,
                }
                .with_inputs_of(spec),
            )?;
            Ok(Plans::PerBatch {
                template: Box::new(template),
                batch,
                cache: HashMap::new(),
            })
        }
    }
}

impl GraphSignature {
    /// This signature with the declared inputs standing in for the graph's (already checked),
    /// so that only its outputs are compared.
    fn with_inputs_of(mut self, spec: &OnnxSpec) -> Self {
        self.inputs = spec
            .inputs
            .iter()
            .map(|i| PortInfo {
                name: i.name.clone(),
                elem: None,
                dims: None,
            })
            .collect();
        self
    }
}

/// Output facts of the model typed at batch 1, with the batch axis put back as a symbol.
fn batch_one_outputs(template: &InferenceModel, batch: &Symbol) -> TractResult<Vec<PortInfo>> {
    let mut model = template.clone();
    model.set_symbols(&HashMap::from([(batch.clone(), TDim::Val(1))]))?;
    let mut outputs = typed_outputs(&model.into_typed()?)?;
    for port in &mut outputs {
        if let Some(first) = port.dims.as_mut().and_then(|d| d.first_mut()) {
            *first = Dim::Symbol(batch.to_string());
        }
    }
    Ok(outputs)
}

fn concretised(template: &InferenceModel, batch: &Symbol, n: usize) -> TractResult<Plan> {
    let mut model = template.clone();
    let size = i64::try_from(n)?;
    model.set_symbols(&HashMap::from([(batch.clone(), TDim::Val(size))]))?;
    model.into_optimized()?.into_runnable()
}

/// The graph's inputs and outputs as the ONNX file declares them (initialisers are not inputs).
fn proto_signature(proto: &pb::ModelProto) -> GraphSignature {
    let Some(graph) = &proto.graph else {
        return GraphSignature::default();
    };
    let initialised = |name: &str| graph.initializer.iter().any(|t| t.name == name);
    GraphSignature {
        inputs: graph
            .input
            .iter()
            .filter(|v| !initialised(&v.name))
            .map(proto_port)
            .collect(),
        outputs: graph.output.iter().map(proto_port).collect(),
    }
}

fn proto_port(value: &pb::ValueInfoProto) -> PortInfo {
    let tensor = match value.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(tensor)) => tensor,
        None => {
            return PortInfo {
                name: value.name.clone(),
                elem: None,
                dims: None,
            };
        }
    };
    let dims = tensor
        .shape
        .as_ref()
        .map(|shape| shape.dim.iter().map(proto_dim).collect());
    PortInfo {
        name: value.name.clone(),
        elem: proto_elem_type(tensor.elem_type),
        dims,
    }
}

fn proto_dim(d: &pb::tensor_shape_proto::Dimension) -> Dim {
    use pb::tensor_shape_proto::dimension::Value;
    match &d.value {
        Some(Value::DimValue(v)) => u64::try_from(*v).map_or(Dim::Unknown, Dim::Fixed),
        Some(Value::DimParam(p)) if !p.is_empty() => Dim::Symbol(p.clone()),
        _ => Dim::Unknown,
    }
}

fn proto_elem_type(code: i32) -> Option<ElemType> {
    use pb::tensor_proto::DataType;
    let dt = DataType::try_from(code).ok()?;
    Some(match dt {
        DataType::Undefined => return None,
        DataType::Float => ElemType::F32,
        DataType::Int64 => ElemType::I64,
        DataType::Float16 => ElemType::Other("float16".into()),
        DataType::Double => ElemType::Other("float64".into()),
        DataType::Int32 => ElemType::Other("int32".into()),
        DataType::Uint8 => ElemType::Other("uint8".into()),
        DataType::Bool => ElemType::Other("bool".into()),
        other => ElemType::Other(other.as_str_name().to_ascii_lowercase()),
    })
}

/// The names of the model's inputs and outputs, in the graph's order.
fn port_names(model: &InferenceModel) -> TractResult<(Vec<String>, Vec<String>)> {
    let name = |outlet: &OutletId| {
        model
            .outlet_label(*outlet)
            .map_or_else(|| model.node(outlet.node).name.clone(), str::to_string)
    };
    let inputs = model
        .input_outlets()?
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect();
    let outputs = model.output_outlets()?.iter().map(name).collect();
    Ok((inputs, outputs))
}

fn typed_outputs(model: &TypedModel) -> TractResult<Vec<PortInfo>> {
    let mut outputs = Vec::new();
    for (ix, outlet) in model.output_outlets()?.iter().enumerate() {
        let fact = model.output_fact(ix)?;
        let name = model
            .outlet_label(*outlet)
            .map_or_else(|| model.node(outlet.node).name.clone(), str::to_string);
        let dims = fact.shape.dims().iter().map(dim).collect();
        outputs.push(PortInfo {
            name,
            elem: Some(elem_type(fact.datum_type)),
            dims: Some(dims),
        });
    }
    Ok(outputs)
}

fn dim(d: &TDim) -> Dim {
    match d {
        TDim::Val(v) => u64::try_from(*v).map_or(Dim::Unknown, Dim::Fixed),
        TDim::Sym(s) => Dim::Symbol(s.to_string()),
        other => Dim::Symbol(other.to_string()),
    }
}

fn elem_type(dt: DatumType) -> ElemType {
    match dt {
        DatumType::F32 => ElemType::F32,
        DatumType::I64 => ElemType::I64,
        DatumType::F16 => ElemType::Other("float16".into()),
        DatumType::F64 => ElemType::Other("float64".into()),
        DatumType::I32 => ElemType::Other("int32".into()),
        DatumType::U8 => ElemType::Other("uint8".into()),
        DatumType::Bool => ElemType::Other("bool".into()),
        other => ElemType::Other(format!("{other:?}").to_ascii_lowercase()),
    }
}

/// Declares every input as `[batch, ...declared shape]` with the declared element type, one
/// batch symbol shared by all inputs (the graph's own name for it when it has one).
fn declare_inputs(
    mut model: InferenceModel,
    spec: &OnnxSpec,
) -> TractResult<(InferenceModel, Symbol)> {
    let batch = batch_symbol(&model)?;
    unify_batch_symbols(&mut model, &batch)?;
    for ix in 0..model.input_outlets()?.len() {
        let outlet = model.input_outlets()?[ix];
        let name = model.node(outlet.node).name.clone();
        let Some(declared) = spec.inputs.iter().find(|i| i.name == name) else {
            continue;
        };
        let expected = check::expected_input(declared);
        let current = model.input_fact(ix)?.clone();
        let fact = input_fact(&current, &expected, &batch);
        model.set_input_fact(ix, fact)?;
    }
    Ok((model, batch))
}

fn input_fact(
    current: &InferenceFact,
    expected: &check::Expected,
    batch: &Symbol,
) -> InferenceFact {
    let datum = if expected.elem == ElemType::I64 {
        DatumType::I64
    } else {
        DatumType::F32
    };
    let Some(sample) = &expected.sample else {
        return current.clone().with_datum_type(datum);
    };
    let mut dims: TVec<DimFact> = tvec![DimFact::from(TDim::Sym(batch.clone()))];
    for (j, d) in sample.iter().enumerate() {
        dims.push(match d {
            Dim::Fixed(n) => DimFact::from(TDim::Val(i64::try_from(*n).unwrap_or(i64::MAX))),
            _ => current.shape.dim(j + 1).unwrap_or_default(),
        });
    }
    InferenceFact::dt_shape(datum, ShapeFactoid::closed(dims))
}

/// The first input's batch symbol, or a new `batch`.
fn batch_symbol(model: &InferenceModel) -> TractResult<Symbol> {
    for ix in 0..model.input_outlets()?.len() {
        if let Some(GenericFactoid::Only(TDim::Sym(s))) = model.input_fact(ix)?.shape.dim(0) {
            return Ok(s);
        }
    }
    Ok(model.symbols.sym("batch"))
}

/// Renames every input's batch symbol to `batch`, wherever the graph's facts use it.
fn unify_batch_symbols(model: &mut InferenceModel, batch: &Symbol) -> TractResult<()> {
    let mut subs = HashMap::new();
    for ix in 0..model.input_outlets()?.len() {
        if let Some(GenericFactoid::Only(TDim::Sym(s))) = model.input_fact(ix)?.shape.dim(0)
            && s != *batch
        {
            subs.insert(s, TDim::Sym(batch.clone()));
        }
    }
    if !subs.is_empty() {
        model.set_symbols(&subs)?;
    }
    Ok(())
}

impl Session for TractSession {
    fn run(&mut self, inputs: &[NamedTensor]) -> Result<Vec<NamedOutput>, RuntimeError> {
        let batch = validate_inputs(&self.graph, &self.spec, inputs)?;
        let plan = self.plan_for(batch)?;
        let fail = |e: TractError| RuntimeError::Run {
            graph: self.graph.clone(),
            backend: BackendKind::Tract,
            batch,
            source: Cause::tract(&e),
        };
        let values = self.ordered_inputs(inputs)?;
        let results = plan.run(values).map_err(fail)?;
        self.named_outputs(results, batch)
    }

    fn backend(&self) -> BackendKind {
        BackendKind::Tract
    }
}

impl TractSession {
    /// The inputs as tract values, in the graph's input order.
    fn ordered_inputs(&self, inputs: &[NamedTensor]) -> Result<TVec<TValue>, RuntimeError> {
        self.inputs
            .iter()
            .map(|name| {
                let tensor = inputs.iter().find(|t| &t.name == name).ok_or_else(|| {
                    RuntimeError::InputMissing {
                        graph: self.graph.clone(),
                        name: name.clone(),
                    }
                })?;
                Ok(match &tensor.data {
                    TensorData::F32(a) => a.clone().into_tvalue(),
                    TensorData::I64(a) => a.clone().into_tvalue(),
                })
            })
            .collect()
    }

    /// The declared outputs, in declaration order, checked.
    fn named_outputs(
        &self,
        results: TVec<TValue>,
        batch: usize,
    ) -> Result<Vec<NamedOutput>, RuntimeError> {
        let mut by_name: HashMap<&str, TValue> = self
            .outputs
            .iter()
            .map(String::as_str)
            .zip(results)
            .collect();
        let mut named = Vec::with_capacity(self.spec.outputs.len());
        for declared in &self.spec.outputs {
            let value = by_name.remove(declared.name.as_str()).ok_or_else(|| {
                RuntimeError::OutputMissing {
                    graph: self.graph.clone(),
                    name: declared.name.clone(),
                }
            })?;
            let data = self.to_f32(value, &declared.name)?;
            validate_output(&self.graph, declared, batch, &data)?;
            named.push(NamedOutput {
                name: declared.name.clone(),
                data,
            });
        }
        Ok(named)
    }

    fn to_f32(&self, value: TValue, name: &str) -> Result<ArrayD<f32>, RuntimeError> {
        let tensor = value.into_tensor();
        let found = elem_type(tensor.datum_type());
        tensor
            .into_plain_array::<f32>()
            .map_err(|_| RuntimeError::OutputType {
                graph: self.graph.clone(),
                name: name.into(),
                found,
            })
    }
}
