//! The run manifest, medigan's own format, in one place: its name (`manifest.jsonl`,
//! `manifest-shard-K-of-N.jsonl`), its header line, its file lines, and the one bounded reader
//! of its JSON lines. The writer (`output::ManifestWriter`), `--resume` (the journal in
//! `crate::generate`), `dataset verify` and `dataset merge` all use these types, so a field is
//! added in one place and read back the way it was written.
//!
//! ```text
//! {"tool":"medigan-rs 0.1.0","model_id":"00001_DCGAN_MMG_CALC_ROI","model_version":null,"package_sha256":"…","seed":5,"num_samples":10,"shard":null,"format":"png","value_mapping":"…","arguments":{…}}
//! {"file":"00000.png","index":0,"seed":81,"part":"image","sha256":"9f2c…"}
//! {"file":"00000_mask.png","index":0,"seed":81,"part":"mask","label":"benign","sha256":"…"}
//! ```
//!
//! Bounds on what untrusted bytes can make a reader hold: a line is at most
//! [`MAX_LINE_BYTES`] (one cap for every reader: the journal, the manifest read by `--resume`,
//! and `dataset verify`), manifests are looked for [`MAX_DEPTH`] folders deep, and a shard count
//! above `generate::shard_env::MAX_SHARDS` is not a valid name.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::sample::Shard;

/// File name of an unsharded run's manifest.
pub const MANIFEST_NAME: &str = "manifest.jsonl";
/// Longest line (without its newline) read from a manifest or a run journal: a header may hold
/// a `--latent`. Longer lines are refused. The one cap of every manifest reader.
pub const MAX_LINE_BYTES: u64 = 16 << 20;
/// How deep below the dataset folder manifests are looked for (shards copied from several
/// machines into one folder each, say).
pub const MAX_DEPTH: usize = 4;

/// The name of a run's manifest: `manifest.jsonl`, or `manifest-shard-K-of-N.jsonl` for shard
/// K of N. [`fmt::Display`] writes it, [`FromStr`] reads it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestName {
    /// `manifest.jsonl`: a whole run.
    Whole,
    /// `manifest-shard-K-of-N.jsonl`.
    Shard(Shard),
}

/// Why a file name is not a [`ManifestName`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadManifestName {
    /// Not a manifest's name at all (`00001.png`).
    NotAManifest,
    /// Named like a shard's manifest, but claiming no valid shard (`manifest-shard-0-of-4.jsonl`).
    BadShard,
}

impl ManifestName {
    /// The name of a run's manifest, or of shard `(K, N)`'s.
    pub fn of(shard: Option<Shard>) -> Self {
        shard.map_or(ManifestName::Whole, ManifestName::Shard)
    }

    /// The shard it names; `None` for a whole run.
    pub fn shard(&self) -> Option<Shard> {
        match self {
            ManifestName::Whole => None,
            ManifestName::Shard(shard) => Some(*shard),
        }
    }
}

impl fmt::Display for ManifestName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestName::Whole => f.write_str(MANIFEST_NAME),
            ManifestName::Shard(shard) => {
                write!(f, "manifest-shard-{}-of-{}.jsonl", shard.index, shard.count)
            }
        }
    }
}

impl FromStr for ManifestName {
    type Err = BadManifestName;

    fn from_str(file_name: &str) -> Result<Self, Self::Err> {
        if file_name == MANIFEST_NAME {
            return Ok(ManifestName::Whole);
        }
        let middle = file_name
            .strip_prefix("manifest-shard-")
            .and_then(|rest| rest.strip_suffix(".jsonl"))
            .ok_or(BadManifestName::NotAManifest)?;
        middle
            .split_once("-of-")
            .and_then(|(k, n)| format!("{k}/{n}").parse::<Shard>().ok())
            .map(ManifestName::Shard)
            .ok_or(BadManifestName::BadShard)
    }
}

/// The manifest file name of a run or of shard `(K, N)` of it.
pub fn manifest_name(shard: Option<(u64, u64)>) -> String {
    ManifestName::of(shard.map(|(index, count)| Shard { index, count })).to_string()
}

/// The first line of a manifest: what run wrote the files. Written by the run, read back by
/// `--resume` (which refuses another run's record) and `dataset verify` (which refuses shards of
/// different runs). Fields an older manifest may lack read as their default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestHeader {
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
    /// `K/N` when this is one shard of the run.
    #[serde(default)]
    pub shard: Option<String>,
    /// Output format.
    pub format: String,
    /// How values were mapped to the file's type, if they were.
    #[serde(default)]
    pub value_mapping: Option<String>,
    /// Every other argument of the run (label, inputs, options).
    #[serde(default)]
    pub arguments: Value,
}

impl ManifestHeader {
    /// The arguments that decide what the files hold: all but `batch_size`, which does not.
    pub fn output_arguments(&self) -> Value {
        let mut arguments = self.arguments.clone();
        if let Some(map) = arguments.as_object_mut() {
            map.remove("batch_size");
        }
        arguments
    }

