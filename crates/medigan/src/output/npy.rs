//! NumPy `.npy` (format 1.0): float32 values unchanged, C order, the sample's own shape.

use ndarray::ArrayD;

use super::{Encoding, OutputError, SampleWriter};

/// Writes samples as float32 `.npy` arrays.
#[derive(Debug, Default, Clone, Copy)]
pub struct NpyWriter;

impl SampleWriter for NpyWriter {
    fn extension(&self) -> &'static str {
        "npy"
    }

    fn check(&self, _shape: &[usize]) -> Result<(), OutputError> {
        Ok(())
    }

    fn encode(
        &self,
        array: &ArrayD<f32>,
        _encoding: &Encoding<'_>,
    ) -> Result<Vec<u8>, OutputError> {
        let header = npy_header(array.shape());
        let mut bytes = Vec::with_capacity(header.len() + array.len() * 4);
        bytes.extend_from_slice(&header);
        for value in array.iter() {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        Ok(bytes)
    }
}

/// The magic, version and header dict of a little-endian float32 C-order array, padded so the
/// data starts on a 64-byte boundary as the format recommends.
fn npy_header(shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_aligned_and_describes_the_array() {
        let header = npy_header(&[1, 32, 32]);
        assert_eq!(header.len() % 64, 0);
        let text = String::from_utf8_lossy(&header[10..]);
        assert!(text.contains("'shape': (1, 32, 32)"), "{text}");
        assert!(text.ends_with('\n'));
    }
}
