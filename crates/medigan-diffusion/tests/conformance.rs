//! Conformance against diffusers 0.42.1 and MONAI 1.6.1: each fixture under
//! `tests/fixtures/diffusion/schedulers/` (made by `scripts/make_scheduler_fixtures.py`) is a
//! run of the reference scheduler on a fixed model formula; the same run here must give the
//! same timesteps and, at every step, the same denoiser input and sample.
//!
//! Tolerance: `|ours - theirs| <= 1e-5 * max(|theirs|, 0.1 * max|theirs over the buffer|)`:
//! 1e-5 relative for every value within a factor 10 of the buffer's largest; smaller values
//! (whose float32 error is set by the largest terms they were computed from, ~1 ulp of the
//! buffer's scale) are held to 1e-6 of the buffer's largest value, about 8 ulps of it.
//!
//! The step arithmetic reproduces diffusers' float32 operations in their order, and is bit-exact
//! where the betas are (see `ddpm_trained_betas`); torch's vectorised `linspace` rounds some
//! betas one ulp away from its scalar formula used here, which DDPM's `1 - a_t / a_prev`
//! amplifies to a few 1e-6 relative.

use std::path::PathBuf;

use medigan_diffusion::{NoiseSource, SchedulerConfig, make_scheduler};
use serde_json::Value;

const RTOL: f64 = 1e-5;
const MODEL_A: f64 = -0.1;
const MODEL_B: f64 = 0.8;

/// The fixtures' deterministic model: `A x + B cos(t / 100 + 0.1 j)` in float64, as float32.
fn model(input: &[f32], t: f32) -> Vec<f32> {
    input
        .iter()
        .enumerate()
        .map(|(j, &x)| {
            (MODEL_A * x as f64 + MODEL_B * (t as f64 / 100.0 + 0.1 * j as f64).cos()) as f32
        })
        .collect()
}

/// Replays the noise a fixture recorded for the current step.
struct Replay {
    draws: Vec<Vec<f32>>,
    used: usize,
}

impl NoiseSource for Replay {
    fn fill_standard_normal(&mut self, out: &mut [f32]) {
        let draw = self.draws.get(self.used).unwrap_or_else(|| {
            panic!(
                "scheduler drew noise {} times; the reference drew {}",
                self.used + 1,
                self.draws.len()
            )
        });
        assert_eq!(draw.len(), out.len(), "noise draw length");
        out.copy_from_slice(draw);
        self.used += 1;
    }
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

/// Largest scaled error of `ours` against `theirs` (1.0 = at the tolerance).
fn scaled_error(ours: &[f32], theirs: &[f32]) -> (f64, f64) {
    assert_eq!(ours.len(), theirs.len());
    let scale = theirs.iter().fold(0f64, |m, &v| m.max(v.abs() as f64));
    let mut worst = 0f64;
    let mut worst_rel = 0f64;
    for (&a, &b) in ours.iter().zip(theirs) {
        let (a, b) = (a as f64, b as f64);
        let diff = (a - b).abs();
        if a.is_nan() || b.is_nan() {
            assert!(a.is_nan() && b.is_nan(), "NaN mismatch: {a} vs {b}");
            continue;
        }
        let denom = b.abs().max(0.1 * scale).max(f64::MIN_POSITIVE);
        worst = worst.max(diff / (RTOL * denom));
        worst_rel = worst_rel.max(diff / denom);
    }
    (worst, worst_rel)
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/diffusion/schedulers")
}

/// Runs one fixture; returns the largest relative error seen.
fn run(path: &std::path::Path) -> f64 {
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let name = fx["name"].as_str().unwrap().to_owned();
    // The config is a file of its own, read unchanged (diffusers writes `-Infinity` in it).
    let config_path = fixtures_dir().join(fx["config"].as_str().unwrap());
    let cfg = SchedulerConfig::from_json(&std::fs::read_to_string(config_path).unwrap())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let steps = fx["steps"].as_u64().unwrap() as usize;
    let shape: Vec<usize> = fx["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let sample_len: usize = shape.iter().product();
    let mut sched = make_scheduler(&cfg, None, steps).unwrap_or_else(|e| panic!("{name}: {e}"));
    sched.set_sample_shape(&shape).unwrap();

    let want_ts = f32s(&fx["timesteps"]);
    let ts = sched.timesteps().to_vec();
    assert_eq!(ts.len(), want_ts.len(), "{name}: number of timesteps");
    for (i, (&a, &b)) in ts.iter().zip(&want_ts).enumerate() {
        // Integer timesteps must be equal; fractional ones (Karras, flow) to float32 rounding.
        let ok = if b.fract() == 0.0 {
            a == b
        } else {
            (a - b).abs() <= 1e-6 * b.abs().max(1.0)
        };
        assert!(
            ok,
            "{name}: timestep {i}: {a} vs {b}\nours:   {ts:?}\ntheirs: {want_ts:?}"
        );
    }
    let mut worst_rel = 0f64;
    let sigma = sched.init_noise_sigma();
    let want_sigma = fx["init_noise_sigma"].as_f64().unwrap();
    let (e, r) = scaled_error(&[sigma], &[want_sigma as f32]);
    assert!(e <= 1.0, "{name}: init_noise_sigma {sigma} vs {want_sigma}");
    worst_rel = worst_rel.max(r);

    let mut sample: Vec<f32> = f32s(&fx["initial_noise"])
        .iter()
        .map(|&z| z * sigma)
        .collect();
    let mut input = vec![0f32; sample.len()];
    for (i, rec) in fx["records"].as_array().unwrap().iter().enumerate() {
        sched.scale_model_input(i, &sample, &mut input);
        let (e, r) = scaled_error(&input, &f32s(&rec["model_input"]));
        assert!(
            e <= 1.0,
            "{name}: step {i}: model input off by {r:.3e} relative"
        );
        worst_rel = worst_rel.max(r);
        let out = model(&input, ts[i]);
        let draws: Vec<Vec<f32>> = rec["noise"].as_array().unwrap().iter().map(f32s).collect();
        let mut noise = Replay { draws, used: 0 };
        sched
            .step(i, &out, &mut sample, sample_len, &mut noise)
            .unwrap_or_else(|e| panic!("{name}: step {i}: {e}"));
        assert_eq!(
            noise.used,
            noise.draws.len(),
            "{name}: step {i}: noise draws"
        );
        let want = f32s(&rec["sample"]);
        let (e, r) = scaled_error(&sample, &want);
        assert!(
            e <= 1.0,
            "{name}: step {i} (t = {}): sample off by {r:.3e} relative\nours:   {sample:?}\ntheirs: {want:?}",
            ts[i]
        );
        worst_rel = worst_rel.max(r);
    }
    worst_rel
}

#[test]
fn schedulers_match_diffusers_and_monai() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 20,
        "expected the scheduler fixtures, found {}",
        paths.len()
    );
    let mut failures = Vec::new();
    for path in &paths {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        match std::panic::catch_unwind(|| run(path)) {
            Ok(worst) => eprintln!("{name:40} max relative error {worst:.2e}"),
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                eprintln!("{name:40} FAILED: {msg}");
                failures.push(name);
            }
        }
    }
    assert!(failures.is_empty(), "fixtures failing: {failures:?}");
}
