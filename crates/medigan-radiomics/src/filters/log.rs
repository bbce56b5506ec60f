//! Laplacian of Gaussian image type: pyradiomics' `getLoGImage` (SimpleITK's
//! `LaplacianRecursiveGaussianImageFilter` with `NormalizeAcrossScale` on).
//!
//! For each axis `d` ITK takes the second derivative of a Gaussian along `d` (scaled by
//! `sigma^2`) and smooths it with a Gaussian along each other axis in increasing order, each pass
//! a recursive (IIR) filter of fourth order (Deriche's coefficients as ITK's
//! `RecursiveGaussianImageFilter` sets them up, `sigma` in mm over the axis' spacing) whose
//! causal and anti-causal passes assume the border value repeats to infinity; the lines are
//! filtered in `f64` and stored as `f32` between passes (ITK's internal images are `float`
//! whatever the input type); the `D` results are summed in `f32`, each
//! divided by the axis' spacing squared. This module repeats those steps in that order.
//!
//! pyradiomics yields nothing when a dimension of the image is below 4 voxels (so never for a
//! 2D image held as one slice), and skips a sigma that is not positive or for which a dimension
//! is below `ceil(sigma / spacing) + 1`. Names: `log-sigma-<sigma>-mm-3D`, `<sigma>` as Python's
//! `str(float)` with `.` replaced by `-` (`2.0` gives `log-sigma-2-0-mm-3D`).

use ndarray::Array3;

use crate::error::RadiomicsError;
use crate::settings::Settings;
use crate::volume::Volume;

/// Most voxels accepted, a bound on memory (three `f32` copies of the image).
const MAX_VOXELS: usize = 1 << 28;

/// The LoG images pyradiomics' `getLoGImage` yields for `image` with the sigmas of
/// `settings.log_sigma`, named and ordered as pyradiomics names and yields them. The values are
/// `f32` (as SimpleITK holds them), widened to `f64`; the geometry is the input's. The mask is
/// not used (pyradiomics ignores it here).
pub fn images(
    image: &Volume<f64>,
    _mask: &Volume<bool>,
    settings: &Settings,
) -> Result<Vec<(String, Volume<f64>)>, RadiomicsError> {
    let dims = image.geometry.dims;
    let (nz, ny, nx) = image.data.dim();
    // ITK order (x, y, z) and the array axis of each.
    let (size, array_axis): (Vec<usize>, Vec<usize>) = match dims {
        2 if nz == 1 => (vec![nx, ny], vec![2, 1]),
        3 => (vec![nx, ny, nz], vec![2, 1, 0]),
        _ => {
            return Err(RadiomicsError::Image(format!(
                "a {dims}D image of {nz} slices is not supported (2D: one slice, or 3D)"
            )));
        }
    };
    let spacing = &image.geometry.spacing[..dims];
    if let Some(s) = spacing.iter().find(|s| !(s.is_finite() && s.abs() >= 1e-8)) {
        return Err(RadiomicsError::Image(format!(
            "spacing {s} is not usable for the LoG filter"
        )));
    }
    if nz * ny * nx > MAX_VOXELS {
        return Err(RadiomicsError::Image(format!(
            "{:?} voxels is too large for the LoG filter",
            image.data.dim()
        )));
    }
    let mut out = Vec::new();
    if size.iter().any(|&n| n < 4) {
        return Ok(out);
    }
    let input = image.data.as_standard_layout();
    let input = input.as_slice().expect("standard layout");
    let shape = [nz, ny, nx];
    for &sigma in &settings.log_sigma {
        // As pyradiomics: `sigma > 0.0` (false for NaN), then every size >= ceil(sigma/spacing)+1.
        if sigma.is_nan() || sigma <= 0.0 {
            continue;
        }
        let fits = size
            .iter()
            .zip(spacing)
            .all(|(&n, &s)| n as f64 >= (sigma / s).ceil() + 1.0);
        if !fits {
            continue;
        }
        let data = laplacian(input, shape, sigma, spacing, &array_axis);
        let data = Array3::from_shape_vec((nz, ny, nx), data.into_iter().map(f64::from).collect())
            .expect("the LoG image has the input's shape");
        out.push((
            format!("log-sigma-{}-mm-3D", python_str(sigma).replace('.', "-")),
            Volume {
                data,
                geometry: image.geometry.clone(),
            },
        ));
    }
    Ok(out)
}

