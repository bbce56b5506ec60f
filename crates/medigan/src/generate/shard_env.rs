//! `--shard auto`: which shard this process is, from the scheduler's environment.
//!
//! A Slurm job array sets `SLURM_ARRAY_TASK_ID` with `SLURM_ARRAY_TASK_MIN`, `_MAX`, `_COUNT`
//! and `_STEP`; arrays may start at 0 or 1 (`--array=0-3`, `--array=1-4`) or step
//! (`--array=0-30:10`); task `MIN + (K-1) * STEP` is shard `K/COUNT`. A Kubernetes Indexed Job
//! sets `JOB_COMPLETION_INDEX` (0-based) in each pod but not the number of completions, so that
//! comes from `--shards N`. This module is the one place these variables are read.

use std::fmt;

use super::{GenerateError, Shard};
use crate::error::{Advice, OptionName};
pub use crate::sample::MAX_SHARDS;

/// The Slurm array task id of this process.
pub const SLURM_ARRAY_TASK_ID: &str = "SLURM_ARRAY_TASK_ID";
/// The lowest task id of the Slurm array.
pub const SLURM_ARRAY_TASK_MIN: &str = "SLURM_ARRAY_TASK_MIN";
/// The highest task id of the Slurm array.
pub const SLURM_ARRAY_TASK_MAX: &str = "SLURM_ARRAY_TASK_MAX";
/// The number of tasks of the Slurm array.
pub const SLURM_ARRAY_TASK_COUNT: &str = "SLURM_ARRAY_TASK_COUNT";
/// The step between task ids of the Slurm array (`--array=0-30:10`).
pub const SLURM_ARRAY_TASK_STEP: &str = "SLURM_ARRAY_TASK_STEP";
/// Set in every Slurm job, array or not.
pub const SLURM_JOB_ID: &str = "SLURM_JOB_ID";
/// The completion index of a pod of a Kubernetes Indexed Job (0-based).
pub const JOB_COMPLETION_INDEX: &str = "JOB_COMPLETION_INDEX";

/// The scheduler a shard was found in, with the values it was computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardOrigin {
    /// A Slurm job array.
    Slurm {
        /// `SLURM_ARRAY_TASK_ID`.
        task_id: u64,
        /// `SLURM_ARRAY_TASK_MIN`.
        min: u64,
        /// `SLURM_ARRAY_TASK_MAX`.
        max: u64,
        /// `SLURM_ARRAY_TASK_STEP` (1 when unset).
        step: u64,
    },
    /// A Kubernetes Indexed Job.
    Kubernetes {
        /// `JOB_COMPLETION_INDEX`.
        index: u64,
    },
}

impl fmt::Display for ShardOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardOrigin::Slurm {
                task_id,
                min,
                max,
                step,
            } => {
                write!(f, "Slurm array task {task_id} of {min}-{max}")?;
                if *step != 1 {
                    write!(f, ":{step}")?;
                }
                Ok(())
            }
            ShardOrigin::Kubernetes { index } => {
                write!(f, "Kubernetes Indexed Job, {JOB_COMPLETION_INDEX}={index}")
            }
        }
    }
}

/// Which shard a run is, as a front end was given it: part K of N (`--shard 2/4`,
/// `shard="2/4"`), or `auto`, found in the scheduler's environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardChoice {
    /// Part K of N.
    Part(Shard),
    /// From the scheduler's environment ([`shard_from_environment`]).
    Auto,
}

impl std::str::FromStr for ShardChoice {
    type Err = GenerateError;

    /// `auto` (any case) or `K/N`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim().eq_ignore_ascii_case("auto") {
            return Ok(ShardChoice::Auto);
        }
        Ok(ShardChoice::Part(text.parse()?))
    }
}

/// The shard a run takes: the choice and the number of shards that may go with `auto` (the
/// one place the rule "a number of shards goes with `auto` only" is kept; the CLI and Python
/// only translate their flags and keywords into it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardRequest {
    /// The shard given, if any.
    pub choice: Option<ShardChoice>,
    /// The number of shards, with [`ShardChoice::Auto`] (a Kubernetes Indexed Job does not
    /// say it; under Slurm it is checked against the array's size).
    pub shards: Option<u64>,
}

