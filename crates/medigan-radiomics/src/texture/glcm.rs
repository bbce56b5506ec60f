//! pyradiomics `glcm`: the gray-level co-occurrence matrix and its 24 default features.
//!
//! As pyradiomics (`cmatrices.c` and `glcm.py`): one matrix per angle (13 in 3D, 4 in a plane,
//! from [`angles`]), counted over pairs of voxels both inside the mask, reduced to the gray
//! levels present in the region, made symmetrical (`symmetricalGLCM`), angles without any pair
//! dropped (when there are several), normalised; each feature is computed per angle and
//! averaged over the angles ignoring NaN (`numpy.nanmean`).

use super::Roi;
use super::discretize::discretize;
use crate::{Features, RadiomicsError, Settings};

/// The feature names, in pyradiomics' order (sorted by method name; the deprecated
/// Dissimilarity, Homogeneity1/2 and SumVariance are not enabled by default).
pub const NAMES: [&str; 24] = [
    "Autocorrelation",
    "ClusterProminence",
    "ClusterShade",
    "ClusterTendency",
    "Contrast",
    "Correlation",
    "DifferenceAverage",
    "DifferenceEntropy",
    "DifferenceVariance",
    "Id",
    "Idm",
    "Idmn",
    "Idn",
    "Imc1",
    "Imc2",
    "InverseVariance",
    "JointAverage",
    "JointEnergy",
    "JointEntropy",
    "MCC",
    "MaximumProbability",
    "SumAverage",
    "SumEntropy",
    "SumSquares",
];

/// The shape of the region as pyradiomics' C code sees it (`[z, y, x]` for a volume, `[y, x]`
/// for a 2D image) and the axis excluded by `force2D` in that indexing.
fn layout(roi: &Roi<'_>, settings: &Settings) -> (Vec<usize>, Option<usize>) {
    let (z, y, x) = roi.image.dim();
    let sizes = if roi.dims == 2 {
        vec![y, x]
    } else {
        vec![z, y, x]
    };
    let excluded = settings.force_2d.then_some(settings.force_2d_dimension);
    (sizes, excluded)
}

/// The neighbour offsets `[dz, dy, dx]` of pyradiomics' `generate_angles` (`cmatrices.c`,
/// `get_angle_count` and `build_angles`) for an image of `sizes` (`[z, y, x]` or `[y, x]`):
/// every offset whose largest component is one of `distances`, that stays within the sizes
/// and does not move along `excluded` (`force2Ddimension` when `force2D`), in pyradiomics'
/// order (from `+d` down to `-d`, last axis fastest). Not `bidirectional`: the first half only
/// (one of each pair of opposite offsets), as GLCM and GLRLM use them.
pub fn angles(
    sizes: &[usize],
    distances: &[usize],
    excluded: Option<usize>,
    bidirectional: bool,
) -> Vec<[isize; 3]> {
    let nd = sizes.len();
    let excluded = excluded.filter(|&e| e < nd);
    let mut count = 0usize;
    for &d in distances {
        if d < 1 {
            return Vec::new();
        }
        let (mut na_d, mut na_dd) = (1usize, 1usize);
        for (dim, &size) in sizes.iter().enumerate() {
            if Some(dim) == excluded {
                continue;
            }
            if d < size {
                na_d *= 2 * d + 1;
                na_dd *= 2 * d - 1;
            } else {
                let span = 2 * size.saturating_sub(1) + 1;
                na_d *= span;
                na_dd *= span;
            }
        }
        count += na_d - na_dd;
    }
    if !bidirectional {
        count /= 2;
    }
    let max_distance = distances.iter().copied().max().unwrap_or(0) as isize;
    let n_offsets = 2 * max_distance + 1;
    let total = (n_offsets as usize).pow(nd as u32);
    let mut out = Vec::with_capacity(count);
    for index in 0..total {
        if out.len() == count {
            break;
        }
        let mut offset = [0isize; 3];
        let mut stride = 1usize;
        let mut valid = true;
        let mut a_dist = 0isize;
        for dim in (0..nd).rev() {
            let o = max_distance - ((index / stride) as isize) % n_offsets;
            stride *= n_offsets as usize;
            let size = sizes[dim] as isize;
            if (Some(dim) == excluded && o != 0) || o >= size || o <= -size {
                valid = false;
                break;
            }
            offset[3 - nd + dim] = o;
            a_dist = a_dist.max(o.abs());
        }
        if valid && a_dist >= 1 && distances.contains(&(a_dist as usize)) {
            out.push(offset);
        }
    }
    out
}

