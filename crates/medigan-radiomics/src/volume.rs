//! An image or mask on a grid, as SimpleITK holds it.

use ndarray::Array3;

/// Where the voxels of a volume lie in space (ITK order `(x, y, z)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Geometry {
    /// 2 for a 2D SimpleITK image (then the array has `z = 1`), 3 for a volume.
    pub dims: usize,
    /// Voxel spacing `(x, y, z)`; `z` is 1 for a 2D image.
    pub spacing: [f64; 3],
    /// Physical position of voxel `[0, 0, 0]`, `(x, y, z)`.
    pub origin: [f64; 3],
    /// Direction cosines, row-major 3x3 (identity for PNG images).
    pub direction: [f64; 9],
}

impl Geometry {
    /// Unit spacing, zero origin and identity direction, for `dims` 2 or 3.
    pub fn unit(dims: usize) -> Geometry {
        Geometry {
            dims,
            spacing: [1.0; 3],
            origin: [0.0; 3],
            direction: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        }
    }
}

/// Voxel values indexed `[z, y, x]` with their geometry. Images hold `f64` (values read as
/// SimpleITK `Float32` are exact in it); masks hold `bool` (the selected label).
#[derive(Debug, Clone, PartialEq)]
pub struct Volume<T> {
    /// The voxels, `[z, y, x]`.
    pub data: Array3<T>,
    /// Their place in space.
    pub geometry: Geometry,
}
