//! `medigan fid` and `medigan evaluate` end to end, with the small ONNX extractor of
//! `tests/fixtures/fid/` (written by `scripts/make_fid_fixtures.py`) and the bundled model.

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

mod common;
use common::medigan;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/fid")
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

fn extractor() -> String {
    format!("onnx:{}", fixtures().join("extractor.onnx").display())
}

#[test]
fn fid_of_a_folder_with_itself_is_zero_and_reports_the_lower_bound() {
    let home = tempfile::tempdir().unwrap();
    let images = fixtures().join("images");
    let output = medigan(home.path())
        .args(["--json", "fid"])
        .args([&images, &images])
        .args([
            "--extractor",
            &extractor(),
            "--range",
            "0,1",
            "--split-seed",
            "4",
        ])
        .output()
        .unwrap();
    let value = json(&output);
    assert_eq!(value["metric"], "FID_EXTRACTOR");
    let report = &value["reports"][0];
    assert!(report["fid_rs"].as_f64().unwrap().abs() < 1e-6, "{report}");
    assert!(report["fid_rr"].as_f64().unwrap() > 0.0, "{report}");
    assert_eq!(report["real_images"], 6);
    assert_eq!(report["split_seed"], 4);
    let performance = &report["catalog"]["selection"]["performance"];
    assert!(performance.get("FID_EXTRACTOR").is_some(), "{report}");
}