/// The discretised region flattened in C order with 0 outside the mask, its shape `[z, y, x]`
/// and the highest gray level.
pub(crate) fn flat_levels(roi: &Roi<'_>, settings: &Settings) -> (Vec<u32>, [usize; 3], u32) {
    let binned = discretize(roi, settings.bin_width, roi.f32_precision);
    let (z, y, x) = binned.levels.dim();
    // `discretize` builds its array in C order: its storage is the flat order.
    let levels: Vec<u32> = if binned.levels.is_standard_layout() {
        binned.levels.into_raw_vec_and_offset().0
    } else {
        binned.levels.iter().copied().collect()
    };
    (levels, [z, y, x], binned.ng)
}

/// Calls `f(center, neighbour)` with the flat indices of every voxel pair `(v, v + offset)`
/// inside the array (the mask is left to `f`), in C order of the center voxel.
pub(crate) fn for_each_pair(
    shape: [usize; 3],
    offset: [isize; 3],
    mut f: impl FnMut(usize, usize),
) {
    let [nz, ny, nx] = shape.map(|s| s as isize);
    let [dz, dy, dx] = offset;
    let range = |n: isize, d: isize| (0.max(-d), n.min(n - d));
    let (z0, z1) = range(nz, dz);
    let (y0, y1) = range(ny, dy);
    let (x0, x1) = range(nx, dx);
    if z0 >= z1 || y0 >= y1 || x0 >= x1 {
        return;
    }
    let shift = (dz * ny + dy) * nx + dx;
    for z in z0..z1 {
        for y in y0..y1 {
            let row = (z * ny + y) * nx;
            for x in x0..x1 {
                let i = row + x;
                f(i as usize, (i + shift) as usize);
            }
        }
    }
}

/// Mean ignoring NaN (`numpy.nanmean`); NaN when every value is NaN.
pub(crate) fn nanmean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values {
        if !v.is_nan() {
            sum += v;
            n += 1;
        }
    }
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// All 24 GLCM features of the region, in [`NAMES`] order (`settings`: `binWidth`, `distances`,
/// `force2D`, `force2Ddimension`, `symmetricalGLCM`). An empty region gives NaN, and so does
/// one with more than [`MAX_GRAY_LEVELS`] gray levels (pyradiomics' value of a failed feature;
/// [`compute_selected`] says why instead).
pub fn compute(roi: &Roi<'_>, settings: &Settings) -> Features {
    compute_all(roi, settings, true)
        .unwrap_or_else(|_| NAMES.iter().map(|&n| (n, f64::NAN)).collect())
}

