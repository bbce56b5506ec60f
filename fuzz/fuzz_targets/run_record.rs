//! Fuzz target: `medigan::fuzz_api::run_record` (run journal / manifest, dataset manifest) on
//! arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| medigan::fuzz_api::run_record(data));
