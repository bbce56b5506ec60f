//! The pyradiomics settings that change feature values, with pyradiomics' defaults.

/// How the image is resampled to `resampled_pixel_spacing` (SimpleITK's interpolators).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolator {
    /// `sitkNearestNeighbor`.
    NearestNeighbor,
    /// `sitkLinear`.
    Linear,
    /// `sitkBSpline` (cubic B-spline, pyradiomics' default).
    BSpline,
}

/// Extraction settings under pyradiomics' names (doc of each field).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `normalize`: z-score the image over all voxels before anything else.
    pub normalize: bool,
    /// `normalizeScale`: factor applied after normalising.
    pub normalize_scale: f64,
    /// `removeOutliers`: clip to mean +- this many standard deviations when normalising.
    pub remove_outliers: Option<f64>,
    /// `resampledPixelSpacing` `(x, y, z)`; a 0 keeps that axis' spacing. `None`: no resampling.
    pub resampled_pixel_spacing: Option<[f64; 3]>,
    /// `interpolator` for the image (the mask always uses nearest neighbour).
    pub interpolator: Interpolator,
    /// `padDistance`: voxels kept around the mask's bounding box when resampling.
    pub pad_distance: usize,
    /// `preCrop`: crop to the mask (plus `pad_distance`) before resampling.
    pub pre_crop: bool,
    /// `force2D`: texture matrices in 2D slices only.
    pub force_2d: bool,
    /// `force2Ddimension`: the axis (0 = z) across which slices are taken when `force_2d`.
    pub force_2d_dimension: usize,
    /// `binWidth`: the width of a gray-level bin when discretising.
    pub bin_width: f64,
    /// `voxelArrayShift`: added before first-order energy features.
    pub voxel_array_shift: f64,
    /// `label`: the mask value selected.
    pub label: u8,
    /// `correctMask`: resample a mask whose grid differs from the image's instead of failing.
    pub correct_mask: bool,
    /// `minimumROIDimensions`: the mask must span at least this many axes.
    pub minimum_roi_dimensions: usize,
    /// `minimumROISize`: the mask must hold at least this many voxels (`None`: no minimum).
    pub minimum_roi_size: Option<usize>,
    /// `distances`: neighbour distances of GLCM, NGTDM and GLDM.
    pub distances: Vec<usize>,
    /// `symmetricalGLCM`: count each pair in both directions.
    pub symmetrical_glcm: bool,
    /// `gldm_a`: the gray-level difference under which GLDM neighbours are dependent.
    pub gldm_a: f64,
    /// `sigma` of the LoG image type, in mm.
    pub log_sigma: Vec<f64>,
    /// `wavelet` of the wavelet image type (only `coif1` is supported).
    pub wavelet: String,
    /// `start_level` of the wavelet image type.
    pub wavelet_start_level: usize,
    /// `level` of the wavelet image type.
    pub wavelet_level: usize,
}

impl Default for Settings {
    /// pyradiomics' defaults (`RadiomicsFeatureExtractor._getDefaultSettings` and the classes').
    fn default() -> Settings {
        Settings {
            normalize: false,
            normalize_scale: 1.0,
            remove_outliers: None,
            resampled_pixel_spacing: None,
            interpolator: Interpolator::BSpline,
            pad_distance: 5,
            pre_crop: false,
            force_2d: false,
            force_2d_dimension: 0,
            bin_width: 25.0,
            voxel_array_shift: 0.0,
            label: 1,
            correct_mask: false,
            minimum_roi_dimensions: 2,
            minimum_roi_size: None,
            distances: vec![1],
            symmetrical_glcm: true,
            gldm_a: 0.0,
            log_sigma: Vec::new(),
            wavelet: "coif1".to_string(),
            wavelet_start_level: 0,
            wavelet_level: 1,
        }
    }
}
