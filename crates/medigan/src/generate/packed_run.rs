//! A packed run (`--pack tar`) whose samples are generated and whose tars are written by another
//! engine's tasks ([`PackedRun`]): Ray Data's `map_batches` calls [`PackedRun::samples`] on any
//! set of indices, in any order, on any worker, as often as it retries; its writer calls
//! [`PackedRun::write_tar`] once per tar and [`PackedRun::write_manifest`] at the end. The bytes
//! are those of `medigan generate --pack tar` with the same request: the tar layout
//! (`tar_layout`), the members (`tar_packer::tar_members`) and the manifest header
//! (`run::RunSetup`) are the same code.
//!
//! ```text
//! indices --samples()--> PackedSample {index, seed, image, members}   (any worker, any order)
//! members of tar t --write_tar(dir, t)--> dir/shard-00000t.tar, ManifestLine
//! every line --write_manifest(dir)--> dir/manifest.jsonl
//! ```

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ndarray::ArrayD;
use sha2::{Digest, Sha256};

use super::folder::temporary_prefix;
use super::run::RunSetup;
use super::tar_layout::Tars;
use super::tar_packer::tar_members;
use super::{GenerateError, GenerateRequest, Generator, RunMode, WriteTarget};
use crate::catalog::ModelEntry;
use crate::dataset::manifest::{ManifestLine, file_sha256};
use crate::model::Model;
use crate::output::{Format, ManifestWriter, TarPackWriter, index_digits, manifest_name};
use crate::runtime::BackendKind;
use crate::sample::Sample;

/// Most samples one [`PackedRun::samples`] call generates: a task's batch stays bounded
/// whatever the engine asks (the byte bound of in-memory runs applies as well).
pub const MAX_SAMPLES_PER_CALL: usize = 65_536;

/// One sample of a packed run as the engine carries it between its tasks: the index, seed and
/// the tar members' names and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleEntry {
    /// The sample's index in the run.
    pub index: u64,
    /// The sample's seed.
    pub seed: u64,
    /// Its tar members (`{key}.json`, `{key}.{ext}`, `{key}.mask.{ext}`), in name order.
    pub members: Vec<(String, Vec<u8>)>,
}

/// A generated sample of a packed run: its members, and the arrays for engines that hand them
/// on (a training step, an evaluation) instead of writing them.
#[derive(Debug, Clone)]
pub struct PackedSample {
    /// Index, seed and tar members.
    pub entry: SampleEntry,
    /// The class the sample was conditioned on.
    pub label: Option<String>,
    /// The image, `[C, H, W]` or `[C, D, H, W]`, in the model's value range.
    pub image: ArrayD<f32>,
    /// The mask, for image+mask models.
    pub mask: Option<ArrayD<f32>>,
    /// The sha256 of the image's encoded file (its member `{key}.{ext}`).
    pub image_sha256: String,
}

/// A `--pack tar` run (or one shard of it) driven by another engine: see the module docs.
/// Shareable between threads; the model's generator is made on first use and kept.
pub struct PackedRun {
    model: Model,
    setup: RunSetup,
    request: GenerateRequest,
    format: Format,
    tars: Tars,
    backend: Option<BackendKind>,
    generator: Mutex<Option<Box<dyn Generator>>>,
    notes: Mutex<Vec<String>>,
}

impl std::fmt::Debug for PackedRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedRun")
            .field("model", &self.model.id())
            .field("indices", &self.indices())
            .field("format", &self.format.name())
            .finish_non_exhaustive()
    }
}

impl PackedRun {
    /// Resolves `request` (which must ask for `--pack tar`) against `model` (catalogue entry
    /// `entry`) for samples in `format`; every check of `medigan generate` runs here, before
    /// any sample is generated.
    pub fn new(
        model: Model,
        entry: &ModelEntry,
        request: &GenerateRequest,
        format: Format,
        backend: Option<BackendKind>,
    ) -> crate::Result<PackedRun> {
        let Some(pack) = request.pack else {
            return Err(GenerateError::BadRequest {
                what: "samples per shard",
                reason: "a packed run writes tar shards: give the samples per shard".into(),
            }
            .into());
        };
        let setup = RunSetup::prepare(&model, entry, request, None, format)?;
        Ok(PackedRun {
            tars: Tars::new(pack, request.num_samples),
            model,
            setup,
            request: request.clone(),
            format,
            backend,
            generator: Mutex::new(None),
            notes: Mutex::new(Vec::new()),
        })
    }

    /// The sample indices of the run (or of its shard).
    pub fn indices(&self) -> Range<u64> {
        self.setup.plan.indices()
    }

    /// The tars this run (or shard) writes, in order.
    pub fn tars(&self) -> Range<u64> {
        let indices = self.indices();
        if indices.is_empty() {
            return 0..0;
        }
        self.tars.of(indices.start)..self.tars.of(indices.end - 1) + 1
    }

