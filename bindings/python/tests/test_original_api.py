"""The whole public API of the original medigan `Generators` (issue #25, item 9): every method
and parameter name of the original is there, the executor keeps its model loaded between calls,
and the step-by-step contribution of the paper's section 3.7 runs over the core (metadata,
validation, the user's catalogue, Zenodo and GitHub against a local fake server)."""

from __future__ import annotations

import ast
import http.server
import inspect
import json
import shutil
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

import medigan_rs
from conftest import FIXTURE_IDS, FIXTURES

#: src/medigan/generators.py of the original (MIT), parsed, never imported.
REFERENCE = Path(__file__).parent / "reference" / "medigan-upstream-generators.py"
NO_DEFAULT = object()


def original_methods() -> Dict[str, ast.FunctionDef]:
    tree = ast.parse(REFERENCE.read_text())
    generators = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Generators")
    return {
        f.name: f
        for f in generators.body
        if isinstance(f, ast.FunctionDef) and (not f.name.startswith("_") or f.name == "__init__")
    }


def parameters(function: ast.FunctionDef) -> List[Tuple[str, Any]]:
    """`(name, default)` of the parameters after `self`; NO_DEFAULT where there is none."""
    args = function.args.args[1:]
    defaults = [NO_DEFAULT] * (len(args) - len(function.args.defaults)) + list(function.args.defaults)
    result = []
    for arg, default in zip(args, defaults):
        if default is not NO_DEFAULT:
            default = ast.literal_eval(default)
        result.append((arg.arg, default))
    return result


def test_the_reference_is_the_original_with_its_32_public_methods():
    public = [name for name in original_methods() if not name.startswith("_")]
    assert len(public) == 32, public
    assert "push_to_github" in public and "add_all_model_executors" in public


