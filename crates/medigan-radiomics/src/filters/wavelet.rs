//! Wavelet image type: pyradiomics' `getWaveletImage` (its `_swt3` over PyWavelets' `swtn`).
//!
//! pyradiomics pads every odd axis by one voxel (numpy `wrap`), runs a one-level stationary
//! wavelet transform (`pywt.swtn(data, coif1, level=1, start_level=0, axes)`) over the axes in
//! reverse order (`x, y, z`, less the `force2Ddimension` axis when `force2D`), keeps the
//! approximation as the input of the next level, and crops every sub-band back to the original
//! size. PyWavelets computes in the image's float type: `float32` as frd-score reads images
//! (SimpleITK `Float32`), but `float64` once pyradiomics has normalised it (`sitk.Normalize`
//! returns `Float64` and resampling keeps the type). So this module computes in `f64` when
//! `normalize` is set and in `f32` otherwise, with PyWavelets' filter taps for that type, the same
//! periodic boundary and the same order of additions: the sub-bands are bit-for-bit those of
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

/// PyWavelets' `coif1` table (before its scaling by `sqrt(2)`): its decimal literals as `f64`
/// (C reads them as `double`; its `float` table converts those, as `as f32` does).
const COIF1_TABLE: [f64; 6] = [
    -0.051_429_728_470_768_45,
    0.238_929_728_470_768_46,
    0.602_859_456_941_536_9,
    0.272_140_543_058_463_1,
    -0.051_429_728_470_768_45,
    -0.011_070_271_529_231_544,
];

/// The float type PyWavelets computes in, with its `coif1` decomposition filters.
trait Sample:
    Copy + Default + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self> + std::ops::AddAssign
{
    /// `(dec_lo, dec_hi)` as PyWavelets builds them for this type: each table entry times
    /// `sqrt(2)` in this type, reversed for `dec_lo`, sign-alternated for `dec_hi`.
    fn coif1() -> ([Self; 6], [Self; 6]);
    /// The image value as this type (`f32`: rounded, as SimpleITK `Float32` holds it).
    fn from_f64(v: f64) -> Self;
    /// The value widened to `f64`.
    fn to_f64(self) -> f64;
}

/// `(dec_lo, dec_hi)` from a `coif1` table and `sqrt(2)` in one float type.
macro_rules! coif1_filters {
    ($t:ty, $table:expr, $sqrt2:expr) => {{
        let table: [$t; 6] = $table;
        let mut lo = [0.0 as $t; 6];
        let mut hi = [0.0 as $t; 6];
        for i in 0..6 {
            lo[i] = table[5 - i] * $sqrt2;
            let sign: $t = if (5 - i) % 2 == 1 { -1.0 } else { 1.0 };
            hi[i] = sign * table[i] * $sqrt2;
        }
        (lo, hi)
    }};
}

impl Sample for f32 {
    fn coif1() -> ([f32; 6], [f32; 6]) {
        coif1_filters!(f32, COIF1_TABLE.map(|v| v as f32), std::f32::consts::SQRT_2)
    }
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Sample for f64 {
    fn coif1() -> ([f64; 6], [f64; 6]) {
        coif1_filters!(f64, COIF1_TABLE, std::f64::consts::SQRT_2)
    }
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
}

/// Most levels (`start_level + level`) accepted: each level is a full-size transform.
const MAX_LEVELS: usize = 8;

/// Most voxels accepted (after padding), a bound on memory (`2^axes` sub-band copies).
const MAX_VOXELS: usize = 1 << 27;

/// The wavelet images pyradiomics' `getWaveletImage` yields for `image` with `settings`
/// (`wavelet`, `start_level`, `level`, `force2D`, `force2Ddimension`; `normalize` selects the
/// float type, see the module doc), named and ordered as pyradiomics names and yields them. The
/// values are those of that type, widened to `f64`; the geometry is the input's. The mask is not
/// used (pyradiomics ignores it here).
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
    if settings.normalize {
        Ok(transform::<f64>(image, settings, &axes, shape, padded))
    } else {
        Ok(transform::<f32>(image, settings, &axes, shape, padded))
    }
}

