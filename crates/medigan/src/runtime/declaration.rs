//! The declaration check: does a graph's real signature match `execution.onnx` in medigan.json?
//!
//! Each backend reads the graph's inputs and outputs into a [`GraphSignature`] (names, element
//! types, dimensions as the graph states them) and [`check_declaration`] compares it with the
//! [`OnnxSpec`], reporting every disagreement as a [`Mismatch`] with the values on both sides.
//! The rule: the graph's first axis is the batch axis and must be dynamic; the other axes are
//! the declared per-sample shape; latents, noise, images, masks and one-hot classes are float32,
//! index classes int64 `[batch]`, outputs float32.

use std::fmt;

use super::session::ElemType;
use crate::catalog::{ClassEncoding, InputKind, InputSpec, OnnxSpec, OutputSpec};

/// One dimension of a tensor as a graph states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(u64),
    /// A named dynamic size (`batch`, `N`).
    Symbol(String),
    /// A dynamic size without a name.
    Unknown,
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Symbol(name) => f.write_str(name),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

/// An input or output of a graph as the graph states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// Its name.
    pub name: String,
    /// Its element type, when the graph states it.
    pub elem: Option<ElemType>,
    /// Its dimensions, batch axis first, when the graph states its rank.
    pub dims: Option<Vec<Dim>>,
}

/// The inputs and outputs of a graph, in graph order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GraphSignature {
    /// The graph's inputs (initialisers excluded).
    pub inputs: Vec<PortInfo>,
    /// The graph's outputs.
    pub outputs: Vec<PortInfo>,
}

/// Whether a mismatch is about an input or an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// A graph input.
    Input,
    /// A graph output.
    Output,
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Port::Input => "input",
            Port::Output => "output",
        })
    }
}

/// One disagreement between a graph and its declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// A declared input the graph does not have.
    NoSuchInput {
        /// The declared name.
        name: String,
        /// The graph's input names.
        graph_inputs: Vec<String>,
    },
    /// A graph input the declaration does not list.
    UndeclaredInput {
        /// The graph input's name.
        name: String,
        /// Its dimensions, if known.
        dims: Option<Vec<Dim>>,
    },
    /// A declared output the graph does not have.
    NoSuchOutput {
        /// The declared name.
        name: String,
        /// The graph's output names.
        graph_outputs: Vec<String>,
    },
    /// The same name is declared twice.
    Duplicate {
        /// Input or output.
        port: Port,
        /// The name.
        name: String,
    },
    /// An input of kind latent, noise, image or mask declares no shape.
    NoShape {
        /// The input's name.
        name: String,
        /// Its kind.
        kind: InputKind,
    },
    /// The element types differ.
    Type {
        /// Input or output.
        port: Port,
        /// The name.
        name: String,
        /// What the declaration implies.
        declared: ElemType,
        /// What the graph has.
        graph: ElemType,
    },
    /// The shapes differ (rank or a fixed dimension).
    Shape {
        /// Input or output.
        port: Port,
        /// The name.
        name: String,
        /// The declared per-sample shape (no batch axis).
        declared: Vec<Dim>,
        /// The graph's shape, batch axis first.
        graph: Vec<Dim>,
    },
    /// The graph fixes the batch axis instead of leaving it dynamic.
    FixedBatch {
        /// Input or output.
        port: Port,
        /// The name.
        name: String,
        /// The fixed size.
        size: u64,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::NoSuchInput { name, graph_inputs } => {
                write!(
                    f,
                    "graph has no input named `{name}`; its inputs are: {}",
                    names(graph_inputs)
                )
            }
            Mismatch::UndeclaredInput { name, dims } => write!(
                f,
                "graph input `{name}`{} is not declared in execution.onnx.inputs",
                dims.as_deref()
                    .map(|d| format!(" {}", dims_list(d)))
                    .unwrap_or_default()
            ),
            Mismatch::NoSuchOutput {
                name,
                graph_outputs,
            } => write!(
                f,
                "output `{name}` declared but the graph has none; its outputs are: {}",
                names(graph_outputs)
            ),
            Mismatch::Duplicate { port, name } => write!(f, "{port} `{name}` is declared twice"),
            Mismatch::NoShape { name, kind } => {
                write!(f, "input `{name}` ({}) declares no shape", kind_name(*kind))
            }
            Mismatch::Type {
                port,
                name,
                declared,
                graph,
            } => {
                write!(
                    f,
                    "{port} `{name}`: declared {declared} but graph has {graph}"
                )
            }
            Mismatch::Shape {
                port,
                name,
                declared,
                graph,
            } => write!(
                f,
                "{port} `{name}`: declared shape {} but graph has {}",
                dims_list(declared),
                dims_list(graph)
            ),
            Mismatch::FixedBatch { port, name, size } => write!(
                f,
                "{port} `{name}`: the graph fixes the batch axis (the first) to {size}; it must be dynamic"
            ),
        }
    }
}