    /// The tar that holds sample `index`.
    pub fn tar_of(&self, index: u64) -> u64 {
        self.tars.of(index)
    }

    /// The samples of tar `tar`.
    pub fn tar_samples(&self, tar: u64) -> Range<u64> {
        self.tars.samples(tar)
    }

    /// The file name of tar `tar`, as `medigan generate --pack tar` names it.
    pub fn tar_name(&self, tar: u64) -> String {
        self.tars.name(tar)
    }

    /// The manifest's file name (`manifest.jsonl`, or the shard's own).
    pub fn manifest_name(&self) -> String {
        manifest_name(self.request.shard.map(|s| (s.index, s.count)))
    }

    /// What the generator has said since last asked (NaN values seen, ...), each once.
    pub fn take_notes(&self) -> Vec<String> {
        self.notes
            .lock()
            .map(|mut notes| std::mem::take(&mut *notes))
            .unwrap_or_default()
    }

    /// Generates the samples `indices` (any order, each in the run) and encodes their tar
    /// members. A sample's bytes depend on its index only, so a retried or reordered call gives
    /// the same bytes.
    pub fn samples(&self, indices: &[u64]) -> crate::Result<Vec<PackedSample>> {
        self.check_indices(indices)?;
        let mut slot = self
            .generator
            .lock()
            .map_err(|_| GenerateError::Worker("a generating thread panicked".into()))?;
        if slot.is_none() {
            let threads = self.request.thread_count();
            *slot = Some(
                self.model
                    .generator(&self.setup.plan, self.backend, threads)?,
            );
        }
        let generator = slot.as_mut().expect("made above");
        let target = self.target(Path::new("."));
        let mut out = Vec::with_capacity(indices.len());
        for chunk in indices.chunks(self.request.batch_size.max(1)) {
            let batch: Vec<_> = chunk.iter().map(|&i| self.setup.plan.request(i)).collect();
            for sample in generator.generate(&batch)? {
                out.push(packed_sample(sample, &target)?);
            }
        }
        self.keep_notes(generator.take_notes());
        Ok(out)
    }

    /// Writes tar `tar` into `dir` from its samples' entries (each sample of the tar once, in
    /// any order): the same bytes as `medigan generate --pack tar`, published atomically (a
    /// retried write replaces it with the same bytes). Returns the tar's manifest line.
    pub fn write_tar(
        &self,
        dir: &Path,
        tar: u64,
        entries: &[SampleEntry],
    ) -> crate::Result<ManifestLine> {
        let samples = self.check_tar(tar, entries)?;
        std::fs::create_dir_all(dir).map_err(|cause| io_error(dir, cause))?;
        let mut sorted: Vec<&SampleEntry> = entries.iter().collect();
        sorted.sort_by_key(|e| e.index);
        let name = self.tar_name(tar);
        let prefix = temporary_prefix(&self.manifest_name());
        let mut writer = TarPackWriter::create(&dir.join(&name), &prefix)?;
        for entry in &sorted {
            for (member, bytes) in &entry.members {
                writer.append(member, bytes)?;
            }
        }
        Ok(ManifestLine {
            file: name,
            index: samples.start,
            seed: sorted[0].seed,
            part: "tar".into(),
            label: None,
            samples: Some([samples.start, samples.end]),
            sha256: writer.finish()?,
        })
    }

    /// Writes the run's manifest into `dir` from the lines [`write_tar`](Self::write_tar)
    /// returned (each tar of the run once, any order), after checking every tar on disk
    /// against its line's sha256. Returns the manifest's path.
    pub fn write_manifest(&self, dir: &Path, lines: &[ManifestLine]) -> crate::Result<PathBuf> {
        let mut by_tar = std::collections::BTreeMap::new();
        for line in lines {
            let tar = self
                .tars
                .number_of(&line.file)
                .filter(|t| self.tars().contains(t));
            let Some(tar) = tar else {
                return Err(bad_writer(format!(
                    "`{}` is not a tar of this run",
                    line.file
                )));
            };
            if by_tar.insert(tar, line).is_some() {
                return Err(bad_writer(format!("`{}` is given twice", line.file)));
            }
        }
        if let Some(missing) = self.tars().find(|t| !by_tar.contains_key(t)) {
            return Err(bad_writer(format!(
                "no line for `{}`: every tar of the run must be written first",
                self.tar_name(missing)
            )));
        }
        let name = self.manifest_name();
        let mut manifest =
            ManifestWriter::create(dir, &name, &self.setup.header, &temporary_prefix(&name))?;
        for line in by_tar.values() {
            check_on_disk(dir, line)?;
            manifest.add(line)?;
        }
        Ok(manifest.finish()?)
    }