/// The shard a [`ShardRequest`] resolved to, with the scheduler it came from for `auto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedShard {
    /// The shard.
    pub shard: Shard,
    /// The scheduler it was found in (`auto`), or `None` for a shard given as K/N.
    pub origin: Option<ShardOrigin>,
}

impl ShardRequest {
    /// The shard of the run, `None` for the whole run. `auto` reads the scheduler's
    /// environment; a number of shards without `auto` is refused
    /// ([`GenerateError::ShardsWithoutAuto`]).
    pub fn resolve(&self) -> Result<Option<ResolvedShard>, GenerateError> {
        self.resolve_from(&|name| std::env::var(name).ok())
    }

    /// [`ShardRequest::resolve`] over any variable lookup (tests pass a map).
    pub fn resolve_from(
        &self,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<ResolvedShard>, GenerateError> {
        match (self.choice, self.shards) {
            (Some(ShardChoice::Auto), shards) => {
                let (shard, origin) = shard_from(var, shards)?;
                Ok(Some(ResolvedShard {
                    shard,
                    origin: Some(origin),
                }))
            }
            (choice, Some(shards)) => Err(GenerateError::ShardsWithoutAuto {
                shards,
                shard: choice.and_then(|c| match c {
                    ShardChoice::Part(shard) => Some(shard),
                    ShardChoice::Auto => None,
                }),
            }),
            (Some(ShardChoice::Part(shard)), None) => Ok(Some(ResolvedShard {
                shard,
                origin: None,
            })),
            (None, None) => Ok(None),
        }
    }

    /// How the run treats an earlier run of its shard: `auto` resumes unless `mode`
    /// overwrites, because a scheduler reruns a failed or requeued task as it is and that
    /// rerun must continue the shard, not be refused.
    pub fn run_mode(&self, mode: super::RunMode) -> super::RunMode {
        match (self.choice, mode) {
            (Some(ShardChoice::Auto), super::RunMode::Fresh) => super::RunMode::Resume,
            (_, mode) => mode,
        }
    }
}

/// The shard of this process from its environment (see the module doc). `shards` is the
/// `--shards N` given with `--shard auto`: required under Kubernetes, and checked against the
/// array's size under Slurm.
pub fn shard_from_environment(shards: Option<u64>) -> Result<(Shard, ShardOrigin), GenerateError> {
    shard_from(&|name| std::env::var(name).ok(), shards)
}

/// [`shard_from_environment`] over any variable lookup (tests pass a map).
pub fn shard_from(
    var: &dyn Fn(&str) -> Option<String>,
    shards: Option<u64>,
) -> Result<(Shard, ShardOrigin), GenerateError> {
    if let Some(n) = shards.filter(|&n| n > MAX_SHARDS) {
        return Err(too_many(option(OptionName::Shards, &n.to_string()), n));
    }
    if shards == Some(0) {
        return Err(failure(
            option(OptionName::Shards, "0").then_text(": a run has at least one shard"),
            Advice::text("give the number of shards, e.g. ")
                .then_option(OptionName::Shards, Some("4")),
        ));
    }
    let slurm = var(SLURM_ARRAY_TASK_ID);
    let kubernetes = var(JOB_COMPLETION_INDEX);
    match (slurm, kubernetes) {
        (Some(_), Some(_)) => Err(failure(
            format!("both {SLURM_ARRAY_TASK_ID} and {JOB_COMPLETION_INDEX} are set").into(),
            give_k_n("give the shard explicitly with "),
        )),
        (Some(task_id), None) => from_slurm(var, &task_id, shards),
        (None, Some(index)) => from_kubernetes(&index, shards),
        (None, None) => Err(outside_a_scheduler(var(SLURM_JOB_ID).is_some())),
    }
}

fn from_slurm(
    var: &dyn Fn(&str) -> Option<String>,
    task_id: &str,
    shards: Option<u64>,
) -> Result<(Shard, ShardOrigin), GenerateError> {
    let task_id = number(SLURM_ARRAY_TASK_ID, task_id)?;
    let required = |name: &str| match var(name) {
        Some(value) => number(name, &value),
        None => Err(failure(
            format!("{SLURM_ARRAY_TASK_ID} is set but {name} is not").into(),
            give_k_n("run under `sbatch --array=...`, which sets both, or give "),
        )),
    };
    let min = required(SLURM_ARRAY_TASK_MIN)?;
    let max = required(SLURM_ARRAY_TASK_MAX)?;
    let step = match var(SLURM_ARRAY_TASK_STEP) {
        Some(value) => number(SLURM_ARRAY_TASK_STEP, &value)?,
        None => 1,
    };
    let origin = ShardOrigin::Slurm {
        task_id,
        min,
        max,
        step,
    };
    let regular = step >= 1 && min <= max && (max - min) % step == 0;
    let on_grid = regular && task_id >= min && task_id <= max && (task_id - min) % step == 0;
    if !on_grid {
        return Err(failure(
            format!("{origin} is not a task of a regular array").into(),
            "use an array of consecutive ids, e.g. `sbatch --array=0-3`".into(),
        ));
    }
    let count = ((max - min) / step).checked_add(1).ok_or_else(|| {
        failure(
            format!("{origin} has more tasks than can be counted").into(),
            "use an array of consecutive ids, e.g. `sbatch --array=0-3`".into(),
        )
    })?;
    if count > MAX_SHARDS {
        return Err(too_many(Advice::text(origin.to_string()), count));
    }
    if let Some(value) = var(SLURM_ARRAY_TASK_COUNT) {
        let declared = number(SLURM_ARRAY_TASK_COUNT, &value)?;
        if declared != count {
            return Err(failure(
                format!(
                    "the array has {declared} tasks ({SLURM_ARRAY_TASK_COUNT}) but {min}-{max}\
                     {} spans {count}: its ids are not a regular range",
                    if step == 1 {
                        String::new()
                    } else {
                        format!(":{step}")
                    }
                )
                .into(),
                give_k_n("use an array of consecutive ids, e.g. `sbatch --array=0-3`, or give "),
            ));
        }
    }
    if let Some(n) = shards.filter(|&n| n != count) {
        return Err(failure(
            option(OptionName::Shards, &n.to_string()).then_text(format!(
                " disagrees with the Slurm array, which has {count} tasks"
            )),
            Advice::text("leave out ")
                .then_option(OptionName::Shards, None)
                .then_text(format!(
                    " under Slurm, or submit with `sbatch --array=0-{}`",
                    n - 1
                )),
        ));
    }
    let index = (task_id - min) / step + 1;
    Ok((Shard { index, count }, origin))
}

fn from_kubernetes(
    index: &str,
    shards: Option<u64>,
) -> Result<(Shard, ShardOrigin), GenerateError> {
    let index = number(JOB_COMPLETION_INDEX, index)?;
    let origin = ShardOrigin::Kubernetes { index };
    let Some(count) = shards else {
        return Err(failure(
            format!("{origin}, but the number of shards is not known").into(),
            give_completions(),
        ));
    };
    if index >= count {
        return Err(failure(
            Advice::text(format!("{origin} is outside "))
                .then_option(OptionName::Shards, Some(&count.to_string()))
                .then_text(format!(" (indices 0 to {})", count - 1)),
            give_completions(),
        ));
    }
    Ok((
        Shard {
            index: index + 1,
            count,
        },
        origin,
    ))
}

fn outside_a_scheduler(in_slurm_job: bool) -> GenerateError {
    if in_slurm_job {
        failure(
            format!("this is a Slurm job but not an array task ({SLURM_ARRAY_TASK_ID} is unset)")
                .into(),
            give_k_n("submit with `sbatch --array=0-N`, or give "),
        )
    } else {
        failure(
            format!(
                "no scheduler found: neither {SLURM_ARRAY_TASK_ID} (a Slurm job array) nor \
                 {JOB_COMPLETION_INDEX} (a Kubernetes Indexed Job) is set"
            )
            .into(),
            give_k_n("run it as a task of a Slurm array or an Indexed Job, or give "),
        )
    }
}

fn too_many(what: Advice, count: u64) -> GenerateError {
    failure(
        what.then_text(format!(
            " makes {count} shards, more than the {MAX_SHARDS} a run may have"
        )),
        "split the run into fewer shards".into(),
    )
}

/// The option `option` set to `value`, as the start of a message.
fn option(option: OptionName, value: &str) -> Advice {
    Advice::default().then_option(option, Some(value))
}

/// `text`, then the shard `K/N`.
fn give_k_n(text: &str) -> Advice {
    Advice::text(text).then_option(OptionName::Shard, Some("K/N"))
}

/// Give the number of shards: the Indexed Job's completions.
fn give_completions() -> Advice {
    Advice::text("give ")
        .then_option(OptionName::Shards, Some("N"))
        .then_text(" with N = the Job's `completions`")
}

fn number(name: &str, value: &str) -> Result<u64, GenerateError> {
    value.trim().parse().map_err(|_| {
        failure(
            format!("{name}=`{value}` is not a non-negative integer").into(),
            give_k_n("give the shard explicitly with "),
        )
    })
}

fn failure(reason: Advice, hint: Advice) -> GenerateError {
    GenerateError::ShardEnvironment { reason, hint }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn shard(vars: &[(&str, &str)], shards: Option<u64>) -> Result<Shard, String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        shard_from(&|name| map.get(name).cloned(), shards)
            .map(|(shard, _)| shard)
            .map_err(|e| crate::error::message_in(&e, &Flags))
    }