/// The padded transform in float type `T`, cropped and named (the body of [`images`]).
fn transform<T: Sample>(
    image: &Volume<f64>,
    settings: &Settings,
    axes: &[usize],
    shape: [usize; 3],
    padded: [usize; 3],
) -> Vec<(String, Volume<f64>)> {
    let filters = T::coif1();
    let mut data = Grid {
        data: Vec::with_capacity(padded.iter().product()),
        shape: padded,
    };
    for z in 0..padded[0] {
        let z = if z == shape[0] { 0 } else { z };
        for y in 0..padded[1] {
            let y = if y == shape[1] { 0 } else { y };
            let row = image.data.slice(ndarray::s![z, y, ..]);
            data.data.extend(row.iter().map(|&v| T::from_f64(v)));
            if padded[2] > shape[2] {
                data.data.push(T::from_f64(row[0]));
            }
        }
    }

    let n_axes = axes.len();
    let approx_name = "a".repeat(n_axes);
    let mut out = Vec::new();
    for _ in 0..settings.wavelet_start_level {
        let mut bands = swtn(data, axes, &filters);
        data = bands.swap_remove(0).1;
    }
    for idx in 0..settings.wavelet_level {
        let bands = swtn(data, axes, &filters);
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
    out
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

/// A `[z, y, x]` array, flat in C order.
struct Grid<T> {
    data: Vec<T>,
    shape: [usize; 3],
}

/// A sub-band cropped back to the input's size, widened to `f64`, with the input's geometry.
fn crop<T: Sample>(band: &Grid<T>, shape: [usize; 3], image: &Volume<f64>) -> Volume<f64> {
    let [_, py, px] = band.shape;
    let mut data = Vec::with_capacity(shape.iter().product());
    for z in 0..shape[0] {
        for y in 0..shape[1] {
            let start = (z * py + y) * px;
            data.extend(
                band.data[start..start + shape[2]]
                    .iter()
                    .map(|&v| v.to_f64()),
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
fn swtn<T: Sample>(data: Grid<T>, axes: &[usize], filters: &Filters<T>) -> Vec<(String, Grid<T>)> {
    let mut bands = vec![(String::new(), data)];
    for &axis in axes {
        let taps = periodic_taps(bands[0].1.shape[axis], filters.0.len());
        let mut next = Vec::with_capacity(bands.len() * 2);
        for (name, x) in bands {
            let (a, d) = swt_axis(&x, axis, &taps, filters);
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
fn swt_axis<T: Sample>(
    x: &Grid<T>,
    axis: usize,
    taps: &[Tap],
    filters: &Filters<T>,
) -> (Grid<T>, Grid<T>) {
    let (flo, fhi) = filters;
    let shape = x.shape;
    let n = shape[axis];
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let len = x.data.len();
    let mut a = vec![T::default(); len];
    let mut d = vec![T::default(); len];
    if inner > 1 {
        for ob in 0..outer {
            let base = ob * n * inner;
            let src = &x.data[base..base + n * inner];
            let lo = &mut a[base..base + n * inner];
            let hi = &mut d[base..base + n * inner];
            rows(src, inner, taps, filters, lo, hi);
        }
    } else {
        // Contiguous lines: the inside positions `3..n-3` (all six taps within the line, in
        // filter order) tap by tap over the whole range, the edges term by term.
        let half = flo.len() / 2;
        for l in 0..outer {
            let src = &x.data[l * n..(l + 1) * n];
            let la = &mut a[l * n..(l + 1) * n];
            let ld = &mut d[l * n..(l + 1) * n];
            let inside = half..n.saturating_sub(half).max(half);
            for (o, tap) in taps.iter().enumerate() {
                if inside.contains(&o) {
                    continue;
                }
                let (mut sl, mut sh) = (T::default(), T::default());
                for &(j, p) in tap {
                    sl += flo[j] * src[p];
                    sh += fhi[j] * src[p];
                }
                la[o] = sl;
                ld[o] = sh;
            }
            if inside.is_empty() {
                continue;
            }
            for j in 0..flo.len() {
                let (fl, fh) = (flo[j], fhi[j]);
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
fn rows<T: Sample>(
    src: &[T],
    width: usize,
    taps: &[Tap],
    (flo, fhi): &Filters<T>,
    lo: &mut [T],
    hi: &mut [T],
) {
    for (o, tap) in taps.iter().enumerate() {
        let lo_row = &mut lo[o * width..(o + 1) * width];
        let hi_row = &mut hi[o * width..(o + 1) * width];
        for &(j, p) in tap {
            let (fl, fh) = (flo[j], fhi[j]);
            let in_row = &src[p * width..(p + 1) * width];
            for ((l, h), &v) in lo_row.iter_mut().zip(hi_row.iter_mut()).zip(in_row) {
                *l += fl * v;
                *h += fh * v;
            }
        }
    }
}

/// The decomposition filters `(dec_lo, dec_hi)`.
type Filters<T> = ([T; 6], [T; 6]);

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

    /// The `f32` taps are those PyWavelets' float32 transform uses (its middle tap differs in
    /// the last bits from `dec_lo` rounded to `f32`).
    #[test]
    fn coif1_filters_as_pywavelets_holds_them() {
        let (lo, hi) = <f32 as Sample>::coif1();
        let bits = [
            0xbc80_4071,
            0xbd94_f4d7,
            0x3ec5_0d01,
            0x3f5a_4228,
            0x3ead_00ec,
            0xbd94_f4d7,
        ];
        assert_eq!(lo.map(f32::to_bits), bits);
        assert_eq!(hi[2], -lo[3]);
        let (lo, _) = <f64 as Sample>::coif1();
        // pywt.Wavelet('coif1').dec_lo
        assert_eq!(lo[3], 0.8525720202116004);
        assert_eq!(lo[0], -0.015655728135791993);
    }

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
