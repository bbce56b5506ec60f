//! Fuzz target: `medigan::fuzz_api::package_zip` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| medigan::fuzz_api::package_zip(data));
