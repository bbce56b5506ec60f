//! `-o s3://bucket/prefix` and store URLs as inputs (issue #28, item 2), against a real
//! S3-compatible server the test starts on 127.0.0.1 (moto's, `pip install "moto[server]"`):
//! a run into the store equals the local run byte for byte (loose files and `--pack tar`), a
//! missing bucket or an unknown scheme is refused before any sample is generated.

#![cfg(feature = "object-store")]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{fixture, medigan, run};
use medigan_testkit::{python_importing, skip};

/// moto's S3 server on a free port of 127.0.0.1, stopped when dropped.
struct Moto {
    child: Child,
    port: u16,
    python: String,
}

impl Moto {
    /// Starts the server, or says why it cannot (moto missing).
    fn start() -> Result<Moto, String> {
        let python = python_importing(&["moto.server", "flask", "flask_cors", "boto3"])?;
        let port = free_port();
        let child = Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start moto's server: {e}"))?;
        let mut moto = Moto {
            child,
            port,
            python,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || moto.child.try_wait().ok().flatten().is_some() {
                return Err("moto's server did not start listening within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }

    /// One plain HTTP request (moto does not check signatures): status and body.
    fn http(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            self.port,
            body.len()
        )
        .unwrap();
        stream.write_all(body).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP response");
        let head = String::from_utf8_lossy(&response[..split]).into_owned();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, response[split + 4..].to_vec())
    }

    fn create_bucket(&self, bucket: &str) {
        let (status, _) = self.http("PUT", &format!("/{bucket}"), b"");
        assert_eq!(status, 200, "create bucket {bucket}");
    }

    /// Runs `code` in Python with `s3`, a boto3 client of this server (objects are private to
    /// the fake keys, so reads go through a signing client).
    fn boto(&self, code: &str, args: &[&str]) -> Vec<u8> {
        let script = format!(
            "import boto3, sys\n\
             s3 = boto3.client('s3', endpoint_url='http://127.0.0.1:{}', region_name='us-east-1', \
             aws_access_key_id='testing', aws_secret_access_key='testing')\n{code}",
            self.port
        );
        let output = Command::new(&self.python)
            .arg("-c")
            .arg(script)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "boto3: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// The names of the objects of `bucket` under `prefix/`.
    fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let out = self.boto(
            "bucket, prefix = sys.argv[1:]\n\
             for page in s3.get_paginator('list_objects_v2').paginate(Bucket=bucket, \
             Prefix=prefix + '/'):\n\
             \x20   for o in page.get('Contents', []):\n\
             \x20       print(o['Key'][len(prefix) + 1:])\n",
            &[bucket, prefix],
        );
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    /// The samples the journal in the store under `prefix/` records (0 without one).
    fn journal_samples(&self, bucket: &str, prefix: &str) -> usize {
        let out = self.boto(
            "bucket, prefix = sys.argv[1:]\n\
             try:\n\
             \x20   body = s3.get_object(Bucket=bucket, Key=prefix + '/.manifest.journal')['Body']\n\
             \x20   print(max(body.read().count(b'\\n') - 1, 0))\n\
             except s3.exceptions.NoSuchKey:\n\
             \x20   print(0)\n",
            &[bucket, prefix],
        );
        String::from_utf8(out).unwrap().trim().parse().unwrap()
    }

    /// Every object of `bucket` under `prefix/`: name below the prefix -> bytes.
    fn objects(&self, bucket: &str, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        self.boto(
            "import os\n\
             bucket, prefix, out = sys.argv[1:]\n\
             listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix + '/')\n\
             assert not listing['IsTruncated']\n\
             for o in listing.get('Contents', []):\n\
             \x20   name = o['Key'][len(prefix) + 1:]\n\
             \x20   open(os.path.join(out, name), 'wb').write(\
             s3.get_object(Bucket=bucket, Key=o['Key'])['Body'].read())\n",
            &[bucket, prefix, dir.path().to_str().unwrap()],
        );
        files(dir.path())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// moto's server, or `None` after saying why the test is skipped (a failure under CI=true).
fn moto(test: &str) -> Option<Moto> {
    match Moto::start() {
        Ok(moto) => Some(moto),
        Err(why) => {
            skip(test, &why);
            None
        }
    }
}

/// `medigan ... ARGS` with the S3 settings of `moto` (fake keys) and none of the caller's.
fn medigan_s3(home: &Path, port: u16) -> Command {
    let mut command = medigan(home);
    for (name, _) in std::env::vars() {
        if ["AWS_", "GOOGLE_", "AZURE_"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            command.env_remove(name);
        }
    }
    command
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1");
    command
}

/// `generate 90001 -n N --seed 5 --threads 1 -o OUT` (the DCGAN fixture) with `extra`.
fn generate(mut command: Command, out: &str, samples: u64, extra: &[&str]) -> Output {
    command
        .args(["--offline", "-q", "generate", "90001", "-n"])
        .arg(samples.to_string())
        .args(["--seed", "5", "--threads", "1", "-o", out, "--catalog"])
        .arg(fixture("dcgan"))
        .args(extra);
    run(&mut command)
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The files of a folder (recursively), name -> bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_run_into_the_store_equals_the_local_run_byte_for_byte() {
    let Some(moto) = moto("a_run_into_the_store_equals_the_local_run_byte_for_byte") else {
        return;
    };
    moto.create_bucket("runs");
    let home = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    for (name, samples, extra) in [
        ("loose", 8, &[][..]),
        (
            "packed",
            16,
            &["--pack", "tar", "--samples-per-shard", "8"][..],
        ),
    ] {
        let dir = local.path().join(name);
        let output = generate(medigan(home.path()), dir.to_str().unwrap(), samples, extra);
        assert_success(&output);
        let url = format!("s3://runs/{name}");
        let output = generate(medigan_s3(home.path(), moto.port), &url, samples, extra);
        assert_success(&output);
        let stored = moto.objects("runs", name);
        let expected = files(&dir);
        assert!(expected.contains_key("manifest.jsonl"));
        assert_eq!(
            stored.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{name}: the store holds the local run's files, and no lock, journal or probe"
        );
        assert!(stored == expected, "{name}: the bytes differ");
    }
}

#[test]
fn a_missing_bucket_or_an_unknown_scheme_is_refused_before_generating() {
    let Some(moto) = moto("a_missing_bucket_or_an_unknown_scheme_is_refused_before_generating")
    else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let output = generate(medigan_s3(home.path(), moto.port), "s3://nowhere/x", 4, &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the bucket of `s3://nowhere/x` does not exist")
            && stderr.contains("hint: create the bucket first"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("testing"),
        "no credential is printed: {stderr}"
    );
    let (_, listing) = moto.http("GET", "/", b"");
    assert!(
        !String::from_utf8_lossy(&listing).contains("<Name>nowhere</Name>"),
        "no bucket was created"
    );

    // No keys: object_store falls back to the instance metadata service (here a closed port).
    moto.create_bucket("open");
    let mut command = medigan_s3(home.path(), moto.port);
    command
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env(
            "AWS_METADATA_ENDPOINT",
            format!("http://127.0.0.1:{}", free_port()),
        );
    let output = generate(command, "s3://open/x", 4, &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the store refused access to `s3://open/x`: no credentials found")
            && stderr.contains("AWS_ACCESS_KEY_ID"),
        "{stderr}"
    );
    assert!(moto.keys("open", "x").is_empty(), "nothing written");

    let output = generate(medigan_s3(home.path(), moto.port), "ftp://host/x", 4, &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown URL scheme `ftp`"), "{stderr}");
    assert!(stderr.contains("s3://bucket/prefix"), "{stderr}");
}

/// `medigan --json dataset merge TARGET` (a folder or a URL): the root sha256, or the output.
fn merge_root(command: Command, target: &str) -> Result<String, Output> {
    let mut command = command;
    let output = run(command.args(["dataset", "merge", "--json", target]));
    if !output.status.success() {
        return Err(output);
    }
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    Ok(value["root_sha256"].as_str().unwrap().to_string())
}

#[test]
fn verify_and_merge_read_the_store_and_catch_a_flipped_byte() {
    let Some(moto) = moto("verify_and_merge_read_the_store_and_catch_a_flipped_byte") else {
        return;
    };
    moto.create_bucket("runs");
    let home = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let local_dir = local.path().to_str().unwrap();
    // Two shards into one prefix, as two tasks of an array would write them.
    for shard in ["1/2", "2/2"] {
        let extra = ["--shard", shard];
        assert_success(&generate(medigan(home.path()), local_dir, 8, &extra));
        let output = generate(medigan_s3(home.path(), moto.port), "s3://runs/v", 8, &extra);
        assert_success(&output);
    }
    let local_root = merge_root(medigan(home.path()), local_dir).unwrap();
    let store_root = merge_root(medigan_s3(home.path(), moto.port), "s3://runs/v")
        .unwrap_or_else(|o| panic!("{}", String::from_utf8_lossy(&o.stderr)));
    assert_eq!(store_root, local_root, "the same root digest in the store");
    let stored = moto.objects("runs", "v");
    assert_eq!(
        stored["dataset-manifest.json"],
        std::fs::read(local.path().join("dataset-manifest.json")).unwrap(),
        "merge wrote the dataset manifest into the store"
    );
    let mut verify = medigan_s3(home.path(), moto.port);
    let output = run(verify.args(["dataset", "verify", "s3://runs/v"]));
    assert_success(&output);
    assert!(String::from_utf8_lossy(&output.stdout).contains(&local_root));

    // A resumed shard reads only its own files (and the records): it fits a download bound
    // the whole prefix does not.
    let total: usize = stored.values().map(Vec::len).sum();
    let bound = (total * 3 / 4).to_string();
    let mut command = medigan_s3(home.path(), moto.port);
    command.env("MEDIGAN_STORE_MAX_BYTES", &bound).arg("--json");
    let output = generate(command, "s3://runs/v", 8, &["--shard", "1/2", "--resume"]);
    assert_success(&output);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["resumed"], 4, "the shard's four samples kept");
    let mut verify = medigan_s3(home.path(), moto.port);
    verify.env("MEDIGAN_STORE_MAX_BYTES", &bound);
    let output = run(verify.args(["dataset", "verify", "s3://runs/v"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success()
            && stderr.contains(&format!(
                "more than the {bound} bytes a command may download"
            ))
            && stderr.contains("MEDIGAN_STORE_MAX_BYTES"),
        "{stderr}"
    );

    // One byte of one sample flipped in the store.
    moto.boto(
        "o = s3.get_object(Bucket='runs', Key='v/00003.png')['Body'].read()\n\
         o = o[:40] + bytes([o[40] ^ 1]) + o[41:]\n\
         s3.put_object(Bucket='runs', Key='v/00003.png', Body=o)\n",
        &[],
    );
    let mut verify = medigan_s3(home.path(), moto.port);
    let output = run(verify.args(["dataset", "verify", "s3://runs/v"]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("00003.png"), "{stdout}");
    assert!(
        stdout.contains("FAILED") && stdout.contains("`s3://runs/v`"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("medigan-stage-"),
        "no staging path shown: {stdout}"
    );
    let refused = merge_root(medigan_s3(home.path(), moto.port), "s3://runs/v").unwrap_err();
    assert!(!refused.status.success());
}

/// A TCP proxy to moto on a port of its own: the store as the run sees it, stopped by the test
/// (its connections cut, its port closed) while moto keeps what it received.
struct Proxy {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    streams: std::sync::Arc<std::sync::Mutex<Vec<TcpStream>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(target: u16) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let streams = std::sync::Arc::new(std::sync::Mutex::new(Vec::<TcpStream>::new()));
        let (stop2, streams2) = (stop.clone(), streams.clone());
        let accept = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                let server = TcpStream::connect(("127.0.0.1", target)).unwrap();
                let mut kept = streams2.lock().unwrap();
                kept.push(client.try_clone().unwrap());
                kept.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
            // The listener is dropped here: the port refuses connections from now on.
        });
        Proxy {
            port,
            stop,
            streams,
            accept: Some(accept),
        }
    }

    /// The store fails: open connections are cut and new ones refused.
    fn stop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            accept.join().unwrap();
        }
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Samples of the interrupted runs: enough that a run is still going when the test stops it.
const LONG_RUN: u64 = 1500;

/// Starts `generate` of [`LONG_RUN`] samples into `url` through `port`, uploading every 100 ms,
/// and waits until the store holds its journal (so some samples are in the store).
fn start_long_run(home: &Path, tmp: &Path, moto: &Moto, port: u16, url: &str) -> Child {
    let mut command = medigan_s3(home, port);
    command
        .env("TMPDIR", tmp)
        .env("MEDIGAN_STORE_UPLOAD_MS", "100")
        .args(["--offline", "-q", "generate", "90001", "-n"])
        .arg(LONG_RUN.to_string())
        .args(["--seed", "5", "--threads", "1", "-o", url, "--catalog"])
        .arg(fixture("dcgan"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let prefix = url.trim_start_matches("s3://runs/");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before the test could stop it"
        );
        if moto.journal_samples("runs", prefix) >= 10 {
            return child;
        }
        assert!(
            Instant::now() < deadline,
            "no journal of 10 samples in the store after 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The staging folders (and lock files) in `tmp`.
fn staging_folders(tmp: &Path) -> usize {
    std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("medigan-stage-") && !name.ends_with(".lock"))
        .count()
}

/// `generate --resume --json` of [`LONG_RUN`] samples into `url`: how many samples it kept.
fn resume(home: &Path, tmp: &Path, port: u16, url: &str) -> u64 {
    let mut command = medigan_s3(home, port);
    command.env("TMPDIR", tmp).arg("--json");
    let output = generate(command, url, LONG_RUN, &["--resume"]);
    assert_success(&output);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    value["resumed"].as_u64().unwrap()
}

/// The root digest of a local run of [`LONG_RUN`] samples.
fn long_local_root(home: &Path) -> String {
    let local = tempfile::tempdir().unwrap();
    let dir = local.path().to_str().unwrap();
    assert_success(&generate(medigan(home), dir, LONG_RUN, &[]));
    merge_root(medigan(home), dir).unwrap()
}

#[test]
fn a_killed_run_resumes_from_the_store_to_the_same_root_digest() {
    let Some(moto) = moto("a_killed_run_resumes_from_the_store_to_the_same_root_digest") else {
        return;
    };
    moto.create_bucket("runs");
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut child = start_long_run(home.path(), tmp.path(), &moto, moto.port, "s3://runs/k");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        staging_folders(tmp.path()),
        1,
        "a SIGKILL leaves its staging folder"
    );
    let kept = resume(home.path(), tmp.path(), moto.port, "s3://runs/k");
    assert_eq!(
        staging_folders(tmp.path()),
        0,
        "the next run removed the killed run's staging folder, and its own"
    );
    assert!(
        kept > 0 && kept < LONG_RUN,
        "the samples the killed run uploaded are kept ({kept})"
    );
    let keys = moto.keys("runs", "k");
    assert!(!keys.iter().any(|k| k.ends_with(".journal")), "{keys:?}");
    let root = merge_root(medigan_s3(home.path(), moto.port), "s3://runs/k").unwrap();
    assert_eq!(root, long_local_root(home.path()));
}

#[test]
fn a_store_failing_mid_upload_stops_the_run_and_resume_completes_it() {
    let Some(moto) = moto("a_store_failing_mid_upload_stops_the_run_and_resume_completes_it")
    else {
        return;
    };
    moto.create_bucket("runs");
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut proxy = Proxy::start(moto.port);
    let child = start_long_run(home.path(), tmp.path(), &moto, proxy.port, "s3://runs/f");
    proxy.stop();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("uploading its samples to `s3://runs/f` failed")
            && stderr.contains("hint:")
            && stderr.contains("--resume"),
        "{stderr}"
    );
    assert_eq!(
        staging_folders(tmp.path()),
        0,
        "the staging folder is removed"
    );
    let kept = resume(home.path(), tmp.path(), moto.port, "s3://runs/f");
    assert!(kept > 0 && kept < LONG_RUN, "kept {kept}");
    let root = merge_root(medigan_s3(home.path(), moto.port), "s3://runs/f").unwrap();
    assert_eq!(root, long_local_root(home.path()));
}

#[test]
fn fid_reads_both_image_sets_from_the_store() {
    let Some(moto) = moto("fid_reads_both_image_sets_from_the_store") else {
        return;
    };
    moto.create_bucket("sets");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/fid");
    let images = fixtures.join("images");
    moto.boto(
        "import os\n\
         folder = sys.argv[1]\n\
         for name in sorted(os.listdir(folder)):\n\
         \x20   s3.put_object(Bucket='sets', Key='real/' + name, \
         Body=open(os.path.join(folder, name), 'rb').read())\n",
        &[images.to_str().unwrap()],
    );
    let home = tempfile::tempdir().unwrap();
    let extractor = format!("onnx:{}", fixtures.join("extractor.onnx").display());
    let fid = |mut command: Command, real: &str, synthetic: &str| {
        let output = run(command
            .args(["--json", "fid", real, synthetic, "--extractor", &extractor])
            .args(["--range", "0,1", "--split-seed", "4"]));
        assert_success(&output);
        let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        value["reports"][0].clone()
    };
    let local = images.to_str().unwrap();
    let expected = fid(medigan(home.path()), local, local);
    let stored = fid(
        medigan_s3(home.path(), moto.port),
        "s3://sets/real",
        "s3://sets/real",
    );
    assert_eq!(
        stored["subject"], "s3://sets/real",
        "reported under its URL"
    );
    assert_eq!(stored["real_images"], expected["real_images"]);
    assert_eq!(stored["fid_rs"], expected["fid_rs"]);
    assert_eq!(stored["fid_rr"], expected["fid_rr"]);
    // The store is not written by an evaluation.
    assert_eq!(
        moto.keys("sets", "real").len(),
        std::fs::read_dir(&images).unwrap().count()
    );
}