@pytest.mark.parametrize("name", sorted(original_methods()))
def test_every_method_and_parameter_of_the_original_is_there(name):
    original = original_methods()[name]
    ours = getattr(medigan_rs.Generators, name, None)
    assert ours is not None, f"Generators.{name} of the original is missing"
    signature = inspect.signature(ours)
    ours_params = [p for p in signature.parameters.values() if p.name != "self"]
    positional = [p.name for p in ours_params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    expected = parameters(original)
    # Same names in the same order, so positional and keyword calls of the original both work.
    assert positional[: len(expected)] == [n for n, _ in expected], (name, positional, expected)
    for param_name, default in expected:
        ours_default = signature.parameters[param_name].default
        if default is not NO_DEFAULT:
            assert ours_default == default, f"{name}({param_name}=...): {ours_default!r} != {default!r}"
        elif ours_default is not inspect.Parameter.empty:
            # Required in the original, optional here: a call of the original still works.
            pass
    if original.args.kwarg is not None:
        assert any(p.kind is p.VAR_KEYWORD for p in ours_params), f"{name} takes no **kwargs"


def test_the_walk_fails_on_a_missing_method_or_parameter():
    """The parity check can fail: a class without a method, or with a renamed parameter."""

    class Shrunk(medigan_rs.Generators):
        def push_to_github(self, model_id, token, package_link=None):  # renamed parameter
            """Wrong on purpose."""

    original = parameters(original_methods()["push_to_github"])
    ours = [p for p in inspect.signature(Shrunk.push_to_github).parameters if p != "self"]
    assert ours[: len(original)] != [n for n, _ in original]
    assert not hasattr(object, "add_all_model_executors")


# ------------------------------------------------------------------ executors


@pytest.fixture
def dcgan(tmp_path):
    """A fresh facade over the DCGAN fixture, with its own cache (so its load count starts at 0)."""
    catalog = FIXTURES / "dcgan" / "medigan.json"
    return medigan_rs.Generators(catalog=str(catalog), home=tmp_path / "home", offline=True)


def test_an_executor_keeps_its_model_loaded_across_calls(dcgan):
    model = FIXTURE_IDS["dcgan"]
    assert dcgan.models_loaded() == 0
    assert not dcgan.is_model_executor_already_added(model)
    executor = dcgan.get_model_executor(model)
    assert executor.model_id == model and executor.info["kind"] == "native"
    assert dcgan.models_loaded() == 1
    first = executor.generate(num_samples=2, save_images=False, seed=3)
    again = executor.generate(num_samples=2, save_images=False, seed=3)
    assert len(first) == 2 and (first[0] == again[0]).all()
    # The same executor, by full id or number, and no further load.
    assert dcgan.get_model_executor(90001) is executor
    assert dcgan.find_model_executor_by_id(model) is executor
    assert dcgan.model_executors == [executor]
    dcgan.generate(model, num_samples=1, save_images=False)
    assert dcgan.models_loaded() == 1


def test_generate_adds_the_models_executor_as_the_original_does(dcgan, tmp_path):
    model = FIXTURE_IDS["dcgan"]
    assert dcgan.model_executors == []
    dcgan.generate(90001, num_samples=1, save_images=False)
    assert [e.model_id for e in dcgan.model_executors] == [model]
    executor = dcgan.find_model_executor_by_id(model)
    dcgan.generate(model, num_samples=1, output_path=tmp_path / "out")
    dcgan.generate(model, is_gen_function_returned=True)
    assert dcgan.model_executors == [executor], "one executor, reused by every call"
    assert dcgan.models_loaded() == 1


def test_a_new_facade_loads_again_so_the_counter_can_fail(dcgan, tmp_path):
    model = FIXTURE_IDS["dcgan"]
    dcgan.get_model_executor(model).generate(num_samples=1, save_images=False)
    other = medigan_rs.Generators(
        catalog=str(FIXTURES / "dcgan" / "medigan.json"), home=tmp_path / "home2", offline=True
    )
    other.generate(model, num_samples=1, save_images=False)
    assert other.models_loaded() == 1 and dcgan.models_loaded() == 1


def test_add_all_model_executors_adds_one_per_model(dcgan):
    dcgan.add_all_model_executors()
    dcgan.add_all_model_executors()
    assert [e.model_id for e in dcgan.model_executors] == dcgan.list_models()
    with pytest.raises(medigan_rs.UnknownModelError):
        dcgan.find_model_executor_by_id("99999_NOT_THERE")


def test_a_model_executor_made_directly_loads_lazily(dcgan):
    executor = medigan_rs.ModelExecutor(FIXTURE_IDS["dcgan"], download_package=False, generators=dcgan)
    assert executor.info is None and dcgan.models_loaded() == 0
    assert executor.execution_config["runtime"] == "onnx" and executor.model_name == "model"
    executor.generate(num_samples=1, save_images=False)
    assert executor.info is not None and dcgan.models_loaded() == 1


def test_executor_lists_are_given_like_the_originals_and_not_pickled(dcgan, tmp_path):
    import pickle

    executor = dcgan.get_model_executor(FIXTURE_IDS["dcgan"], install_dependencies=False)
    shared = medigan_rs.Generators(
        model_executors=[executor], catalog=str(FIXTURES / "dcgan" / "medigan.json"),
        home=tmp_path / "home", offline=True,
    )
    assert shared.find_model_executor_by_id(FIXTURE_IDS["dcgan"]) is executor
    copy = pickle.loads(pickle.dumps(dcgan))
    assert copy.model_executors == [] and copy.model_contributors == []
    assert copy.list_models() == dcgan.list_models()
    with pytest.raises(NotImplementedError, match="config_manager"):
        medigan_rs.Generators(config_manager=object())


# ------------------------------------------------------------------ contribution steps

NEW_ID = "00123_MY_DCGAN"


def native_package(tmp_path: Path) -> Path:
    """A copy of the DCGAN fixture package (graph, README, LICENSE, medigan.json)."""
    package = tmp_path / "my-model"
    package.mkdir()
    for name in ("model.onnx", "LICENSE", "README.md", "medigan.json"):
        shutil.copy(FIXTURES / "dcgan" / name, package / name)
    return package


@pytest.fixture
def home_generators(tmp_path, monkeypatch):
    """A facade over the default catalogue (bundled model) with a temporary home."""
    return medigan_rs.Generators(home=tmp_path / "home", offline=True)


def test_metadata_validation_names_the_bad_field(home_generators):
    entry = json.loads((FIXTURES / "dcgan" / "medigan.json").read_text())[FIXTURE_IDS["dcgan"]]
    assert home_generators.is_model_metadata_valid(NEW_ID, {NEW_ID: entry})
    assert home_generators.is_model_metadata_valid(NEW_ID, entry, is_local_model=False)
    bad = json.loads(json.dumps(entry))
    bad["execution"]["onnx"]["outputs"][0]["range"] = "wide"
    with pytest.raises(medigan_rs.CatalogError, match=r"execution\.onnx\.outputs\[0\]\.range"):
        home_generators.is_model_metadata_valid(NEW_ID, {NEW_ID: bad})
    del bad["selection"]
    with pytest.raises(medigan_rs.CatalogError, match="selection"):
        home_generators.is_model_metadata_valid(NEW_ID, bad)


def test_add_model_to_config_writes_the_users_catalogue_only(home_generators, tmp_path):
    package = native_package(tmp_path)
    contributor = home_generators.add_model_contributor(NEW_ID, str(package / "model.onnx"))
    metadata = home_generators.add_metadata_from_file(NEW_ID, str(package / "medigan.json"))
    assert list(metadata) == [NEW_ID] and contributor.package_path == str(package)
    assert NEW_ID not in home_generators.list_models()

    bad = json.loads(json.dumps(metadata))
    bad[NEW_ID]["execution"]["onnx"]["inputs"][0]["shape"] = [-1]
    with pytest.raises(medigan_rs.CatalogError, match=r"execution\.onnx\.inputs\[0\]\.shape"):
        home_generators.add_model_to_config(NEW_ID, bad)
    user_catalog = tmp_path / "home" / "catalog-v1" / "local.json"
    assert not user_catalog.exists(), "an invalid entry writes nothing"

    assert home_generators.add_model_to_config(NEW_ID, metadata) is True
    written = json.loads(user_catalog.read_text())
    assert list(written) == [NEW_ID]
    assert written[NEW_ID]["execution"]["package_link"] == str(package)
    # This object and a new one (and the CLI) find it, beside the bundled model; it generates.
    assert NEW_ID in home_generators.list_models() and "00900_PHANTOM_DEMO" in home_generators.list_models()
    again = medigan_rs.Generators(home=tmp_path / "home", offline=True)
    assert again.get_config_by_id(NEW_ID, "execution.runtime") == "onnx"
    assert len(again.generate(NEW_ID, num_samples=2, save_images=False)) == 2

    # Present already: kept unless overwrite_existing_metadata.
    changed = json.loads(json.dumps(metadata))
    changed[NEW_ID]["description"]["title"] = "Changed"
    assert home_generators.add_model_to_config(NEW_ID, changed) is False
    assert json.loads(user_catalog.read_text())[NEW_ID]["description"]["title"] != "Changed"
    assert home_generators.add_model_to_config(NEW_ID, changed, overwrite_existing_metadata=True)
    assert home_generators.get_config_by_id(NEW_ID, "description.title") == "Changed"
    with pytest.raises(ValueError, match="store_new_config"):
        home_generators.add_model_to_config(NEW_ID, changed, store_new_config=False)


def test_with_explicit_sources_the_added_entry_is_read_too(dcgan, tmp_path, monkeypatch):
    package = native_package(tmp_path)
    dcgan.add_model_contributor(NEW_ID, str(package))
    metadata = dcgan.add_metadata_from_file(NEW_ID, str(package / "medigan.json"))
    assert dcgan.add_model_to_config(NEW_ID, metadata)
    assert sorted(dcgan.list_models()) == sorted([FIXTURE_IDS["dcgan"], NEW_ID])
    # The same through MEDIGAN_CATALOG rather than catalog=.
    monkeypatch.setenv("MEDIGAN_CATALOG", str(FIXTURES / "dcgan" / "medigan.json"))
    from_env = medigan_rs.Generators(home=tmp_path / "home-env", offline=True)
    other_id = "00124_MY_DCGAN"
    assert from_env.add_model_to_config(other_id, metadata[NEW_ID])
    assert sorted(from_env.list_models()) == sorted([FIXTURE_IDS["dcgan"], other_id])


def test_contributor_steps_check_the_id_path_and_fill_metadata(home_generators, tmp_path):
    package = native_package(tmp_path)
    with pytest.raises(medigan_rs.MediganError, match="my_model"):
        home_generators.add_model_contributor("my_model", str(package))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        home_generators.add_model_contributor(NEW_ID, str(tmp_path / "nowhere" / "__init__.py"))
    with pytest.raises(medigan_rs.MediganError, match="add_model_contributor"):
        home_generators.add_metadata_from_file(NEW_ID, str(package / "medigan.json"))
    contributor = home_generators.add_model_contributor(model_id=NEW_ID, init_py_path=str(package))
    assert home_generators.add_model_contributor(NEW_ID, str(package)) is contributor
    assert home_generators.get_model_contributor_by_id(NEW_ID) is contributor
    metadata = home_generators.add_metadata_from_input(
        model_id=NEW_ID,
        model_weights_name="model",
        model_weights_extension=".onnx",
        generate_method_name="generate",
        dependencies=["numpy"],
        fill_more_fields_interactively=False,
        output_path=str(tmp_path / "config"),
    )
    execution = metadata[NEW_ID]["execution"]
    assert execution["runtime"] == "onnx" and execution["dependencies"] == ["numpy"]
    saved = json.loads((package / "medigan.json").read_text())
    assert saved == metadata, "the package's medigan.json holds the metadata"


class FakeServices(http.server.BaseHTTPRequestHandler):
    """Zenodo (deposition 4242, accepting everything) and GitHub's issue endpoint, as in the
    CLI's contribute tests (crates/medigan-cli/tests/contribute.rs); requests are recorded."""

    requests: List[Tuple[str, str, bytes]] = []
    base = ""

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: Optional[dict]) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.requests.append((self.command, self.path, self.rfile.read(length)))
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        if self.path == "/api/deposit/depositions":
            self._answer(201, {
                "id": 4242,
                "links": {"bucket": f"{self.base}/api/files/bucket-4242", "html": f"{self.base}/deposit/4242"},
                "metadata": {"prereserve_doi": {"doi": "10.5072/zenodo.4242"}},
            })
        elif self.path == "/gh/repos/RichardObi/medigan/issues":
            self._answer(201, {"html_url": "https://github.com/RichardObi/medigan/issues/7", "number": 7})
        else:
            self._answer(404, {"message": "not found"})

    def do_PUT(self) -> None:
        if self.path == f"/api/files/bucket-4242/{NEW_ID}.zip":
            self._answer(201, {"key": "x"})
        elif self.path == "/api/deposit/depositions/4242":
            self._answer(200, {})
        else:
            self._answer(404, {"message": "not found"})

    def do_DELETE(self) -> None:
        self._answer(204, None)


