//! The whole extraction, as pyradiomics' `RadiomicsFeatureExtractor.execute` runs it for a
//! configuration ([`Config`]): prepare the image and mask, shape features, then every enabled
//! class on every image type, with pyradiomics' feature names and order.

use crate::filters::{crop, log, prepare, wavelet};
use crate::settings::Settings;
use crate::shape::{shape2d, shape3d};
use crate::texture::discretize::discretize;
use crate::texture::{Roi, firstorder, glcm, gldm, glrlm, glszm, ngtdm};
use crate::{Features, RadiomicsError, Volume};

/// A derived image the features are computed on (pyradiomics' image types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    /// The prepared image itself (`original`).
    Original,
    /// Laplacian of Gaussian images, one per `Settings::log_sigma` (`log-sigma-2-0-mm-3D`, ...).
    LoG,
    /// Undecimated wavelet sub-bands (`wavelet-LH`, ...).
    Wavelet,
}

/// A pyradiomics feature class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureClass {
    /// `firstorder`.
    FirstOrder,
    /// `glcm`.
    Glcm,
    /// `glrlm`.
    Glrlm,
    /// `glszm`.
    Glszm,
    /// `gldm`.
    Gldm,
    /// `ngtdm`.
    Ngtdm,
    /// `shape` (3D masks).
    Shape,
    /// `shape2D` (2D masks, or 3D with `force2D`).
    Shape2D,
}

impl FeatureClass {
    /// pyradiomics' name of the class, as it appears in feature names.
    pub fn name(self) -> &'static str {
        match self {
            FeatureClass::FirstOrder => "firstorder",
            FeatureClass::Glcm => "glcm",
            FeatureClass::Glrlm => "glrlm",
            FeatureClass::Glszm => "glszm",
            FeatureClass::Gldm => "gldm",
            FeatureClass::Ngtdm => "ngtdm",
            FeatureClass::Shape => "shape",
            FeatureClass::Shape2D => "shape2D",
        }
    }

    fn is_shape(self) -> bool {
        matches!(self, FeatureClass::Shape | FeatureClass::Shape2D)
    }
}

/// One enabled class: all its default features (`None`) or the named ones, in that order.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassSelection {
    /// The class.
    pub class: FeatureClass,
    /// The features to keep, in this order; `None` keeps pyradiomics' default set and order.
    pub features: Option<Vec<&'static str>>,
}

/// What to extract: settings, image types, classes (in pyradiomics' `enabledFeatures` order)
/// and whether the numeric diagnostics are features too (as `frd-score` v1 keeps them).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// pyradiomics settings.
    pub settings: Settings,
    /// Image types in order.
    pub image_types: Vec<ImageType>,
    /// Enabled classes in order.
    pub classes: Vec<ClassSelection>,
    /// Keep the numeric `diagnostics_*` values as leading features.
    pub diagnostics: bool,
}

/// The 22 GLCM features of frd-score's v1 configurations, in the YAML's order.
pub const FRD_V1_GLCM: [&str; 22] = [
    "Autocorrelation",
    "JointAverage",
    "ClusterProminence",
    "ClusterShade",
    "ClusterTendency",
    "Contrast",
    "Correlation",
    "DifferenceAverage",
    "DifferenceEntropy",
    "DifferenceVariance",
    "JointEnergy",
    "JointEntropy",
    "Imc1",
    "Imc2",
    "Idm",
    "Idmn",
    "Id",
    "Idn",
    "InverseVariance",
    "MaximumProbability",
    "SumEntropy",
    "SumSquares",
];

fn all(class: FeatureClass) -> ClassSelection {
    ClassSelection {
        class,
        features: None,
    }
}

impl Config {
    /// frd-score v1 for 2D images (`extraction_2d.yaml`; images given as `(1, H, W)`).
    pub fn frd_v1_2d() -> Config {
        let settings = Settings {
            resampled_pixel_spacing: Some([2.0, 2.0, 0.0]),
            force_2d: true,
            ..frd_v1_settings()
        };
        Config {
            settings,
            ..frd_v1_common()
        }
    }

    /// frd-score v1 for volumes (`extraction_3d.yaml`).
    pub fn frd_v1_3d() -> Config {
        let settings = Settings {
            resampled_pixel_spacing: Some([2.0, 2.0, 2.0]),
            correct_mask: true,
            minimum_roi_dimensions: 1,
            ..frd_v1_settings()
        };
        Config {
            settings,
            ..frd_v1_common()
        }
    }

