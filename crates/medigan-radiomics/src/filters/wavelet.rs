//! Wavelet image type: pyradiomics' `getWaveletImage` (its `_swt3` over PyWavelets' `swtn`).
//!
//! pyradiomics pads every odd axis by one voxel (numpy `wrap`), runs a one-level stationary
//! wavelet transform (`pywt.swtn(data, coif1, level=1, start_level=0, axes)`) over the axes in
//! reverse order (`x, y, z`, less the `force2Ddimension` axis when `force2D`), keeps the
//! approximation as the input of the next level, and crops every sub-band back to the original
//! size. The image is `float32` in pyradiomics (SimpleITK `Float32`), so PyWavelets computes in
//! `float32`; this module repeats its arithmetic in `f32` with the same filter taps, the same
//! periodic boundary and the same order of additions, so the sub-bands are bit-for-bit those of
//! PyWavelets.
//!
//! Names and order as pyradiomics yields them: the detail sub-bands of each level in
//! `itertools.product('ad', repeat=n)` order with `a -> L`, `d -> H` (the first letter is the `x`
//! axis), `wavelet-LLH, wavelet-LHL, ..., wavelet-HHH` (level 2: `wavelet2-...`), then the last
//! approximation (`wavelet-LLL`).

use ndarray::Array3;

use crate::error::RadiomicsError;
use crate::settings::Settings;
use crate::volume::Volume;

/// Decomposition low-pass filter of `coif1` as PyWavelets holds it for `float32` data: its
/// `coif1` table rounded to `f32` and multiplied by `sqrt(2)` in `f32`, reversed. (The middle tap
/// differs in its last bits from `dec_lo` rounded to `f32`, and PyWavelets' float32 transform
/// uses these.)
const COIF1_DEC_LO: [f32; 6] = [
    f32::from_bits(0xbc80_4071), // -0.015655728
    f32::from_bits(0xbd94_f4d7), // -0.07273262
    f32::from_bits(0x3ec5_0d01), // 0.38486484
    f32::from_bits(0x3f5a_4228), // 0.85257196
    f32::from_bits(0x3ead_00ec), // 0.33789766
    f32::from_bits(0xbd94_f4d7), // -0.07273262
];

/// Decomposition high-pass filter of `coif1` (`dec_hi[i] = (-1)^(i+1) dec_lo[5 - i]`).
const COIF1_DEC_HI: [f32; 6] = [
    -COIF1_DEC_LO[5],
    COIF1_DEC_LO[4],
    -COIF1_DEC_LO[3],
    COIF1_DEC_LO[2],
    -COIF1_DEC_LO[1],
    COIF1_DEC_LO[0],
];

/// Most levels (`start_level + level`) accepted: each level is a full-size transform.
const MAX_LEVELS: usize = 8;

/// Most voxels accepted (after padding), a bound on memory (`2^axes` sub-band copies).
const MAX_VOXELS: usize = 1 << 27;