    /// Options said as flags, as the command line says them.
    struct Flags;

    impl crate::error::Wording for Flags {
        fn say(&self, suggestion: crate::error::Suggestion) -> String {
            format!("{suggestion:?}")
        }

        fn option(&self, option: OptionName, value: Option<&str>) -> String {
            let flag = format!("--{}", format!("{option:?}").to_lowercase());
            value.map_or(flag.clone(), |v| format!("{flag} {v}"))
        }
    }

    fn slurm(id: &str, min: &str, max: &str, count: &str) -> Vec<(&'static str, String)> {
        vec![
            (SLURM_JOB_ID, "77".into()),
            (SLURM_ARRAY_TASK_ID, id.into()),
            (SLURM_ARRAY_TASK_MIN, min.into()),
            (SLURM_ARRAY_TASK_MAX, max.into()),
            (SLURM_ARRAY_TASK_COUNT, count.into()),
            (SLURM_ARRAY_TASK_STEP, "1".into()),
        ]
    }

    fn borrowed<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    #[test]
    fn zero_and_one_based_slurm_arrays_give_the_same_shards() {
        for (zero, one) in [("0", "1"), ("3", "4")] {
            let a = shard(&borrowed(&slurm(zero, "0", "3", "4")), None).unwrap();
            let b = shard(&borrowed(&slurm(one, "1", "4", "4")), None).unwrap();
            assert_eq!(a, b);
        }
        assert_eq!(
            shard(&borrowed(&slurm("0", "0", "3", "4")), None).unwrap(),
            Shard { index: 1, count: 4 }
        );
        assert_eq!(
            shard(&borrowed(&slurm("4", "1", "4", "4")), Some(4)).unwrap(),
            Shard { index: 4, count: 4 }
        );
    }

