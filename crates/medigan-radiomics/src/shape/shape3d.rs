//! pyradiomics `shape`: the 3D shape of a mask, from its marching-cubes surface mesh and the
//! principal axes of its voxels.
//!
//! As pyradiomics' C extension (`cshape.c`, `calculate_coefficients`) does it: the mask is padded
//! with one empty voxel on each side; a 2x2x2 cube moves over it and, from which of its eight
//! corners are in the mask, places triangles between the midpoints of its edges (pyradiomics'
//! lookup table, below). A cube whose last corner is in the mask is looked up by its complement,
//! the triangles' orientation (the sign of their volume) flipped. The surface area is the sum of
//! the triangle areas, the mesh volume the sum of the signed volumes of the tetrahedra they form
//! with the origin, and the diameters the largest distances between mesh vertices (overall, and
//! between vertices in the same axial slice, coronal column or sagittal row). Coordinates are
//! physical: index times spacing, in array order `(z, y, x)`.

use ndarray::Array3;

use crate::shape::{axis_eigenvalues, hull_corners};
use crate::{Features, RadiomicsError, Settings, Volume};

/// Corners of the cube, `(z, y, x)` from its first voxel; corner `k` is bit `k` of the cube's
/// index.
const CORNERS: [[usize; 3]; 8] = [
    [0, 0, 0],
    [0, 0, 1],
    [0, 1, 1],
    [0, 1, 0],
    [1, 0, 0],
    [1, 0, 1],
    [1, 1, 1],
    [1, 1, 0],
];

/// Midpoint of each of the 12 edges of the cube, `(z, y, x)` from its first voxel. Edges 0-3 join
/// corners 0-1, 1-2, 2-3, 3-0 (the `z = 0` face), edges 4-7 corners 4-5, 5-6, 6-7, 7-4 (the
/// `z = 1` face) and edges 8-11 corners 0-4, 1-5, 2-6, 3-7.
const EDGE_MIDPOINTS: [[f64; 3]; 12] = [
    [0.0, 0.0, 0.5],
    [0.0, 0.5, 1.0],
    [0.0, 1.0, 0.5],
    [0.0, 0.5, 0.0],
    [1.0, 0.0, 0.5],
    [1.0, 0.5, 1.0],
    [1.0, 1.0, 0.5],
    [1.0, 0.5, 0.0],
    [0.5, 0.0, 0.0],
    [0.5, 0.0, 1.0],
    [0.5, 1.0, 1.0],
    [0.5, 1.0, 0.0],
];

