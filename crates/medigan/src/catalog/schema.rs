//! The `medigan.json` (catalogue entry) format as one table: every field's path, type, when it
//! is required, and what it means.
//!
//! From this table: validation takes its lists of required strings, string lists and numbers
//! (`validate.rs`); `init-model` writes the field guide `METADATA.md` (`contribute/skeleton.rs`);
//! and tests check that `contribute`'s required fields (`contribute/package_check.rs`), the
//! `init-model` skeleton and the field tables of `docs/model-format.md` agree with it.

/// A field's JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// An object of further fields.
    Object,
    /// A string.
    String,
    /// A string or a number (e.g. `year`).
    StringOrNumber,
    /// A number.
    Number,
    /// An integer or null.
    Integer,
    /// A list of strings (or null where optional).
    StringList,
    /// A non-empty list of positive integers (numeric strings accepted).
    Sizes,
    /// A list of objects (the graph's inputs and outputs, the authors).
    ObjectList,
    /// A list of positive numbers (a voxel spacing).
    PositiveNumbers,
    /// `[low, high]` with `low < high`.
    Range,
    /// Metrics: numbers, numeric strings, lists of numbers, nested objects of these, or null.
    Metrics,
    /// A file name inside the package, or the file's object inline.
    FileOrObject,
}

impl FieldType {
    /// The type in words, as the documentation shows it.
    pub fn describe(self) -> &'static str {
        match self {
            FieldType::Object => "object",
            FieldType::String => "string",
            FieldType::StringOrNumber => "string or number",
            FieldType::Number => "number",
            FieldType::Integer => "integer or null",
            FieldType::StringList => "list of strings",
            FieldType::Sizes => "list of positive integers",
            FieldType::ObjectList => "list of objects",
            FieldType::PositiveNumbers => "list of positive numbers",
            FieldType::Range => "[low, high]",
            FieldType::Metrics => "metrics",
            FieldType::FileOrObject => "file name or object",
        }
    }
}

/// When a field must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// In every catalogue entry: validation refuses an entry without it.
    Catalogue,
    /// In a native entry (`execution.runtime: "onnx"`): validation refuses one without it.
    Onnx,
    /// Filled in before `medigan contribute` uploads the package (it asks for it).
    Contribute,
    /// Optional.
    Optional,
}

impl Need {
    /// The requirement in words, as the documentation shows it.
    pub fn describe(self) -> &'static str {
        match self {
            Need::Catalogue => "yes",
            Need::Onnx => "native",
            Need::Contribute => "contribute",
            Need::Optional => "no",
        }
    }
}

/// One field of a catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Dotted path in the entry; `[]` marks the items of a list (`execution.onnx.inputs[].name`).
    pub path: &'static str,
    /// Its JSON type.
    pub ty: FieldType,
    /// When it is required.
    pub need: Need,
    /// What it means, for the contributor (Markdown, one line).
    pub doc: &'static str,
}

const fn field(path: &'static str, ty: FieldType, need: Need, doc: &'static str) -> Field {
    Field {
        path,
        ty,
        need,
        doc,
    }
}

use FieldType as T;
use Need as N;