/// The GLCM features `names` (pyradiomics' names, e.g. a parameter file's list), in that order,
/// as [`compute`] computes them; MCC, the costliest (an eigenvalue problem per angle), only
/// when asked for. An unknown or repeated name is an error naming it, and so is a region with
/// more than [`MAX_GRAY_LEVELS`] gray levels.
pub fn compute_selected(
    roi: &Roi<'_>,
    settings: &Settings,
    names: &[&str],
) -> Result<Features, RadiomicsError> {
    let mut positions = Vec::with_capacity(names.len());
    for &name in names {
        let position =
            NAMES
                .iter()
                .position(|&n| n == name)
                .ok_or_else(|| RadiomicsError::Setting {
                    name: "featureClass.glcm",
                    reason: format!(
                        "unknown GLCM feature `{name}` (known: {})",
                        NAMES.join(", ")
                    ),
                })?;
        if positions.contains(&position) {
            return Err(RadiomicsError::Setting {
                name: "featureClass.glcm",
                reason: format!("GLCM feature `{name}` named twice"),
            });
        }
        positions.push(position);
    }
    let all = compute_all(roi, settings, names.contains(&"MCC"))?;
    Ok(positions.into_iter().map(|k| all[k]).collect())
}

/// The most gray levels present in a region for which a GLCM is built (`g x g` cells of 8 bytes:
/// 128 MiB at this bound); more is refused (a bin width far too small for the image's range).
pub const MAX_GRAY_LEVELS: usize = 4096;

/// All features in [`NAMES`] order; MCC is NaN unless `with_mcc`. More than
/// [`MAX_GRAY_LEVELS`] gray levels present is an error.
fn compute_all(
    roi: &Roi<'_>,
    settings: &Settings,
    with_mcc: bool,
) -> Result<Features, RadiomicsError> {
    let (levels, shape, ng) = flat_levels(roi, settings);
    if ng == 0 {
        return Ok(NAMES.iter().map(|&n| (n, f64::NAN)).collect());
    }
    // The gray levels present, and each level's index among them.
    let mut index = vec![u32::MAX; ng as usize + 1];
    for &l in &levels {
        if l > 0 {
            index[l as usize] = 0;
        }
    }
    let mut gray = Vec::new();
    for (l, slot) in index.iter_mut().enumerate().skip(1) {
        if *slot == 0 {
            *slot = gray.len() as u32;
            gray.push(l as f64);
        }
    }
    let g = gray.len();
    if g > MAX_GRAY_LEVELS {
        return Err(RadiomicsError::Setting {
            name: "binWidth",
            reason: format!(
                "{g} gray levels in the region, more than the {MAX_GRAY_LEVELS} a GLCM is built \
                 for: use a larger bin width"
            ),
        });
    }

    let (sizes, excluded) = layout(roi, settings);
    let offsets = angles(&sizes, &settings.distances, excluded, false);
    // One matrix at a time, its features computed before the next angle is counted.
    let mut p = vec![0.0f64; g * g];
    let mut per_angle: Vec<[f64; 24]> = Vec::with_capacity(offsets.len());
    for &offset in &offsets {
        p.iter_mut().for_each(|v| *v = 0.0);
        for_each_pair(shape, offset, |i, j| {
            let (a, b) = (levels[i], levels[j]);
            if a > 0 && b > 0 {
                p[index[a as usize] as usize * g + index[b as usize] as usize] += 1.0;
            }
        });
        if settings.symmetrical_glcm {
            for r in 0..g {
                for c in r + 1..g {
                    let s = p[r * g + c] + p[c * g + r];
                    p[r * g + c] = s;
                    p[c * g + r] = s;
                }
                p[r * g + r] *= 2.0;
            }
        }
        let total: f64 = p.iter().sum();
        if total == 0.0 && offsets.len() > 1 {
            // pyradiomics drops the angles without any pair (when there are several).
            continue;
        }
        let total = if total == 0.0 { f64::NAN } else { total };
        p.iter_mut().for_each(|v| *v /= total);
        per_angle.push(angle_features(&p, &gray, ng, with_mcc));
    }
    if per_angle.is_empty() {
        // No pair in any angle: means over nothing, except MCC, which pyradiomics sets to 1
        // for a single gray level before looking at the matrices.
        return Ok(NAMES
            .iter()
            .map(|&n| (n, if n == "MCC" && g < 2 { 1.0 } else { f64::NAN }))
            .collect());
    }
    Ok(NAMES
        .iter()
        .enumerate()
        .map(|(k, &name)| {
            let column = per_angle.iter().map(|f| f[k]);
            let value = if name == "JointAverage" {
                // A plain mean in pyradiomics (`ux.mean(...)`), not `nanmean`.
                column.sum::<f64>() / per_angle.len() as f64
            } else {
                nanmean(column)
            };
            (name, value)
        })
        .collect())
}