/// The triangles (three edges each) of the cubes whose corner 7 is outside the mask, indexed by
/// the cube index (0-127), each oriented with its normal pointing out of the mask.
///
/// This is pyradiomics' table (`triTable` in `radiomics/src/cshape.c`, BSD-3-Clause, Copyright
/// the pyradiomics authors), itself the first half of the classic marching-cubes table of
/// Lorensen and Cline as published by Paul Bourke (public domain), reoriented. It is kept as
/// pyradiomics has it because the choice of triangles in the ambiguous cubes changes the surface
/// area and volume, which must equal pyradiomics'.
#[rustfmt::skip]
static TRIANGLES: [&[[usize; 3]]; 128] = [
    &[],
    &[[0, 8, 3]],
    &[[1, 9, 0]],
    &[[1, 8, 3], [1, 9, 8]],
    &[[1, 2, 10]],
    &[[0, 8, 3], [1, 2, 10]],
    &[[9, 2, 10], [0, 2, 9]],
    &[[2, 8, 3], [2, 10, 8], [10, 9, 8]],
    &[[11, 2, 3]],
    &[[11, 2, 0], [0, 8, 11]],
    &[[1, 9, 0], [11, 2, 3]],
    &[[11, 2, 1], [1, 9, 11], [9, 8, 11]],
    &[[3, 10, 1], [11, 10, 3]],
    &[[10, 1, 0], [0, 8, 10], [8, 11, 10]],
    &[[9, 0, 3], [3, 11, 9], [11, 10, 9]],
    &[[9, 8, 10], [11, 10, 8]],
    &[[4, 7, 8]],
    &[[0, 4, 3], [4, 7, 3]],
    &[[1, 9, 0], [4, 7, 8]],
    &[[1, 9, 4], [1, 4, 7], [1, 7, 3]],
    &[[1, 2, 10], [4, 7, 8]],
    &[[3, 4, 7], [3, 0, 4], [1, 2, 10]],
    &[[9, 2, 10], [9, 0, 2], [4, 7, 8]],
    &[[2, 10, 9], [2, 9, 7], [2, 7, 3], [4, 7, 9]],
    &[[4, 7, 8], [11, 2, 3]],
    &[[11, 4, 7], [11, 2, 4], [2, 0, 4]],
    &[[1, 9, 0], [4, 7, 8], [11, 2, 3]],
    &[[4, 7, 11], [9, 4, 11], [11, 2, 9], [1, 9, 2]],
    &[[3, 10, 1], [11, 10, 3], [4, 7, 8]],
    &[[11, 10, 1], [1, 4, 11], [1, 0, 4], [4, 7, 11]],
    &[[4, 7, 8], [9, 0, 3], [3, 11, 9], [11, 10, 9]],
    &[[4, 7, 11], [4, 11, 9], [9, 11, 10]],
    &[[9, 5, 4]],
    &[[9, 5, 4], [0, 8, 3]],
    &[[0, 5, 4], [0, 1, 5]],
    &[[8, 5, 4], [8, 3, 5], [3, 1, 5]],
    &[[1, 2, 10], [9, 5, 4]],
    &[[0, 8, 3], [1, 2, 10], [9, 5, 4]],
    &[[2, 10, 5], [5, 4, 2], [2, 4, 0]],
    &[[2, 10, 5], [3, 2, 5], [3, 5, 4], [8, 3, 4]],
    &[[9, 5, 4], [11, 2, 3]],
    &[[11, 2, 0], [0, 8, 11], [9, 5, 4]],
    &[[0, 5, 4], [0, 1, 5], [11, 2, 3]],
    &[[2, 1, 5], [2, 5, 8], [11, 2, 8], [5, 4, 8]],
    &[[3, 10, 1], [11, 10, 3], [9, 5, 4]],
    &[[5, 4, 9], [10, 1, 0], [0, 8, 10], [8, 11, 10]],
    &[[5, 4, 0], [5, 0, 11], [10, 5, 11], [11, 0, 3]],
    &[[5, 4, 8], [10, 5, 8], [11, 10, 8]],
    &[[7, 8, 9], [5, 7, 9]],
    &[[3, 0, 9], [5, 3, 9], [3, 5, 7]],
    &[[7, 8, 0], [0, 1, 7], [7, 1, 5]],
    &[[1, 5, 7], [1, 7, 3]],
    &[[7, 8, 9], [5, 7, 9], [1, 2, 10]],
    &[[1, 2, 10], [3, 0, 9], [3, 9, 5], [3, 5, 7]],
    &[[0, 2, 8], [8, 2, 5], [8, 5, 7], [2, 10, 5]],
    &[[2, 10, 5], [2, 5, 3], [3, 5, 7]],
    &[[5, 7, 9], [7, 8, 9], [11, 2, 3]],
    &[[5, 7, 9], [9, 7, 2], [2, 0, 9], [11, 2, 7]],
    &[[11, 2, 3], [0, 1, 8], [1, 7, 8], [1, 5, 7]],
    &[[2, 1, 11], [1, 7, 11], [1, 5, 7]],
    &[[7, 8, 9], [5, 7, 9], [3, 10, 1], [11, 10, 3]],
    &[[5, 7, 0], [5, 0, 9], [7, 11, 0], [10, 1, 0], [11, 10, 0]],
    &[[11, 10, 0], [0, 3, 11], [10, 5, 0], [0, 7, 8], [5, 7, 0]],
    &[[11, 10, 5], [5, 7, 11]],
    &[[6, 5, 10]],
    &[[0, 8, 3], [6, 5, 10]],
    &[[1, 9, 0], [6, 5, 10]],
    &[[1, 8, 3], [1, 9, 8], [6, 5, 10]],
    &[[1, 6, 5], [1, 2, 6]],
    &[[1, 6, 5], [1, 2, 6], [0, 8, 3]],
    &[[9, 6, 5], [9, 0, 6], [0, 2, 6]],
    &[[5, 9, 8], [5, 8, 2], [5, 2, 6], [8, 3, 2]],
    &[[11, 2, 3], [6, 5, 10]],
    &[[11, 2, 0], [0, 8, 11], [6, 5, 10]],
    &[[1, 9, 0], [11, 2, 3], [6, 5, 10]],
    &[[11, 2, 1], [1, 9, 11], [9, 8, 11], [6, 5, 10]],
    &[[6, 3, 11], [6, 5, 3], [5, 1, 3]],
    &[[0, 8, 11], [0, 11, 5], [0, 5, 1], [5, 11, 6]],
    &[[6, 3, 11], [0, 3, 6], [0, 6, 5], [0, 5, 9]],
    &[[6, 5, 9], [6, 9, 11], [11, 9, 8]],
    &[[4, 7, 8], [6, 5, 10]],
    &[[0, 4, 3], [4, 7, 3], [6, 5, 10]],
    &[[1, 9, 0], [4, 7, 8], [6, 5, 10]],
    &[[1, 9, 4], [1, 4, 7], [1, 7, 3], [6, 5, 10]],
    &[[4, 7, 8], [1, 6, 5], [1, 2, 6]],
    &[[0, 4, 3], [4, 7, 3], [1, 6, 5], [1, 2, 6]],
    &[[4, 7, 8], [9, 6, 5], [9, 0, 6], [0, 2, 6]],
    &[[7, 3, 9], [4, 7, 9], [3, 2, 9], [5, 9, 6], [2, 6, 9]],
    &[[11, 2, 3], [4, 7, 8], [6, 5, 10]],
    &[[11, 4, 7], [11, 2, 4], [2, 0, 4], [6, 5, 10]],
    &[[1, 9, 0], [11, 2, 3], [4, 7, 8], [6, 5, 10]],
    &[[4, 7, 11], [9, 4, 11], [11, 2, 9], [1, 9, 2], [6, 5, 10]],
    &[[4, 7, 8], [6, 3, 11], [6, 5, 3], [5, 1, 3]],
    &[[5, 1, 11], [5, 11, 6], [1, 0, 11], [4, 7, 11], [0, 4, 11]],
    &[[4, 7, 8], [6, 3, 11], [0, 3, 6], [0, 6, 5], [0, 5, 9]],
    &[[6, 5, 9], [6, 9, 11], [4, 7, 9], [7, 11, 9]],
    &[[10, 4, 9], [6, 4, 10]],
    &[[10, 4, 9], [6, 4, 10], [0, 8, 3]],
    &[[0, 1, 10], [10, 6, 0], [6, 4, 0]],
    &[[1, 8, 3], [1, 6, 8], [8, 6, 4], [6, 1, 10]],
    &[[1, 4, 9], [1, 2, 4], [2, 6, 4]],
    &[[1, 4, 9], [1, 2, 4], [2, 6, 4], [0, 8, 3]],
    &[[0, 2, 4], [4, 2, 6]],
    &[[8, 3, 2], [8, 2, 4], [4, 2, 6]],
    &[[11, 2, 3], [10, 4, 9], [6, 4, 10]],
    &[[11, 2, 0], [0, 8, 11], [10, 4, 9], [6, 4, 10]],
    &[[11, 2, 3], [0, 1, 10], [10, 6, 0], [6, 4, 0]],
    &[[6, 4, 1], [6, 1, 10], [1, 4, 8], [11, 2, 1], [1, 8, 11]],
    &[[9, 6, 4], [3, 6, 9], [1, 3, 9], [11, 6, 3]],
    &[[1, 8, 11], [0, 8, 1], [11, 6, 1], [1, 4, 9], [6, 4, 1]],
    &[[6, 3, 11], [0, 3, 6], [6, 4, 0]],
    &[[8, 6, 4], [6, 8, 11]],
    &[[6, 7, 10], [7, 8, 10], [8, 9, 10]],
    &[[6, 7, 10], [0, 10, 7], [0, 9, 10], [0, 7, 3]],
    &[[6, 7, 10], [1, 10, 7], [1, 7, 8], [0, 1, 8]],
    &[[6, 7, 10], [1, 10, 7], [1, 7, 3]],
    &[[1, 2, 6], [1, 6, 8], [1, 8, 9], [6, 7, 8]],
    &[[2, 6, 9], [1, 2, 9], [6, 7, 9], [3, 0, 9], [7, 3, 9]],
    &[[0, 7, 8], [7, 0, 6], [6, 0, 2]],
    &[[2, 7, 3], [2, 6, 7]],
    &[[11, 2, 3], [6, 7, 10], [7, 8, 10], [8, 9, 10]],
    &[[2, 0, 7], [11, 2, 7], [0, 9, 7], [6, 7, 10], [9, 10, 7]],
    &[[6, 7, 10], [1, 10, 7], [1, 7, 8], [0, 1, 8], [11, 2, 3]],
    &[[11, 2, 1], [1, 7, 11], [10, 6, 1], [1, 6, 7]],
    &[[8, 9, 6], [6, 7, 8], [1, 6, 9], [11, 6, 3], [1, 3, 6]],
    &[[0, 9, 1], [6, 7, 11]],
    &[[0, 7, 8], [7, 0, 6], [0, 3, 11], [11, 6, 0]],
    &[[6, 7, 11]],
];

