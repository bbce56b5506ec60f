//! pyradiomics `glrlm`: the Gray Level Run Length Matrix, counting runs (consecutive voxels of
//! the mask with one gray level) of gray level `i` and length `j` along each angle; each feature
//! is computed per angle and averaged over the angles that hold runs.
//!
//! As pyradiomics' C code builds it: a run ends at a voxel outside the mask; an angle along
//! which no line holds two voxels of the mask (a flat region seen across its plane) is dropped.

use crate::Features;
use crate::settings::Settings;
use crate::texture::Roi;
use crate::texture::discretize::{Discretized, discretize};
use crate::texture::gldm::{EPS, angles, grid_size, nan_features, out_of_plane_axis};

/// The GLRLM features pyradiomics enables by default, in its order (alphabetical).
pub const NAMES: [&str; 16] = [
    "GrayLevelNonUniformity",
    "GrayLevelNonUniformityNormalized",
    "GrayLevelVariance",
    "HighGrayLevelRunEmphasis",
    "LongRunEmphasis",
    "LongRunHighGrayLevelEmphasis",
    "LongRunLowGrayLevelEmphasis",
    "LowGrayLevelRunEmphasis",
    "RunEntropy",
    "RunLengthNonUniformity",
    "RunLengthNonUniformityNormalized",
    "RunPercentage",
    "RunVariance",
    "ShortRunEmphasis",
    "ShortRunHighGrayLevelEmphasis",
    "ShortRunLowGrayLevelEmphasis",
];

/// The GLRLM features of the region, as pyradiomics' `RadiomicsGLRLM(...).execute()` returns them
/// (see [`NAMES`]; no distance weighting): gray levels binned with `binWidth`, the 13 angles of
/// a volume (4 in a plane, in-plane only with `force2D`), each feature the mean over the angles
/// that hold runs. All NaN when no angle does (isolated voxels, an empty region).
pub fn compute(roi: &Roi<'_>, settings: &Settings) -> Features {
    let disc = discretize(roi, settings.bin_width, roi.f32_precision);
    compute_discretized(&disc, roi.dims, settings)
}

/// [`compute`] on a region already discretised with `settings.bin_width` (so that the texture
/// classes of one image share one discretisation); `dims` as [`Roi::dims`].
pub fn compute_discretized(disc: &Discretized, dims: usize, settings: &Settings) -> Features {
    let size = grid_size(disc);
    let directions = angles(size, &[1], out_of_plane_axis(dims, settings), false);
    if disc.ng == 0 || directions.is_empty() {
        return nan_features(&NAMES);
    }
    let ng = disc.ng as usize;
    let max_run = size.iter().copied().max().unwrap_or(1);
    let levels = disc.levels.as_standard_layout();
    let levels = levels.as_slice().unwrap_or(&[]);
    let mut matrix = vec![0u32; ng * max_run];
    let mut scratch = Scratch {
        pg: vec![0.0; ng],
        pr: vec![0.0; max_run],
    };
    let mut sums = [0.0f64; 16];
    let mut used = 0usize;
    for &direction in &directions {
        matrix.fill(0);
        let (several, longest) = runs(levels, size, direction, &mut matrix, max_run);
        if !several {
            // pyradiomics zeroes this angle (all its runs have length 1) and drops it.
            continue;
        }
        let values = angle_features(&matrix, max_run, longest, &mut scratch);
        for (sum, value) in sums.iter_mut().zip(values) {
            *sum += value;
        }
        used += 1;
    }
    if used == 0 {
        return nan_features(&NAMES);
    }
    let count = used as f64;
    NAMES
        .iter()
        .copied()
        .zip(sums.map(|sum| sum / count))
        .collect()
}

/// Buffers reused across angles.
struct Scratch {
    pg: Vec<f64>,
    pr: Vec<f64>,
}

