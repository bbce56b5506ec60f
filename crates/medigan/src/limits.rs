//! The bounds on resources that input controls, in one place: inference time per batch, bytes
//! per sample, samples held in memory, threads. Each can be set by an environment variable of
//! the one table in [`crate::env`]; an unreadable value is warned about and the default used.
//!
//! | variable | bounds | default |
//! |---|---|---|
//! | `MEDIGAN_INFERENCE_TIMEOUT` | seconds one batch of native inference may take (`0`: none) | 600 |
//! | `MEDIGAN_MAX_SAMPLE_BYTES` | bytes one declared sample (image + mask) may hold | 2 GiB |
//! | `MEDIGAN_MAX_IN_MEMORY_BYTES` | bytes of samples generated into memory at once | available memory |
//! | `MEDIGAN_STORE_MAX_BYTES` | bytes one command downloads from an object store (`remote`) | 64 GiB |
//! | (none) | `--threads` | 4 x the cores |

use std::time::Duration;

use crate::env;

const DEFAULT_INFERENCE_TIMEOUT: Duration = Duration::from_secs(600);
const DEFAULT_MAX_SAMPLE_BYTES: u64 = 2 << 30;
/// Used where the available memory cannot be read.
const FALLBACK_MAX_IN_MEMORY_BYTES: u64 = 8 << 30;
/// Threads per core that `--threads` may ask for.
const THREADS_PER_CORE: usize = 4;

/// How long one batch of native inference may take; `None` for no limit.
pub fn inference_timeout() -> Option<Duration> {
    match env::INFERENCE_TIMEOUT.whole_number() {
        Some(0) => None,
        Some(seconds) => Some(Duration::from_secs(seconds)),
        None => Some(DEFAULT_INFERENCE_TIMEOUT),
    }
}

/// The most bytes one sample may hold.
pub fn max_sample_bytes() -> u64 {
    env::MAX_SAMPLE_BYTES
        .whole_number()
        .unwrap_or(DEFAULT_MAX_SAMPLE_BYTES)
}

/// The most bytes of samples that may be generated into memory at once: the variable, else
/// the memory available now (Linux `MemAvailable`, and the address-space limit `ulimit -v`).
pub fn max_in_memory_bytes() -> u64 {
    env::MAX_IN_MEMORY_BYTES.whole_number().unwrap_or_else(|| {
        [available_memory(), address_space_limit()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(FALLBACK_MAX_IN_MEMORY_BYTES)
    })
}

/// The most threads a request may ask for: a few per core.
pub fn max_threads() -> usize {
    cores().saturating_mul(THREADS_PER_CORE)
}

/// The cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The soft address-space limit (`ulimit -v`), when there is one.
#[cfg(unix)]
fn address_space_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given and reads nothing else.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(not(unix))]
fn address_space_limit() -> Option<u64> {
    None
}