/// The fourteen `shape` features pyradiomics enables by default, in its order: `Elongation`,
/// `Flatness`, `LeastAxisLength`, `MajorAxisLength`, `Maximum2DDiameterColumn`,
/// `Maximum2DDiameterRow`, `Maximum2DDiameterSlice`, `Maximum3DDiameter`, `MeshVolume`,
/// `MinorAxisLength`, `Sphericity`, `SurfaceArea`, `SurfaceVolumeRatio`, `VoxelVolume`.
///
/// `mask` is the 3D mask (`geometry.dims == 3`) cropped to its bounding box, as pyradiomics'
/// `computeShape` passes it. `settings` changes nothing here (the signature is shared with
/// [`crate::shape::shape2d::compute`]). Errors: a 2D mask (use [`crate::shape::shape2d`]) or an
/// empty mask.
pub fn compute(mask: &Volume<bool>, _settings: &Settings) -> Result<Features, RadiomicsError> {
    if mask.geometry.dims != 3 {
        return Err(RadiomicsError::Mask(format!(
            "shape needs a 3D mask, this one is {}D (use shape2D)",
            mask.geometry.dims
        )));
    }
    let (d, h, w) = mask.data.dim();
    let mut padded = Array3::from_elem((d + 2, h + 2, w + 2), false);
    padded
        .slice_mut(ndarray::s![1..d + 1, 1..h + 1, 1..w + 1])
        .assign(&mask.data);
    let count = mask.data.iter().filter(|&&v| v).count();
    if count == 0 {
        return Err(RadiomicsError::Mask("the mask selects no voxel".into()));
    }
    // Voxel indices in the padded mask, as pyradiomics takes them.
    let voxels = padded
        .indexed_iter()
        .filter(|&(_, &v)| v)
        .map(|((z, y, x), _)| [z, y, x]);
    let [sx, sy, sz] = mask.geometry.spacing;
    let spacing = [sz, sy, sx];

    let mesh = march(&padded, spacing);
    let ev = axis_eigenvalues(voxels, spacing);
    let np = count as f64;
    let (area, volume) = (mesh.surface_area, mesh.volume);
    let axis = |v: f64| if v < 0.0 { f64::NAN } else { v.sqrt() * 4.0 };
    let ratio = |a: f64, b: f64| {
        if a < 0.0 || b < 0.0 {
            f64::NAN
        } else {
            (a / b).sqrt()
        }
    };
    Ok(vec![
        ("Elongation", ratio(ev[1], ev[2])),
        ("Flatness", ratio(ev[0], ev[2])),
        ("LeastAxisLength", axis(ev[0])),
        ("MajorAxisLength", axis(ev[2])),
        ("Maximum2DDiameterColumn", mesh.diameters[1]),
        ("Maximum2DDiameterRow", mesh.diameters[2]),
        ("Maximum2DDiameterSlice", mesh.diameters[0]),
        ("Maximum3DDiameter", mesh.diameters[3]),
        ("MeshVolume", volume),
        ("MinorAxisLength", axis(ev[1])),
        (
            "Sphericity",
            (36.0 * std::f64::consts::PI * volume.powi(2)).powf(1.0 / 3.0) / area,
        ),
        ("SurfaceArea", area),
        ("SurfaceVolumeRatio", area / volume),
        ("VoxelVolume", np * (sz * sx * sy)),
    ])
}