/// Every field of the format, in the order of the documentation.
#[rustfmt::skip]
pub const FIELDS: &[Field] = &[
    field("execution", T::Object, N::Catalogue, "how to fetch and run the model"),
    field("execution.package_name", T::String, N::Catalogue, "usually the id; `contribute` sets it"),
    field("execution.package_link", T::String, N::Catalogue, "where the package is: an `http(s)://` or `file://` URL, a `.zip` path or a directory (`\".\"` is the folder of this `medigan.json`)"),
    field("execution.model_name", T::String, N::Catalogue, "for a native package the graph's file stem (`model` + `.onnx` = `model.onnx`)"),
    field("execution.extension", T::String, N::Catalogue, "for a native package `\".onnx\"`"),
    field("execution.image_size", T::Sizes, N::Catalogue, "size of a sample, e.g. `[128, 128]`; shown by `medigan info`"),
    field("execution.dependencies", T::StringList, N::Catalogue, "Python packages; `[]` for a native package"),
    field("execution.generate_method", T::Object, N::Catalogue, "kept from the original format"),
    field("execution.generate_method.name", T::String, N::Catalogue, "non-empty, usually `\"generate\"`"),
    field("execution.generate_method.args", T::Object, N::Catalogue, "the generate function's arguments"),
    field("execution.generate_method.args.base", T::StringList, N::Catalogue, "argument names, e.g. `[\"model_file\", \"num_samples\", \"output_path\", \"save_images\"]`"),
    field("execution.generate_method.args.custom", T::Object, N::Optional, "model-specific arguments; `{}` for a native package"),
    field("execution.generate_method.input_latent_vector_size", T::Integer, N::Optional, "the latent length, or `null`"),
    field("execution.runtime", T::String, N::Onnx, "`\"onnx\"`: an ONNX graph, no code; `\"medigan-python\"` or absent: the original Python package format"),
    field("execution.sha256", T::String, N::Optional, "64 hex digits, checked before unpacking; a zip cannot hold its own hash, so it goes in the catalogue entry that links the zip"),
    field("execution.onnx", T::Object, N::Onnx, "the graph and how to feed it (`docs/model-format.md`)"),
    field("execution.onnx.graph", T::String, N::Onnx, "the graph's file name inside the package"),
    field("execution.onnx.inputs", T::ObjectList, N::Onnx, "every graph input, in any order (their order sets the random draws)"),
    field("execution.onnx.inputs[].name", T::String, N::Onnx, "the graph input's name (`input_names` of `torch.onnx.export`)"),
    field("execution.onnx.inputs[].kind", T::String, N::Onnx, "`latent`, `noise`, `class`, `image` or `mask`"),
    field("execution.onnx.inputs[].shape", T::Sizes, N::Onnx, "one sample's shape, without the batch axis; not on `class`"),
    field("execution.onnx.inputs[].distribution", T::String, N::Optional, "`latent`/`noise`: `\"normal\"` (default) or `\"uniform\"` on [-1, 1)"),
    field("execution.onnx.inputs[].truncation", T::Number, N::Optional, "`latent`/`noise`: normal values with \\|z\\| above it are redrawn"),
    field("execution.onnx.inputs[].classes", T::StringList, N::Optional, "`class`, where required: the class names in index order"),
    field("execution.onnx.inputs[].encoding", T::String, N::Optional, "`class`: `\"index\"` (int64, default) or `\"one_hot\"` (float32)"),
    field("execution.onnx.inputs[].range", T::Range, N::Optional, "`image`/`mask`: the values the graph expects (default `[0, 1]`)"),
    field("execution.onnx.outputs", T::ObjectList, N::Onnx, "at least one output"),
    field("execution.onnx.outputs[].name", T::String, N::Onnx, "the graph output's name (`output_names` of `torch.onnx.export`)"),
    field("execution.onnx.outputs[].kind", T::String, N::Onnx, "`image` or `mask`"),
    field("execution.onnx.outputs[].shape", T::Sizes, N::Onnx, "`[C, H, W]`, or `[C, D, H, W]` for volumes"),
    field("execution.onnx.outputs[].range", T::Range, N::Onnx, "the values the graph emits: `[-1, 1]` after tanh, `[0, 1]` after sigmoid"),
    field("execution.onnx.outputs[].spacing", T::PositiveNumbers, N::Optional, "`image`: voxel size in mm per spatial axis, e.g. `[0.1, 0.1]`; written by DICOM and NIfTI"),
    field("execution.onnx.external_data", T::ObjectList, N::Optional, "the graph's external-data files (a graph over protobuf's 2 GB limit keeps its weights next to it): `[{\"file\": \"generator.onnx.data\", \"size\": bytes, \"sha256\": hex}]`; the graph must name exactly these files, each checked (size, sha256) before it is loaded; a file outside the package is refused"),
    field("execution.onnx.diffusion", T::Object, N::Optional, "a diffusion model: `graph` is its denoiser, run by medigan's sampler; `inputs` then lists only a `class` input and `outputs` the final image (after the decoder)"),
    field("execution.onnx.diffusion.denoiser", T::Object, N::Optional, "the denoiser's ports: `sample` and `timestep` (input names), `timestep_type` (`\"int64\"`, default, or `\"float32\"`), `output` (output name), `prediction` (`epsilon`, `v_prediction`, `sample` or `flow`; default: the scheduler's `prediction_type`)"),
    field("execution.onnx.diffusion.noise", T::Object, N::Optional, "`shape`: one sample's initial noise (standard normal from its seed), `[C, H, W]` or `[C, D, H, W]`"),
    field("execution.onnx.diffusion.scheduler", T::FileOrObject, N::Optional, "diffusers' `scheduler_config.json` read unchanged (`_class_name` and its fields), as a file in the package or inline"),
    field("execution.onnx.diffusion.steps", T::Number, N::Optional, "default inference steps (`--steps` overrides)"),
    field("execution.onnx.diffusion.guidance_scale", T::Number, N::Optional, "default classifier-free guidance (`--guidance`); needs a class input and `null_class`, or a prompt conditioning input"),
    field("execution.onnx.diffusion.null_class", T::Number, N::Optional, "the class index that means no class (the unconditional half of guidance)"),
    field("execution.onnx.diffusion.decoder", T::Object, N::Optional, "a latent decoder: `graph`, `input`, `output` (the image output's name), `scaling_factor` (default 1) and `shift_factor` (default 0): it sees `latent / scaling_factor + shift_factor`"),
    field("execution.onnx.diffusion.decoder.external_data", T::ObjectList, N::Optional, "the decoder graph's external-data files, as `execution.onnx.external_data`"),
    field("execution.onnx.diffusion.decoder.sliding_window", T::Object, N::Optional, "decode in overlapping windows as MONAI's `SlidingWindowInferer` does: `roi` (latent voxels per spatial axis; the decoder graph takes one window), `overlap` (default 0.25), `mode` (`gaussian`, default, or `constant`), `sigma_scale` (default 0.125); the image must be a whole multiple of the latent on each axis"),
    field("execution.onnx.diffusion.conditioning", T::ObjectList, N::Optional, "further denoiser inputs the sampler fills from the run: `[{\"name\", \"kind\": \"spacing\", \"scale\"}]`, the voxel spacing in mm times `scale` (default 1; MAISI: 100) as float32 `[B, axes]`, from `--spacing` or the image output's `spacing` (required then); or `{\"name\", \"kind\": \"prompt\", \"embeddings\", \"sha256\", \"prompts\"}`, precomputed text embeddings (float32 `.npy` `[prompts + 1, tokens, width]`, the last row the empty prompt's) fed as `[B, tokens, width]`, the row of `--prompt` (one of `prompts`, exactly; default the first)"),
    field("selection", T::Object, N::Catalogue, "what `medigan search`, `rank` and `lookup` work on"),
    field("selection.performance", T::Metrics, N::Catalogue, "metrics, `null` when not measured: `FID`, `FID_ratio` (`medigan evaluate` measures both), `SSIM`, `PSNR`, `IS`, nested results such as `CLF.trained_on_real_and_fake.f1`"),
    field("selection.use_cases", T::StringList, N::Optional, "e.g. `[\"classification\", \"segmentation\"]`"),
    field("selection.organ", T::StringList, N::Contribute, "e.g. `[\"breast\"]`"),
    field("selection.modality", T::StringList, N::Contribute, "e.g. `[\"MMG\", \"mammography\"]`; the first DICOM-like one sets the DICOM Modality"),
    field("selection.vendors", T::StringList, N::Optional, "of the training data"),
    field("selection.centres", T::StringList, N::Optional, "of the training data"),
    field("selection.function", T::StringList, N::Optional, "e.g. `[\"noise to image\"]`, `[\"image to image\"]`"),
    field("selection.condition", T::StringList, N::Optional, "classes the model is conditioned on, e.g. `[\"benign\", \"malignant\"]`"),
    field("selection.dataset", T::StringList, N::Optional, "training data sets, e.g. `[\"CBIS-DDSM\"]`"),
    field("selection.augmentations", T::StringList, N::Optional, "used in training"),
    field("selection.generates", T::StringList, N::Optional, "what the samples show, e.g. `[\"mass\", \"mass roi\"]`"),
    field("selection.height", T::Number, N::Optional, "sample height"),
    field("selection.width", T::Number, N::Optional, "sample width"),
    field("selection.depth", T::Number, N::Optional, "sample depth (1 for 2-D)"),
    field("selection.type", T::String, N::Optional, "architecture, e.g. `\"DCGAN\"`"),
    field("selection.license", T::String, N::Contribute, "the weights' licence as an SPDX id (`MIT`, `Apache-2.0`, `CC-BY-4.0`); also the Zenodo licence"),
    field("selection.dataset_type", T::String, N::Optional, "`\"public\"` or `\"non-public\"`"),
    field("selection.privacy_preservation", T::String, N::Optional, "e.g. `\"differential privacy\"`, or `null`"),
    field("selection.tags", T::StringList, N::Optional, "free keywords (also Zenodo keywords)"),
    field("selection.year", T::StringOrNumber, N::Optional, "e.g. `\"2026\"`"),
    field("description", T::Object, N::Catalogue, "for people; `medigan info` shows it"),
    field("description.title", T::String, N::Catalogue, "one line"),
    field("description.authors", T::ObjectList, N::Contribute, "`[{\"name\": \"Family, Given\", \"affiliation\": \"Institute\"}]`, the Zenodo creators"),
    field("description.provided_date", T::String, N::Optional, "e.g. `\"May 2026\"`"),
    field("description.trained_date", T::String, N::Optional, "e.g. `\"May 2026\"`"),
    field("description.provided_after_epoch", T::StringOrNumber, N::Optional, "epoch of the weights"),
    field("description.version", T::String, N::Optional, "of the package, e.g. `\"0.1.0\"`"),
    field("description.publication", T::String, N::Optional, "the paper, or `null`"),
    field("description.doi", T::StringList, N::Optional, "DOIs; `contribute` adds the Zenodo DOI"),
    field("description.inputs", T::StringList, N::Optional, "help texts of model-specific inputs"),
    field("description.comment", T::String, N::Contribute, "what the model generates, from which data, its architecture; the Zenodo description"),
];

