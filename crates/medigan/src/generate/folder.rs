//! One run's claim on its output folder: a lock per shard, what becomes of an earlier run of
//! the same shard (refused, resumed or overwritten), other runs whose samples overlap, and the
//! leftovers of a killed run.
//!
//! Runs in a folder are told apart by their manifest name: `manifest.jsonl` for an unsharded
//! run, `manifest-shard-K-of-N.jsonl` for shard K of N. Each has, while it runs:
//!
//! ```text
//! out/
//!   .manifest-shard-2-of-4.lock          flock(2) held by the running process; pid, host, start
//!   .manifest-shard-2-of-4.journal       completed samples (see `journal`)
//!   .medigan-manifest-shard-2-of-4.*.part   temporary files, renamed into place when complete
//!   00250.png ...                        the samples
//! ```
//!
//! - Two runs of the same shard (or two unsharded runs) exclude each other by the lock: the
//!   second fails at once, naming the holder. A killed process releases it.
//! - Different shards of one split (same N) never overlap and may run at once (a Slurm array
//!   into one folder). A run whose sample indices overlap another run recorded in the folder
//!   (a journal or manifest of another name: an unsharded run and a shard, shards of different
//!   N) is refused, whatever the mode: their files would overwrite each other.
//! - A run removes the temporary files a killed run of its own shard left, never those of other
//!   shards (they may be live).

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::journal::{JournalSample, JournalWriter, Record, RecordKind, journal_name, record_stem};
use super::tar_layout::Tars;
use super::{GenerateError, RunMode};
use crate::dataset::manifest::{ManifestHeader, ManifestName};
use crate::output::{open_no_follow, utc_date_time};

/// Longest lock file read back for the error message.
const MAX_HOLDER: u64 = 4096;

/// Longest sample file hashed again on resume (larger ones are generated again).
const MAX_VERIFIED_FILE: u64 = 1 << 32;

/// The prefix of a run's temporary files: `.medigan-<manifest stem>.`.
pub(crate) fn temporary_prefix(manifest_name: &str) -> String {
    format!(".medigan-{}.", record_stem(manifest_name))
}

/// An exclusive lock on one shard of an output folder, released (and its file removed) when
/// dropped, or by the OS when the process dies.
#[derive(Debug)]
pub(crate) struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// Locks `.<manifest stem>.lock` in `dir` without waiting, or fails naming the holder.
    pub fn acquire(dir: &Path, manifest_name: &str) -> Result<RunLock, GenerateError> {
        let path = dir.join(format!(".{}.lock", record_stem(manifest_name)));
        // A holder removes its lock file before it unlocks, so a file locked after it was
        // removed is stale: open the new one and try again.
        for _ in 0..16 {
            let mut file =
                open_no_follow(&path, true).map_err(GenerateError::run_file("open lock", &path))?;
            if !is_own_file(&file) {
                // A hard link (or a FIFO, a device) planted under the lock's name: writing the
                // holder would write into its target. Remove the name (the target keeps its
                // other names) and make a file of our own.
                tracing::warn!(
                    "`{}` is not a plain file of its own (a hard link?): replacing it",
                    path.display()
                );
                drop(file);
                std::fs::remove_file(&path)
                    .map_err(GenerateError::run_file("replace lock", &path))?;
                continue;
            }
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(GenerateError::OutputInUse {
                        dir: dir.to_path_buf(),
                        manifest: manifest_name.to_string(),
                        holder: read_holder(&mut file),
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(GenerateError::run_file("lock", &path)(e));
                }
            }
            if same_file(&file, &path) {
                write_holder(&mut file, &path)?;
                return Ok(RunLock { file, path });
            }
        }
        Err(GenerateError::run_file("lock", &path)(
            std::io::Error::other("the lock file keeps being replaced"),
        ))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Whether an open file is a regular file with no other name (one hard link).
#[cfg(unix)]
fn is_own_file(file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    file.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.nlink() == 1)
}

#[cfg(not(unix))]
fn is_own_file(file: &File) -> bool {
    file.metadata().is_ok_and(|meta| meta.is_file())
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.is_file()
}

