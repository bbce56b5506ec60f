//! Cost of the exact, mergeable feature statistics (`evaluate::moments`) against the centred
//! f64 covariance they replaced, on random ReLU-like features (`crates/medigan/benches/fid.md`).
//!
//! ```text
//! RAYON_NUM_THREADS=2 cargo run --release -p medigan --example bench_stats -- 10000 2048
//! ```
//! Prints the seconds of: the old statistics (mean, then one f64 matrix product of the centred
//! features), the exact sums, the covariance from them, and the Frechet distance of two sets.

use std::time::Instant;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use medigan::evaluate::{ExactMoments, frechet_distance};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("usage: bench_stats ROWS DIMS"))
        .collect();
    let (rows, dims) = match args.as_slice() {
        [rows, dims] => (*rows, *dims),
        _ => (10_000, 2048),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let features = Array2::from_shape_fn((rows, dims), |_| {
        let v: f32 = rng.random::<f32>();
        if v < 0.3 { 0.0 } else { (v - 0.3) * 8.0 }
    });
    let start = Instant::now();
    let mut mean = vec![0.0f64; dims];
    for row in features.rows() {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= rows as f64);
    let centered = Mat::from_fn(rows, dims, |i, j| f64::from(features[(i, j)]) - mean[j]);
    let mut cov = Mat::<f64>::zeros(dims, dims);
    matmul(
        cov.as_mut(),
        Accum::Replace,
        centered.transpose(),
        centered.as_ref(),
        1.0 / (rows - 1) as f64,
        Par::rayon(0),
    );
    let old = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let moments = ExactMoments::of(features.view()).expect("exact sums");
    let sums = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let stats = moments.stats().expect("covariance");
    let covariance = start.elapsed().as_secs_f64();
    let largest = (0..dims)
        .flat_map(|j| (0..dims).map(move |i| (i, j)))
        .map(|(i, j)| (stats.cov[(i, j)] - cov[(i, j)]).abs())
        .fold(0.0f64, f64::max);
    let start = Instant::now();
    let distance = frechet_distance(&stats, &stats).expect("distance");
    let frechet = start.elapsed().as_secs_f64();
    println!(
        "{rows} x {dims}: old statistics {old:.2} s; exact sums {sums:.2} s + covariance \
         {covariance:.2} s; Frechet distance {frechet:.2} s (d = {distance:.3e}); largest \
         covariance difference {largest:.2e}"
    );
}
