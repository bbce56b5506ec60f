//! `dataset verify`: every listed file exists with its sha256, the shards cover the run exactly
//! once, and all come from the same run (model, package, seed, sample count, format, arguments).
//!
//! Manifests are read one at a time, in the order of their sample ranges, so memory grows with
//! the largest manifest, not the dataset; the files of each are hashed on all cores.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::DatasetError;
use super::dataset_manifest::{DATASET_MANIFEST_NAME, DatasetManifest, ManifestSummary};
use super::manifest::{self, Located, ManifestHeader, ManifestLine, RunManifest};
use crate::sample::Shard;

/// Problems listed in a report at most; the rest are counted in `problems_left_out`.
pub const MAX_LISTED_PROBLEMS: usize = 1000;
/// Missing sample indices named per manifest at most.
const MAX_NAMED_INDICES: usize = 10;

/// What kind of problem a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The folder holds no manifest at all.
    NoManifest,
    /// A manifest cannot be read or parsed, or its name claims no valid shard.
    UnreadableManifest,
    /// A file line with an unsafe name, a malformed hash, a duplicate or an index outside the
    /// manifest's shard.
    BadEntry,
    /// A listed file is not there.
    MissingFile,
    /// A listed file's sha256 differs from its record.
    ChangedFile,
    /// A listed file cannot be read.
    UnreadableFile,
    /// Sample indices of a manifest's range have no image.
    MissingSamples,
    /// A shard of the run has no manifest.
    MissingShard,
    /// A shard has more than one manifest.
    DuplicatedShard,
    /// Manifests of different shardings cover the same samples, or leave some uncovered.
    OverlappingShards,
    /// Manifests come from different runs (model, package, seed, samples, format, arguments)
    /// or disagree with their own name.
    MixedRuns,
    /// `dataset-manifest.json` does not describe the folder as it is.
    StaleDatasetManifest,
}

/// One thing wrong with a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Its kind.
    pub kind: ProblemKind,
    /// The manifest it concerns, relative to the dataset folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// The file it concerns, relative to the dataset folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// What is wrong, in words.
    pub message: String,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// The dataset folder.
    pub dir: PathBuf,
    /// The run's header (from the first manifest), when one could be read.
    #[serde(skip)]
    pub header: Option<ManifestHeader>,
    /// The manifests, in the order of their sample ranges.
    pub manifests: Vec<ManifestSummary>,
    /// Files whose sha256 was checked.
    pub files_checked: u64,
    /// What is wrong (at most [`MAX_LISTED_PROBLEMS`]).
    pub problems: Vec<Problem>,
    /// Problems found beyond those listed.
    pub problems_left_out: u64,
    /// The dataset's root digest ([`super::root_digest_line`]), when there is no problem.
    pub root_sha256: Option<String>,
}

impl Verification {
    /// Whether the dataset is complete and intact.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.problems_left_out == 0
    }

    fn push(&mut self, problem: Problem) {
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(problem);
        } else {
            self.problems_left_out += 1;
        }
    }

    fn problem(&mut self, kind: ProblemKind, manifest: Option<&str>, message: String) {
        self.push(Problem {
            kind,
            manifest: manifest.map(str::to_string),
            file: None,
            message,
        });
    }
}

/// Checks the dataset in `dir` (see the module doc); an existing `dataset-manifest.json` must
/// still describe it. Problems are in the result; an error means `dir` cannot be read at all.
pub fn verify(dir: &Path) -> Result<Verification, DatasetError> {
    verify_with(dir, true)
}

