//! Throughput of the native FID Inception-v3 (`medigan::evaluate::inception`) at 299 x 299.
//!
//! ```text
//! python3 scripts/inception_reference.py /tmp/inc      # random weights, the real file's layout
//! cargo run --release -p medigan --example bench_inception -- /tmp/inc/weights.pth [BATCH...]
//! ```
//! Prints images/s for each batch size (default 1 and 8) on rayon's pool; set
//! `RAYON_NUM_THREADS` to pin the thread count.

use std::time::Instant;

use medigan::evaluate::inception::{INPUT_SIZE, InceptionV3};
use ndarray::Array4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let weights = args
        .next()
        .ok_or("usage: bench_inception WEIGHTS.pth [BATCH...]")?;
    let mut batches: Vec<usize> = args.map(|a| a.parse()).collect::<Result<_, _>>()?;
    if batches.is_empty() {
        batches = vec![1, 8];
    }
    let t = Instant::now();
    let net = InceptionV3::from_pth(weights.as_ref())?;
    eprintln!("loaded {weights} in {:.2} s", t.elapsed().as_secs_f64());
    for b in batches {
        let x = Array4::from_shape_fn((b, 3, INPUT_SIZE, INPUT_SIZE), |(n, c, y, x)| {
            ((n * 7 + c * 3 + y * 5 + x) % 200) as f32 / 100.0 - 1.0
        });
        net.features(x.view())?; // warm-up
        let (t, mut images) = (Instant::now(), 0);
        while t.elapsed().as_secs_f64() < 5.0 {
            net.features(x.view())?;
            images += b;
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "batch {b:>3}: {:.2} images/s ({} threads)",
            images as f64 / secs,
            rayon::current_num_threads()
        );
    }
    Ok(())
}
