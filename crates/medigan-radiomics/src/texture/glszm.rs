//! pyradiomics `glszm`: the Gray Level Size Zone Matrix, counting zones (connected voxels of the
//! mask with one gray level) of gray level `i` and size `j`. Connectivity as pyradiomics' C code:
//! 26-connected in a volume, 8-connected in a plane (and per slice with `force2D`).

use crate::Features;
use crate::settings::Settings;
use crate::texture::Roi;
use crate::texture::discretize::discretize;
use crate::texture::gldm::{EPS, angles, nan_features, out_of_plane_axis, shifted};

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
    let mut disc = discretize(roi, settings.bin_width, roi.f32_precision);
    let size = {
        let s = disc.levels.shape();
        [s[0], s[1], s[2]]
    };
    let offsets = angles(size, &[1], out_of_plane_axis(roi, settings), true);
    if disc.ng == 0 || offsets.is_empty() {
        return nan_features(&NAMES);
    }
    let ng = disc.ng as usize;
    if !disc.levels.is_standard_layout() {
        disc.levels = disc.levels.as_standard_layout().into_owned();
    }
    let levels = disc.levels.as_slice_mut().unwrap_or(&mut []);
    let zones = zones(levels, size, &offsets);
    features(&zones, ng)
}

/// The zones `(gray level, size)` of the region, in scan order; `levels` (0 outside the mask)
/// is consumed (set to 0) as voxels join zones.
fn zones(levels: &mut [u32], size: [usize; 3], offsets: &[[isize; 3]]) -> Vec<(u32, u32)> {
    let plane = size[1] * size[2];
    let mut zones = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    for start in 0..levels.len() {
        let gl = levels[start];
        if gl == 0 {
            continue;
        }
        levels[start] = 0;
        stack.push(start);
        let mut voxels = 0u32;
        while let Some(k) = stack.pop() {
            voxels += 1;
            let (z, rest) = (k / plane, k % plane);
            let (y, x) = (rest / size[2], rest % size[2]);
            for &offset in offsets {
                if let Some((nz, ny, nx)) = shifted(z, y, x, offset, size) {
                    let j = nz * plane + ny * size[2] + nx;
                    if levels[j] == gl {
                        levels[j] = 0;
                        stack.push(j);
                    }
                }
            }
        }
        zones.push((gl, voxels));
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
    // The joint matrix, sparse: count equal (gray level, size) pairs.
    let mut keys: Vec<u64> = zones
        .iter()
        .map(|&(gl, s)| (u64::from(gl) << 32) | u64::from(s))
        .collect();
    keys.sort_unstable();
    let (mut entropy, mut lahgle, mut lalgle, mut sahgle, mut salgle) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut start = 0;
    while start < keys.len() {
        let key = keys[start];
        let end = start + keys[start..].iter().take_while(|&&k| k == key).count();
        let p = (end - start) as f64;
        start = end;
        let iv = (key >> 32) as f64;
        let jv = (key & 0xffff_ffff) as f64;
        let (i2, j2) = (iv * iv, jv * jv);
        let q = p / nz;
        entropy -= q * (q + EPS).log2();
        lahgle += p * i2 * j2;
        lalgle += p * j2 / i2;
        sahgle += p * i2 / j2;
        salgle += p / (i2 * j2);
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