/// What the declaration implies for one input: its element type and per-sample shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expected {
    /// The element type.
    pub elem: ElemType,
    /// The per-sample shape (no batch axis); `None` when the declaration gives none.
    pub sample: Option<Vec<Dim>>,
}

/// The element type and per-sample shape a declared input implies.
pub(crate) fn expected_input(input: &InputSpec) -> Expected {
    match (input.kind, input.encoding.unwrap_or_default()) {
        (InputKind::Class, ClassEncoding::Index) => Expected {
            elem: ElemType::I64,
            sample: Some(Vec::new()),
        },
        (InputKind::Class, ClassEncoding::OneHot) => {
            let n = input
                .classes
                .as_ref()
                .map_or(Dim::Unknown, |c| Dim::Fixed(c.len() as u64));
            Expected {
                elem: ElemType::F32,
                sample: Some(vec![n]),
            }
        }
        _ => Expected {
            elem: ElemType::F32,
            sample: input.shape.as_deref().map(fixed_dims),
        },
    }
}

/// `[batch,100,1,1]`: the shape a run's tensor must have, as messages write it.
pub(crate) fn batched_text(sample: Option<&[Dim]>) -> String {
    let mut dims = vec![Dim::Symbol("batch".into())];
    match sample {
        Some(sample) => dims.extend_from_slice(sample),
        None => dims.push(Dim::Symbol("...".into())),
    }
    dims_list(&dims)
}

/// Compares a graph's signature with its declaration; an empty list means they agree.
pub fn check_declaration(spec: &OnnxSpec, graph: &GraphSignature) -> Vec<Mismatch> {
    let mut problems = duplicates(spec);
    for input in &spec.inputs {
        check_input(input, graph, &mut problems);
    }
    for port in &graph.inputs {
        if !spec.inputs.iter().any(|i| i.name == port.name) {
            problems.push(Mismatch::UndeclaredInput {
                name: port.name.clone(),
                dims: port.dims.clone(),
            });
        }
    }
    for output in &spec.outputs {
        check_output(output, graph, &mut problems);
    }
    problems
}

fn duplicates(spec: &OnnxSpec) -> Vec<Mismatch> {
    let mut problems = Vec::new();
    for (i, input) in spec.inputs.iter().enumerate() {
        if spec.inputs[..i].iter().any(|j| j.name == input.name) {
            problems.push(Mismatch::Duplicate {
                port: Port::Input,
                name: input.name.clone(),
            });
        }
    }
    for (i, output) in spec.outputs.iter().enumerate() {
        if spec.outputs[..i].iter().any(|j| j.name == output.name) {
            problems.push(Mismatch::Duplicate {
                port: Port::Output,
                name: output.name.clone(),
            });
        }
    }
    problems
}

fn check_input(input: &InputSpec, graph: &GraphSignature, problems: &mut Vec<Mismatch>) {
    let port = match find_port(&graph.inputs, &input.name) {
        Ok(port) => port,
        Err(graph_inputs) => {
            let name = input.name.clone();
            return problems.push(Mismatch::NoSuchInput { name, graph_inputs });
        }
    };
    let expected = expected_input(input);
    if expected.sample.is_none() {
        problems.push(Mismatch::NoShape {
            name: input.name.clone(),
            kind: input.kind,
        });
    }
    check_port(Port::Input, port, &expected, problems);
}

fn check_output(output: &OutputSpec, graph: &GraphSignature, problems: &mut Vec<Mismatch>) {
    let port = match find_port(&graph.outputs, &output.name) {
        Ok(port) => port,
        Err(graph_outputs) => {
            let name = output.name.clone();
            return problems.push(Mismatch::NoSuchOutput {
                name,
                graph_outputs,
            });
        }
    };
    let expected = Expected {
        elem: ElemType::F32,
        sample: Some(fixed_dims(&output.shape)),
    };
    check_port(Port::Output, port, &expected, problems);
}

/// The port named `name`, or the names of all `ports` where none is.
fn find_port<'a>(ports: &'a [PortInfo], name: &str) -> Result<&'a PortInfo, Vec<String>> {
    ports
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ports.iter().map(|p| p.name.clone()).collect())
}

/// Compares one port's element type and dimensions with what the declaration implies.
fn check_port(port: Port, info: &PortInfo, expected: &Expected, problems: &mut Vec<Mismatch>) {
    if let Some(elem) = &info.elem
        && *elem != expected.elem
    {
        problems.push(Mismatch::Type {
            port,
            name: info.name.clone(),
            declared: expected.elem.clone(),
            graph: elem.clone(),
        });
    }
    let Some(dims) = &info.dims else { return };
    if let Some(Dim::Fixed(size)) = dims.first() {
        problems.push(Mismatch::FixedBatch {
            port,
            name: info.name.clone(),
            size: *size,
        });
    }
    let Some(sample) = &expected.sample else {
        return;
    };
    if !dims_agree(dims, sample) {
        problems.push(Mismatch::Shape {
            port,
            name: info.name.clone(),
            declared: sample.clone(),
            graph: dims.clone(),
        });
    }
}