fn write_holder(file: &mut File, path: &Path) -> Result<(), GenerateError> {
    use std::io::Write;
    let (date, time) = utc_date_time(SystemTime::now());
    let holder = serde_json::json!({
        "pid": std::process::id(),
        "host": host_name(),
        "started": format!(
            "{}-{}-{} {}:{}:{} UTC",
            &date[0..4], &date[4..6], &date[6..8], &time[0..2], &time[2..4], &time[4..6]
        ),
    });
    file.set_len(0)
        .and_then(|()| file.write_all(format!("{holder}\n").as_bytes()))
        .map_err(GenerateError::run_file("write lock", path))
}

/// "pid 123 on host node7, started 2026-12-02 13:50:01 UTC", from the lock file.
fn read_holder(file: &mut File) -> String {
    use std::io::Read;
    let mut text = String::new();
    let _ = file.by_ref().take(MAX_HOLDER).read_to_string(&mut text);
    let Ok(holder) = serde_json::from_str::<Value>(&text) else {
        return "a process that has not yet said who it is".into();
    };
    format!(
        "pid {} on host {}, started {}",
        holder["pid"],
        holder["host"].as_str().unwrap_or("?"),
        holder["started"].as_str().unwrap_or("?")
    )
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// What a run needs to know to name and check its files.
pub(crate) struct Layout<'a> {
    /// The output folder.
    pub dir: &'a Path,
    /// The manifest's name.
    pub manifest_name: &'a str,
    /// The manifest header of this run.
    pub header: &'a ManifestHeader,
    /// The sample indices of this run.
    pub indices: Range<u64>,
    /// The sample file name of `(index, is_mask)` (with `--pack tar`, the name of its tar).
    pub file_name: &'a dyn Fn(u64, bool) -> String,
    /// The run's tars, with `--pack tar`.
    pub tars: Option<Tars>,
}

/// A run that holds its folder: the lock, the journal, and the samples kept from earlier.
pub(crate) struct OpenRun {
    /// Held until the run ends.
    pub _lock: RunLock,
    /// Where completed samples are recorded.
    pub journal: JournalWriter,
    /// Which samples an earlier run left that are kept.
    pub kept: KeptSet,
    /// Files of the kept samples.
    pub kept_files: u64,
}

/// Claims the folder for a run: locks its shard, deals with an earlier run as `mode` says,
/// refuses overlapping runs and (for a fresh run) files it would overwrite, and starts the
/// journal.
pub(crate) fn open_run(layout: &Layout<'_>, mode: RunMode) -> Result<OpenRun, GenerateError> {
    let dir = layout.dir;
    let lock = RunLock::acquire(dir, layout.manifest_name)?;
    let prefix = temporary_prefix(layout.manifest_name);
    remove_leftovers(dir, &prefix, layout.manifest_name);
    let journal_path = dir.join(journal_name(layout.manifest_name));
    let manifest_path = dir.join(layout.manifest_name);
    let earlier = earlier_record(&journal_path, &manifest_path, mode)?;
    match mode {
        RunMode::Fresh => refuse_earlier_run(dir, earlier.as_ref(), &manifest_path)?,
        RunMode::Overwrite => discard(dir, &journal_path, &manifest_path),
        RunMode::Resume => {}
    }
    let resumed = earlier.filter(|_| mode == RunMode::Resume);
    let (journal, kept, kept_files) =
        start_journal(layout, resumed.as_ref(), &journal_path, &prefix)?;
    // From here the journal holds the run; a published manifest would vouch for files that
    // are about to be written again.
    if std::fs::symlink_metadata(&manifest_path).is_ok() {
        std::fs::remove_file(&manifest_path)
            .map_err(GenerateError::run_file("remove", &manifest_path))?;
    }
    let run = OpenRun {
        _lock: lock,
        journal,
        kept,
        kept_files,
    };
    let checked = check_overlaps(layout).and_then(|()| match mode {
        RunMode::Fresh => check_no_foreign_files(layout),
        RunMode::Resume | RunMode::Overwrite => Ok(()),
    });
    if let Err(error) = checked {
        if run.kept.count() == 0 {
            let _ = std::fs::remove_file(run.journal.path());
        }
        return Err(error);
    }
    Ok(run)
}

