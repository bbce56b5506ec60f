//! Regression tests of issue #14 (reliability and security) for the library, each named after
//! its defect; the command-line ones are in `crates/medigan-cli/tests/regressions_14.rs`.

mod common;

use medigan::catalog::{self, CatalogError, CatalogSettings, Problem, validate};
use medigan::error::Hint;
use medigan::home::Home;
use medigan::store::{Store, StoreError, UnsafeReason};
use medigan_testkit::{Route, TestServer, zip_of, zip_with_duplicate};
use serde_json::{Value, json};

/// The bundled catalogue's entry (a valid native model) to vary.
fn bundled_entry() -> Value {
    let catalog: Value = serde_json::from_str(catalog::source::BUNDLED_CATALOG).unwrap();
    catalog["00900_PHANTOM_DEMO"].clone()
}

fn problems_of(id: &str, entry: &Value) -> Vec<Problem> {
    validate::validate_catalog(&json!({ id: entry }))
}

/// Asserts that exactly the field `path` has an error whose message mentions `words`.
fn assert_refused(problems: &[Problem], path: &str, words: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.path == path && p.message.contains(words)),
        "expected an error at `{path}` mentioning `{words}`, got {problems:#?}"
    );
}

#[test]
fn defect_13_a_catalogue_fetched_by_url_cannot_name_local_packages() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let local_zip = dir.path().join("model.zip");
    std::fs::write(&local_zip, b"not a zip").unwrap();
    for link in [
        format!("file://{}", local_zip.display()),
        local_zip.display().to_string(),
        "model.zip".to_string(),
        ".".to_string(),
    ] {
        let mut entry = bundled_entry();
        entry["execution"]["package_link"] = json!(link);
        let text = json!({ "00900_PHANTOM_DEMO": entry }).to_string();
        server.route("GET", "/global.json", Route::ok(text.clone()));
        let home = tempfile::tempdir().unwrap();
        let settings = CatalogSettings {
            explicit: vec![server.url("/global.json")],
            ..Default::default()
        };
        let error = catalog::source::load(&settings, &Home::new(home.path())).unwrap_err();
        let CatalogError::Invalid { problems, .. } = &error else {
            panic!("{link}: expected the catalogue refused, got {error}");
        };
        assert_refused(problems, "execution.package_link", "http(s)");

        // The same catalogue read from a local file may name local packages.
        let file = dir.path().join("local.json");
        std::fs::write(&file, &text).unwrap();
        let local = CatalogSettings {
            explicit: vec![file.display().to_string()],
            ..Default::default()
        };
        assert!(catalog::source::load(&local, &Home::new(home.path())).is_ok());
    }
}

#[test]
fn defect_13_the_cached_upstream_catalogue_cannot_name_local_packages() {
    let home = tempfile::tempdir().unwrap();
    let home = Home::new(home.path());
    let mut entry = bundled_entry();
    entry["execution"]["package_link"] = json!("/etc/passwd");
    let cached = catalog::source::upstream_cache_path(&home);
    std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
    std::fs::write(&cached, json!({ "00901_LOCAL": entry }).to_string()).unwrap();
    // Refused, so left out with a warning (issue 26: a cached catalogue that does not
    // validate no longer blocks every command); its entry is never used.
    let catalog = catalog::source::load(&CatalogSettings::default(), &home).unwrap();
    assert!(catalog.get("00901_LOCAL").is_none());
    assert!(catalog.get("00900_PHANTOM_DEMO").is_some());
}

#[test]
fn defect_14_duplicate_ids_in_one_catalogue_are_refused() {
    let entry = bundled_entry().to_string();
    let text = format!(
        "{{\"00900_PHANTOM_DEMO\": {entry}, \"00901_OTHER\": {entry}, \"00900_PHANTOM_DEMO\": {entry}}}"
    );
    let problems = validate::validate_catalog_text(&text).unwrap();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].model, "00900_PHANTOM_DEMO");
    assert!(problems[0].message.contains("more than once"));
    let error = catalog::parse_catalog(&text, "dup.json").unwrap_err();
    assert!(error.to_string().contains("more than once"), "{error}");
}