@pytest.fixture
def fake_services(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeServices)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    FakeServices.base = base
    FakeServices.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("MEDIGAN_ZENODO_URL", base)
    monkeypatch.setenv("MEDIGAN_GITHUB_API_URL", f"{base}/gh")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield base, FakeServices.requests
    server.shutdown()
    server.server_close()


def test_push_to_zenodo_then_github_step_by_step(fake_services, tmp_path):
    base, requests = fake_services
    generators = medigan_rs.Generators(home=tmp_path / "home", offline=False,
                                       catalog=str(FIXTURES / "dcgan" / "medigan.json"))
    package = native_package(tmp_path)
    catalog = json.loads((package / "medigan.json").read_text())
    entry = catalog[FIXTURE_IDS["dcgan"]]
    entry["description"]["comment"] = ""  # filled from model_description
    entry["description"].pop("authors", None)  # filled from creator_name and _affiliation
    (package / "medigan.json").write_text(json.dumps(catalog))
    generators.add_model_contributor(NEW_ID, str(package / "model.onnx"))
    metadata = generators.add_metadata_from_input(NEW_ID, fill_more_fields_interactively=False,
                                                  output_path=str(tmp_path / "out"))
    # The original's order (contribute -> test_model): into the catalogue, generate, then push;
    # the user's own entry for this package does not count as the id being taken.
    assert generators.add_model_to_config(NEW_ID, metadata)
    assert len(generators.generate(NEW_ID, num_samples=1, save_images=False)) == 1
    page = generators.push_to_zenodo(
        NEW_ID, zenodo_access_token="secret-zenodo", creator_name="Doe, Jane",
        creator_affiliation="Uni A", model_description="A tiny DCGAN.",
    )
    assert page == f"{base}/deposit/4242"
    zip_path = tmp_path / "out" / f"{NEW_ID}.zip"
    calls = [(method, path) for method, path, _ in requests]
    assert calls == [
        ("POST", "/api/deposit/depositions"),
        ("PUT", f"/api/files/bucket-4242/{NEW_ID}.zip"),
        ("PUT", "/api/deposit/depositions/4242"),
    ], "a draft: created, uploaded, described; not published, no issue"
    assert requests[1][2] == zip_path.read_bytes(), "the packed zip is what was uploaded"
    described = json.loads(requests[2][2])["metadata"]
    assert described["creators"] == [{"name": "Doe, Jane", "affiliation": "Uni A"}]
    assert "A tiny DCGAN." in described["description"]

    issue = generators.push_to_github(NEW_ID, github_access_token="secret-github", package_link=page)
    assert issue == "https://github.com/RichardObi/medigan/issues/7"
    method, path, body = requests[-1]
    assert (method, path) == ("POST", "/gh/repos/RichardObi/medigan/issues")
    text = json.loads(body)["body"]
    assert f"{base}/records/4242/files/{NEW_ID}.zip?download=1" in text, "the package's download link"
    assert NEW_ID in json.loads(body)["title"]
    assert "secret" not in text


