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
    let mut reach = [0usize; 3];
    for offset in &offsets {
        for axis in 0..3 {
            reach[axis] = reach[axis].max(offset[axis].unsigned_abs());
        }
    }
    let levels = disc.levels.as_standard_layout();
    let levels = levels.as_slice().unwrap_or(&[]);
    // Joining runs pays where runs are long (flat areas); voxel by voxel is faster otherwise.
    let (mut voxels, mut repeats) = (0usize, 0usize);
    if reach[2] > 0 {
        for row in levels.chunks_exact(size[2].max(1)) {
            voxels += usize::from(row[0] != 0);
            for pair in row.windows(2) {
                voxels += usize::from(pair[1] != 0);
                repeats += usize::from(pair[1] != 0 && pair[0] == pair[1]);
            }
        }
    }
    let zones = if repeats * 2 > voxels {
        zones(levels, size, reach)
    } else {
        zones_by_flood_fill(Padded::new(disc, &offsets))
    };
    features(&zones, disc.ng as usize)
}

/// The zones `(gray level, size)` of the region grown voxel by voxel, as pyradiomics' C code
/// grows them: faster than joining runs where runs are short. The padded levels are consumed
/// (set to 0) as voxels join zones.
fn zones_by_flood_fill(mut grid: Padded) -> Vec<(u32, u32)> {
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

/// Zones up to this size are counted in a dense gray level x size table.
const SMALL_ZONE: usize = 32;

/// A run of voxels of one gray level along `x` in one row: `x0..=x1`.
#[derive(Clone, Copy)]
struct Run {
    x0: u32,
    x1: u32,
    level: u32,
}

/// The zones `(gray level, size)` of the region (`levels` 0 outside the mask, shape `size`),
/// voxels connected when their offset is within `reach` on every axis (pyradiomics' angles at
/// distance 1: the full 3x3x3 box, less the axes that cannot move). Rows are cut into runs of
/// one gray level, runs of neighbouring rows that touch (within `reach[2]` along `x`) and share
/// a gray level are joined (union-find): the same zones as growing them voxel by voxel.
fn zones(levels: &[u32], size: [usize; 3], reach: [usize; 3]) -> Vec<(u32, u32)> {
    let [nz, ny, nx] = size;
    // Runs of each row, in row order; along `x` only when `x` connects voxels.
    let mut runs: Vec<Run> = Vec::new();
    let mut row_start = Vec::with_capacity(nz * ny + 1);
    for row in levels.chunks_exact(nx.max(1)) {
        row_start.push(runs.len());
        let mut x = 0;
        while x < nx {
            let level = row[x];
            let mut end = x;
            if reach[2] > 0 {
                while end + 1 < nx && row[end + 1] == level {
                    end += 1;
                }
            }
            if level != 0 {
                runs.push(Run {
                    x0: x as u32,
                    x1: end as u32,
                    level,
                });
            }
            x = end + 1;
        }
    }
    row_start.push(runs.len());
    let mut parent: Vec<u32> = (0..runs.len() as u32).collect();
    let reach_x = reach[2] as i64;
    // Join each row with the earlier rows it touches.
    let (rz, ry) = (reach[0] as isize, reach[1] as isize);
    for z in 0..nz {
        for y in 0..ny {
            let row = z * ny + y;
            for dz in -rz..=0 {
                for dy in -ry..=ry {
                    if dz == 0 && dy >= 0 {
                        continue;
                    }
                    let (Some(oz), Some(oy)) = (z.checked_add_signed(dz), y.checked_add_signed(dy))
                    else {
                        continue;
                    };
                    if oy >= ny {
                        continue;
                    }
                    let other = oz * ny + oy;
                    let (ours, theirs) = (
                        row_start[row]..row_start[row + 1],
                        row_start[other]..row_start[other + 1],
                    );
                    let mut first = theirs.start;
                    for a in ours {
                        let run = runs[a];
                        let (lo, hi) = (i64::from(run.x0) - reach_x, i64::from(run.x1) + reach_x);
                        while first < theirs.end && i64::from(runs[first].x1) < lo {
                            first += 1;
                        }
                        let mut b = first;
                        while b < theirs.end && i64::from(runs[b].x0) <= hi {
                            if runs[b].level == run.level {
                                union(&mut parent, a as u32, b as u32);
                            }
                            b += 1;
                        }
                    }
                }
            }
        }
    }
    // Zone sizes at the roots.
    let mut voxels = vec![0u32; runs.len()];
    for (a, run) in runs.iter().enumerate() {
        let root = find(&mut parent, a as u32) as usize;
        voxels[root] += run.x1 - run.x0 + 1;
    }
    (0..runs.len())
        .filter(|&a| parent[a] as usize == a)
        .map(|a| (runs[a].level, voxels[a]))
        .collect()
}

/// Union-find: the root of `a`, halving paths on the way.
fn find(parent: &mut [u32], mut a: u32) -> u32 {
    while parent[a as usize] != a {
        let up = parent[parent[a as usize] as usize];
        parent[a as usize] = up;
        a = up;
    }
    a
}

/// Union-find: joins the sets of `a` and `b` (the smaller root index becomes the root).
fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        let (low, high) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent[high as usize] = low;
    }
}

