//! ONNX graphs whose weights live in external-data files (a graph over protobuf's 2 GB limit:
//! diffusion UNets and VAEs such as MAISI's or Stable Diffusion's). The graph names each file
//! in its tensors' `external_data` (`location`, relative to the graph's folder); the package's
//! `execution.onnx.external_data` (and `diffusion.decoder.external_data`) lists each file with
//! its size and sha256.
//!
//! Before a graph is loaded, [`check_external_data`] reads the locations the graph names (a
//! streaming walk of the protobuf that skips tensor bytes, so a large inline graph costs little)
//! and refuses: a location that leaves the package folder (`..`, an absolute path), a location
//! the declaration does not list, a declared file the graph does not name, and a declared file
//! that is missing, a symbolic link, or of another size or sha256. [`check_locations`] (run by
//! both backends on every graph, declared or not: a user's feature extractor) refuses only the
//! locations that leave the graph's folder. onnxruntime resolves the locations against the
//! graph's folder (`commit_from_file`); tract too, when given the folder (`Onnx::parse`).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::RuntimeError;
use crate::catalog::{ExternalData, graph_path_problem};

/// Nested graphs deeper than this (If/Loop bodies in bodies) are refused.
const MAX_DEPTH: usize = 64;
/// Longest accepted key or value of a tensor's `external_data` entry.
const MAX_ENTRY_BYTES: u64 = 4096;
/// Most distinct external-data files one graph may name.
const MAX_LOCATIONS: usize = 4096;

/// The messages of the ONNX protobuf that can hold tensors, and where.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Message {
    Model,
    Graph,
    Node,
    Attribute,
    Tensor,
    SparseTensor,
    Function,
    TrainingInfo,
    Entry,
}

impl Message {
    /// The message a length-delimited `field` of `self` holds, if it can lead to a tensor.
    fn child(self, field: u64) -> Option<Message> {
        use Message::*;
        match (self, field) {
            (Model, 7) => Some(Graph),
            (Model, 20) => Some(TrainingInfo),
            (Model, 25) => Some(Function),
            (TrainingInfo, 1 | 2) => Some(Graph),
            (Graph, 1) => Some(Node),
            (Graph, 5) => Some(Tensor),
            (Graph, 15) => Some(SparseTensor),
            (Function, 7) => Some(Node),
            (Function, 11) => Some(Attribute),
            (Node, 5) => Some(Attribute),
            (Attribute, 5 | 10) => Some(Tensor),
            (Attribute, 6 | 11) => Some(Graph),
            (Attribute, 22 | 23) => Some(SparseTensor),
            (SparseTensor, 1 | 2) => Some(Tensor),
            (Tensor, 13) => Some(Entry),
            _ => None,
        }
    }
}

/// A position-counting reader over the graph file.
struct Wire {
    reader: BufReader<File>,
    pos: u64,
}

impl Wire {
    fn byte(&mut self) -> std::io::Result<u8> {
        let mut b = [0u8; 1];
        self.reader.read_exact(&mut b)?;
        self.pos += 1;
        Ok(b[0])
    }

    fn varint(&mut self) -> std::io::Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed("a varint longer than 10 bytes"))
    }

    fn skip(&mut self, n: u64) -> std::io::Result<()> {
        let step = i64::try_from(n).map_err(|_| malformed("a field longer than the file"))?;
        self.reader.seek_relative(step)?;
        self.pos += n;
        Ok(())
    }

    fn bytes(&mut self, n: u64) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; n as usize];
        self.reader.read_exact(&mut buf)?;
        self.pos += n;
        Ok(buf)
    }
}

fn malformed(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("not a valid ONNX protobuf: {what}"),
    )
}