    /// frd-score v0: pyradiomics' defaults with `correctMask` and `minimumROIDimensions` 1, the
    /// original image only, every class with every default feature.
    pub fn frd_v0() -> Config {
        let settings = Settings {
            correct_mask: true,
            minimum_roi_dimensions: 1,
            ..Settings::default()
        };
        let classes = [
            FeatureClass::FirstOrder,
            FeatureClass::Glcm,
            FeatureClass::Glrlm,
            FeatureClass::Gldm,
            FeatureClass::Glszm,
            FeatureClass::Ngtdm,
            FeatureClass::Shape,
            FeatureClass::Shape2D,
        ];
        Config {
            settings,
            image_types: vec![ImageType::Original],
            classes: classes.into_iter().map(all).collect(),
            diagnostics: false,
        }
    }
}

fn frd_v1_settings() -> Settings {
    Settings {
        normalize: true,
        normalize_scale: 100.0,
        pad_distance: 10,
        pre_crop: true,
        bin_width: 5.0,
        voxel_array_shift: 300.0,
        log_sigma: vec![2.0, 3.0, 4.0, 5.0],
        ..Settings::default()
    }
}

fn frd_v1_common() -> Config {
    Config {
        settings: Settings::default(),
        image_types: vec![ImageType::Original, ImageType::LoG, ImageType::Wavelet],
        classes: vec![
            all(FeatureClass::FirstOrder),
            ClassSelection {
                class: FeatureClass::Glcm,
                features: Some(FRD_V1_GLCM.to_vec()),
            },
            all(FeatureClass::Glrlm),
            all(FeatureClass::Glszm),
            all(FeatureClass::Ngtdm),
        ],
        diagnostics: true,
    }
}

/// Runs a [`Config`] on images: one call per (image, mask).
#[derive(Debug, Clone)]
pub struct Extractor {
    config: Config,
}