/// [`verify`], optionally without checking an existing `dataset-manifest.json` (merge replaces it).
pub(super) fn verify_with(
    dir: &Path,
    check_dataset_manifest: bool,
) -> Result<Verification, DatasetError> {
    let unreadable = |cause| DatasetError::Dir {
        path: dir.to_path_buf(),
        cause,
    };
    if !std::fs::metadata(dir).map_err(unreadable)?.is_dir() {
        return Err(DatasetError::Dir {
            path: dir.to_path_buf(),
            cause: std::io::Error::other("it is not a folder"),
        });
    }
    let (located, bad_names) = manifest::locate(dir).map_err(unreadable)?;
    let mut report = Verification {
        dir: dir.to_path_buf(),
        header: None,
        manifests: Vec::new(),
        files_checked: 0,
        problems: Vec::new(),
        problems_left_out: 0,
        root_sha256: None,
    };
    for bad in bad_names {
        report.problem(
            ProblemKind::UnreadableManifest,
            Some(&bad.name),
            format!(
                "`{}` is named like a shard manifest but claims no valid shard \
                 (expected manifest-shard-K-of-N.jsonl with 1 <= K <= N)",
                bad.name
            ),
        );
    }
    if located.is_empty() {
        report.problem(
            ProblemKind::NoManifest,
            None,
            format!(
                "no manifest in `{}` (manifest.jsonl or manifest-shard-K-of-N.jsonl): \
                 is it the output folder of `medigan generate`, and did every shard finish?",
                dir.display()
            ),
        );
        return Ok(report);
    }
    let runs = read_headers(&located, &mut report);
    check_same_run(&runs, &mut report);
    check_coverage(&runs, &mut report);
    let mut root = Sha256::new();
    for run in &runs {
        check_files(run, &mut root, &mut report);
    }
    if check_dataset_manifest {
        check_existing_dataset_manifest(dir, &mut report);
    }
    if report.is_ok() {
        report.root_sha256 = Some(hex::encode(root.finalize()));
        if check_dataset_manifest {
            check_root_digest(dir, &mut report);
        }
    }
    Ok(report)
}

/// A located manifest with its header and the samples its name claims.
struct Run {
    located: Located,
    header: ManifestHeader,
    range: Range<u64>,
}

/// Reads every header, in the order of the claimed sample ranges (then names).
fn read_headers(located: &[Located], report: &mut Verification) -> Vec<Run> {
    let mut runs = Vec::new();
    for found in located {
        match manifest::read_header(&found.path) {
            Ok(header) => runs.push(Run {
                range: manifest::claimed_range(found.shard, header.num_samples),
                located: found.clone(),
                header,
            }),
            Err(reason) => report.problem(
                ProblemKind::UnreadableManifest,
                Some(&found.name),
                format!("manifest `{}`: {reason}", found.name),
            ),
        }
    }
    runs.sort_by(|a, b| {
        (a.range.start, a.range.end, &a.located.name).cmp(&(
            b.range.start,
            b.range.end,
            &b.located.name,
        ))
    });
    report.header = runs.first().map(|run| run.header.clone());
    runs
}

/// Every manifest must come from the same run as the first, and its header must agree with its
/// name.
fn check_same_run(runs: &[Run], report: &mut Verification) {
    let Some(first) = runs.first() else { return };
    for run in runs {
        let claimed = run.located.shard.map(|s| s.to_string());
        if run.header.shard != claimed {
            report.problem(
                ProblemKind::MixedRuns,
                Some(&run.located.name),
                format!(
                    "manifest `{}` says shard {} but its name says {}",
                    run.located.name,
                    describe_shard(run.header.shard.as_deref()),
                    describe_shard(claimed.as_deref()),
                ),
            );
        }
        if run.located.name == first.located.name {
            continue;
        }
        for (field, expected, found) in differences(&first.header, &run.header) {
            report.problem(
                ProblemKind::MixedRuns,
                Some(&run.located.name),
                format!(
                    "manifest `{}` has {field} {found}, but `{}` has {expected}: the shards \
                     come from different runs",
                    run.located.name, first.located.name
                ),
            );
        }
    }
}

fn describe_shard(shard: Option<&str>) -> String {
    shard.map_or_else(|| "none (a whole run)".into(), |s| format!("`{s}`"))
}