/// The distinct external-data locations the graph's tensors name, in the order first met.
pub fn graph_locations(graph: &Path) -> Result<Vec<String>, RuntimeError> {
    let refuse = |problem: String| RuntimeError::ExternalData {
        graph: graph.to_path_buf(),
        problem,
    };
    let file = File::open(graph).map_err(|e| refuse(format!("cannot read the graph: {e}")))?;
    let len = file
        .metadata()
        .map_err(|e| refuse(format!("cannot read the graph: {e}")))?
        .len();
    let mut wire = Wire {
        reader: BufReader::with_capacity(64 * 1024, file),
        pos: 0,
    };
    let mut found = Vec::new();
    walk(&mut wire, len, Message::Model, 0, &mut found).map_err(|e| refuse(e.to_string()))?;
    Ok(found)
}

/// Walks one message ending at byte `end`, collecting the `location` of every tensor's
/// `external_data` into `found`.
fn walk(
    wire: &mut Wire,
    end: u64,
    message: Message,
    depth: usize,
    found: &mut Vec<String>,
) -> std::io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(malformed("graphs nested too deep"));
    }
    let (mut key, mut value) = (None::<Vec<u8>>, None::<Vec<u8>>);
    while wire.pos < end {
        let tag = wire.varint()?;
        let field = tag >> 3;
        match tag & 7 {
            0 => {
                wire.varint()?;
            }
            1 => wire.skip(8)?,
            5 => wire.skip(4)?,
            2 => {
                let len = wire.varint()?;
                let stop = wire.pos.checked_add(len).filter(|&s| s <= end);
                let stop = stop.ok_or_else(|| malformed("a field runs past its message"))?;
                match (message, message.child(field)) {
                    (Message::Entry, _) if field == 1 || field == 2 => {
                        if len > MAX_ENTRY_BYTES {
                            return Err(malformed("an external_data entry over 4096 bytes"));
                        }
                        let bytes = wire.bytes(len)?;
                        if field == 1 {
                            key = Some(bytes);
                        } else {
                            value = Some(bytes);
                        }
                    }
                    (_, Some(child)) => walk(wire, stop, child, depth + 1, found)?,
                    (_, None) => wire.skip(len)?,
                }
            }
            _ => return Err(malformed("a group or an unknown wire type")),
        }
    }
    if wire.pos != end {
        return Err(malformed("a message runs past its end"));
    }
    if message == Message::Entry && key.as_deref() == Some(b"location".as_slice()) {
        let location = String::from_utf8(value.unwrap_or_default())
            .map_err(|_| malformed("an external_data location that is not UTF-8"))?;
        if !found.contains(&location) {
            if found.len() >= MAX_LOCATIONS {
                return Err(malformed("more than 4096 external-data files"));
            }
            found.push(location);
        }
    }
    Ok(())
}

/// Why an external-data `location` (as the graph names it) is not a plain relative path that
/// stays in the graph's folder, if it is not.
fn location_problem(location: &str) -> Option<&'static str> {
    if location.contains('\\') || location.contains(':') {
        return Some("it holds `\\` or `:` (a Windows path)");
    }
    graph_path_problem(location)
}

/// Refuses a graph that names an external-data file outside its own folder (`..`, an absolute
/// path), before any backend reads it; returns the locations it names.
pub fn check_locations(graph: &Path) -> Result<Vec<String>, RuntimeError> {
    let locations = graph_locations(graph)?;
    for location in &locations {
        if let Some(reason) = location_problem(location) {
            return Err(RuntimeError::ExternalData {
                graph: graph.to_path_buf(),
                problem: format!(
                    "the graph names the external-data file `{location}`, refused: {reason}"
                ),
            });
        }
    }
    Ok(locations)
}