/// The 16 features (in [`NAMES`] order) from the zones.
fn features(zones: &[(u32, u32)], ng: usize) -> Features {
    let largest = zones.iter().map(|&(_, s)| s as usize).max().unwrap_or(0);
    // The joint matrix: dense for small zones (most of them), sorted pairs for the others.
    let small = largest.min(SMALL_ZONE);
    let mut joint = vec![0u32; ng * small];
    let mut large: Vec<u64> = Vec::new();
    let mut ps_count = vec![0u32; largest];
    for &(gl, s) in zones {
        ps_count[s as usize - 1] += 1;
        if (s as usize) <= small {
            joint[(gl as usize - 1) * small + s as usize - 1] += 1;
        } else {
            large.push((u64::from(gl) << 32) | u64::from(s));
        }
    }
    large.sort_unstable();
    let mut pg_count = vec![0u32; ng];
    let nz = if zones.is_empty() {
        1.0
    } else {
        zones.len() as f64
    };
    let (mut entropy, mut lahgle, mut lalgle, mut sahgle, mut salgle) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut add = |gl: u64, s: u64, count: u32| {
        pg_count[gl as usize - 1] += count;
        let p = f64::from(count);
        let (iv, jv) = (gl as f64, s as f64);
        let (i2, j2) = (iv * iv, jv * jv);
        let q = p / nz;
        entropy -= q * (q + EPS).log2();
        lahgle += p * i2 * j2;
        lalgle += p * j2 / i2;
        sahgle += p * i2 / j2;
        salgle += p / (i2 * j2);
    };
    for (level, row) in joint.chunks_exact(small.max(1)).enumerate() {
        for (j, &count) in row.iter().enumerate() {
            if count != 0 {
                add(level as u64 + 1, j as u64 + 1, count);
            }
        }
    }
    let mut start = 0;
    while start < large.len() {
        let key = large[start];
        let end = start + large[start..].iter().take_while(|&&k| k == key).count();
        add(key >> 32, key & 0xffff_ffff, (end - start) as u32);
        start = end;
    }
    let pg: Vec<f64> = pg_count.iter().map(|&c| f64::from(c)).collect();
    let ps: Vec<f64> = ps_count.iter().map(|&c| f64::from(c)).collect();
    let (gln, hgle, lgle, glv) = super::gldm::gray_level_sums(&pg, nz);
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    /// The run-based zones equal those grown voxel by voxel (as pyradiomics' C code grows them),
    /// on random grids with few gray levels, in 3D, per slice and in a plane.
    #[test]
    fn runs_join_into_the_zones_flood_fill_finds() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u32| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % u64::from(n)) as u32
        };
        for case in 0..200 {
            let size = [
                1 + next(4) as usize,
                1 + next(7) as usize,
                1 + next(7) as usize,
            ];
            let levels = Array3::from_shape_fn(size, |_| next(4));
            let ng = levels.iter().copied().max().unwrap_or(0);
            let disc = Discretized {
                levels,
                ng,
                edges: Vec::new(),
            };
            for skip in [None, Some(0), Some(1), Some(2)] {
                let offsets = angles(size, &[1], skip, true);
                if offsets.is_empty() {
                    continue;
                }
                let mut reach = [0usize; 3];
                for offset in &offsets {
                    for axis in 0..3 {
                        reach[axis] = reach[axis].max(offset[axis].unsigned_abs());
                    }
                }
                let mut expected = zones_by_flood_fill(Padded::new(&disc, &offsets));
                let mut got = zones(disc.levels.as_slice().unwrap(), size, reach);
                expected.sort_unstable();
                got.sort_unstable();
                assert_eq!(got, expected, "case {case}, size {size:?}, skip {skip:?}");
            }
        }
    }
}