impl Extractor {
    /// An extractor for `config`; refuses a selection naming a feature its class lacks.
    pub fn new(config: Config) -> Result<Extractor, RadiomicsError> {
        if config.settings.bin_width <= 0.0 || !config.settings.bin_width.is_finite() {
            return Err(RadiomicsError::Setting {
                name: "binWidth",
                reason: format!(
                    "must be a positive number, not {}",
                    config.settings.bin_width
                ),
            });
        }
        Ok(Extractor { config })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every feature of `image` inside `mask`, named as frd-score keys them (`original_` dropped
    /// from feature names, `diagnostics_...` kept whole), in pyradiomics' order.
    pub fn extract(
        &self,
        image: Volume<f64>,
        mask: Volume<bool>,
    ) -> Result<Vec<(String, f64)>, RadiomicsError> {
        let settings = &self.config.settings;
        let prepared = prepare::prepare(image, mask, settings)?;
        let mut out = Vec::new();
        if self.config.diagnostics {
            out.extend(prepared.diagnostics.iter().cloned());
        }
        self.shape_features(&prepared, &mut out)?;
        for image_type in &self.config.image_types {
            for (type_name, image, f32_precision) in self.images_of(*image_type, &prepared)? {
                let (image, mask) = crop::crop_to_mask(&image, &prepared.mask, &prepared.bbox, 0);
                let unbinned = Roi {
                    image: image.data.view(),
                    mask: mask.data.view(),
                    spacing: image.geometry.spacing,
                    dims: image.geometry.dims,
                    f32_precision,
                    binned: None,
                };
                // Binned once for every class of this image.
                let binned = discretize(&unbinned, settings.bin_width, f32_precision);
                let roi = Roi {
                    binned: Some(&binned),
                    ..unbinned
                };
                self.texture_features(&roi, &type_name, &mut out)?;
            }
        }
        Ok(out)
    }

    /// The images of one type, each with its pyradiomics name and whether SimpleITK holds it as
    /// `Float32` (the original and wavelet images keep the prepared image's type; LoG images
    /// are always `Float32`).
    fn images_of(
        &self,
        image_type: ImageType,
        prepared: &prepare::Prepared,
    ) -> Result<Vec<(String, Volume<f64>, bool)>, RadiomicsError> {
        let settings = &self.config.settings;
        let precision = prepared.f32_precision;
        let tag = |images: Vec<(String, Volume<f64>)>, f32: bool| {
            images
                .into_iter()
                .map(|(name, image)| (name, image, f32))
                .collect()
        };
        Ok(match image_type {
            ImageType::Original => vec![("original".into(), prepared.image.clone(), precision)],
            ImageType::LoG => tag(
                log::images(&prepared.image, &prepared.mask, settings)?,
                true,
            ),
            ImageType::Wavelet => tag(
                wavelet::images(&prepared.image, &prepared.mask, settings)?,
                precision,
            ),
        })
    }

    /// The enabled texture classes (and first order) of one image type; the region is binned
    /// once for the classes that take it binned.
    fn texture_features(
        &self,
        roi: &Roi<'_>,
        type_name: &str,
        out: &mut Vec<(String, f64)>,
    ) -> Result<(), RadiomicsError> {
        let settings = &self.config.settings;
        let levels = || roi.binned.expect("the extractor bins every region");
        for selection in self.config.classes.iter().filter(|s| !s.class.is_shape()) {
            let features = match (selection.class, &selection.features) {
                (FeatureClass::Glcm, Some(names)) => {
                    let features = glcm::compute_selected(roi, settings, names)?;
                    push_all(out, type_name, selection.class, features);
                    continue;
                }
                (FeatureClass::FirstOrder, _) => firstorder::compute(roi, settings),
                (FeatureClass::Glcm, None) => glcm::compute(roi, settings),
                (FeatureClass::Ngtdm, _) => ngtdm::compute(roi, settings),
                (FeatureClass::Glrlm, _) => {
                    glrlm::compute_discretized(levels(), roi.dims, settings)
                }
                (FeatureClass::Glszm, _) => {
                    glszm::compute_discretized(levels(), roi.dims, settings)
                }
                (FeatureClass::Gldm, _) => gldm::compute_discretized(levels(), roi.dims, settings),
                (FeatureClass::Shape | FeatureClass::Shape2D, _) => continue,
            };
            push_selected(out, type_name, selection, features)?;
        }
        Ok(())
    }

    /// Shape classes on the mask cropped to its bounding box, where pyradiomics computes them.
    fn shape_features(
        &self,
        prepared: &prepare::Prepared,
        out: &mut Vec<(String, f64)>,
    ) -> Result<(), RadiomicsError> {
        let settings = &self.config.settings;
        let dims = prepared.mask.geometry.dims;
        for selection in self.config.classes.iter().filter(|s| s.class.is_shape()) {
            // pyradiomics: `shape` for volumes, `shape2D` for 2D images (its 3D-with-force2D
            // case is not used by any FRD configuration and is skipped here).
            let applies = match selection.class {
                FeatureClass::Shape => dims == 3,
                _ => dims == 2,
            };
            if !applies {
                continue;
            }
            let (_, mask) = crop::crop_to_mask(&prepared.image, &prepared.mask, &prepared.bbox, 0);
            let features = match selection.class {
                FeatureClass::Shape => shape3d::compute(&mask, settings)?,
                _ => shape2d::compute(&mask, settings)?,
            };
            push_selected(out, "original", selection, features)?;
        }
        Ok(())
    }
}

/// frd-score's name of a feature: `<type>_<class>_<feature>`, with the `original_` prefix
/// dropped.
fn feature_name(type_name: &str, class: FeatureClass, feature: &str) -> String {
    match type_name {
        "original" => format!("{}_{feature}", class.name()),
        other => format!("{other}_{}_{feature}", class.name()),
    }
}

/// Appends features as they come.
fn push_all(
    out: &mut Vec<(String, f64)>,
    type_name: &str,
    class: FeatureClass,
    features: Features,
) {
    out.extend(
        features
            .into_iter()
            .map(|(f, v)| (feature_name(type_name, class, f), v)),
    );
}

/// Appends a class's features (all, or the selection in its order) under frd-score's names.
fn push_selected(
    out: &mut Vec<(String, f64)>,
    type_name: &str,
    selection: &ClassSelection,
    features: Features,
) -> Result<(), RadiomicsError> {
    let class = selection.class;
    match &selection.features {
        None => push_all(out, type_name, class, features),
        Some(wanted) => {
            for feature in wanted {
                let value = features
                    .iter()
                    .find(|(f, _)| f == feature)
                    .map(|&(_, v)| v)
                    .ok_or_else(|| RadiomicsError::Setting {
                        name: "featureClass",
                        reason: format!("class `{}` has no feature `{feature}`", class.name()),
                    })?;
                out.push((feature_name(type_name, class, feature), value));
            }
        }
    }
    Ok(())
}