/// The fields that decide what a run's files hold, where two headers differ:
/// (field, first's value, other's value).
fn differences(a: &ManifestHeader, b: &ManifestHeader) -> Vec<(&'static str, String, String)> {
    let fields: [(&'static str, String, String); 7] = [
        ("model_id", quoted(&a.model_id), quoted(&b.model_id)),
        (
            "model_version",
            json(&a.model_version),
            json(&b.model_version),
        ),
        (
            "package_sha256",
            quoted(&a.package_sha256),
            quoted(&b.package_sha256),
        ),
        ("seed", a.seed.to_string(), b.seed.to_string()),
        (
            "num_samples",
            a.num_samples.to_string(),
            b.num_samples.to_string(),
        ),
        ("format", quoted(&a.format), quoted(&b.format)),
        (
            "arguments",
            json(&a.output_arguments()),
            json(&b.output_arguments()),
        ),
    ];
    let mut different: Vec<_> = fields.into_iter().filter(|(_, x, y)| x != y).collect();
    if a.value_mapping != b.value_mapping && a.format == b.format {
        different.push((
            "value_mapping",
            json(&a.value_mapping),
            json(&b.value_mapping),
        ));
    }
    different
}

fn quoted(value: &str) -> String {
    format!("`{value}`")
}

fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The shards must cover `0..num_samples` exactly once: each `K/N` of one `N` once, no missing
/// `K`; manifests of different shardings (or a whole run beside shards) must not overlap.
fn check_coverage(runs: &[Run], report: &mut Verification) {
    let Some(first) = runs.first() else { return };
    let mut by_claim: BTreeMap<Option<(u64, u64)>, Vec<&Run>> = BTreeMap::new();
    for run in runs {
        let claim = run.located.shard.map(|s| (s.count, s.index));
        by_claim.entry(claim).or_default().push(run);
    }
    for (claim, holders) in &by_claim {
        if holders.len() > 1 {
            let names: Vec<String> = holders
                .iter()
                .map(|r| format!("`{}`", r.located.name))
                .collect();
            let what = match claim {
                Some((n, k)) => format!("shard {k}/{n}"),
                None => "the whole run".into(),
            };
            report.problem(
                ProblemKind::DuplicatedShard,
                Some(&holders[1].located.name),
                format!(
                    "{what} has {} manifests: {}; keep one",
                    holders.len(),
                    names.join(", ")
                ),
            );
        }
    }
    let counts: std::collections::BTreeSet<Option<u64>> =
        by_claim.keys().map(|claim| claim.map(|(n, _)| n)).collect();
    if counts.len() > 1 {
        check_mixed_shardings(runs, first.header.num_samples, report);
        return;
    }
    if let Some(Some(count)) = counts.into_iter().next() {
        for index in 1..=count {
            if !by_claim.contains_key(&Some((count, index))) {
                let shard = Shard { index, count };
                let range = shard.range(first.header.num_samples);
                report.problem(
                    ProblemKind::MissingShard,
                    None,
                    format!(
                        "shard {shard} (samples {}..{}) has no manifest \
                         (manifest-shard-{index}-of-{count}.jsonl): run it, e.g. with \
                         `--shard {shard}`",
                        range.start, range.end
                    ),
                );
            }
        }
    }
}

/// Manifests of different shardings: name every overlap and every gap in `0..num_samples`.
fn check_mixed_shardings(runs: &[Run], num_samples: u64, report: &mut Verification) {
    let shardings: Vec<String> = runs
        .iter()
        .map(|r| describe_shard(r.located.shard.map(|s| s.to_string()).as_deref()))
        .collect();
    report.problem(
        ProblemKind::OverlappingShards,
        None,
        format!(
            "the manifests split the run in different ways ({}); a dataset is the shards of \
             one split",
            shardings.join(", ")
        ),
    );
    let mut covered_to = 0u64;
    let mut last: Option<&Run> = None;
    for run in runs.iter().filter(|r| !r.range.is_empty()) {
        if run.range.start < covered_to
            && let Some(previous) = last
        {
            report.problem(
                ProblemKind::OverlappingShards,
                Some(&run.located.name),
                format!(
                    "`{}` (samples {}..{}) overlaps `{}` (samples {}..{})",
                    run.located.name,
                    run.range.start,
                    run.range.end,
                    previous.located.name,
                    previous.range.start,
                    previous.range.end
                ),
            );
        } else if run.range.start > covered_to {
            report.problem(
                ProblemKind::MissingShard,
                None,
                format!(
                    "no manifest covers samples {covered_to}..{}",
                    run.range.start
                ),
            );
        }
        if run.range.end > covered_to {
            covered_to = run.range.end;
            last = Some(run);
        }
    }
    if covered_to < num_samples {
        report.problem(
            ProblemKind::MissingShard,
            None,
            format!("no manifest covers samples {covered_to}..{num_samples}"),
        );
    }
}

/// Reads one manifest in full, checks its entries against its range, hashes its files, and
/// feeds its sorted entries to the root digest.
fn check_files(run: &Run, root: &mut Sha256, report: &mut Verification) {
    let name = &run.located.name;
    let manifest = match manifest::read(&run.located.path) {
        Ok(manifest) => manifest,
        Err(reason) => {
            report.problem(
                ProblemKind::UnreadableManifest,
                Some(name),
                format!("manifest `{name}`: {reason}"),
            );
            return;
        }
    };
    let RunManifest {
        header,
        mut entries,
        sha256,
    } = manifest;
    if header != run.header {
        report.problem(
            ProblemKind::UnreadableManifest,
            Some(name),
            format!("manifest `{name}` changed while it was being verified"),
        );
        return;
    }
    entries.sort_by(|a, b| (a.index, &a.file).cmp(&(b.index, &b.file)));
    check_entries(run, &entries, report);
    let folder = run.located.path.parent().unwrap_or(Path::new("."));
    let prefix = name.rsplit_once('/').map_or("", |(dir, _)| dir);
    let results: Vec<Option<Problem>> = entries
        .par_iter()
        .filter(|entry| entry.defect().is_none())
        .map(|entry| check_file(folder, prefix, name, entry))
        .collect();
    report.files_checked += results.len() as u64;
    for problem in results.into_iter().flatten() {
        report.push(problem);
    }
    for entry in &entries {
        root.update(super::root_digest_line(entry).as_bytes());
    }
    report.manifests.push(ManifestSummary {
        manifest: name.clone(),
        shard: run.located.shard.map(|s| s.to_string()),
        indices: [run.range.start, run.range.end],
        files: entries.len() as u64,
        sha256,
    });
}

/// Entries (sorted by index, file) must be well formed, unique, inside the manifest's range,
/// and give every index of the range an image.
fn check_entries(run: &Run, entries: &[ManifestLine], report: &mut Verification) {
    let name = &run.located.name;
    let bad_entry = |report: &mut Verification, message: String| {
        report.problem(ProblemKind::BadEntry, Some(name), message);
    };
    // Samples with an image, as ranges: a tar line may claim 2^40 samples, so indices are
    // never expanded one by one.
    let mut images: Vec<Range<u64>> = Vec::with_capacity(entries.len());
    let mut packed_to = 0u64;
    for (position, entry) in entries.iter().enumerate() {
        if let Some(defect) = entry.defect() {
            bad_entry(report, format!("manifest `{name}`: {defect}"));
            continue;
        }
        if position > 0 && entries[position - 1].file == entry.file {
            bad_entry(
                report,
                format!("manifest `{name}` lists `{}` twice", entry.file),
            );
        }
        let samples = entry
            .samples()
            .unwrap_or(entry.index..entry.index.saturating_add(1));
        if !run.range.contains(&samples.start) || samples.end > run.range.end {
            let what = match entry.part.as_str() {
                "tar" => format!("samples {}..{}", samples.start, samples.end),
                _ => format!("sample index {}", entry.index),
            };
            bad_entry(
                report,
                format!(
                    "manifest `{name}` lists `{}` with {what}, outside its samples {}..{}",
                    entry.file, run.range.start, run.range.end
                ),
            );
        } else if entry.part == "tar" {
            if samples.start < packed_to {
                bad_entry(
                    report,
                    format!(
                        "manifest `{name}` lists tar `{}` with samples {}..{}, which another \
                         tar holds too",
                        entry.file, samples.start, samples.end
                    ),
                );
            }
            images.push(samples.start.max(packed_to)..samples.end);
            packed_to = packed_to.max(samples.end);
        } else if entry.part == "image" {
            images.push(samples);
        }
    }
    let missing = missing_indices(images, &run.range);
    if missing.count > 0 {
        let named: Vec<String> = missing.first.iter().map(u64::to_string).collect();
        report.problem(
            ProblemKind::MissingSamples,
            Some(name),
            format!(
                "manifest `{name}` has no image for {} of its samples {}..{} ({}{}): it is \
                 incomplete",
                missing.count,
                run.range.start,
                run.range.end,
                named.join(", "),
                if missing.count > named.len() as u64 {
                    ", ..."
                } else {
                    ""
                }
            ),
        );
    }
}

struct Missing {
    count: u64,
    first: Vec<u64>,
}

/// The indices of `range` covered by none of the ranges of `present` (each inside `range`),
/// counted, and the first [`MAX_NAMED_INDICES`] named; time and memory grow with the number
/// of ranges, not of indices.
fn missing_indices(mut present: Vec<Range<u64>>, range: &Range<u64>) -> Missing {
    present.retain(|r| !r.is_empty());
    present.sort_unstable_by_key(|r| (r.start, r.end));
    let mut covered = 0u64;
    let mut first = Vec::new();
    let mut expected = range.start;
    for r in present
        .iter()
        .chain(std::iter::once(&(range.end..range.end)))
    {
        let start = r.start.clamp(expected, range.end);
        while expected < start && first.len() < MAX_NAMED_INDICES {
            first.push(expected);
            expected += 1;
        }
        let end = r.end.min(range.end);
        if end > start {
            covered += end - start;
        }
        expected = expected.max(end);
    }
    Missing {
        count: (range.end - range.start).saturating_sub(covered),
        first,
    }
}

/// Hashes one listed file; a problem if it is missing, unreadable or changed.
fn check_file(
    folder: &Path,
    prefix: &str,
    manifest: &str,
    entry: &ManifestLine,
) -> Option<Problem> {
    let shown = if prefix.is_empty() {
        entry.file.clone()
    } else {
        format!("{prefix}/{}", entry.file)
    };
    let problem = |kind, message| {
        Some(Problem {
            kind,
            manifest: Some(manifest.to_string()),
            file: Some(shown.clone()),
            message,
        })
    };
    match manifest::file_sha256(&folder.join(&entry.file)) {
        Ok(found) if found.eq_ignore_ascii_case(&entry.sha256) => None,
        Ok(found) => problem(
            ProblemKind::ChangedFile,
            format!(
                "`{shown}` (sample {}) has sha256 {found}, but `{manifest}` records {}: it \
                 changed after it was written",
                entry.index, entry.sha256
            ),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => problem(
            ProblemKind::MissingFile,
            format!(
                "`{shown}` (sample {}) is listed by `{manifest}` but missing",
                entry.index
            ),
        ),
        Err(e) => problem(
            ProblemKind::UnreadableFile,
            format!("`{shown}` (sample {}) cannot be read: {e}", entry.index),
        ),
    }
}

/// An existing `dataset-manifest.json` must list the manifests as they are now.
fn check_existing_dataset_manifest(dir: &Path, report: &mut Verification) {
    let Some(recorded) = read_dataset_manifest(dir, report) else {
        return;
    };
    let now: Vec<(&str, &str)> = report
        .manifests
        .iter()
        .map(|m| (m.manifest.as_str(), m.sha256.as_str()))
        .collect();
    let then: Vec<(&str, &str)> = recorded
        .shards
        .iter()
        .map(|m| (m.manifest.as_str(), m.sha256.as_str()))
        .collect();
    if now != then {
        report.problem(
            ProblemKind::StaleDatasetManifest,
            Some(DATASET_MANIFEST_NAME),
            format!(
                "`{DATASET_MANIFEST_NAME}` lists other manifests (or other versions of them) \
                 than the folder holds: run `medigan dataset merge` again"
            ),
        );
    }
}

/// An existing `dataset-manifest.json` must have the root digest the files give.
fn check_root_digest(dir: &Path, report: &mut Verification) {
    let Some(recorded) = read_dataset_manifest(dir, report) else {
        return;
    };
    let found = report.root_sha256.clone().unwrap_or_default();
    if recorded.root_sha256 != found {
        report.problem(
            ProblemKind::StaleDatasetManifest,
            Some(DATASET_MANIFEST_NAME),
            format!(
                "`{DATASET_MANIFEST_NAME}` records root sha256 {}, but the files give {found}",
                recorded.root_sha256
            ),
        );
        report.root_sha256 = None;
    }
}

fn read_dataset_manifest(dir: &Path, report: &mut Verification) -> Option<DatasetManifest> {
    let path = dir.join(DATASET_MANIFEST_NAME);
    if std::fs::symlink_metadata(&path).is_err() {
        return None;
    }
    match DatasetManifest::read(&path) {
        Ok(manifest) => Some(manifest),
        Err(reason) => {
            report.problem(
                ProblemKind::StaleDatasetManifest,
                Some(DATASET_MANIFEST_NAME),
                format!("`{DATASET_MANIFEST_NAME}`: {reason}"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_indices_are_counted_and_the_first_named() {
        let one = |i: u64| i..i + 1;
        let m = missing_indices(vec![one(10), one(11), one(13), one(11)], &(10..16));
        assert_eq!(m.count, 3);
        assert_eq!(m.first, vec![12, 14, 15]);
        let m = missing_indices(vec![], &(0..100));
        assert_eq!(m.count, 100);
        assert_eq!(m.first, (0..10).collect::<Vec<_>>());
        assert_eq!(
            missing_indices(vec![one(0), one(1), one(2)], &(0..3)).count,
            0
        );
        let m = missing_indices(vec![0..4, 2..6, one(9)], &(0..12));
        assert_eq!((m.count, m.first), (5, vec![6, 7, 8, 10, 11]));
    }

    /// Issue 26, finding 1: a 400-byte manifest with a tar line claiming samples [0, 2^40)
    /// aborted `dataset verify` (SIGABRT) by expanding the range into a vector of indices.
    #[test]
    fn regression_26_a_huge_tar_range_is_counted_not_expanded() {
        let dir = tempfile::tempdir().unwrap();
        let n = 1u64 << 40;
        let text = format!(
            "{{\"model_id\":\"m\",\"package_sha256\":\"{z}\",\"seed\":1,\"num_samples\":{n},\
             \"format\":\"png\"}}\n{{\"file\":\"shard-000000.tar\",\"index\":0,\"part\":\"tar\",\
             \"samples\":[0,{n}],\"sha256\":\"{z}\"}}\n",
            z = "0".repeat(64)
        );
        std::fs::write(dir.path().join("manifest.jsonl"), text).unwrap();
        let report = verify(dir.path()).unwrap();
        assert!(!report.is_ok());
        assert!(
            report
                .problems
                .iter()
                .all(|p| p.kind != ProblemKind::MissingSamples),
            "{:?}",
            report.problems
        );
        let m = missing_indices(vec![0..n, one_past(2 * n)], &(0..2 * n + 1));
        assert_eq!(m.count, n);
        assert_eq!(m.first.len(), MAX_NAMED_INDICES);
        assert_eq!(m.first[0], n);
    }

    /// Issue 26, finding 4: `manifest-shard-1-of-18446744073709551615.jsonl` made `dataset
    /// verify` look for every one of its 2^64 - 1 shards.
    #[test]
    fn regression_26_an_absurd_shard_total_in_a_name_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{{\"model_id\":\"m\",\"package_sha256\":\"{z}\",\"seed\":1,\"num_samples\":4,\
             \"shard\":\"1/18446744073709551615\",\"format\":\"png\"}}\n",
            z = "0".repeat(64)
        );
        let name = "manifest-shard-1-of-18446744073709551615.jsonl";
        std::fs::write(dir.path().join(name), text).unwrap();
        let started = std::time::Instant::now();
        let report = verify(dir.path()).unwrap();
        assert!(started.elapsed().as_secs() < 5);
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.kind == ProblemKind::UnreadableManifest
                    && p.message.contains("claims no valid shard")),
            "{:?}",
            report.problems
        );
    }

    /// Issue 26, finding 5: a listed sample that is a FIFO or a link to `/dev/zero` hung
    /// `verify` and `merge`; a FIFO named like a manifest too.
    #[cfg(unix)]
    #[test]
    fn regression_26_special_files_in_a_dataset_are_problems_not_hangs() {
        let dir = tempfile::tempdir().unwrap();
        let z = "0".repeat(64);
        let line = |file: &str, index: u64| {
            format!(
                "{{\"file\":\"{file}\",\"index\":{index},\"part\":\"image\",\"sha256\":\"{z}\"}}\n"
            )
        };
        let text = format!(
            "{{\"model_id\":\"m\",\"package_sha256\":\"{z}\",\"seed\":1,\"num_samples\":2,\
             \"format\":\"png\"}}\n{}{}",
            line("00000.png", 0),
            line("00001.png", 1)
        );
        std::fs::write(dir.path().join("manifest.jsonl"), text).unwrap();
        let fifo = |path: &Path| {
            let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: mkfifo reads a NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        };
        fifo(&dir.path().join("00000.png"));
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("00001.png")).unwrap();
        std::fs::create_dir(dir.path().join("copy")).unwrap();
        fifo(&dir.path().join("copy/manifest.jsonl"));
        let report = verify(dir.path()).unwrap();
        let unreadable: Vec<_> = report
            .problems
            .iter()
            .filter(|p| p.kind == ProblemKind::UnreadableFile)
            .map(|p| p.message.as_str())
            .collect();
        assert_eq!(unreadable.len(), 2, "{:?}", report.problems);
        assert!(
            unreadable.iter().all(|m| m.contains("not a regular file")),
            "{unreadable:?}"
        );
        assert_eq!(
            report.manifests.len(),
            1,
            "the FIFO is not taken for a manifest"
        );
    }

    fn one_past(i: u64) -> Range<u64> {
        i..i + 1
    }
}
