//! pyradiomics `shape2D` (filled in by its owner).
/// stub
pub fn compute(
    _mask: &crate::Volume<bool>,
    _settings: &crate::Settings,
) -> Result<crate::Features, crate::RadiomicsError> {
    todo!()
}
