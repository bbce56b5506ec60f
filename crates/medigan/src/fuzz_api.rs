//! Entry points for the fuzz targets in `fuzz/` (not a stable API): each parser of untrusted
//! bytes, fed from bytes. They return nothing: a crash, a hang or an unbounded allocation is
//! the finding, an error is the expected answer to most inputs.

use std::io::Write;

use crate::home::Home;
use crate::store::{Store, StoreConfig, UnzipLimits};

/// Catalogue text, as `--catalog FILE`, `catalog validate` and a catalogue URL read it.
pub fn catalog(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let _ = crate::catalog::validate::validate_catalog_text(text);
    if let Ok((entries, _)) = crate::catalog::parse_remote_catalog(text, "fuzz") {
        for (id, metadata) in &entries {
            let _ = (id.len(), metadata.runtime());
        }
    }
}

/// A package zip, installed into a fresh temporary cache (64 MiB unpacked at most).
pub fn package_zip(bytes: &[u8]) {
    let Ok(home) = tempfile::tempdir() else {
        return;
    };
    let config = StoreConfig {
        unzip: UnzipLimits {
            max_total_bytes: 64 << 20,
            ..UnzipLimits::default()
        },
        ..StoreConfig::default()
    };
    let store = Store::with_config(Home::new(home.path()), true, config);
    let _ = store.install_bytes("fuzz", bytes, None);
}

/// A PyTorch state dict (`.pth`: legacy pickle or zip), then each of its tensors.
#[cfg(feature = "inception")]
pub fn pth(bytes: &[u8]) {
    let Some(file) = temp_file(bytes, ".pth") else {
        return;
    };
    let Ok(mut dict) = crate::evaluate::inception::StateDict::open(file.path()) else {
        return;
    };
    for name in dict.names() {
        let _ = dict.read_f32(&name);
    }
}

/// A run record, read every way medigan reads one: as a journal and as a finished manifest
/// (`--resume`, `--overwrite`: header, segments, samples merged by index), and as the
/// `manifest.jsonl` of a dataset (`dataset verify`: header, file lines, sample coverage;
/// listed files are looked for beside it, where there are none).
pub fn run_record(bytes: &[u8]) {
    use crate::generate::journal::{Record, RecordKind};
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    for (name, kind) in [
        (".manifest.journal", RecordKind::Journal),
        ("manifest.jsonl", RecordKind::Manifest),
    ] {
        let path = dir.path().join(name);
        if std::fs::write(&path, bytes).is_err() {
            return;
        }
        let _ = Record::header_of(&path, kind);
        if let Ok(record) = Record::open(&path, kind)
            && let Ok(samples) = record.samples()
        {
            for sample in samples.take(1 << 16).flatten() {
                let _ = sample.covered();
            }
        }
    }
    let _ = crate::dataset::verify(dir.path());
}

/// A `.npy` image, as `medigan fid` reads it.
pub fn npy(bytes: &[u8]) {
    let _ = crate::formats::npy::decode(bytes);
}

/// A DICOM file, as `medigan fid` reads it.
pub fn dicom(bytes: &[u8]) {
    if let Some(file) = temp_file(bytes, ".dcm") {
        let _ = crate::formats::dicom::read(file.path());
    }
}

/// A NIfTI-1 file (`.nii`, or `.nii.gz` when it starts as gzip), then each of its slices.
pub fn nifti(bytes: &[u8]) {
    let suffix = if bytes.starts_with(&[0x1f, 0x8b]) {
        ".nii.gz"
    } else {
        ".nii"
    };
    let Some(file) = temp_file(bytes, suffix) else {
        return;
    };
    if let Ok(volume) = crate::formats::nifti::read(file.path()) {
        for k in 0..volume.slices().min(4) {
            let _ = volume.slice(k);
        }
    }
}

fn temp_file(bytes: &[u8], suffix: &str) -> Option<tempfile::NamedTempFile> {
    let mut file = tempfile::Builder::new().suffix(suffix).tempfile().ok()?;
    file.write_all(bytes).ok()?;
    file.flush().ok()?;
    Some(file)
}

#[cfg(test)]
mod tests {
    /// Without cargo-fuzz: the run-record reader on its fuzz seeds, every prefix of them, and
    /// each seed with one byte changed at every position (a few thousand inputs, no crash).
    #[test]
    fn run_record_survives_its_seeds_cut_and_changed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/run_record");
        for entry in std::fs::read_dir(dir).unwrap() {
            let seed = std::fs::read(entry.unwrap().path()).unwrap();
            for end in (0..=seed.len()).step_by(7) {
                super::run_record(&seed[..end]);
            }
            for at in (0..seed.len()).step_by(5) {
                for byte in [b'9', b'-', b'"', b'\n', b'}', 0xff] {
                    let mut changed = seed.clone();
                    changed[at] = byte;
                    super::run_record(&changed);
                }
            }
        }
    }
}