/// A fresh run refuses a folder holding an earlier run of its shard (a journal that records
/// a sample, or a manifest).
fn refuse_earlier_run(
    dir: &Path,
    earlier: Option<&Record>,
    manifest_path: &Path,
) -> Result<(), GenerateError> {
    let in_the_way = match earlier {
        Some(record) if !is_empty_journal(record) => {
            (record.path.clone(), record.kind, record.samples)
        }
        // An empty journal holds nothing, but a manifest beside it does.
        _ if std::fs::symlink_metadata(manifest_path).is_ok() => {
            let record = Record::open(manifest_path, RecordKind::Manifest)?;
            (record.path, record.kind, record.samples)
        }
        _ => return Ok(()),
    };
    let (path, kind, samples) = in_the_way;
    Err(GenerateError::EarlierRun {
        dir: dir.to_path_buf(),
        record: file_name_of(&path),
        state: match kind {
            RecordKind::Manifest => "finished",
            RecordKind::Journal => "interrupted",
        },
        samples,
    })
}

/// Writes the run's journal: its head, then the samples of `resumed` whose files are intact.
/// Returns it with the kept samples and their file count.
fn start_journal(
    layout: &Layout<'_>,
    resumed: Option<&Record>,
    journal_path: &Path,
    prefix: &str,
) -> Result<(JournalWriter, KeptSet, u64), GenerateError> {
    let mut kept = KeptSet::new(layout.indices.clone());
    let mut kept_files = 0u64;
    let verified: Box<dyn Iterator<Item = Result<JournalSample, GenerateError>>> = match resumed {
        Some(record) => {
            check_same_run(record, layout.header)?;
            if layout.header.format == "dicom" && record.samples > 0 {
                return Err(GenerateError::ResumeUnsupported {
                    format: "dicom".into(),
                });
            }
            Box::new(record.samples()?.filter_map(|sample| match sample {
                Ok(sample) if sample_is_intact(layout, &sample) => {
                    sample.covered().for_each(|index| kept.insert(index));
                    kept_files += sample.files.len() as u64;
                    Some(Ok(sample))
                }
                Ok(_) => None,
                Err(error) => Some(Err(error)),
            }))
        }
        None => Box::new(std::iter::empty()),
    };
    let journal = JournalWriter::create(
        journal_path,
        layout.manifest_name,
        layout.header,
        verified,
        prefix,
    )?;
    Ok((journal, kept, kept_files))
}

/// The journal, else the manifest, of an earlier run of this shard. A damaged one is an error
/// unless it is about to be overwritten.
fn earlier_record(
    journal: &Path,
    manifest: &Path,
    mode: RunMode,
) -> Result<Option<Record>, GenerateError> {
    let found = [
        (journal, RecordKind::Journal),
        (manifest, RecordKind::Manifest),
    ]
    .into_iter()
    .find(|(path, _)| std::fs::symlink_metadata(path).is_ok());
    let Some((path, kind)) = found else {
        return Ok(None);
    };
    match Record::open(path, kind) {
        Ok(record) => Ok(Some(record)),
        Err(_) if mode == RunMode::Overwrite => Ok(None),
        Err(error) => Err(error),
    }
}

fn is_empty_journal(record: &Record) -> bool {
    record.kind == RecordKind::Journal && record.samples == 0
}

/// Removes an earlier run of this shard: the files its journal and manifest list that the run
/// itself wrote, then the two records. A listed file is removed only when it is a regular
/// file in the folder, named as a run names its samples for the sample index it is listed
/// under (`00042.png`, `00042_mask.npy`, `shard-000003.tar`), inside the record's own samples,
/// and still has the sha256 the record gives it: an edited record cannot make `--overwrite`
/// delete a `README.txt`, another shard's manifest, or a file changed since.
fn discard(dir: &Path, journal: &Path, manifest: &Path) {
    for (path, kind) in [
        (journal, RecordKind::Journal),
        (manifest, RecordKind::Manifest),
    ] {
        let Ok(record) = Record::open(path, kind) else {
            continue;
        };
        let Some(indices) = record.header.indices() else {
            continue;
        };
        let Ok(samples) = record.samples() else {
            continue;
        };
        for sample in samples.map_while(Result::ok) {
            for file in &sample.files {
                if indices.contains(&sample.index)
                    && is_sample_file_name(&file.file, sample.index, &file.part)
                    && file_has_hash(&dir.join(&file.file), &file.sha256)
                {
                    let _ = std::fs::remove_file(dir.join(&file.file));
                }
            }
        }
    }
    let _ = std::fs::remove_file(manifest);
    let _ = std::fs::remove_file(journal);
}

