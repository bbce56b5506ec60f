//! Throughput of the FID Inception-v3 (`medigan::evaluate::inception`) at 299 x 299, native
//! and (when onnxruntime is found) as its ONNX graph on onnxruntime, the way `medigan fid` runs
//! it: one single-threaded session per thread, each on its own batches;
//! `scripts/bench_inception.sh` runs it beside pytorch-fid's network (same weights, input,
//! batches and threads).
//!
//! ```text
//! python3 scripts/inception_reference.py /tmp/inc      # random weights, the real file's layout
//! RAYON_NUM_THREADS=2 cargo run --release -p medigan --example bench_inception -- \
//!     /tmp/inc/weights.pth --images 200 --batch 32
//! ```
//! After one warm-up batch, runs `--images` images in batches of `--batch` on rayon's pool
//! (`RAYON_NUM_THREADS` pins its size) and prints images/s of wall-clock time and the CPU
//! seconds per image (user + system time of the process: less sensitive to other work on a
//! shared machine than wall-clock time).

use std::time::Instant;

use medigan::evaluate::inception::{INPUT_SIZE, InceptionV3};
use medigan::evaluate::{ExtractorSource, FeatureExtractor, InceptionSource};
use ndarray::Array4;

const USAGE: &str = "usage: bench_inception WEIGHTS.pth [--images N] [--batch B]";

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// The benchmark's input: images `start ..` of a fixed pattern in [-1, 1] (the formula of
/// `scripts/bench_inception.py`).
fn batch(start: usize, n: usize) -> Array4<f32> {
    Array4::from_shape_fn((n, 3, INPUT_SIZE, INPUT_SIZE), |(i, c, y, x)| {
        (((start + i) * 7 + c * 3 + y * 5 + x) % 200) as f32 / 100.0 - 1.0
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let weights = args.next().ok_or(USAGE)?;
    let (mut images, mut batch_size) = (200usize, 32usize);
    while let Some(flag) = args.next() {
        let value: usize = args.next().ok_or(USAGE)?.parse()?;
        match flag.as_str() {
            "--images" => images = value,
            "--batch" => batch_size = value.max(1),
            _ => return Err(USAGE.into()),
        }
    }
    let t = Instant::now();
    let net = InceptionV3::from_pth(weights.as_ref())?;
    eprintln!("loaded {weights} in {:.2} s", t.elapsed().as_secs_f64());
    net.features(batch(0, batch_size.min(images)).view())?; // warm-up
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let mut done = 0;
    while done < images {
        let n = batch_size.min(images - done);
        let input = batch(done, n);
        let features = net.features(input.view())?;
        assert_eq!(features.nrows(), n);
        done += n;
    }
    report("native", done, batch_size, t, cpu);
    bench_onnxruntime(&weights, images, batch_size)
}

fn report(route: &str, done: usize, batch_size: usize, start: Instant, cpu: f64) {
    let (wall, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    println!(
        "medigan {route}: {done} images, batch {batch_size}, {} threads: {:.2} images/s, \
         {:.3} CPU s/image",
        rayon::current_num_threads(),
        done as f64 / wall,
        cpu / done as f64
    );
}

/// The same images through the network's ONNX graph on onnxruntime: one extractor (one
/// single-threaded session) per thread, batch `k` on thread `k mod threads`.
fn bench_onnxruntime(
    weights: &str,
    images: usize,
    batch_size: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let graphs = tempfile::tempdir()?;
    let t = Instant::now();
    let source =
        InceptionSource::from_pth(weights.as_ref())?.on_onnxruntime(None, graphs.path())?;
    if !source.runs_on_onnxruntime() {
        eprintln!("onnxruntime not found: only the native network was measured");
        return Ok(());
    }
    let threads = rayon::current_num_threads();
    let mut workers = (0..threads)
        .map(|_| source.make())
        .collect::<Result<Vec<Box<dyn FeatureExtractor>>, _>>()?;
    for worker in &mut workers {
        worker.extract(batch(0, batch_size.min(images)).view())?; // warm-up
    }
    eprintln!(
        "graph built and sessions opened in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let starts: Vec<usize> = (0..images).step_by(batch_size).collect();
    let (t, cpu) = (Instant::now(), cpu_seconds());
    std::thread::scope(|scope| {
        for (k, worker) in workers.iter_mut().enumerate() {
            let starts = &starts;
            scope.spawn(move || {
                for &start in starts.iter().skip(k).step_by(threads) {
                    let n = batch_size.min(images - start);
                    let features = worker.extract(batch(start, n).view()).expect("extract");
                    assert_eq!(features.nrows(), n);
                }
            });
        }
    });
    report("onnxruntime", images, batch_size, t, cpu);
    Ok(())
}
