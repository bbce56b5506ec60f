//! `--pack tar`: a run's samples packed into WebDataset-style tar files instead of one file per
//! image and mask, as they arrive ([`TarPacker`]; which samples each tar holds and its name are
//! `tar_layout`).
//!
//! ```text
//! out/
//!   shard-000000.tar    00000.json  00000.png  00001.json  00001.mask.png  00001.png ...
//!   shard-000001.tar    samples K..2K-1
//!   manifest.jsonl      one line per tar: {"file":"shard-000000.tar","index":0,"seed":..,
//!                                          "part":"tar","samples":[0,K],"sha256":".."}
//! ```
//!
//! - Tar `t` holds samples `[t*K, (t+1)*K)` of the whole run (the last one fewer), whatever the
//!   batch size or shard: tar boundaries depend on the global sample index only, so a tar's bytes
//!   are the same in any run that writes it. A shard writes the tars of its samples; a shard
//!   whose first or last sample would cut a tar is refused before anything is generated
//!   ([`Pack::check`]): make `-n` a multiple of (shards x K).
//! - A sample's key is its zero-padded index (as loose files are named); its members are
//!   `{key}.json` (index, seed, label, model id), `{key}.{ext}` (the image in `--format`) and
//!   `{key}.mask.{ext}`, in name order. Headers are fixed (`output::member_header`), so reruns
//!   give identical bytes.
//! - A tar is streamed into a temporary file as its samples arrive in order and renamed into
//!   place when its last sample is in; only then is it recorded in the journal, as one line
//!   naming its samples. A killed run's unfinished tar is written again on `--resume`; finished
//!   tars whose sha256 matches the journal are kept.

use std::ops::Range;
use std::path::PathBuf;

use serde::Serialize;

use super::GenerateError;
use super::journal::{JournalFile, JournalSample};
use super::tar_layout::{Pack, Tars};
use super::target::{WriteTarget, encode_parts};
use crate::output::{Part, TarPackWriter};
use crate::sample::Sample;

/// The `{key}.json` member of a sample.
#[derive(Serialize)]
struct MemberJson<'a> {
    index: u64,
    seed: u64,
    label: Option<&'a str>,
    model_id: &'a str,
}

/// A tar being written: its samples, the next one expected, and the first one's seed.
struct OpenTar {
    writer: TarPackWriter,
    name: String,
    samples: Range<u64>,
    next: u64,
    first_seed: u64,
}

/// The writer thread's sink for a packed run: takes samples in index order and writes each
/// tar as its samples arrive.
pub(crate) struct TarPacker<'a> {
    tars: Tars,
    target: &'a WriteTarget<'a>,
    temporary_prefix: &'a str,
    open: Option<OpenTar>,
}

impl<'a> TarPacker<'a> {
    /// A packer writing the tars of `target` (whose `pack` is `pack`).
    pub fn new(pack: Pack, target: &'a WriteTarget<'a>, temporary_prefix: &'a str) -> Self {
        TarPacker {
            tars: Tars::new(pack, target.header.num_samples),
            target,
            temporary_prefix,
            open: None,
        }
    }

    /// Adds the next sample to its tar; when that completes the tar, publishes it and returns
    /// its journal line.
    pub fn put(&mut self, sample: &Sample) -> Result<Option<JournalSample>, GenerateError> {
        let mut open = match self.open.take() {
            Some(open) => open,
            None => self.start(sample.index, sample.seed)?,
        };
        if sample.index != open.next {
            return Err(out_of_order(sample.index, open.next));
        }
        for (name, bytes) in tar_members(sample, self.target)? {
            open.writer.append(&name, &bytes)?;
        }
        open.next += 1;
        if open.next < open.samples.end {
            self.open = Some(open);
            return Ok(None);
        }
        let sha256 = open.writer.finish()?;
        Ok(Some(JournalSample {
            index: open.samples.start,
            seed: open.first_seed,
            label: None,
            samples: Some([open.samples.start, open.samples.end]),
            files: vec![JournalFile {
                file: open.name,
                part: "tar".into(),
                sha256,
            }],
        }))
    }

    /// Fails if a tar was started but not finished (the samples stopped in its middle).
    pub fn finish(self) -> Result<(), GenerateError> {
        match self.open {
            None => Ok(()),
            Some(open) => Err(GenerateError::Worker(format!(
                "tar `{}` got samples {}..{} of {}..{}",
                open.name, open.samples.start, open.next, open.samples.start, open.samples.end
            ))),
        }
    }

    /// Opens the tar that sample `index` (seed `seed`) must be the first of.
    fn start(&self, index: u64, seed: u64) -> Result<OpenTar, GenerateError> {
        let tar = self.tars.of(index);
        let samples = self.tars.samples(tar);
        if index != samples.start {
            return Err(out_of_order(index, samples.start));
        }
        let name = self.tars.name(tar);
        let path: PathBuf = self.target.dir.join(&name);
        Ok(OpenTar {
            writer: TarPackWriter::create(&path, self.temporary_prefix)?,
            name,
            next: index,
            samples,
            first_seed: seed,
        })
    }
}

/// A sample's tar members, in name order: `{key}.json` (index, seed, label, model id), the
/// image and the mask, in `target`'s format. The packer and [`super::PackedRun`] both take them
/// from here, so a tar's bytes are the same whichever engine wrote it.
pub(super) fn tar_members(
    sample: &Sample,
    target: &WriteTarget<'_>,
) -> Result<Vec<(String, Vec<u8>)>, GenerateError> {
    let key = format!("{:0width$}", sample.index, width = target.digits);
    let extension = target.writer.extension();
    let json = MemberJson {
        index: sample.index,
        seed: sample.seed,
        label: sample.label.as_deref(),
        model_id: &target.provenance.model_id,
    };
    let json = serde_json::to_vec(&json).map_err(|e| GenerateError::Worker(e.to_string()))?;
    let mut members = vec![(format!("{key}.json"), json)];
    for (part, bytes) in encode_parts(sample, target)? {
        let name = match part {
            Part::Image => format!("{key}.{extension}"),
            Part::Mask => format!("{key}.mask.{extension}"),
        };
        members.push((name, bytes));
    }
    members.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(members)
}

fn out_of_order(got: u64, expected: u64) -> GenerateError {
    GenerateError::Worker(format!(
        "the tar writer got sample {got} where it expected sample {expected}"
    ))
}