/// Whether `name` is a name a run gives the `part` of sample `index` (in any format): a
/// zero-padded index (`_mask` for a mask) and a sample extension, or `shard-N.tar` for the tar
/// starting at `index`.
fn is_sample_file_name(name: &str, index: u64, part: &str) -> bool {
    if !is_plain_name(name) {
        return false;
    }
    if part == "tar" {
        return name
            .strip_prefix("shard-")
            .and_then(|rest| rest.strip_suffix(".tar"))
            .is_some_and(|digits| {
                !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
            });
    }
    let Some((stem, extension)) = name.split_once('.') else {
        return false;
    };
    if !SAMPLE_EXTENSIONS.contains(&extension) {
        return false;
    }
    let digits = match part {
        "mask" => stem.strip_suffix("_mask"),
        "image" => Some(stem),
        _ => None,
    };
    digits.is_some_and(|d| {
        d.len() >= 5 && d.bytes().all(|b| b.is_ascii_digit()) && d.parse() == Ok(index)
    })
}

/// The extensions of sample files (every `--format`).
const SAMPLE_EXTENSIONS: [&str; 5] = ["png", "npy", "dcm", "nii", "nii.gz"];

/// A file name in the folder itself: no separators, not hidden, not `..`.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && Path::new(name).file_name().is_some_and(|n| n == name)
}