def test_push_to_github_needs_a_link_and_a_token(home_generators, tmp_path):
    package = native_package(tmp_path)
    generators = home_generators
    generators.add_model_contributor(NEW_ID, str(package))
    generators.add_metadata_from_file(NEW_ID, str(package))
    with pytest.raises(medigan_rs.MediganError, match="push_to_zenodo"):
        generators.push_to_github(NEW_ID, github_access_token="token")
    with pytest.raises(ValueError, match="github_access_token"):
        generators.push_to_github(NEW_ID, github_access_token="", package_link="https://example.org/x.zip")


def test_add_metadata_from_input_asks_for_the_missing_fields_in_a_terminal(home_generators, tmp_path, monkeypatch):
    package = tmp_path / "legacy-model"
    package.mkdir()
    (package / "__init__.py").write_text("def generate(model_file, num_samples):\n    pass\n")
    home_generators.add_model_contributor(NEW_ID, str(package / "__init__.py"))
    answers = iter(["A GAN", "", "Doe, Jane (Uni A)", "Makes patches.", "MIT", "MMG, mammography", "breast"])
    asked: List[str] = []

    def fake_input(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    class Terminal:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("builtins.input", fake_input)
    monkeypatch.setattr("sys.stdin", Terminal())
    metadata = home_generators.add_metadata_from_input(
        NEW_ID, "weights", ".pt", "generate", ["torch"], output_path=str(tmp_path / "config"),
    )
    entry = metadata[NEW_ID]
    assert [p.split(":")[0] for p in asked] == [
        "description.title", "description.authors", "description.authors", "description.comment",
        "selection.license", "selection.modality", "selection.organ",
    ], "an empty answer is asked again"
    assert entry["description"]["authors"] == [{"name": "Doe, Jane", "affiliation": "Uni A"}]
    assert entry["selection"]["modality"] == ["MMG", "mammography"]
    assert entry["execution"]["model_name"] == "weights" and entry["execution"]["extension"] == ".pt"
    assert json.loads((package / "medigan.json").read_text()) == metadata
    # The image size is the one field left to the user (as in the original's template).
    with pytest.raises(medigan_rs.CatalogError, match=r"execution\.image_size"):
        home_generators.is_model_metadata_valid(NEW_ID, metadata)
    entry["execution"]["image_size"] = [64, 64]
    assert home_generators.is_model_metadata_valid(NEW_ID, metadata)
