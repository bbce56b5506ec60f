//! Where and how a run writes its samples ([`WriteTarget`]), and a sample's files' bytes in the
//! run's format ([`encode_parts`]): what the pipeline and the tar packer both take.

use std::path::Path;

use super::tar_layout::Pack;
use super::{GenerateError, RunMode};
use crate::dataset::manifest::ManifestHeader;
use crate::formats::{Encoding, Part, Provenance, SampleWriter};
use crate::sample::Sample;

/// Where and how a run writes its samples.
pub struct WriteTarget<'a> {
    /// The output directory (created if missing).
    pub dir: &'a Path,
    /// The format's writer.
    pub writer: &'a dyn SampleWriter,
    /// The manifest's first line.
    pub header: ManifestHeader,
    /// The manifest's file name.
    pub manifest_name: String,
    /// Value range of the image output.
    pub image_range: [f64; 2],
    /// Value range of the mask output, for image+mask models.
    pub mask_range: Option<[f64; 2]>,
    /// Provenance embedded by formats with metadata.
    pub provenance: Provenance,
    /// Digits of the file numbers.
    pub digits: usize,
    /// What to do with an earlier run of this shard in the folder.
    pub mode: RunMode,
    /// Pack the samples into tar files (`--pack tar`) instead of one file per part.
    pub pack: Option<Pack>,
}

/// The bytes of a sample's image (and mask) in the run's format.
pub(super) fn encode_parts(
    sample: &Sample,
    target: &WriteTarget<'_>,
) -> Result<Vec<(Part, Vec<u8>)>, GenerateError> {
    let mut parts = vec![(Part::Image, &sample.image, target.image_range)];
    if let (Some(mask), Some(range)) = (&sample.mask, target.mask_range) {
        parts.push((Part::Mask, mask, range));
    }
    let mut encoded = Vec::with_capacity(parts.len());
    for (part, array, range) in parts {
        let encoding = Encoding {
            index: sample.index,
            part,
            range,
            provenance: &target.provenance,
        };
        encoded.push((part, target.writer.encode(array, &encoding)?));
    }
    Ok(encoded)
}
