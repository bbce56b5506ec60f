//! Reader of PyTorch state-dict files (`torch.save(model.state_dict())`): the zip format of
//! torch >= 1.6 and the legacy format before it (the one `pt_inception-2015-12-05-6726825d.pth`
//! was written in, 2019).
//!
//! Only what a state dict uses is understood: a pickle (protocol <= 5) of a dict whose values are
//! `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` calls on persistent
//! storage ids. Nothing in the file is executed; unknown globals become opaque values. Tensor data
//! is read lazily, only for the tensors asked for. The bytes are untrusted: every length is
//! checked against caps and the file, every index with checked arithmetic.
//!
//! Legacy layout: pickles of the magic number, the protocol version and `sys_info`, then the
//! pickle of the dict, then a pickle of the list of storage keys, then for each key in that order
//! the storage: its element count as a little-endian `i64` followed by the raw elements.
//! Zip layout: `<archive>/data.pkl` and one entry `<archive>/data/<key>` per storage.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::InceptionError;

/// The magic number that opens a legacy `torch.save` file.
const LEGACY_MAGIC: i128 = 0x1950a86a20f9469cfc6c;
/// Longest string or byte string accepted in a pickle.
const MAX_STRING: u64 = 16 << 20;
/// Deepest nesting of containers accepted in a pickle.
const MAX_DEPTH: usize = 64;
/// Most values that may be copied out of the memo (guards against "billion laughs" pickles).
const MAX_COPIED_NODES: usize = 10_000_000;
/// Longest stack or memo accepted.
const MAX_ITEMS: usize = 10_000_000;

/// Element type of a tensor's storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DType {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl DType {
    fn from_storage_class(name: &str) -> Option<Self> {
        Some(match name {
            "DoubleStorage" => Self::F64,
            "FloatStorage" => Self::F32,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::BF16,
            "LongStorage" => Self::I64,
            "IntStorage" => Self::I32,
            "ShortStorage" => Self::I16,
            "CharStorage" => Self::I8,
            "ByteStorage" => Self::U8,
            "BoolStorage" => Self::Bool,
            _ => return None,
        })
    }

    fn size(self) -> u64 {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::BF16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }
}

/// A storage named by a persistent id.
#[derive(Debug, Clone, PartialEq)]
struct StorageRef {
    key: String,
    dtype: DType,
    /// Elements in the storage, as the persistent id says.
    numel: u64,
    /// Element offset of a legacy storage view inside its root storage.
    view_offset: u64,
}

/// A tensor of the state dict, its data not read yet.
#[derive(Debug, Clone, PartialEq)]
struct TensorRef {
    storage: StorageRef,
    /// Element offset into the storage.
    offset: u64,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

/// A value of the pickle virtual machine.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer too large for `i64` (only the legacy magic number is one).
    BigInt(i128),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String, String),
    /// The result of calling a global this reader does not model.
    Opaque(String),
    Storage(StorageRef),
    Tensor(TensorRef),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Bool(_) => "bool",
            Self::Int(_) | Self::BigInt(_) => "int",
            Self::Float(_) => "float",
            Self::Str(_) => "str",
            Self::Bytes(_) => "bytes",
            Self::Tuple(_) => "tuple",
            Self::List(_) => "list",
            Self::Dict(_) => "dict",
            Self::Global(..) => "global",
            Self::Opaque(_) => "object",
            Self::Storage(_) => "storage",
            Self::Tensor(_) => "tensor",
        }
    }

    /// Nesting depth, walking at most `MAX_DEPTH + 1` levels.
    fn depth(&self) -> usize {
        fn walk(v: &Value, level: usize) -> usize {
            if level > MAX_DEPTH {
                return level;
            }
            let children: Box<dyn Iterator<Item = &Value>> = match v {
                Value::Tuple(items) | Value::List(items) => Box::new(items.iter()),
                Value::Dict(items) => Box::new(items.iter().flat_map(|(k, v)| [k, v])),
                _ => return level,
            };
            children.map(|c| walk(c, level + 1)).max().unwrap_or(level)
        }
        walk(self, 1)
    }

    /// Number of values in this one, counting itself.
    fn nodes(&self) -> usize {
        match self {
            Self::Tuple(items) | Self::List(items) => {
                1 + items.iter().map(Value::nodes).sum::<usize>()
            }
            Self::Dict(items) => {
                1 + items
                    .iter()
                    .map(|(k, v)| k.nodes() + v.nodes())
                    .sum::<usize>()
            }
            _ => 1,
        }
    }
}

