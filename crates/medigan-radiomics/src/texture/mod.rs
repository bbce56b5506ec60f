//! Feature classes computed on an image cropped to its mask: first order and the texture
//! matrices. Each module's `compute(roi, settings)` returns every feature pyradiomics enables
//! for the class by default, in pyradiomics' order.

pub mod discretize;
pub mod firstorder;
pub mod glcm;
pub mod gldm;
pub mod glrlm;
pub mod glszm;
pub mod ngtdm;

use ndarray::ArrayView3;

/// An image cropped to its mask's bounding box (no padding), with the mask and the spacing.
#[derive(Debug, Clone, Copy)]
pub struct Roi<'a> {
    /// Voxel values `[z, y, x]`.
    pub image: ArrayView3<'a, f64>,
    /// The voxels inside the region, same shape.
    pub mask: ArrayView3<'a, bool>,
    /// Voxel spacing `(x, y, z)`.
    pub spacing: [f64; 3],
    /// 2 for a 2D SimpleITK image, 3 for a volume (a 2D image as `(1, H, W)` is 3).
    pub dims: usize,
    /// Whether pyradiomics holds this image as `float32` (images read as SimpleITK `Float32`
    /// and the filters' outputs): its discretisation then rounds as `float32` does.
    pub f32_precision: bool,
    /// The region already binned with the settings' `binWidth` and this precision, when the
    /// caller binned it once for every class ([`crate::extractor::Extractor`] does);
    /// [`discretize::discretize`] then returns it instead of binning again.
    pub binned: Option<&'a discretize::Discretized>,
}