/// ITK's `LaplacianRecursiveGaussianImageFilter` (normalised across scale) of `input` (`[z, y,
/// x]`, flat, of `shape`). `spacing` and `array_axis` are in ITK order (`x` first). The first pass
/// reads the input as it is (`f64`, which holds a `Float32` image exactly); the passes store
/// `f32` as ITK's internal images do.
fn laplacian(
    input: &[f64],
    shape: [usize; 3],
    sigma: f64,
    spacing: &[f64],
    array_axis: &[usize],
) -> Vec<f32> {
    let dims = spacing.len();
    let mut lines = LineBuffers::default();
    let mut cumulative = vec![0.0f32; input.len()];
    let mut work = vec![0.0f32; input.len()];
    let mut other = vec![0.0f32; input.len()];
    for d in 0..dims {
        let second = Coefficients::new(sigma, spacing[d], Order::Second);
        filter_axis(input, &mut work, shape, array_axis[d], &second, &mut lines);
        for e in (0..dims).filter(|&e| e != d) {
            let zero = Coefficients::new(sigma, spacing[e], Order::Zero);
            filter_axis(&work, &mut other, shape, array_axis[e], &zero, &mut lines);
            std::mem::swap(&mut work, &mut other);
        }
        let scale = 1.0 / (spacing[d] * spacing[d]);
        for (c, &w) in cumulative.iter_mut().zip(&work) {
            *c = (f64::from(*c) + f64::from(w) * scale) as f32;
        }
    }
    cumulative
}

/// Which Gaussian the recursive filter approximates.
#[derive(Clone, Copy, PartialEq)]
enum Order {
    /// The Gaussian itself (not normalised across scale, as ITK does for order 0).
    Zero,
    /// Its second derivative, times `sigma^2`.
    Second,
}

/// The coefficients of ITK's `RecursiveSeparableImageFilter` for one axis.
struct Coefficients {
    n: [f64; 4],
    d: [f64; 4],
    m: [f64; 4],
    bn: [f64; 4],
    bm: [f64; 4],
}

impl Coefficients {
    /// ITK's `RecursiveGaussianImageFilter::SetUp(spacing)` for `sigma` (mm).
    fn new(sigma: f64, spacing: f64, order: Order) -> Coefficients {
        let spacing = spacing.abs();
        let sigmad = sigma / spacing;
        // Deriche's fit of the Gaussian and its derivatives, as ITK holds it.
        let (w1, l1, w2, l2) = (0.6681, -1.3932, 2.0787, -1.3732);
        let a1 = [1.3530, -0.6724, -1.3563];
        let b1 = [1.8151, -3.4327, 5.2318];
        let a2 = [-0.3531, 0.6724, 0.3446];
        let b2 = [0.0902, 0.6100, -2.2355];

        let (d, sd, dd, ed) = d_coefficients(sigmad, w1, l1, w2, l2);
        let mut n;
        match order {
            Order::Zero => {
                let (n0, sn, _, _) =
                    n_coefficients(sigmad, a1[0], b1[0], w1, l1, a2[0], b2[0], w2, l2);
                n = n0;
                let alpha0 = 2.0 * sn / sd - n[0];
                for v in &mut n {
                    *v *= 1.0 / alpha0;
                }
            }
            Order::Second => {
                let normalization = sigma * sigma;
                let (n_0, sn0, dn0, en0) =
                    n_coefficients(sigmad, a1[0], b1[0], w1, l1, a2[0], b2[0], w2, l2);
                let (n_2, sn2, dn2, en2) =
                    n_coefficients(sigmad, a1[2], b1[2], w1, l1, a2[2], b2[2], w2, l2);
                let beta = -(2.0 * sn2 - sd * n_2[0]) / (2.0 * sn0 - sd * n_0[0]);
                n = [0.0; 4];
                for k in 0..4 {
                    n[k] = n_2[k] + beta * n_0[k];
                }
                let sn = sn2 + beta * sn0;
                let dn = dn2 + beta * dn0;
                let en = en2 + beta * en0;
                let mut alpha2 =
                    en * sd * sd - ed * sn * sd - 2.0 * dn * dd * sd + 2.0 * dd * dd * sn;
                alpha2 /= sd * sd * sd;
                for v in &mut n {
                    *v *= normalization / alpha2;
                }
            }
        }
        // Symmetric kernels (orders 0 and 2).
        let m = [
            n[1] - d[0] * n[0],
            n[2] - d[1] * n[0],
            n[3] - d[2] * n[0],
            -d[3] * n[0],
        ];
        let sn = n[0] + n[1] + n[2] + n[3];
        let sm = m[0] + m[1] + m[2] + m[3];
        let sd = 1.0 + d[0] + d[1] + d[2] + d[3];
        let bn = [
            d[0] * sn / sd,
            d[1] * sn / sd,
            d[2] * sn / sd,
            d[3] * sn / sd,
        ];
        let bm = [
            d[0] * sm / sd,
            d[1] * sm / sd,
            d[2] * sm / sd,
            d[3] * sm / sd,
        ];
        Coefficients { n, d, m, bn, bm }
    }
}

