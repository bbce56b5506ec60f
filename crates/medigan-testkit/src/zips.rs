//! Zip archives built in memory for tests: ordinary packages and hostile ones (`../` entries,
//! absolute paths, symlinks, highly compressible "bombs").
//!
//! Entry names are written exactly as given (no normalisation), so a test can produce the
//! archives that a careless unzip would mishandle.

use std::io::{Cursor, Write};

use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

/// Builds a zip archive in memory, entry by entry.
///
/// The builder panics on write errors: it only writes to memory, so an error is a bug in the
/// test, not a condition to handle.
///
/// ```
/// use medigan_testkit::ZipBuilder;
/// let bytes = ZipBuilder::new()
///     .file("medigan.json", b"{}")
///     .dir("weights/")
///     .file("weights/model.onnx", &[0u8; 16])
///     .finish();
/// assert_eq!(&bytes[..2], b"PK");
/// ```
pub struct ZipBuilder {
    writer: zip::ZipWriter<Cursor<Vec<u8>>>,
}

impl std::fmt::Debug for ZipBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ZipBuilder")
    }
}

impl Default for ZipBuilder {
    fn default() -> Self {
        ZipBuilder::new()
    }
}

impl ZipBuilder {
    /// An empty archive.
    pub fn new() -> ZipBuilder {
        ZipBuilder {
            writer: zip::ZipWriter::new(Cursor::new(Vec::new())),
        }
    }

    /// Adds a deflate-compressed file entry called `name` (written verbatim, so `../evil` and
    /// `/etc/passwd` are possible).
    pub fn file(self, name: &str, contents: &[u8]) -> ZipBuilder {
        self.entry(name, contents, CompressionMethod::Deflated)
    }

    /// Adds an uncompressed (stored) file entry called `name`.
    pub fn stored(self, name: &str, contents: &[u8]) -> ZipBuilder {
        self.entry(name, contents, CompressionMethod::Stored)
    }

    /// Adds a directory entry (`name` should end with `/`).
    pub fn dir(mut self, name: &str) -> ZipBuilder {
        self.writer
            .add_directory(name, SimpleFileOptions::default())
            .expect("zip builder: add directory");
        self
    }

    /// Adds a symbolic link entry `name` pointing at `target` (unix mode `0o120777`).
    pub fn symlink(mut self, name: &str, target: &str) -> ZipBuilder {
        self.writer
            .add_symlink(name, target, SimpleFileOptions::default())
            .expect("zip builder: add symlink");
        self
    }

    /// The finished archive.
    pub fn finish(self) -> Vec<u8> {
        self.writer
            .finish()
            .expect("zip builder: finish")
            .into_inner()
    }

    fn entry(mut self, name: &str, contents: &[u8], method: CompressionMethod) -> ZipBuilder {
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(contents.len() as u64 >= u64::from(u32::MAX));
        self.writer
            .start_file(name, options)
            .expect("zip builder: start file");
        self.writer
            .write_all(contents)
            .expect("zip builder: write file");
        self
    }
}

/// An archive with one deflated file entry per `(name, contents)` pair.
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    entries
        .iter()
        .fold(ZipBuilder::new(), |zip, (name, contents)| {
            zip.file(name, contents)
        })
        .finish()
}

/// An archive with a single entry `name` of `size` zero bytes, deflated: a few kilobytes that
/// unpack to `size` bytes (deflate reaches about 1000:1 on such input).
pub fn zip_bomb(name: &str, size: usize) -> Vec<u8> {
    ZipBuilder::new().file(name, &vec![0u8; size]).finish()
}

/// An archive holding two entries both called `name` (`first`, then `second`), which no zip
/// writer makes on purpose: the second is written under a stand-in name of the same length,
/// renamed afterwards in its local and central headers.
pub fn zip_with_duplicate(name: &str, first: &[u8], second: &[u8]) -> Vec<u8> {
    assert!(!name.is_empty() && !name.contains('#'), "a plain name");
    let stand_in = format!("{}#", &name[..name.len() - 1]);
    let mut bytes = zip_of(&[(name, first), (&stand_in, second)]);
    let (from, to) = (stand_in.as_bytes(), name.as_bytes());
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(from.len()).position(|w| w == from) {
        let start = at + found;
        bytes[start..start + to.len()].copy_from_slice(to);
        at = start + to.len();
    }
    bytes
}