/// What the marching cubes give.
struct Mesh {
    surface_area: f64,
    volume: f64,
    /// Largest vertex distances: within a slice (same z), a column (same y), a row (same x), and
    /// overall.
    diameters: [f64; 4],
}

/// Marching cubes over the padded mask, summing as pyradiomics' C code does (same order).
fn march(mask: &Array3<bool>, spacing: [f64; 3]) -> Mesh {
    let (d, h, w) = mask.dim();
    let flat = mask.as_slice().expect("a new array is contiguous");
    let corner_offsets = CORNERS.map(|c| (c[0] * h + c[1]) * w + c[2]);
    let mut area = 0.0;
    let mut volume = 0.0;
    // Mesh vertices, each once: the midpoints of the three edges of each cube that meet at its
    // corner 7 (edges 6, 7 and 11) when they cross the surface; as doubled grid indices (exact)
    // and physical coordinates.
    let mut keys: Vec<[i64; 3]> = Vec::new();
    let mut points: Vec<[f64; 3]> = Vec::new();
    let at = |i: [usize; 3], edge: usize| -> [f64; 3] {
        let m = EDGE_MIDPOINTS[edge];
        std::array::from_fn(|k| (i[k] as f64 + m[k]) * spacing[k])
    };
    for iz in 0..d - 1 {
        for iy in 0..h - 1 {
            for ix in 0..w - 1 {
                let origin = [iz, iy, ix];
                let base = (iz * h + iy) * w + ix;
                let mut index = 0usize;
                for (bit, off) in corner_offsets.iter().enumerate() {
                    index |= usize::from(flat[base + off]) << bit;
                }
                let sign = if index & 0x80 != 0 {
                    index ^= 0xFF;
                    -1.0
                } else {
                    1.0
                };
                // Corner 7 is now outside: an edge from it crosses the surface when its other
                // corner (6, 4, 3 for edges 6, 7, 11) is inside.
                for (corner, edge) in [(6usize, 6usize), (4, 7), (3, 11)] {
                    if index & (1 << corner) != 0 {
                        let m = EDGE_MIDPOINTS[edge];
                        keys.push(std::array::from_fn(|k| {
                            2 * origin[k] as i64 + (2.0 * m[k]) as i64
                        }));
                        points.push(at(origin, edge));
                    }
                }
                for tri in TRIANGLES[index] {
                    let a = at(origin, tri[0]);
                    let b = at(origin, tri[1]);
                    let c = at(origin, tri[2]);
                    let ab = cross(a, b);
                    volume += sign * (ab[0] * c[0] + ab[1] * c[1] + ab[2] * c[2]);
                    let ac: [f64; 3] = std::array::from_fn(|k| a[k] - c[k]);
                    let bc: [f64; 3] = std::array::from_fn(|k| b[k] - c[k]);
                    let n = cross(ac, bc);
                    area += 0.5 * (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
                }
            }
        }
    }
    volume /= 6.0;
    Mesh {
        surface_area: area,
        volume,
        diameters: diameters(&keys, &points),
    }
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - b[1] * a[2],
        a[2] * b[0] - b[2] * a[0],
        a[0] * b[1] - b[0] * a[1],
    ]
}