/// The wavelet images pyradiomics' `getWaveletImage` yields for `image` with `settings`
/// (`wavelet`, `start_level`, `level`, `force2D`, `force2Ddimension`), named and ordered as
/// pyradiomics names and yields them. The values are `f32` (as SimpleITK holds them), widened to
/// `f64`; the geometry is the input's. The mask is not used (pyradiomics ignores it here).
pub fn images(
    image: &Volume<f64>,
    _mask: &Volume<bool>,
    settings: &Settings,
) -> Result<Vec<(String, Volume<f64>)>, RadiomicsError> {
    if settings.wavelet != "coif1" {
        return Err(RadiomicsError::Setting {
            name: "wavelet",
            reason: format!("`{}` is not supported (only `coif1`)", settings.wavelet),
        });
    }
    if settings.wavelet_level == 0 {
        return Err(RadiomicsError::Setting {
            name: "level",
            reason: "must be at least 1".to_string(),
        });
    }
    if settings.wavelet_start_level + settings.wavelet_level > MAX_LEVELS {
        return Err(RadiomicsError::Setting {
            name: "level",
            reason: format!("start_level + level must be at most {MAX_LEVELS}"),
        });
    }
    let axes = transform_axes(image, settings)?;
    let shape = image.data.dim();
    let shape = [shape.0, shape.1, shape.2];
    if shape.contains(&0) {
        return Err(RadiomicsError::Image("the image is empty".to_string()));
    }
    // Pad each transformed odd axis by one voxel, wrapping (numpy.pad 'wrap').
    let mut padded = shape;
    for &a in &axes {
        padded[a] += shape[a] % 2;
    }
    if padded.iter().product::<usize>() > MAX_VOXELS {
        return Err(RadiomicsError::Image(format!(
            "{shape:?} voxels is too large for the wavelet transform"
        )));
    }
    let mut data = Grid {
        data: Vec::with_capacity(padded.iter().product()),
        shape: padded,
    };
    for z in 0..padded[0] {
        let z = if z == shape[0] { 0 } else { z };
        for y in 0..padded[1] {
            let y = if y == shape[1] { 0 } else { y };
            let row = image.data.slice(ndarray::s![z, y, ..]);
            data.data.extend(row.iter().map(|&v| v as f32));
            if padded[2] > shape[2] {
                data.data.push(row[0] as f32);
            }
        }
    }

    let n_axes = axes.len();
    let approx_name = "a".repeat(n_axes);
    let mut out = Vec::new();
    for _ in 0..settings.wavelet_start_level {
        let mut bands = swtn(data, &axes);
        data = bands.swap_remove(0).1;
    }
    for idx in 0..settings.wavelet_level {
        let bands = swtn(data, &axes);
        let mut next = None;
        for (name, band) in bands {
            if name == approx_name {
                next = Some(band);
                continue;
            }
            let letters = to_letters(&name);
            let label = if idx == 0 {
                format!("wavelet-{letters}")
            } else {
                format!("wavelet{}-{letters}", idx + 1)
            };
            out.push((label, crop(&band, shape, image)));
        }
        data = next.expect("swtn yields the approximation");
    }
    let letters = "L".repeat(n_axes);
    let label = if settings.wavelet_level == 1 {
        format!("wavelet-{letters}")
    } else {
        format!("wavelet{}-{letters}", settings.wavelet_level)
    };
    out.push((label, crop(&data, shape, image)));
    Ok(out)
}

/// The array axes (`0 = z, 1 = y, 2 = x`) transformed, in pyradiomics' order: the SimpleITK
/// dimensions reversed (`x` first), less `force2Ddimension` when `force2D`.
fn transform_axes(image: &Volume<f64>, settings: &Settings) -> Result<Vec<usize>, RadiomicsError> {
    let dims = image.geometry.dims;
    // numpy axes of `GetArrayFromImage`: a 2D image is `(y, x)`, stored here as `(1, y, x)`.
    let offset = match dims {
        2 => 1,
        3 => 0,
        _ => {
            return Err(RadiomicsError::Image(format!(
                "dimension {dims} is not supported (2 or 3)"
            )));
        }
    };
    if dims == 2 && image.data.dim().0 != 1 {
        return Err(RadiomicsError::Image(
            "a 2D image must have one slice".to_string(),
        ));
    }
    let mut axes: Vec<usize> = (0..dims).rev().collect();
    if settings.force_2d {
        let d = settings.force_2d_dimension;
        if d >= dims {
            return Err(RadiomicsError::Setting {
                name: "force2Ddimension",
                reason: format!("{d} is not an axis of a {dims}D image"),
            });
        }
        axes.retain(|&a| a != d);
    }
    Ok(axes.into_iter().map(|a| a + offset).collect())
}

/// `a -> L`, `d -> H`, as pyradiomics renames PyWavelets' sub-bands.
fn to_letters(name: &str) -> String {
    name.chars()
        .map(|c| if c == 'a' { 'L' } else { 'H' })
        .collect()
}

/// A `[z, y, x]` array of `f32`, flat in C order.
struct Grid {
    data: Vec<f32>,
    shape: [usize; 3],
}

