//! pyradiomics `prepare` step (filled in by its owner).
/// stub
pub struct BoundingBox;
/// stub
pub struct Prepared {
    pub image: crate::Volume<f64>,
    pub mask: crate::Volume<bool>,
    pub bbox: BoundingBox,
    pub diagnostics: Vec<(String, f64)>,
}
/// stub
pub fn prepare(
    _image: crate::Volume<f64>,
    _mask: crate::Volume<bool>,
    _settings: &crate::Settings,
) -> Result<Prepared, crate::RadiomicsError> {
    todo!()
}