/// Fills `matrix` (`ng x max_run`, row `i - 1`, column `j - 1`) with the runs along `direction`,
/// walking every line of the grid once from its first voxel. Returns whether some line holds
/// more than one voxel of the mask, and the longest run found.
fn runs(
    levels: &[u32],
    size: [usize; 3],
    direction: [isize; 3],
    matrix: &mut [u32],
    max_run: usize,
) -> (bool, usize) {
    let plane = size[1] * size[2];
    let step = direction[0] * plane as isize + direction[1] * size[2] as isize + direction[2];
    let mut several = false;
    let mut longest = 0usize;
    let mut record = |gl: u32, length: usize| {
        matrix[(gl as usize - 1) * max_run + length - 1] += 1;
        longest = longest.max(length);
    };
    // The first voxel of each line: a coordinate at the start of a moving axis (0 moving
    // forward, the last index moving backward).
    let start = |axis: usize| match direction[axis] {
        0 => None,
        d if d > 0 => Some(0),
        _ => Some(size[axis] - 1),
    };
    let starts = [start(0), start(1), start(2)];
    // Steps left along the line from `coords`, the current voxel included.
    let line_length = |coords: [usize; 3]| {
        (0..3)
            .filter_map(|axis| match direction[axis] {
                0 => None,
                d if d > 0 => Some(size[axis] - coords[axis]),
                _ => Some(coords[axis] + 1),
            })
            .min()
            .unwrap_or(0)
    };
    let mut walk = |coords: [usize; 3]| {
        let mut index = (coords[0] * plane + coords[1] * size[2] + coords[2]) as isize;
        let (mut gl, mut run, mut elements) = (0u32, 0usize, 0usize);
        for _ in 0..line_length(coords) {
            let level = levels[index as usize];
            if level != 0 {
                elements += 1;
                if level == gl {
                    run += 1;
                } else {
                    if gl != 0 {
                        record(gl, run);
                    }
                    gl = level;
                    run = 1;
                }
            } else if gl != 0 {
                record(gl, run);
                gl = 0;
            }
            index += step;
        }
        if gl != 0 {
            record(gl, run);
        }
        several |= elements > 1;
    };
    for z in 0..size[0] {
        let z_starts = starts[0] == Some(z);
        for y in 0..size[1] {
            if z_starts || starts[1] == Some(y) {
                for x in 0..size[2] {
                    walk([z, y, x]);
                }
            } else if let Some(x) = starts[2] {
                walk([z, y, x]);
            }
        }
    }
    (several, longest)
}

/// The 16 features (in [`NAMES`] order) of one angle's run-length matrix, as pyradiomics
/// computes them per angle.
fn angle_features(
    matrix: &[u32],
    max_run: usize,
    longest: usize,
    scratch: &mut Scratch,
) -> [f64; 16] {
    let Scratch { pg, pr } = scratch;
    pg.fill(0.0);
    pr.fill(0.0);
    let mut nr = 0.0;
    for (i, row) in matrix.chunks_exact(max_run).enumerate() {
        for (j, &count) in row[..longest].iter().enumerate() {
            let count = f64::from(count);
            pg[i] += count;
            pr[j] += count;
            nr += count;
        }
    }
    let (mut entropy, mut lrhgle, mut lrlgle, mut srhgle, mut srlgle) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, row) in matrix.chunks_exact(max_run).enumerate() {
        if pg[i] == 0.0 {
            continue;
        }
        let iv = (i + 1) as f64;
        let i2 = iv * iv;
        for (j, &count) in row[..longest].iter().enumerate() {
            if count == 0 {
                continue;
            }
            let p = f64::from(count);
            let jv = (j + 1) as f64;
            let j2 = jv * jv;
            let q = p / nr;
            entropy -= q * (q + EPS).log2();
            lrhgle += p * (j2 * i2);
            lrlgle += p * j2 / i2;
            srhgle += p * i2 / j2;
            srlgle += p / (i2 * j2);
        }
    }
    let (gln, hglre, lglre, glv) = super::gldm::gray_level_sums(pg, nr);
    let (mut rln, mut lre, mut sre, mut np, mut mean_j) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (j, &p) in pr[..longest].iter().enumerate() {
        let jv = (j + 1) as f64;
        rln += p * p;
        lre += p * (jv * jv);
        sre += p / (jv * jv);
        np += p * jv;
        mean_j += p / nr * jv;
    }
    let rv: f64 = pr[..longest]
        .iter()
        .enumerate()
        .map(|(j, &p)| p / nr * ((j + 1) as f64 - mean_j).powi(2))
        .sum();
    [
        gln / nr,
        gln / (nr * nr),
        glv,
        hglre / nr,
        lre / nr,
        lrhgle / nr,
        lrlgle / nr,
        lglre / nr,
        entropy,
        rln / nr,
        rln / (nr * nr),
        nr / np,
        rv,
        sre / nr,
        srhgle / nr,
        srlgle / nr,
    ]
}