#[test]
fn defect_08_truncation_must_be_a_usable_positive_number() {
    for bad in [json!(1e-30), json!(0.0), json!(-1.0), json!("0.5")] {
        let mut entry = bundled_entry();
        entry["execution"]["onnx"]["inputs"][0]["truncation"] = bad.clone();
        assert_refused(
            &problems_of("00900_PHANTOM_DEMO", &entry),
            "execution.onnx.inputs[0].truncation",
            ">= 0.01",
        );
    }
    let mut entry = bundled_entry();
    entry["execution"]["onnx"]["inputs"][0]["truncation"] = json!(0.5);
    assert_eq!(problems_of("00900_PHANTOM_DEMO", &entry), vec![]);
}

#[test]
fn defect_18_validate_catches_what_generate_refuses() {
    for graph in [
        "../generator.onnx",
        "/tmp/generator.onnx",
        "a/../../b.onnx",
        "",
    ] {
        let mut entry = bundled_entry();
        entry["execution"]["onnx"]["graph"] = json!(graph);
        assert_refused(
            &problems_of("00900_PHANTOM_DEMO", &entry),
            "execution.onnx.graph",
            "",
        );
    }
    for spacing in [
        json!([0.0, 1.0]),
        json!([1.0]),
        json!("1mm"),
        json!([1, -2]),
    ] {
        let mut entry = bundled_entry();
        entry["execution"]["onnx"]["outputs"][0]["spacing"] = spacing;
        assert_refused(
            &problems_of("00900_PHANTOM_DEMO", &entry),
            "execution.onnx.outputs[0].spacing",
            "",
        );
    }
    for id in ["00900_A/B", "00900_A\u{1b}[31mRED", "00900_A\\B"] {
        assert_refused(&problems_of(id, &bundled_entry()), "<id>", "not allowed");
    }
    let mut entry = bundled_entry();
    entry["execution"]["onnx"]["outputs"][0]["spacing"] = json!([0.5, 0.5]);
    assert_eq!(problems_of("00900_PHANTOM_DEMO", &entry), vec![]);
}

#[test]
fn defect_09_declared_shapes_beyond_the_limit_are_refused() {
    let mut entry = bundled_entry();
    // 3 x 40000 x 40000 x 3000 float32: 14.4 TB, and a product that overflows 32 bits.
    entry["execution"]["onnx"]["outputs"][0]["shape"] = json!([3, 40000, 40000, 3000]);
    assert_refused(
        &problems_of("00900_PHANTOM_DEMO", &entry),
        "execution.onnx.outputs[0].shape",
        "values per sample",
    );
    let mut entry = bundled_entry();
    entry["execution"]["onnx"]["inputs"][0]["shape"] = json!([u64::MAX, 2]);
    assert_refused(
        &problems_of("00900_PHANTOM_DEMO", &entry),
        "execution.onnx.inputs[0].shape",
        "values per sample",
    );
}

fn store_in(home: &std::path::Path) -> Store {
    Store::new(Home::new(home), true)
}