/// Checks the external-data files of the graph `graph` (inside `package_dir`) against the
/// declared list (see the module docs). `recorded` gives the sha256 of a file (by its path
/// relative to `package_dir`, `/`-separated) when the store already holds it checked, so a
/// multi-GB file is not hashed again; other files are hashed.
pub fn check_external_data(
    package_dir: &Path,
    graph: &str,
    field: &str,
    declared: &[ExternalData],
    recorded: &dyn Fn(&str) -> Option<(u64, String)>,
) -> Result<(), RuntimeError> {
    let graph_file = super::graph_path_of(package_dir, graph)?;
    let refuse = |problem: String| RuntimeError::ExternalData {
        graph: graph_file.clone(),
        problem,
    };
    for data in declared {
        if let Some(reason) = location_problem(&data.file) {
            return Err(refuse(format!(
                "{field} lists `{}`, refused: {reason}",
                data.file
            )));
        }
    }
    if !graph_file.is_file() {
        if declared.is_empty() {
            // Nothing declared: the backend reports the missing graph when it loads it.
            return Ok(());
        }
        return Err(RuntimeError::GraphMissing { graph: graph_file });
    }
    let locations = check_locations(&graph_file)?;
    if let Some(extra) = locations
        .iter()
        .find(|l| !declared.iter().any(|d| &d.file == *l))
    {
        return Err(refuse(format!(
            "the graph names the external-data file `{extra}`, which {field} does not list \
             (declared: {})",
            names(declared)
        )));
    }
    if let Some(unused) = declared.iter().find(|d| !locations.contains(&d.file)) {
        return Err(refuse(format!(
            "{field} lists `{}`, which the graph does not name (it names: {})",
            unused.file,
            if locations.is_empty() {
                "none".to_string()
            } else {
                locations.join(", ")
            }
        )));
    }
    let folder = Path::new(graph).parent().unwrap_or(Path::new(""));
    for data in declared {
        let relative = folder.join(&data.file);
        let path = package_dir.join(&relative);
        let key = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        check_file(&path, &key, data, recorded).map_err(|problem| {
            refuse(format!(
                "external-data file `{}` ({field}): {problem}",
                data.file
            ))
        })?;
    }
    Ok(())
}

fn names(declared: &[ExternalData]) -> String {
    if declared.is_empty() {
        return "none".into();
    }
    declared
        .iter()
        .map(|d| d.file.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One declared file: a plain file of the declared size and sha256.
fn check_file(
    path: &Path,
    key: &str,
    data: &ExternalData,
    recorded: &dyn Fn(&str) -> Option<(u64, String)>,
) -> Result<(), String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("missing from the package".into());
        }
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    if meta.file_type().is_symlink() {
        return Err("a symbolic link: a package holds plain files only".into());
    }
    if !meta.is_file() {
        return Err("not a file".into());
    }
    if meta.len() != data.size {
        return Err(format!(
            "{} bytes, declared {} (truncated or replaced)",
            meta.len(),
            data.size
        ));
    }
    let sha256 = match recorded(key).filter(|(size, _)| *size == data.size) {
        Some((_, sha256)) => sha256,
        None => sha256_file(path).map_err(|e| format!("cannot read it: {e}"))?,
    };
    if sha256 != data.sha256 {
        return Err(format!(
            "sha256 {sha256}, declared {} (corrupt or replaced)",
            data.sha256
        ));
    }
    Ok(())
}

