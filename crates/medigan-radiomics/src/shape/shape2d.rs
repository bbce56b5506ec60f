//! pyradiomics `shape2D`: the 2D shape of a mask (a 2D image, or one slice of a volume with
//! `force2D`), from its marching-squares outline and the principal axes of its pixels.
//!
//! As pyradiomics' C extension (`cshape.c`, `calculate_coefficients2D`) does it: the mask is
//! padded with one empty pixel on each side; a 2x2 square moves over it and, from which of its
//! corners are in the mask, places outline segments between the midpoints of its edges (two
//! diagonal corners in the mask are kept apart, each cut off by its own segment). The perimeter
//! is the sum of the segment lengths, the mesh surface the signed area the segments enclose
//! (a sum of cross products with the origin), and the maximum diameter the largest distance
//! between two outline vertices. Coordinates are physical: index times spacing, in array order.

use ndarray::{Array2, ArrayView2, Axis};

use crate::shape::{axis_eigenvalues, hull_corners};
use crate::{Features, RadiomicsError, Settings, Volume};

/// Midpoint of each edge of the square, `(y, x)` from its upper-left pixel: top, right, bottom,
/// left.
const EDGE_MIDPOINTS: [[f64; 2]; 4] = [[0.0, 0.5], [0.5, 1.0], [1.0, 0.5], [0.5, 0.0]];

/// Corners of the square, `(y, x)` from its upper-left pixel; corner `k` is bit `k` of the
/// square's index.
const CORNERS: [[usize; 2]; 4] = [[0, 0], [0, 1], [1, 1], [1, 0]];

/// Outline segments `(from edge, to edge)` for each square index, oriented so that the mask lies
/// on the same side of every segment (the signed areas then add up to the enclosed area).
const SEGMENTS: [&[[usize; 2]]; 16] = [
    &[],
    &[[3, 0]],
    &[[0, 1]],
    &[[3, 1]],
    &[[1, 2]],
    &[[1, 2], [3, 0]],
    &[[0, 2]],
    &[[3, 2]],
    &[[2, 3]],
    &[[2, 0]],
    &[[0, 1], [2, 3]],
    &[[2, 1]],
    &[[1, 3]],
    &[[1, 0]],
    &[[0, 3]],
    &[],
];

/// The nine `shape2D` features pyradiomics enables by default, in its order: `Elongation`,
/// `MajorAxisLength`, `MaximumDiameter`, `MeshSurface`, `MinorAxisLength`, `Perimeter`,
/// `PerimeterSurfaceRatio`, `PixelSurface`, `Sphericity`.
///
/// `mask` is the mask cropped to its bounding box (as pyradiomics' `computeShape` passes it):
/// a 2D mask (`geometry.dims == 2`, array `(1, H, W)`), or with `settings.force_2d` a 3D mask of
/// size 1 along `settings.force_2d_dimension`. Errors: a 3D mask without `force2D`, a mask thicker
/// than one slice along the `force2D` axis, or an empty mask.
pub fn compute(mask: &Volume<bool>, settings: &Settings) -> Result<Features, RadiomicsError> {
    let (plane, spacing) = plane_of(mask, settings)?;
    let (h, w) = plane.dim();
    let mut padded = Array2::from_elem((h + 2, w + 2), false);
    padded
        .slice_mut(ndarray::s![1..h + 1, 1..w + 1])
        .assign(&plane);
    let count = plane.iter().filter(|&&v| v).count();
    if count == 0 {
        return Err(RadiomicsError::Mask("the mask selects no pixel".into()));
    }
    // Pixel indices in the padded mask, as pyradiomics takes them.
    let pixels = padded
        .indexed_iter()
        .filter(|&(_, &v)| v)
        .map(|((y, x), _)| [y, x]);

    let mesh = march(&padded, spacing);
    let ev = axis_eigenvalues(pixels, spacing);
    let np = count as f64;
    let [sy, sx] = spacing;

    let nan_if_negative = |v: f64, f: &dyn Fn() -> f64| if v < 0.0 { f64::NAN } else { f() };
    Ok(vec![
        (
            "Elongation",
            if ev[0] < 0.0 || ev[1] < 0.0 {
                f64::NAN
            } else {
                (ev[0] / ev[1]).sqrt()
            },
        ),
        (
            "MajorAxisLength",
            nan_if_negative(ev[1], &|| ev[1].sqrt() * 4.0),
        ),
        ("MaximumDiameter", mesh.diameter),
        ("MeshSurface", mesh.surface),
        (
            "MinorAxisLength",
            nan_if_negative(ev[0], &|| ev[0].sqrt() * 4.0),
        ),
        ("Perimeter", mesh.perimeter),
        ("PerimeterSurfaceRatio", mesh.perimeter / mesh.surface),
        ("PixelSurface", np * (sx * sy)),
        (
            "Sphericity",
            (2.0 * (std::f64::consts::PI * mesh.surface).sqrt()) / mesh.perimeter,
        ),
    ])
}

