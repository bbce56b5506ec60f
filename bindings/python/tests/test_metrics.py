"""medigan_rs.metrics and medigan_rs.audit: the core's evaluation of two folders, with the small
ONNX extractor of tests/fixtures/fid/ and phantoms of the bundled model."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

import medigan_rs
from conftest import FIXTURES, medigan_binary

EXTRACTOR = f"onnx:{FIXTURES / 'fid' / 'extractor.onnx'}"


@pytest.fixture(scope="module")
def phantoms(bundled, tmp_path_factory):
    """`phantoms(n, seed)`: a folder of n PNG phantoms of the bundled model."""
    made = {}

    def make(n: int, seed: int):
        if (n, seed) not in made:
            out = tmp_path_factory.mktemp(f"phantoms-{n}-{seed}")
            bundled.generate(900, num_samples=n, output_path=str(out), seed=seed)
            made[(n, seed)] = out
        return made[(n, seed)]

    return make


def test_a_folder_against_itself_is_identical_by_every_metric(phantoms, tmp_path):
    real = phantoms(12, 1)
    report = medigan_rs.metrics(real, real, extractor=EXTRACTOR, kid_subsets=5,
                                kid_subset_size=6, nearest_k=2, home=tmp_path, offline=True)
    assert abs(report["fid_rs"]) < 1e-6, report
    # KID draws its subsets of each side independently: near 0, not exactly 0.
    assert abs(report["kid"]["mean"]) < 0.1, report
    assert report["prdc"]["precision"] == 1.0 and report["prdc"]["recall"] == 1.0, report
    assert report["provenance"]["real_images"] == 12
    assert len(report["provenance"]["extractor_sha256"]) == 64


def test_repeats_split_the_synthetic_folder_and_give_intervals(phantoms, tmp_path):
    real, synthetic = phantoms(24, 9), phantoms(24, 10)
    report = medigan_rs.metrics(real, synthetic, extractor=EXTRACTOR, repeats=3, kid_subsets=5,
                                kid_subset_size=6, nearest_k=2, home=tmp_path, offline=True)
    assert report["fid_rs"] > 0.0
    fid = report["intervals"]["FID"]
    assert fid["count"] == 3 and fid["low"] <= fid["mean"] <= fid["high"], fid
    assert report["provenance"]["synthetic_images"] == 8, "24 images in 3 disjoint parts"
    assert "KID_EXTRACTOR" in report["catalog"]["selection"]["performance"]


def test_only_the_metrics_asked_for(phantoms, tmp_path):
    real, synthetic = phantoms(12, 1), phantoms(12, 2)
    report = medigan_rs.metrics(real, synthetic, extractor=EXTRACTOR, metrics="fid",
                                home=tmp_path, offline=True)
    assert report["kid"] is None and report["prdc"] is None, report
    assert report["fid_rs"] > 0.0


def test_the_rust_cli_gives_the_same_numbers(phantoms, tmp_path):
    binary = medigan_binary()
    if binary is None:
        pytest.skip("the Rust CLI is not built (cargo build -p medigan-cli, or set MEDIGAN_BIN)")
    real, synthetic = phantoms(12, 1), phantoms(12, 2)
    output = subprocess.run(
        [str(binary), "--json", "--offline", "metrics", str(real), str(synthetic),
         "--extractor", EXTRACTOR, "--kid-subsets", "5", "--kid-subset-size", "6",
         "--nearest-k", "2"],
        capture_output=True, text=True, check=True,
        env={**os.environ, "MEDIGAN_HOME": str(tmp_path / "cli")},
    ).stdout
    cli = json.loads(output)["reports"][0]
    report = medigan_rs.metrics(real, synthetic, extractor=EXTRACTOR, kid_subsets=5,
                                kid_subset_size=6, nearest_k=2, home=tmp_path, offline=True)
    # The same core; the extractor may run on another backend (the CLI may use tract).
    for key in ("fid_rs", "fid_rr", "fid_ratio"):
        assert report[key] == pytest.approx(cli[key], rel=1e-5), key
    assert report["kid"]["mean"] == pytest.approx(cli["kid"]["mean"], rel=1e-4, abs=1e-9)
    for key, value in cli["prdc"].items():
        assert report["prdc"][key] == pytest.approx(value, rel=1e-9), key


def test_bad_arguments_are_named(phantoms, tmp_path):
    real = phantoms(12, 1)
    with pytest.raises(ValueError, match="invalid extractor `resnet`"):
        medigan_rs.metrics(real, real, extractor="resnet", home=tmp_path, offline=True)
    with pytest.raises(medigan_rs.MediganError, match="`is`"):
        medigan_rs.metrics(real, real, extractor=EXTRACTOR, metrics="fid,is", home=tmp_path,
                           offline=True)
    with pytest.raises(ValueError, match="repeats"):
        medigan_rs.metrics(real, real, extractor=EXTRACTOR, repeats=0, home=tmp_path)
    with pytest.raises(medigan_rs.MediganError, match="missing-folder"):
        medigan_rs.metrics(tmp_path / "missing-folder", real, extractor=EXTRACTOR,
                           home=tmp_path, offline=True)


def test_audit_flags_training_images_and_not_new_ones(phantoms, tmp_path):
    train, holdout, fresh = phantoms(12, 1), phantoms(12, 2), phantoms(12, 3)
    copies = medigan_rs.audit(train, train, holdout, extractor=EXTRACTOR, home=tmp_path,
                              offline=True)
    assert copies["flagged"] == 12, "every training image is its own copy"
    assert copies["calibration"] == "holdout"
    assert "memorisation_audit" in copies["catalog"]["selection"]["privacy_preservation"]
    new = medigan_rs.audit(fresh, train, holdout, extractor=EXTRACTOR, home=tmp_path,
                           offline=True)
    assert new["flagged"] == 0, [m for m in new["matches"] if m["flagged"]]


def test_the_default_extractor_is_the_native_inception_network(phantoms, tmp_path):
    # The wheel compiles the native FID Inception (the default extractor): given a weights
    # file that lacks a tensor, it is the network that refuses it, naming the tensor, not the
    # build saying that it has no Inception.
    real = phantoms(12, 1)
    weights = FIXTURES / "inception" / "missing.pth"
    with pytest.raises(medigan_rs.MediganError, match="Conv2d_2a_3x3.conv.weight") as refused:
        medigan_rs.metrics(real, real, inception_weights=weights, home=tmp_path, offline=True)
    assert "cargo feature" not in str(refused.value)
    with pytest.raises(medigan_rs.MediganError, match="Conv2d_2a_3x3.conv.weight"):
        medigan_rs.audit(real, real, inception_weights=weights, home=tmp_path, offline=True)


def test_sharded_statistics_merge_into_the_fid_of_the_union(phantoms, tmp_path):
    real, one, two = phantoms(12, 1), phantoms(7, 2), phantoms(6, 3)
    union = tmp_path / "union"
    union.mkdir()
    for k, shard in enumerate((one, two)):
        for path in shard.iterdir():
            (union / f"{k}-{path.name}").write_bytes(path.read_bytes())
    common = dict(extractor=EXTRACTOR, range=(0.0, 1.0), home=tmp_path, offline=True)
    single = medigan_rs.metrics(real, union, metrics="fid", **common)["fid_rs"]
    files = [tmp_path / "1.stats", tmp_path / "2.stats"]
    for shard, file in zip((one, two), files):
        medigan_rs.metrics(real, shard, metrics="fid", save_stats=file, **common)
    merged = medigan_rs.metrics(merge_stats=files[::-1])
    assert merged["fid_rs"] == single, (merged["fid_rs"], single)
    assert merged["synthetic_images"] == 13 and merged["real_images"] == 12
    with pytest.raises(ValueError, match="KID, PRDC and CMMD need the feature vectors"):
        medigan_rs.metrics(merge_stats=files, metrics="fid,kid")
    with pytest.raises(TypeError, match="reads no images"):
        medigan_rs.metrics(real, merge_stats=files)


def test_cmmd_through_vit_extractors_is_zero_for_a_folder_with_itself(phantoms, tmp_path):
    real, synthetic = phantoms(8, 1), phantoms(8, 2)
    vit = FIXTURES / "vit"
    for graph, output in (("clip_vit.onnx", "image_embeds"), ("dinov2_vit.onnx", "pooler_output")):
        common = dict(extractor=f"onnx:{vit / graph}", input_size=56, range=(0.0, 1.0),
                      mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), output_name=output,
                      metrics="fid,cmmd", home=tmp_path, offline=True)
        itself = medigan_rs.metrics(real, real, **common)
        assert itself["cmmd"]["value"] == 0.0 and abs(itself["fid_rs"]) < 1e-6, itself
        assert itself["kid"] is None and itself["prdc"] is None
        other = medigan_rs.metrics(real, synthetic, **common)
        assert other["cmmd"]["value"] > 0.0, other
        assert "CLIP image tower" in other["cmmd"]["note"]
        key = "CMMD_" + graph.removesuffix(".onnx").upper()  # the key of the graph's name
        performance = other["catalog"]["selection"]["performance"]
        assert performance[key] == round(other["cmmd"]["value"], 6)


def test_volumes_in_three_planes_agree_with_the_numpy_reference(tmp_path):
    planes = FIXTURES / "planes"
    reference = json.loads((planes / "reference.json").read_text())
    case = reference["cases"][1]
    report = medigan_rs.metrics(
        planes / "real", planes / "synthetic", volumes="planes", extractor=EXTRACTOR,
        range=(0.0, 1.0), mean=reference["mean"], std=reference["std"],
        center_slices=case["center_ratio"], every_slice=case["every"],
        empty_below=case["empty_below"], clip=tuple(case["clip"]), home=tmp_path, offline=True)
    for got, expected in zip(report["planes"], case["planes"]):
        assert got["plane"] == expected["plane"]
        assert abs(got["fid"] - expected["fid"]) <= 1e-6 * abs(expected["fid"]), (got, expected)
    assert abs(report["fid_mean"] - case["fid_mean"]) <= 1e-6 * case["fid_mean"]


def test_per_class_needs_one_real_subfolder_per_class(phantoms, tmp_path):
    catalog = [str(FIXTURES / "conditional" / "medigan.json")]
    with pytest.raises(Exception, match="one subfolder per class label"):
        medigan_rs.evaluate_models("90002", phantoms(12, 1), per_class=True, catalog=catalog,
                                   extractor=EXTRACTOR, home=tmp_path, offline=True)


def test_a_model_audit_with_a_gallery_matches_the_cli(phantoms, tmp_path, monkeypatch):
    # A model id as the subject: its samples are generated from the run of `seed`, as
    # `medigan audit MODEL -n N --seed S --gallery DIR` does; both go through the core's request.
    monkeypatch.delenv("MEDIGAN_CATALOG", raising=False)
    train, holdout = phantoms(12, 1), phantoms(12, 2)
    report = medigan_rs.audit("00900", train, holdout, num_samples=5, seed=3,
                              gallery=tmp_path / "gallery", pairs=2, extractor=EXTRACTOR,
                              home=tmp_path / "home", offline=True)
    assert report["synthetic_images"] == 5 and report["train_images"] == 12
    assert report["provenance"]["generation_seed"] == 3
    page = report["gallery"]
    assert page and os.path.isfile(page) and len(list((tmp_path / "gallery" / "pairs").glob("*.png"))) == 4
    # The gallery folder is no longer empty: the same audit is refused before any work.
    with pytest.raises(medigan_rs.EvaluationOptionError, match="gallery folder") as refused:
        medigan_rs.audit("00900", train, num_samples=5, gallery=tmp_path / "gallery",
                         extractor=EXTRACTOR, home=tmp_path / "home", offline=True)
    binary = medigan_binary()
    if binary is None:
        pytest.skip("the Rust CLI is not built (cargo build -p medigan-cli, or set MEDIGAN_BIN)")
    out = subprocess.run(
        [str(binary), "--json", "--offline", "--cache-dir", str(tmp_path / "cli"), "audit",
         "00900", "--train", str(train), "--holdout", str(holdout), "-n", "5", "--seed", "3",
         "--extractor", EXTRACTOR], capture_output=True, text=True, check=True).stdout
    cli = json.loads(out)
    assert cli["flagged"] == report["flagged"]
    assert cli["synthetic_images"] == 5 and cli["provenance"]["generation_seed"] == 3
    assert cli["pixel_threshold"] == pytest.approx(report["pixel_threshold"], rel=1e-9)
    assert [m["pixel_similarity"] for m in cli["matches"]] == pytest.approx(
        [m["pixel_similarity"] for m in report["matches"]], rel=1e-9)
    again = subprocess.run(
        [str(binary), "--offline", "--cache-dir", str(tmp_path / "cli"), "audit", "00900",
         "--train", str(train), "-n", "5", "--gallery", str(tmp_path / "gallery"),
         "--extractor", EXTRACTOR], capture_output=True, text=True)
    assert again.returncode != 0
    assert f"error: {str(refused.value).splitlines()[0]}" in again.stderr, again.stderr


def test_audit_options_are_refused_by_the_core_naming_them(phantoms, tmp_path):
    train = phantoms(12, 1)
    for kwargs, option in [({"pairs": 0, "gallery": tmp_path / "g"}, "gallery pairs"),
                           ({"batch_size": 0}, "batch size"), ({"margin": 2.0}, "audit margin"),
                           ({"num_samples": 0}, "number of samples")]:
        subject = "00900" if "num_samples" in kwargs else train
        with pytest.raises(medigan_rs.EvaluationOptionError, match=f"invalid {option}"):
            medigan_rs.audit(subject, train, extractor=EXTRACTOR, home=tmp_path, offline=True,
                             **kwargs)


def test_frd_matches_the_cli_and_metrics_reports_it(phantoms, tmp_path):
    real, synthetic = phantoms(8, 1), phantoms(8, 2)
    report = medigan_rs.frd(real, synthetic)
    assert report["version"] == "v1" and report["convention"].startswith("ln(d^2)")
    assert report["images"] == [8, 8] and report["features_used"] > 100
    paper = medigan_rs.frd(real, synthetic, paper_log=True)
    assert paper["frd"] == pytest.approx(report["frd"] / 2, rel=1e-12)
    both = medigan_rs.metrics(real, synthetic, metrics="frd", frd_version=0)
    v0 = medigan_rs.frd(real, synthetic, version=0)
    assert both["frd"]["frd"] == v0["frd"] and v0["version"] == "v0" and v0["frd"] > 0
    assert "fid_rs" not in both  # FRD alone embeds nothing
    binary = medigan_binary()
    if binary is None:
        pytest.skip("the Rust CLI is not built (cargo build -p medigan-cli, or set MEDIGAN_BIN)")
    output = subprocess.run(
        [str(binary), "--json", "frd", str(real), str(synthetic)],
        capture_output=True, text=True, check=True,
        env={**os.environ, "MEDIGAN_HOME": str(tmp_path / "cli")},
    ).stdout
    assert json.loads(output) == report


def test_frd_options_are_refused_naming_them(phantoms, tmp_path):
    real = phantoms(8, 1)
    with pytest.raises(ValueError, match="frd version"):
        medigan_rs.frd(real, real, version=2)
    with pytest.raises(ValueError, match="paper log"):
        medigan_rs.frd(real, real, version=0, paper_log=True)
    with pytest.raises(ValueError, match="repeats"):
        medigan_rs.metrics(real, real, metrics="frd", repeats=2)


def test_frd_shards_merge_into_the_single_pass_value(phantoms, tmp_path):
    real, a, b = phantoms(8, 1), phantoms(8, 2), phantoms(8, 3)
    union = tmp_path / "union"
    union.mkdir()
    for i, shard in enumerate((a, b)):
        for f in sorted(shard.glob("*.png")):
            (union / f"{i}-{f.name}").write_bytes(f.read_bytes())
    single = medigan_rs.frd(real, union)
    files = [tmp_path / "a.frd", tmp_path / "b.frd"]
    for shard, path in zip((a, b), files):
        medigan_rs.frd(real, shard, save_stats=path)
    merged = medigan_rs.frd(merge_stats=files[::-1])
    assert merged["frd"] == single["frd"] and merged["images"] == [8, 16]