    #[test]
    fn a_stepped_slurm_array_maps_its_tasks_to_consecutive_shards() {
        let mut vars = slurm("20", "0", "30", "4");
        vars[5].1 = "10".into();
        assert_eq!(
            shard(&borrowed(&vars), None).unwrap(),
            Shard { index: 3, count: 4 }
        );
    }

    #[test]
    fn an_irregular_slurm_array_is_refused() {
        // --array=1,2,7: MIN 1, MAX 7, COUNT 3.
        let error = shard(&borrowed(&slurm("2", "1", "7", "3")), None).unwrap_err();
        assert!(error.contains("not a regular range"), "{error}");
        let error = shard(&borrowed(&slurm("9", "0", "3", "4")), None).unwrap_err();
        assert!(error.contains("not a task of a regular array"), "{error}");
    }

    #[test]
    fn slurm_and_shards_must_agree() {
        let error = shard(&borrowed(&slurm("0", "0", "3", "4")), Some(8)).unwrap_err();
        assert!(
            error.contains("--shards 8") && error.contains("4 tasks"),
            "{error}"
        );
    }

    #[test]
    fn kubernetes_needs_the_number_of_shards_and_an_index_below_it() {
        assert_eq!(
            shard(&[(JOB_COMPLETION_INDEX, "0")], Some(4)).unwrap(),
            Shard { index: 1, count: 4 }
        );
        assert_eq!(
            shard(&[(JOB_COMPLETION_INDEX, "3")], Some(4)).unwrap(),
            Shard { index: 4, count: 4 }
        );
        assert!(
            shard(&[(JOB_COMPLETION_INDEX, "0")], None)
                .unwrap_err()
                .contains("number of shards")
        );
        assert!(
            shard(&[(JOB_COMPLETION_INDEX, "4")], Some(4))
                .unwrap_err()
                .contains("outside --shards 4")
        );
    }

