//! The network as an ONNX graph (opset 17), built from the loaded weights, for onnxruntime: its
//! convolution kernels run this network 1.9-2.3x faster than PyTorch on the same threads and
//! batch (`crates/medigan/benches/fid.md`), where the native im2col + gemm network equals it.
//!
//! The graph is the native network node for node: each `BasicConv2d` one `Conv` (batch norm
//! already folded into its weights and bias) and a `Relu`; the 1x1 stems the native network
//! stacks into one convolution are separate convolutions again (one per branch); the FID
//! average pools leave the padding out of the mean (`count_include_pad = 0`), as pytorch-fid's.
//! Input `images` `[N, 3, 299, 299]` (scaled to [-1, 1] by the caller), output `features`
//! `[N, 2048]`. Only the messages and fields of `onnx.proto` the graph uses are declared here.

use prost::Message;

use super::ops::Conv;
use super::{BlockA, BlockB, BlockC, BlockD, BlockE, FEATURE_DIMS, INPUT_SIZE, InceptionV3};

/// The graph's input name.
pub const INPUT_NAME: &str = "images";
/// The graph's output name.
pub const OUTPUT_NAME: &str = "features";

const OPSET: i64 = 17;
const IR_VERSION: i64 = 8;
const FLOAT: i32 = 1;
const ATTRIBUTE_INT: i32 = 2;
const ATTRIBUTE_INTS: i32 = 7;

// The subset of `onnx.proto` the writer (and the runtime tests) use.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ModelProto {
    #[prost(int64, tag = "1")]
    pub(crate) ir_version: i64,
    #[prost(string, tag = "2")]
    pub(crate) producer_name: String,
    #[prost(string, tag = "3")]
    pub(crate) producer_version: String,
    #[prost(message, optional, tag = "7")]
    pub(crate) graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "8")]
    pub(crate) opset_import: Vec<OperatorSetIdProto>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    pub(crate) domain: String,
    #[prost(int64, tag = "2")]
    pub(crate) version: i64,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    pub(crate) node: Vec<NodeProto>,
    #[prost(string, tag = "2")]
    pub(crate) name: String,
    #[prost(message, repeated, tag = "5")]
    pub(crate) initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    pub(crate) input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    pub(crate) output: Vec<ValueInfoProto>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    pub(crate) input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub(crate) output: Vec<String>,
    #[prost(string, tag = "3")]
    pub(crate) name: String,
    #[prost(string, tag = "4")]
    pub(crate) op_type: String,
    #[prost(message, repeated, tag = "5")]
    pub(crate) attribute: Vec<AttributeProto>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct AttributeProto {
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    #[prost(int64, tag = "3")]
    pub(crate) i: i64,
    #[prost(int64, repeated, tag = "8")]
    pub(crate) ints: Vec<i64>,
    #[prost(int32, tag = "20")]
    pub(crate) r#type: i32,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    pub(crate) dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    pub(crate) data_type: i32,
    #[prost(int64, repeated, tag = "7")]
    pub(crate) int64_data: Vec<i64>,
    #[prost(string, tag = "8")]
    pub(crate) name: String,
    #[prost(bytes = "vec", tag = "9")]
    pub(crate) raw_data: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct ValueInfoProto {
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    #[prost(message, optional, tag = "2")]
    pub(crate) r#type: Option<TypeProto>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct TypeProto {
    #[prost(message, optional, tag = "1")]
    pub(crate) tensor_type: Option<TensorTypeProto>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct TensorTypeProto {
    #[prost(int32, tag = "1")]
    pub(crate) elem_type: i32,
    #[prost(message, optional, tag = "2")]
    pub(crate) shape: Option<TensorShapeProto>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    pub(crate) dim: Vec<Dimension>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct Dimension {
    #[prost(oneof = "DimensionValue", tags = "1, 2")]
    pub(crate) value: Option<DimensionValue>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub(crate) enum DimensionValue {
    #[prost(int64, tag = "1")]
    DimValue(i64),
    #[prost(string, tag = "2")]
    DimParam(String),
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: value,
        ints: Vec::new(),
        r#type: ATTRIBUTE_INT,
    }
}

fn ints(name: &str, values: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: 0,
        ints: values.iter().map(|&v| v as i64).collect(),
        r#type: ATTRIBUTE_INTS,
    }
}

fn value_info(name: &str, dims: &[DimensionValue]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(d.clone()),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: FLOAT,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    }
}

/// The nodes and weights of the graph being built; each value gets a fresh name.
#[derive(Default)]
struct Builder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    names: usize,
}

