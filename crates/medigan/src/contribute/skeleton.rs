//! `init-model`: a package skeleton to fill in: `medigan.json` with every catalogue field,
//! `METADATA.md` explaining each field (JSON has no comments; `contribute` does not pack it),
//! a model card `README.md` with the PyTorch -> ONNX export, and a `LICENSE` placeholder.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::error::ContributeError;
use super::package_check::{METADATA_FILE, pretty};
use crate::catalog::schema;

/// The id the skeleton's entry has until `contribute --id` gives the real one.
pub const PLACEHOLDER_ID: &str = "00000_NEW_MODEL";

/// Writes a package skeleton into `dir` (created if needed; refused when it holds anything)
/// and returns the files written.
pub fn init_model(dir: &Path) -> Result<Vec<PathBuf>, ContributeError> {
    let io = |action, path: &Path, cause| ContributeError::Io {
        action,
        path: path.to_path_buf(),
        cause,
    };
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(|e| io("read", dir, e))?;
        if entries.next().is_some() {
            return Err(ContributeError::NotEmpty {
                dir: dir.to_path_buf(),
            });
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
    let files = [
        (METADATA_FILE, pretty(&skeleton_entry())),
        ("METADATA.md", metadata_guide()),
        ("README.md", MODEL_CARD.to_string()),
        ("LICENSE", LICENSE_PLACEHOLDER.to_string()),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| io("write", &path, e))?;
        written.push(path);
    }
    Ok(written)
}

/// The skeleton's one-entry catalogue: every field of the format, the required ones empty.
fn skeleton_entry() -> serde_json::Value {
    json!({ PLACEHOLDER_ID: {
        "execution": {
            "package_name": PLACEHOLDER_ID,
            "package_link": ".",
            "model_name": "model",
            "extension": ".onnx",
            "image_size": [128, 128],
            "dependencies": [],
            "generate_method": {
                "name": "generate",
                "args": {"base": ["model_file", "num_samples", "output_path", "save_images"], "custom": {}},
                "input_latent_vector_size": 100
            },
            "runtime": "onnx",
            "onnx": {
                "graph": "model.onnx",
                "inputs": [{"name": "z", "kind": "latent", "shape": [100, 1, 1], "distribution": "normal"}],
                "outputs": [{"name": "image", "kind": "image", "shape": [1, 128, 128], "range": [-1, 1]}]
            }
        },
        "selection": {
            "performance": {
                "SSIM": null, "MSE": null, "NSME": null, "PSNR": null, "IS": null, "turing_test": null,
                "FID_no_images": null, "FID": null, "FID_ratio": null,
                "FID_RADIMAGENET": null, "FID_RADIMAGENET_ratio": null,
                "CLF_delta": null, "SEG_delta": null,
                "CLF": {"trained_on_fake": {}, "trained_on_real_and_fake": {}, "trained_on_real": {}},
                "SEG": {"trained_on_fake": {}, "trained_on_real_and_fake": {}, "trained_on_real": {}},
                "DET": {"trained_on_fake": {}, "trained_on_real_and_fake": {}, "trained_on_real": {}}
            },
            "use_cases": [],
            "organ": [],
            "modality": [],
            "vendors": [],
            "centres": [],
            "function": ["noise to image"],
            "condition": [],
            "dataset": [],
            "augmentations": [],
            "generates": [],
            "height": 128,
            "width": 128,
            "depth": 1,
            "type": "",
            "license": "",
            "dataset_type": null,
            "privacy_preservation": null,
            "tags": [],
            "year": ""
        },
        "description": {
            "title": "",
            "authors": [{"name": "", "affiliation": ""}],
            "provided_date": null,
            "trained_date": null,
            "provided_after_epoch": null,
            "version": "0.1.0",
            "publication": null,
            "doi": [],
            "inputs": [],
            "comment": ""
        }
    }})
}

/// `METADATA.md`: the field guide, its tables made from the format's table
/// ([`crate::catalog::schema::FIELDS`]).
fn metadata_guide() -> String {
    let mut text = String::from(GUIDE_INTRO);
    for (part, title, after) in [
        (
            "execution",
            "how to fetch and run the model",
            GUIDE_EXECUTION_NOTE,
        ),
        (
            "selection",
            "what people search and rank by",
            GUIDE_SELECTION_NOTE,
        ),
        ("description", "for people", ""),
    ] {
        text.push_str(&format!("\n## `{part}`: {title}\n\n"));
        text.push_str(&schema::markdown_table(&format!("{part}.")));
        text.push_str(after);
    }
    text
}

const GUIDE_INTRO: &str = r#"# The fields of `medigan.json`

`medigan.json` is a one-entry catalogue: `{"<ID>": {"execution": ..., "selection": ...,
"description": ...}}`, the format of medigan's `global.json`. JSON has no comments, so the
fields are explained here. This file is not packed by `medigan contribute`. The full reference,
with a worked example, is `docs/model-format.md` of medigan-rs.

Keep the id `00000_NEW_MODEL` while you work: `medigan contribute DIR --id 00123_YOUR_NAME` sets
the real id (five digits, `_`, an UPPER_SNAKE name) in the package it uploads.

