//! tract's view of a graph: its declared signature (read from the ONNX file) and the input
//! facts tract is given (one batch symbol, the declared per-sample shapes).

use std::collections::HashMap;

use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{DimFact, GenericFactoid, ShapeFactoid};

use super::declaration::{self, Dim, GraphSignature, PortInfo};
use super::session::ElemType;
use crate::catalog::OnnxSpec;

/// The graph's inputs and outputs as the ONNX file declares them (initialisers are not inputs).
pub(super) fn proto_signature(proto: &pb::ModelProto) -> GraphSignature {
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
pub(super) fn port_names(model: &InferenceModel) -> TractResult<(Vec<String>, Vec<String>)> {
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

pub(super) fn typed_outputs(model: &TypedModel) -> TractResult<Vec<PortInfo>> {
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

pub(super) fn elem_type(dt: DatumType) -> ElemType {
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
pub(super) fn declare_inputs(
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
        let expected = declaration::expected_input(declared);
        let current = model.input_fact(ix)?.clone();
        let fact = input_fact(&current, &expected, &batch);
        model.set_input_fact(ix, fact)?;
    }
    Ok((model, batch))
}

fn input_fact(
    current: &InferenceFact,
    expected: &declaration::Expected,
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