type Reason = String;

/// The pickle virtual machine, restricted to what state dicts use.
struct Unpickler {
    stack: Vec<Value>,
    /// Index in `stack` of each open mark.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    copied_nodes: usize,
    /// Element size of every storage a persistent id named, by key.
    storages: HashMap<String, u64>,
}

fn read_array<const N: usize>(r: &mut impl Read) -> Result<[u8; N], Reason> {
    let mut buf = [0u8; N];
    r.read_exact(&mut buf).map_err(|e| truncated(&e))?;
    Ok(buf)
}

fn truncated(e: &std::io::Error) -> Reason {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "the file ends inside a pickle".to_owned()
    } else {
        format!("read error: {e}")
    }
}

fn read_bytes(r: &mut impl Read, len: u64) -> Result<Vec<u8>, Reason> {
    if len > MAX_STRING {
        return Err(format!(
            "a pickled string of {len} bytes (more than {MAX_STRING})"
        ));
    }
    let mut buf = Vec::new();
    r.take(len)
        .read_to_end(&mut buf)
        .map_err(|e| truncated(&e))?;
    if buf.len() as u64 != len {
        return Err("the file ends inside a pickle".to_owned());
    }
    Ok(buf)
}

fn read_line(r: &mut impl BufRead) -> Result<String, Reason> {
    let mut buf = Vec::new();
    (&mut *r)
        .take(1024)
        .read_until(b'\n', &mut buf)
        .map_err(|e| truncated(&e))?;
    if buf.pop() != Some(b'\n') {
        return Err("a pickle GLOBAL without an end of line".to_owned());
    }
    String::from_utf8(buf).map_err(|_| "a pickle GLOBAL that is not UTF-8".to_owned())
}

fn utf8(bytes: Vec<u8>) -> Result<Value, Reason> {
    String::from_utf8(bytes)
        .map(Value::Str)
        .map_err(|_| "a pickled string that is not UTF-8".to_owned())
}

impl Unpickler {
    fn new() -> Self {
        Self {
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            copied_nodes: 0,
            storages: HashMap::new(),
        }
    }

