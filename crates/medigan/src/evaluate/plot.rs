//! `FID_rs` against `FID_rr` as an SVG scatter plot with the least-squares regression line,
//! like the paper's Fig. 8. Plain SVG text: no plotting dependency.

use std::fmt::Write as _;

/// One point of the plot.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotPoint {
    /// The label drawn below the dot (a model id or number).
    pub label: String,
    /// `FID_rr` (x axis).
    pub fid_rr: f64,
    /// `FID_rs` (y axis).
    pub fid_rs: f64,
    /// Drawn highlighted (e.g. the models just evaluated, against the catalogue's).
    pub highlight: bool,
}

/// The least-squares line `y = slope x + intercept`; `None` with fewer than two distinct x.
pub fn regression(points: &[PlotPoint]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.fid_rr).sum::<f64>() / n;
    let my = points.iter().map(|p| p.fid_rs).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.fid_rr - mx).powi(2)).sum();
    let sxy: f64 = points
        .iter()
        .map(|p| (p.fid_rr - mx) * (p.fid_rs - my))
        .sum();
    (sxx > 0.0).then(|| {
        let slope = sxy / sxx;
        (slope, my - slope * mx)
    })
}

/// The SVG text of the plot.
pub fn svg(points: &[PlotPoint], title: &str) -> String {
    const W: f64 = 640.0;
    const H: f64 = 480.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 40.0;
    const BOTTOM: f64 = 60.0;
    let max_x = nice_max(points.iter().map(|p| p.fid_rr).fold(0.0, f64::max));
    let max_y = nice_max(points.iter().map(|p| p.fid_rs).fold(0.0, f64::max));
    let px = |x: f64| LEFT + x / max_x * (W - LEFT - RIGHT);
    let py = |y: f64| H - BOTTOM - y / max_y * (H - TOP - BOTTOM);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    // Axes, ticks and grid.
    for i in 0..=5 {
        let t = f64::from(i) / 5.0;
        let (x, y) = (px(t * max_x), py(t * max_y));
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#e5e5e5"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            H - BOTTOM,
            H - BOTTOM + 18.0,
            tick(t * max_x)
        );
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            tick(t * max_y)
        );
    }
    let _ = writeln!(
        out,
        r#"<path d="M{LEFT},{TOP} V{} H{}" fill="none" stroke="black"/>"#,
        H - BOTTOM,
        W - RIGHT
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">FID real-real (lower bound FID_rr)</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 18.0
    );
    let _ = writeln!(
        out,
        r#"<text transform="translate(18,{}) rotate(-90)" text-anchor="middle">FID real-synthetic (FID_rs)</text>"#,
        (TOP + H - BOTTOM) / 2.0
    );
    if let Some((slope, intercept)) = regression(points) {
        let (x0, x1) = (0.0, max_x);
        let clip = |y: f64| y.clamp(0.0, max_y);
        let _ = writeln!(
            out,
            r#"<line class="regression" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="red" stroke-width="1.5"/>"#,
            px(x0),
            py(clip(intercept + slope * x0)),
            px(x1),
            py(clip(intercept + slope * x1))
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" fill="red" text-anchor="end">FID_rs = {slope:.2} FID_rr + {intercept:.2}</text>"#,
            W - RIGHT - 4.0,
            TOP + 14.0
        );
    }
    for p in points {
        let color = if p.highlight { "#d62728" } else { "#1f77b4" };
        let (x, y) = (px(p.fid_rr), py(p.fid_rs));
        let _ = writeln!(
            out,
            r#"<circle class="point" cx="{x:.1}" cy="{y:.1}" r="4.5" fill="{color}"><title>{}: FID_rr {:.2}, FID_rs {:.2}</title></circle><text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
            escape(&p.label),
            p.fid_rr,
            p.fid_rs,
            y + 15.0,
            escape(&p.label)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// A round axis maximum at or above `v` (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten).
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|&m| m >= v)
        .unwrap_or(10.0 * power)
}

fn tick(v: f64) -> String {
    if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(x: f64, y: f64) -> PlotPoint {
        PlotPoint {
            label: "m".into(),
            fid_rr: x,
            fid_rs: y,
            highlight: false,
        }
    }

    #[test]
    fn regression_of_a_line_is_the_line() {
        let points = [point(1.0, 3.0), point(2.0, 5.0), point(4.0, 9.0)];
        let (slope, intercept) = regression(&points).unwrap();
        assert!((slope - 2.0).abs() < 1e-12 && (intercept - 1.0).abs() < 1e-12);
        assert_eq!(regression(&points[..1]), None);
    }

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(nice_max(73.0), 80.0);
        assert_eq!(nice_max(221.3), 250.0);
        assert_eq!(nice_max(0.0), 1.0);
    }
}