/// A sub-band cropped back to the input's size, widened to `f64`, with the input's geometry.
fn crop(band: &Grid, shape: [usize; 3], image: &Volume<f64>) -> Volume<f64> {
    let [_, py, px] = band.shape;
    let mut data = Vec::with_capacity(shape.iter().product());
    for z in 0..shape[0] {
        for y in 0..shape[1] {
            let start = (z * py + y) * px;
            data.extend(
                band.data[start..start + shape[2]]
                    .iter()
                    .map(|&v| f64::from(v)),
            );
        }
    }
    let data = Array3::from_shape_vec((shape[0], shape[1], shape[2]), data)
        .expect("the cropped size matches the shape");
    Volume {
        data,
        geometry: image.geometry.clone(),
    }
}

/// One level of PyWavelets' `swtn` (level 1, start_level 0): the sub-bands in PyWavelets' order
/// (`aa..a` first), each named by its `a`/`d` letters in `axes` order.
fn swtn(data: Grid, axes: &[usize]) -> Vec<(String, Grid)> {
    let mut bands = vec![(String::new(), data)];
    for &axis in axes {
        let taps = periodic_taps(bands[0].1.shape[axis], COIF1_DEC_LO.len());
        let mut next = Vec::with_capacity(bands.len() * 2);
        for (name, x) in bands {
            let (a, d) = swt_axis(&x, axis, &taps);
            next.push((format!("{name}a"), a));
            next.push((format!("{name}d"), d));
        }
        bands = next;
    }
    bands
}

/// Low- and high-pass sub-bands of `x` along `axis` (PyWavelets' `swt_axis`, level 1). Each
/// output is the sum of the `taps` of its position, in their order; the sums run over whole rows
/// of positions (`y` or `z` axis) or over the inside of a line (`x` axis), so that they
/// vectorise without changing any voxel's order of additions.
fn swt_axis(x: &Grid, axis: usize, taps: &[Tap]) -> (Grid, Grid) {
    let shape = x.shape;
    let n = shape[axis];
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let len = x.data.len();
    let mut a = vec![0.0f32; len];
    let mut d = vec![0.0f32; len];
    if inner > 1 {
        for ob in 0..outer {
            let base = ob * n * inner;
            let src = &x.data[base..base + n * inner];
            let lo = &mut a[base..base + n * inner];
            let hi = &mut d[base..base + n * inner];
            rows(src, inner, taps, lo, hi);
        }
    } else {
        // Contiguous lines: the inside positions `3..n-3` (all six taps within the line, in
        // filter order) tap by tap over the whole range, the edges term by term.
        let half = COIF1_DEC_LO.len() / 2;
        for l in 0..outer {
            let src = &x.data[l * n..(l + 1) * n];
            let la = &mut a[l * n..(l + 1) * n];
            let ld = &mut d[l * n..(l + 1) * n];
            let inside = half..n.saturating_sub(half).max(half);
            for (o, tap) in taps.iter().enumerate() {
                if inside.contains(&o) {
                    continue;
                }
                let (mut sl, mut sh) = (0.0f32, 0.0f32);
                for &(j, p) in tap {
                    sl += COIF1_DEC_LO[j] * src[p];
                    sh += COIF1_DEC_HI[j] * src[p];
                }
                la[o] = sl;
                ld[o] = sh;
            }
            if inside.is_empty() {
                continue;
            }
            for j in 0..COIF1_DEC_LO.len() {
                let (fl, fh) = (COIF1_DEC_LO[j], COIF1_DEC_HI[j]);
                // Output `o` takes `src[o + half - j]`.
                let input = &src[inside.start + half - j..inside.end + half - j];
                let (ol, oh) = (&mut la[inside.clone()], &mut ld[inside.clone()]);
                for ((l, h), &v) in ol.iter_mut().zip(oh.iter_mut()).zip(input) {
                    *l += fl * v;
                    *h += fh * v;
                }
            }
        }
    }
    (Grid { data: a, shape }, Grid { data: d, shape })
}