    /// The sample indices the header covers: `num_samples`, split by `shard` (`K/N`); `None`
    /// when the shard is not a valid one.
    pub fn indices(&self) -> Option<Range<u64>> {
        match &self.shard {
            None => Some(0..self.num_samples),
            Some(shard) => Some(shard.parse::<Shard>().ok()?.range(self.num_samples)),
        }
    }
}

/// One file line of a manifest: a sample's image or mask, or a tar of samples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestLine {
    /// The file name, relative to the manifest's folder.
    pub file: String,
    /// The sample index.
    pub index: u64,
    /// The sample seed (for a tar, its first sample's); 0 where a line lacks it, which
    /// `--resume` takes for another run's sample.
    #[serde(default)]
    pub seed: u64,
    /// `image`, `mask`, or `tar` for a tar of samples (`--pack tar`).
    #[serde(default = "image_part")]
    pub part: String,
    /// The class label, for conditional models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// For a tar: the samples it holds, `[first, end)` (`index` is the first, `seed` its seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<[u64; 2]>,
    /// sha256 of the file's bytes (64 hex digits).
    pub sha256: String,
}

fn image_part() -> String {
    "image".into()
}

impl ManifestLine {
    /// Why the line cannot be trusted as it is (an unsafe name, a malformed hash), if so.
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

    /// The samples a tar line holds, when it names a valid range starting at its index.
    pub fn samples(&self) -> Option<Range<u64>> {
        match self.samples {
            Some([first, end]) if first == self.index && first < end => Some(first..end),
            _ => None,
        }
    }
}

/// How [`read_line`] found the next line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnd {
    /// No more bytes.
    End,
    /// A line with its newline.
    Complete,
    /// A last line without its newline (a write cut short, or a hand-edited file).
    Cut,
}

/// Why [`read_line`] could not read a line.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// Reading failed.
    #[error("cannot read it: {0}")]
    Read(#[from] std::io::Error),
    /// The line is longer than [`MAX_LINE_BYTES`].
    #[error("it is longer than {} MiB", MAX_LINE_BYTES >> 20)]
    TooLong,
}

/// The one bounded JSON-lines reader: reads the next line into `buf` (with its newline, if it
/// has one), holding at most [`MAX_LINE_BYTES`] + 1 bytes of it.
pub fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> Result<LineEnd, LineError> {
    buf.clear();
    let read = reader
        .by_ref()
        .take(MAX_LINE_BYTES + 1)
        .read_until(b'\n', buf)?;
    if buf.last() == Some(&b'\n') {
        return Ok(LineEnd::Complete);
    }
    match read as u64 {
        0 => Ok(LineEnd::End),
        n if n > MAX_LINE_BYTES => Err(LineError::TooLong),
        _ => Ok(LineEnd::Cut),
    }
}