impl Builder {
    fn fresh(&mut self, what: &str) -> String {
        self.names += 1;
        format!("{what}_{}", self.names)
    }

    /// Adds a node with one output and returns the output's name.
    fn node(&mut self, op: &str, inputs: Vec<String>, attributes: Vec<AttributeProto>) -> String {
        let output = self.fresh(&op.to_lowercase());
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![output.clone()],
            name: output.clone(),
            op_type: op.into(),
            attribute: attributes,
        });
        output
    }

    /// A float32 weight tensor; returns its name.
    fn floats(&mut self, what: &str, dims: &[usize], values: &[f32]) -> String {
        let name = self.fresh(what);
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: FLOAT,
            name: name.clone(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..TensorProto::default()
        });
        name
    }

    /// A convolution with its bias, then ReLU (a `BasicConv2d` with batch norm folded).
    fn conv(&mut self, x: &str, conv: &Conv) -> String {
        self.conv_outputs(x, conv, 0, conv.cout)
    }

    /// Output channels `from..from + n` of `conv` (one branch of a stacked stem) as a
    /// convolution of its own, then ReLU: separate convolutions keep onnxruntime's blocked
    /// channel layout, where slicing one stacked output would convert it back and forth.
    fn conv_outputs(&mut self, x: &str, conv: &Conv, from: usize, n: usize) -> String {
        let (kh, kw) = conv.kernel;
        let per_output = conv.cin * kh * kw;
        let rows = &conv.weight[from * per_output..(from + n) * per_output];
        let weight = self.floats("w", &[n, conv.cin, kh, kw], rows);
        let bias = self.floats("b", &[n], &conv.bias[from..from + n]);
        let attributes = vec![
            ints("kernel_shape", &[kh, kw]),
            ints("strides", &[conv.stride.0, conv.stride.1]),
            ints("pads", &[conv.pad.0, conv.pad.1, conv.pad.0, conv.pad.1]),
        ];
        let y = self.node("Conv", vec![x.into(), weight, bias], attributes);
        self.node("Relu", vec![y], Vec::new())
    }

    /// 3x3 pool, stride 1, padding 1: a max, or an average leaving the padding out.
    fn pool_3x3_s1_same(&mut self, x: &str, max: bool) -> String {
        let mut attributes = vec![
            ints("kernel_shape", &[3, 3]),
            ints("strides", &[1, 1]),
            ints("pads", &[1, 1, 1, 1]),
        ];
        if max {
            return self.node("MaxPool", vec![x.into()], attributes);
        }
        attributes.push(int("count_include_pad", 0));
        self.node("AveragePool", vec![x.into()], attributes)
    }

    /// 3x3 max pool, stride 2, no padding.
    fn max_pool_3x3_s2(&mut self, x: &str) -> String {
        let attributes = vec![ints("kernel_shape", &[3, 3]), ints("strides", &[2, 2])];
        self.node("MaxPool", vec![x.into()], attributes)
    }

    fn concat(&mut self, parts: Vec<String>) -> String {
        self.node("Concat", parts, vec![int("axis", 1)])
    }
}

impl InceptionV3 {
    /// The network as a serialized ONNX model (about as large as the weights, 95 MB).
    pub fn to_onnx(&self) -> Vec<u8> {
        let mut b = Builder::default();
        let mut x = INPUT_NAME.to_string();
        for conv in [&self.conv1a, &self.conv2a, &self.conv2b] {
            x = b.conv(&x, conv);
        }
        x = b.max_pool_3x3_s2(&x);
        x = b.conv(&x, &self.conv3b);
        x = b.conv(&x, &self.conv4a);
        x = b.max_pool_3x3_s2(&x);
        for block in &self.mixed5 {
            x = block.emit(&mut b, &x);
        }
        x = self.mixed6a.emit(&mut b, &x);
        for block in &self.mixed6 {
            x = block.emit(&mut b, &x);
        }
        x = self.mixed7a.emit(&mut b, &x);
        x = self.mixed7b.emit(&mut b, &x);
        x = self.mixed7c.emit(&mut b, &x);
        let pooled = b.node("GlobalAveragePool", vec![x], Vec::new());
        let features = b.node("Flatten", vec![pooled], vec![int("axis", 1)]);
        b.nodes.push(NodeProto {
            input: vec![features],
            output: vec![OUTPUT_NAME.into()],
            name: "output".into(),
            op_type: "Identity".into(),
            attribute: Vec::new(),
        });
        model(b)
    }
}

