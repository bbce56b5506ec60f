//! pyradiomics `crop` step (filled in by its owner).
/// stub
pub fn crop_to_mask(
    _image: &crate::Volume<f64>,
    _mask: &crate::Volume<bool>,
    _bbox: &super::prepare::BoundingBox,
    _pad: usize,
) -> (crate::Volume<f64>, crate::Volume<bool>) {
    todo!()
}
