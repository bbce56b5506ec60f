//! Errors of scheduler configs and steps: each names the field or value at fault and what is accepted.

/// Why a scheduler could not be made or stepped.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The config is not valid JSON, or a field has the wrong type or an unknown value.
    #[error("scheduler config: `{field}`: {message}")]
    Config {
        /// The field at fault (`$` for the whole document).
        field: String,
        /// What is wrong with it, with the accepted values where there is a closed set.
        message: String,
    },
    /// A field has a value that is well-formed but out of range or inconsistent.
    #[error("scheduler config: `{field}` = {value}: {expected}")]
    InvalidValue {
        /// The field at fault.
        field: &'static str,
        /// Its value, as written.
        value: String,
        /// What would be accepted.
        expected: String,
    },
    /// A field asks for a variant of the scheduler this crate does not implement.
    #[error("scheduler `{class}`: `{field}` = {value} is not supported{hint}", hint = hint_suffix(.hint))]
    Unsupported {
        /// The scheduler class.
        class: &'static str,
        /// The field at fault.
        field: &'static str,
        /// Its value.
        value: String,
        /// What to use instead (may be empty).
        hint: String,
    },
    /// The scheduler name is neither a known class name nor an alias.
    #[error("unknown scheduler `{name}`\nhint: known schedulers: {known}")]
    UnknownScheduler {
        /// The name asked for.
        name: String,
        /// The known class names and aliases, comma-separated.
        known: String,
    },
    /// Neither the caller nor the config names a scheduler class.
    #[error(
        "scheduler config has no `_class_name` (nor `_target_`) and no scheduler was named\nhint: pass a scheduler name such as `ddim`"
    )]
    MissingClassName,
    /// The number of inference steps is 0 or more than the training steps.
    #[error(
        "{steps} inference steps requested: `{class}` accepts 1 to {max} (its `num_train_timesteps`)"
    )]
    Steps {
        /// The scheduler class.
        class: &'static str,
        /// Steps asked for.
        steps: usize,
        /// The most accepted.
        max: usize,
    },
    /// `step` was called with an index outside the schedule, out of order, or with buffers of
    /// the wrong length.
    #[error("scheduler `{class}`: {message}")]
    Usage {
        /// The scheduler class.
        class: &'static str,
        /// What went wrong.
        message: String,
    },
}

fn hint_suffix(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!("\nhint: {hint}")
    }
}
