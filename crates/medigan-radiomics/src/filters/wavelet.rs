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
    let mut data = Array3::<f32>::from_shape_fn((padded[0], padded[1], padded[2]), |(z, y, x)| {
        let z = if z == shape[0] { 0 } else { z };
        let y = if y == shape[1] { 0 } else { y };
        let x = if x == shape[2] { 0 } else { x };
        image.data[[z, y, x]] as f32
    });

    let n_axes = axes.len();
    let approx_name = "a".repeat(n_axes);
    let mut out = Vec::new();
    let mut line = Vec::new();
    let mut lo = Vec::new();
    let mut hi = Vec::new();
    for _ in 0..settings.wavelet_start_level {
        let mut bands = swtn(data, &axes, &mut line, &mut lo, &mut hi);
        data = bands.swap_remove(0).1;
    }
    for idx in 0..settings.wavelet_level {
        let bands = swtn(data, &axes, &mut line, &mut lo, &mut hi);
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

/// A sub-band cropped back to the input's size, widened to `f64`, with the input's geometry.
fn crop(band: &Array3<f32>, shape: [usize; 3], image: &Volume<f64>) -> Volume<f64> {
    let data = Array3::from_shape_fn((shape[0], shape[1], shape[2]), |ix| f64::from(band[ix]));
    Volume {
        data,
        geometry: image.geometry.clone(),
    }
}

/// One level of PyWavelets' `swtn` (level 1, start_level 0): the sub-bands in PyWavelets' order
/// (`aa..a` first), each named by its `a`/`d` letters in `axes` order.
fn swtn(
    data: Array3<f32>,
    axes: &[usize],
    line: &mut Vec<f32>,
    lo: &mut Vec<f32>,
    hi: &mut Vec<f32>,
) -> Vec<(String, Array3<f32>)> {
    let mut bands = vec![(String::new(), data)];
    for &axis in axes {
        let mut next = Vec::with_capacity(bands.len() * 2);
        for (name, x) in bands {
            let (a, d) = swt_axis(&x, axis, line, lo, hi);
            next.push((format!("{name}a"), a));
            next.push((format!("{name}d"), d));
        }
        bands = next;
    }
    bands
}

/// Low- and high-pass sub-bands of `x` along `axis` (PyWavelets' `swt_axis`, level 1).
fn swt_axis(
    x: &Array3<f32>,
    axis: usize,
    line: &mut Vec<f32>,
    lo: &mut Vec<f32>,
    hi: &mut Vec<f32>,
) -> (Array3<f32>, Array3<f32>) {
    let mut a = Array3::<f32>::zeros(x.raw_dim());
    let mut d = Array3::<f32>::zeros(x.raw_dim());
    let n = x.len_of(ndarray::Axis(axis));
    line.resize(n, 0.0);
    lo.resize(n, 0.0);
    hi.resize(n, 0.0);
    for ((xl, mut al), mut dl) in x
        .lanes(ndarray::Axis(axis))
        .into_iter()
        .zip(a.lanes_mut(ndarray::Axis(axis)))
        .zip(d.lanes_mut(ndarray::Axis(axis)))
    {
        for (dst, &src) in line.iter_mut().zip(xl.iter()) {
            *dst = src;
        }
        periodic_convolution(line, &COIF1_DEC_LO, lo);
        periodic_convolution(line, &COIF1_DEC_HI, hi);
        for (dst, &src) in al.iter_mut().zip(lo.iter()) {
            *dst = src;
        }
        for (dst, &src) in dl.iter_mut().zip(hi.iter()) {
            *dst = src;
        }
    }
    (a, d)
}

/// PyWavelets' `downsampling_convolution_periodization` with step 1 (the level-1 SWT of one
/// line): `output[o] = sum_j filter[j] * input[(o + F/2 - j) mod N]`, summed in `f32` in the
/// order PyWavelets sums (which differs at the right edge, where the wrapped taps come first in
/// falling filter order).
fn periodic_convolution(input: &[f32], filter: &[f32], output: &mut [f32]) {
    let n = input.len();
    let f = filter.len();
    let mut i = f / 2;
    let mut o = 0;
    // Left edge: the filter runs past the start of the line.
    while i < f && i < n {
        let mut sum = 0.0f32;
        let mut j = 0;
        while j <= i {
            sum += filter[j] * input[i - j];
            j += 1;
        }
        sum = wrap_tail(input, filter, j, sum);
        output[o] = sum;
        i += 1;
        o += 1;
    }
    // Inside the line.
    while i < n {
        let mut sum = 0.0f32;
        for j in 0..f {
            sum += input[i - j] * filter[j];
        }
        output[o] = sum;
        i += 1;
        o += 1;
    }
    // The filter runs past both ends (a line shorter than the filter).
    while i < f && i < n + f / 2 {
        let (mut sum, mut j) = wrap_head(input, filter, i);
        while j <= i {
            sum += filter[j] * input[i - j];
            j += 1;
        }
        sum = wrap_tail(input, filter, j, sum);
        output[o] = sum;
        i += 1;
        o += 1;
    }
    // Right edge: the filter runs past the end of the line.
    while i < n + f / 2 {
        let (mut sum, mut j) = wrap_head(input, filter, i);
        while j < f {
            sum += filter[j] * input[i - j];
            j += 1;
        }
        output[o] = sum;
        i += 1;
        o += 1;
    }
}

/// The taps past the end of the line at output position `i` (`i - j >= N`), wrapped to its
/// start: PyWavelets adds them first, filter index falling. Returns the sum and the next `j`.
fn wrap_head(input: &[f32], filter: &[f32], i: usize) -> (f32, usize) {
    let n = input.len();
    let mut sum = 0.0f32;
    let mut j = 0;
    while i - j >= n {
        let mut k = 0;
        while k < n && i - j >= n {
            sum += filter[i - n - j] * input[k];
            k += 1;
            j += 1;
        }
    }
    (sum, j)
}

/// The taps before the start of the line (`j > i`), wrapped to its end, added after the others.
fn wrap_tail(input: &[f32], filter: &[f32], mut j: usize, mut sum: f32) -> f32 {
    let n = input.len();
    let f = filter.len();
    while j < f {
        let mut k = 0;
        while k < n && j < f {
            sum += filter[j] * input[n - 1 - k];
            k += 1;
            j += 1;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The periodic convolution equals the plain circular sum (up to `f32` rounding), for lines
    /// longer and shorter than the filter.
    #[test]
    fn periodic_convolution_is_circular() {
        for n in [2usize, 3, 4, 6, 7, 12] {
            let input: Vec<f32> = (0..n).map(|k| ((k * 7 + 3) % 11) as f32 - 4.5).collect();
            let mut out = vec![0.0; n];
            periodic_convolution(&input, &COIF1_DEC_LO, &mut out);
            for (o, &got) in out.iter().enumerate() {
                let want: f64 = (0..6)
                    .map(|j| {
                        let p = (o + 3 + 6 * n - j) % n;
                        f64::from(COIF1_DEC_LO[j]) * f64::from(input[p])
                    })
                    .sum();
                assert!((f64::from(got) - want).abs() < 1e-5, "n {n} o {o}");
            }
        }
    }
}
