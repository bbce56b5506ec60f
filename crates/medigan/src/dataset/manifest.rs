//! Reading the manifests that runs write (`output::manifest`): finding them in a dataset folder,
//! their header line, and their file lines, with bounds on what untrusted bytes can make us hold.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::generate::Shard;
use crate::output::MANIFEST_NAME;

/// Longest manifest line read (a header may hold a `--latent`); longer lines are refused.
pub const MAX_LINE_BYTES: u64 = 16 << 20;
/// How deep below the dataset folder manifests are looked for (shards copied from several
/// machines into one folder each, say).
pub const MAX_DEPTH: usize = 4;

/// A manifest found in a dataset folder, before it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// Its path.
    pub path: PathBuf,
    /// Its path relative to the dataset folder, with `/` (how reports name it).
    pub name: String,
    /// The shard its file name claims; `None` for `manifest.jsonl` (a whole run).
    pub shard: Option<Shard>,
}

/// A manifest name that is not a valid one (`manifest-shard-0-of-4.jsonl`, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadName {
    /// Its path relative to the dataset folder.
    pub name: String,
}

/// The manifests in `dir` and its subfolders (to [`MAX_DEPTH`], hidden folders left out,
/// symlinks not followed, regular files only: see [`crate::walk`]), and the names that look
/// like shard manifests but claim no valid shard.
pub fn locate(dir: &Path) -> std::io::Result<(Vec<Located>, Vec<BadName>)> {
    let select = |path: &Path| {
        path.file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| manifest_shard(name).is_some())
    };
    let listing = crate::walk::walk(
        dir,
        &crate::walk::Walk {
            links: crate::walk::Links::Refuse,
            max_depth: MAX_DEPTH,
            skip_hidden: true,
            select: &select,
        },
    )?;
    let mut found = Vec::new();
    let mut bad = Vec::new();
    for file in listing.files {
        let file_name = file.relative.rsplit('/').next().unwrap_or_default();
        match manifest_shard(file_name) {
            Some(Ok(shard)) => found.push(Located {
                path: file.path,
                name: file.relative,
                shard,
            }),
            Some(Err(())) => bad.push(BadName {
                name: file.relative,
            }),
            None => {}
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    bad.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((found, bad))
}

/// `Some(Ok(None))` for `manifest.jsonl`, `Some(Ok(Some(K/N)))` for
/// `manifest-shard-K-of-N.jsonl`, `Some(Err)` for such a name with an invalid shard, `None`
/// for any other file.
fn manifest_shard(file_name: &str) -> Option<Result<Option<Shard>, ()>> {
    if file_name == MANIFEST_NAME {
        return Some(Ok(None));
    }
    let middle = file_name
        .strip_prefix("manifest-shard-")?
        .strip_suffix(".jsonl")?;
    let parsed = middle
        .split_once("-of-")
        .and_then(|(k, n)| format!("{k}/{n}").parse::<Shard>().ok());
    Some(parsed.map(Some).ok_or(()))
}

/// The first line of a run's manifest (the fields `output::ManifestHeader` writes).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RunHeader {
    /// `medigan-rs` and its version.
    #[serde(default)]
    pub tool: String,
    /// The model id.
    pub model_id: String,
    /// The model version, if declared.
    #[serde(default)]
    pub model_version: Option<String>,
    /// sha256 of the model package.
    pub package_sha256: String,
    /// The run seed.
    pub seed: u64,
    /// Samples in the whole run (all shards).
    pub num_samples: u64,
    /// `K/N` for a shard.
    #[serde(default)]
    pub shard: Option<String>,
    /// Output format.
    pub format: String,
    /// How values were mapped to the file's type.
    #[serde(default)]
    pub value_mapping: Option<String>,
    /// The other arguments of the run.
    #[serde(default)]
    pub arguments: Value,
}

impl RunHeader {
    /// The arguments that decide what the files hold: all but `batch_size`, which does not.
    pub fn output_arguments(&self) -> Value {
        let mut arguments = self.arguments.clone();
        if let Some(map) = arguments.as_object_mut() {
            map.remove("batch_size");
        }
        arguments
    }
}

/// One file line of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FileEntry {
    /// The file name, relative to the manifest's folder.
    pub file: String,
    /// The sample index.
    pub index: u64,
    /// `image`, `mask`, or `tar` for a tar of samples (`--pack tar`).
    #[serde(default = "image_part")]
    pub part: String,
    /// For a tar: the samples it holds, `[first, end)`, `first` being `index`.
    #[serde(default)]
    pub samples: Option<[u64; 2]>,
    /// sha256 of the file's bytes (64 hex digits).
    pub sha256: String,
}

fn image_part() -> String {
    "image".into()
}

impl FileEntry {
    /// Why the entry cannot be trusted as it is (an unsafe name, a malformed hash), if so.
    pub fn defect(&self) -> Option<String> {
        let name = &self.file;
        if name.is_empty()
            || name == "."
            || name == ".."
            || name.contains(['/', '\\', '\0'])
            || name.chars().any(char::is_control)
        {
            return Some(format!(
                "file name `{}` is not a plain file name in the manifest's folder",
                name.escape_debug()
            ));
        }
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(format!(
                "sha256 `{}` of `{name}` is not 64 hex digits",
                self.sha256.escape_debug()
            ));
        }
        if self.part == "tar" && self.samples().is_none() {
            return Some(format!(
                "tar `{name}` does not say which samples it holds (\"samples\": [first, end) \
                 with first = its index {})",
                self.index
            ));
        }
        None
    }

    /// The samples a tar entry holds, when it names a valid range starting at its index.
    pub fn samples(&self) -> Option<std::ops::Range<u64>> {
        match self.samples {
            Some([first, end]) if first == self.index && first < end => Some(first..end),
            _ => None,
        }
    }
}