**Required**: `yes` by every catalogue, `native` by an ONNX package (`runtime: "onnx"`), and
`contribute` by `medigan contribute` (it asks for them in a terminal, or fails naming them;
they become the Zenodo record's title, creators, description, licence and keywords).
"#;

const GUIDE_EXECUTION_NOTE: &str = "
The names must be the `input_names` / `output_names` given to `torch.onnx.export`, and the
graph's first axis must be a dynamic batch axis (README.md shows the export).
";

const GUIDE_SELECTION_NOTE: &str =
    "\nSearch compares whole values ignoring case: list the words people will type.\n";

const MODEL_CARD: &str = r#"# Model card: <title>

<!-- Replace every <...>. This file is packed with the model and shown to its users. -->

## What it generates

<organ, modality, what the samples show, image size and value range>

## Training data

<data set(s), public or not, how many images, preprocessing, licence of the data>

## Inputs and outputs

| name | kind | shape (per sample) | notes |
|---|---|---|---|
| `z` | latent | `[100, 1, 1]` | N(0, 1) |
| `image` | image | `[1, 128, 128]` | tanh output, in [-1, 1] |

## Intended use and limits

<what it is for (e.g. data augmentation for classification), what it is not for, known
failure modes; synthetic images are not for diagnosis>

## Evaluation

<FID, FID ratio (`medigan evaluate ID --real REAL_DIR`), downstream results>

## Export to ONNX

The package holds the generator as an ONNX graph whose input and output names are the ones
declared in `medigan.json` (`execution.onnx`), with a dynamic batch axis:

```python
import torch
G = Generator()                                       # your nn.Module
G.load_state_dict(torch.load("netG.pth", map_location="cpu"))
G.eval()                                              # batch norm in inference mode
z = torch.randn(1, 100, 1, 1)                         # one sample of the declared latent shape
torch.onnx.export(
    G, (z,), "model.onnx",                            # execution.onnx.graph
    input_names=["z"], output_names=["image"],        # execution.onnx inputs[].name, outputs[].name
    dynamic_axes={"z": {0: "batch"}, "image": {0: "batch"}},
    opset_version=17,
    dynamo=False,   # the exporter that takes dynamic_axes (PyTorch >= 2.5; drop on older versions)
)
```

Check it with a batch of 4 (a reshape such as `x.view(1, -1)` bakes the batch size in; write
`x.view(x.size(0), -1)`), then with medigan:

```sh
python -c "import numpy as np, onnxruntime as ort; print(ort.InferenceSession('model.onnx').run(None, {'z': np.random.randn(4, 100, 1, 1).astype(np.float32)})[0].shape)"
medigan --catalog medigan.json test 00000_NEW_MODEL
```

## Citation

<how to cite the model and its paper>
"#;

const LICENSE_PLACEHOLDER: &str = "Replace this file with the licence of the model weights \
(e.g. the MIT or Apache-2.0 text, or CC-BY-4.0), matching selection.license in medigan.json.\n";

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::catalog::schema::{FIELDS, Need};
    use crate::catalog::validate::validate_entry;

    /// The values at a schema path (`[]` stands for every item of a list).
    fn values_at<'v>(entry: &'v Value, path: &str) -> Vec<&'v Value> {
        let mut found = vec![entry];
        for part in path.split('.') {
            let (key, each) = match part.strip_suffix("[]") {
                Some(key) => (key, true),
                None => (part, false),
            };
            found = found
                .into_iter()
                .filter_map(|v| v.get(key))
                .flat_map(|v| match (each, v) {
                    (true, Value::Array(items)) => items.iter().collect(),
                    (true, _) => Vec::new(),
                    (false, v) => vec![v],
                })
                .collect();
        }
        found
    }

    /// Every field path of `value` below `at` (list items as `[]`), leaving out the free-form
    /// metrics and the authors' own keys.
    fn paths(value: &Value, at: &str, out: &mut Vec<String>) {
        if at == "selection.performance" || at == "description.authors" {
            return;
        }
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let path = if at.is_empty() {
                        key.clone()
                    } else {
                        format!("{at}.{key}")
                    };
                    paths(child, &path, out);
                    out.push(path);
                }
            }
            Value::Array(items) => {
                for item in items.iter().filter(|i| i.is_object()) {
                    paths(item, &format!("{at}[]"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn the_skeleton_fills_every_required_field_and_only_fields_of_the_format() {
        let root = skeleton_entry();
        let entry = &root[PLACEHOLDER_ID];
        for f in FIELDS.iter().filter(|f| f.need != Need::Optional) {
            assert!(
                !values_at(entry, f.path).is_empty(),
                "{} is missing",
                f.path
            );
        }
        let mut found = Vec::new();
        paths(entry, "", &mut found);
        for path in found {
            assert!(
                schema::get(&path).is_some(),
                "`{path}` is not in the format"
            );
        }
        let errors: Vec<_> = validate_entry(PLACEHOLDER_ID, entry);
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn validation_refuses_an_entry_without_any_required_field() {
        let root = skeleton_entry();
        let entry = &root[PLACEHOLDER_ID];
        let required = FIELDS
            .iter()
            .filter(|f| matches!(f.need, Need::Catalogue | Need::Onnx))
            // Without `runtime` the entry is a legacy one, which needs no ONNX fields.
            .filter(|f| f.path != "execution.runtime");
        for f in required {
            let mut without = entry.clone();
            let pointer = format!("/{}", f.path.replace("[]", "/0").replace('.', "/"));
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            without
                .pointer_mut(parent)
                .and_then(Value::as_object_mut)
                .unwrap_or_else(|| panic!("{parent}"))
                .remove(key)
                .unwrap_or_else(|| panic!("{pointer}"));
            let expected = f.path.replace("[]", "[0]");
            let problems = validate_entry(PLACEHOLDER_ID, &without);
            assert!(
                problems.iter().any(|p| p.path == expected),
                "no problem at {expected}: {problems:?}"
            );
        }
    }

    #[test]
    fn the_field_guide_lists_every_field() {
        let guide = metadata_guide();
        for f in FIELDS.iter().filter(|f| f.path.contains('.')) {
            let (part, rest) = f.path.split_once('.').unwrap();
            assert!(
                guide.contains(&format!("| `{rest}` |")),
                "{part}.{rest} is not in METADATA.md"
            );
        }
    }
}