    /// Issue 26, finding 4: `SLURM_ARRAY_TASK_MAX=2^64-2` gave shard counts near 2^64, whose
    /// manifest names then made `dataset verify` loop over every shard index.
    #[test]
    fn regression_26_an_absurd_slurm_array_or_shard_count_is_refused() {
        let max = (u64::MAX - 1).to_string();
        let error = shard(&borrowed(&slurm("0", "0", &max, &max)), None).unwrap_err();
        assert!(error.contains("more than the 1000000"), "{error}");
        let error = shard(&[(JOB_COMPLETION_INDEX, "0")], Some(u64::MAX)).unwrap_err();
        assert!(error.contains("more than the"), "{error}");
        assert!("1/18446744073709551615".parse::<Shard>().is_err());
        assert!(format!("1/{MAX_SHARDS}").parse::<Shard>().is_ok());
        let error = "1/1000001".parse::<Shard>().unwrap_err().to_string();
        assert!(error.contains("N <= 1000000"), "{error}");
    }

    #[test]
    fn outside_a_scheduler_it_says_what_it_looked_for() {
        let error = shard(&[], None).unwrap_err();
        assert!(
            error.contains(SLURM_ARRAY_TASK_ID) && error.contains(JOB_COMPLETION_INDEX),
            "{error}"
        );
        let error = shard(&[(SLURM_JOB_ID, "5")], None).unwrap_err();
        assert!(error.contains("not an array task"), "{error}");
        let error = shard(&[(JOB_COMPLETION_INDEX, "x")], Some(2)).unwrap_err();
        assert!(error.contains("`x`"), "{error}");
    }

    #[test]
    fn a_number_of_shards_goes_with_auto_only() {
        let vars = |name: &str| (name == JOB_COMPLETION_INDEX).then(|| "1".to_string());
        let part: ShardChoice = " 1/2 ".parse().unwrap();
        let refused = ShardRequest {
            choice: Some(part),
            shards: Some(3),
        };
        let error = refused.resolve_from(&vars).unwrap_err();
        assert!(matches!(
            error,
            GenerateError::ShardsWithoutAuto {
                shards: 3,
                shard: Some(Shard { index: 1, count: 2 })
            }
        ));
        let alone = ShardRequest {
            choice: None,
            shards: Some(3),
        };
        assert!(matches!(
            alone.resolve_from(&vars),
            Err(GenerateError::ShardsWithoutAuto { shard: None, .. })
        ));
        let auto = ShardRequest {
            choice: Some("AUTO".parse().unwrap()),
            shards: Some(3),
        };
        let resolved = auto.resolve_from(&vars).unwrap().unwrap();
        assert_eq!(resolved.shard, Shard { index: 2, count: 3 });
        assert_eq!(resolved.origin, Some(ShardOrigin::Kubernetes { index: 1 }));
        let given = ShardRequest {
            choice: Some(part),
            shards: None,
        };
        assert_eq!(given.resolve_from(&vars).unwrap().unwrap().origin, None);
        assert_eq!(ShardRequest::default().resolve_from(&vars).unwrap(), None);
        assert!("0/2".parse::<ShardChoice>().is_err());
    }

    #[test]
    fn an_automatic_shard_resumes_unless_told_to_overwrite() {
        use crate::generate::RunMode;
        let auto = ShardRequest {
            choice: Some(ShardChoice::Auto),
            shards: None,
        };
        assert_eq!(auto.run_mode(RunMode::Fresh), RunMode::Resume);
        assert_eq!(auto.run_mode(RunMode::Overwrite), RunMode::Overwrite);
        assert_eq!(
            ShardRequest::default().run_mode(RunMode::Fresh),
            RunMode::Fresh
        );
    }
}