    /// Refuses indices outside the run, and more than [`MAX_SAMPLES_PER_CALL`] or the
    /// in-memory byte bound at once.
    fn check_indices(&self, indices: &[u64]) -> Result<(), GenerateError> {
        let run = self.indices();
        if let Some(bad) = indices.iter().find(|i| !run.contains(i)) {
            return Err(GenerateError::BadRequest {
                what: "sample index",
                reason: format!(
                    "{bad} is not in this run's samples {}..{}",
                    run.start, run.end
                ),
            });
        }
        if indices.len() > MAX_SAMPLES_PER_CALL {
            return Err(GenerateError::BadRequest {
                what: "sample indices",
                reason: format!(
                    "{} asked at once; at most {MAX_SAMPLES_PER_CALL} per call (give the engine \
                     smaller batches)",
                    indices.len()
                ),
            });
        }
        let count = indices.len() as u64;
        let bytes = self.model.sample_bytes().unwrap_or(0).saturating_mul(count);
        let limit = crate::limits::max_in_memory_bytes();
        if bytes > limit {
            return Err(GenerateError::TooLargeForMemory {
                model: self.model.id().to_string(),
                samples: count,
                bytes,
                limit,
            });
        }
        Ok(())
    }

    /// Checks that `entries` are exactly the samples of tar `tar`, with members named by their
    /// keys; returns the tar's samples.
    fn check_tar(&self, tar: u64, entries: &[SampleEntry]) -> crate::Result<Range<u64>> {
        if !self.tars().contains(&tar) {
            return Err(bad_writer(format!("tar {tar} is not one this run writes")));
        }
        let samples = self.tar_samples(tar);
        let given: BTreeSet<u64> = entries.iter().map(|e| e.index).collect();
        let expected: BTreeSet<u64> = samples.clone().collect();
        if given != expected || given.len() != entries.len() {
            return Err(bad_writer(format!(
                "tar `{}` holds samples {}..{}; got {} entries for {} distinct samples of it",
                self.tar_name(tar),
                samples.start,
                samples.end,
                entries.len(),
                given.intersection(&expected).count()
            )));
        }
        let digits = index_digits(self.request.num_samples);
        for entry in entries {
            let key = format!("{:0digits$}.", entry.index);
            if let Some((name, _)) = entry.members.iter().find(|(n, _)| !n.starts_with(&key)) {
                return Err(bad_writer(format!(
                    "member `{name}` does not belong to sample {}",
                    entry.index
                )));
            }
        }
        Ok(samples)
    }

    /// The write target the members are encoded for (the folder is not used to encode).
    fn target<'a>(&'a self, dir: &'a Path) -> WriteTarget<'a> {
        WriteTarget {
            dir,
            writer: self.setup.writer.as_ref(),
            header: self.setup.header.clone(),
            manifest_name: self.manifest_name(),
            image_range: self.model.image_range(),
            mask_range: self.model.mask_range(),
            provenance: self.setup.provenance.clone(),
            digits: index_digits(self.request.num_samples),
            mode: RunMode::Fresh,
            pack: self.request.pack,
        }
    }

    fn keep_notes(&self, notes: Vec<String>) {
        if let Ok(mut kept) = self.notes.lock() {
            for note in notes {
                if !kept.contains(&note) {
                    kept.push(note);
                }
            }
        }
    }
}

/// The samples' members and the image's digest.
fn packed_sample(sample: Sample, target: &WriteTarget<'_>) -> crate::Result<PackedSample> {
    let members = tar_members(&sample, target)?;
    let image_suffix = format!(".{}", target.writer.extension());
    let image_sha256 = members
        .iter()
        .find(|(name, _)| name.ends_with(&image_suffix) && !name.contains(".mask."))
        .map(|(_, bytes)| hex::encode(Sha256::digest(bytes)))
        .unwrap_or_default();
    Ok(PackedSample {
        entry: SampleEntry {
            index: sample.index,
            seed: sample.seed,
            members,
        },
        label: sample.label,
        image: sample.image,
        mask: sample.mask,
        image_sha256,
    })
}

/// Refuses a tar whose bytes on disk are not those its line records.
fn check_on_disk(dir: &Path, line: &ManifestLine) -> crate::Result<()> {
    let path = dir.join(&line.file);
    let actual = file_sha256(&path).map_err(|cause| io_error(&path, cause))?;
    if actual != line.sha256 {
        return Err(bad_writer(format!(
            "`{}` on disk has sha256 {actual}, not the {} it was written with: it changed \
             after it was written; write it again",
            path.display(),
            line.sha256
        )));
    }
    Ok(())
}

fn bad_writer(reason: String) -> crate::Error {
    GenerateError::BadRequest {
        what: "packed run",
        reason,
    }
    .into()
}

fn io_error(path: &Path, cause: std::io::Error) -> crate::Error {
    crate::output::OutputError::Io {
        path: path.to_path_buf(),
        cause,
    }
    .into()
}
