//! pyradiomics `gldm`: the Gray Level Dependence Matrix, counting for each voxel of gray level
//! `i` its `j - 1` dependent neighbours (in the mask, gray-level difference at most `gldm_a`).
//!
//! Also holds the neighbourhood helpers the run-length and size-zone matrices share: the angles
//! pyradiomics' C code (`build_angles`) generates for an image size, distances and `force2D`.

use crate::Features;
use crate::settings::Settings;
use crate::texture::Roi;
use crate::texture::discretize::{Discretized, discretize};

/// The GLDM features pyradiomics enables by default, in its order (alphabetical; the deprecated
/// `GrayLevelNonUniformityNormalized` and `DependencePercentage` are left out as pyradiomics does).
pub const NAMES: [&str; 14] = [
    "DependenceEntropy",
    "DependenceNonUniformity",
    "DependenceNonUniformityNormalized",
    "DependenceVariance",
    "GrayLevelNonUniformity",
    "GrayLevelVariance",
    "HighGrayLevelEmphasis",
    "LargeDependenceEmphasis",
    "LargeDependenceHighGrayLevelEmphasis",
    "LargeDependenceLowGrayLevelEmphasis",
    "LowGrayLevelEmphasis",
    "SmallDependenceEmphasis",
    "SmallDependenceHighGrayLevelEmphasis",
    "SmallDependenceLowGrayLevelEmphasis",
];

/// The array axis (`[z, y, x]` of the region) pyradiomics keeps angles out of: `force2Ddimension`
/// when `force2D`. A plain 2D image (`dims == 2`) is an `(H, W)` array in pyradiomics, so its
/// dimension 0 is our `y`; a dimension the array does not have excludes nothing.
pub(crate) fn out_of_plane_axis(dims: usize, settings: &Settings) -> Option<usize> {
    if !settings.force_2d {
        return None;
    }
    let axis = settings.force_2d_dimension + usize::from(dims == 2);
    (axis < 3).then_some(axis)
}

/// The neighbour offsets `[dz, dy, dx]` pyradiomics' `build_angles` generates for an image of
/// `size` (`[z, y, x]`): every offset whose largest component (in absolute value) is one of
/// `distances`, no component reaching the size of its axis, none along `skip_axis`, in
/// pyradiomics' order (offsets from `+d` down to `-d`, the last axis fastest). Without
/// `bidirectional`, the first half (one of each pair of opposite offsets). Empty where
/// pyradiomics finds no angle (and raises): no distance, a distance below 1, or no axis with
/// room to move. Repeated distances repeat angles, as pyradiomics' count makes them.
pub(crate) fn angles(
    size: [usize; 3],
    distances: &[usize],
    skip_axis: Option<usize>,
    bidirectional: bool,
) -> Vec<[isize; 3]> {
    if distances.is_empty() || distances.contains(&0) {
        return Vec::new();
    }
    // pyradiomics' `get_angle_count`: per distance, (2d+1)^n - (2d-1)^n over the free axes,
    // an axis too small for the distance contributing its full (equal) range to both terms.
    let mut count: u128 = 0;
    for &d in distances {
        let (mut outer, mut inner) = (1u128, 1u128);
        for (axis, &len) in size.iter().enumerate() {
            if Some(axis) == skip_axis {
                continue;
            }
            if d < len {
                outer *= 2 * d as u128 + 1;
                inner *= 2 * d as u128 - 1;
            } else {
                let range = 2 * (len.max(1) as u128 - 1) + 1;
                outer *= range;
                inner *= range;
            }
        }
        count += outer - inner;
    }
    if !bidirectional {
        count /= 2;
    }
    if count == 0 {
        return Vec::new();
    }
    // The distinct valid offsets, in pyradiomics' generation order. Offsets reaching the size of
    // an axis are invalid, so the range is bounded by the image, not by the distance.
    let max_distance = distances.iter().copied().max().unwrap_or(1);
    let reach = |axis: usize| -> isize {
        if Some(axis) == skip_axis {
            0
        } else {
            size[axis].saturating_sub(1).min(max_distance) as isize
        }
    };
    let (rz, ry, rx) = (reach(0), reach(1), reach(2));
    let mut valid = Vec::new();
    for dz in (-rz..=rz).rev() {
        for dy in (-ry..=ry).rev() {
            for dx in (-rx..=rx).rev() {
                let dist = dz.abs().max(dy.abs()).max(dx.abs()) as usize;
                if dist >= 1 && distances.contains(&dist) {
                    valid.push([dz, dy, dx]);
                }
            }
        }
    }
    // pyradiomics keeps generating (cycling through the offsets) until it has `count` angles.
    let count = usize::try_from(count)
        .unwrap_or(usize::MAX)
        .min(valid.len() * distances.len());
    valid.iter().copied().cycle().take(count).collect()
}

