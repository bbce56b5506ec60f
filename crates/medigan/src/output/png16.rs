//! 16-bit grayscale PNG: the model's value range mapped linearly onto 0..65535.

use image::{ExtendedColorType, ImageEncoder, codecs::png::PngEncoder};
use ndarray::ArrayD;

use super::{Encoding, OutputError, SampleWriter, quantise};

/// Writes single-channel 2D samples as 16-bit grayscale PNG (Pillow mode `I;16`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Png16Writer;

impl SampleWriter for Png16Writer {
    fn extension(&self) -> &'static str {
        "png"
    }

    fn check(&self, shape: &[usize]) -> Result<(), OutputError> {
        let unsupported = |what: String, hint| OutputError::Unsupported {
            format: "png16",
            what,
            hint,
        };
        match shape {
            [1, h, w] if u32::try_from(*h).is_ok() && u32::try_from(*w).is_ok() => Ok(()),
            [_, _, _, _] => Err(unsupported(
                "3D volumes".into(),
                "use --format nifti, nifti-gz or npy",
            )),
            [c, _, _] if *c != 1 => Err(unsupported(
                format!("{c} channels"),
                "16-bit PNG is written as grayscale only; use --format png (8-bit RGB/RGBA) or npy",
            )),
            other => Err(unsupported(
                format!("arrays of shape {other:?}"),
                "use --format npy",
            )),
        }
    }

    fn encode(&self, array: &ArrayD<f32>, encoding: &Encoding<'_>) -> Result<Vec<u8>, OutputError> {
        self.check(array.shape())?;
        let (height, width) = (array.shape()[1], array.shape()[2]);
        // `write_image` takes 16-bit samples in native byte order and writes PNG's big-endian.
        let mut pixels = Vec::with_capacity(height * width * 2);
        for value in array.iter() {
            pixels.extend_from_slice(&quantise(*value, encoding.range, 65535).to_ne_bytes());
        }
        let mut bytes = Vec::with_capacity(pixels.len() / 2 + 64);
        PngEncoder::new(&mut bytes)
            .write_image(&pixels, width as u32, height as u32, ExtendedColorType::L16)
            .map_err(|e| OutputError::Encode {
                format: "png16",
                index: encoding.index,
                reason: e.to_string(),
            })?;
        Ok(bytes)
    }

    fn value_mapping(&self, range: [f64; 2]) -> Option<String> {
        Some(format!(
            "linear: {} -> 0, {} -> 65535 (16-bit gray), clamped, rounded to nearest",
            range[0], range[1]
        ))
    }
}