    fn push(&mut self, v: Value) -> Result<(), Reason> {
        if self.stack.len() >= MAX_ITEMS {
            return Err("a pickle stack deeper than the cap".to_owned());
        }
        if matches!(v, Value::Tuple(_) | Value::List(_) | Value::Dict(_)) && v.depth() > MAX_DEPTH {
            return Err(format!("pickled values nested deeper than {MAX_DEPTH}"));
        }
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value, Reason> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("a pickle pops past a mark".to_owned());
        }
        self.stack
            .pop()
            .ok_or_else(|| "a pickle pops an empty stack".to_owned())
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, Reason> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| "a pickle closes a mark it never opened".to_owned())?;
        Ok(self.stack.split_off(m))
    }

    fn top(&mut self) -> Result<&mut Value, Reason> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("a pickle reads past a mark".to_owned());
        }
        self.stack
            .last_mut()
            .ok_or_else(|| "a pickle reads an empty stack".to_owned())
    }

    fn memo_put(&mut self, id: u32) -> Result<(), Reason> {
        if self.memo.len() >= MAX_ITEMS {
            return Err("a pickle memo larger than the cap".to_owned());
        }
        let v = self
            .stack
            .last()
            .ok_or_else(|| "a pickle memoizes an empty stack".to_owned())?;
        let v = v.clone();
        self.memo_nodes(&v)?;
        self.memo.insert(id, v);
        Ok(())
    }

    fn memo_get(&mut self, id: u32) -> Result<(), Reason> {
        let v = self
            .memo
            .get(&id)
            .ok_or_else(|| format!("a pickle reads memo entry {id}, never written"))?;
        self.copied_nodes = self.copied_nodes.saturating_add(v.nodes());
        if self.copied_nodes > MAX_COPIED_NODES {
            return Err("a pickle that copies more values than the cap".to_owned());
        }
        let v = v.clone();
        self.push(v)
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), Reason> {
        if !items.len().is_multiple_of(2) {
            return Err("a pickle SETITEMS with an odd number of values".to_owned());
        }
        let target = self.top()?;
        if let Value::Dict(dict) = target {
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                dict.push((k, v));
            }
        }
        // Items set on an opaque object are dropped.
        let target = self
            .stack
            .pop()
            .ok_or_else(|| "a pickle reads an empty stack".to_owned())?;
        self.push(target)
    }

    fn append_items(&mut self, items: Vec<Value>) -> Result<(), Reason> {
        let target = self.top()?;
        if let Value::List(list) = target {
            list.extend(items);
        }
        let target = self
            .stack
            .pop()
            .ok_or_else(|| "a pickle reads an empty stack".to_owned())?;
        self.push(target)
    }

    /// Runs one pickle up to its STOP; returns the value it leaves.
    fn load(&mut self, r: &mut impl BufRead) -> Result<Value, Reason> {
        loop {
            let [op] = read_array::<1>(r)?;
            match op {
                0x80 => {
                    let [proto] = read_array::<1>(r)?;
                    if proto > 5 {
                        return Err(format!("pickle protocol {proto} (at most 5 is known)"));
                    }
                }
                0x95 => {
                    read_array::<8>(r)?; // FRAME: a length hint
                }
                b'.' => {
                    let v = self.pop()?;
                    return Ok(v);
                }
                b'(' => {
                    self.marks.push(self.stack.len());
                    if self.marks.len() > MAX_ITEMS {
                        return Err("too many pickle marks".to_owned());
                    }
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.memo_nodes(&v)?;
                    self.push(v)?;
                }
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => self.push(Value::Int(i32::from_le_bytes(read_array(r)?).into()))?,
                b'K' => self.push(Value::Int(read_array::<1>(r)?[0].into()))?,
                b'M' => self.push(Value::Int(u16::from_le_bytes(read_array(r)?).into()))?,
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        u64::from(read_array::<1>(r)?[0])
                    } else {
                        u64::from(u32::from_le_bytes(read_array(r)?))
                    };
                    let bytes = read_bytes(r, n)?;
                    self.push(long_value(&bytes))?;
                }
                b'G' => self.push(Value::Float(f64::from_be_bytes(read_array(r)?)))?,
                b'X' | b'T' | b'B' => {
                    let n = u32::from_le_bytes(read_array(r)?);
                    let bytes = read_bytes(r, n.into())?;
                    self.push(if op == b'B' {
                        Value::Bytes(bytes)
                    } else {
                        utf8(bytes)?
                    })?;
                }
                0x8c | b'U' | b'C' => {
                    let n = read_array::<1>(r)?[0];
                    let bytes = read_bytes(r, n.into())?;
                    self.push(if op == b'C' {
                        Value::Bytes(bytes)
                    } else {
                        utf8(bytes)?
                    })?;
                }
                0x8d | 0x8e => {
                    let n = u64::from_le_bytes(read_array(r)?);
                    let bytes = read_bytes(r, n)?;
                    self.push(if op == 0x8e {
                        Value::Bytes(bytes)
                    } else {
                        utf8(bytes)?
                    })?;
                }
                b'}' => self.push(Value::Dict(Vec::new()))?,
                b']' => self.push(Value::List(Vec::new()))?,
                b')' => self.push(Value::Tuple(Vec::new()))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(items))?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Value::Tuple(items))?;
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(items))?;
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Dict(Vec::new()))?;
                    self.set_items(items)?;
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append_items(vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append_items(items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                b'c' => {
                    let module = read_line(r)?;
                    let name = read_line(r)?;
                    self.push(Value::Global(module, name))?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.push(Value::Global(m, n))?,
                        _ => return Err("a pickle STACK_GLOBAL on non-strings".to_owned()),
                    }
                }
                b'q' => self.memo_put(read_array::<1>(r)?[0].into())?,
                b'r' => self.memo_put(u32::from_le_bytes(read_array(r)?))?,
                0x94 => {
                    let id =
                        u32::try_from(self.memo.len()).map_err(|_| "memo overflow".to_owned())?;
                    self.memo_put(id)?;
                }
                b'h' => self.memo_get(read_array::<1>(r)?[0].into())?,
                b'j' => self.memo_get(u32::from_le_bytes(read_array(r)?))?,
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = reduce(callable, args)?;
                    self.push(v)?;
                }
                0x81 => {
                    let _args = self.pop()?;
                    let cls = self.pop()?;
                    self.push(Value::Opaque(format!("{cls:?}")))?;
                }
                b'b' => {
                    // BUILD: the state (a module's `_metadata`, an object's __dict__) is not needed.
                    self.pop()?;
                    self.top()?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let storage = storage_ref(pid)?;
                    self.storages
                        .insert(storage.key.clone(), storage.dtype.size());
                    self.push(Value::Storage(storage))?;
                }
                other => {
                    return Err(format!("unsupported pickle opcode 0x{other:02x}"));
                }
            }
        }
    }

    fn memo_nodes(&mut self, v: &Value) -> Result<(), Reason> {
        self.copied_nodes = self.copied_nodes.saturating_add(v.nodes());
        if self.copied_nodes > MAX_COPIED_NODES {
            return Err("a pickle that copies more values than the cap".to_owned());
        }
        Ok(())
    }
}

