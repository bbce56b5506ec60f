//! Feature statistics files (`medigan metrics --save-stats FILE`) and their merge
//! (`medigan metrics --merge-stats A B ... [--real-stats R ...]`): the FID of sharded
//! evaluations, bit-identical to the FID of one pass over the union of the shards.
//!
//! A file holds the exact sums ([`ExactMoments`]) of the real set, the synthetic set, or both,
//! with where they come from: the extractor (its name, the sha256 of its weights, its input
//! size and normalisation), `--normalize`, the catalogue key and the tool version. Only
//! statistics made the same way are merged: any difference is refused, naming the field.
//!
//! Layout (little-endian), version 1:
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `MDGSTATS` |
//! | 4 | format version (`u32`, 1) |
//! | 4 | header length `H` (`u32`, at most 64 KiB) |
//! | `H` | header: UTF-8 JSON ([`StatsHeader`]): provenance, `dims`, `feature_bits`, the sets |
//! | per set | `dims` sums, then `dims (dims + 1) / 2` products (upper triangle, column by column), each an `i128` |
//!
//! The sums are of the features scaled by `2^feature_bits` (40) and truncated, the products
//! of those integers (see `moments.rs`). A reader checks the magic, the version, the header's
//! size and fields, `dims` (at most 8192) and that the file's length is exactly what the
//! header announces before it allocates anything (a 2048-dimensional set takes 32 MiB).
//!
//! Merging: the synthetic statistics of every `--merge-stats` file are added. The real set
//! is the one all those files hold (it must be the same in each: shards evaluated against the
//! same real folder), or, with `--real-stats`, the sum of the real statistics of those files
//! (a real set evaluated in shards too). KID, PRDC and CMMD need the feature vectors themselves
//! (kernel values and nearest neighbours over every pair of images), not their moments:
//! asking for them with merged statistics is refused.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::EvaluateError;
use super::frechet::frechet_distance;
use super::metrics::{Evaluation, MetricSet};
use super::moments::{ExactMoments, FEATURE_BITS, packed_len};
use super::provenance::{Provenance, RESIZE};
use super::ratio::FidReport;

/// The first bytes of a statistics file.
pub const MAGIC: &[u8; 8] = b"MDGSTATS";
/// The format version written.
pub const VERSION: u32 = 1;
/// The largest header read.
const MAX_HEADER: u32 = 64 * 1024;
/// The largest feature length read.
pub const MAX_DIMS: usize = 8192;

/// Which set statistics describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetRole {
    /// The real images.
    Real,
    /// The synthetic images.
    Synthetic,
}

/// One set of a statistics file, as its header describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetEntry {
    /// Real or synthetic.
    pub role: SetRole,
    /// The folder (or model) the features come from.
    pub label: String,
    /// Feature vectors summed.
    pub count: u64,
}

/// The JSON header of a statistics file: how the features were made, and the sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsHeader {
    /// Always `medigan-feature-stats`.
    pub format: String,
    /// The catalogue key of the metric (e.g. `FID`, `FID_RADIMAGENET`).
    pub metric_key: String,
    /// The extractor's name.
    pub extractor: String,
    /// sha256 of the extractor's weights or graph, when known.
    pub extractor_sha256: Option<String>,
    /// The extractor's input size, `[height, width]`.
    pub input_size: [usize; 2],
    /// How `[0, 1]` images were mapped for the extractor.
    pub normalization: String,
    /// Whether every image was min-max normalised first (`--normalize`).
    pub min_max: bool,
    /// The medigan version that wrote the file.
    pub tool: String,
    /// Features per image.
    pub dims: usize,
    /// Features were scaled by `2^feature_bits` and truncated before summing.
    pub feature_bits: i32,
    /// The sets, in the order their numbers follow the header.
    pub sets: Vec<SetEntry>,
}

/// A statistics file in memory: its header and the statistics of each set.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsFile {
    /// Provenance and the sets.
    pub header: StatsHeader,
    /// The statistics, in the order of `header.sets`.
    pub moments: Vec<ExactMoments>,
}