/// Opens a manifest or journal for reading: a regular file (never a FIFO or device, which
/// would block or never end), a symlink not followed.
pub fn open(path: &Path) -> std::io::Result<BufReader<File>> {
    crate::fs::open_regular(path, crate::fs::Links::Refuse, None)
        .map(|(file, _)| BufReader::new(file))
}

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
    let is_named_like_one = |name: &str| {
        !matches!(
            name.parse::<ManifestName>(),
            Err(BadManifestName::NotAManifest)
        )
    };
    let select = |path: &Path| {
        path.file_name()
            .and_then(|name| name.to_str())
            .is_some_and(is_named_like_one)
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
        match file_name.parse::<ManifestName>() {
            Ok(name) => found.push(Located {
                path: file.path,
                name: file.relative,
                shard: name.shard(),
            }),
            Err(BadManifestName::BadShard) => bad.push(BadName {
                name: file.relative,
            }),
            Err(BadManifestName::NotAManifest) => {}
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    bad.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((found, bad))
}

/// A manifest read in full: its header, its file lines and the sha256 of its bytes.
#[derive(Debug, Clone)]
pub struct RunManifest {
    /// The header line.
    pub header: ManifestHeader,
    /// The file lines, in file order.
    pub entries: Vec<ManifestLine>,
    /// sha256 of the manifest's bytes.
    pub sha256: String,
}

/// Reads the header line of a manifest.
pub fn read_header(path: &Path) -> Result<ManifestHeader, String> {
    let mut reader = open_manifest(path)?;
    let mut line = Vec::new();
    match next_line(&mut reader, &mut line, 1)? {
        true => parse(&line, 1),
        false => Err("it is empty (no header line)".into()),
    }
}

/// Reads a whole manifest; the error says which line is wrong and how.
pub fn read(path: &Path) -> Result<RunManifest, String> {
    let mut reader = open_manifest(path)?;
    let mut hasher = Sha256::new();
    let mut line = Vec::new();
    if !next_line(&mut reader, &mut line, 1)? {
        return Err("it is empty (no header line)".into());
    }
    hasher.update(&line);
    let header: ManifestHeader = parse(&line, 1)?;
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

/// Opens a manifest for [`read`] and [`read_header`], the error in their words.
fn open_manifest(path: &Path) -> Result<BufReader<File>, String> {
    open(path).map_err(|e| format!("cannot open it: {e}"))
}

/// Reads line `number` into `line` (with its newline); false at the end of the file. A last
/// line without its newline is read as a line.
fn next_line(
    reader: &mut BufReader<File>,
    line: &mut Vec<u8>,
    number: u64,
) -> Result<bool, String> {
    match read_line(reader, line) {
        Ok(end) => Ok(end != LineEnd::End),
        Err(LineError::TooLong) => Err(format!(
            "line {number} is longer than {} MiB",
            MAX_LINE_BYTES >> 20
        )),
        Err(LineError::Read(e)) => Err(format!("cannot read line {number}: {e}")),
    }
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
    let (mut file, _) = crate::fs::open_regular(path, crate::fs::Links::Follow, None)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Result<ManifestName, BadManifestName> {
        text.parse()
    }

    #[test]
    fn manifest_names_give_their_shard_and_read_back() {
        assert_eq!(name("manifest.jsonl"), Ok(ManifestName::Whole));
        let two_of_four = ManifestName::Shard(Shard { index: 2, count: 4 });
        assert_eq!(name("manifest-shard-2-of-4.jsonl"), Ok(two_of_four));
        assert_eq!(two_of_four.to_string(), "manifest-shard-2-of-4.jsonl");
        assert_eq!(manifest_name(Some((2, 4))), "manifest-shard-2-of-4.jsonl");
        assert_eq!(manifest_name(None), MANIFEST_NAME);
        let bad = Err(BadManifestName::BadShard);
        assert_eq!(name("manifest-shard-0-of-4.jsonl"), bad);
        assert_eq!(name("manifest-shard-x.jsonl"), bad);
        assert_eq!(name("manifest-shard-1-of-1000001.jsonl"), bad);
        assert_eq!(name("00001.png"), Err(BadManifestName::NotAManifest));
        assert_eq!(
            name(".manifest.jsonl.part"),
            Err(BadManifestName::NotAManifest)
        );
    }

    #[test]
    fn a_header_reads_back_as_written_and_covers_its_shard() {
        let header = ManifestHeader {
            tool: "t".into(),
            model_id: "m".into(),
            model_version: None,
            package_sha256: "0".repeat(64),
            seed: 1,
            num_samples: 10,
            shard: Some("2/2".into()),
            format: "png".into(),
            value_mapping: None,
            arguments: serde_json::json!({"batch_size": 4, "label": "x"}),
        };
        let text = serde_json::to_string(&header).unwrap();
        assert!(text.starts_with("{\"tool\":\"t\",\"model_id\":\"m\",\"model_version\":null,"));
        let back: ManifestHeader = serde_json::from_str(&text).unwrap();
        assert_eq!(back, header);
        assert_eq!(back.indices(), Some(5..10));
        assert_eq!(back.output_arguments(), serde_json::json!({"label": "x"}));
        let whole = ManifestHeader {
            shard: None,
            ..header
        };
        assert_eq!(whole.indices(), Some(0..10));
    }

    #[test]
    fn the_line_reader_bounds_a_line_and_tells_a_cut_last_line() {
        let mut buf = Vec::new();
        let mut reader = std::io::Cursor::new(b"{}\n{\"a\"".to_vec());
        assert_eq!(read_line(&mut reader, &mut buf).unwrap(), LineEnd::Complete);
        assert_eq!(buf, b"{}\n");
        assert_eq!(read_line(&mut reader, &mut buf).unwrap(), LineEnd::Cut);
        assert_eq!(read_line(&mut reader, &mut buf).unwrap(), LineEnd::End);
        let long = vec![b'x'; MAX_LINE_BYTES as usize + 1];
        let error = read_line(&mut std::io::Cursor::new(long), &mut buf).unwrap_err();
        assert!(matches!(error, LineError::TooLong), "{error}");
        assert!(buf.len() as u64 <= MAX_LINE_BYTES + 1);
    }

    #[test]
    fn unsafe_names_and_bad_hashes_are_defects() {
        let entry = |file: &str, sha256: &str| ManifestLine {
            file: file.into(),
            index: 0,
            seed: 0,
            part: "image".into(),
            label: None,
            samples: None,
            sha256: sha256.into(),
        };
        let good = "a".repeat(64);
        assert_eq!(entry("00000.png", &good).defect(), None);
        for name in ["../x.png", "/etc/passwd", "a/b.png", "..", "", "a\\b"] {
            assert!(entry(name, &good).defect().is_some(), "{name}");
        }
        assert!(entry("00000.png", "abc").defect().is_some());
        let tar = |samples| ManifestLine {
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