/// A little-endian two's-complement integer of LONG1 / LONG4.
fn long_value(bytes: &[u8]) -> Value {
    if bytes.len() > 16 {
        return Value::Opaque("int".to_owned());
    }
    let negative = bytes.last().is_some_and(|b| b & 0x80 != 0);
    let mut buf = [if negative { 0xff } else { 0 }; 16];
    buf[..bytes.len()].copy_from_slice(bytes);
    let v = i128::from_le_bytes(buf);
    i64::try_from(v).map_or(Value::BigInt(v), Value::Int)
}

fn as_usize(v: &Value, what: &str) -> Result<usize, Reason> {
    match v {
        Value::Int(i) => usize::try_from(*i).map_err(|_| format!("{what} is negative: {i}")),
        other => Err(format!("{what} is a {}, not an int", other.kind())),
    }
}

fn as_usizes(v: &Value, what: &str) -> Result<Vec<usize>, Reason> {
    match v {
        Value::Tuple(items) | Value::List(items) => {
            items.iter().map(|i| as_usize(i, what)).collect()
        }
        other => Err(format!("{what} is a {}, not a tuple", other.kind())),
    }
}

/// The storage a persistent id names: `('storage', torch.XStorage, key, location, numel[, view])`.
fn storage_ref(pid: Value) -> Result<StorageRef, Reason> {
    let Value::Tuple(items) = pid else {
        return Err(format!(
            "a persistent id that is a {}, not a tuple",
            pid.kind()
        ));
    };
    match items.as_slice() {
        [
            Value::Str(tag),
            Value::Global(module, class),
            key,
            _location,
            numel,
            rest @ ..,
        ] if tag == "storage" && rest.len() <= 1 => {
            let dtype = DType::from_storage_class(class)
                .filter(|_| module == "torch")
                .ok_or_else(|| format!("unsupported storage type `{module}.{class}`"))?;
            let key = match key {
                Value::Str(s) => s.clone(),
                Value::Int(i) => i.to_string(),
                other => return Err(format!("a storage key that is a {}", other.kind())),
            };
            let numel = as_usize(numel, "a storage size")? as u64;
            let view_offset = match rest {
                [] | [Value::None] => 0,
                [Value::Tuple(view)] => match view.as_slice() {
                    [_view_key, offset, _size] => as_usize(offset, "a storage view offset")? as u64,
                    _ => return Err("a storage view that is not (key, offset, size)".to_owned()),
                },
                _ => return Err("a storage view that is not a tuple".to_owned()),
            };
            Ok(StorageRef {
                key,
                dtype,
                numel,
                view_offset,
            })
        }
        _ => Err("a persistent id that is not ('storage', type, key, location, size)".to_owned()),
    }
}

