//! Packed runs driven by another engine from Python (the Ray Data adapter, `medigan_rs.ray`):
//! the core's [`medigan::generate::PackedRun`] as a class whose methods release the GIL.

use std::collections::BTreeMap;
use std::path::PathBuf;

use medigan::dataset::manifest::ManifestLine;
use medigan::generate::{PackedRun, PackedSample, RunMode, SampleEntry};
use medigan::output::Format;
use numpy::PyArray;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::errors::IntoPyResult;
use crate::generate::{DiffusionArgs, RequestArgs, pack, warn_notes};
use crate::generators::PyGenerators;

/// A sample's entry as Python passes it: `(index, seed, [(member name, bytes)])`.
type EntryArgs = (u64, u64, Vec<(String, Vec<u8>)>);

/// A `--pack tar` run whose samples and tars the caller's tasks make; see
/// `medigan_rs.ray` for the Ray Data adapter built on it.
#[pyclass(name = "PackedRun", module = "medigan_rs._native", frozen)]
pub struct PyPackedRun {
    inner: PackedRun,
}

/// Opens a packed run of `model_id`: the arguments are those of `generate` with
/// `pack="tar"`; every check of `generate` runs now, before any sample is generated.
#[pyfunction]
#[pyo3(signature = (generators, model_id, num_samples, samples_per_shard, seed=0, batch_size=16,
                    label=None, threads=None, format="png", steps=None, scheduler=None,
                    guidance_scale=None, spacing=None, prompt=None))]
#[allow(clippy::too_many_arguments)]
pub fn packed_run(
    py: Python<'_>,
    generators: PyRef<'_, PyGenerators>,
    model_id: &str,
    num_samples: u64,
    samples_per_shard: u64,
    seed: u64,
    batch_size: usize,
    label: Option<String>,
    threads: Option<usize>,
    format: &str,
    steps: Option<usize>,
    scheduler: Option<String>,
    guidance_scale: Option<f64>,
    spacing: Option<Vec<f64>>,
    prompt: Option<String>,
) -> PyResult<PyPackedRun> {
    let args = RequestArgs {
        num_samples,
        seed,
        batch_size,
        label,
        inputs: Vec::new(),
        shard: None,
        shards: None,
        threads,
        options: BTreeMap::new(),
        diffusion: DiffusionArgs {
            steps,
            scheduler,
            guidance_scale,
            initial_noise: None,
            spacing,
            prompt,
        },
    };
    let mut request = args.request(RunMode::Fresh)?;
    request.pack = pack(Some("tar"), samples_per_shard)?;
    let format = format.parse::<Format>().py()?;
    let core = generators.core();
    let inner = py
        .detach(|| core.packed_run(model_id, &request, format))
        .py()?;
    Ok(PyPackedRun { inner })
}

#[pymethods]
impl PyPackedRun {
    /// `(start, end)`: the sample indices of the run.
    fn indices(&self) -> (u64, u64) {
        let range = self.inner.indices();
        (range.start, range.end)
    }

    /// `(first, end)`: the tars the run writes.
    fn tars(&self) -> (u64, u64) {
        let range = self.inner.tars();
        (range.start, range.end)
    }

    /// The tar holding sample `index`.
    fn tar_of(&self, index: u64) -> u64 {
        self.inner.tar_of(index)
    }

    /// `(start, end)`: the samples of tar `tar`.
    fn tar_samples(&self, tar: u64) -> (u64, u64) {
        let range = self.inner.tar_samples(tar);
        (range.start, range.end)
    }

    /// The file name of tar `tar`.
    fn tar_name(&self, tar: u64) -> String {
        self.inner.tar_name(tar)
    }

    /// The manifest's file name.
    fn manifest_name(&self) -> String {
        self.inner.manifest_name()
    }

    /// Generates the samples `indices` (any order): a list of dicts with `index`, `seed`,
    /// `label`, `image` (numpy), `mask` (numpy or None), `sha256` (of the image's encoded
    /// file) and `members` (`[(name, bytes)]`, the sample's tar members in name order).
    /// The run's notes come as RuntimeWarnings.
    fn samples<'py>(&self, py: Python<'py>, indices: Vec<u64>) -> PyResult<Bound<'py, PyList>> {
        let samples = py.detach(|| self.inner.samples(&indices)).py()?;
        warn_notes(py, &self.inner.take_notes())?;
        let items = samples
            .into_iter()
            .map(|sample| sample_dict(py, sample))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// Writes tar `tar` into `dir` from `entries` (`[(index, seed, [(name, bytes)])]`, each
    /// sample of the tar once); returns its manifest line as JSON text.
    fn write_tar(
        &self,
        py: Python<'_>,
        dir: PathBuf,
        tar: u64,
        entries: Vec<EntryArgs>,
    ) -> PyResult<String> {
        let entries: Vec<SampleEntry> = entries
            .into_iter()
            .map(|(index, seed, members)| SampleEntry {
                index,
                seed,
                members,
            })
            .collect();
        let line = py
            .detach(|| self.inner.write_tar(&dir, tar, &entries))
            .py()?;
        serde_json::to_string(&line)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
    }

    /// Writes the run's manifest into `dir` from the lines `write_tar` returned (every tar
    /// once), after checking each tar on disk; returns the manifest's path.
    fn write_manifest(&self, py: Python<'_>, dir: PathBuf, lines: Vec<String>) -> PyResult<String> {
        let lines = lines
            .iter()
            .map(|text| serde_json::from_str::<ManifestLine>(text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                pyo3::exceptions::PyValueError::new_err(format!("a manifest line is not one: {e}"))
            })?;
        let path = py.detach(|| self.inner.write_manifest(&dir, &lines)).py()?;
        Ok(path.display().to_string())
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.inner)
    }
}

/// A generated sample as a dict; the arrays take over the sample's buffers.
fn sample_dict(py: Python<'_>, sample: PackedSample) -> PyResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("index", sample.entry.index)?;
    dict.set_item("seed", sample.entry.seed)?;
    dict.set_item("label", sample.label)?;
    dict.set_item("image", PyArray::from_owned_array(py, sample.image))?;
    let mask = sample
        .mask
        .map(|mask| PyArray::from_owned_array(py, mask).into_any());
    dict.set_item("mask", mask)?;
    dict.set_item("sha256", sample.image_sha256)?;
    let members = sample
        .entry
        .members
        .iter()
        .map(|(name, bytes)| {
            let pair: [Bound<'_, PyAny>; 2] = [
                name.into_pyobject(py)?.into_any(),
                PyBytes::new(py, bytes).into_any(),
            ];
            PyTuple::new(py, pair)
        })
        .collect::<PyResult<Vec<_>>>()?;
    dict.set_item("members", PyList::new(py, members)?)?;
    Ok(dict)
}
