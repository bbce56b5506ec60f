//! PNG, written and read. Writes: 8-bit PNG (gray, RGB or RGBA) and 16-bit gray PNG (Pillow mode
//! `I;16`), values mapped linearly from the model's range ([`super::quantize`]). Reads: PNG (and
//! JPEG, TIFF, BMP, through the same decoder) as [`Raster`] levels at the file's own bit depth,
//! so 16-bit images keep their 16 bits.

use super::FormatError;
use std::path::Path;

use image::{ColorType, DynamicImage, ExtendedColorType, ImageEncoder, codecs::png::PngEncoder};
use ndarray::{Array3, ArrayD};

use super::quantize;
use super::{Encoding, OutputError, SampleWriter};

/// Writes 2D samples as 8-bit PNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct PngWriter;

impl SampleWriter for PngWriter {
    fn extension(&self) -> &'static str {
        "png"
    }

    fn check(&self, shape: &[usize]) -> Result<(), OutputError> {
        let unsupported = |what, hint| unsupported("png", what, hint);
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
        encode_u8(array, encoding.range).map_err(|reason| OutputError::Encode {
            format: "png",
            index: encoding.index,
            reason,
        })
    }

    fn value_mapping(&self, range: [f64; 2]) -> Option<String> {
        Some(format!(
            "linear: {} -> 0, {} -> 255, clamped, rounded to nearest",
            range[0], range[1]
        ))
    }
}

/// Writes single-channel 2D samples as 16-bit grayscale PNG (Pillow mode `I;16`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Png16Writer;

impl SampleWriter for Png16Writer {
    fn extension(&self) -> &'static str {
        "png"
    }

    fn check(&self, shape: &[usize]) -> Result<(), OutputError> {
        let unsupported = |what, hint| unsupported("png16", what, hint);
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
            pixels.extend_from_slice(&quantize::to_u16(*value, encoding.range).to_ne_bytes());
        }
        png_bytes(&pixels, [width, height], ExtendedColorType::L16).map_err(|reason| {
            OutputError::Encode {
                format: "png16",
                index: encoding.index,
                reason,
            }
        })
    }

    fn value_mapping(&self, range: [f64; 2]) -> Option<String> {
        Some(format!(
            "linear: {} -> 0, {} -> 65535 (16-bit gray), clamped, rounded to nearest",
            range[0], range[1]
        ))
    }
}

fn unsupported(format: &'static str, what: String, hint: &'static str) -> OutputError {
    OutputError::Unsupported { format, what, hint }
}

/// The 8-bit PNG of a `[C, H, W]` array (C = 1 gray, 3 RGB, 4 RGBA) of values in `range`: what
/// `--format png` writes, also the visualiser's image and the audit gallery's pictures.
pub fn encode_u8(array: &ArrayD<f32>, range: [f64; 2]) -> Result<Vec<u8>, String> {
    let [channels, height, width] = *array.shape() else {
        return Err(format!(
            "an array of shape {:?} is not an image",
            array.shape()
        ));
    };
    let color = match channels {
        1 => ExtendedColorType::L8,
        3 => ExtendedColorType::Rgb8,
        4 => ExtendedColorType::Rgba8,
        c => return Err(format!("PNG holds 1, 3 or 4 channels, not {c}")),
    };
    png_bytes(&interleave_u8(array, range), [width, height], color)
}

fn png_bytes(
    pixels: &[u8],
    [width, height]: [usize; 2],
    color: ExtendedColorType,
) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(pixels.len() / 2 + 64);
    PngEncoder::new(&mut bytes)
        .write_image(pixels, width as u32, height as u32, color)
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// Interleaved 8-bit pixels of `[C, H, W]` values in `range` (also DICOM's RGB pixel data).
pub(crate) fn interleave_u8(array: &ArrayD<f32>, range: [f64; 2]) -> Vec<u8> {
    let (channels, height, width) = (array.shape()[0], array.shape()[1], array.shape()[2]);
    let mut out = vec![0u8; channels * height * width];
    for ((c, y, x), value) in array
        .view()
        .into_dimensionality::<ndarray::Ix3>()
        .expect("checked to be [C, H, W]")
        .indexed_iter()
    {
        out[(y * width + x) * channels + c] = quantize::to_u8(*value, range);
    }
    out
}

