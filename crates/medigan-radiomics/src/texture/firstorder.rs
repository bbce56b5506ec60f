//! pyradiomics `firstorder` (filled in by its owner).
/// stub
pub fn compute(_roi: &super::Roi<'_>, _settings: &crate::Settings) -> crate::Features {
    todo!()
}