/// ITK's `ComputeNCoefficients`: `(N0..N3, SN, DN, EN)`.
#[allow(clippy::too_many_arguments)]
fn n_coefficients(
    sigmad: f64,
    a1: f64,
    b1: f64,
    w1: f64,
    l1: f64,
    a2: f64,
    b2: f64,
    w2: f64,
    l2: f64,
) -> ([f64; 4], f64, f64, f64) {
    let sin1 = (w1 / sigmad).sin();
    let sin2 = (w2 / sigmad).sin();
    let cos1 = (w1 / sigmad).cos();
    let cos2 = (w2 / sigmad).cos();
    let exp1 = (l1 / sigmad).exp();
    let exp2 = (l2 / sigmad).exp();

    let n0 = a1 + a2;
    let mut n1 = exp2 * (b2 * sin2 - (a2 + 2.0 * a1) * cos2);
    n1 += exp1 * (b1 * sin1 - (a1 + 2.0 * a2) * cos1);
    let mut n2 = (a1 + a2) * cos2 * cos1;
    n2 -= b1 * cos2 * sin1 + b2 * cos1 * sin2;
    n2 *= 2.0 * exp1 * exp2;
    n2 += a2 * exp1 * exp1 + a1 * exp2 * exp2;
    let mut n3 = exp2 * exp1 * exp1 * (b2 * sin2 - a2 * cos2);
    n3 += exp1 * exp2 * exp2 * (b1 * sin1 - a1 * cos1);

    let sn = n0 + n1 + n2 + n3;
    let dn = n1 + 2.0 * n2 + 3.0 * n3;
    let en = n1 + 4.0 * n2 + 9.0 * n3;
    ([n0, n1, n2, n3], sn, dn, en)
}

/// ITK's `ComputeDCoefficients`: `(D1..D4, SD, DD, ED)`.
fn d_coefficients(sigmad: f64, w1: f64, l1: f64, w2: f64, l2: f64) -> ([f64; 4], f64, f64, f64) {
    let cos1 = (w1 / sigmad).cos();
    let cos2 = (w2 / sigmad).cos();
    let exp1 = (l1 / sigmad).exp();
    let exp2 = (l2 / sigmad).exp();

    let d4 = exp1 * exp1 * exp2 * exp2;
    let mut d3 = -2.0 * cos1 * exp1 * exp2 * exp2;
    d3 += -2.0 * cos2 * exp2 * exp1 * exp1;
    let mut d2 = 4.0 * cos2 * cos1 * exp1 * exp2;
    d2 += exp1 * exp1 + exp2 * exp2;
    let d1 = -2.0 * (exp2 * cos2 + exp1 * cos1);

    let sd = 1.0 + d1 + d2 + d3 + d4;
    let dd = d1 + 2.0 * d2 + 3.0 * d3 + 4.0 * d4;
    let ed = d1 + 4.0 * d2 + 9.0 * d3 + 16.0 * d4;
    ([d1, d2, d3, d4], sd, dd, ed)
}

/// Lines filtered together, laid out `[position][line]` so that each step of the recursion
/// runs over a row of independent lines (and vectorises); each line's arithmetic is unchanged.
const BLOCK_LINES: usize = 32;

