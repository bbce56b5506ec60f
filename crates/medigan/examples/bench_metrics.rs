//! Time of each metric at a given size (default 10,000 x 2048, Inception's pool3 features):
//! FID, KID (100 subsets of 1000), PRDC (k = 5), CMMD, on Gaussian features with a fixed seed.
//!
//! `cargo run --release --example bench_metrics -p medigan -- [N] [D]`; compare with
//! `python3 scripts/bench_metrics_reference.py N D` (torch-fidelity, clean-fid, prdc).

use std::time::Instant;

use medigan::evaluate::{KidOptions, cmmd, frechet_distance_of_features, kid, prdc};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

fn features(n: usize, d: usize, shift: f32, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0f32, 1.0).unwrap_or_else(|_| unreachable!());
    Array2::from_shape_fn((n, d), |_| normal.sample(&mut rng).abs() * 0.5 + shift)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let d: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2048);
    let threads = rayon::current_num_threads();
    let real = features(n, d, 0.0, 1);
    let synthetic = features(n, d, 0.05, 2);
    println!("| metric ({n} x {d}, {threads} threads) | seconds | value |");
    println!("|---|---|---|");
    let start = Instant::now();
    let fid = frechet_distance_of_features(real.view(), synthetic.view());
    let fid = fid.map_or(f64::NAN, |v| v);
    println!("| FID | {:.2} | {fid:.4} |", start.elapsed().as_secs_f64());
    let start = Instant::now();
    let k = kid(real.view(), synthetic.view(), &KidOptions::default());
    let k = k.map_or(f64::NAN, |k| k.mean);
    println!(
        "| KID (100 x 1000) | {:.2} | {k:.6} |",
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let p = prdc(real.view(), synthetic.view(), 5);
    let p = p.map_or(f64::NAN, |p| p.precision);
    println!(
        "| PRDC (k = 5) | {:.2} | precision {p:.4} |",
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let c = cmmd(real.view(), synthetic.view()).map_or(f64::NAN, |v| v);
    println!("| CMMD | {:.2} | {c:.6} |", start.elapsed().as_secs_f64());
}
