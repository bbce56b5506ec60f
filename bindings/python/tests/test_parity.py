"""Every flag of the commands Python mirrors has a Python keyword, and a bad value gets the same
error from both front ends.

The CLI's flags come from its parser (clap's `Command`, written to cli_options.json by the CLI's
own test `python_parity`, which fails when that file is out of date); the keywords are checked
on the real Python functions with `inspect.signature`. A flag with no keyword must be listed in
EXCEPTIONS with the reason: a new flag without either fails here.
"""

from __future__ import annotations

import inspect
import json
import subprocess
from pathlib import Path

import pytest

import medigan_rs
from medigan_rs import _native
from conftest import FIXTURES, medigan_binary

CLI_OPTIONS = json.loads((Path(__file__).parent / "cli_options.json").read_text())

# Flags that make no sense in Python, with the reason.
EXCEPTIONS = {
    "--json": "Python gets dicts and lists, not printed JSON",
    "--quiet": "Python prints nothing; notes come as warnings, which Python's `warnings` filters",
    "--verbose": "logging detail of the command line; the core logs through `tracing`",
    "--verify": "MEDIGAN_VERIFY=1 in the environment, which the core reads for Python too",
    "--plot": "the CLI draws the paper's Fig. 8 as SVG; Python plots the returned reports",
}

# The Python function(s) each command maps to, by a short name.
FUNCTIONS = {
    "metrics": medigan_rs.metrics,
    "evaluate_models": medigan_rs.evaluate_models,
    "Generators": medigan_rs.Generators.__init__,
    "generate": medigan_rs.Generators.generate,
    "generate_to_dir": _native.Generators.generate_to_dir,
    "audit": medigan_rs.audit,
    "frd": medigan_rs.frd,
}

_FOLDERS = {
    "real": "metrics:real",
    "synthetic": "metrics:synthetic",
    "--extractor": "metrics:extractor",
    "--inception-weights": "metrics:inception_weights",
    "--input-size": "metrics:input_size",
    "--range": "metrics:range",
    "--mean": "metrics:mean",
    "--std": "metrics:std",
    "--output-name": "metrics:output_name",
    "--normalize": "metrics:normalize",
    "--npy-range": "metrics:npy_range",
    "--batch": "metrics:batch_size",
    "--threads": "metrics:threads",
    "--split-seed": "metrics:split_seed",
    "--cache-features": "metrics:cache_dir",
    "--metrics": "metrics:metrics",
    "--kid-subsets": "metrics:kid_subsets",
    "--kid-subset-size": "metrics:kid_subset_size",
    "--nearest-k": "metrics:nearest_k",
    "--repeats": "metrics:repeats",
    "--resample-seed": "metrics:seed",
    "--metric-key": "metrics:metric_key",
    "--cache-dir": "metrics:home",
    "--offline": "metrics:offline",
    "--backend": "metrics:backend",
    "--catalog": None,  # two folders need no catalogue
    "--save-stats": "metrics:save_stats",
    "--merge-stats": "metrics:merge_stats",
    "--real-stats": "metrics:real_stats",
    "--volumes": "metrics:volumes",
    "--center-slices": "metrics:center_slices",
    "--every-slice": "metrics:every_slice",
    "--empty-below": "metrics:empty_below",
    "--clip": "metrics:clip",
    "--frd-version": "metrics:frd_version",
    "--paper-log": "metrics:paper_log",
}

def _shared(function: str, leave_out: tuple, no_keyword: tuple = ()) -> dict:
    """The evaluation flags of `metrics` as keywords of `function`, without `leave_out`;
    `no_keyword` flags mean nothing to it (None)."""
    return {
        flag: (None if target is None or flag in no_keyword
               else f"{function}:{target.split(':')[1]}")
        for flag, target in _FOLDERS.items()
        if flag not in leave_out
    }


# The FRD compares two folders: `evaluate` (models) refuses it, so it has no keyword there.
_MODELS = _shared("evaluate_models", ("real", "synthetic", "--resample-seed", "--save-stats",
                                        "--merge-stats", "--real-stats"),
                  ("--frd-version", "--paper-log"))
