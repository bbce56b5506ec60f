//! Child processes (the legacy bridge, pip, the export script of `convert`) that can neither
//! outlive medigan nor keep it waiting:
//!
//! - [`contain`]: the child leads its own process group (so the whole group, background
//!   processes a package forked included, can be killed at once) and, on Linux, gets SIGKILL
//!   when the thread that started it dies (`PR_SET_PDEATHSIG`).
//! - [`spawn_contained`]: starts a contained child from one spawner thread that lives as long
//!   as the process, so the child dies with medigan (a second Ctrl-C, a SIGTERM, a SIGKILL),
//!   never with a short-lived thread that happened to start it.
//! - [`run_bounded`]: runs a contained child to its end with a time limit, keeping at most a
//!   bounded tail of its output; then kills what is left of its process group.
//! - [`kill_all_groups`]: kills the process groups of every contained child still running
//!   (the CLI's signal watchdog calls it before ending the process, so that what a child
//!   forked dies too).

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The process groups (their leaders' pids) of children started by [`spawn_contained`] or
/// [`run_bounded`] that have not been [`kill_group`]ed or [`release`]d yet.
static GROUPS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn groups() -> std::sync::MutexGuard<'static, Vec<u32>> {
    GROUPS.lock().unwrap_or_else(|e| e.into_inner())
}

fn track(child: &Child) {
    groups().push(child.id());
}

/// Forgets a contained child that has been waited for (its pid may now be reused), so that
/// [`kill_all_groups`] leaves its number alone.
pub fn release(child: &Child) {
    groups().retain(|&pid| pid != child.id());
}

/// Kills the process group of every contained child still tracked: for a process about to
/// exit on a signal, so that nothing a child forked outlives it.
pub fn kill_all_groups() {
    for pid in std::mem::take(&mut *groups()) {
        #[cfg(unix)]
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: kill sends a signal; a group that no longer exists gives ESRCH.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        #[cfg(not(unix))]
        let _ = pid;
    }
}

/// Makes `command`'s child lead its own process group and, on Linux, die with the thread that
/// starts it.
pub fn contain(command: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
        #[cfg(target_os = "linux")]
        // SAFETY: prctl and getppid are async-signal-safe; the closure allocates nothing.
        unsafe {
            let parent = libc::getpid();
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl.
                if libc::getppid() != parent {
                    libc::_exit(137);
                }
                Ok(())
            });
        }
    }
}

/// Spawns `command` [`contain`]ed from the process-long spawner thread (see the module doc).
pub fn spawn_contained(mut command: Command) -> std::io::Result<Child> {
    use std::sync::mpsc::{Sender, channel};
    type Job = (Command, Sender<std::io::Result<Child>>);
    static SPAWNER: std::sync::OnceLock<Mutex<Sender<Job>>> = std::sync::OnceLock::new();
    contain(&mut command);
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let started = std::thread::Builder::new()
            .name("medigan-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            });
        if let Err(e) = started {
            tracing::warn!("cannot start the spawner thread: {e}");
        }
        Mutex::new(tx)
    });
    let (reply, answer) = channel();
    let sent = spawner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((command, reply));
    match sent {
        Ok(()) => answer
            .recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("the spawner thread is gone"))),
        // No spawner thread: spawn from this one.
        Err(std::sync::mpsc::SendError((mut command, _))) => command.spawn(),
    }
    .inspect(track)
}

/// Kills the process group a [`contain`]ed child leads (itself and whatever it forked).
pub fn kill_group(child: &Child) {
    release(child);
    #[cfg(unix)]
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill sends a signal; a group that no longer exists gives ESRCH.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = child;
}

/// How a [`run_bounded`] child ended.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status (after the kill, when it ran out of time).
    pub status: ExitStatus,
    /// Whether it was killed for running past the limit.
    pub timed_out: bool,
    /// The last bytes of its standard output (at most the capture bound).
    pub stdout: Vec<u8>,
    /// The last bytes of its standard error (at most the capture bound).
    pub stderr: Vec<u8>,
}