/// Every feature of `names` as NaN: what pyradiomics yields when no matrix can be built.
pub(crate) fn nan_features(names: &[&'static str]) -> Features {
    names.iter().map(|&name| (name, f64::NAN)).collect()
}

/// `numpy.spacing(1)`, the epsilon pyradiomics adds inside its entropy logarithms.
pub(crate) const EPS: f64 = f64::EPSILON;

/// The GLDM features of the region, as pyradiomics' `RadiomicsGLDM(...).execute()` returns them
/// (see [`NAMES`]): gray levels binned with `binWidth`, neighbours at `distances` (in the plane
/// with `force2D`), dependence when `|i - j| <= gldm_a` (truncated to an integer as pyradiomics'
/// C code takes it). All NaN for an empty region or when no neighbour angle exists.
pub fn compute(roi: &Roi<'_>, settings: &Settings) -> Features {
    let disc = discretize(roi, settings.bin_width, roi.f32_precision);
    compute_discretized(&disc, roi.dims, settings)
}

/// [`compute`] on a region already discretised with `settings.bin_width` (so that the texture
/// classes of one image share one discretisation); `dims` as [`Roi::dims`].
pub fn compute_discretized(disc: &Discretized, dims: usize, settings: &Settings) -> Features {
    let size = grid_size(disc);
    let offsets = angles(
        size,
        &settings.distances,
        out_of_plane_axis(dims, settings),
        true,
    );
    if disc.ng == 0 || offsets.is_empty() {
        return nan_features(&NAMES);
    }
    let alpha = settings.gldm_a.trunc();
    let alpha = if alpha.is_nan() { -1 } else { alpha as i64 };
    let ng = disc.ng as usize;
    let width = offsets.len() + 1;
    let padded = Padded::new(disc, &offsets);
    let levels = &padded.levels;
    let mut matrix = vec![0u64; ng * width];
    for row in padded.rows() {
        for index in row {
            let gl = levels[index];
            if gl == 0 {
                continue;
            }
            let dependent = padded
                .steps
                .iter()
                .filter(|&&step| {
                    let other = levels[index.wrapping_add_signed(step)];
                    other != 0 && (i64::from(gl) - i64::from(other)).abs() <= alpha
                })
                .count();
            matrix[(gl as usize - 1) * width + dependent] += 1;
        }
    }
    features(&matrix, ng, width)
}

/// The `[z, y, x]` shape of a discretised region.
pub(crate) fn grid_size(disc: &Discretized) -> [usize; 3] {
    let s = disc.levels.shape();
    [s[0], s[1], s[2]]
}

/// The region's gray levels copied into a grid padded with 0 (outside the mask) as far as the
/// offsets reach, so that every neighbour of a region voxel is a plain index step away.
pub(crate) struct Padded {
    /// Gray levels of the padded grid, 0 outside the mask and in the padding.
    pub(crate) levels: Vec<u32>,
    /// The index step of each offset in the padded grid.
    pub(crate) steps: Vec<isize>,
    /// The padded grid's shape.
    size: [usize; 3],
    /// The padding on each side of each axis.
    pad: [usize; 3],
    /// The region's shape.
    inner: [usize; 3],
}

impl Padded {
    /// The padded copy of `disc` for the neighbour `offsets`.
    pub(crate) fn new(disc: &Discretized, offsets: &[[isize; 3]]) -> Padded {
        let inner = grid_size(disc);
        let mut pad = [0usize; 3];
        for offset in offsets {
            for axis in 0..3 {
                pad[axis] = pad[axis].max(offset[axis].unsigned_abs());
            }
        }
        let size = [0, 1, 2].map(|axis| inner[axis] + 2 * pad[axis]);
        let mut levels = vec![0u32; size[0] * size[1] * size[2]];
        let plane = size[1] * size[2];
        for ((z, y), row) in (0..inner[0])
            .flat_map(|z| (0..inner[1]).map(move |y| (z, y)))
            .zip(disc.levels.rows())
        {
            let start = (z + pad[0]) * plane + (y + pad[1]) * size[2] + pad[2];
            for (target, &level) in levels[start..start + inner[2]].iter_mut().zip(row) {
                *target = level;
            }
        }
        let steps = offsets
            .iter()
            .map(|o| o[0] * plane as isize + o[1] * size[2] as isize + o[2])
            .collect();
        Padded {
            levels,
            steps,
            size,
            pad,
            inner,
        }
    }

    /// The padded-grid indices of the region's voxels, in scan order, row by row.
    pub(crate) fn rows(&self) -> impl Iterator<Item = std::ops::Range<usize>> + use<> {
        let (size, pad, inner) = (self.size, self.pad, self.inner);
        let plane = size[1] * size[2];
        (0..inner[0]).flat_map(move |z| {
            (0..inner[1]).map(move |y| {
                let start = (z + pad[0]) * plane + (y + pad[1]) * size[2] + pad[2];
                start..start + inner[2]
            })
        })
    }
}

/// The 14 features from the dependence matrix `ng x width` (row `i - 1`: gray level `i`;
/// column `j - 1`: `j - 1` dependent neighbours).
fn features(matrix: &[u64], ng: usize, width: usize) -> Features {
    let mut pg = vec![0.0f64; ng];
    let mut pd = vec![0.0f64; width];
    let mut nz = 0.0;
    for (i, row) in matrix.chunks_exact(width).enumerate() {
        for (j, &count) in row.iter().enumerate() {
            let count = count as f64;
            pg[i] += count;
            pd[j] += count;
            nz += count;
        }
    }
    if nz == 0.0 {
        nz = 1.0;
    }
    let (mut entropy, mut ldhgle, mut ldlgle, mut sdhgle, mut sdlgle) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, row) in matrix.chunks_exact(width).enumerate() {
        let iv = (i + 1) as f64;
        let i2 = iv * iv;
        for (j, &count) in row.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let p = count as f64;
            let jv = (j + 1) as f64;
            let j2 = jv * jv;
            let q = p / nz;
            entropy -= q * (q + EPS).log2();
            ldhgle += p * (j2 * i2);
            ldlgle += p * j2 / i2;
            sdhgle += p * i2 / j2;
            sdlgle += p / (i2 * j2);
        }
    }
    let (gln, hgle, lgle, glv) = gray_level_sums(&pg, nz);
    let (mut dn, mut lde, mut sde, mut mean_j) = (0.0, 0.0, 0.0, 0.0);
    for (j, &p) in pd.iter().enumerate() {
        let jv = (j + 1) as f64;
        dn += p * p;
        lde += p * (jv * jv);
        sde += p / (jv * jv);
        mean_j += p / nz * jv;
    }
    let dv: f64 = pd
        .iter()
        .enumerate()
        .map(|(j, &p)| p / nz * ((j + 1) as f64 - mean_j).powi(2))
        .sum();
    let values = [
        entropy,
        dn / nz,
        dn / (nz * nz),
        dv,
        gln / nz,
        glv,
        hgle / nz,
        lde / nz,
        ldhgle / nz,
        ldlgle / nz,
        lgle / nz,
        sde / nz,
        sdhgle / nz,
        sdlgle / nz,
    ];
    NAMES.iter().copied().zip(values).collect()
}