_MODELS.update({
    "models": "evaluate_models:models",
    "--real": "evaluate_models:real",
    "--num-samples": "evaluate_models:num_samples",
    "--seed": "evaluate_models:seed",
    "--resample-seed": "evaluate_models:resample_seed",
    "--install-dependencies": "evaluate_models:install_dependencies",
    "--catalog": "evaluate_models:catalog",
    "--per-class": "evaluate_models:per_class",
})

# `medigan audit` shares the evaluation flags; those that choose metrics mean nothing to an
# audit (it computes none) and have no Python keyword.
_AUDIT = _shared("audit", ("real", "synthetic", "--catalog", "--save-stats", "--merge-stats",
                           "--real-stats", "--volumes", "--center-slices", "--every-slice",
                           "--empty-below", "--clip"),
                 ("--metrics", "--kid-subsets", "--kid-subset-size", "--nearest-k", "--repeats",
                  "--resample-seed", "--split-seed", "--metric-key", "--frd-version",
                  "--paper-log"))
_AUDIT.update({
    "subject": "audit:synthetic",
    "--train": "audit:train",
    "--holdout": "audit:holdout",
    "--num-samples": "audit:num_samples",
    "--seed": "audit:seed",
    "--margin": "audit:margin",
    "--pixel-size": "audit:pixel_size",
    "--max-shift": "audit:max_shift",
    "--pixel-metric": "audit:pixel_metric",
    "--gallery": "audit:gallery",
    "--pairs": "audit:pairs",
    "--catalog": "audit:catalog",
})

# CLI flag -> "function:keyword" (None: the flag has no meaning for this command in Python; the
# reason is in the comment beside it).
MAPPING = {
    "fid": _FOLDERS,
    "metrics": _FOLDERS,
    "evaluate": _MODELS,
    "frd": {
        "real": "frd:real",
        "synthetic": "frd:synthetic",
        "--frd-version": "frd:version",
        "--masks": "frd:masks",
        "--paper-log": "frd:paper_log",
        "--save-stats": "frd:save_stats",
        "--merge-stats": "frd:merge_stats",
        # Radiomics need no catalogue, package cache, network or ONNX runtime.
        "--catalog": None,
        "--cache-dir": None,
        "--offline": None,
        "--backend": None,
    },
    "audit": _AUDIT,
    "generate": {
        "model": "generate:model_id",
        "--num-samples": "generate:num_samples",
        "--output": "generate:output_path",
        "--install-dependencies": "generate:install_dependencies",
        "--seed": "generate_to_dir:seed",
        "--batch": "generate_to_dir:batch_size",
        "--format": "generate_to_dir:format",
        "--label": "generate_to_dir:label",
        "--input": "generate_to_dir:inputs",
        "--set": "generate_to_dir:options",
        "--shard": "generate_to_dir:shard",
        "--shards": "generate_to_dir:shards",
        "--threads": "generate_to_dir:threads",
        "--latent": "generate_to_dir:latent",
        "--resume": "generate_to_dir:resume",
        "--overwrite": "generate_to_dir:overwrite",
        "--pack": "generate_to_dir:pack",
        "--samples-per-shard": "generate_to_dir:samples_per_shard",
        "--steps": "generate_to_dir:steps",
        "--scheduler": "generate_to_dir:scheduler",
        "--guidance": "generate_to_dir:guidance_scale",
        "--initial-noise": "generate_to_dir:initial_noise",
        "--spacing": "generate_to_dir:spacing",
        "--prompt": "generate_to_dir:prompt",
        "--catalog": "Generators:catalog",
        "--cache-dir": "Generators:home",
        "--offline": "Generators:offline",
        "--backend": "Generators:backend",
    },
}


def _parameters(name: str) -> set[str]:
    return set(inspect.signature(FUNCTIONS[name]).parameters)