/// Spawns `command` [`contain`]ed with piped stdin/stdout/stderr, writes `input` to its
/// standard input and closes it, and waits for it at most `limit`; keeps the last
/// `max_capture` bytes of each output. When it ends or runs out of time, its process group
/// is killed, so a background process it left cannot keep medigan waiting on a pipe.
pub fn run_bounded(
    command: &mut Command,
    input: &[u8],
    limit: Option<Duration>,
    max_capture: usize,
) -> std::io::Result<Finished> {
    use std::process::Stdio;
    contain(command);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Started from this thread: it waits for the child to the end.
    let mut child = command.spawn()?;
    track(&child);
    let stdout = Tail::spawn(child.stdout.take(), max_capture);
    let stderr = Tail::spawn(child.stderr.take(), max_capture);
    if let Some(mut stdin) = child.stdin.take() {
        // A child that exits without reading gives EPIPE: its status says what happened.
        let _ = stdin.write_all(input);
    }
    let started = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if limit.is_some_and(|limit| started.elapsed() >= limit) {
            timed_out = true;
            kill_group(&child);
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    kill_group(&child);
    // Readers end when every writer has gone; one that escaped the group (setsid) is left.
    let deadline = Instant::now() + Duration::from_secs(1);
    Ok(Finished {
        status,
        timed_out,
        stdout: stdout.finish(deadline),
        stderr: stderr.finish(deadline),
    })
}

/// The last bytes of a pipe, read on a thread.
struct Tail {
    bytes: Arc<Mutex<Vec<u8>>>,
    done: std::sync::mpsc::Receiver<()>,
    max: usize,
}

impl Tail {
    fn spawn(pipe: Option<impl Read + Send + 'static>, max: usize) -> Tail {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = std::sync::mpsc::channel();
        let shared = Arc::clone(&bytes);
        std::thread::spawn(move || {
            let Some(mut pipe) = pipe else {
                let _ = tx.send(());
                return;
            };
            let mut chunk = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let mut kept = shared.lock().unwrap_or_else(|e| e.into_inner());
                kept.extend_from_slice(&chunk[..n]);
                if kept.len() > max.saturating_mul(2).max(chunk.len()) {
                    let cut = kept.len() - max;
                    kept.drain(..cut);
                }
            }
            let _ = tx.send(());
        });
        Tail { bytes, done, max }
    }

    fn finish(self, deadline: Instant) -> Vec<u8> {
        let _ = self
            .done
            .recv_timeout(deadline.saturating_duration_since(Instant::now()));
        let mut kept = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        // The reader trims only past twice the bound; trim to it here.
        let cut = kept.len().saturating_sub(self.max);
        kept.drain(..cut);
        std::mem::take(&mut *kept)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(script);
        command
    }

    /// Issue 26, finding 6: a child that forked a background process kept `convert` waiting
    /// (its output pipe stayed open), and its whole output was held in memory.
    #[test]
    fn regression_26_a_background_grandchild_does_not_keep_us_waiting() {
        let started = Instant::now();
        let done = run_bounded(
            &mut sh("sleep 30 & head -c 3000000 /dev/zero; echo; echo '{\"ok\":true}'"),
            b"",
            Some(Duration::from_secs(20)),
            1 << 16,
        )
        .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(done.status.success() && !done.timed_out);
        assert!(done.stdout.len() <= 1 << 16, "{}", done.stdout.len());
        assert!(String::from_utf8_lossy(&done.stdout).ends_with("{\"ok\":true}\n"));
    }

    /// Issue 26, finding 10: after a second SIGTERM or a SIGKILL, the legacy model's Python
    /// bridge kept running. A helper process (this test binary, re-run) starts a contained
    /// `sleep` and is then killed with SIGKILL: the `sleep` must die with it.
    #[cfg(target_os = "linux")]
    #[test]
    fn regression_26_a_contained_child_dies_with_its_parent() {
        let helper = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "--nocapture",
                "child::tests::helper_starts_a_contained_sleep",
            ])
            .env("MEDIGAN_CHILD_TEST_HELPER", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut helper = helper;
        let mut out = std::io::BufReader::new(helper.stdout.take().unwrap());
        let pid = loop {
            let mut line = String::new();
            assert!(
                std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0,
                "no pid"
            );
            if let Some(pid) = line.trim().strip_prefix("contained pid ") {
                break pid.parse::<libc::pid_t>().unwrap();
            }
        };
        // SAFETY: signal 0 only checks that the process exists.
        let alive = || unsafe { libc::kill(pid, 0) } == 0 && !is_zombie(pid);
        assert!(alive());
        helper.kill().unwrap();
        helper.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        while alive() {
            assert!(
                Instant::now() < deadline,
                "the contained child outlived its parent"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn is_zombie(pid: libc::pid_t) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
    }

    #[test]
    #[ignore = "run by regression_26_a_contained_child_dies_with_its_parent"]
    #[allow(clippy::zombie_processes, clippy::print_stdout)]
    fn helper_starts_a_contained_sleep() {
        if std::env::var_os("MEDIGAN_CHILD_TEST_HELPER").is_none() {
            return;
        }
        // Started from a short-lived thread: the child must not die with that thread.
        let child = std::thread::spawn(|| {
            let mut command = Command::new("sleep");
            command.arg("30");
            spawn_contained(command).unwrap()
        })
        .join()
        .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        // SAFETY: signal 0 only checks that the process exists.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, 0) }, 0);
        println!("contained pid {}", child.id());
        std::thread::sleep(Duration::from_secs(30));
    }

    #[test]
    fn regression_26_a_child_past_its_limit_is_killed_with_its_group() {
        let started = Instant::now();
        let done = run_bounded(
            &mut sh("cat >/dev/null; sleep 30 & sleep 30"),
            b"input",
            Some(Duration::from_millis(300)),
            1024,
        )
        .unwrap();
        assert!(done.timed_out);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