impl StatsFile {
    /// The statistics of the real and the synthetic features of an evaluation.
    pub fn of_evaluation(
        provenance: &Provenance,
        metric_key: &str,
        sets: Vec<(SetRole, String, ExactMoments)>,
    ) -> StatsFile {
        let dims = sets.first().map_or(0, |(_, _, m)| m.dims());
        StatsFile {
            header: StatsHeader {
                format: "medigan-feature-stats".into(),
                metric_key: metric_key.into(),
                extractor: provenance.extractor.clone(),
                extractor_sha256: provenance.extractor_sha256.clone(),
                input_size: provenance.input_size,
                normalization: provenance.normalization.clone(),
                min_max: provenance.min_max,
                tool: provenance.tool.clone(),
                dims,
                feature_bits: FEATURE_BITS,
                sets: sets
                    .iter()
                    .map(|(role, label, m)| SetEntry {
                        role: *role,
                        label: label.clone(),
                        count: m.count(),
                    })
                    .collect(),
            },
            moments: sets.into_iter().map(|(_, _, m)| m).collect(),
        }
    }

    /// The statistics of the set `role`, with its header entry.
    pub fn set(&self, role: SetRole) -> Option<(&SetEntry, &ExactMoments)> {
        self.header
            .sets
            .iter()
            .zip(&self.moments)
            .find(|(entry, _)| entry.role == role)
    }

