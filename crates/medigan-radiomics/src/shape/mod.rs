//! Shape features of the mask, cropped to its bounding box: `shape2D` for 2D input (or 3D with
//! `force2D`) and `shape` for volumes, as pyradiomics computes them (its marching squares and
//! marching cubes meshes).

pub mod shape2d;
pub mod shape3d;

/// Eigenvalues of the covariance of the physical coordinates of the selected voxels, as
/// pyradiomics computes them for the axis lengths: coordinates (index times `spacing`, both in
/// array order) centred on their mean and divided by `sqrt(Np)`, covariance `X^T X`, its
/// eigenvalues sorted ascending, with values in `(-1e-10, 0)` rounded to 0 (numpy's
/// `linalg.eigvals` of the same matrix; here by Jacobi rotations, the matrix being symmetric).
pub(crate) fn axis_eigenvalues<const N: usize>(
    coords: &[[usize; N]],
    spacing: [f64; N],
) -> [f64; N] {
    let np = coords.len() as f64;
    let mut mean = [0.0; N];
    for c in coords {
        for d in 0..N {
            mean[d] += c[d] as f64 * spacing[d];
        }
    }
    for m in &mut mean {
        *m /= np;
    }
    let norm = np.sqrt();
    let mut cov = [[0.0; N]; N];
    for c in coords {
        let mut x = [0.0; N];
        for d in 0..N {
            x[d] = (c[d] as f64 * spacing[d] - mean[d]) / norm;
        }
        for i in 0..N {
            for j in 0..N {
                cov[i][j] += x[i] * x[j];
            }
        }
    }
    let mut ev = symmetric_eigenvalues(cov);
    for v in &mut ev {
        if *v < 0.0 && *v > -1e-10 {
            *v = 0.0;
        }
    }
    ev.sort_by(f64::total_cmp);
    ev
}

/// Eigenvalues of a small symmetric matrix by cyclic Jacobi rotations (unsorted).
#[allow(clippy::needless_range_loop)] // matrix indices read better than iterators here
fn symmetric_eigenvalues<const N: usize>(mut a: [[f64; N]; N]) -> [f64; N] {
    for _sweep in 0..64 {
        let off: f64 = (0..N)
            .flat_map(|p| ((p + 1)..N).map(move |q| (p, q)))
            .map(|(p, q)| a[p][q] * a[p][q])
            .sum();
        if off == 0.0 {
            break;
        }
        for p in 0..N {
            for q in (p + 1)..N {
                let apq = a[p][q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * apq);
                let t = if theta.abs() > 1e150 {
                    0.5 / theta
                } else {
                    theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt())
                };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                a[p][p] -= t * apq;
                a[q][q] += t * apq;
                a[p][q] = 0.0;
                a[q][p] = 0.0;
                for r in 0..N {
                    if r != p && r != q {
                        let arp = a[r][p];
                        let arq = a[r][q];
                        a[r][p] = c * arp - s * arq;
                        a[p][r] = a[r][p];
                        a[r][q] = s * arp + c * arq;
                        a[q][r] = a[r][q];
                    }
                }
            }
        }
    }
    std::array::from_fn(|i| a[i][i])
}

/// Keeps the points that are not strictly inside any axis-aligned line of points along the
/// `axes` given (`keep[i]` false when another point on the same line along one of `axes` lies on
/// each side of point `i`). Such an interior point is never an end of a farthest pair (the
/// distance to a point is strictly convex along a line that does not contain it), nor of a
/// farthest pair within a plane containing those axes, so the diameters can be searched among
/// the kept points only: this turns pyradiomics' all-pairs search over every mesh vertex into
/// one over the outline of the mesh, with the same result.
pub(crate) fn line_extremes<const N: usize>(points: &[[i64; N]], axes: &[usize]) -> Vec<bool> {
    use std::collections::HashMap;
    let mut keep = vec![true; points.len()];
    for &axis in axes {
        let key = |p: &[i64; N]| {
            let mut k = *p;
            k[axis] = 0;
            k
        };
        let mut range: HashMap<[i64; N], (i64, i64)> = HashMap::new();
        for p in points {
            let r = range.entry(key(p)).or_insert((p[axis], p[axis]));
            r.0 = r.0.min(p[axis]);
            r.1 = r.1.max(p[axis]);
        }
        for (k, p) in keep.iter_mut().zip(points) {
            let (lo, hi) = range[&key(p)];
            if p[axis] > lo && p[axis] < hi {
                *k = false;
            }
        }
    }
    keep
}