@pytest.mark.parametrize("command", sorted(MAPPING))
def test_every_cli_flag_has_a_python_keyword_or_a_stated_reason(command):
    flags = CLI_OPTIONS[command] + CLI_OPTIONS["global"]
    mapping = MAPPING[command]
    gaps = [f for f in flags if f not in mapping and f not in EXCEPTIONS]
    assert not gaps, f"`medigan {command}` flags with no Python keyword: {gaps}"
    stale = [f for f in mapping if f not in flags]
    assert not stale, f"mapped flags `medigan {command}` no longer has: {stale}"
    for flag, target in mapping.items():
        if target is None:
            continue
        function, keyword = target.split(":")
        assert keyword in _parameters(function), f"{flag}: {function}() has no `{keyword}`"


def test_the_mirrored_commands_are_all_mapped():
    assert set(CLI_OPTIONS) - {"global"} == set(MAPPING)


def _cli_error(*args: str) -> str:
    binary = medigan_binary()
    if binary is None:
        pytest.skip("the medigan CLI is not built (cargo build -p medigan-cli)")
    out = subprocess.run([str(binary), *args], capture_output=True, text=True)
    assert out.returncode != 0, out.stdout
    return out.stderr


EXTRACTOR = f"onnx:{FIXTURES / 'fid' / 'extractor.onnx'}"


def test_a_bad_repeats_value_is_the_same_error_from_the_cli_and_python(tmp_path):
    images = FIXTURES / "fid" / "images"
    message = "invalid repeats `0`: at least 1 (1: one evaluation, no interval)"
    with pytest.raises(medigan_rs.EvaluationOptionError) as raised:
        medigan_rs.metrics(images, images, extractor=EXTRACTOR, repeats=0, home=tmp_path)
    assert str(raised.value).startswith(message), raised.value
    stderr = _cli_error("--cache-dir", str(tmp_path), "metrics", str(images), str(images),
                        "--extractor", EXTRACTOR, "--repeats", "0")
    assert f"error: {message}" in stderr, stderr


def test_an_onnx_option_for_inception_is_the_same_error_and_hint_in_each_front_ends_words(tmp_path):
    images = FIXTURES / "fid" / "images"
    with pytest.raises(medigan_rs.EvaluationOptionError) as raised:
        medigan_rs.metrics(images, images, input_size=224, home=tmp_path, offline=True)
    assert str(raised.value).startswith("input size applies to ONNX extractors only")
    assert 'extractor="onnx:PATH"' in raised.value.hint, raised.value.hint
    assert "--extractor" not in raised.value.hint
    stderr = _cli_error("--offline", "--cache-dir", str(tmp_path), "fid", str(images),
                        str(images), "--input-size", "224")
    assert "error: input size applies to ONNX extractors only" in stderr, stderr
    assert "--extractor onnx:PATH" in stderr, stderr


def test_a_bad_extractor_is_refused_by_both_with_the_same_reason(tmp_path):
    images = FIXTURES / "fid" / "images"
    reason = "expected `inception` or `onnx:PATH`"
    with pytest.raises(medigan_rs.EvaluationOptionError) as raised:
        medigan_rs.metrics(images, images, extractor="resnet", home=tmp_path)
    assert str(raised.value) == f"invalid extractor `resnet`: {reason}"
    stderr = _cli_error("fid", str(images), str(images), "--extractor", "resnet")
    assert reason in stderr, stderr


def test_a_legacy_model_without_consent_gets_the_same_hint_in_each_front_ends_words(
        upstream, upstream_path, tmp_path):
    advice = "if you trust this model's code, rerun with "
    with pytest.raises(medigan_rs.LegacyModelError) as raised:
        upstream.generate(1, num_samples=1, save_images=False)
    assert raised.value.hint == advice + "`install_dependencies=True`", raised.value.hint
    stderr = _cli_error("--offline", "--catalog", str(upstream_path), "--cache-dir", str(tmp_path),
                        "generate", "1", "-n", "1", "-o", str(tmp_path / "out"))
    assert f"hint: {advice}`--install-dependencies`" in stderr, stderr
    # The same message up to the environment's path (each facade has its own home).
    message = str(raised.value).splitlines()[0].split(" into `")[0]
    assert f"error: {message}" in stderr, stderr