    /// Writes the file (atomically: a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> Result<(), EvaluateError> {
        let header = serde_json::to_vec(&self.header).map_err(|e| EvaluateError::Stats {
            path: path.to_path_buf(),
            reason: format!("cannot encode the header: {e}"),
        })?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut out = BufWriter::new(std::fs::File::create(&tmp)?);
            out.write_all(MAGIC)?;
            out.write_all(&VERSION.to_le_bytes())?;
            out.write_all(&(header.len() as u32).to_le_bytes())?;
            out.write_all(&header)?;
            for moments in &self.moments {
                for v in moments.sums().iter().chain(moments.products()) {
                    out.write_all(&v.to_le_bytes())?;
                }
            }
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            EvaluateError::Io {
                action: "write",
                path: path.to_path_buf(),
                source: e,
            }
        })
    }

    /// Reads and checks a file (see the module documentation for the bounds).
    pub fn load(path: &Path) -> Result<StatsFile, EvaluateError> {
        let bad = |reason: String| EvaluateError::Stats {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(EvaluateError::io("read", path))?;
        let length = file
            .metadata()
            .map_err(EvaluateError::io("read", path))?
            .len();
        let mut input = BufReader::new(file);
        let mut fixed = [0u8; 16];
        let mut got = 0;
        while got < fixed.len() {
            match input.read(&mut fixed[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(EvaluateError::io("read", path)(e)),
            }
        }
        if got < 8 || &fixed[..8] != MAGIC {
            return Err(bad(
                "not a medigan statistics file (written by `medigan metrics --save-stats`)".into(),
            ));
        }
        if got < fixed.len() {
            return Err(bad("cut short after its first bytes".into()));
        }
        let version = u32::from_le_bytes(fixed[8..12].try_into().unwrap_or_default());
        if version != VERSION {
            return Err(bad(format!(
                "format version {version}, this medigan reads version {VERSION}"
            )));
        }
        let header_len = u32::from_le_bytes(fixed[12..16].try_into().unwrap_or_default());
        if header_len > MAX_HEADER {
            return Err(bad(format!(
                "header of {header_len} bytes, at most {MAX_HEADER}"
            )));
        }
        let mut header = vec![0u8; header_len as usize];
        input
            .read_exact(&mut header)
            .map_err(|_| bad("the header is cut short".into()))?;
        let header: StatsHeader = serde_json::from_slice(&header)
            .map_err(|e| bad(format!("the header is not valid: {e}")))?;
        check_header(&header).map_err(bad)?;
        let values = header.sets.len() as u64 * (header.dims + packed_len(header.dims)) as u64;
        let expected = 16 + u64::from(header_len) + values * 16;
        if length != expected {
            return Err(bad(format!(
                "{length} bytes, the header announces {expected} (a damaged or cut file)"
            )));
        }
        let mut read_values = |n: usize| -> Result<Vec<i128>, EvaluateError> {
            let mut bytes = vec![0u8; n * 16];
            input
                .read_exact(&mut bytes)
                .map_err(EvaluateError::io("read", path))?;
            Ok(bytes
                .chunks_exact(16)
                .map(|c| i128::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect())
        };
        let mut moments = Vec::with_capacity(header.sets.len());
        for entry in &header.sets {
            let sums = read_values(header.dims)?;
            let products = read_values(packed_len(header.dims))?;
            moments.push(ExactMoments::from_parts(
                header.dims,
                entry.count,
                sums,
                products,
            )?);
        }
        Ok(StatsFile { header, moments })
    }
}

fn check_header(header: &StatsHeader) -> Result<(), String> {
    if header.format != "medigan-feature-stats" {
        return Err(format!("format `{}`", header.format));
    }
    if header.feature_bits != FEATURE_BITS {
        return Err(format!(
            "features scaled by 2^{}, this medigan sums them scaled by 2^{FEATURE_BITS}",
            header.feature_bits
        ));
    }
    if header.dims == 0 || header.dims > MAX_DIMS {
        return Err(format!(
            "{} features per image (1 to {MAX_DIMS} are read)",
            header.dims
        ));
    }
    let roles: Vec<SetRole> = header.sets.iter().map(|s| s.role).collect();
    if roles.is_empty() || roles.len() > 2 || (roles.len() == 2 && roles[0] == roles[1]) {
        return Err("expected a real set, a synthetic set, or one of each".into());
    }
    Ok(())
}

/// What `--merge-stats` merges.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeRequest {
    /// Files whose synthetic statistics are added (each written by `--save-stats`).
    pub stats: Vec<PathBuf>,
    /// Files whose real statistics are added (none: the real set the `stats` files share).
    pub real_stats: Vec<PathBuf>,
    /// The metrics asked for: FID only can be merged.
    pub metrics: MetricSet,
    /// The catalogue key reports are given under (default: the files').
    pub metric_key: Option<String>,
}

/// Merges statistics files into the FID of the union of their sets (see the module
/// documentation): the same bits as one pass over all the features. Returns the report and
/// the catalogue key it is given under (the request's, else the first file's).
pub fn merge(request: &MergeRequest) -> Result<(Evaluation, String), EvaluateError> {
    if request.metrics.kid || request.metrics.prdc || request.metrics.cmmd {
        return Err(EvaluateError::InvalidOption {
            option: "metrics".into(),
            value: request.metrics.names().join(","),
            reason: "merged statistics give FID only: KID, PRDC and CMMD need the feature vectors \
                     themselves (kernel values and nearest neighbours over every pair of \
                     images), which statistics do not hold; compute them over the union of the \
                     shards"
                .into(),
        });
    }
    if request.stats.is_empty() {
        return Err(EvaluateError::InvalidOption {
            option: "merge stats".into(),
            value: String::new(),
            reason: "at least one statistics file".into(),
        });
    }
    let files = load_all(&request.stats)?;
    let real_files = load_all(&request.real_stats)?;
    let first = &files[0];
    for (path, file) in request
        .stats
        .iter()
        .zip(&files)
        .chain(request.real_stats.iter().zip(&real_files))
    {
        same_provenance(&request.stats[0], &first.1.header, path, &file.1.header)?;
    }
    let dims = first.1.header.dims;
    let mut synthetic = ExactMoments::new(dims);
    let mut labels = Vec::new();
    for (path, file) in &files {
        let (entry, moments) = file.set(SetRole::Synthetic).ok_or_else(|| {
            stats_error(
                path,
                "holds no synthetic statistics (it was saved for --real-stats)",
            )
        })?;
        synthetic.merge(moments)?;
        labels.push(entry.label.clone());
    }
    let real = if real_files.is_empty() {
        shared_real(&files)?
    } else {
        let mut real = ExactMoments::new(dims);
        for (path, file) in &real_files {
            let (_, moments) = file
                .set(SetRole::Real)
                .ok_or_else(|| stats_error(path, "holds no real statistics"))?;
            real.merge(moments)?;
        }
        real
    };
    let (real_stats, synthetic_stats) = (real.stats()?, synthetic.stats()?);
    let fid = frechet_distance(&real_stats, &synthetic_stats)?;
    let header = &first.1.header;
    let subject = labels.join(" + ");
    let provenance = Provenance {
        extractor: header.extractor.clone(),
        extractor_sha256: header.extractor_sha256.clone(),
        input_size: header.input_size,
        resize: RESIZE.into(),
        normalization: header.normalization.clone(),
        min_max: header.min_max,
        real_images: real_stats.count,
        synthetic_images: synthetic_stats.count,
        generation_seed: None,
        split_seed: 0,
        seed: 0,
        repeats: 1,
        metrics: vec!["fid"],
        tool: header.tool.clone(),
    };
    let metric_key = request
        .metric_key
        .clone()
        .unwrap_or_else(|| header.metric_key.clone());
    let evaluation = Evaluation {
        fid: Some(FidReport {
            subject: subject.clone(),
            extractor: header.extractor.clone(),
            fid_rs: fid,
            fid_rr: None,
            fid_ratio: None,
            real_images: real_stats.count,
            synthetic_images: synthetic_stats.count,
            split_seed: 0,
            normalized: header.min_max,
        }),
        kid: None,
        prdc: None,
        frd: None,
        cmmd: None,
        intervals: Vec::new(),
        subject,
        provenance,
    };
    Ok((evaluation, metric_key))
}

fn load_all(paths: &[PathBuf]) -> Result<Vec<(PathBuf, StatsFile)>, EvaluateError> {
    paths
        .iter()
        .map(|p| Ok((p.clone(), StatsFile::load(p)?)))
        .collect()
}

fn stats_error(path: &Path, reason: &str) -> EvaluateError {
    EvaluateError::Stats {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Refuses statistics made another way than the first file's, naming the field.
fn same_provenance(
    first_path: &Path,
    first: &StatsHeader,
    path: &Path,
    header: &StatsHeader,
) -> Result<(), EvaluateError> {
    let fields: [(&str, String, String); 7] = [
        (
            "extractor",
            first.extractor.clone(),
            header.extractor.clone(),
        ),
        (
            "extractor sha256",
            format!("{:?}", first.extractor_sha256),
            format!("{:?}", header.extractor_sha256),
        ),
        (
            "input size",
            format!("{:?}", first.input_size),
            format!("{:?}", header.input_size),
        ),
        (
            "normalization",
            first.normalization.clone(),
            header.normalization.clone(),
        ),
        (
            "min-max normalisation (--normalize)",
            first.min_max.to_string(),
            header.min_max.to_string(),
        ),
        (
            "features per image",
            first.dims.to_string(),
            header.dims.to_string(),
        ),
        ("tool version", first.tool.clone(), header.tool.clone()),
    ];
    match fields.iter().find(|(_, a, b)| a != b) {
        Some((field, a, b)) => Err(stats_error(
            path,
            &format!(
                "its {field} is `{b}`, that of `{}` is `{a}`: only statistics made the same way \
                 merge",
                first_path.display()
            ),
        )),
        None => Ok(()),
    }
}

/// The real statistics every file holds, which must be the same.
fn shared_real(files: &[(PathBuf, StatsFile)]) -> Result<ExactMoments, EvaluateError> {
    let mut shared: Option<(&PathBuf, &ExactMoments)> = None;
    for (path, file) in files {
        let Some((_, moments)) = file.set(SetRole::Real) else {
            return Err(stats_error(
                path,
                "holds no real statistics: name the real set's statistics with --real-stats",
            ));
        };
        match shared {
            None => shared = Some((path, moments)),
            Some((first, real)) if real != moments => {
                return Err(stats_error(
                    path,
                    &format!(
                        "its real set ({} images) differs from that of `{}` ({} images): pass \
                         --real-stats FILE (once per real shard) to say which real statistics \
                         to use",
                        moments.count(),
                        first.display(),
                        real.count()
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    shared
        .map(|(_, m)| m.clone())
        .ok_or_else(|| EvaluateError::InvalidOption {
            option: "merge stats".into(),
            value: String::new(),
            reason: "at least one statistics file".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, s};

    fn provenance() -> Provenance {
        Provenance {
            extractor: "test".into(),
            extractor_sha256: Some("ab".into()),
            input_size: [8, 8],
            resize: RESIZE.into(),
            normalization: "[-1, 1]".into(),
            min_max: false,
            real_images: 0,
            synthetic_images: 0,
            generation_seed: None,
            split_seed: 0,
            seed: 0,
            repeats: 1,
            metrics: vec!["fid"],
            tool: "medigan-rs test".into(),
        }
    }

    fn features(rows: usize, offset: f32) -> Array2<f32> {
        Array2::from_shape_fn((rows, 3), |(i, j)| {
            ((i * 7 + j * 3) % 11) as f32 * 0.37 + offset + (i as f32).sin()
        })
    }

    fn save(dir: &Path, name: &str, sets: Vec<(SetRole, &str, ArrayView)>) -> PathBuf {
        let sets = sets
            .into_iter()
            .map(|(role, label, f)| (role, label.to_string(), ExactMoments::of(f).unwrap()))
            .collect();
        let path = dir.join(name);
        StatsFile::of_evaluation(&provenance(), "FID", sets)
            .save(&path)
            .unwrap();
        path
    }

    type ArrayView<'a> = ndarray::ArrayView2<'a, f32>;

    #[test]
    fn merged_shards_give_the_fid_of_the_union_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let (real, synthetic) = (features(40, 0.0), features(50, 0.5));
        let single =
            super::super::frechet::frechet_distance_of_features(real.view(), synthetic.view())
                .unwrap();
        let a = save(
            dir.path(),
            "a.stats",
            vec![
                (SetRole::Real, "real", real.view()),
                (SetRole::Synthetic, "s1", synthetic.slice(s![..17, ..])),
            ],
        );
        let b = save(
            dir.path(),
            "b.stats",
            vec![
                (SetRole::Real, "real", real.view()),
                (SetRole::Synthetic, "s2", synthetic.slice(s![17.., ..])),
            ],
        );
        let request = MergeRequest {
            stats: vec![b.clone(), a.clone()],
            ..Default::default()
        };
        let (merged, key) = merge(&request).unwrap();
        assert_eq!(key, "FID");
        let fid = merged.fid.unwrap();
        assert_eq!(fid.fid_rs.to_bits(), single.to_bits());
        assert_eq!((fid.real_images, fid.synthetic_images), (40, 50));
        assert_eq!(fid.subject, "s2 + s1");
        let loaded = StatsFile::load(&a).unwrap();
        assert_eq!(loaded.header.sets[1].count, 17);
    }

    #[test]
    fn real_shards_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let (real, synthetic) = (features(40, 0.0), features(50, 0.5));
        let a = save(
            dir.path(),
            "a.stats",
            vec![
                (SetRole::Real, "r1", real.slice(s![..25, ..])),
                (SetRole::Synthetic, "s1", synthetic.slice(s![..30, ..])),
            ],
        );
        let b = save(
            dir.path(),
            "b.stats",
            vec![
                (SetRole::Real, "r2", real.slice(s![25.., ..])),
                (SetRole::Synthetic, "s2", synthetic.slice(s![30.., ..])),
            ],
        );
        let request = MergeRequest {
            stats: vec![a.clone(), b.clone()],
            ..Default::default()
        };
        let err = merge(&request).unwrap_err().to_string();
        assert!(
            err.contains("--real-stats") && err.contains("differs"),
            "{err}"
        );
        let request = MergeRequest {
            real_stats: vec![a.clone(), b.clone()],
            ..request
        };
        let single =
            super::super::frechet::frechet_distance_of_features(real.view(), synthetic.view())
                .unwrap();
        assert_eq!(
            merge(&request).unwrap().0.fid.unwrap().fid_rs.to_bits(),
            single.to_bits()
        );
        let err = merge(&MergeRequest {
            metrics: MetricSet::ALL,
            ..request.clone()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("KID, PRDC and CMMD need the feature vectors"),
            "{err}"
        );
        let cmmd_only = MetricSet::parse("fid,cmmd").unwrap();
        let err = merge(&MergeRequest {
            metrics: cmmd_only,
            ..request.clone()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("invalid metrics `fid,cmmd`") && err.contains("CMMD need the feature"),
            "{err}"
        );
        // Another extractor's statistics are refused, naming the field.
        let mut other = StatsFile::load(&b).unwrap();
        other.header.input_size = [16, 16];
        other.save(&b).unwrap();
        let err = merge(&request).unwrap_err().to_string();
        assert!(err.contains("input size is `[16, 16]`"), "{err}");
    }

    #[test]
    fn damaged_files_are_refused_before_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let path = save(
            dir.path(),
            "a.stats",
            vec![(SetRole::Real, "r", features(5, 0.0).view())],
        );
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let err = StatsFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("a damaged or cut file"), "{err}");
        let mut huge = bytes.clone();
        huge[12..16].copy_from_slice(&(1u32 << 30).to_le_bytes());
        std::fs::write(&path, &huge).unwrap();
        let err = StatsFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("at most 65536"), "{err}");
        std::fs::write(&path, b"PNG not stats at all").unwrap();
        let err = StatsFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("not a medigan statistics file"), "{err}");
        let mut header = StatsFile::load(&save(
            dir.path(),
            "b.stats",
            vec![(SetRole::Real, "r", features(5, 0.0).view())],
        ))
        .unwrap()
        .header;
        header.dims = 9999;
        let json = serde_json::to_vec(&header).unwrap();
        let mut bytes = MAGIC.to_vec();
        bytes.extend(VERSION.to_le_bytes());
        bytes.extend((json.len() as u32).to_le_bytes());
        bytes.extend(json);
        std::fs::write(&path, &bytes).unwrap();
        let err = StatsFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("9999 features per image"), "{err}");
    }
}