/// `lo[o] = sum over taps[o] of LO[j] * src[p]` (likewise `hi`) for rows of `width` values,
/// `src`, `lo` and `hi` laid out `[position][width]`, `lo` and `hi` zeroed.
fn rows(src: &[f32], width: usize, taps: &[Tap], lo: &mut [f32], hi: &mut [f32]) {
    for (o, tap) in taps.iter().enumerate() {
        let lo_row = &mut lo[o * width..(o + 1) * width];
        let hi_row = &mut hi[o * width..(o + 1) * width];
        for &(j, p) in tap {
            let (fl, fh) = (COIF1_DEC_LO[j], COIF1_DEC_HI[j]);
            let in_row = &src[p * width..(p + 1) * width];
            for ((l, h), &v) in lo_row.iter_mut().zip(hi_row.iter_mut()).zip(in_row) {
                *l += fl * v;
                *h += fh * v;
            }
        }
    }
}

/// The terms of one output of the periodic convolution: `(filter index, input index)` pairs in
/// the order PyWavelets adds them.
type Tap = Vec<(usize, usize)>;

/// The terms of each output of PyWavelets' `downsampling_convolution_periodization` with step 1
/// (the level-1 SWT of a line of `n`, filter of `f`): `output[o] = sum_j filter[j] *
/// input[(o + f/2 - j) mod n]`, in PyWavelets' order of additions (which differs near the
/// ends: past the end, the wrapped terms come first, filter index falling; before the start, the
/// wrapped terms come last).
fn periodic_taps(n: usize, f: usize) -> Vec<Tap> {
    let mut out = Vec::with_capacity(n);
    let mut i = f / 2;
    // Past the end of the line (`i - j >= n`), wrapped to its start: `filter[i - n - j]` with
    // `input[k]`.
    let head = |i: usize, tap: &mut Tap| -> usize {
        let mut j = 0;
        while i - j >= n {
            let mut k = 0;
            while k < n && i - j >= n {
                tap.push((i - n - j, k));
                k += 1;
                j += 1;
            }
        }
        j
    };
    // Before the start of the line (`j > i`), wrapped to its end.
    let tail = |mut j: usize, tap: &mut Tap| {
        while j < f {
            let mut k = 0;
            while k < n && j < f {
                tap.push((j, n - 1 - k));
                k += 1;
                j += 1;
            }
        }
    };
    // Left edge.
    while i < f && i < n {
        let mut tap = Vec::with_capacity(f);
        for j in 0..=i {
            tap.push((j, i - j));
        }
        tail(i + 1, &mut tap);
        out.push(tap);
        i += 1;
    }
    // Inside the line.
    while i < n {
        out.push((0..f).map(|j| (j, i - j)).collect());
        i += 1;
    }
    // Both ends (a line shorter than the filter).
    while i < f && i < n + f / 2 {
        let mut tap = Vec::with_capacity(f);
        let mut j = head(i, &mut tap);
        while j <= i {
            tap.push((j, i - j));
            j += 1;
        }
        tail(j, &mut tap);
        out.push(tap);
        i += 1;
    }
    // Right edge.
    while i < n + f / 2 {
        let mut tap = Vec::with_capacity(f);
        let mut j = head(i, &mut tap);
        while j < f {
            tap.push((j, i - j));
            j += 1;
        }
        out.push(tap);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each output takes every filter tap once, at the circular position, for lines longer and
    /// shorter than the filter.
    #[test]
    fn periodic_taps_are_circular() {
        for n in [2usize, 4, 6, 8, 12] {
            let taps = periodic_taps(n, 6);
            assert_eq!(taps.len(), n);
            for (o, tap) in taps.iter().enumerate() {
                let mut js: Vec<usize> = tap.iter().map(|&(j, _)| j).collect();
                js.sort_unstable();
                assert_eq!(js, (0..6).collect::<Vec<_>>(), "n {n} o {o}");
                for &(j, p) in tap {
                    assert_eq!(p, (o + 3 + 6 * n - j) % n, "n {n} o {o} j {j}");
                }
            }
        }
    }
}
