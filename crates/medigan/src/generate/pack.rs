//! `--pack tar`: a run's samples packed into WebDataset-style tar files instead of one file per
//! image and mask.
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
use serde_json::{Value, json};

use super::journal::{JournalFile, JournalSample};
use super::pipeline::{WriteTarget, encode_parts};
use super::{GenerateError, Shard};
use crate::output::{Part, TarPackWriter};
use crate::sample::Sample;

/// Fewest digits of a tar's number in its name (`shard-000000.tar`, as WebDataset writes them).
pub const TAR_NAME_DIGITS: usize = 6;

/// Samples packed into tar files of `samples_per_tar` samples each (`--pack tar
/// --samples-per-shard K`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pack {
    /// Samples per tar (K); the run's last tar may hold fewer.
    pub samples_per_tar: u64,
}

impl Pack {
    /// Refuses a zero `K`, and a shard of a `num_samples` run whose first or last sample would
    /// cut a tar (a tar is written by one shard, whole).
    pub fn check(&self, num_samples: u64, shard: Option<Shard>) -> Result<(), GenerateError> {
        let k = self.samples_per_tar;
        let bad = |reason: String| GenerateError::BadRequest {
            what: "--samples-per-shard",
            reason,
        };
        if k == 0 {
            return Err(bad("it must be at least 1".into()));
        }
        let Some(shard) = shard else { return Ok(()) };
        let range = shard.range(num_samples);
        let cut = |bound: u64| !bound.is_multiple_of(k) && bound != num_samples;
        if cut(range.start) || cut(range.end) {
            return Err(bad(format!(
                "shard {shard} holds samples {}..{}, which cuts a tar of {k} samples (tar t \
                 holds samples t*{k}..(t+1)*{k}); every shard must start and end on a multiple \
                 of {k}: make -n a multiple of {} x {k}",
                range.start, range.end, shard.count
            )));
        }
        Ok(())
    }

    /// How a manifest header records the packing, among the run's arguments.
    pub(crate) fn record(&self, arguments: &mut Value) {
        if let Some(map) = arguments.as_object_mut() {
            map.insert("pack".into(), json!("tar"));
            map.insert("samples_per_shard".into(), json!(self.samples_per_tar));
        }
    }
}

/// The tars of one run: which samples each holds, and their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tars {
    per_tar: u64,
    num_samples: u64,
    digits: usize,
}

impl Tars {
    /// The tars of a run of `num_samples` samples packed by `pack`.
    pub fn new(pack: Pack, num_samples: u64) -> Tars {
        let per_tar = pack.samples_per_tar.max(1);
        let count = num_samples.div_ceil(per_tar);
        let digits = count.saturating_sub(1).to_string().len();
        Tars {
            per_tar,
            num_samples,
            digits: digits.max(TAR_NAME_DIGITS),
        }
    }

    /// The number of the tar holding sample `index`.
    pub fn of(&self, index: u64) -> u64 {
        index / self.per_tar
    }

    /// The samples of tar `tar`.
    pub fn samples(&self, tar: u64) -> Range<u64> {
        let start = tar.saturating_mul(self.per_tar).min(self.num_samples);
        start..start.saturating_add(self.per_tar).min(self.num_samples)
    }

    /// The file name of tar `tar`: `shard-000042.tar`.
    pub fn name(&self, tar: u64) -> String {
        format!("shard-{tar:0width$}.tar", width = self.digits)
    }

    /// The number of a tar file name this run gives, if `name` is one.
    pub fn number_of(&self, name: &str) -> Option<u64> {
        let digits = name.strip_prefix("shard-")?.strip_suffix(".tar")?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let tar = digits.parse().ok()?;
        (self.name(tar) == name).then_some(tar)
    }
}

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
        for (name, bytes) in self.members(sample)? {
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

    /// A sample's members, in name order: `{key}.json`, the image and the mask.
    fn members(&self, sample: &Sample) -> Result<Vec<(String, Vec<u8>)>, GenerateError> {
        let key = format!("{:0width$}", sample.index, width = self.target.digits);
        let extension = self.target.writer.extension();
        let json = MemberJson {
            index: sample.index,
            seed: sample.seed,
            label: sample.label.as_deref(),
            model_id: &self.target.provenance.model_id,
        };
        let json = serde_json::to_vec(&json).map_err(|e| GenerateError::Worker(e.to_string()))?;
        let mut members = vec![(format!("{key}.json"), json)];
        for (part, bytes) in encode_parts(sample, self.target)? {
            let name = match part {
                Part::Image => format!("{key}.{extension}"),
                Part::Mask => format!("{key}.mask.{extension}"),
            };
            members.push((name, bytes));
        }
        members.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(members)
    }
}

fn out_of_order(got: u64, expected: u64) -> GenerateError {
    GenerateError::Worker(format!(
        "the tar writer got sample {got} where it expected sample {expected}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(k: u64) -> Pack {
        Pack { samples_per_tar: k }
    }

    #[test]
    fn tars_hold_consecutive_samples_and_the_last_may_hold_fewer() {
        let tars = Tars::new(pack(4), 10);
        assert_eq!(tars.of(0), 0);
        assert_eq!(tars.of(7), 1);
        assert_eq!(tars.samples(1), 4..8);
        assert_eq!(tars.samples(2), 8..10);
        assert_eq!(tars.name(2), "shard-000002.tar");
        assert_eq!(tars.number_of("shard-000002.tar"), Some(2));
        for other in [
            "shard-2.tar",
            "shard-000002.tar.part",
            "00002.png",
            "shard-00000x.tar",
        ] {
            assert_eq!(tars.number_of(other), None, "{other}");
        }
        // More than a million tars need more digits.
        let many = Tars::new(pack(1), 2_000_000);
        assert_eq!(many.name(5), "shard-0000005.tar");
    }

    #[test]
    fn a_shard_that_would_cut_a_tar_is_refused_naming_the_rule() {
        let shard = |index, count| Some(Shard { index, count });
        assert!(pack(4).check(32, shard(2, 4)).is_ok());
        assert!(pack(4).check(30, None).is_ok());
        // The last shard may end the run in the middle of a tar: that tar is the run's last.
        assert!(pack(4).check(30, shard(3, 3)).is_ok());
        let error = pack(1000).check(10_000, shard(2, 4)).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("2500..5000") && message.contains("multiple of 4 x 1000"),
            "{message}"
        );
        assert!(pack(0).check(10, None).is_err());
    }
}
