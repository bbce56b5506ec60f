"""The catalogue through the original method names: listing, entries, ids as str or int,
selection keys and values, and the errors of unknown ids."""

from __future__ import annotations

import json

import pytest

import medigan_rs


def test_list_models_is_the_catalogue_in_file_order(upstream, upstream_path):
    expected = list(json.loads(upstream_path.read_text()))
    assert upstream.list_models() == expected
    assert len(expected) == 23


def test_int_and_string_ids_give_the_same_entry(upstream):
    full = upstream.get_config_by_id("00001_DCGAN_MMG_CALC_ROI")
    assert upstream.get_config_by_id(1) == full
    assert upstream.get_config_by_id("1") == full
    assert upstream.get_config_by_id("00001") == full
    assert set(full) >= {"execution", "selection", "description"}


def test_config_key_walks_dotted_paths(upstream):
    assert upstream.get_config_by_id(1, config_key="selection.modality") == (
        upstream.get_config_by_id(1)["selection"]["modality"]
    )
    with pytest.raises(KeyError, match="selection.no_such_key"):
        upstream.get_config_by_id(1, config_key="selection.no_such_key")


def test_unknown_model_names_the_closest_ids_and_a_hint(upstream):
    with pytest.raises(medigan_rs.UnknownModelError) as raised:
        upstream.get_config_by_id("00001_DCGAN_MMG_CALC_RIO")
    error = raised.value
    assert isinstance(error, LookupError) and isinstance(error, medigan_rs.MediganError)
    assert "00001_DCGAN_MMG_CALC_ROI" in str(error)
    assert error.hint and "hint: " + error.hint in str(error)


def test_hints_speak_python_not_command_line_flags(upstream):
    with pytest.raises(medigan_rs.UnknownModelError) as raised:
        upstream.get_config_by_id("00001_DCGAN_MMG_CALC_RIO")
    assert "list_models()" in raised.value.hint and "medigan list" not in raised.value.hint
    with pytest.raises(medigan_rs.MediganError) as raised:
        upstream.generate(1, num_samples=1, save_images=False)
    assert "install_dependencies=True" in str(raised.value)
    assert "--install-dependencies" not in str(raised.value)


def test_model_ids_of_the_wrong_type_are_refused(upstream):
    with pytest.raises(TypeError, match="model_id must be a str"):
        upstream.get_config_by_id(1.5)
    with pytest.raises(TypeError, match="model_id must be a str"):
        upstream.get_config_by_id(True)


def test_selection_criteria(upstream):
    selection = upstream.get_selection_criteria_by_id(3)
    assert selection == upstream.get_config_by_id(3)["selection"]
    named = upstream.get_selection_criteria_by_id(3, is_model_id_removed=False)
    assert named == {"model_id": "00003_CYCLEGAN_MMG_DENSITY_FULL", "selection": selection}
    assert len(upstream.get_selection_criteria_by_ids([1, 2])) == 2


def test_selection_keys_and_values(upstream):
    keys = upstream.get_selection_keys(model_id=1)
    assert keys == list(upstream.get_config_by_id(1)["selection"])
    assert set(upstream.get_selection_keys()) >= set(keys)
    modalities = upstream.get_selection_values_for_key("modality", model_id=1)
    # As the core lists them: list elements one by one, each distinct value once.
    assert modalities == list(dict.fromkeys(upstream.get_config_by_id(1)["selection"]["modality"]))
    everywhere = upstream.get_selection_values_for_key("modality")
    assert set(modalities) <= set(everywhere) and len(everywhere) == len(set(everywhere))


def test_key_value_pairs_come_back_as_the_original_dicts(upstream):
    found = upstream.get_models_by_key_value_pair("modality", "MMG")
    assert found and all(set(m) == {"model_id", "modality"} and m["modality"] == "MMG" for m in found)
    assert "00001_DCGAN_MMG_CALC_ROI" in [m["model_id"] for m in found]


def test_the_bundled_catalogue_has_the_demo_model(bundled):
    assert "00900_PHANTOM_DEMO" in bundled.list_models()


def test_bad_settings_are_refused():
    with pytest.raises(medigan_rs.BackendError, match="warp"):
        medigan_rs.Generators(backend="warp")
    with pytest.raises(NotImplementedError, match="catalog="):
        medigan_rs.Generators(config_manager=object())


def test_a_missing_catalogue_file_is_a_catalog_error(tmp_path):
    generators = medigan_rs.Generators(catalog=str(tmp_path / "nope.json"), home=tmp_path, offline=True)
    with pytest.raises(medigan_rs.CatalogError, match="nope.json"):
        generators.list_models()
