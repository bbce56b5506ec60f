"""Search and ranking on the upstream medigan catalogue: the recorded cases of the original
(tests/reference/search-cases.json, also asserted by the Rust tests), and the Rust CLI's
answers to the same questions."""

from __future__ import annotations

import json
import subprocess

import pytest

import medigan_rs
from conftest import medigan_binary


def run_case(generators: medigan_rs.Generators, case: dict):
    args = case["args"]
    kind = case["kind"]
    if kind == "search":
        return generators.find_matching_models_by_values(**args)
    if kind == "rank":
        return generators.rank_models_by_performance(**args)
    if kind == "search_and_rank":
        return generators.find_models_and_rank(**args)
    if kind == "key_value":
        return [m["model_id"] for m in generators.get_models_by_key_value_pair(**args)]
    raise AssertionError(f"unknown case kind {kind}")


def test_every_recorded_case_of_the_original_gives_the_same_result(upstream, search_cases):
    assert len(search_cases) > 50
    failures = []
    for case in search_cases:
        got = run_case(upstream, case)
        if got != case["result"]:
            failures.append(f"case {case['id']} ({case['kind']}, {case['args']}): {got} != {case['result']}")
    assert not failures, "\n".join(failures)


def test_search_results_carry_the_model_id_attribute(upstream):
    found = upstream.find_matching_models_by_values(["DCGAN", "MMG"])
    assert found == ["00001_DCGAN_MMG_CALC_ROI", "00002_DCGAN_MMG_MASS_ROI", "00005_DCGAN_MMG_MASS_ROI"]
    assert [m.model_id for m in found] == list(found)


def test_a_single_string_is_one_search_value(upstream):
    assert upstream.find_matching_models_by_values("DCGAN") == upstream.find_matching_models_by_values(["DCGAN"])


def test_ranking_can_be_restricted_with_int_and_string_ids(upstream):
    by_int = upstream.rank_models_by_performance(model_ids=[1, 2, 5], metric="FID", order="desc")
    by_str = upstream.rank_models_by_performance(
        model_ids=["00001_DCGAN_MMG_CALC_ROI", "00002", "5"], metric="FID", order="desc"
    )
    assert by_int == by_str
    assert {m["model_id"] for m in by_int} <= {
        "00001_DCGAN_MMG_CALC_ROI", "00002_DCGAN_MMG_MASS_ROI", "00005_DCGAN_MMG_MASS_ROI",
    }
    values = [float(m["FID"]) for m in by_int]
    assert values == sorted(values, reverse=True)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda g: g.find_matching_models_by_values(["MMG"], target_values_operator="NAND"), "NAND"),
        (lambda g: g.rank_models_by_performance(metric="FID", order="up"), "up"),
        (lambda g: g.rank_models_by_performance(metric=""), "metric"),
        (lambda g: g.find_models_and_rank(["MMG"], metric="FID.", order="asc"), "metric"),
    ],
)
def test_malformed_requests_raise_search_error(upstream, call, message):
    with pytest.raises(medigan_rs.SearchError, match=message) as raised:
        call(upstream)
    assert isinstance(raised.value, ValueError)


def cli(binary, catalog, *args) -> list:
    output = subprocess.run(
        [str(binary), "--offline", "--catalog", str(catalog), *args, "--json"],
        capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(output)


def test_the_rust_cli_gives_the_same_answers(upstream, upstream_path):
    binary = medigan_binary()
    if binary is None:
        pytest.skip("the Rust CLI is not built (cargo build -p medigan-cli, or set MEDIGAN_BIN)")
    ids = lambda found: [m if isinstance(m, str) else m["model_id"] for m in found]  # noqa: E731
    assert ids(cli(binary, upstream_path, "search", "DCGAN", "MMG", "--op", "or")) == list(
        upstream.find_matching_models_by_values(["DCGAN", "MMG"], target_values_operator="OR")
    )
    assert ids(cli(binary, upstream_path, "search", "breast", "--keys")) == list(
        upstream.find_matching_models_by_values(["breast"], are_keys_also_matched=True)
    )
    assert cli(binary, upstream_path, "rank", "FID", "--desc") == upstream.rank_models_by_performance(
        metric="FID", order="desc"
    )
    assert cli(binary, upstream_path, "search", "mammography", "--rank", "FID", "--asc") == (
        upstream.find_models_and_rank(["mammography"], metric="FID", order="asc")
    )
    assert ids(cli(binary, upstream_path, "lookup", "modality", "MMG")) == [
        m["model_id"] for m in upstream.get_models_by_key_value_pair("modality", "MMG")
    ]
