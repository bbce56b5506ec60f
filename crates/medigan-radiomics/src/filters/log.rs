//! pyradiomics `log` step (filled in by its owner).
/// stub
pub fn images(
    _image: &crate::Volume<f64>,
    _mask: &crate::Volume<bool>,
    _settings: &crate::Settings,
) -> Result<Vec<(String, crate::Volume<f64>)>, crate::RadiomicsError> {
    todo!()
}