/// sha256 of a file, read in 1 MiB blocks.
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The declaration of the external-data files `graph` names (what a converter writes into
/// `external_data`): each located file's size and sha256. Refuses a location that leaves the
/// graph's folder or a file that is missing.
pub fn describe_external_data(graph: &Path) -> Result<Vec<ExternalData>, RuntimeError> {
    let folder = graph.parent().map(Path::to_path_buf).unwrap_or_default();
    check_locations(graph)?
        .into_iter()
        .map(|file| {
            let path: PathBuf = folder.join(&file);
            let refuse = |e: std::io::Error| RuntimeError::ExternalData {
                graph: graph.to_path_buf(),
                problem: format!("cannot read its external-data file `{file}`: {e}"),
            };
            let size = std::fs::metadata(&path).map_err(refuse)?.len();
            let sha256 = sha256_file(&path).map_err(refuse)?;
            Ok(ExternalData { file, size, sha256 })
        })
        .collect()
}

#[cfg(all(test, feature = "tract"))]
mod tests {
    use prost::Message as _;
    use tract_onnx::pb::{
        AttributeProto, GraphProto, ModelProto, NodeProto, StringStringEntryProto, TensorProto,
    };

    use super::*;

    fn tensor(location: &str) -> TensorProto {
        TensorProto {
            name: format!("t-{location}"),
            raw_data: vec![7; 300],
            external_data: vec![StringStringEntryProto {
                key: "location".into(),
                value: location.into(),
            }],
            ..TensorProto::default()
        }
    }

    /// A model with one initializer at the top, and one tensor in an If branch's graph.
    fn model(top: &str, nested: &str) -> Vec<u8> {
        let branch = GraphProto {
            initializer: vec![tensor(nested)],
            ..GraphProto::default()
        };
        let node = NodeProto {
            op_type: "If".into(),
            attribute: vec![AttributeProto {
                name: "then_branch".into(),
                g: Some(branch),
                ..AttributeProto::default()
            }],
            ..NodeProto::default()
        };
        ModelProto {
            ir_version: 8,
            graph: Some(GraphProto {
                node: vec![node],
                initializer: vec![tensor(top), TensorProto::default()],
                ..GraphProto::default()
            }),
            ..ModelProto::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn locations_are_found_in_nested_graphs_and_named_once() {
        let dir = tempfile::tempdir().unwrap();
        let graph = dir.path().join("g.onnx");
        std::fs::write(&graph, model("a.data", "sub/b.data")).unwrap();
        // In file order: the nodes (with the If branch) come before the initializers.
        assert_eq!(graph_locations(&graph).unwrap(), ["sub/b.data", "a.data"]);
        std::fs::write(&graph, model("a.data", "a.data")).unwrap();
        assert_eq!(graph_locations(&graph).unwrap(), ["a.data"]);
    }

    #[test]
    fn an_escaping_location_anywhere_in_the_graph_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let graph = dir.path().join("g.onnx");
        for bad in ["../b.data", "/etc/passwd", "sub/../../b.data", "C:\\b.data"] {
            std::fs::write(&graph, model("a.data", bad)).unwrap();
            let error = check_locations(&graph).unwrap_err().to_string();
            assert!(error.contains(&format!("`{bad}`, refused")), "{error}");
        }
    }

    #[test]
    fn a_truncated_graph_is_an_error_not_a_guess() {
        let dir = tempfile::tempdir().unwrap();
        let graph = dir.path().join("g.onnx");
        let bytes = model("a.data", "b.data");
        std::fs::write(&graph, &bytes[..bytes.len() - 3]).unwrap();
        let error = graph_locations(&graph).unwrap_err().to_string();
        assert!(error.contains("not a valid ONNX protobuf"), "{error}");
    }

    #[test]
    fn the_declaration_of_a_graph_lists_its_files_with_size_and_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let graph = dir.path().join("g.onnx");
        std::fs::write(&graph, model("a.data", "a.data")).unwrap();
        std::fs::write(dir.path().join("a.data"), b"abc").unwrap();
        let declared = describe_external_data(&graph).unwrap();
        assert_eq!(
            declared,
            [ExternalData {
                file: "a.data".into(),
                size: 3,
                sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into(),
            }]
        );
        let none = |_: &str| None;
        check_external_data(dir.path(), "g.onnx", "f", &declared, &none).unwrap();
        // A recorded hash stands for the file; a wrong one is caught.
        let wrong = |_: &str| Some((3, "0".repeat(64)));
        let error = check_external_data(dir.path(), "g.onnx", "f", &declared, &wrong)
            .unwrap_err()
            .to_string();
        assert!(error.contains("corrupt or replaced"), "{error}");
    }
}
