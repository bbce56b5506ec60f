//! Fuzz target: the readers `medigan fid` uses on image files (npy, NIfTI, DICOM); the first
//! byte picks the reader.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => medigan::fuzz_api::npy(bytes),
        1 => medigan::fuzz_api::nifti(bytes),
        _ => medigan::fuzz_api::dicom(bytes),
    }
});