/// Block buffers reused across blocks and passes (no allocation per line).
#[derive(Default)]
struct LineBuffers {
    data: Vec<f64>,
    outs: Vec<f64>,
    scratch: Vec<f64>,
}

/// One recursive pass along array axis `axis` from `src` into `dst` (both flat, of `shape`):
/// each line read as `f64`, filtered, stored as `f32`.
fn filter_axis<S: Copy + Into<f64>>(
    src: &[S],
    dst: &mut [f32],
    shape: [usize; 3],
    axis: usize,
    c: &Coefficients,
    buf: &mut LineBuffers,
) {
    let n = shape[axis];
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let lines = outer * inner;
    let mut first = 0;
    while first < lines {
        // Lines of one block share the outer index when the axis is not `x`.
        let w = if inner > 1 {
            BLOCK_LINES.min(inner - first % inner)
        } else {
            BLOCK_LINES.min(lines - first)
        };
        // Element `(line k, position i)` of the block lies at `base + k * line_step + i * pos_step`.
        let (base, line_step, pos_step) = if inner > 1 {
            ((first / inner) * n * inner + first % inner, 1, inner)
        } else {
            (first * n, n, 1)
        };
        buf.data.resize(n * w, 0.0);
        buf.outs.resize(n * w, 0.0);
        buf.scratch.resize(n * w, 0.0);
        if inner > 1 {
            for i in 0..n {
                let from = &src[base + i * pos_step..base + i * pos_step + w];
                for (to, &v) in buf.data[i * w..(i + 1) * w].iter_mut().zip(from) {
                    *to = v.into();
                }
            }
        } else {
            for k in 0..w {
                let from = &src[base + k * line_step..base + k * line_step + n];
                for (i, &v) in from.iter().enumerate() {
                    buf.data[i * w + k] = v.into();
                }
            }
        }
        filter_block(&mut buf.outs, &buf.data, &mut buf.scratch, n, w, c);
        if inner > 1 {
            for i in 0..n {
                let to = &mut dst[base + i * pos_step..base + i * pos_step + w];
                for (d, &v) in to.iter_mut().zip(&buf.outs[i * w..(i + 1) * w]) {
                    *d = v as f32;
                }
            }
        } else {
            for k in 0..w {
                let to = &mut dst[base + k * line_step..base + k * line_step + n];
                for (i, d) in to.iter_mut().enumerate() {
                    *d = buf.outs[i * w + k] as f32;
                }
            }
        }
        first += w;
    }
}

/// `a1*b1 + a2*b2 + a3*b3 + a4*b4`, left to right (ITK's `MathEMAMAMAM`).
#[inline(always)]
fn dot4(a1: f64, a2: f64, a3: f64, a4: f64, b: &[f64; 4]) -> f64 {
    a1 * b[0] + a2 * b[1] + a3 * b[2] + a4 * b[3]
}