/// The largest distances between vertices: `[same z, same y, same x, any]`, pairs compared as
/// pyradiomics does (squared distance, `sqrt` of the largest). Within each plane of constant z
/// (y, x) only the corners of the plane's convex hull can end a farthest pair of that plane, and
/// only a corner of all three of its planes can end a farthest pair overall ([`hull_corners`]).
fn diameters(keys: &[[i64; 3]], points: &[[f64; 3]]) -> [f64; 4] {
    let mut out = [0.0f64; 4];
    let mut corner_everywhere = vec![true; keys.len()];
    for fixed in 0..3 {
        let (u, v) = match fixed {
            0 => (1, 2),
            1 => (0, 2),
            _ => (0, 1),
        };
        let mut planes: std::collections::HashMap<i64, Vec<usize>> = Default::default();
        for (i, key) in keys.iter().enumerate() {
            planes.entry(key[fixed]).or_default().push(i);
        }
        for members in planes.values() {
            let plane: Vec<[i64; 2]> = members.iter().map(|&i| [keys[i][u], keys[i][v]]).collect();
            let keep = hull_corners(&plane);
            let mut corners = Vec::new();
            for (&i, &k) in members.iter().zip(&keep) {
                if k {
                    corners.push(points[i]);
                } else {
                    corner_everywhere[i] = false;
                }
            }
            out[fixed] = out[fixed].max(farthest(&corners));
        }
    }
    let corners: Vec<[f64; 3]> = points
        .iter()
        .zip(&corner_everywhere)
        .filter(|&(_, &k)| k)
        .map(|(p, _)| *p)
        .collect();
    out[3] = farthest(&corners);
    out.map(f64::sqrt)
}

