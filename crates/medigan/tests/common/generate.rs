//! Helpers of the generation tests (`generate_*.rs`, each including this file as its module
//! `generate_helpers`, beside `common`): the fixtures, a request, the files a run wrote, its
//! manifest lines, and a minimal `.npy` reader.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use medigan::generate::{GenerateRequest, RunSummary};
use medigan::output::Format;
use medigan::progress::NoProgress;
use medigan::runtime::BackendKind;
use medigan::sample::Sample;
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::Fixture;

pub const DCGAN: &str = "90001_FIXTURE_DCGAN";
pub const IMAGE_MASK: &str = "90003_FIXTURE_IMAGE_MASK";

pub fn fixture(case: &str) -> Fixture {
    Fixture::of(case, BackendKind::Tract)
}

impl Fixture {
    pub fn generate(&self, request: &GenerateRequest, dir: &Path, format: Format) -> RunSummary {
        self.gens
            .generate(self.id, request, dir, format, &NoProgress)
            .unwrap_or_else(|e| panic!("generate {}: {e}", self.id))
    }

    pub fn try_generate(
        &self,
        request: &GenerateRequest,
        dir: &Path,
        format: Format,
    ) -> medigan::Result<RunSummary> {
        self.gens
            .generate(self.id, request, dir, format, &NoProgress)
    }

    pub fn samples(&self, request: &GenerateRequest) -> Vec<Sample> {
        self.gens
            .generate_samples(self.id, request)
            .unwrap_or_else(|e| panic!("generate_samples {}: {e}", self.id))
            .samples
    }
}

pub fn request(num_samples: u64, seed: u64, batch_size: usize, threads: usize) -> GenerateRequest {
    GenerateRequest {
        num_samples,
        seed,
        batch_size,
        threads: Some(threads),
        ..GenerateRequest::default()
    }
}

/// Every file in `dir` by name (hidden and temporary files included).
pub fn all_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {name}: {e}"));
            (name, bytes)
        })
        .collect()
}

/// The sample files of a run: everything but the manifests.
pub fn sample_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = all_files(dir);
    files.retain(|name, _| !name.starts_with("manifest"));
    files
}

/// The lines of a manifest, parsed.
pub fn manifest_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("bad line {line}: {e}")))
        .collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A minimal `.npy` reader: little-endian float32, C order, format 1.0.
pub fn read_npy(bytes: &[u8]) -> ArrayD<f32> {
    assert_eq!(&bytes[..6], b"\x93NUMPY", "npy magic");
    assert_eq!(&bytes[6..8], &[1, 0], "npy format version 1.0");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let data_start = 10 + header_len;
    assert_eq!(data_start % 64, 0, "data is 64-byte aligned");
    let header = std::str::from_utf8(&bytes[10..data_start]).expect("ascii header");
    assert!(
        header.ends_with('\n'),
        "header ends with a newline: {header:?}"
    );
    assert!(header.contains("'descr': '<f4'"), "{header}");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no shape in {header}"));
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().expect("dimension"))
        .collect();
    let data = &bytes[data_start..];
    assert_eq!(
        data.len(),
        shape.iter().product::<usize>() * 4,
        "data length"
    );
    let values = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape), values).expect("shape matches data")
}

/// The documented PNG mapping: `low -> 0`, `high -> 255`, clamped, rounded to nearest.
pub fn to_u8(value: f32, range: [f32; 2]) -> u8 {
    ((value - range[0]) * (255.0 / (range[1] - range[0])))
        .round()
        .clamp(0.0, 255.0) as u8
}

pub fn file_name(index: u64, suffix: &str, ext: &str) -> String {
    format!("{index:05}{suffix}.{ext}")
}