/// The 2D plane of the mask and its pixel spacing in array order `(rows, columns)`.
fn plane_of<'a>(
    mask: &'a Volume<bool>,
    settings: &Settings,
) -> Result<(ArrayView2<'a, bool>, [f64; 2]), RadiomicsError> {
    let [sx, sy, sz] = mask.geometry.spacing;
    let shape = mask.data.shape();
    match mask.geometry.dims {
        2 => {
            if shape[0] != 1 {
                return Err(RadiomicsError::Mask(format!(
                    "a 2D mask must have one slice, the array has {}",
                    shape[0]
                )));
            }
            Ok((mask.data.index_axis(Axis(0), 0), [sy, sx]))
        }
        3 => {
            if !settings.force_2d {
                return Err(RadiomicsError::Mask(
                    "shape2D needs a 2D mask, or a 3D one with force2D".into(),
                ));
            }
            let dim = settings.force_2d_dimension;
            if dim > 2 {
                return Err(RadiomicsError::Setting {
                    name: "force2Ddimension",
                    reason: format!("must be 0, 1 or 2, not {dim}"),
                });
            }
            if shape[dim] != 1 {
                return Err(RadiomicsError::Mask(format!(
                    "shape2D: the mask spans {} slices along force2Ddimension {dim}, it must span 1",
                    shape[dim]
                )));
            }
            let zyx = [sz, sy, sx];
            let kept: Vec<f64> = (0..3).filter(|&d| d != dim).map(|d| zyx[d]).collect();
            Ok((mask.data.index_axis(Axis(dim), 0), [kept[0], kept[1]]))
        }
        d => Err(RadiomicsError::Mask(format!(
            "shape2D needs a 2D or 3D mask, not {d}D"
        ))),
    }
}

/// What the marching squares give.
struct Mesh {
    perimeter: f64,
    surface: f64,
    diameter: f64,
}

/// Marching squares over the padded mask, summing as pyradiomics' C code does (same order).
fn march(mask: &Array2<bool>, spacing: [f64; 2]) -> Mesh {
    let (h, w) = mask.dim();
    let flat = mask.as_slice().expect("a new array is contiguous");
    let corner_offsets = CORNERS.map(|c| c[0] * w + c[1]);
    let mut perimeter = 0.0;
    let mut surface = 0.0;
    // Outline vertices, each once: the midpoints of the left and bottom edges of each square
    // that cross the outline; as doubled grid indices (exact) and physical coordinates.
    let mut keys: Vec<[i64; 2]> = Vec::new();
    let mut points: Vec<[f64; 2]> = Vec::new();
    let at = |iy: usize, ix: usize, edge: usize| -> [f64; 2] {
        let m = EDGE_MIDPOINTS[edge];
        [
            (iy as f64 + m[0]) * spacing[0],
            (ix as f64 + m[1]) * spacing[1],
        ]
    };
    for iy in 0..h - 1 {
        for ix in 0..w - 1 {
            let base = iy * w + ix;
            let mut index = 0usize;
            for (bit, off) in corner_offsets.iter().enumerate() {
                index |= usize::from(flat[base + off]) << bit;
            }
            if index == 0 || index == 0xF {
                continue;
            }
            for &[from, to] in SEGMENTS[index] {
                let a = at(iy, ix, from);
                let b = at(iy, ix, to);
                surface += a[0] * b[1] - b[0] * a[1];
                let d0 = a[0] - b[0];
                let d1 = a[1] - b[1];
                perimeter += (d0 * d0 + d1 * d1).sqrt();
            }
            // A vertex lies on the left edge when the upper-left and lower-left pixels differ,
            // on the bottom edge when the two lower pixels differ.
            let low_left = index & 8 != 0;
            for (corner, edge) in [(0usize, 3usize), (2, 2)] {
                if (index & (1 << corner) != 0) != low_left {
                    let m = EDGE_MIDPOINTS[edge];
                    keys.push([
                        2 * iy as i64 + (2.0 * m[0]) as i64,
                        2 * ix as i64 + (2.0 * m[1]) as i64,
                    ]);
                    points.push(at(iy, ix, edge));
                }
            }
        }
    }
    surface /= 2.0;

    // The farthest pair, among the corners of the outline's convex hull.
    let keep = hull_corners(&keys);
    let corners: Vec<[f64; 2]> = points
        .iter()
        .zip(&keep)
        .filter(|&(_, &k)| k)
        .map(|(p, _)| *p)
        .collect();
    let mut best = 0.0f64;
    for (i, a) in corners.iter().enumerate() {
        for b in &corners[..i] {
            let d0 = a[0] - b[0];
            let d1 = a[1] - b[1];
            let d = d0 * d0 + d1 * d1;
            if d > best {
                best = d;
            }
        }
    }
    Mesh {
        perimeter,
        surface,
        diameter: best.sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hull_diameter_equals_all_pairs() {
        // Random masks (a fixed linear congruential sequence) of several densities and spacings.
        let mut state = 987654321u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as f64 / (1u64 << 31) as f64
        };
        for case in 0..60 {
            let (h, w) = (1 + case % 13, 1 + case % 17);
            let density = 0.15 + 0.1 * (case % 8) as f64;
            let mut mask = Array2::from_elem((h + 2, w + 2), false);
            for y in 1..=h {
                for x in 1..=w {
                    mask[[y, x]] = next() < density;
                }
            }
            let spacing = [0.3 + next(), 0.3 + next()];
            let mesh = march(&mask, spacing);
            // pyradiomics' search: every pair of outline vertices.
            let mut points = Vec::new();
            for iy in 0..h + 1 {
                for ix in 0..w + 1 {
                    let low_left = mask[[iy + 1, ix]];
                    if mask[[iy, ix]] != low_left {
                        points.push(((iy as f64 + 0.5) * spacing[0], ix as f64 * spacing[1]));
                    }
                    if mask[[iy + 1, ix + 1]] != low_left {
                        points.push((
                            (iy as f64 + 1.0) * spacing[0],
                            (ix as f64 + 0.5) * spacing[1],
                        ));
                    }
                }
            }
            let mut best = 0.0f64;
            for (i, a) in points.iter().enumerate() {
                for b in &points[..i] {
                    best = best.max((a.0 - b.0) * (a.0 - b.0) + (a.1 - b.1) * (a.1 - b.1));
                }
            }
            assert_eq!(mesh.diameter, best.sqrt(), "case {case}");
        }
    }
}
