//! `init-model`: a package skeleton to fill in: `medigan.json` with every catalogue field,
//! `METADATA.md` explaining each field (JSON has no comments; `contribute` does not pack it),
//! a model card `README.md` with the PyTorch -> ONNX export, and a `LICENSE` placeholder.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::error::ContributeError;
use super::package_check::{METADATA_FILE, pretty};

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
        ("METADATA.md", METADATA_GUIDE.to_string()),
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

const METADATA_GUIDE: &str = r#"# The fields of `medigan.json`

`medigan.json` is a one-entry catalogue: `{"<ID>": {"execution": ..., "selection": ...,
"description": ...}}`, the format of medigan's `global.json`. JSON has no comments, so the
fields are explained here. This file is not packed by `medigan contribute`. The full reference,
with a worked example, is `docs/model-format.md` of medigan-rs.

Keep the id `00000_NEW_MODEL` while you work: `medigan contribute DIR --id 00123_YOUR_NAME` sets
the real id (five digits, `_`, an UPPER_SNAKE name) in the package it uploads.

**Required by `medigan contribute`** (it asks for them in a terminal, or fails naming them):
`description.title`, `description.authors`, `description.comment`, `selection.license`,
`selection.modality`, `selection.organ`. They become the Zenodo record's title, creators,
description, licence and keywords.

## `execution`: how to fetch and run the model

| field | meaning |
|---|---|
| `package_name` | the id; set by `contribute` |
| `package_link` | where the package is; `"."` (this folder) while you work; `contribute` writes the Zenodo link into the catalogue entry |
| `model_name`, `extension` | the graph's file stem and `".onnx"` (`model` + `.onnx` = `model.onnx`) |
| `image_size` | size of a sample, e.g. `[128, 128]`; shown by `medigan info` |
| `dependencies` | Python packages; `[]` for an ONNX package |
| `generate_method` | kept from the original format: `name` `"generate"`, `args.base` as written, `args.custom` `{}`, `input_latent_vector_size` the latent length (or `null`) |
| `runtime` | `"onnx"`: an ONNX graph, no code |
| `sha256` | leave it out: a zip cannot hold its own hash; `contribute` puts it in the catalogue entry |
| `onnx.graph` | the graph's file name in this folder |
| `onnx.inputs` | every graph input: `{"name", "kind": "latent" \| "noise" \| "class" \| "image" \| "mask", "shape"}` per sample, without the batch axis; `latent` may have `"distribution": "normal"` or `"uniform"` and `"truncation"`; `class` has `"classes": [names in index order]` and `"encoding": "index"` or `"one_hot"`; `image` has a `"range"` |
| `onnx.outputs` | at least one `{"name", "kind": "image" \| "mask", "shape": [C, H, W] or [C, D, H, W], "range": [low, high]}`; `range` is what the graph emits (`[-1, 1]` after tanh, `[0, 1]` after sigmoid); optional `"spacing"` in mm |

The names must be the `input_names` / `output_names` given to `torch.onnx.export`, and the
graph's first axis must be a dynamic batch axis (README.md shows the export).

## `selection`: what people search and rank by

| field | meaning |
|---|---|
| `performance` | metrics as numbers, `null` when not measured: `FID`, `FID_ratio` (`medigan evaluate` measures both), `SSIM`, `PSNR`, `IS`, nested downstream results such as `CLF.trained_on_real_and_fake.f1` |
| `use_cases` | e.g. `["classification", "segmentation"]` |
| `organ` | **required**, e.g. `["breast"]` |
| `modality` | **required**, e.g. `["MMG", "mammography"]` (the first DICOM-like one sets the DICOM Modality) |
| `vendors`, `centres` | of the training data |
| `function` | e.g. `["noise to image"]`, `["image to image"]` |
| `condition` | classes the model is conditioned on, e.g. `["benign", "malignant"]` |
| `dataset` | training data sets, e.g. `["CBIS-DDSM"]` |
| `augmentations` | used in training |
| `generates` | what the samples show, e.g. `["mass", "mass roi"]` |
| `height`, `width`, `depth` | numbers |
| `type` | architecture, e.g. `"DCGAN"` |
| `license` | **required**: the weights' licence as an SPDX id (`MIT`, `Apache-2.0`, `CC-BY-4.0`); also the Zenodo licence |
| `dataset_type` | `"public"` or `"non-public"` |
| `privacy_preservation` | e.g. `"differential privacy"`, or `null` |
| `tags` | free keywords (also Zenodo keywords) |
| `year` | e.g. `"2026"` |

Search compares whole values ignoring case: list the words people will type.

## `description`: for people

| field | meaning |
|---|---|
| `title` | **required**, one line |
| `authors` | **required**: `[{"name": "Family, Given", "affiliation": "Institute"}]`, the Zenodo creators |
| `provided_date`, `trained_date` | e.g. `"May 2026"` |
| `provided_after_epoch` | epoch of the weights |
| `version` | of the package, e.g. `"0.1.0"` |
| `publication` | the paper, or `null` |
| `doi` | list of DOIs; `contribute` adds the Zenodo DOI |
| `inputs` | help texts of model-specific inputs |
| `comment` | **required**: what the model generates, from which data, its architecture; the Zenodo description |
"#;

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