/// A manifest read in full: its header, its file lines and the sha256 of its bytes.
#[derive(Debug, Clone)]
pub struct RunManifest {
    /// The header line.
    pub header: RunHeader,
    /// The file lines, in file order.
    pub entries: Vec<FileEntry>,
    /// sha256 of the manifest's bytes.
    pub sha256: String,
}

/// Reads the header line of a manifest.
pub fn read_header(path: &Path) -> Result<RunHeader, String> {
    let mut reader = open(path)?;
    let mut line = Vec::new();
    match next_line(&mut reader, &mut line, 1)? {
        true => parse(&line, 1),
        false => Err("it is empty (no header line)".into()),
    }
}

/// Reads a whole manifest; the error says which line is wrong and how.
pub fn read(path: &Path) -> Result<RunManifest, String> {
    let mut reader = open(path)?;
    let mut hasher = Sha256::new();
    let mut line = Vec::new();
    if !next_line(&mut reader, &mut line, 1)? {
        return Err("it is empty (no header line)".into());
    }
    hasher.update(&line);
    let header: RunHeader = parse(&line, 1)?;
    let mut entries = Vec::new();
    let mut number = 1u64;
    loop {
        number += 1;
        if !next_line(&mut reader, &mut line, number)? {
            break;
        }
        hasher.update(&line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        entries.push(parse(&line, number)?);
    }
    Ok(RunManifest {
        header,
        entries,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Opens a manifest: a regular file (never a FIFO or device, which would block or never end),
/// a symlink not followed.
fn open(path: &Path) -> Result<BufReader<File>, String> {
    crate::files::open_regular(path, crate::files::Links::Refuse, None)
        .map(|(file, _)| BufReader::new(file))
        .map_err(|e| format!("cannot open it: {e}"))
}

/// Reads line `number` into `line` (with its newline); false at the end of the file.
fn next_line(
    reader: &mut BufReader<File>,
    line: &mut Vec<u8>,
    number: u64,
) -> Result<bool, String> {
    line.clear();
    let read = reader
        .by_ref()
        .take(MAX_LINE_BYTES + 1)
        .read_until(b'\n', line)
        .map_err(|e| format!("cannot read line {number}: {e}"))?;
    if read as u64 > MAX_LINE_BYTES {
        return Err(format!(
            "line {number} is longer than {} MiB",
            MAX_LINE_BYTES >> 20
        ));
    }
    Ok(read > 0)
}

fn parse<T: for<'de> Deserialize<'de>>(line: &[u8], number: u64) -> Result<T, String> {
    serde_json::from_slice(line).map_err(|e| {
        let what = if number == 1 {
            "the header"
        } else {
            "a file line"
        };
        format!("line {number} is not {what} of a medigan manifest: {e}")
    })
}

/// The sample indices a manifest's name claims in a run of `num_samples`.
pub fn claimed_range(shard: Option<Shard>, num_samples: u64) -> Range<u64> {
    match shard {
        Some(shard) => shard.range(num_samples),
        None => 0..num_samples,
    }
}

/// sha256 of a listed file's bytes, read in blocks. Only a regular file is read (a link to one
/// is followed): a FIFO or a link to `/dev/zero` is refused instead of blocking or never ending.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let (mut file, _) = crate::files::open_regular(path, crate::files::Links::Follow, None)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names_give_their_shard() {
        assert_eq!(manifest_shard("manifest.jsonl"), Some(Ok(None)));
        assert_eq!(
            manifest_shard("manifest-shard-2-of-4.jsonl"),
            Some(Ok(Some(Shard { index: 2, count: 4 })))
        );
        assert_eq!(manifest_shard("manifest-shard-0-of-4.jsonl"), Some(Err(())));
        assert_eq!(manifest_shard("manifest-shard-x.jsonl"), Some(Err(())));
        assert_eq!(manifest_shard("00001.png"), None);
        assert_eq!(manifest_shard(".manifest.jsonl.part"), None);
    }

    #[test]
    fn unsafe_names_and_bad_hashes_are_defects() {
        let entry = |file: &str, sha256: &str| FileEntry {
            file: file.into(),
            index: 0,
            part: "image".into(),
            samples: None,
            sha256: sha256.into(),
        };
        let good = "a".repeat(64);
        assert_eq!(entry("00000.png", &good).defect(), None);
        for name in ["../x.png", "/etc/passwd", "a/b.png", "..", "", "a\\b"] {
            assert!(entry(name, &good).defect().is_some(), "{name}");
        }
        assert!(entry("00000.png", "abc").defect().is_some());
        let tar = |samples| FileEntry {
            part: "tar".into(),
            samples,
            ..entry("shard-000000.tar", &good)
        };
        assert_eq!(tar(Some([0, 4])).defect(), None);
        for bad in [None, Some([1, 4]), Some([0, 0])] {
            assert!(tar(bad).defect().is_some(), "{bad:?}");
        }
    }
}