/// The largest squared distance between two of `points` (0 for fewer than two).
fn farthest(points: &[[f64; 3]]) -> f64 {
    let mut best = 0.0f64;
    for (i, a) in points.iter().enumerate() {
        for b in &points[..i] {
            let d0 = a[0] - b[0];
            let d1 = a[1] - b[1];
            let d2 = a[2] - b[2];
            let dist = d0 * d0 + d1 * d1 + d2 * d2;
            if dist > best {
                best = dist;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pyradiomics' search: every pair of vertices, with the same-coordinate conditions.
    fn all_pairs(points: &[[f64; 3]]) -> [f64; 4] {
        let mut out = [0.0f64; 4];
        for (i, a) in points.iter().enumerate() {
            for b in &points[..i] {
                let d: f64 = (0..3).map(|k| (a[k] - b[k]) * (a[k] - b[k])).sum();
                for k in 0..3 {
                    if a[k] == b[k] {
                        out[k] = out[k].max(d);
                    }
                }
                out[3] = out[3].max(d);
            }
        }
        out.map(f64::sqrt)
    }

    #[test]
    fn pruned_diameters_equal_all_pairs() {
        // Random masks (a fixed linear congruential sequence) of several densities and spacings.
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as f64 / (1u64 << 31) as f64
        };
        for case in 0..40 {
            let dims = (2 + case % 9, 3 + case % 7, 2 + case % 11);
            let density = 0.2 + 0.1 * (case % 7) as f64;
            let mut mask = Array3::from_elem((dims.0 + 2, dims.1 + 2, dims.2 + 2), false);
            for z in 1..=dims.0 {
                for y in 1..=dims.1 {
                    for x in 1..=dims.2 {
                        mask[[z, y, x]] = next() < density;
                    }
                }
            }
            let spacing = [0.5 + next(), 0.5 + next(), 0.5 + next()];
            let mesh = march(&mask, spacing);
            // The same vertices, collected again for the all-pairs search.
            let mut points = Vec::new();
            let (d, h, w) = mask.dim();
            for iz in 0..d - 1 {
                for iy in 0..h - 1 {
                    for ix in 0..w - 1 {
                        let corner7 = mask[[iz + 1, iy + 1, ix]];
                        for (c, edge) in [([1, 1, 1], 6), ([1, 0, 0], 7), ([0, 1, 0], 11)] {
                            if mask[[iz + c[0], iy + c[1], ix + c[2]]] != corner7 {
                                let m = EDGE_MIDPOINTS[edge];
                                let o = [iz, iy, ix];
                                points.push(std::array::from_fn(|k| {
                                    (o[k] as f64 + m[k]) * spacing[k]
                                }));
                            }
                        }
                    }
                }
            }
            assert_eq!(mesh.diameters, all_pairs(&points), "case {case}");
        }
    }
}
