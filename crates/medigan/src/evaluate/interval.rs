//! The spread of a metric over repeated evaluations: mean, standard deviation and a 95%
//! confidence interval of the mean, `mean +- t(0.975, R - 1) s / sqrt(R)` (Student's t, as
//! for any mean of a few independent runs).

use serde::Serialize;

/// Mean and 95% interval of one metric over `count` repeats.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// Mean over the repeats.
    pub mean: f64,
    /// Sample standard deviation (ddof 1; 0 for one repeat).
    pub std: f64,
    /// Lower end of the 95% interval of the mean.
    pub low: f64,
    /// Upper end of the 95% interval of the mean.
    pub high: f64,
    /// Number of repeats.
    pub count: usize,
}

impl Interval {
    /// The interval of `values` (`None` when empty or holding NaN).
    pub fn of(values: &[f64]) -> Option<Interval> {
        if values.is_empty() || values.iter().any(|v| v.is_nan()) {
            return None;
        }
        let count = values.len();
        let mean = values.iter().sum::<f64>() / count as f64;
        let std = if count > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (count - 1) as f64).sqrt()
        } else {
            0.0
        };
        let half = if count > 1 {
            t_975(count - 1) * std / (count as f64).sqrt()
        } else {
            0.0
        };
        Some(Interval {
            mean,
            std,
            low: mean - half,
            high: mean + half,
            count,
        })
    }
}

impl Interval {
    /// The interval with its ends clipped to the values the metric can take (a fraction stays
    /// in [0, 1], a distance at or above 0).
    pub fn within(self, (lowest, highest): (f64, f64)) -> Interval {
        Interval {
            low: self.low.clamp(lowest, highest),
            high: self.high.clamp(lowest, highest),
            ..self
        }
    }
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom (tabulated to 30, then the
/// Cornish-Fisher expansion, within 1e-4 beyond).
pub fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        _ => {
            let z: f64 = 1.959_963_985;
            let n = df as f64;
            z + (z.powi(3) + z) / (4.0 * n)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * n * n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_of_known_values() {
        let i = Interval::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((i.mean, i.std, i.count), (2.0, 1.0, 3));
        assert!((i.high - (2.0 + 4.303 / 3f64.sqrt())).abs() < 1e-12);
        assert!((i.low + i.high - 4.0).abs() < 1e-12);
        let one = Interval::of(&[5.0]).unwrap();
        assert_eq!((one.low, one.high), (5.0, 5.0));
        assert_eq!(Interval::of(&[]), None);
        let fraction = Interval::of(&[0.8, 1.0]).unwrap().within((0.0, 1.0));
        assert_eq!(fraction.high, 1.0);
        assert!(fraction.low < 0.8 && fraction.mean == 0.9);
    }

    #[test]
    fn t_quantile_approaches_the_normal_one() {
        assert!((t_975(40) - 2.021).abs() < 1e-3);
        assert!((t_975(120) - 1.980).abs() < 1e-3);
        assert!(t_975(30) > t_975(31) && t_975(31) > 1.96);
    }
}