/// REDUCE: builds tensors and dicts; anything else becomes an opaque value.
fn reduce(callable: Value, args: Value) -> Result<Value, Reason> {
    let Value::Global(module, name) = &callable else {
        return Err(format!("a pickle calls a {}", callable.kind()));
    };
    let Value::Tuple(args) = args else {
        return Err(format!(
            "arguments of `{module}.{name}` that are a {}",
            args.kind()
        ));
    };
    match (module.as_str(), name.as_str()) {
        ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => {
            let [storage, offset, size, stride, ..] = args.as_slice() else {
                return Err(format!("`{name}` with {} arguments", args.len()));
            };
            let Value::Storage(storage) = storage else {
                return Err(format!("`{name}` on a {}, not a storage", storage.kind()));
            };
            let shape = as_usizes(size, "a tensor size")?;
            let stride = as_usizes(stride, "a tensor stride")?;
            if shape.len() != stride.len() {
                return Err("a tensor whose size and stride differ in length".to_owned());
            }
            Ok(Value::Tensor(TensorRef {
                storage: storage.clone(),
                offset: as_usize(offset, "a tensor offset")? as u64,
                shape,
                stride,
            }))
        }
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            match args.into_iter().next() {
                Some(t @ Value::Tensor(_)) => Ok(t),
                _ => Err("a parameter that does not hold a tensor".to_owned()),
            }
        }
        ("collections", "OrderedDict") => Ok(Value::Dict(Vec::new())),
        _ => Ok(Value::Opaque(format!("{module}.{name}"))),
    }
}

/// Where the storages' bytes are.
enum Data {
    /// Legacy file: byte offset and byte length of each storage.
    Legacy {
        file: BufReader<File>,
        offsets: HashMap<String, (u64, u64)>,
    },
    /// Zip archive: the entry name prefix (`<archive>/data/`).
    Zip {
        archive: Box<zip::ZipArchive<BufReader<File>>>,
        prefix: String,
    },
}

/// Facts about a tensor of the state dict, without its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TensorInfo {
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub shape: Vec<usize>,
}

/// An open state-dict file: names and shapes read, data read on demand.
pub(crate) struct StateDict {
    path: PathBuf,
    tensors: HashMap<String, TensorRef>,
    data: Data,
}

impl StateDict {
    /// Reads the pickled structure of the state dict in `path` (not the tensor data).
    pub(crate) fn open(path: &Path) -> Result<Self, InceptionError> {
        let io = |source| InceptionError::Io {
            path: path.to_owned(),
            source,
        };
        let format = |reason: Reason| InceptionError::Format {
            path: path.to_owned(),
            reason,
        };
        let mut file = File::open(path).map_err(io)?;
        let mut head = [0u8; 4];
        let n = file.read(&mut head).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let reader = BufReader::new(file);
        let (root, data) = if n == 4 && head == *b"PK\x03\x04" {
            open_zip(reader).map_err(|e| match e {
                OpenError::Io(source) => io(source),
                OpenError::Format(reason) => format(reason),
            })?
        } else {
            open_legacy(reader).map_err(|e| match e {
                OpenError::Io(source) => io(source),
                OpenError::Format(reason) => format(reason),
            })?
        };
        let Value::Dict(items) = root else {
            return Err(format(format!(
                "the file holds a {}, not a dict of tensors",
                root.kind()
            )));
        };
        let mut tensors = HashMap::new();
        for (k, v) in items {
            if let (Value::Str(name), Value::Tensor(t)) = (k, v) {
                tensors.insert(name, t);
            }
        }
        if tensors.is_empty() {
            return Err(format("the file's dict holds no tensors".to_owned()));
        }
        Ok(Self {
            path: path.to_owned(),
            tensors,
            data,
        })
    }