#[test]
fn evaluate_generates_as_many_samples_as_real_images_and_plots() {
    let home = tempfile::tempdir().unwrap();
    let real = home.path().join("real");
    let generated = medigan(home.path())
        .args([
            "-q",
            "--offline",
            "generate",
            "00900",
            "-n",
            "12",
            "--seed",
            "9",
            "-o",
        ])
        .arg(&real)
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let plot = home.path().join("fig8.svg");
    let output = medigan(home.path())
        .args(["--json", "--offline", "evaluate", "00900", "--real"])
        .arg(&real)
        .args([
            "--extractor",
            &extractor(),
            "--metric-key",
            "FID_TEST",
            "--plot",
        ])
        .arg(&plot)
        .output()
        .unwrap();
    let value = json(&output);
    let report = &value["reports"][0];
    assert_eq!(report["subject"], "00900_PHANTOM_DEMO");
    assert_eq!(report["real_images"], 12);
    assert_eq!(
        report["synthetic_images"], 12,
        "N defaults to the real set's size"
    );
    let fid_rs = report["fid_rs"].as_f64().unwrap();
    let fid_rr = report["fid_rr"].as_f64().unwrap();
    let ratio = report["fid_ratio"].as_f64().unwrap();
    assert!((ratio - (1.0 - (fid_rs - fid_rr) / fid_rs)).abs() < 1e-12);
    let performance = &report["catalog"]["selection"]["performance"];
    assert_eq!(
        performance.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["FID_TEST", "FID_TEST_ratio", "FID_TEST_provenance"],
        "the score's provenance travels with it (issue #18)"
    );
    let provenance = &performance["FID_TEST_provenance"];
    assert_eq!(provenance["generation_seed"], 0);
    assert_eq!(provenance["synthetic_images"], 12);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains(r#"class="point""#),
        "{svg}"
    );

    // The table form prints the lines to paste.
    let output = medigan(home.path())
        .args(["--offline", "evaluate", "00900", "-n", "8", "--real"])
        .arg(&real)
        .args(["--extractor", &extractor()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("FID_rs") && text.contains("rFID"), "{text}");
    assert!(text.contains("\"FID_EXTRACTOR_ratio\""), "{text}");
}

/// The bundled catalogue with `FID_TEST` scores: the bundled model (FID 40, ratio 0.5) and a
/// second entry for the same package (FID 60, ratio 0.25).
fn catalogue_with_scores(dir: &std::path::Path) -> PathBuf {
    let bundled = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/catalog.json");
    let mut catalog: Value =
        serde_json::from_str(&std::fs::read_to_string(bundled).unwrap()).unwrap();
    let mut entry = catalog["00900_PHANTOM_DEMO"].clone();
    let performance = &mut entry["selection"]["performance"];
    performance["FID_TEST"] = 60.0.into();
    performance["FID_TEST_ratio"] = 0.25.into();
    catalog["00901_PHANTOM_SCORED"] = entry;
    let performance = &mut catalog["00900_PHANTOM_DEMO"]["selection"]["performance"];
    performance["FID_TEST"] = 40.0.into();
    performance["FID_TEST_ratio"] = 0.5.into();
    let path = dir.join("scored-catalog.json");
    std::fs::write(&path, catalog.to_string()).unwrap();
    path
}

#[test]
fn evaluate_plot_draws_an_evaluated_model_once_beside_the_catalogue() {
    let home = tempfile::tempdir().unwrap();
    let real = home.path().join("real");
    phantoms(home.path(), &real, 8, 3);
    let catalog = catalogue_with_scores(home.path());
    let plot = home.path().join("fig8.svg");
    let output = medigan(home.path())
        .args(["--offline", "--catalog"])
        .arg(&catalog)
        .args(["evaluate", "00900", "--real"])
        .arg(&real)
        .args(["--extractor", &extractor(), "--metric-key", "FID_TEST"])
        .arg("--plot")
        .arg(&plot)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let svg = std::fs::read_to_string(&plot).unwrap();
    let points: Vec<&str> = svg
        .lines()
        .filter(|l| l.contains(r#"class="point""#))
        .collect();
    // The other catalogue model (blue, its catalogue scores: FID_rr 60 x 0.25 = 15) and the
    // model evaluated now (red), not also the latter's catalogue scores.
    assert_eq!(points.len(), 2, "{svg}");
    let labelled = |label: &str| {
        points
            .iter()
            .filter(|l| l.contains(&format!("<title>{label}: ")))
            .collect::<Vec<_>>()
    };
    let evaluated = labelled("900");
    assert_eq!(evaluated.len(), 1, "{svg}");
    assert!(evaluated[0].contains("#d62728"), "{svg}");
    assert!(!evaluated[0].contains("FID_rs 40.00"), "{svg}");
    let other = labelled("901");
    assert_eq!(other.len(), 1, "{svg}");
    assert!(other[0].contains("FID_rr 15.00, FID_rs 60.00"), "{svg}");
}

#[test]
fn inception_offline_without_weights_says_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    let images = fixtures().join("images");
    let output = medigan(home.path())
        .args(["--offline", "fid"])
        .args([&images, &images])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("pt_inception-2015-12-05-6726825d.pth"),
        "{stderr}"
    );
    assert!(stderr.contains("offline"), "{stderr}");
}

#[test]
fn bad_extractor_options_are_named() {
    let home = tempfile::tempdir().unwrap();
    let images = fixtures().join("images");
    for (args, message) in [
        (
            vec!["--extractor", "resnet"],
            "invalid value 'resnet' for '--extractor",
        ),
        (
            vec!["--input-size", "224"],
            "input size applies to ONNX extractors",
        ),
        (
            vec!["--extractor", "onnx:x.onnx", "--range", "1,0"],
            "invalid value '1,0' for '--range",
        ),
    ] {
        let output = medigan(home.path())
            .arg("fid")
            .args([&images, &images])
            .args(&args)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

/// Writes `n` phantoms of the bundled model (seed `seed`) into `dir` as PNG.
fn phantoms(home: &std::path::Path, dir: &std::path::Path, n: u32, seed: u32) {
    let output = medigan(home)
        .args(["-q", "--offline", "generate", "00900", "-n"])
        .arg(n.to_string())
        .arg("--seed")
        .arg(seed.to_string())
        .arg("-o")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn metrics_reports_kid_prdc_intervals_and_provenance_from_one_embedding() {
    let home = tempfile::tempdir().unwrap();
    let (real, synthetic) = (home.path().join("real"), home.path().join("synthetic"));
    phantoms(home.path(), &real, 24, 9);
    phantoms(home.path(), &synthetic, 24, 10);
    let output = medigan(home.path())
        .args(["--json", "metrics"])
        .args([&real, &synthetic])
        .args([
            "--extractor",
            &extractor(),
            "--range",
            "0,1",
            "--repeats",
            "3",
        ])
        .args([
            "--kid-subsets",
            "5",
            "--kid-subset-size",
            "6",
            "--nearest-k",
            "2",
        ])
        .output()
        .unwrap();
    let value = json(&output);
    let report = &value["reports"][0];
    assert!(report["fid_rs"].as_f64().unwrap() > 0.0, "{report}");
    assert!(report["kid"]["mean"].is_f64(), "{report}");
    assert_eq!(report["kid"]["subset_size"], 6);
    for name in ["precision", "recall", "density", "coverage"] {
        assert!(report["prdc"][name].is_f64(), "{name}: {report}");
    }
    assert_eq!(report["prdc"]["nearest_k"], 2);
    let fid = &report["intervals"]["FID"];
    assert_eq!(fid["count"], 3);
    assert!(
        fid["low"].as_f64() <= fid["mean"].as_f64() && fid["mean"].as_f64() <= fid["high"].as_f64()
    );
    let provenance = &report["provenance"];
    assert_eq!(provenance["repeats"], 3);
    assert_eq!(
        provenance["synthetic_images"], 8,
        "24 images in 3 disjoint parts"
    );
    assert_eq!(provenance["real_images"], 24);
    assert_eq!(provenance["input_size"], serde_json::json!([32, 32]));
    assert_eq!(provenance["extractor_sha256"].as_str().unwrap().len(), 64);
    assert!(
        provenance["tool"]
            .as_str()
            .unwrap()
            .starts_with("medigan-rs ")
    );
    let performance = &report["catalog"]["selection"]["performance"];
    for key in [
        "FID_EXTRACTOR",
        "KID_EXTRACTOR",
        "precision_EXTRACTOR",
        "FID_EXTRACTOR_ci95",
        "FID_EXTRACTOR_provenance",
    ] {
        assert!(performance.get(key).is_some(), "{key}: {performance}");
    }

    // `medigan fid` computes FID alone unless asked, and names an unknown metric.
    let output = medigan(home.path())
        .args(["--json", "fid"])
        .args([&real, &synthetic])
        .args(["--extractor", &extractor()])
        .output()
        .unwrap();
    let report = &json(&output)["reports"][0];
    assert!(
        report["kid"].is_null() && report["prdc"].is_null(),
        "{report}"
    );
    let output = medigan(home.path())
        .args(["fid"])
        .args([&real, &synthetic])
        .args(["--extractor", &extractor(), "--metrics", "fid,is"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("`is`"),
        "{stderr}"
    );
}

#[test]
fn cmmd_runs_through_an_onnx_extractor_and_is_zero_for_a_folder_with_itself() {
    let home = tempfile::tempdir().unwrap();
    let images = fixtures().join("images");
    let part = home.path().join("part");
    std::fs::create_dir(&part).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(&images)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for name in &names[..3] {
        std::fs::copy(images.join(name), part.join(name)).unwrap();
    }
    let run = |synthetic: &std::path::Path, json_output: bool| {
        let mut command = medigan(home.path());
        if json_output {
            command.arg("--json");
        }
        command
            .arg("metrics")
            .args([&images, synthetic])
            .args(["--extractor", &extractor(), "--range", "0,1"])
            .args(["--metrics", "fid,cmmd"])
            .output()
            .unwrap()
    };
    let value = json(&run(&images, true));
    let report = &value["reports"][0];
    assert_eq!(report["cmmd"]["value"], 0.0, "{report}");
    assert_eq!(report["cmmd"]["sigma"], 10.0);
    assert_eq!(report["cmmd"]["scale"], 1000.0);
    assert!(
        report["cmmd"]["note"]
            .as_str()
            .unwrap()
            .contains("CLIP image tower"),
        "{report}"
    );
    assert!(report["kid"].is_null() && report["prdc"].is_null());
    assert_eq!(
        report["provenance"]["metrics"],
        serde_json::json!(["fid", "cmmd"])
    );
    let value = json(&run(&part, true));
    let report = &value["reports"][0];
    let cmmd = report["cmmd"]["value"].as_f64().unwrap();
    assert!(cmmd > 0.0, "{report}");
    let performance = &report["catalog"]["selection"]["performance"];
    assert!(
        performance["CMMD_EXTRACTOR"].as_f64().is_some(),
        "{performance}"
    );
    // The table shows it, with the note on what it was computed on.
    let output = run(&part, false);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("CMMD") && stdout.contains("CMMD: Gaussian-kernel MMD"),
        "{stdout}"
    );
}

#[test]
fn vit_extractors_give_their_feature_width_and_zero_fid_and_cmmd_for_a_folder_with_itself() {
    let home = tempfile::tempdir().unwrap();
    let images = fixtures().join("images");
    let vit = fixtures().join("../vit");
    for (graph, dims) in [("dinov2_vit.onnx", 48), ("clip_vit.onnx", 32)] {
        let stats = home.path().join(format!("{graph}.stats"));
        let output = medigan(home.path())
            .args(["--json", "metrics"])
            .args([&images, &images])
            .arg("--extractor")
            .arg(format!("onnx:{}", vit.join(graph).display()))
            .args(["--input-size", "56", "--range", "0,1"])
            .args(["--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225"])
            .args(["--metrics", "fid,cmmd", "--save-stats"])
            .arg(&stats)
            .output()
            .unwrap();
        let value = json(&output);
        let report = &value["reports"][0];
        assert!(report["fid_rs"].as_f64().unwrap().abs() < 1e-6, "{report}");
        assert!(
            report["cmmd"]["value"].as_f64().unwrap().abs() < 1e-9,
            "{report}"
        );
        assert_eq!(
            report["provenance"]["input_size"],
            serde_json::json!([56, 56])
        );
        // The statistics file's header names the extractor's feature width.
        let bytes = std::fs::read(&stats).unwrap();
        assert_eq!(&bytes[..8], b"MDGSTATS");
        let length = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        let header: Value = serde_json::from_slice(&bytes[16..16 + length]).unwrap();
        assert_eq!(header["dims"], dims, "{graph}: {header}");
    }
}

#[test]
fn audit_flags_a_folder_of_training_images_and_writes_the_gallery() {
    let home = tempfile::tempdir().unwrap();
    let (train, holdout) = (home.path().join("train"), home.path().join("holdout"));
    phantoms(home.path(), &train, 12, 1);
    phantoms(home.path(), &holdout, 12, 2);
    let gallery = home.path().join("gallery");
    let output = medigan(home.path())
        .args(["--json", "audit"])
        .arg(&train)
        .arg("--train")
        .arg(&train)
        .arg("--holdout")
        .arg(&holdout)
        .args(["--extractor", &extractor(), "--gallery"])
        .arg(&gallery)
        .output()
        .unwrap();
    let value = json(&output);
    assert_eq!(value["flagged"], 12, "every training image is its own copy");
    assert_eq!(value["synthetic_images"], 12);
    assert_eq!(value["calibration"], "holdout");
    let audit = &value["catalog"]["selection"]["privacy_preservation"]["memorisation_audit"];
    assert_eq!(audit["flagged_copies"], 12);
    assert!(gallery.join("index.html").is_file());

    // A used gallery folder is refused before any work.
    let output = medigan(home.path())
        .arg("audit")
        .arg(&train)
        .arg("--train")
        .arg(&train)
        .args(["--extractor", &extractor(), "--gallery"])
        .arg(&gallery)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("not empty"),
        "{stderr}"
    );
}

#[test]
fn sharded_statistics_merge_into_the_fid_of_the_union_bit_for_bit() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let (real, union) = (dir.join("real"), dir.join("union"));
    phantoms(dir, &real, 12, 9);
    let shards = [dir.join("shard1"), dir.join("shard2")];
    phantoms(dir, &shards[0], 7, 10);
    phantoms(dir, &shards[1], 6, 11);
    std::fs::create_dir_all(&union).unwrap();
    for (k, shard) in shards.iter().enumerate() {
        for entry in std::fs::read_dir(shard).unwrap() {
            let path = entry.unwrap().path();
            let name = format!("{k}-{}", path.file_name().unwrap().to_string_lossy());
            std::fs::copy(&path, union.join(name)).unwrap();
        }
    }
    let fid_of = |output: &Output| {
        let value = json(output);
        let report = &value["reports"][0];
        (report["fid_rs"].as_f64().unwrap(), report.clone())
    };
    let metrics = |args: &[&std::ffi::OsStr]| {
        medigan(dir)
            .args(["--json", "metrics"])
            .args(args)
            .args(["--extractor", &extractor(), "--range", "0,1"])
            .output()
            .unwrap()
    };
    let (single, _) = fid_of(&metrics(&[
        real.as_os_str(),
        union.as_os_str(),
        "--metrics".as_ref(),
        "fid".as_ref(),
    ]));
    let files = [dir.join("1.stats"), dir.join("2.stats")];
    for (shard, file) in shards.iter().zip(&files) {
        let output = metrics(&[
            real.as_os_str(),
            shard.as_os_str(),
            "--save-stats".as_ref(),
            file.as_os_str(),
        ]);
        assert!(json(&output)["reports"][0]["kid"].is_object());
    }
    let merge = |extra: &[&str]| {
        medigan(dir)
            .args(["--json", "metrics", "--merge-stats"])
            .args([&files[1], &files[0]])
            .args(extra)
            .output()
            .unwrap()
    };
    let (merged, report) = fid_of(&merge(&[]));
    assert_eq!(merged.to_bits(), single.to_bits(), "{merged} vs {single}");
    assert_eq!(report["synthetic_images"], 13);
    assert_eq!(report["real_images"], 12);
    assert!(report["fid_rr"].is_null() && report["kid"].is_null());
    assert_eq!(
        report["provenance"]["extractor_sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    assert!(
        report["catalog"]["selection"]["performance"]
            .get("FID_EXTRACTOR")
            .is_some(),
        "{report}"
    );
    // KID, PRDC and CMMD cannot be merged: refused with the reason.
    let output = merge(&["--metrics", "fid,kid"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("KID, PRDC and CMMD need the feature vectors"),
        "{stderr}"
    );
    // A file that is not statistics is named.
    std::fs::write(&files[0], b"not statistics").unwrap();
    let output = merge(&[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("not a medigan statistics file"),
        "{stderr}"
    );
}

#[test]
fn volumes_in_three_planes_agree_with_the_numpy_reference() {
    let home = tempfile::tempdir().unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/planes");
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    for case in reference["cases"].as_array().unwrap() {
        let mut command = medigan(home.path());
        command
            .args(["--json", "metrics", "--volumes", "planes"])
            .args([dir.join("real"), dir.join("synthetic")])
            .args(["--extractor", &extractor(), "--range", "0,1"])
            .args(["--mean", "0.406,0.456,0.485", "--std", "1"])
            .args(["--every-slice", &case["every"].to_string()]);
        if let Some(ratio) = case["center_ratio"].as_f64() {
            command.args(["--center-slices", &ratio.to_string()]);
        }
        if let Some(below) = case["empty_below"].as_f64() {
            command.args(["--empty-below", &below.to_string()]);
        }
        if let Some(clip) = case["clip"].as_array() {
            command.args(["--clip", &format!("{},{}", clip[0], clip[1])]);
        }
        let value = json(&command.output().unwrap());
        let report = &value["reports"][0];
        let close = |got: &Value, expected: &Value| {
            let (got, expected) = (got.as_f64().unwrap(), expected.as_f64().unwrap());
            let relative = (got - expected).abs() / expected.abs();
            assert!(
                relative < 1e-6,
                "{case}: {got} vs {expected} ({relative:.1e})"
            );
        };
        for (got, expected) in report["planes"]
            .as_array()
            .unwrap()
            .iter()
            .zip(case["planes"].as_array().unwrap())
        {
            assert_eq!(got["plane"], expected["plane"]);
            assert_eq!(got["real_slices"], expected["real_slices"], "{case}");
            assert_eq!(
                got["synthetic_slices"], expected["synthetic_slices"],
                "{case}"
            );
            close(&got["fid"], &expected["fid"]);
        }
        close(&report["fid_mean"], &case["fid_mean"]);
        assert_eq!(report["real_volumes"], 3);
    }
    // A 2D image among the volumes is named; KID over planes is refused with the reason.
    let output = medigan(home.path())
        .args(["metrics", "--volumes", "planes", "--metrics", "fid,kid"])
        .args([dir.join("real"), dir.join("synthetic")])
        .args(["--extractor", &extractor()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("FID per plane"),
        "{stderr}"
    );
}

#[test]
fn per_class_compares_each_class_with_its_own_samples() {
    let home = tempfile::tempdir().unwrap();
    let catalog = common::fixture("conditional");
    // The model's own samples of each class (seed 0, as evaluate draws them), kept as float
    // .npy: scored against them, a class is at FID 0; swapped, it is not.
    let classes = home.path().join("classes");
    for class in ["benign", "malignant"] {
        let output = medigan(home.path())
            .args([
                "-q", "generate", "90002", "-n", "6", "--seed", "0", "--format", "npy",
            ])
            .args(["--label", class, "-o"])
            .arg(classes.join(class))
            .arg("--catalog")
            .arg(&catalog)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let evaluate = |real: &std::path::Path| {
        json(
            &medigan(home.path())
                .args(["--json", "evaluate", "90002", "--per-class", "--real"])
                .arg(real)
                .args([
                    "--extractor",
                    &extractor(),
                    "--range",
                    "0,1",
                    "--npy-range",
                    "-1,1",
                ])
                .arg("--catalog")
                .arg(&catalog)
                .output()
                .unwrap(),
        )
    };
    let fids = |value: &Value| -> Vec<(String, f64, u64, u64)> {
        value["reports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["subject"].as_str().unwrap().to_string(),
                    r["fid_rs"].as_f64().unwrap(),
                    r["real_images"].as_u64().unwrap(),
                    r["synthetic_images"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let same = fids(&evaluate(&classes));
    let subjects: Vec<&str> = same.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(subjects.len(), 3, "{same:?}");
    assert!(subjects[0].ends_with("[benign]") && subjects[1].ends_with("[malignant]"));
    assert!(subjects[2].ends_with("[all classes]"), "{same:?}");
    assert_eq!((same[0].2, same[0].3), (6, 6));
    assert_eq!((same[2].2, same[2].3), (12, 12));
    for (subject, fid, _, _) in &same {
        assert!(fid.abs() < 1e-6, "{subject}: {fid}");
    }
    // The real folders swapped: each class meets the other's samples; the union is unchanged.
    let swapped = home.path().join("swapped");
    std::fs::create_dir(&swapped).unwrap();
    std::fs::rename(classes.join("benign"), swapped.join("malignant")).unwrap();
    std::fs::rename(classes.join("malignant"), swapped.join("benign")).unwrap();
    let crossed = fids(&evaluate(&swapped));
    assert!(crossed[0].1 > 1e-3 && crossed[1].1 > 1e-3, "{crossed:?}");
    assert!(crossed[2].1.abs() < 1e-6, "{crossed:?}");
    // A folder without class subfolders is refused with what to do.
    let output = medigan(home.path())
        .args(["evaluate", "90002", "--per-class", "--real"])
        .arg(swapped.join("benign"))
        .args(["--extractor", &extractor()])
        .arg("--catalog")
        .arg(&catalog)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("one subfolder per class label"),
        "{stderr}"
    );
}

#[test]
fn a_3d_model_is_scored_in_three_planes_against_real_volumes() {
    let home = tempfile::tempdir().unwrap();
    let catalog = common::fixture("volume3d");
    // The model's own volumes (seed 0, as evaluate draws them) as NIfTI: each plane at FID 0.
    let real = home.path().join("real");
    let output = medigan(home.path())
        .args([
            "-q", "generate", "90005", "-n", "4", "--seed", "0", "--format", "nifti-gz", "-o",
        ])
        .arg(&real)
        .arg("--catalog")
        .arg(&catalog)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let scored = |seed: &str| {
        json(
            &medigan(home.path())
                .args([
                    "--json",
                    "evaluate",
                    "90005",
                    "--volumes",
                    "planes",
                    "--real",
                ])
                .arg(&real)
                .args([
                    "--seed",
                    seed,
                    "--extractor",
                    &extractor(),
                    "--range",
                    "0,1",
                ])
                .arg("--catalog")
                .arg(&catalog)
                .output()
                .unwrap(),
        )
    };
    let value = scored("0");
    let report = &value["reports"][0];
    assert_eq!(report["synthetic_volumes"], 4);
    let counts: Vec<u64> = report["planes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["synthetic_slices"].as_u64().unwrap())
        .collect();
    // [1, 8, 16, 16] volumes: 8 axial, 16 coronal, 16 sagittal slices each.
    assert_eq!(counts, vec![32, 64, 64], "{report}");
    for plane in report["planes"].as_array().unwrap() {
        assert!(plane["fid"].as_f64().unwrap().abs() < 1e-6, "{plane}");
    }
    let other = scored("7");
    assert!(
        other["reports"][0]["fid_mean"].as_f64().unwrap() > 1e-4,
        "{other}"
    );
}
