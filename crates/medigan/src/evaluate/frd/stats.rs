//! Sharded FRD: each shard's radiomics feature tables saved to a file (`--save-stats`), and the
//! FRD of the union of the shards' synthetic sets from those files (`--merge-stats`),
//! bit-identical to one pass over all the images.
//!
//! The FRD's statistics cannot be sums: v1 z-scores every feature on the real set first, and
//! radiomics features span far more than the exact sums' range (energies of 1e10 and more).
//! So a file keeps the features themselves, one `f64` row per image (about 3 KiB per 2D image
//! in v1), and the distance is a function of the set of rows, not of their order
//! ([`super::distance`] sorts them), so any split of the images, merged in any order, gives the
//! same bits.
//!
//! Format: the line `medigan-frd-stats 1`, one line of JSON ([`Header`]), then the real rows and
//! the synthetic rows as little-endian `f64`. A file whose length disagrees with its header, or
//! over [`MAX_STATS_BYTES`], is refused before it is read.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::super::error::EvaluateError;
use super::distance::FeatureTable;
use super::{FrdVersion, Tables};

const MAGIC: &[u8] = b"medigan-frd-stats 1\n";
/// The largest statistics file read (16 GiB: five million 2D images' features).
pub const MAX_STATS_BYTES: u64 = 16 << 30;
/// The longest header line read.
const MAX_HEADER_BYTES: u64 = 16 << 20;

/// What a statistics file holds besides the rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// `v0` or `v1`.
    pub version: String,
    /// 2D images (else volumes).
    pub two_d: bool,
    /// Feature names, one per column.
    pub names: Vec<String>,
    /// Real rows, then synthetic rows.
    pub rows: [usize; 2],
    /// Images listed per set (rows plus skipped).
    pub images: [usize; 2],
    /// Images skipped before extraction per set (a mask of at most one voxel).
    pub skipped: [usize; 2],
    /// The tool that wrote it.
    pub tool: String,
}

fn stats_error(path: &Path, reason: impl Into<String>) -> EvaluateError {
    EvaluateError::Stats {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Writes the tables of one evaluation to `path` (atomically: a temporary file renamed).
pub fn save(path: &Path, tables: &Tables) -> Result<(), EvaluateError> {
    let header = Header {
        version: tables.version.name().into(),
        two_d: tables.two_d,
        names: tables.real.names.clone(),
        rows: [tables.real.rows.len(), tables.synthetic.rows.len()],
        images: tables.images,
        skipped: [tables.real.skipped, tables.synthetic.skipped],
        tool: format!("medigan-rs {}", env!("CARGO_PKG_VERSION")),
    };
    let json = serde_json::to_vec(&header).map_err(|e| stats_error(path, e.to_string()))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut out = BufWriter::new(std::fs::File::create(&tmp)?);
        out.write_all(MAGIC)?;
        out.write_all(&json)?;
        out.write_all(b"\n")?;
        for row in tables.real.rows.iter().chain(&tables.synthetic.rows) {
            for v in row {
                out.write_all(&v.to_le_bytes())?;
            }
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        EvaluateError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Reads a statistics file, checking its length against its header.
pub fn load(path: &Path) -> Result<Tables, EvaluateError> {
    let io = |source| EvaluateError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let length = file.metadata().map_err(io)?.len();
    if length > MAX_STATS_BYTES {
        return Err(stats_error(
            path,
            format!("{length} bytes, over {MAX_STATS_BYTES}"),
        ));
    }
    let mut bytes = Vec::with_capacity(length as usize);
    file.take(MAX_STATS_BYTES)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let rest = bytes.strip_prefix(MAGIC).ok_or_else(|| {
        stats_error(
            path,
            "not an FRD statistics file (`medigan frd --save-stats`)",
        )
    })?;
    let end = rest
        .iter()
        .take(MAX_HEADER_BYTES as usize)
        .position(|&b| b == b'\n')
        .ok_or_else(|| stats_error(path, "the header line is missing or too long"))?;
    let header: Header = serde_json::from_slice(&rest[..end])
        .map_err(|e| stats_error(path, format!("header: {e}")))?;
    let data = &rest[end + 1..];
    let columns = header.names.len();
    let values = (header.rows[0] + header.rows[1]).checked_mul(columns);
    if values.and_then(|v| v.checked_mul(8)) != Some(data.len()) {
        return Err(stats_error(
            path,
            format!(
                "{} bytes of features where the header announces {} rows of {columns}",
                data.len(),
                header.rows[0] + header.rows[1]
            ),
        ));
    }
    let mut rows = data
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect::<Vec<f64>>()
        .chunks(columns.max(1))
        .map(<[f64]>::to_vec)
        .collect::<Vec<_>>();
    if columns == 0 {
        rows.clear();
    }
    let synthetic_rows = rows.split_off(header.rows[0].min(rows.len()));
    let version: FrdVersion = header.version.parse()?;
    Ok(Tables {
        version,
        two_d: header.two_d,
        images: header.images,
        real: FeatureTable {
            names: header.names.clone(),
            rows,
            skipped: header.skipped[0],
        },
        synthetic: FeatureTable {
            names: header.names,
            rows: synthetic_rows,
            skipped: header.skipped[1],
        },
    })
}

/// The tables of the union of the shards' synthetic sets against the real set they share (it
/// must be the same set of rows in every file), of the same version and features.
pub fn merge(paths: &[PathBuf]) -> Result<Tables, EvaluateError> {
    let (first, rest) = paths
        .split_first()
        .ok_or_else(|| stats_error(Path::new(""), "no statistics files to merge"))?;
    let mut merged = load(first)?;
    let real_rows = sorted_rows(&merged.real.rows);
    for path in rest {
        let shard = load(path)?;
        if shard.version != merged.version || shard.real.names != merged.real.names {
            return Err(stats_error(
                path,
                format!(
                    "an FRD {} file of {} features cannot merge with {} of FRD {} and {} features",
                    shard.version.name(),
                    shard.real.names.len(),
                    first.display(),
                    merged.version.name(),
                    merged.real.names.len()
                ),
            ));
        }
        if sorted_rows(&shard.real.rows) != real_rows {
            return Err(stats_error(
                path,
                "its real set differs from the first file's: shards are merged against one real set",
            ));
        }
        merged.synthetic.rows.extend(shard.synthetic.rows);
        merged.synthetic.skipped += shard.synthetic.skipped;
        merged.images[1] += shard.images[1];
    }
    Ok(merged)
}

/// The rows as bit patterns in a canonical order (a set of rows, whatever their order).
fn sorted_rows(rows: &[Vec<f64>]) -> Vec<Vec<u64>> {
    let mut bits: Vec<Vec<u64>> = rows
        .iter()
        .map(|r| r.iter().map(|v| v.to_bits()).collect())
        .collect();
    bits.sort_unstable();
    bits
}