/// ITK's `RecursiveSeparableImageFilter::FilterDataArray` (`n >= 4`) on `w` lines at once, laid
/// out `[position][line]`: the causal pass into `outs`, the anti-causal pass into `scratch`,
/// summed into `outs`. Beyond each end a line is taken to repeat its end value.
fn filter_block(
    outs: &mut [f64],
    data: &[f64],
    scratch: &mut [f64],
    n: usize,
    w: usize,
    c: &Coefficients,
) {
    let (nn, d, m, bn, bm) = (&c.n, &c.d, &c.m, &c.bn, &c.bm);
    let row = |i: usize| i * w..(i + 1) * w;
    // Causal: the first four positions, with the border value `v` before the line.
    for k in 0..w {
        let x = |i: usize| data[i * w + k];
        let v = x(0);
        let mut s = [0.0f64; 4];
        s[0] = dot4(v, v, v, v, nn);
        s[1] = dot4(x(1), v, v, v, nn);
        s[2] = dot4(x(2), x(1), v, v, nn);
        s[3] = dot4(x(3), x(2), x(1), v, nn);
        s[0] -= v * bn[0] + v * bn[1] + v * bn[2] + v * bn[3];
        s[1] -= s[0] * d[0] + v * bn[1] + v * bn[2] + v * bn[3];
        s[2] -= s[1] * d[0] + s[0] * d[1] + v * bn[2] + v * bn[3];
        s[3] -= s[2] * d[0] + s[1] * d[1] + s[0] * d[2] + v * bn[3];
        for (i, &si) in s.iter().enumerate() {
            outs[i * w + k] = si;
        }
    }
    for i in 4..n {
        let (done, rest) = outs.split_at_mut(i * w);
        let cur = &mut rest[..w];
        let (s1, s2, s3, s4) = (
            &done[row(i - 1)],
            &done[row(i - 2)],
            &done[row(i - 3)],
            &done[row(i - 4)],
        );
        let (x0, x1, x2, x3) = (
            &data[row(i)],
            &data[row(i - 1)],
            &data[row(i - 2)],
            &data[row(i - 3)],
        );
        for k in 0..w {
            let mut v = dot4(x0[k], x1[k], x2[k], x3[k], nn);
            v -= dot4(s1[k], s2[k], s3[k], s4[k], d);
            cur[k] = v;
        }
    }
    // Anti-causal: the last four positions, with the border value `v` after the line.
    for k in 0..w {
        let x = |i: usize| data[i * w + k];
        let v = x(n - 1);
        let mut a = [0.0f64; 4]; // positions n-1, n-2, n-3, n-4
        a[0] = dot4(v, v, v, v, m);
        a[1] = dot4(x(n - 1), v, v, v, m);
        a[2] = dot4(x(n - 2), x(n - 1), v, v, m);
        a[3] = dot4(x(n - 3), x(n - 2), x(n - 1), v, m);
        a[0] -= v * bm[0] + v * bm[1] + v * bm[2] + v * bm[3];
        a[1] -= a[0] * d[0] + v * bm[1] + v * bm[2] + v * bm[3];
        a[2] -= a[1] * d[0] + a[0] * d[1] + v * bm[2] + v * bm[3];
        a[3] -= a[2] * d[0] + a[1] * d[1] + a[0] * d[2] + v * bm[3];
        for (t, &at) in a.iter().enumerate() {
            scratch[(n - 1 - t) * w + k] = at;
        }
    }
    for i in (1..=n - 4).rev() {
        let (head, done) = scratch.split_at_mut(i * w);
        let cur = &mut head[(i - 1) * w..];
        let (a1, a2, a3, a4) = (
            &done[..w],
            &done[w..2 * w],
            &done[2 * w..3 * w],
            &done[3 * w..4 * w],
        );
        let (x1, x2, x3, x4) = (
            &data[row(i)],
            &data[row(i + 1)],
            &data[row(i + 2)],
            &data[row(i + 3)],
        );
        for k in 0..w {
            let mut v = dot4(x1[k], x2[k], x3[k], x4[k], m);
            v -= dot4(a1[k], a2[k], a3[k], a4[k], d);
            cur[k] = v;
        }
    }
    for (o, &a) in outs[..n * w].iter_mut().zip(&scratch[..n * w]) {
        *o += a;
    }
}

/// Python's `str(float)`: the shortest repr, fixed for `1e-4 <= |x| < 1e16` (with `.0` for
/// whole numbers), else `1e-05` style.
fn python_str(x: f64) -> String {
    let ax = x.abs();
    if (1e-4..1e16).contains(&ax) {
        let s = format!("{x}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else if x == 0.0 || !x.is_finite() {
        format!("{x:?}")
    } else {
        let s = format!("{x:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        format!("{mantissa}e{sign}{digits:0>2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_python_str() {
        assert_eq!(python_str(2.0), "2.0");
        assert_eq!(python_str(0.5), "0.5");
        assert_eq!(python_str(2.25), "2.25");
        assert_eq!(python_str(1e-5), "1e-05");
        assert_eq!(python_str(1.5e20), "1.5e+20");
    }

    /// The recursive second derivative of a parabola `x^2` is about 2 (times sigma^2) inside.
    #[test]
    fn second_derivative_of_parabola() {
        let c = Coefficients::new(2.0, 1.0, Order::Second);
        let data: Vec<f64> = (0..64).map(|i| ((i as f64) - 32.0).powi(2)).collect();
        let mut outs = vec![0.0; 64];
        let mut scratch = vec![0.0; 64];
        filter_block(&mut outs, &data, &mut scratch, 64, 1, &c);
        assert!((outs[32] - 2.0 * 4.0).abs() < 0.1, "{}", outs[32]);
    }
}