    /// The names of the tensors, in no particular order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.tensors.keys().cloned().collect()
    }

    /// Element type and shape of tensor `name`, `None` when the file has no such tensor.
    pub(crate) fn info(&self, name: &str) -> Option<TensorInfo> {
        self.tensors.get(name).map(|t| TensorInfo {
            dtype: t.storage.dtype,
            shape: t.shape.clone(),
        })
    }

    /// The elements of the `f32` tensor `name` in row-major order.
    pub(crate) fn read_f32(&mut self, name: &str) -> Result<Vec<f32>, InceptionError> {
        let format = |reason: Reason| InceptionError::Format {
            path: self.path.clone(),
            reason,
        };
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| InceptionError::MissingTensor {
                path: self.path.clone(),
                name: name.to_owned(),
            })?;
        if t.storage.dtype != DType::F32 {
            return Err(InceptionError::DType {
                path: self.path.clone(),
                name: name.to_owned(),
                dtype: format!("{:?}", t.storage.dtype).to_lowercase(),
            });
        }
        let numel = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let numel = numel.ok_or_else(|| format(format!("tensor `{name}` is too large")))?;
        // The elements the tensor spans in its storage: offset .. offset + span.
        let span = if numel == 0 {
            0
        } else {
            let last = t
                .shape
                .iter()
                .zip(&t.stride)
                .try_fold(0usize, |a, (&d, &s)| a.checked_add((d - 1).checked_mul(s)?));
            last.and_then(|l| l.checked_add(1))
                .ok_or_else(|| format(format!("tensor `{name}` has impossible strides")))?
        };
        let start = t.storage.view_offset.checked_add(t.offset);
        let end = start.and_then(|s| s.checked_add(span as u64));
        let (Some(start), Some(end)) = (start, end) else {
            return Err(format(format!("tensor `{name}` lies outside its storage")));
        };
        if end > t.storage.numel {
            return Err(format(format!("tensor `{name}` lies outside its storage")));
        }
        let bytes = self
            .read_storage(&t.storage.key.clone(), start * 4, span as u64 * 4)
            .map_err(|e| match e {
                OpenError::Io(source) => InceptionError::Io {
                    path: self.path.clone(),
                    source,
                },
                OpenError::Format(reason) => InceptionError::Format {
                    path: self.path.clone(),
                    reason: format!("tensor `{name}`: {reason}"),
                },
            })?;
        let raw: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let t = &self.tensors[name];
        if is_contiguous(&t.shape, &t.stride) {
            return Ok(raw);
        }
        // Gather a strided tensor into row-major order (every index is < span, checked above).
        let mut out = Vec::with_capacity(numel);
        let mut index = vec![0usize; t.shape.len()];
        for _ in 0..numel {
            let at: usize = index.iter().zip(&t.stride).map(|(i, s)| i * s).sum();
            out.push(raw[at]);
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < t.shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        Ok(out)
    }

    /// `len` bytes from byte `start` of storage `key`.
    fn read_storage(&mut self, key: &str, start: u64, len: u64) -> Result<Vec<u8>, OpenError> {
        let missing = || OpenError::Format(format!("its storage `{key}` is missing from the file"));
        let short = || OpenError::Format(format!("its storage `{key}` is truncated"));
        let mut out = Vec::new();
        match &mut self.data {
            Data::Legacy { file, offsets } => {
                let &(at, stored) = offsets.get(key).ok_or_else(missing)?;
                if start.checked_add(len).is_none_or(|end| end > stored) {
                    return Err(short());
                }
                file.seek(SeekFrom::Start(at + start))
                    .map_err(OpenError::Io)?;
                file.take(len)
                    .read_to_end(&mut out)
                    .map_err(OpenError::Io)?;
            }
            Data::Zip { archive, prefix } => {
                let mut entry = archive
                    .by_name(&format!("{prefix}{key}"))
                    .map_err(|_| missing())?;
                std::io::copy(&mut (&mut entry).take(start), &mut std::io::sink())
                    .map_err(OpenError::Io)?;
                entry
                    .take(len)
                    .read_to_end(&mut out)
                    .map_err(OpenError::Io)?;
            }
        }
        if out.len() as u64 != len {
            return Err(short());
        }
        Ok(out)
    }
}

fn is_contiguous(shape: &[usize], stride: &[usize]) -> bool {
    let mut expected = 1;
    for (&d, &s) in shape.iter().zip(stride).rev() {
        if d != 1 && s != expected {
            return false;
        }
        expected *= d;
    }
    true
}

enum OpenError {
    Io(std::io::Error),
    Format(Reason),
}

impl From<Reason> for OpenError {
    fn from(reason: Reason) -> Self {
        Self::Format(reason)
    }
}