fn model(b: Builder) -> Vec<u8> {
    let batch = DimensionValue::DimParam("N".into());
    let size = DimensionValue::DimValue(INPUT_SIZE as i64);
    let input = value_info(
        INPUT_NAME,
        &[
            batch.clone(),
            DimensionValue::DimValue(3),
            size.clone(),
            size,
        ],
    );
    let output = value_info(
        OUTPUT_NAME,
        &[batch, DimensionValue::DimValue(FEATURE_DIMS as i64)],
    );
    ModelProto {
        ir_version: IR_VERSION,
        producer_name: "medigan-rs".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(GraphProto {
            node: b.nodes,
            name: "fid_inception_v3".into(),
            initializer: b.initializers,
            input: vec![input],
            output: vec![output],
        }),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
    }
    .encode_to_vec()
}

impl BlockA {
    fn emit(&self, b: &mut Builder, x: &str) -> String {
        let b1 = b.conv_outputs(x, &self.stem, 0, 64);
        let b5 = b.conv_outputs(x, &self.stem, 64, 48);
        let b5 = b.conv(&b5, &self.b5x5_2);
        let d = b.conv_outputs(x, &self.stem, 112, 64);
        let d = b.conv(&d, &self.b3x3dbl_2);
        let d = b.conv(&d, &self.b3x3dbl_3);
        let pool = b.pool_3x3_s1_same(x, false);
        let pool = b.conv(&pool, &self.pool);
        b.concat(vec![b1, b5, d, pool])
    }
}

impl BlockB {
    fn emit(&self, b: &mut Builder, x: &str) -> String {
        let b3 = b.conv(x, &self.b3x3);
        let d = b.conv(x, &self.b3x3dbl_1);
        let d = b.conv(&d, &self.b3x3dbl_2);
        let d = b.conv(&d, &self.b3x3dbl_3);
        let pool = b.max_pool_3x3_s2(x);
        b.concat(vec![b3, d, pool])
    }
}

impl BlockC {
    fn emit(&self, b: &mut Builder, x: &str) -> String {
        let b1 = b.conv_outputs(x, &self.stem, 0, 192);
        let b7 = b.conv_outputs(x, &self.stem, 192, self.c7);
        let b7 = b.conv(&b7, &self.b7x7_2);
        let b7 = b.conv(&b7, &self.b7x7_3);
        let mut d = b.conv_outputs(x, &self.stem, 192 + self.c7, self.c7);
        for conv in &self.dbl {
            d = b.conv(&d, conv);
        }
        let pool = b.pool_3x3_s1_same(x, false);
        let pool = b.conv(&pool, &self.pool);
        b.concat(vec![b1, b7, d, pool])
    }
}

impl BlockD {
    fn emit(&self, b: &mut Builder, x: &str) -> String {
        let b3 = b.conv_outputs(x, &self.stem, 0, 192);
        let b3 = b.conv(&b3, &self.b3x3_2);
        let mut b7 = b.conv_outputs(x, &self.stem, 192, 192);
        for conv in &self.b7x7x3 {
            b7 = b.conv(&b7, conv);
        }
        let pool = b.max_pool_3x3_s2(x);
        b.concat(vec![b3, b7, pool])
    }
}

impl BlockE {
    fn emit(&self, b: &mut Builder, x: &str) -> String {
        let b1 = b.conv_outputs(x, &self.stem, 0, 320);
        let b3 = b.conv_outputs(x, &self.stem, 320, 384);
        let b3a = b.conv(&b3, &self.b3x3_2a);
        let b3b = b.conv(&b3, &self.b3x3_2b);
        let d = b.conv_outputs(x, &self.stem, 704, 448);
        let d = b.conv(&d, &self.dbl_2);
        let da = b.conv(&d, &self.dbl_3a);
        let db = b.conv(&d, &self.dbl_3b);
        let pool = b.pool_3x3_s1_same(x, self.max_pool);
        let pool = b.conv(&pool, &self.pool);
        b.concat(vec![b1, b3a, b3b, da, db, pool])
    }
}