/// A decoded raster image: `[C, H, W]` levels at the file's bit depth, and the top level.
#[derive(Debug, Clone, PartialEq)]
pub struct Raster {
    /// The levels, channels first: 1 (gray) or 3 (color) from [`raster`], or what
    /// [`with_channels`] asked for.
    pub levels: Array3<f32>,
    /// The top level: 255 for 8-bit files, 65535 for 16-bit, 1 for floating-point files.
    pub top: f32,
}

impl Raster {
    /// The image as `[C, H, W]` in [0, 1].
    pub fn unit(&self) -> Array3<f32> {
        let top = self.top;
        self.levels.mapv(|v| v / top)
    }

    /// The image with its levels mapped from `0..=top` onto `range` (a model's input range).
    pub fn to_range(&self, range: [f64; 2]) -> Array3<f32> {
        let top = self.top;
        self.levels.mapv(|v| quantize::from_level(v, top, range))
    }

    /// The image on the 8-bit scale `0..=255` whatever its depth (16-bit levels / 257).
    pub fn to_byte_scale(&self) -> Array3<f32> {
        let divisor = self.top / 255.0;
        self.levels.mapv(|v| v / divisor)
    }
}

/// Opens an image file (PNG, JPEG, TIFF, BMP; the format is guessed from the content).
pub fn open(path: &Path) -> Result<DynamicImage, FormatError> {
    image::ImageReader::open(path)
        .map_err(FormatError::Read)?
        .with_guessed_format()
        .map_err(FormatError::Read)?
        .decode()
        .map_err(|e| FormatError::Invalid(e.to_string()))
}

/// Decodes the bytes of an image file (PNG, JPEG, TIFF, BMP; the format guessed from them).
pub fn decode(bytes: &[u8]) -> Result<DynamicImage, FormatError> {
    image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(FormatError::Read)?
        .decode()
        .map_err(|e| FormatError::Invalid(e.to_string()))
}

/// Reads an image file with gray kept as 1 channel and color as 3 (alpha dropped).
pub fn read(path: &Path) -> Result<Raster, FormatError> {
    open(path).map(|image| raster(&image))
}

/// The levels of `image` with gray kept as 1 channel and color as 3 (alpha dropped).
pub fn raster(image: &DynamicImage) -> Raster {
    let channels = if image.color().has_color() { 3 } else { 1 };
    with_channels(image, channels)
}

/// The levels of `image` converted to `channels` (1 gray, 4 RGBA, anything else RGB), at the
/// image's own bit depth.
pub fn with_channels(image: &DynamicImage, channels: usize) -> Raster {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let channels = if matches!(channels, 1 | 4) {
        channels
    } else {
        3
    };
    let (values, top): (Vec<f32>, f32) = match image.color() {
        ColorType::L16 | ColorType::La16 | ColorType::Rgb16 | ColorType::Rgba16 => {
            let raw = match channels {
                1 => image.to_luma16().into_raw(),
                4 => image.to_rgba16().into_raw(),
                _ => image.to_rgb16().into_raw(),
            };
            (raw.into_iter().map(f32::from).collect(), 65535.0)
        }
        ColorType::Rgb32F | ColorType::Rgba32F => {
            let raw = match channels {
                1 => image.to_luma32f().into_raw(),
                4 => image.to_rgba32f().into_raw(),
                _ => image.to_rgb32f().into_raw(),
            };
            (raw, 1.0)
        }
        _ => {
            let raw = match channels {
                1 => image.to_luma8().into_raw(),
                4 => image.to_rgba8().into_raw(),
                _ => image.to_rgb8().into_raw(),
            };
            (raw.into_iter().map(f32::from).collect(), 255.0)
        }
    };
    let levels = Array3::from_shape_fn((channels, height, width), |(c, y, x)| {
        values[(y * width + x) * channels + c]
    });
    Raster { levels, top }
}