/// The features of one normalised matrix `p` (`g x g`, row `i`, column `j`) over the gray
/// levels `gray`, in [`NAMES`] order; `ng` is the highest gray level; MCC NaN unless `with_mcc`.
fn angle_features(p: &[f64], gray: &[f64], ng: u32, with_mcc: bool) -> [f64; 24] {
    let g = gray.len();
    let eps = f64::EPSILON;
    let ngf = f64::from(ng);
    let mut px = vec![0.0; g];
    let mut py = vec![0.0; g];
    let (mut ux, mut uy) = (0.0, 0.0);
    // pxAddy over k = 2..=2 Ng, pxSuby over k = 0..Ng (gray-level values, not indices).
    let mut sum_k = vec![0.0; 2 * ng as usize - 1];
    let mut diff_k = vec![0.0; ng as usize];
    let (mut hxy, mut autocorrelation, mut contrast, mut energy, mut max_prob) =
        (0.0, 0.0, 0.0, 0.0, f64::NEG_INFINITY);
    for r in 0..g {
        let i = gray[r];
        for c in 0..g {
            let j = gray[c];
            let v = p[r * g + c];
            px[r] += v;
            py[c] += v;
            ux += i * v;
            uy += j * v;
            sum_k[(i + j) as usize - 2] += v;
            diff_k[(i - j).abs() as usize] += v;
            if v != 0.0 {
                // Cells at 0 add 0 (their logarithm is finite): skipped.
                hxy -= v * (v + eps).log2();
            }
            autocorrelation += v * i * j;
            contrast += v * (i - j) * (i - j);
            energy += v * v;
            if v > max_prob || v.is_nan() {
                max_prob = if max_prob.is_nan() { max_prob } else { v };
            }
        }
    }
    let (mut prominence, mut shade, mut tendency) = (0.0, 0.0, 0.0);
    let (mut varx, mut vary, mut corm, mut hxy1, mut hxy2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for r in 0..g {
        let i = gray[r];
        for c in 0..g {
            let j = gray[c];
            let v = p[r * g + c];
            let s = i + j - ux - uy;
            let s2 = s * s;
            tendency += v * s2;
            shade += v * s2 * s;
            prominence += v * s2 * s2;
            varx += v * (i - ux) * (i - ux);
            vary += v * (j - uy) * (j - uy);
            corm += v * (i - ux) * (j - uy);
            let pxy = px[r] * py[c];
            if v != 0.0 {
                hxy1 -= v * (pxy + eps).log2();
            }
            hxy2 -= pxy * (pxy + eps).log2();
        }
    }
    let (sigx, sigy) = (varx.sqrt(), vary.sqrt());
    let correlation = if sigx * sigy == 0.0 {
        1.0
    } else {
        corm / (sigx * sigy + eps)
    };
    let hx: f64 = -px.iter().map(|&v| v * (v + eps).log2()).sum::<f64>();
    let hy: f64 = -py.iter().map(|&v| v * (v + eps).log2()).sum::<f64>();
    let div = hx.max(hy);
    let imc1 = if div != 0.0 { (hxy - hxy1) / div } else { 0.0 };
    let imc2 = if hxy2 == hxy {
        0.0
    } else {
        (1.0 - (-2.0 * (hxy2 - hxy)).exp()).sqrt()
    };

    let (mut diff_avg, mut diff_ent, mut id, mut idm, mut idmn, mut idn, mut inv_var) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (k, &v) in diff_k.iter().enumerate() {
        let kf = k as f64;
        diff_avg += kf * v;
        diff_ent -= v * (v + eps).log2();
        id += v / (1.0 + kf);
        idm += v / (1.0 + kf * kf);
        idmn += v / (1.0 + kf * kf / (ngf * ngf));
        idn += v / (1.0 + kf / ngf);
        if k > 0 {
            inv_var += v / (kf * kf);
        }
    }
    let diff_var: f64 = diff_k
        .iter()
        .enumerate()
        .map(|(k, &v)| v * (k as f64 - diff_avg) * (k as f64 - diff_avg))
        .sum();
    let (mut sum_avg, mut sum_ent) = (0.0, 0.0);
    for (k, &v) in sum_k.iter().enumerate() {
        sum_avg += (k + 2) as f64 * v;
        sum_ent -= v * (v + eps).log2();
    }
    [
        autocorrelation,
        prominence,
        shade,
        tendency,
        contrast,
        correlation,
        diff_avg,
        diff_ent,
        diff_var,
        id,
        idm,
        idmn,
        idn,
        imc1,
        imc2,
        inv_var,
        ux,
        energy,
        hxy,
        if with_mcc { mcc(p, &px, &py) } else { f64::NAN },
        max_prob,
        sum_avg,
        sum_ent,
        varx,
    ]
}

/// The maximal correlation coefficient: the square root of the second largest eigenvalue of
/// `Q[i][j] = sum_k p[i][k] p[j][k] / (px[i] py[k])`. `Q` is similar to the symmetric
/// `S = Dx^-1/2 P Dy^-1 P^T Dx^-1/2` (over the levels with `px > 0`; the others add zero
/// eigenvalues), whose eigenvalues are computed here, then corrected for pyradiomics' `eps`
/// ([`eps_shift`]). One gray level gives 1, as pyradiomics.
fn mcc(p: &[f64], px: &[f64], py: &[f64]) -> f64 {
    let g = px.len();
    if g < 2 {
        return 1.0;
    }
    if p.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let rows: Vec<usize> = (0..g).filter(|&r| px[r] > 0.0).collect();
    let cols: Vec<usize> = (0..g).filter(|&c| py[c] > 0.0).collect();
    let m = rows.len();
    // Rows of M = Dx^-1/2 P Dy^-1/2; S = M M^T.
    let mut mm = vec![0.0; m * cols.len()];
    for (a, &r) in rows.iter().enumerate() {
        let sx = px[r].sqrt();
        for (b, &c) in cols.iter().enumerate() {
            mm[a * cols.len() + b] = p[r * g + c] / (sx * py[c].sqrt());
        }
    }
    let n = cols.len();
    let mut s = vec![0.0; m * m];
    for a in 0..m {
        let ra = &mm[a * n..(a + 1) * n];
        for b in a..m {
            let rb = &mm[b * n..(b + 1) * n];
            let dot: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
            s[a * m + b] = dot;
            s[b * m + a] = dot;
        }
    }
    let s_copy = s.clone();
    // The two largest eigenvalues of S, then the zeros of the levels left out.
    let top: Vec<f64> = symmetric_eigenvalues(&mut s, m)
        .into_iter()
        .rev()
        .take(2)
        .collect();
    let mut eig = top.clone();
    eig.extend(std::iter::repeat_n(0.0, g - m));
    eig.sort_by(|a, b| b.total_cmp(a));
    let mut second = eig[1];
    if m >= 2 && second == top[1] && second > 0.0 {
        second += eps_shift(&s_copy, m, second, p, px, py, &rows, &cols);
    }
    // numpy's sqrt of a negative real eigenvalue is NaN (left out by the mean over angles).
    second.sqrt()
}

/// The change of eigenvalue `lambda` of `Q` when pyradiomics adds `eps` to the denominators
/// (`Q[i][j] = sum_k p[i][k] p[j][k] / (px[i] py[k] + eps)`), to first order: `y^T E x` with the
/// right and left eigenvectors `x = Dx^-1/2 w`, `y = Dx^1/2 w` of the eigenvector `w` of `S`
/// (`y^T x = 1`), found by inverse iteration. It matters for rare gray levels of large images
/// (`px py` near 1e-10), where it reaches 1e-8 relative.
#[allow(clippy::too_many_arguments)]
fn eps_shift(
    s: &[f64],
    m: usize,
    lambda: f64,
    p: &[f64],
    px: &[f64],
    py: &[f64],
    rows: &[usize],
    cols: &[usize],
) -> f64 {
    let g = px.len();
    let w = match inverse_iteration(s, m, lambda) {
        Some(w) => w,
        None => return 0.0,
    };
    let eps = f64::EPSILON;
    let mut shift = 0.0;
    for &k in cols {
        let (mut left, mut right) = (0.0, 0.0);
        for (a, &i) in rows.iter().enumerate() {
            let v = p[i * g + k];
            if v == 0.0 {
                continue;
            }
            let d = px[i] * py[k];
            let c = 1.0 / (d + eps) - 1.0 / d;
            left += w[a] * px[i].sqrt() * v * c;
            right += v * w[a] / px[i].sqrt();
        }
        shift += left * right;
    }
    shift
}

/// A unit eigenvector of the symmetric `m x m` matrix `s` for its eigenvalue `lambda`: three
/// steps of inverse iteration with `(s - lambda I)` factored once (LU, partial pivoting).
fn inverse_iteration(s: &[f64], m: usize, lambda: f64) -> Option<Vec<f64>> {
    let scale = s
        .iter()
        .fold(0.0f64, |acc, v| acc.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    let mut lu: Vec<f64> = s.to_vec();
    for i in 0..m {
        lu[i * m + i] -= lambda;
    }
    let mut perm: Vec<usize> = (0..m).collect();
    for col in 0..m {
        let pivot = (col..m)
            .max_by(|&a, &b| lu[a * m + col].abs().total_cmp(&lu[b * m + col].abs()))
            .unwrap_or(col);
        if pivot != col {
            for c in 0..m {
                lu.swap(col * m + c, pivot * m + c);
            }
            perm.swap(col, pivot);
        }
        if lu[col * m + col].abs() < f64::EPSILON * scale {
            // Singular to working precision: the eigenvalue is exact; nudge the pivot.
            lu[col * m + col] = f64::EPSILON * scale;
        }
        let d = lu[col * m + col];
        for r in col + 1..m {
            let f = lu[r * m + col] / d;
            lu[r * m + col] = f;
            if f != 0.0 {
                for c in col + 1..m {
                    lu[r * m + c] -= f * lu[col * m + c];
                }
            }
        }
    }
    let mut x: Vec<f64> = (0..m)
        .map(|i| 1.0 + (i as f64 * 0.618_033_988_7).fract())
        .collect();
    for _ in 0..3 {
        let mut b: Vec<f64> = perm.iter().map(|&i| x[i]).collect();
        for r in 0..m {
            let sum: f64 = (0..r).map(|c| lu[r * m + c] * b[c]).sum();
            b[r] -= sum;
        }
        for r in (0..m).rev() {
            let sum: f64 = (r + 1..m).map(|c| lu[r * m + c] * b[c]).sum();
            b[r] = (b[r] - sum) / lu[r * m + r];
        }
        let norm = b.iter().map(|v| v * v).sum::<f64>().sqrt();
        if !norm.is_finite() || norm == 0.0 {
            return None;
        }
        x = b.into_iter().map(|v| v / norm).collect();
    }
    Some(x)
}

/// The eigenvalues of the symmetric `n x n` matrix `a` (row-major, overwritten), ascending,
/// where only the two largest are computed (the others are NaN): Householder reduction to
/// tridiagonal form, then bisection with Sturm sequences.
fn symmetric_eigenvalues(a: &mut [f64], n: usize) -> Vec<f64> {
    if n == 0 {
        return Vec::new();
    }
    let mut v = vec![0.0; n];
    let mut pv = vec![0.0; n];
    for k in 0..n.saturating_sub(2) {
        let norm: f64 = (k + 1..n)
            .map(|r| a[r * n + k] * a[r * n + k])
            .sum::<f64>()
            .sqrt();
        if norm == 0.0 {
            continue;
        }
        let x0 = a[(k + 1) * n + k];
        let alpha = if x0 > 0.0 { -norm } else { norm };
        for r in k + 1..n {
            v[r] = a[r * n + k];
        }
        v[k + 1] -= alpha;
        let vnorm: f64 = (k + 1..n).map(|r| v[r] * v[r]).sum::<f64>().sqrt();
        if vnorm == 0.0 {
            continue;
        }
        v[k + 1..n].iter_mut().for_each(|x| *x /= vnorm);
        // p = A v, K = v.p, q = p - K v; A -= 2 (v q^T + q v^T) on the trailing block.
        let vt = &v[k + 1..n];
        for r in k + 1..n {
            let row = &a[r * n + k + 1..(r + 1) * n];
            pv[r] = row.iter().zip(vt).map(|(x, y)| x * y).sum();
        }
        let kk: f64 = vt.iter().zip(&pv[k + 1..n]).map(|(x, y)| x * y).sum();
        for r in k + 1..n {
            pv[r] -= kk * v[r];
        }
        let pt = &pv[k + 1..n];
        for r in k + 1..n {
            let (vr, pr) = (2.0 * v[r], 2.0 * pv[r]);
            let row = &mut a[r * n + k + 1..(r + 1) * n];
            for ((x, &vc), &pc) in row.iter_mut().zip(vt).zip(pt) {
                *x -= vr * pc + pr * vc;
            }
        }
        a[(k + 1) * n + k] = alpha;
        a[k * n + k + 1] = alpha;
        for r in k + 2..n {
            a[r * n + k] = 0.0;
            a[k * n + r] = 0.0;
        }
    }
    let d: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
    let e2: Vec<f64> = (0..n.saturating_sub(1))
        .map(|i| a[(i + 1) * n + i] * a[(i + 1) * n + i])
        .collect();
    // Gershgorin bounds.
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for i in 0..n {
        let radius = (if i > 0 { e2[i - 1].sqrt() } else { 0.0 })
            + (if i + 1 < n { e2[i].sqrt() } else { 0.0 });
        lo = lo.min(d[i] - radius);
        hi = hi.max(d[i] + radius);
    }
    let width = (hi - lo).max(f64::MIN_POSITIVE);
    lo -= 1e-12 * width;
    hi += 1e-12 * width;
    // The number of eigenvalues below x (Sturm sequence of the tridiagonal matrix).
    let below = |x: f64| -> usize {
        let mut count = 0;
        let mut q = 1.0;
        for i in 0..n {
            q = d[i] - x - if i > 0 { e2[i - 1] / q } else { 0.0 };
            if q == 0.0 {
                q = -f64::EPSILON * (x.abs() + width);
            }
            if q < 0.0 {
                count += 1;
            }
        }
        count
    };
    // Only the two largest are needed (MCC): the others are left at NaN.
    (0..n)
        .map(|k| {
            if k + 2 < n {
                return f64::NAN;
            }
            // The k-th smallest eigenvalue: the smallest x with more than k values below it.
            let (mut a0, mut b0) = (lo, hi);
            for _ in 0..200 {
                let mid = 0.5 * (a0 + b0);
                if mid <= a0 || mid >= b0 {
                    break;
                }
                if below(mid) > k {
                    b0 = mid;
                } else {
                    a0 = mid;
                }
            }
            0.5 * (a0 + b0)
        })
        .collect()
}
