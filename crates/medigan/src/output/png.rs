//! 8-bit PNG: grayscale, RGB or RGBA images, values mapped linearly from the model's range.

use image::{ExtendedColorType, ImageEncoder, codecs::png::PngEncoder};
use ndarray::ArrayD;

use super::{Encoding, OutputError, SampleWriter};

/// Writes 2D samples as 8-bit PNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct PngWriter;

impl SampleWriter for PngWriter {
    fn extension(&self) -> &'static str {
        "png"
    }

    fn check(&self, shape: &[usize]) -> Result<(), OutputError> {
        match shape {
            [1 | 3 | 4, _, _] => Ok(()),
            [_, _, _, _] => Err(unsupported("3D volumes".into(), "use --format npy")),
            [c, _, _] => Err(unsupported(
                format!("{c} channels"),
                "PNG holds 1 (gray), 3 (RGB) or 4 (RGBA); use --format npy",
            )),
            other => Err(unsupported(
                format!("arrays of shape {other:?}"),
                "use --format npy",
            )),
        }
    }

    fn encode(&self, array: &ArrayD<f32>, encoding: &Encoding<'_>) -> Result<Vec<u8>, OutputError> {
        self.check(array.shape())?;
        let (channels, height, width) = (array.shape()[0], array.shape()[1], array.shape()[2]);
        let pixels = interleave(array, encoding.range);
        let color = match channels {
            1 => ExtendedColorType::L8,
            3 => ExtendedColorType::Rgb8,
            _ => ExtendedColorType::Rgba8,
        };
        let mut bytes = Vec::with_capacity(pixels.len() / 2 + 64);
        PngEncoder::new(&mut bytes)
            .write_image(&pixels, width as u32, height as u32, color)
            .map_err(|e| OutputError::Encode {
                format: "png",
                index: encoding.index,
                reason: e.to_string(),
            })?;
        Ok(bytes)
    }

    fn value_mapping(&self, range: [f64; 2]) -> Option<String> {
        Some(format!(
            "linear: {} -> 0, {} -> 255, clamped, rounded to nearest",
            range[0], range[1]
        ))
    }
}

fn unsupported(what: String, hint: &'static str) -> OutputError {
    OutputError::Unsupported {
        format: "png",
        what,
        hint,
    }
}

/// `[C, H, W]` planes to interleaved 8-bit pixels.
fn interleave(array: &ArrayD<f32>, range: [f64; 2]) -> Vec<u8> {
    let (channels, height, width) = (array.shape()[0], array.shape()[1], array.shape()[2]);
    let scale = 255.0 / (range[1] - range[0]) as f32;
    let low = range[0] as f32;
    let mut out = vec![0u8; channels * height * width];
    for ((c, y, x), value) in array
        .view()
        .into_dimensionality::<ndarray::Ix3>()
        .expect("checked to be [C, H, W]")
        .indexed_iter()
    {
        let level = ((value - low) * scale).round().clamp(0.0, 255.0);
        out[(y * width + x) * channels + c] = level as u8;
    }
    out
}
