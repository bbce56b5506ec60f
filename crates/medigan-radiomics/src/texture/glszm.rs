//! pyradiomics `glszm`: the Gray Level Size Zone Matrix, counting zones (connected voxels of the
//! mask with one gray level) of gray level `i` and size `j`. Connectivity as pyradiomics' C code:
//! 26-connected in a volume, 8-connected in a plane (and per slice with `force2D`).

use crate::Features;
use crate::settings::Settings;
use crate::texture::Roi;
use crate::texture::discretize::{Discretized, discretize};
use crate::texture::gldm::{EPS, Padded, angles, grid_size, nan_features, out_of_plane_axis};

/// The GLSZM features pyradiomics enables by default, in its order (alphabetical).
pub const NAMES: [&str; 16] = [
    "GrayLevelNonUniformity",
    "GrayLevelNonUniformityNormalized",
    "GrayLevelVariance",
    "HighGrayLevelZoneEmphasis",
    "LargeAreaEmphasis",
    "LargeAreaHighGrayLevelEmphasis",
    "LargeAreaLowGrayLevelEmphasis",
    "LowGrayLevelZoneEmphasis",
    "SizeZoneNonUniformity",
    "SizeZoneNonUniformityNormalized",
    "SmallAreaEmphasis",
    "SmallAreaHighGrayLevelEmphasis",
    "SmallAreaLowGrayLevelEmphasis",
    "ZoneEntropy",
    "ZonePercentage",
    "ZoneVariance",
];

/// The GLSZM features of the region, as pyradiomics' `RadiomicsGLSZM(...).execute()` returns them
/// (see [`NAMES`]): gray levels binned with `binWidth`, zones grown over the neighbours at
/// distance 1 (in the plane with `force2D`). All NaN for an empty region or when no neighbour
/// angle exists.
pub fn compute(roi: &Roi<'_>, settings: &Settings) -> Features {
    let disc = discretize(roi, settings.bin_width, roi.f32_precision);
    compute_discretized(&disc, roi.dims, settings)
}

/// [`compute`] on a region already discretised with `settings.bin_width` (so that the texture
/// classes of one image share one discretisation); `dims` as [`Roi::dims`].
pub fn compute_discretized(disc: &Discretized, dims: usize, settings: &Settings) -> Features {
    let size = grid_size(disc);
    let offsets = angles(size, &[1], out_of_plane_axis(dims, settings), true);
    if disc.ng == 0 || offsets.is_empty() {
        return nan_features(&NAMES);
    }
    let zones = zones(Padded::new(disc, &offsets));
    features(&zones, disc.ng as usize)
}

/// The zones `(gray level, size)` of the region, in scan order; the padded levels are consumed
/// (set to 0) as voxels join zones.
fn zones(mut grid: Padded) -> Vec<(u32, u32)> {
    let mut zones = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    let rows = grid.rows();
    let levels = &mut grid.levels;
    for row in rows {
        for start in row {
            let gl = levels[start];
            if gl == 0 {
                continue;
            }
            levels[start] = 0;
            stack.push(start);
            let mut voxels = 0u32;
            while let Some(k) = stack.pop() {
                voxels += 1;
                for &step in &grid.steps {
                    let j = k.wrapping_add_signed(step);
                    if levels[j] == gl {
                        levels[j] = 0;
                        stack.push(j);
                    }
                }
            }
            zones.push((gl, voxels));
        }
    }
    zones
}

/// The 16 features (in [`NAMES`] order) from the zones.
fn features(zones: &[(u32, u32)], ng: usize) -> Features {
    let largest = zones.iter().map(|&(_, s)| s as usize).max().unwrap_or(0);
    let mut pg = vec![0.0f64; ng];
    let mut ps = vec![0.0f64; largest];
    for &(gl, s) in zones {
        pg[gl as usize - 1] += 1.0;
        ps[s as usize - 1] += 1.0;
    }
    let nz = if zones.is_empty() {
        1.0
    } else {
        zones.len() as f64
    };
    // The joint matrix, sparse: zones grouped by gray level (counting sort), then the sizes
    // of each gray level counted in a reused table.
    let mut first = vec![0usize; ng + 1];
    for &(gl, _) in zones {
        first[gl as usize - 1] += 1;
    }
    let mut acc = 0;
    for slot in first.iter_mut() {
        let count = *slot;
        *slot = acc;
        acc += count;
    }
    let mut by_level = vec![0u32; zones.len()];
    let mut next = first.clone();
    for &(gl, s) in zones {
        by_level[next[gl as usize - 1]] = s;
        next[gl as usize - 1] += 1;
    }
    let mut counts = vec![0u32; largest + 1];
    let (mut entropy, mut lahgle, mut lalgle, mut sahgle, mut salgle) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for level in 0..ng {
        let sizes = &by_level[first[level]..next[level]];
        for &s in sizes {
            counts[s as usize] += 1;
        }
        let iv = (level + 1) as f64;
        let i2 = iv * iv;
        for &s in sizes {
            let count = std::mem::take(&mut counts[s as usize]);
            if count == 0 {
                continue;
            }
            let p = f64::from(count);
            let jv = f64::from(s);
            let j2 = jv * jv;
            let q = p / nz;
            entropy -= q * (q + EPS).log2();
            lahgle += p * i2 * j2;
            lalgle += p * j2 / i2;
            sahgle += p * i2 / j2;
            salgle += p / (i2 * j2);
        }
    }
    let (mut gln, mut hgle, mut lgle, mut mean_i) = (0.0, 0.0, 0.0, 0.0);
    for (i, &p) in pg.iter().enumerate() {
        let iv = (i + 1) as f64;
        gln += p * p;
        hgle += p * (iv * iv);
        lgle += p / (iv * iv);
        mean_i += p / nz * iv;
    }
    let glv: f64 = pg
        .iter()
        .enumerate()
        .map(|(i, &p)| p / nz * ((i + 1) as f64 - mean_i).powi(2))
        .sum();
    let (mut szn, mut lae, mut sae, mut np, mut mean_j) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (j, &p) in ps.iter().enumerate() {
        if p == 0.0 {
            continue;
        }
        let jv = (j + 1) as f64;
        szn += p * p;
        lae += p * (jv * jv);
        sae += p / (jv * jv);
        np += p * jv;
        mean_j += p / nz * jv;
    }
    if np == 0.0 {
        np = 1.0;
    }
    let zv: f64 = ps
        .iter()
        .enumerate()
        .map(|(j, &p)| p / nz * ((j + 1) as f64 - mean_j).powi(2))
        .sum();
    let values = [
        gln / nz,
        gln / (nz * nz),
        glv,
        hgle / nz,
        lae / nz,
        lahgle / nz,
        lalgle / nz,
        lgle / nz,
        szn / nz,
        szn / (nz * nz),
        sae / nz,
        sahgle / nz,
        salgle / nz,
        entropy,
        nz / np,
        zv,
    ];
    NAMES.iter().copied().zip(values).collect()
}
