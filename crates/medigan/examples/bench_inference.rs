//! Inference throughput of the ONNX backends (samples/s, inference alone) on one model package.
//!
//! ```text
//! python3 scripts/make_fixtures.py --only --benchmark /tmp/bench-model
//! cargo run --release --example bench_inference -- /tmp/bench-model/dcgan128_benchmark
//!     [--batches 1,16,64] [--seconds 2] [--passes 3] [--backends ort,tract]
//! ```
//!
//! For each backend and batch size it times one session using every core, one session with one
//! thread, and one one-thread session per core run side by side (tract: one thread per session,
//! sample by sample, and once with its symbolic-batch plan), and prints the median of the passes
//! as a Markdown table. Inputs are fixed pseudo-random values; nothing is written.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use medigan::catalog::{ClassEncoding, InputKind, InputSpec, OnnxSpec};
use medigan::runtime::{
    BackendKind, NamedTensor, OrtSession, Session, SessionOptions, TractPlanning, TractSession,
    find_onnxruntime,
};
use ndarray::ArrayD;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// The command line.
struct Args {
    package: PathBuf,
    batches: Vec<usize>,
    seconds: f64,
    passes: usize,
    backends: Vec<BackendKind>,
}

/// A backend, and for tract its planning.
#[derive(Clone, Copy)]
enum Engine {
    Ort,
    Tract(TractPlanning),
}

impl Engine {
    fn label(self) -> &'static str {
        match self {
            Engine::Ort => "ort",
            Engine::Tract(TractPlanning::PerSample) => "tract",
            Engine::Tract(TractPlanning::Symbolic) => "tract (symbolic batch)",
        }
    }
}

/// The engines to time for the backends asked for.
fn engines(backends: &[BackendKind]) -> Vec<Engine> {
    let mut engines = Vec::new();
    for backend in backends {
        match backend {
            BackendKind::Ort => engines.push(Engine::Ort),
            BackendKind::Tract => engines.extend([
                Engine::Tract(TractPlanning::PerSample),
                Engine::Tract(TractPlanning::Symbolic),
            ]),
        }
    }
    engines
}

/// How sessions are laid out on the cores.
#[derive(Clone, Copy)]
enum Layout {
    /// One session, `n` intra-op threads.
    OneSession(usize),
    /// `n` one-thread sessions, each on its own thread.
    Sessions(usize),
}

impl Layout {
    fn label(self) -> String {
        match self {
            Layout::OneSession(1) => "1 session x 1 thread".into(),
            Layout::OneSession(n) => format!("1 session x {n} threads"),
            Layout::Sessions(n) => format!("{n} sessions x 1 thread"),
        }
    }
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let (graph, spec) = read_package(&args.package)?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    print_machine(cores, &graph);
    println!("| backend | layout | batch | samples/s | ms/batch | load s |");
    println!("|---|---|---:|---:|---:|---:|");
    for engine in engines(&args.backends) {
        for layout in layouts(engine, cores) {
            for &batch in &args.batches {
                let (rate, load) = measure(&args, engine, layout, &graph, &spec, batch)?;
                let ms = 1000.0 * batch as f64 / rate;
                println!(
                    "| {} | {} | {batch} | {rate:.1} | {ms:.1} | {load:.2} |",
                    engine.label(),
                    layout.label()
                );
            }
        }
    }
    Ok(())
}

fn layouts(engine: Engine, cores: usize) -> Vec<Layout> {
    match engine {
        Engine::Ort if cores > 1 => {
            vec![
                Layout::OneSession(cores),
                Layout::OneSession(1),
                Layout::Sessions(cores),
            ]
        }
        Engine::Tract(TractPlanning::PerSample) if cores > 1 => {
            vec![Layout::OneSession(1), Layout::Sessions(cores)]
        }
        _ => vec![Layout::OneSession(1)],
    }
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        package: PathBuf::new(),
        batches: vec![1, 16, 64],
        seconds: 2.0,
        passes: 3,
        backends: vec![BackendKind::Ort, BackendKind::Tract],
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--batches" => args.batches = list(&value()?)?,
            "--seconds" => args.seconds = value()?.parse()?,
            "--passes" => args.passes = value()?.parse()?,
            "--backends" => args.backends = list(&value()?)?,
            path if !path.starts_with("--") => args.package = PathBuf::from(path),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    if args.package.as_os_str().is_empty() {
        return Err("usage: bench_inference PACKAGE_DIR [--batches 1,16,64] [--seconds 2] [--passes 3] [--backends ort,tract]".into());
    }
    if args.backends.contains(&BackendKind::Ort) && find_onnxruntime().is_err() {
        eprintln!("onnxruntime not found: benchmarking tract only");
        args.backends.retain(|b| *b != BackendKind::Ort);
    }
    Ok(args)
}

fn list<T: std::str::FromStr>(text: &str) -> Result<Vec<T>>
where
    T::Err: Error + 'static,
{
    text.split(',')
        .map(|s| {
            s.trim()
                .parse::<T>()
                .map_err(|e| Box::new(e) as Box<dyn Error>)
        })
        .collect()
}