fn open_legacy(mut r: BufReader<File>) -> Result<(Value, Data), OpenError> {
    let not_torch = || "neither a zip archive nor a legacy torch.save file".to_owned();
    let magic = Unpickler::new().load(&mut r).map_err(|_| not_torch())?;
    if magic != Value::BigInt(LEGACY_MAGIC) {
        return Err(not_torch().into());
    }
    let version = Unpickler::new().load(&mut r)?;
    if version != Value::Int(1001) {
        return Err(format!("legacy torch.save protocol {version:?} (1001 is known)").into());
    }
    let _sys_info = Unpickler::new().load(&mut r)?;
    let mut unpickler = Unpickler::new();
    let root = unpickler.load(&mut r)?;
    // Element sizes of the storages, from the persistent ids met in the dict.
    let sizes = unpickler.storages;
    let Value::List(keys) = Unpickler::new().load(&mut r)? else {
        return Err("the legacy file's storage key list is not a list"
            .to_owned()
            .into());
    };
    let mut offsets = HashMap::new();
    let file_len = r.get_ref().metadata().map_err(OpenError::Io)?.len();
    for key in keys {
        let Value::Str(key) = key else {
            return Err("a legacy storage key that is not a string"
                .to_owned()
                .into());
        };
        let elem = *sizes
            .get(&key)
            .ok_or_else(|| format!("legacy storage `{key}` is named by no persistent id"))?;
        let numel = u64::from_le_bytes(read_array(&mut r)?);
        let at = r.stream_position().map_err(OpenError::Io)?;
        let len = numel
            .checked_mul(elem)
            .filter(|&l| at.saturating_add(l) <= file_len);
        let len =
            len.ok_or_else(|| format!("legacy storage `{key}` runs past the end of the file"))?;
        offsets.insert(key, (at, len));
        r.seek_relative(len as i64).map_err(OpenError::Io)?;
    }
    Ok((root, Data::Legacy { file: r, offsets }))
}

fn open_zip(r: BufReader<File>) -> Result<(Value, Data), OpenError> {
    let mut archive = zip::ZipArchive::new(r).map_err(|e| format!("a broken zip archive: {e}"))?;
    let pkl = archive
        .file_names()
        .find(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .map(str::to_owned)
        .ok_or_else(|| {
            "a zip archive without `<name>/data.pkl`: not a torch.save file".to_owned()
        })?;
    let prefix = format!("{}data/", &pkl[..pkl.len() - "data.pkl".len()]);
    let root = {
        let entry = archive
            .by_name(&pkl)
            .map_err(|e| format!("cannot read `{pkl}`: {e}"))?;
        Unpickler::new().load(&mut BufReader::new(entry))?
    };
    Ok((
        root,
        Data::Zip {
            archive: Box::new(archive),
            prefix,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(bytes: &[u8]) -> Result<Value, Reason> {
        Unpickler::new().load(&mut &bytes[..])
    }

    #[test]
    fn small_values() {
        // {'a': (1, -2, 'x'), 'b': [None, True]} as pickled by Python 3, protocol 2.
        let p = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01J\xfe\xff\xff\xffX\x01\x00\x00\x00xq\x02\x87q\x03X\x01\x00\x00\x00bq\x04]q\x05(N\x88eu.";
        let v = run(p).unwrap();
        let expected = Value::Dict(vec![
            (
                Value::Str("a".into()),
                Value::Tuple(vec![Value::Int(1), Value::Int(-2), Value::Str("x".into())]),
            ),
            (
                Value::Str("b".into()),
                Value::List(vec![Value::None, Value::Bool(true)]),
            ),
        ]);
        assert_eq!(v, expected);
    }

    #[test]
    fn legacy_magic_is_a_long1() {
        let p = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.";
        assert_eq!(run(p).unwrap(), Value::BigInt(LEGACY_MAGIC));
    }

    #[test]
    fn malformed_pickles_are_errors_not_panics() {
        for p in [
            &b""[..],
            b"\x80\x02",
            b"t.",
            b"(.",
            b"u.",
            b"h\x07.",
            b"X\xff\xff\xff\xff",
            b"\xff",
            b"cmod\n",
            b"K\x01K\x02R.",
            b"K\x01Q.",
        ] {
            assert!(run(p).is_err(), "{p:?}");
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut p = b"N".to_vec();
        p.extend(std::iter::repeat_n(0x85u8, 200));
        p.push(b'.');
        assert!(run(&p).unwrap_err().contains("nested"));
    }

    #[test]
    fn memo_bombs_are_refused() {
        // Each level doubles the copied value: [x, x] memoized, 40 levels.
        let mut p = b"N".to_vec();
        for i in 0..40u8 {
            p.extend([b'q', i, b'h', i, 0x86]);
        }
        p.push(b'.');
        // Either too deep or too many copies; never an allocation of 2^40 values.
        assert!(run(&p).is_err());
    }

    #[test]
    fn contiguity() {
        assert!(is_contiguous(&[2, 3], &[3, 1]));
        assert!(is_contiguous(&[1, 3], &[7, 1]));
        assert!(!is_contiguous(&[2, 3], &[1, 2]));
    }
}
