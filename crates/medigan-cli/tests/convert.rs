//! `medigan convert` on the zoo fixtures (`tests/fixtures/zoo/`): a legacy package becomes a
//! native one (ONNX graph + medigan.json) whose images equal the legacy package's for the same
//! seeds, which passes `medigan test` and runs on onnxruntime and tract; what cannot be
//! converted is refused with the reason; `--all --dry-run` tables the catalogue from metadata.
//! Skipped (a failure under CI=true) without torch, OpenCV or onnx in `python3`.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod common;
use common::zoo::{Zoo, assert_ok, read_png};
use common::{medigan, reference, run};

/// A zoo whose Python can also export ONNX (`torch.onnx.export` needs the `onnx` module).
fn start(test: &str) -> Option<Zoo> {
    let zoo = Zoo::start(test)?;
    if let Err(why) = medigan_testkit::python_importing(&["onnx"]) {
        medigan_testkit::skip(&format!("the convert run of {test}"), &why);
        return None;
    }
    Some(zoo)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `medigan convert MODEL -o OUT --install-dependencies --json`: the report.
fn convert(zoo: &Zoo, model: &str, out: &Path) -> Value {
    let output = run(zoo
        .medigan()
        .args(["--json", "convert", model, "--install-dependencies", "-o"])
        .arg(out));
    assert_ok(&output);
    serde_json::from_slice(&output.stdout).expect("a JSON report")
}

/// `medigan --catalog OUT/medigan.json --backend B generate MODEL -n N -o DIR EXTRA...`.
fn generate_native(
    zoo: &Zoo,
    package: &Path,
    backend: &str,
    model: &str,
    dir: &Path,
    extra: &[&str],
) {
    let output = run(medigan(zoo.home())
        .arg("--offline")
        .arg("--catalog")
        .arg(package.join("medigan.json"))
        .args(["--backend", backend, "generate", model, "-n", "16", "-o"])
        .arg(dir)
        .args(extra));
    assert_ok(&output);
}

/// Every PNG of `legacy` against the same file of `native`: at most one level apart, and
/// one-level differences (float rounding at a boundary) on at most one value in a thousand.
fn assert_same_images(legacy: &Path, native: &Path, files: usize) {
    let names = common::png_files(legacy);
    assert_eq!(names.len(), files, "PNGs in {}", legacy.display());
    let (mut values, mut off) = (0usize, 0usize);
    for (name, _) in &names {
        let (lw, lh, lc, l) = read_png(&legacy.join(name));
        let (nw, nh, nc, n) = read_png(&native.join(name));
        assert_eq!((lw, lh, lc), (nw, nh, nc), "{name}: size and channels");
        for (a, b) in l.iter().zip(&n) {
            assert!(a.abs_diff(*b) <= 1, "{name}: legacy {a} vs native {b}");
            off += usize::from(a != b);
        }
        values += l.len();
    }
    assert!(off * 1000 <= values, "{off} of {values} values differ");
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `medigan contribute --dry-run` takes the converted package once the authors, which the
/// upstream catalogue does not have, are filled in.
fn assert_contribute_accepts(zoo: &Zoo, package: &Path, model: &str) {
    let path = package.join("medigan.json");
    let mut metadata = read_json(&path);
    metadata[model]["description"]["authors"] =
        serde_json::json!([{"name": "Doe, Jane", "affiliation": "Somewhere"}]);
    std::fs::write(&path, metadata.to_string()).unwrap();
    let output = run(medigan(zoo.home())
        .arg("--offline")
        .arg("contribute")
        .arg(package)
        .args(["--id", model, "--dry-run"])
        // The packed zip goes into the test's home, never into the crate folder (the
        // current folder of tests), where it once was committed by accident.
        .arg("--zip")
        .arg(zoo.path(&format!("{model}.zip")))
        .stdin(std::process::Stdio::null()));
    assert_ok(&output);
}

/// Converts `model`, checks the report, the files and the card, `medigan test`, and compares
/// 16 seeds of legacy and native generation (`labels`: legacy label -> native label).
fn converts_equal(
    test: &str,
    model: &str,
    outputs: &[&str],
    labels: &[(&str, &str)],
    per_run: usize,
) {
    let Some(zoo) = start(test) else { return };
    let package = zoo.path("native");
    let report = convert(&zoo, model, &package);
    let verification = &report["verification"];
    assert_eq!(verification["passed"], true, "{report:#}");
    assert_eq!(verification["seeds"], 16);
    let agreed: Vec<&str> = verification["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert_eq!(o["differing"], 0, "{o:#}");
            assert_eq!(o["files"], 16 * labels.len().max(1), "{o:#}");
            o["output"].as_str().unwrap()
        })
        .collect();
    assert_eq!(agreed, outputs);
    for file in ["medigan.json", "generator.onnx", "README.md", "LICENSE"] {
        assert!(package.join(file).is_file(), "{file} written");
    }
    let entry = &read_json(&package.join("medigan.json"))[model];
    assert_eq!(entry["execution"]["runtime"], "onnx");
    assert_eq!(entry["execution"]["dependencies"], Value::Array(vec![]));
    let card = std::fs::read_to_string(package.join("README.md")).unwrap();
    let sha = entry["execution"]["converted_from"]["package_sha256"]
        .as_str()
        .unwrap();
    assert!(card.contains("converted") && card.contains(sha), "{card}");
    assert!(card.contains("torch"), "{card}");

    let test_run = run(medigan(zoo.home())
        .arg("--offline")
        .arg("--catalog")
        .arg(package.join("medigan.json"))
        .args(["test", model, "--json"]));
    let tested: Value = serde_json::from_slice(&test_run.stdout).expect("test JSON");
    assert_eq!(tested[0]["verdict"], "pass", "{tested:#}");
    assert_contribute_accepts(&zoo, &package, model);

    let runs: Vec<(Option<&str>, Option<&str>)> = if labels.is_empty() {
        vec![(None, None)]
    } else {
        labels.iter().map(|(l, n)| (Some(*l), Some(*n))).collect()
    };
    for (r, (legacy_label, native_label)) in runs.into_iter().enumerate() {
        let legacy_dir = zoo.path(&format!("legacy-{r}"));
        let legacy_extra: Vec<&str> = legacy_label.map_or(vec![], |l| vec!["--label", l]);
        let mut extra = vec!["-n", "16"];
        extra.extend(&legacy_extra);
        assert_ok(&zoo.generate(model, &legacy_dir, &extra));
        let native_extra: Vec<&str> = native_label.map_or(vec![], |l| vec!["--label", l]);
        for backend in ["tract", "ort"] {
            if backend == "ort" && medigan::runtime::find_onnxruntime().is_err() {
                medigan_testkit::skip(
                    "the onnxruntime run of a converted package",
                    "no onnxruntime library",
                );
                continue;
            }
            let dir: PathBuf = zoo.path(&format!("native-{backend}-{r}"));
            generate_native(&zoo, &package, backend, model, &dir, &native_extra);
            assert_same_images(&legacy_dir, &dir, per_run);
        }
    }
}

#[test]
fn the_dcgan_converts_and_gives_the_legacy_images() {
    converts_equal("convert dcgan", "00910_ZOO_DCGAN", &["image"], &[], 16);
}

#[test]
fn the_conditional_dcgan_converts_with_its_classes() {
    converts_equal(
        "convert cdcgan",
        "00911_ZOO_CDCGAN",
        &["image"],
        &[("0", "benign"), ("1", "malignant")],
        16,
    );
}

#[test]
fn the_image_and_mask_model_converts_both_outputs() {
    converts_equal(
        "convert image+mask",
        "00912_ZOO_IMAGE_MASK",
        &["image", "mask"],
        &[],
        32,
    );
}

/// A refused conversion: fails with `reason` and leaves no folder behind.
fn assert_refused(zoo: &Zoo, model: &str, reasons: &[&str]) {
    let out = zoo.path(&format!("refused-{model}"));
    let output = run(zoo
        .medigan()
        .args(["convert", model, "--install-dependencies", "-o"])
        .arg(&out));
    assert!(!output.status.success(), "{model} was converted");
    let text = stderr(&output);
    for reason in reasons {
        assert!(text.contains(reason), "{model}: `{reason}` not in {text}");
    }
    assert!(!out.exists(), "{} was written", out.display());
}

#[test]
fn models_without_a_latent_are_refused_with_the_reason() {
    let Some(zoo) = start("convert refusals") else {
        return;
    };
    assert_refused(
        &zoo,
        "00914_ZOO_IMG2IMG",
        &["cannot be converted", "image-to-image", "`input_path`"],
    );
    assert_refused(
        &zoo,
        "00913_ZOO_NO_LATENT",
        &["cannot be converted", "no latent input"],
    );
}

#[test]
fn converting_needs_the_same_consent_as_generating() {
    let Some(zoo) = start("convert consent") else {
        return;
    };
    let out = zoo.path("no-consent");
    let converted = run(zoo.medigan().args(["convert", "00910"]).arg("-o").arg(&out));
    let generated = run(zoo
        .medigan()
        .args(["generate", "00910", "-n", "1", "-o"])
        .arg(zoo.path("gen")));
    assert!(!converted.status.success() && !generated.status.success());
    let first_line = |o: &Output| stderr(o).lines().next().unwrap_or("").to_string();
    assert!(
        first_line(&converted).contains("needs your consent"),
        "{}",
        stderr(&converted)
    );
    assert_eq!(first_line(&converted), first_line(&generated));
    assert!(!out.exists());
    assert!(!zoo.home().join("envs-v1").join("00910_ZOO_DCGAN").exists());
}

#[test]
fn the_dry_run_tables_every_legacy_entry_from_metadata() {
    let home = tempfile::tempdir().unwrap();
    let snapshot = reference("medigan-global.json");
    let output = run(medigan(home.path())
        .arg("--offline")
        .arg("--catalog")
        .arg(&snapshot)
        .args(["--json", "convert", "--all", "--dry-run"]));
    assert_ok(&output);
    let rows: Value = serde_json::from_slice(&output.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    let catalogue = read_json(&snapshot);
    let ids: Vec<&str> = catalogue
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    let listed: Vec<&str> = rows
        .iter()
        .map(|r| r["model_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids, "every legacy entry, in catalogue order");
    for row in rows {
        let id = row["model_id"].as_str().unwrap();
        let method = &catalogue[id]["execution"]["generate_method"];
        let latent = method["input_latent_vector_size"].as_u64();
        let detail = row["detail"].as_str().unwrap();
        match latent {
            Some(size) => {
                assert_eq!(row["action"], "convert", "{row}");
                assert!(detail.starts_with(&format!("latent [{size}]")), "{row}");
            }
            None => {
                assert_eq!(row["action"], "refuse", "{row}");
                assert!(detail.contains("no input_latent_vector_size"), "{row}");
            }
        }
    }
    let row = |id: &str| rows.iter().find(|r| r["model_id"] == id).unwrap().clone();
    assert!(
        row("00008_C-DCGAN_MMG_MASSES")["detail"]
            .as_str()
            .unwrap()
            .contains("class `condition`")
    );
    assert!(
        row("00003_CYCLEGAN_MMG_DENSITY_FULL")["detail"]
            .as_str()
            .unwrap()
            .contains("image-to-image")
    );
    assert!(
        !home.path().join("packages-v1").exists(),
        "nothing was downloaded"
    );

    let table = run(medigan(home.path())
        .arg("--offline")
        .arg("--catalog")
        .arg(&snapshot)
        .args(["convert", "--all", "--dry-run"]));
    assert_ok(&table);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("00005_DCGAN_MMG_MASS_ROI") && text.contains("refuse"),
        "{text}"
    );
}

/// The network of the small packages below: latent 8 -> 1x8x8 in [-1, 1], weights from a fixed
/// torch seed (the weights file is a placeholder the package does not read).
const TINY_NET: &str = r#"
import numpy as np
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 64)

    def forward(self, z):
        x = self.fc(z.reshape(z.size(0), -1)).reshape(-1, 1, 8, 8)
        return FORWARD


def generate(model_file, num_samples, output_path, save_images, input_latent_vector=None):
    torch.manual_seed(0)
    net = Net().eval()
    if input_latent_vector is None:
        z = torch.randn(num_samples, 8)
    else:
        z = torch.from_numpy(np.asarray(input_latent_vector, dtype=np.float32)).reshape(-1, 8)
    with torch.no_grad():
        out = net(z).numpy()
    return [MAPPING for o in out]
"#;

/// A legacy package (a folder) built from [`TINY_NET`] and a catalogue holding it; returns
/// the catalogue.
fn tiny_package(zoo: &Zoo, id: &str, forward: &str, mapping: &str) -> PathBuf {
    let dir = zoo.path(id);
    std::fs::create_dir_all(&dir).unwrap();
    let source = TINY_NET
        .replace("FORWARD", forward)
        .replace("MAPPING", mapping);
    std::fs::write(dir.join("__init__.py"), source).unwrap();
    std::fs::write(dir.join("weights.pt"), b"unused").unwrap();
    let entry = serde_json::json!({ id: {
        "execution": {
            "package_name": id, "package_link": dir, "model_name": "weights",
            "extension": ".pt", "image_size": [8, 8], "dependencies": ["numpy", "torch"],
            "generate_method": {"name": "generate", "input_latent_vector_size": 8,
                "args": {"base": ["model_file", "num_samples", "output_path", "save_images"],
                         "custom": {}}}
        },
        "selection": {"performance": {"FID": null}, "license": "MIT"},
        "description": {"title": format!("test package {id}")}
    }});
    let catalog = zoo.path(&format!("{id}.json"));
    std::fs::write(&catalog, entry.to_string()).unwrap();
    catalog
}

/// `medigan convert` of a package of [`tiny_package`] with its own catalogue.
fn convert_tiny(zoo: &Zoo, catalog: &Path, id: &str, out: &Path, extra: &[&str]) -> Output {
    run(zoo
        .medigan()
        .arg("--catalog")
        .arg(catalog)
        .args(["convert", id, "--install-dependencies", "-o"])
        .arg(out)
        .args(extra))
}

#[test]
fn control_flow_and_unsupported_ops_are_refused_with_the_reason() {
    let Some(zoo) = start("convert refusals of the export") else {
        return;
    };
    let mapping = "((o.transpose(1, 2, 0) + 1) * 127.5).astype(np.uint8)";
    let cases = [
        (
            "00920_BRANCHES",
            "torch.tanh(x) if x.mean() > 0 else -torch.tanh(x)",
            &[
                "cannot be converted (control_flow)",
                "data-dependent control flow",
                "__init__.py:",
            ][..],
        ),
        (
            "00922_BESSEL",
            "torch.tanh(torch.special.bessel_j0(x))",
            &[
                "cannot be converted (unsupported_op)",
                "aten::special_bessel_j0",
                "opset version 17",
            ][..],
        ),
    ];
    for (id, forward, reasons) in cases {
        let catalog = tiny_package(&zoo, id, forward, mapping);
        let out = zoo.path(&format!("{id}-onnx"));
        let output = convert_tiny(&zoo, &catalog, id, &out, &[]);
        assert!(!output.status.success(), "{id} was converted");
        let text = stderr(&output);
        for reason in reasons {
            assert!(text.contains(reason), "{id}: `{reason}` not in {text}");
        }
        assert!(!out.exists(), "{id}: nothing is written");
    }
}

#[test]
fn a_mapping_the_native_format_cannot_express_is_reported_and_needs_acceptance() {
    let Some(zoo) = start("convert wrap-around") else {
        return;
    };
    let id = "00921_WRAPS";
    // 0..400 wrapped into uint8: no linear mapping with clamping gives these levels.
    let mapping =
        "(np.round((o.transpose(1, 2, 0) + 1) * 200).astype(np.int64) % 256).astype(np.uint8)";
    let catalog = tiny_package(&zoo, id, "torch.tanh(x)", mapping);
    let out = zoo.path("wraps-onnx");
    let refused = convert_tiny(&zoo, &catalog, id, &out, &[]);
    assert!(!refused.status.success());
    let text = stderr(&refused);
    assert!(text.contains("differs from the legacy package"), "{text}");
    assert!(
        text.contains("image: 16 files") && text.contains("max abs error"),
        "{text}"
    );
    assert!(text.contains("--accept-differences"), "{text}");
    assert!(
        !out.exists(),
        "nothing is written without --accept-differences"
    );

    let accepted = convert_tiny(&zoo, &catalog, id, &out, &["--accept-differences"]);
    assert_ok(&accepted);
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(card.contains("Result: **different**"), "{card}");
    assert!(card.contains("--accept-differences"), "{card}");
}
