//! pyradiomics `glrlm`: the Gray Level Run Length Matrix, counting runs (consecutive voxels of
//! the mask with one gray level) of gray level `i` and length `j` along each angle; each feature
//! is computed per angle and averaged over the angles that hold runs.
//!
//! As pyradiomics' C code builds it: a run ends at a voxel outside the mask; an angle along
//! which no line holds two voxels of the mask (a flat region seen across its plane) is dropped.

use crate::Features;
use crate::settings::Settings;
use crate::texture::Roi;
use crate::texture::discretize::discretize;
use crate::texture::gldm::{EPS, angles, nan_features, out_of_plane_axis};

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
    let size = {
        let s = disc.levels.shape();
        [s[0], s[1], s[2]]
    };
    let directions = angles(size, &[1], out_of_plane_axis(roi, settings), false);
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
    for z in 0..size[0] {
        for y in 0..size[1] {
            for x in 0..size[2] {
                let coords = [z, y, x];
                // A line starts where stepping back leaves the grid.
                let mut starts = false;
                let mut length = usize::MAX;
                for axis in 0..3 {
                    match direction[axis] {
                        1 => {
                            starts |= coords[axis] == 0;
                            length = length.min(size[axis] - coords[axis]);
                        }
                        -1 => {
                            starts |= coords[axis] + 1 == size[axis];
                            length = length.min(coords[axis] + 1);
                        }
                        _ => {}
                    }
                }
                if !starts {
                    continue;
                }
                let mut index = (z * plane + y * size[2] + x) as isize;
                let (mut gl, mut run, mut elements) = (0u32, 0usize, 0usize);
                for _ in 0..length {
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
    let (mut gln, mut hglre, mut lglre, mut mean_i) = (0.0, 0.0, 0.0, 0.0);
    for (i, &p) in pg.iter().enumerate() {
        let iv = (i + 1) as f64;
        gln += p * p;
        hglre += p * (iv * iv);
        lglre += p / (iv * iv);
        mean_i += p / nr * iv;
    }
    let glv: f64 = pg
        .iter()
        .enumerate()
        .map(|(i, &p)| p / nr * ((i + 1) as f64 - mean_i).powi(2))
        .sum();
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