/// Removes the temporary files a killed run of this shard left (and the `.<manifest>.part`
/// of older versions).
fn remove_leftovers(dir: &Path, prefix: &str, manifest_name: &str) {
    let old_partial = format!(".{manifest_name}.part");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if (name.starts_with(prefix) && name.ends_with(".part")) || name == old_partial {
            tracing::info!("removing `{name}`, left by an interrupted run");
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Refuses to resume from a record of a run with other arguments, naming the first field
/// that differs. The batch size is not compared: it groups samples, it does not change them,
/// so a run that timed out may resume with a smaller `--batch`.
fn check_same_run(record: &Record, header: &ManifestHeader) -> Result<(), GenerateError> {
    let without_batch = |header: &ManifestHeader| {
        let mut header = serde_json::to_value(header).unwrap_or_default();
        if let Some(arguments) = header.get_mut("arguments").and_then(Value::as_object_mut) {
            arguments.remove("batch_size");
        }
        header
    };
    match first_difference(&without_batch(&record.header), &without_batch(header), "") {
        None => Ok(()),
        Some((field, was, now)) => Err(GenerateError::ResumeMismatch {
            record: record.path.clone(),
            field,
            was,
            now,
        }),
    }
}

/// The path and both values of the first difference between two JSON values.
fn first_difference(was: &Value, now: &Value, path: &str) -> Option<(String, String, String)> {
    if let (Value::Object(a), Value::Object(b)) = (was, now) {
        let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
        for key in keys {
            let null = Value::Null;
            let field = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            let found = first_difference(
                a.get(key).unwrap_or(&null),
                b.get(key).unwrap_or(&null),
                &field,
            );
            if found.is_some() {
                return found;
            }
        }
        return None;
    }
    (was != now).then(|| (path.to_string(), was.to_string(), now.to_string()))
}

/// Whether every file of a recorded sample (or tar of samples) is in place with the recorded
/// sha256 (a regular file, not a link, under the name this run would give it).
fn sample_is_intact(layout: &Layout<'_>, sample: &JournalSample) -> bool {
    if !layout.indices.contains(&sample.index) || sample.files.is_empty() {
        return false;
    }
    let expected = match layout.tars {
        Some(tars) => tars.samples(tars.of(sample.index)),
        None => sample.index..sample.index + 1,
    };
    if sample.covered() != expected || expected.end > layout.indices.end {
        return false;
    }
    // Every sample's seed follows from the run seed and its index (for a tar, its first
    // sample's): a line with another seed records a sample of another run, or was edited.
    if crate::sample::sample_seed(layout.header.seed, sample.index) != sample.seed {
        tracing::warn!(
            "sample {} is recorded with seed {}, not the one the run seed gives: generating it again",
            sample.index,
            sample.seed
        );
        return false;
    }
    sample.files.iter().all(|file| {
        let expected = (layout.file_name)(sample.index, file.part == "mask");
        expected == file.file && file_has_hash(&layout.dir.join(&file.file), &file.sha256)
    })
}

/// Whether `path` is a regular file (not a link, FIFO or device) of at most
/// [`MAX_VERIFIED_FILE`] bytes with this sha256.
fn file_has_hash(path: &Path, sha256: &str) -> bool {
    let Ok((mut file, _)) =
        crate::fs::open_regular(path, crate::fs::Links::Refuse, Some(MAX_VERIFIED_FILE))
    else {
        return false;
    };
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).is_ok() && hex::encode(hasher.finalize()) == sha256
}

/// Refuses when another run recorded in the folder (a journal or manifest of another name)
/// covers some of this run's samples.
fn check_overlaps(layout: &Layout<'_>) -> Result<(), GenerateError> {
    let ours = &layout.indices;
    if ours.is_empty() {
        return Ok(());
    }
    let own_journal = journal_name(layout.manifest_name);
    let record_kind = |name: &str| {
        if name.parse::<ManifestName>().is_ok() {
            return Some(RecordKind::Manifest);
        }
        let stem = name.strip_prefix('.')?.strip_suffix(".journal")?;
        format!("{stem}.jsonl")
            .parse::<ManifestName>()
            .is_ok()
            .then_some(RecordKind::Journal)
    };
    let select = |path: &Path| {
        path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
            record_kind(n).is_some() && n != layout.manifest_name && n != own_journal
        })
    };
    // The folder itself, links not followed, regular files only (a FIFO named like another
    // shard's journal is skipped, not opened).
    let Ok(listing) = crate::walk::walk(
        layout.dir,
        &crate::walk::Walk {
            links: crate::walk::Links::Refuse,
            max_depth: 0,
            skip_hidden: false,
            select: &select,
        },
    ) else {
        return Ok(());
    };
    for skipped in &listing.skipped {
        if matches!(skipped.reason, crate::walk::SkipReason::Special(_)) {
            tracing::warn!("ignoring {skipped} in the output folder");
        }
    }
    for entry in listing.files {
        let name = entry.relative;
        let Some(kind) = record_kind(&name) else {
            continue;
        };
        let Some(theirs) = Record::header_of(&entry.path, kind)
            .ok()
            .and_then(|header| header.indices())
        else {
            tracing::warn!("ignoring `{name}` in the output folder: not a run record");
            continue;
        };
        if theirs.start < ours.end && ours.start < theirs.end {
            return Err(GenerateError::OverlappingRun {
                dir: layout.dir.to_path_buf(),
                other: name,
                theirs: format!("{}..{}", theirs.start, theirs.end),
                ours: format!("{}..{}", ours.start, ours.end),
            });
        }
    }
    Ok(())
}

/// Refuses a fresh run into a folder holding a file it would write.
fn check_no_foreign_files(layout: &Layout<'_>) -> Result<(), GenerateError> {
    if layout.indices.is_empty() {
        return Ok(());
    }
    let Ok(entries) = std::fs::read_dir(layout.dir) else {
        return Ok(());
    };
    if let Some(tars) = layout.tars {
        return check_no_foreign_tars(layout, tars, entries);
    }
    let first = (layout.file_name)(layout.indices.start, false);
    let extension = first.split_once('.').map_or("", |(_, ext)| ext);
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(index) = sample_index_of(&name, extension) else {
            continue;
        };
        if layout.indices.contains(&index)
            && ((layout.file_name)(index, false) == name || (layout.file_name)(index, true) == name)
        {
            return Err(GenerateError::ExistingFile {
                dir: layout.dir.to_path_buf(),
                file: name,
            });
        }
    }
    Ok(())
}