/// Sums over the gray-level marginal `p` of a texture matrix with `total` entries, shared by
/// GLRLM, GLSZM and GLDM: `(sum p^2, sum p i^2, sum p / i^2, the gray-level variance)` with
/// levels `i` from 1, in pyradiomics' order of operations.
pub(crate) fn gray_level_sums(p: &[f64], total: f64) -> (f64, f64, f64, f64) {
    let (mut squares, mut high, mut low, mut mean) = (0.0, 0.0, 0.0, 0.0);
    for (i, &p) in p.iter().enumerate() {
        let iv = (i + 1) as f64;
        squares += p * p;
        high += p * (iv * iv);
        low += p / (iv * iv);
        mean += p / total * iv;
    }
    let variance: f64 = p
        .iter()
        .enumerate()
        .map(|(i, &p)| p / total * ((i + 1) as f64 - mean).powi(2))
        .sum();
    (squares, high, low, variance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angles_follow_pyradiomics_generation() {
        // 3D, distance 1: 13 one-directional angles, the first being (1, 1, 1).
        let one_way = angles([4, 4, 4], &[1], None, false);
        assert_eq!(one_way.len(), 13);
        assert_eq!(one_way[0], [1, 1, 1]);
        assert_eq!(one_way[12], [0, 0, 1]);
        assert_eq!(angles([4, 4, 4], &[1], None, true).len(), 26);
        // Repeated distances repeat the angles, as pyradiomics' count does.
        assert_eq!(angles([4, 4, 4], &[1, 1], None, false).len(), 26);
        // A single slice or force2D: the 4 (8) in-plane angles.
        assert_eq!(angles([1, 5, 5], &[1], None, false).len(), 4);
        assert_eq!(angles([3, 5, 5], &[1], Some(0), true).len(), 8);
        // A distance reaching past a small axis: only what fits.
        let far = angles([1, 2, 9], &[2], None, true);
        assert_eq!(far[0], [0, 1, 2]);
        assert_eq!(far.len(), 6);
        // Nothing to move along: no angle (pyradiomics raises).
        assert!(angles([1, 1, 1], &[1], None, true).is_empty());
        assert!(angles([4, 4, 4], &[0], None, true).is_empty());
    }
}