/// Whether graph dims `[batch, ...]` agree with a per-sample shape: same rank, and every
/// dimension fixed on both sides is equal.
fn dims_agree(graph: &[Dim], sample: &[Dim]) -> bool {
    graph.len() == sample.len() + 1
        && graph[1..].iter().zip(sample).all(|pair| match pair {
            (Dim::Fixed(a), Dim::Fixed(b)) => a == b,
            _ => true,
        })
}

fn fixed_dims(shape: &[usize]) -> Vec<Dim> {
    shape.iter().map(|&n| Dim::Fixed(n as u64)).collect()
}

/// `[batch,128,1,1]`.
pub(crate) fn dims_list(dims: &[Dim]) -> String {
    let parts: Vec<String> = dims.iter().map(Dim::to_string).collect();
    format!("[{}]", parts.join(","))
}

fn names(list: &[String]) -> String {
    if list.is_empty() {
        "(none)".into()
    } else {
        list.join(", ")
    }
}

fn kind_name(kind: InputKind) -> &'static str {
    match kind {
        InputKind::Latent => "latent",
        InputKind::Class => "class",
        InputKind::Image => "image",
        InputKind::Mask => "mask",
        InputKind::Noise => "noise",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The mismatches of `graph` with `declared`, as the user reads them.
    fn messages(declared: &OnnxSpec, graph: &GraphSignature) -> Vec<String> {
        check_declaration(declared, graph)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn spec(value: serde_json::Value) -> OnnxSpec {
        serde_json::from_value(value).expect("test spec parses")
    }

    fn port(name: &str, elem: ElemType, dims: Vec<Dim>) -> PortInfo {
        PortInfo {
            name: name.into(),
            elem: Some(elem),
            dims: Some(dims),
        }
    }

    fn sym() -> Dim {
        Dim::Symbol("batch".into())
    }

    fn dcgan_spec() -> OnnxSpec {
        spec(json!({
            "graph": "model.onnx",
            "inputs": [{"name": "z", "kind": "latent", "shape": [100, 1, 1]}],
            "outputs": [{"name": "image", "kind": "image", "shape": [1, 64, 64], "range": [-1, 1]}]
        }))
    }

    fn dcgan_graph(latent: u64) -> GraphSignature {
        let f = Dim::Fixed;
        GraphSignature {
            inputs: vec![port("z", ElemType::F32, vec![sym(), f(latent), f(1), f(1)])],
            outputs: vec![port(
                "image",
                ElemType::F32,
                vec![sym(), f(1), f(64), f(64)],
            )],
        }
    }

    #[test]
    fn agreeing_graph_has_no_problems() {
        assert_eq!(check_declaration(&dcgan_spec(), &dcgan_graph(100)), vec![]);
    }

    #[test]
    fn shape_mismatch_names_both_shapes() {
        let problems = check_declaration(&dcgan_spec(), &dcgan_graph(128));
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            vec!["input `z`: declared shape [100,1,1] but graph has [batch,128,1,1]"]
        );
    }

    #[test]
    fn missing_and_undeclared_inputs_and_outputs() {
        let mut declared = dcgan_spec();
        declared.inputs[0].name = "label".into();
        declared.outputs.push(declared.outputs[0].clone());
        declared.outputs[1].name = "mask".into();
        let text = messages(&declared, &dcgan_graph(100));
        assert_eq!(
            text,
            vec![
                "graph has no input named `label`; its inputs are: z",
                "graph input `z` [batch,100,1,1] is not declared in execution.onnx.inputs",
                "output `mask` declared but the graph has none; its outputs are: image",
            ]
        );
    }

    #[test]
    fn class_index_must_be_int64_vector_and_batch_dynamic() {
        let declared = spec(json!({
            "graph": "g.onnx",
            "inputs": [{"name": "label", "kind": "class", "classes": ["a", "b"]}],
            "outputs": []
        }));
        let graph = GraphSignature {
            inputs: vec![port(
                "label",
                ElemType::F32,
                vec![Dim::Fixed(1), Dim::Fixed(2)],
            )],
            outputs: vec![],
        };
        let text = messages(&declared, &graph);
        assert_eq!(
            text,
            vec![
                "input `label`: declared int64 but graph has float32",
                "input `label`: the graph fixes the batch axis (the first) to 1; it must be dynamic",
                "input `label`: declared shape [] but graph has [1,2]",
            ]
        );
    }

    #[test]
    fn unknown_facts_are_not_mismatches() {
        let graph = GraphSignature {
            inputs: vec![PortInfo {
                name: "z".into(),
                elem: None,
                dims: None,
            }],
            outputs: vec![port("image", ElemType::F32, vec![Dim::Unknown; 4])],
        };
        assert_eq!(check_declaration(&dcgan_spec(), &graph), vec![]);
    }
}
