//! NumPy `.npy`, written and read through `ndarray-npy`. Writes: float32 values unchanged, C
//! order, the array's own shape (samples, feature caches). Reads: `f4`, `f8`, `u1`, `u2`, `i2`,
//! `i4` (either byte order, C or Fortran order) as f32, with the default value range of the
//! type: [0, 1] for floats, [0, 255] for `u1`, [0, 65535] for `u2`, the type's range for the
//! other integers.
//!
//! The header is checked against the bytes present before any value is read, so a header that
//! declares more data than the file holds is refused without allocating for it.

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::npy::header::Header;
use ndarray_npy::{ReadNpyExt, ReadableElement, WriteNpyExt};

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

    fn encode(&self, array: &ArrayD<f32>, encoding: &Encoding<'_>) -> Result<Vec<u8>, OutputError> {
        encode(array).map_err(|reason| OutputError::Encode {
            format: "npy",
            index: encoding.index,
            reason,
        })
    }
}

/// The bytes of a float32 `.npy` file holding `array` (any dimension).
pub fn encode<D: ndarray::Dimension>(array: &ndarray::Array<f32, D>) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(128 + array.len() * 4);
    array.write_npy(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// Parses a `.npy` file: the values as f32 (C order) and the default range of their type.
pub fn decode(bytes: &[u8]) -> Result<(ArrayD<f32>, [f32; 2]), super::FormatError> {
    check_header_length(bytes)?;
    let mut rest = bytes;
    let header = Header::from_reader(&mut rest).map_err(|e| e.to_string())?;
    let descr = header
        .type_descriptor
        .to_string()
        .trim_matches(|c| c == '\'' || c == '"')
        .to_string();
    let (width, range) = element(&descr)?;
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("shape too large")?;
    if rest.len() != count.saturating_mul(width) {
        return Err(format!(
            "the data holds {} bytes, the header declares {count} values of {width} bytes",
            rest.len()
        )
        .into());
    }
    let values = match &descr[1..] {
        "f4" => read::<f32>(bytes)?,
        "f8" => read::<f64>(bytes)?.mapv(|v| v as f32),
        "u1" => read::<u8>(bytes)?.mapv(f32::from),
        "u2" => read::<u16>(bytes)?.mapv(f32::from),
        "i2" => read::<i16>(bytes)?.mapv(f32::from),
        _ => read::<i32>(bytes)?.mapv(|v| v as f32),
    };
    Ok((values.as_standard_layout().into_owned(), range))
}

/// The element width and default range of a type descriptor such as `<f4`.
fn element(descr: &str) -> Result<(usize, [f32; 2]), String> {
    let unsupported = || {
        format!(
            "data type `{descr}` is not supported (float32/64, uint8/16, int16/32, either byte \
             order)"
        )
    };
    let (order, kind) = descr.split_at_checked(1).ok_or_else(unsupported)?;
    if !matches!(order, "<" | ">" | "|" | "=") {
        return Err(unsupported());
    }
    Ok(match kind {
        "f4" => (4, [0.0, 1.0]),
        "f8" => (8, [0.0, 1.0]),
        "u1" => (1, [0.0, 255.0]),
        "u2" => (2, [0.0, 65535.0]),
        "i2" => (2, [-32768.0, 32767.0]),
        "i4" => (4, [i32::MIN as f32, i32::MAX as f32]),
        _ => return Err(unsupported()),
    })
}

/// Refuses a header whose declared length exceeds the bytes present (ndarray-npy allocates the
/// header length it reads before reading it).
fn check_header_length(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a NumPy .npy file".into());
    }
    let (length, start): (usize, usize) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    if start.saturating_add(length) > bytes.len() {
        return Err("truncated .npy header".into());
    }
    Ok(())
}

fn read<T: ReadableElement>(bytes: &[u8]) -> Result<ArrayD<T>, String> {
    ArrayD::<T>::read_npy(bytes)
        .map_err(|e| e.to_string())?
        .into_dimensionality::<IxDyn>()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_arrays_are_read_back_with_their_shape() {
        let array = ArrayD::from_shape_fn(IxDyn(&[1, 3, 2]), |i| (i[1] * 2 + i[2]) as f32);
        let bytes = encode(&array).unwrap();
        assert_eq!(bytes.iter().position(|&b| b == b'\n').unwrap() % 64, 63);
        assert_eq!(decode(&bytes).unwrap(), (array, [0.0, 1.0]));
    }

    #[test]
    fn garbage_and_lying_headers_are_refused() {
        assert!(decode(b"hello world").is_err());
        assert!(decode(b"\x93NUMPY\x01\x00\xff\xff").is_err());
        let lying =
            with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (999999999999,), }");
        let err = decode(&lying).unwrap_err().to_string();
        assert!(err.contains("declares"), "{err}");
        let fortran = with_header("{'descr': '|u1', 'fortran_order': True, 'shape': (2, 2), }");
        let mut fortran = fortran;
        fortran.extend([1, 2, 3, 4]);
        let (array, range) = decode(&fortran).unwrap();
        assert_eq!(range, [0.0, 255.0]);
        assert_eq!(array.as_slice().unwrap(), &[1.0, 3.0, 2.0, 4.0]);
    }

    /// A version 1.0 header holding `dict`, padded to 64 bytes, and no data.
    fn with_header(dict: &str) -> Vec<u8> {
        let mut text = dict.to_string();
        while !(10 + text.len() + 1).is_multiple_of(64) {
            text.push(' ');
        }
        text.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((text.len() as u16).to_le_bytes());
        out.extend(text.as_bytes());
        out
    }
}
