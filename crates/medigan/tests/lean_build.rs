//! A build without optional capabilities (cargo features left out) says so when one is asked
//! for, and writes or downloads nothing. The tests run only in such a build:
//!
//!     cargo test -p medigan --no-default-features --test lean_build
//!
//! (in the default build every capability is there, and the other tests cover it).

#[cfg(not(feature = "dicom"))]
mod without_dicom {
    use std::path::Path;

    use medigan::evaluate::ReadOptions;
    use medigan::evaluate::images::read_image;
    use medigan::output::{Encoding, Format, Part, Provenance};

    const MESSAGE: &str = "this build of medigan has no DICOM support (cargo feature `dicom`)";

    #[test]
    fn dicom_output_is_refused_by_name_before_a_model_is_loaded() {
        let error = Format::Dicom.check_built().unwrap_err();
        assert_eq!(error.to_string(), MESSAGE);
        for format in Format::ALL.into_iter().filter(|f| *f != Format::Dicom) {
            assert!(format.check_built().is_ok(), "{format} is built");
        }
        let writer = Format::Dicom.writer();
        assert_eq!(writer.check(&[1, 8, 8]).unwrap_err().to_string(), MESSAGE);
        let provenance = Provenance::default();
        let encoding = Encoding {
            index: 0,
            part: Part::Image,
            range: [0.0, 1.0],
            provenance: &provenance,
        };
        let image = ndarray::ArrayD::<f32>::zeros(vec![1, 8, 8]);
        let error = writer.encode(&image, &encoding).unwrap_err();
        assert_eq!(error.to_string(), MESSAGE);
    }

    #[test]
    fn a_dicom_image_in_an_image_set_names_the_missing_feature_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scan.dcm");
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/regressions/fid_images_oom_e799ae3c.dcm");
        std::fs::copy(fixture, &path).unwrap();
        let error = read_image(&path, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains(MESSAGE), "{error}");
        assert!(error.contains("scan.dcm"), "{error}");
    }
}

#[cfg(not(feature = "inception"))]
mod without_inception {
    use medigan::evaluate::{InceptionSource, fetch_fid_weights};
    use medigan::home::Home;
    use medigan::progress::NoProgress;
    use medigan::store::Store;

    const MESSAGE: &str =
        "this build of medigan has no native FID Inception network (cargo feature `inception`)";

    #[test]
    fn the_inception_weights_are_not_fetched_for_a_network_that_is_not_built() {
        let home = tempfile::tempdir().unwrap();
        // Online, with a URL no server answers: the refusal comes before any download.
        let store = Store::new(Home::new(home.path()), false);
        let url = "http://127.0.0.1:9/pt_inception.pth";
        let error = fetch_fid_weights(&store, Some(url), None, &NoProgress).unwrap_err();
        assert_eq!(error.to_string(), MESSAGE);
        assert_eq!(
            std::fs::read_dir(home.path()).unwrap().count(),
            0,
            "nothing written"
        );
        let weights = home.path().join("weights.pth");
        std::fs::write(&weights, b"not read").unwrap();
        let error = InceptionSource::from_pth(&weights).unwrap_err();
        assert_eq!(error.to_string(), MESSAGE);
        let advice = medigan::error::Hint::advice(&error).unwrap_or_default();
        assert!(
            advice
                .suggestions()
                .any(|s| s == medigan::error::Suggestion::OnnxExtractor),
            "{advice:?}"
        );
    }
}