fn tmp_entries(home: &std::path::Path) -> Vec<String> {
    match std::fs::read_dir(home.join("tmp")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn defect_11_duplicate_zip_entries_refused() {
    let home = tempfile::tempdir().unwrap();
    let bytes = zip_with_duplicate("model.onnx", b"the first", b"the second");
    let error = store_in(home.path())
        .install_bytes("dup", &bytes, None)
        .unwrap_err();
    match &error {
        StoreError::UnsafeArchive { entry, reason, .. } => {
            assert_eq!(entry, "model.onnx");
            assert_eq!(*reason, UnsafeReason::Duplicate);
        }
        other => panic!("expected a duplicate entry refused, got {other}"),
    }
    assert!(
        !home.path().join("packages-v1").exists() || {
            std::fs::read_dir(home.path().join("packages-v1"))
                .unwrap()
                .next()
                .is_none()
        }
    );
}

#[test]
fn defect_15_many_small_entries_cannot_beat_the_ratio_check() {
    let home = tempfile::tempdir().unwrap();
    let zeros = vec![0u8; 1 << 20]; // each at the per-entry threshold, ~1000:1
    let names: Vec<String> = (0..24).map(|i| format!("part{i:02}.bin")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &zeros[..])).collect();
    let bytes = zip_of(&entries);
    assert!(
        bytes.len() < 200_000,
        "a small archive: {} bytes",
        bytes.len()
    );
    let error = store_in(home.path())
        .install_bytes("bomb", &bytes, None)
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::UnsafeArchive {
                reason: UnsafeReason::Ratio { .. },
                ..
            }
        ),
        "{error}"
    );
    assert!(
        tmp_entries(home.path()).is_empty(),
        "{:?}",
        tmp_entries(home.path())
    );
}

#[test]
fn defect_16_an_interrupted_unzip_is_cleaned_up_by_the_next() {
    let home = tempfile::tempdir().unwrap();
    let tmp = home.path().join("tmp");
    // What a killed unzip leaves: its work directory and its (no longer locked) lock file.
    std::fs::create_dir_all(tmp.join("unpack-dead01/models")).unwrap();
    std::fs::write(tmp.join("unpack-dead01/models/half.onnx"), b"half").unwrap();
    std::fs::write(tmp.join("unpack-dead01.lock"), b"").unwrap();
    // An unzip still running in another process: its lock is held.
    std::fs::create_dir_all(tmp.join("unpack-live01")).unwrap();
    let live = std::fs::File::create(tmp.join("unpack-live01.lock")).unwrap();
    live.lock().unwrap();

    let bytes = zip_of(&[("medigan.json", b"{}")]);
    store_in(home.path())
        .install_bytes("fresh", &bytes, None)
        .unwrap();
    let mut left = tmp_entries(home.path());
    left.sort();
    assert_eq!(left, ["unpack-live01", "unpack-live01.lock"]);
    drop(live);
}