/// Refuses a fresh packed run into a folder holding one of the tars it would write.
fn check_no_foreign_tars(
    layout: &Layout<'_>,
    tars: Tars,
    entries: std::fs::ReadDir,
) -> Result<(), GenerateError> {
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(tar) = tars.number_of(&name) else {
            continue;
        };
        let samples = tars.samples(tar);
        if samples.start < layout.indices.end && layout.indices.start < samples.end {
            return Err(GenerateError::ExistingFile {
                dir: layout.dir.to_path_buf(),
                file: name,
            });
        }
    }
    Ok(())
}

/// The index of a sample file name `00042.ext` or `00042_mask.ext`.
fn sample_index_of(name: &str, extension: &str) -> Option<u64> {
    let stem = name.strip_suffix(extension)?.strip_suffix('.')?;
    let digits = stem.strip_suffix("_mask").unwrap_or(stem);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn file_name_of(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The samples of a run's indices kept from an earlier run: one bit per sample.
#[derive(Debug, Clone)]
pub(crate) struct KeptSet {
    indices: Range<u64>,
    bits: Vec<u64>,
    count: u64,
}

impl KeptSet {
    /// No sample kept.
    pub fn new(indices: Range<u64>) -> KeptSet {
        KeptSet {
            indices,
            bits: Vec::new(),
            count: 0,
        }
    }

    /// Marks `index` kept (indices outside the run are ignored).
    pub fn insert(&mut self, index: u64) {
        if !self.indices.contains(&index) {
            return;
        }
        let offset = index - self.indices.start;
        let word = (offset / 64) as usize;
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        let bit = 1u64 << (offset % 64);
        if self.bits[word] & bit == 0 {
            self.bits[word] |= bit;
            self.count += 1;
        }
    }

    /// Whether `index` is kept.
    pub fn contains(&self, index: u64) -> bool {
        if !self.indices.contains(&index) {
            return false;
        }
        let offset = index - self.indices.start;
        self.bits
            .get((offset / 64) as usize)
            .is_some_and(|word| word & (1u64 << (offset % 64)) != 0)
    }

    /// How many samples are kept.
    pub fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_difference_names_the_field_and_both_values() {
        let was = serde_json::json!({"seed": 1, "arguments": {"batch_size": 2}});
        let now = serde_json::json!({"seed": 1, "arguments": {"batch_size": 4}});
        assert_eq!(
            first_difference(&was, &now, ""),
            Some(("arguments.batch_size".into(), "2".into(), "4".into()))
        );
        assert_eq!(first_difference(&was, &was, ""), None);
    }

    #[test]
    fn sample_names_are_recognised_only_in_full() {
        assert_eq!(sample_index_of("00042.png", "png"), Some(42));
        assert_eq!(sample_index_of("00042_mask.png", "png"), Some(42));
        assert_eq!(sample_index_of("00042.npy", "png"), None);
        assert_eq!(sample_index_of("x00042.png", "png"), None);
        assert_eq!(sample_index_of(".png", "png"), None);
    }

    #[test]
    fn kept_set_counts_each_index_once() {
        let mut kept = KeptSet::new(100..300);
        for i in [100, 163, 164, 299, 299, 5, 300] {
            kept.insert(i);
        }
        assert_eq!(kept.count(), 4);
        assert!(kept.contains(164) && !kept.contains(165) && !kept.contains(5));
    }

    #[test]
    fn a_second_lock_on_the_same_shard_names_the_holder_and_other_shards_lock_freely() {
        let dir = tempfile::tempdir().unwrap();
        let held = RunLock::acquire(dir.path(), "manifest.jsonl").unwrap();
        let error = RunLock::acquire(dir.path(), "manifest.jsonl").unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        assert!(message.contains("started 20"), "{message}");
        let _other = RunLock::acquire(dir.path(), "manifest-shard-1-of-2.jsonl").unwrap();
        drop(held);
        assert!(!dir.path().join(".manifest.lock").exists());
        let _again = RunLock::acquire(dir.path(), "manifest.jsonl").unwrap();
    }
}