/// The fields directly below `parent` (`""` for the top level), in table order.
pub fn children(parent: &str) -> impl Iterator<Item = &'static Field> + '_ {
    FIELDS
        .iter()
        .filter(move |f| match f.path.rsplit_once('.') {
            Some((up, _)) => up == parent,
            None => parent.is_empty(),
        })
}

/// The field at `path`, if the format has one.
pub fn get(path: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.path == path)
}

/// The Markdown table (`| field | type | required | meaning |`) of the fields whose path
/// starts with `prefix` (`"execution."` for everything below `execution`). Paths are shown
/// relative to `prefix`; `required` is `yes`, `native` (with `runtime: "onnx"`), `contribute`
/// (before `medigan contribute` uploads) or `no`.
pub fn markdown_table(prefix: &str) -> String {
    let mut table = String::from("| field | type | required | meaning |\n|---|---|---|---|\n");
    for f in FIELDS.iter().filter(|f| f.path.starts_with(prefix)) {
        table.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            &f.path[prefix.len()..],
            f.ty.describe(),
            f.need.describe(),
            f.doc
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_unique_and_its_parent_is_an_object_or_a_list_of_objects() {
        let mut seen = std::collections::HashSet::new();
        for f in FIELDS {
            assert!(seen.insert(f.path), "{} twice", f.path);
            if let Some((parent, _)) = f.path.rsplit_once('.') {
                let parent = parent.trim_end_matches("[]");
                let up = get(parent).unwrap_or_else(|| panic!("{}: no parent", f.path));
                assert!(
                    matches!(up.ty, FieldType::Object | FieldType::ObjectList),
                    "{}",
                    f.path
                );
            }
        }
    }

    #[test]
    fn children_are_the_direct_fields_below_a_parent() {
        let top: Vec<&str> = children("").map(|f| f.path).collect();
        assert_eq!(top, ["execution", "selection", "description"]);
        let method: Vec<&str> = children("execution.generate_method.args")
            .map(|f| f.path)
            .collect();
        assert_eq!(
            method,
            [
                "execution.generate_method.args.base",
                "execution.generate_method.args.custom"
            ]
        );
    }
}