def test_shards_without_an_automatic_shard_is_the_same_refusal_in_each_front_ends_words(
        bundled, tmp_path):
    # The library keeps the rule and its words as data; each front end names its own options.
    with pytest.raises(medigan_rs.GenerateError) as raised:
        bundled.generate("00900", num_samples=4, output_path=tmp_path / "py", shard="1/2", shards=3)
    assert str(raised.value).startswith(
        '`shards=3` goes with `shard="auto"`; `shard="1/2"` already says N'), raised.value
    assert raised.value.hint == 'give `shard="K/N"` alone, or `shard="auto"` with `shards=N`'
    assert "--" not in str(raised.value)
    assert not (tmp_path / "py").exists(), "a refused run writes nothing"
    stderr = _cli_error("--offline", "--cache-dir", str(tmp_path / "home"), "generate", "00900",
                        "-n", "4", "-o", str(tmp_path / "cli"), "--shard", "1/2", "--shards", "3")
    assert ("error: --shards 3 goes with --shard auto; --shard 1/2 already says N\n"
            "hint: give --shard K/N alone, or --shard auto with --shards N") in stderr, stderr
    assert not (tmp_path / "cli").exists()


def test_too_many_threads_names_the_option_in_each_front_ends_words(bundled, tmp_path):
    threads = 1_000_000
    with pytest.raises(medigan_rs.GenerateError) as raised:
        bundled.generate("00900", num_samples=1, output_path=tmp_path / "py", threads=threads)
    message = str(raised.value).splitlines()[0]
    assert message.startswith(f"invalid thread count: {threads} is more than"), message
    assert message.endswith("leave `threads` out to use every core"), message
    stderr = _cli_error("--offline", "--cache-dir", str(tmp_path / "home"), "generate", "00900",
                        "-n", "1", "-o", str(tmp_path / "cli"), "--threads", str(threads))
    cli = message.replace("`threads`", "--threads")
    assert f"error: {cli}" in stderr, stderr


def test_an_earlier_run_gets_the_resume_hint_in_each_front_ends_words(bundled, tmp_path):
    out = tmp_path / "run"
    bundled.generate("00900", num_samples=2, output_path=out)
    with pytest.raises(medigan_rs.GenerateError) as raised:
        bundled.generate("00900", num_samples=2, output_path=out)
    assert raised.value.hint.startswith("pass `resume=True` to keep its files"), raised.value.hint
    assert "`overwrite=True` to start again" in raised.value.hint
    stderr = _cli_error("--offline", "--cache-dir", str(tmp_path / "home"), "generate", "00900",
                        "-n", "2", "-o", str(out))
    assert "hint: pass --resume to keep its files and generate only the rest, or --overwrite to " \
           "start again" in stderr, stderr


def test_a_diffusion_choice_for_a_one_pass_model_names_the_option_in_each_front_ends_words(
        bundled, tmp_path):
    with pytest.raises(medigan_rs.GenerateError) as raised:
        bundled.generate("00900", num_samples=1, save_images=False, steps=5)
    message = str(raised.value).splitlines()[0]
    assert "invalid `steps`: it is not a diffusion model" in message, message
    assert "--" not in message
    stderr = _cli_error("--offline", "--cache-dir", str(tmp_path / "home"), "generate", "00900",
                        "-n", "1", "-o", str(tmp_path / "cli"), "--steps", "5")
    assert f"error: {message.replace('`steps`', '--steps')}" in stderr, stderr


def test_a_bad_tar_size_names_the_option_in_each_front_ends_words(bundled, tmp_path):
    with pytest.raises(medigan_rs.GenerateError) as raised:
        bundled.generate("00900", num_samples=2, output_path=tmp_path / "py", pack="tar",
                         samples_per_shard=0)
    assert str(raised.value).startswith("invalid `samples_per_shard`: it must be at least 1")
    stderr = _cli_error("--offline", "--cache-dir", str(tmp_path / "home"), "generate", "00900",
                        "-n", "2", "-o", str(tmp_path / "cli"), "--pack", "tar",
                        "--samples-per-shard", "0")
    assert "error: invalid --samples-per-shard: it must be at least 1" in stderr, stderr
