//! The mask's bounding box and pyradiomics' `cropToTumorMask`.

use ndarray::{Array3, s};

use crate::volume::{Geometry, Volume};

/// The smallest box holding every voxel of a mask, as pyradiomics' `checkMask` returns it
/// (`LabelStatisticsImageFilter.GetBoundingBox`), with inclusive bounds in array order `[z, y, x]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundingBox {
    /// First voxel of the box along `[z, y, x]`.
    pub lower: [usize; 3],
    /// Last voxel of the box along `[z, y, x]` (inclusive).
    pub upper: [usize; 3],
}

impl BoundingBox {
    /// The box of the `true` voxels of `mask`, or `None` when there is none.
    pub fn of(mask: &Array3<bool>) -> Option<BoundingBox> {
        let mut lower = [usize::MAX; 3];
        let mut upper = [0usize; 3];
        let mut any = false;
        for (z, plane) in mask.outer_iter().enumerate() {
            for (y, row) in plane.outer_iter().enumerate() {
                let Some(first) = row.iter().position(|&v| v) else {
                    continue;
                };
                let last = row.len() - 1 - row.iter().rev().position(|&v| v).unwrap_or(0);
                any = true;
                for (axis, (lo, hi)) in [(z, z), (y, y), (first, last)].into_iter().enumerate() {
                    lower[axis] = lower[axis].min(lo);
                    upper[axis] = upper[axis].max(hi);
                }
            }
        }
        any.then_some(BoundingBox { lower, upper })
    }

    /// Number of voxels the box spans along `[z, y, x]`.
    pub fn size(&self) -> [usize; 3] {
        [0, 1, 2].map(|a| self.upper[a] - self.lower[a] + 1)
    }

    /// pyradiomics' form `(L_x, U_x, L_y, U_y[, L_z, U_z])` for an image of `dims` dimensions.
    pub fn to_pyradiomics(&self, dims: usize) -> Vec<usize> {
        (0..dims)
            .flat_map(|a| [self.lower[2 - a], self.upper[2 - a]])
            .collect()
    }
}

/// The physical point of an integer index `(x, y, z)`, as ITK's `TransformIndexToPhysicalPoint`
/// computes it (`origin`, then each column of `direction * spacing` added in turn).
pub(crate) fn index_to_physical(geometry: &Geometry, index: [f64; 3]) -> [f64; 3] {
    let d = geometry.dims;
    let mut point = geometry.origin;
    for (i, p) in point.iter_mut().enumerate().take(d) {
        for (j, &idx) in index.iter().enumerate().take(d) {
            *p += geometry.direction[i * 3 + j] * geometry.spacing[j] * idx;
        }
    }
    point
}

/// pyradiomics' `cropToTumorMask`: image and mask cropped to `bbox` grown by `pad` voxels on
/// each side (clipped to the volume), with the origin moved to the first kept voxel as
/// SimpleITK's `CropImageFilter` does.
pub fn crop_to_mask(
    image: &Volume<f64>,
    mask: &Volume<bool>,
    bbox: &BoundingBox,
    pad: usize,
) -> (Volume<f64>, Volume<bool>) {
    let shape = mask.data.shape();
    let lo = [0, 1, 2].map(|a| bbox.lower[a].saturating_sub(pad).min(shape[a] - 1));
    let hi = [0, 1, 2].map(|a| (bbox.upper[a].saturating_add(pad)).min(shape[a] - 1));
    let slice = s![lo[0]..=hi[0], lo[1]..=hi[1], lo[2]..=hi[2]];
    let mut geometry = mask.geometry.clone();
    geometry.origin = index_to_physical(&mask.geometry, [lo[2] as f64, lo[1] as f64, lo[0] as f64]);
    let mut image_geometry = image.geometry.clone();
    image_geometry.origin =
        index_to_physical(&image.geometry, [lo[2] as f64, lo[1] as f64, lo[0] as f64]);
    (
        Volume {
            data: image.data.slice(slice).to_owned(),
            geometry: image_geometry,
        },
        Volume {
            data: mask.data.slice(slice).to_owned(),
            geometry,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    fn unit<T>(data: Array3<T>) -> Volume<T> {
        Volume {
            data,
            geometry: Geometry::unit(3),
        }
    }

    #[test]
    fn box_and_crop_with_padding_clipped_at_the_border() {
        let mut m = Array3::from_elem((3, 6, 7), false);
        m[[1, 1, 2]] = true;
        m[[1, 3, 5]] = true;
        let bb = BoundingBox::of(&m).unwrap();
        assert_eq!(bb.lower, [1, 1, 2]);
        assert_eq!(bb.upper, [1, 3, 5]);
        assert_eq!(bb.size(), [1, 3, 4]);
        assert_eq!(bb.to_pyradiomics(3), vec![2, 5, 1, 3, 1, 1]);
        let img = Array3::from_shape_fn((3, 6, 7), |(z, y, x)| (z * 100 + y * 10 + x) as f64);
        let mut image = unit(img);
        image.geometry.spacing = [0.5, 2.0, 3.0];
        image.geometry.origin = [1.0, 1.0, 1.0];
        let mut mask = unit(m);
        mask.geometry = image.geometry.clone();
        let (ci, cm) = crop_to_mask(&image, &mask, &bb, 1);
        assert_eq!(ci.data.shape(), &[3, 5, 6]);
        assert_eq!(ci.data[[0, 0, 0]], 1.0);
        assert_eq!(cm.data.iter().filter(|&&v| v).count(), 2);
        assert_eq!(ci.geometry.origin, [1.5, 1.0, 1.0]);
        assert!(BoundingBox::of(&Array3::from_elem((1, 2, 2), false)).is_none());
    }
}
