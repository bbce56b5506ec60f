//! `--pack tar`'s layout: which samples each tar of a run holds and what it is called
//! ([`Tars`]), and the option that asks for it ([`Pack`]). The folder checks, the journal and the
//! packer all take it from here.

use std::ops::Range;

use serde_json::{Value, json};

use super::GenerateError;
use crate::error::{Advice, OptionName};
use crate::sample::Shard;

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
        let bad = |reason: Advice| GenerateError::BadOption {
            option: OptionName::SamplesPerShard,
            reason,
        };
        if k == 0 {
            return Err(bad("it must be at least 1".into()));
        }
        let Some(shard) = shard else { return Ok(()) };
        let range = shard.range(num_samples);
        let cut = |bound: u64| !bound.is_multiple_of(k) && bound != num_samples;
        if cut(range.start) || cut(range.end) {
            return Err(bad(Advice::text(format!(
                "shard {shard} holds samples {}..{}, which cuts a tar of {k} samples (tar t \
                 holds samples t*{k}..(t+1)*{k}); every shard must start and end on a multiple \
                 of {k}: make ",
                range.start, range.end
            ))
            .then_option(OptionName::NumSamples, None)
            .then_text(format!(" a multiple of {} x {k}", shard.count))));
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