#[test]
fn defect_05_samples_that_cannot_fit_in_memory_are_refused_up_front() {
    let home = tempfile::tempdir().unwrap();
    let generators = medigan::Generators::new(medigan::Settings {
        home: Home::new(home.path()),
        catalog: CatalogSettings {
            offline: true,
            ..Default::default()
        },
        backend: Some(medigan::runtime::BackendKind::Tract),
        verify: false,
    });
    let request = medigan::generate::GenerateRequest {
        num_samples: 1_000_000_000_000, // 16 KiB each: 16 PB
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let error = generators.generate_samples("900", &request).unwrap_err();
    assert!(
        started.elapsed().as_secs() < 30,
        "refused before generating"
    );
    let message = error.to_string();
    assert!(
        message.contains("16384000000000000 bytes")
            && message.contains("MEDIGAN_MAX_IN_MEMORY_BYTES"),
        "{message}"
    );
    assert!(error.hint().unwrap().contains("save_images=True"));
}

/// The largest single allocation made on this thread since the last [`largest_allocation`]
/// reset, so a test can check that a reader's memory is bounded by its input.
mod allocations {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Tracking;

    thread_local! {
        static LARGEST: Cell<usize> = const { Cell::new(0) };
    }

    // SAFETY: every call is passed to the system allocator unchanged.
    unsafe impl GlobalAlloc for Tracking {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            note(new_size);
            unsafe { System.realloc(ptr, layout, new_size) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    fn note(size: usize) {
        let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
    }

    /// The largest allocation of this thread so far, and a reset to zero.
    pub fn take_largest() -> usize {
        LARGEST.with(|largest| largest.replace(0))
    }
}

#[global_allocator]
static ALLOCATOR: allocations::Tracking = allocations::Tracking;

/// The fuzz finding `fid_images/oom-e799ae3c...`: a DICOM file `medigan generate --format dicom`
/// wrote, with bit flips, made the fid reader allocate past 2 GiB (dicom-rs reserves the length
/// an element declares). It is refused before dicom-rs sees it, naming the element, and no
/// allocation is larger than a few times the file.
#[test]
fn fuzz_fid_images_oom_e799ae3c_a_corrupted_dicom_length_is_refused_with_bounded_memory() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/regressions/fid_images_oom_e799ae3c.dcm");
    let size = std::fs::metadata(&path).unwrap().len() as usize;
    allocations::take_largest();
    let err = medigan::formats::dicom::read(&path)
        .unwrap_err()
        .to_string();
    let largest = allocations::take_largest();
    // The flipped bits turned an element header into tag (0000,0000) with a 2.9 GB length.
    assert!(
        err.contains("element (0000,0000) declares a length of 2956307958 bytes"),
        "{err}"
    );
    assert!(
        largest <= 4 * size + (1 << 16),
        "largest allocation {largest} bytes for a file of {size}"
    );
    // What `medigan fid` sees: the image error names the file.
    let folder = tempfile::tempdir().unwrap();
    std::fs::copy(&path, folder.path().join("x.dcm")).unwrap();
    let read = medigan::evaluate::images::read_image(
        &folder.path().join("x.dcm"),
        &medigan::evaluate::ReadOptions::default(),
    );
    assert!(read.unwrap_err().to_string().contains("x.dcm"));
    // The fuzz entry point returns (no abort) on the whole finding.
    let finding = std::fs::read(&path).unwrap();
    medigan::fuzz_api::dicom(&finding);
    assert!(allocations::take_largest() <= 4 * size + (1 << 16));
}

/// Defect 21 through the library: the run returns its note on NaN outputs in
/// `RunSummary::notes` (once, with the model and the output named), so no front end loads the
/// model again to ask for it; a stream hands the same note to `take_notes`.
#[test]
fn defect_21_a_run_returns_its_note_on_non_finite_outputs() {
    let home = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let catalogue = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/regressions/nan_output/medigan.json");
    let generators = medigan::Generators::new(medigan::Settings {
        home: Home::new(home.path()),
        catalog: CatalogSettings {
            explicit: vec![catalogue.display().to_string()],
            offline: true,
            ..Default::default()
        },
        backend: Some(medigan::runtime::BackendKind::Tract),
        verify: false,
    });
    let request = medigan::generate::GenerateRequest {
        num_samples: 4,
        batch_size: 2,
        ..Default::default()
    };
    let summary = generators
        .generate(
            "90914",
            &request,
            out.path(),
            medigan::output::Format::Npy,
            &medigan::progress::NoProgress,
        )
        .unwrap();
    let nan_notes: Vec<_> = summary
        .notes
        .iter()
        .filter(|n| n.contains("NaN or infinite"))
        .collect();
    assert_eq!(nan_notes.len(), 1, "{:?}", summary.notes);
    assert!(
        nan_notes[0].contains("90914_FIXTURE_NAN_OUTPUT"),
        "{nan_notes:?}"
    );
    let mut stream = generators.stream("90914", &request).unwrap();
    assert_eq!(stream.by_ref().count(), 4);
    assert!(
        stream
            .take_notes()
            .iter()
            .any(|n| n.contains("NaN or infinite")),
        "the stream's generator says it too"
    );
    // In memory, the run returns its samples with the same note, once.
    let in_memory = generators.generate_samples("90914", &request).unwrap();
    assert_eq!(in_memory.samples.len(), 4);
    let notes: Vec<_> = in_memory
        .notes
        .iter()
        .filter(|n| n.contains("NaN or infinite") && n.contains("90914_FIXTURE_NAN_OUTPUT"))
        .collect();
    assert_eq!(notes.len(), 1, "{:?}", in_memory.notes);
}
