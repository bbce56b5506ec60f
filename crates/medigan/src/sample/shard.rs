//! Shards: part K of N of a run, a contiguous range of its sample indices. A leaf, so that the
//! run (`crate::generate`) and the manifests that name shards (`crate::dataset::manifest`) both
//! take it from below.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

/// The most shards a run may be split into (Slurm's own `MaxArraySize` cannot exceed 4
/// million; a million shards of one sample each is already far past any real split). Every
/// shard count read from a name, a flag or the environment is bounded by it before it drives a
/// loop: `dataset verify` looks for each shard of a split.
pub const MAX_SHARDS: u64 = 1_000_000;

/// A malformed shard (`--shard`, a manifest's name or header).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid shard `{value}`: expected K/N with 1 <= K <= N <= {MAX_SHARDS}, e.g. 1/4")]
pub struct BadShard {
    /// What was given.
    pub value: String,
}

/// Part `index` of `count` (1-based) of a run: a contiguous range of sample indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which part, from 1 to `count`.
    pub index: u64,
    /// How many parts.
    pub count: u64,
}

impl Shard {
    /// Whether `1 <= index <= count <= MAX_SHARDS` ([`MAX_SHARDS`]).
    pub fn is_valid(&self) -> bool {
        self.index >= 1 && self.index <= self.count && self.count <= MAX_SHARDS
    }

    /// The sample indices of this part of a run of `total` samples. The parts of a run are
    /// disjoint, cover it, and differ in size by at most one.
    pub fn range(&self, total: u64) -> Range<u64> {
        let bound = |k: u64| ((total as u128 * k as u128) / self.count as u128) as u64;
        bound(self.index - 1)..bound(self.index)
    }
}

impl FromStr for Shard {
    type Err = BadShard;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadShard {
            value: s.to_string(),
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = k.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        let shard = Shard { index, count };
        if !shard.is_valid() {
            return Err(bad());
        }
        Ok(shard)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_run_without_overlap() {
        for total in [0u64, 1, 7, 10, 1001] {
            for count in 1..=6u64 {
                let mut next = 0;
                for index in 1..=count {
                    let range = Shard { index, count }.range(total);
                    assert_eq!(range.start, next);
                    next = range.end;
                }
                assert_eq!(next, total);
            }
        }
    }

    #[test]
    fn shard_syntax_is_checked() {
        assert_eq!(
            "2/4".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 4 }
        );
        for bad in ["0/4", "5/4", "1/0", "4", "a/b", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
