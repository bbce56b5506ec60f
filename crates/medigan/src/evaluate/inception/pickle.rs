//! The pickle machine under the state-dict reader (`pth.rs`): the opcodes of protocols <= 5
//! that `torch.save` writes, run on a stack and a memo with every length, depth and count
//! capped ([`MAX_STRING`], [`MAX_DEPTH`], [`MAX_COPIED_NODES`], [`MAX_ITEMS`]), and the one
//! `reduce` a state dict needs (`torch._utils._rebuild_tensor_v2` on persistent storage ids).
//! Nothing in the file is executed; unknown globals become opaque values.

use std::collections::HashMap;
use std::io::{BufRead, Read};

/// Longest string or byte string accepted in a pickle.
pub(super) const MAX_STRING: u64 = 16 << 20;
/// Deepest nesting of containers accepted in a pickle.
pub(super) const MAX_DEPTH: usize = 64;
/// Most values that may be copied out of the memo (guards against "billion laughs" pickles).
pub(super) const MAX_COPIED_NODES: usize = 10_000_000;
/// Longest stack or memo accepted.
pub(super) const MAX_ITEMS: usize = 10_000_000;

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
    pub(super) fn from_storage_class(name: &str) -> Option<Self> {
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

    pub(super) fn size(self) -> u64 {
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
pub(super) struct StorageRef {
    pub(super) key: String,
    pub(super) dtype: DType,
    /// Elements in the storage, as the persistent id says.
    pub(super) numel: u64,
    /// Element offset of a legacy storage view inside its root storage.
    pub(super) view_offset: u64,
}

/// A tensor of the state dict, its data not read yet.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TensorRef {
    pub(super) storage: StorageRef,
    /// Element offset into the storage.
    pub(super) offset: u64,
    pub(super) shape: Vec<usize>,
    pub(super) stride: Vec<usize>,
}

/// A value of the pickle virtual machine.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
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
    pub(super) fn kind(&self) -> &'static str {
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
    pub(super) fn depth(&self) -> usize {
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
    pub(super) fn nodes(&self) -> usize {
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

pub(super) type Reason = String;

/// The pickle virtual machine, restricted to what state dicts use.
pub(super) struct Unpickler {
    pub(super) stack: Vec<Value>,
    /// Index in `stack` of each open mark.
    pub(super) marks: Vec<usize>,
    pub(super) memo: HashMap<u32, Value>,
    pub(super) copied_nodes: usize,
    /// Element size of every storage a persistent id named, by key.
    pub(super) storages: HashMap<String, u64>,
}

pub(super) fn read_array<const N: usize>(r: &mut impl Read) -> Result<[u8; N], Reason> {
    let mut buf = [0u8; N];
    r.read_exact(&mut buf).map_err(|e| truncated(&e))?;
    Ok(buf)
}

pub(super) fn truncated(e: &std::io::Error) -> Reason {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "the file ends inside a pickle".to_owned()
    } else {
        format!("read error: {e}")
    }
}

pub(super) fn read_bytes(r: &mut impl Read, len: u64) -> Result<Vec<u8>, Reason> {
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

pub(super) fn read_line(r: &mut impl BufRead) -> Result<String, Reason> {
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

pub(super) fn utf8(bytes: Vec<u8>) -> Result<Value, Reason> {
    String::from_utf8(bytes)
        .map(Value::Str)
        .map_err(|_| "a pickled string that is not UTF-8".to_owned())
}

impl Unpickler {
    pub(super) fn new() -> Self {
        Self {
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            copied_nodes: 0,
            storages: HashMap::new(),
        }
    }

    pub(super) fn push(&mut self, v: Value) -> Result<(), Reason> {
        if self.stack.len() >= MAX_ITEMS {
            return Err("a pickle stack deeper than the cap".to_owned());
        }
        if matches!(v, Value::Tuple(_) | Value::List(_) | Value::Dict(_)) && v.depth() > MAX_DEPTH {
            return Err(format!("pickled values nested deeper than {MAX_DEPTH}"));
        }
        self.stack.push(v);
        Ok(())
    }

    pub(super) fn pop(&mut self) -> Result<Value, Reason> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("a pickle pops past a mark".to_owned());
        }
        self.stack
            .pop()
            .ok_or_else(|| "a pickle pops an empty stack".to_owned())
    }

    pub(super) fn pop_mark(&mut self) -> Result<Vec<Value>, Reason> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| "a pickle closes a mark it never opened".to_owned())?;
        Ok(self.stack.split_off(m))
    }

    pub(super) fn top(&mut self) -> Result<&mut Value, Reason> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("a pickle reads past a mark".to_owned());
        }
        self.stack
            .last_mut()
            .ok_or_else(|| "a pickle reads an empty stack".to_owned())
    }

    pub(super) fn memo_put(&mut self, id: u32) -> Result<(), Reason> {
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

    pub(super) fn memo_get(&mut self, id: u32) -> Result<(), Reason> {
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

    pub(super) fn set_items(&mut self, items: Vec<Value>) -> Result<(), Reason> {
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

    pub(super) fn append_items(&mut self, items: Vec<Value>) -> Result<(), Reason> {
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
    pub(super) fn load(&mut self, r: &mut impl BufRead) -> Result<Value, Reason> {
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

    pub(super) fn memo_nodes(&mut self, v: &Value) -> Result<(), Reason> {
        self.copied_nodes = self.copied_nodes.saturating_add(v.nodes());
        if self.copied_nodes > MAX_COPIED_NODES {
            return Err("a pickle that copies more values than the cap".to_owned());
        }
        Ok(())
    }
}

/// A little-endian two's-complement integer of LONG1 / LONG4.
pub(super) fn long_value(bytes: &[u8]) -> Value {
    if bytes.len() > 16 {
        return Value::Opaque("int".to_owned());
    }
    let negative = bytes.last().is_some_and(|b| b & 0x80 != 0);
    let mut buf = [if negative { 0xff } else { 0 }; 16];
    buf[..bytes.len()].copy_from_slice(bytes);
    let v = i128::from_le_bytes(buf);
    i64::try_from(v).map_or(Value::BigInt(v), Value::Int)
}

pub(super) fn as_usize(v: &Value, what: &str) -> Result<usize, Reason> {
    match v {
        Value::Int(i) => usize::try_from(*i).map_err(|_| format!("{what} is negative: {i}")),
        other => Err(format!("{what} is a {}, not an int", other.kind())),
    }
}

pub(super) fn as_usizes(v: &Value, what: &str) -> Result<Vec<usize>, Reason> {
    match v {
        Value::Tuple(items) | Value::List(items) => {
            items.iter().map(|i| as_usize(i, what)).collect()
        }
        other => Err(format!("{what} is a {}, not a tuple", other.kind())),
    }
}

/// The storage a persistent id names: `('storage', torch.XStorage, key, location, numel[, view])`.
pub(super) fn storage_ref(pid: Value) -> Result<StorageRef, Reason> {
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
pub(super) fn reduce(callable: Value, args: Value) -> Result<Value, Reason> {
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