/// The graph and `execution.onnx` of a package directory (or of the graph file's directory).
fn read_package(path: &Path) -> Result<(PathBuf, OnnxSpec)> {
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(Path::new("."))
    };
    let text = std::fs::read_to_string(dir.join("medigan.json"))?;
    let json: serde_json::Value = serde_json::from_str(&text)?;
    let entry = json
        .as_object()
        .and_then(|o| o.values().next())
        .ok_or("medigan.json has no entry")?;
    let spec: OnnxSpec = serde_json::from_value(entry["execution"]["onnx"].clone())?;
    let graph = medigan::runtime::graph_path(dir, &spec)?;
    Ok((graph, spec))
}

fn print_machine(cores: usize, graph: &Path) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    println!("model: {}", graph.display());
    println!("machine: {cpu}, {cores} cores");
    if let Ok(lib) = find_onnxruntime() {
        println!("onnxruntime: {}", lib.path.display());
    }
    println!();
}

fn open(engine: Engine, threads: usize, graph: &Path, spec: &OnnxSpec) -> Result<Box<dyn Session>> {
    let options = SessionOptions {
        intra_threads: Some(threads),
        ..Default::default()
    };
    Ok(match engine {
        Engine::Ort => Box::new(OrtSession::load(graph, spec, &options)?),
        Engine::Tract(planning) => {
            Box::new(TractSession::load_with(graph, spec, &options, planning)?)
        }
    })
}

/// Median samples/s over the passes, and the seconds one session took to load.
fn measure(
    args: &Args,
    engine: Engine,
    layout: Layout,
    graph: &Path,
    spec: &OnnxSpec,
    batch: usize,
) -> Result<(f64, f64)> {
    let (sessions, threads) = match layout {
        Layout::OneSession(n) => (1, n),
        Layout::Sessions(n) => (n, 1),
    };
    let start = Instant::now();
    let mut workers = (0..sessions)
        .map(|_| open(engine, threads, graph, spec))
        .collect::<Result<Vec<_>>>()?;
    let load = start.elapsed().as_secs_f64() / sessions as f64;
    let inputs = inputs(spec, batch);
    for session in &mut workers {
        session.run(&inputs)?;
    }
    let mut rates = Vec::with_capacity(args.passes);
    for _ in 0..args.passes.max(1) {
        rates.push(pass(
            &mut workers,
            &inputs,
            Duration::from_secs_f64(args.seconds),
        )?);
    }
    rates.sort_by(f64::total_cmp);
    Ok((rates[rates.len() / 2], load))
}

/// One timed pass: every session runs batches on its own thread until `length` has passed.
fn pass(workers: &mut [Box<dyn Session>], inputs: &[NamedTensor], length: Duration) -> Result<f64> {
    let barrier = Barrier::new(workers.len());
    let batch = inputs.first().map_or(1, |t| t.data.shape()[0]);
    let start = Instant::now();
    let counts = std::thread::scope(|scope| {
        let handles: Vec<_> = workers
            .iter_mut()
            .map(|session| {
                let barrier = &barrier;
                scope.spawn(move || -> std::result::Result<usize, String> {
                    barrier.wait();
                    let begin = Instant::now();
                    let mut runs = 0;
                    while begin.elapsed() < length || runs == 0 {
                        session.run(inputs).map_err(|e| e.to_string())?;
                        runs += 1;
                    }
                    Ok(runs)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| "worker panicked".to_string())?)
            .collect::<std::result::Result<Vec<usize>, String>>()
    })?;
    let elapsed = start.elapsed().as_secs_f64();
    Ok((counts.iter().sum::<usize>() * batch) as f64 / elapsed)
}

/// Fixed pseudo-random inputs for every declared input.
fn inputs(spec: &OnnxSpec, batch: usize) -> Vec<NamedTensor> {
    spec.inputs
        .iter()
        .map(|input| input_for(input, batch))
        .collect()
}

fn input_for(input: &InputSpec, batch: usize) -> NamedTensor {
    let classes = input.class_names().len().max(1);
    match (input.kind, input.encoding.unwrap_or_default()) {
        (InputKind::Class, ClassEncoding::Index) => {
            let labels = (0..batch).map(|i| (i % classes) as i64).collect();
            NamedTensor::i64(
                &input.name,
                ArrayD::from_shape_vec(vec![batch], labels).unwrap_or_default(),
            )
        }
        (InputKind::Class, ClassEncoding::OneHot) => {
            let data = ArrayD::from_shape_fn(vec![batch, classes], |ix| {
                f32::from(u8::from(ix[1] == ix[0] % classes))
            });
            NamedTensor::f32(&input.name, data)
        }
        _ => {
            let mut shape = vec![batch];
            shape.extend(input.shape.clone().unwrap_or_default());
            let mut state = 0x2545_f491_4f6c_dd1d_u64;
            let data = ArrayD::from_shape_simple_fn(shape, || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            });
            NamedTensor::f32(&input.name, data)
        }
    }
}
