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
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::InceptionError;
use super::pickle::*;

/// The magic number that opens a legacy `torch.save` file.
const LEGACY_MAGIC: i128 = 0x1950a86a20f9469cfc6c;
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
