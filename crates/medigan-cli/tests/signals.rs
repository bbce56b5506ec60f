//! Issue 26: the first SIGINT/SIGTERM stops any command within a second or two, whatever it
//! is waiting on (serving with a half-sent request open, reading a big folder, a download
//! that stalls, a Python child that sleeps), with exit status 128 + the signal, and the
//! children it started die with it. `generate`'s own case is in `resume.rs`.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::medigan;

/// How long a stopped command may take after the first signal.
const STOPS_WITHIN: Duration = Duration::from_secs(2);

fn send(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -s {name}");
}

/// Sends `name` to `child` and asserts that it exits within [`STOPS_WITHIN`] with
/// 128 + the signal's number (not killed by the signal's default action).
fn assert_stops(mut child: Child, name: &str, what: &str) {
    assert!(
        child.try_wait().unwrap().is_none(),
        "{what}: ended before the signal"
    );
    let sent = Instant::now();
    send(&child, name);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if sent.elapsed() > STOPS_WITHIN * 3 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running {:?} after SIG{name}", sent.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        sent.elapsed() < STOPS_WITHIN,
        "{what}: took {:?} after SIG{name}",
        sent.elapsed()
    );
    let expected = if name == "INT" { 130 } else { 143 };
    assert_eq!(status.code(), Some(expected), "{what}: SIG{name}: {status}");
}

/// Issue 26, finding 9: `visualize` ignored Ctrl-C while a client held a half-sent request
/// open (the server's graceful shutdown waited for it).
#[test]
fn regression_26_visualize_stops_on_ctrl_c_with_a_half_sent_request_open() {
    let home = tempfile::tempdir().unwrap();
    let mut child = medigan(home.path())
        .args(["--offline", "--backend", "tract", "visualize", "00900"])
        .args(["--no-browser", "--port", "0", "--save-dir"])
        .arg(home.path().join("saved"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.trim().strip_suffix('/'))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    let mut stream = TcpStream::connect(&address).unwrap();
    stream
        .write_all(b"GET /api/model HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: appl")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_stops(child, "INT", "visualize");
    drop(stream);
}

/// A copy of one small PNG `count` times in a new folder `name` of `dir`.
fn png_folder(dir: &Path, name: &str, count: usize) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let first = folder.join("00000.png");
    image::GrayImage::from_fn(64, 64, |x, y| image::Luma([(x * 3 + y * 5) as u8]))
        .save(&first)
        .unwrap();
    for i in 1..count {
        std::fs::copy(&first, folder.join(format!("{i:05}.png"))).unwrap();
    }
    folder
}

/// `fid` over big folders (a reader that does not look at any flag) stops at once.
#[test]
fn fid_over_big_folders_stops_at_the_first_signal() {
    let home = tempfile::tempdir().unwrap();
    let real = png_folder(home.path(), "real", 4000);
    let synthetic = png_folder(home.path(), "synthetic", 4000);
    let extractor =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/fid/extractor.onnx");
    for name in ["TERM", "INT"] {
        let child = medigan(home.path())
            .args(["--offline", "--backend", "tract", "fid"])
            .arg(&real)
            .arg(&synthetic)
            .arg("--extractor")
            .arg(format!("onnx:{}", extractor.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(700));
        assert_stops(child, name, "fid");
    }
}

/// A download from a server that accepted the connection and then sends nothing (here the
/// upstream catalogue of `catalog update`) stops at once.
#[test]
fn a_stalled_download_stops_at_the_first_signal() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/medigan-global.json",
        listener.local_addr().unwrap()
    );
    let holder = std::thread::spawn(move || {
        // Accept and hold every connection without answering, until the test ends.
        let held: Vec<TcpStream> = listener.incoming().take(1).flatten().collect();
        std::thread::sleep(Duration::from_secs(10));
        drop(held);
    });
    let home = tempfile::tempdir().unwrap();
    let child = medigan(home.path())
        .env("MEDIGAN_CATALOG_URL", &url)
        .args(["catalog", "update"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert_stops(child, "TERM", "catalog update");
    drop(holder);
}

/// A Python child that sleeps (here `MEDIGAN_PYTHON` making a legacy environment) and the
/// process it forked both die when the first signal stops the command.
#[test]
fn a_sleeping_python_child_and_what_it_forked_die_with_us() {
    let home = tempfile::tempdir().unwrap();
    let pid_file = home.path().join("forked.pid");
    let python = home.path().join("sleepy-python");
    std::fs::write(
        &python,
        format!(
            "#!/bin/sh\nsleep 60 &\necho $! > '{}'\nwait\n",
            pid_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&python, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let child = medigan(home.path())
        .env("MEDIGAN_PYTHON", &python)
        .args(["--offline", "--catalog"])
        .arg(common::zoo::zoo_catalog())
        .args(["test", "00915_ZOO_PIN_A", "--install-dependencies"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let forked = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the sleepy Python never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_stops(child, "TERM", "test (waiting on Python)");
    let alive = || {
        std::fs::read_to_string(format!("/proc/{forked}/stat")).is_ok_and(|stat| {
            !stat
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    while alive() {
        assert!(
            Instant::now() < deadline,
            "the process the Python child forked ({forked}) outlived medigan"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
