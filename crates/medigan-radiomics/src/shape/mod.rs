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
/// `coords` yields the voxel indices (twice: once for the mean, once for the covariance).
#[allow(clippy::needless_range_loop)] // matrix indices read better than iterators here
pub(crate) fn axis_eigenvalues<const N: usize, I>(coords: I, spacing: [f64; N]) -> [f64; N]
where
    I: Iterator<Item = [usize; N]> + Clone,
{
    let mut np = 0usize;
    let mut mean = [0.0; N];
    for c in coords.clone() {
        np += 1;
        for d in 0..N {
            mean[d] += c[d] as f64 * spacing[d];
        }
    }
    let np = np as f64;
    for m in &mut mean {
        *m /= np;
    }
    let norm = np.sqrt();
    let mut cov = [[0.0; N]; N];
    for c in coords {
        let x: [f64; N] = std::array::from_fn(|d| (c[d] as f64 * spacing[d] - mean[d]) / norm);
        for i in 0..N {
            for j in i..N {
                cov[i][j] += x[i] * x[j];
            }
        }
    }
    for i in 0..N {
        for j in 0..i {
            cov[i][j] = cov[j][i];
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

/// Marks the vertices of the convex hull of `points` (distinct points of a plane, in doubled grid
/// units so that the test is exact): `true` for a corner of the hull, `false` for a point inside
/// it or on one of its edges. Such a point is never an end of a farthest pair, neither in the
/// plane nor in space (the squared distance to any point is strictly convex, so it is smaller at
/// a convex combination than at one of the corners combined); the diameters can thus be searched
/// among the hull corners only, which makes pyradiomics' all-pairs search over every mesh vertex
/// a search over a few, with the same result.
pub(crate) fn hull_corners(points: &[[i64; 2]]) -> Vec<bool> {
    let n = points.len();
    if n <= 2 {
        return vec![true; n];
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by_key(|&i| points[i]);
    let turn = |o: usize, a: usize, b: usize| {
        let (o, a, b) = (points[o], points[a], points[b]);
        (a[0] - o[0]) as i128 * (b[1] - o[1]) as i128
            - (a[1] - o[1]) as i128 * (b[0] - o[0]) as i128
    };
    // Andrew's monotone chain; a point is popped unless the chain turns strictly at it.
    let mut chain: Vec<usize> = Vec::with_capacity(2 * n);
    for pass in [
        &order[..],
        &order.iter().rev().copied().collect::<Vec<_>>()[..],
    ] {
        let start = chain.len();
        for &i in pass {
            while chain.len() >= start + 2
                && turn(chain[chain.len() - 2], chain[chain.len() - 1], i) <= 0
            {
                chain.pop();
            }
            chain.push(i);
        }
    }
    let mut keep = vec![false; n];
    for i in chain {
        keep[i] = true;
    }
    keep
}
