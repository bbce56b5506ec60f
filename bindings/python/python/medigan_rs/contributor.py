"""`ModelContributor` and the original `Generators`' step-by-step contribution and catalogue
methods (paper, section 3.7) over the Rust core's `contribute` workflow.

The steps, as the original runs them: `add_model_contributor(model_id, init_py_path)` checks the
id and the package folder; `add_metadata_from_file` / `add_metadata_from_input` give it its
catalogue entry (written to the package's `medigan.json`, the file the core packs);
`is_model_metadata_valid` and `add_model_to_config` check the entry and add it to the user's
catalogue; `push_to_zenodo` checks, tests, packs and uploads the package; `push_to_github` opens
the issue proposing the entry at the uploaded package's link.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union

from . import _native
from .exceptions import CatalogError, MediganError

if TYPE_CHECKING:  # pragma: no cover
    from .generators import Generators

#: The file of a package holding its catalogue entry (the core's `contribute::METADATA_FILE`).
METADATA_FILE = "medigan.json"
#: Default arguments of the original that mean "not given".
_UNKNOWN_NAME = "unknown name"
_UNKNOWN_AFFILIATION = "unknown affiliation"


def _entry_of(model_id: str, metadata: Any) -> Dict[str, Any]:
    """The entry in `metadata`: the original's `{model_id: entry}`, a one-entry catalogue under
    another id, or the entry itself (`execution`, `selection`, `description`)."""
    if not isinstance(metadata, dict):
        raise TypeError(
            f"metadata must be a dict, {{model_id: entry}} or the entry, "
            f"got {type(metadata).__name__}"
        )
    if model_id in metadata and isinstance(metadata[model_id], dict):
        return metadata[model_id]
    if {"execution", "selection", "description"} & set(metadata):
        return metadata
    if len(metadata) == 1 and isinstance(next(iter(metadata.values())), dict):
        return next(iter(metadata.values()))
    raise ValueError(
        f"metadata holds no entry for {model_id!r}: expected {{{model_id!r}: {{'execution': "
        f"..., 'selection': ..., 'description': ...}}}}, got the keys {sorted(metadata)}"
    )


def problems_of(model_id: str, metadata: Any) -> List[Tuple[str, str, str]]:
    """The core's validation of an entry: `(field path, message, severity)` for each problem."""
    entry = _entry_of(model_id, metadata)
    return list(_native.validate_entry(model_id, json.dumps(entry)))  # type: ignore[attr-defined]


def _raise_if_invalid(model_id: str, metadata: Any) -> None:
    errors = [(path, message) for path, message, severity in problems_of(model_id, metadata)
              if severity == "error"]
    if errors:
        lines = "\n".join(f"  `{model_id}`: {path}: {message}" for path, message in errors)
        raise CatalogError(f"the metadata of `{model_id}` has {len(errors)} problem(s):\n{lines}")


class ModelContributor:
    """A local model package on its way into the catalogue (the original
    `ModelContributor`).

    Attributes as in the original: `model_id`, `init_py_path`, `package_path` (the package
    folder), `package_name` (its name), `metadata_file_path` and `metadata` (`{model_id:
    entry}`, None until added); plus `output_path` (where `push_to_zenodo` writes the packed
    zip), `zenodo_report` (the last upload's report) and `issue_url`.

    The package is a native one (`medigan.json`, the ONNX graph, `README.md`, `LICENSE`;
    `medigan init-model DIR` writes a skeleton) or one in the original format (`__init__.py`
    and its weights). Unlike the original, the package's code is not imported from the working
    directory: a native package is tested by the core when it is pushed, a package in the
    original format is checked statically (its files) and runs with `install_dependencies=True`
    in its own environment.
    """

    def __init__(
        self,
        model_id: str,
        init_py_path: Union[str, os.PathLike],
        generators: Optional["Generators"] = None,
    ) -> None:
        """Checks the id form (`NNNNN_UPPER_SNAKE`) and that `init_py_path` (a file of the
        package, e.g. its `__init__.py` or `model.onnx`, or the package folder) exists; raises
        MediganError or FileNotFoundError saying what is wrong."""
        if generators is None:
            from .generators import Generators

            generators = Generators()
        self.generators = generators
        self.validate_model_id(model_id)
        self.model_id = model_id.strip()
        self.init_py_path = os.fspath(init_py_path)
        self.validate_init_py_path(self.init_py_path)
        path = os.path.abspath(self.init_py_path)
        self.package_path = path if os.path.isdir(path) else os.path.dirname(path)
        self.package_name = os.path.basename(self.package_path)
        self.metadata_file_path = ""
        self.metadata: Optional[Dict[str, Any]] = None
        self.output_path = "config"
        self.zenodo_report: Optional[Dict[str, Any]] = None
        self.issue_url: Optional[str] = None

    def validate_model_id(self, model_id: str) -> bool:
        """Checks the form of a new model id with the core's rule (five digits, `_`, upper
        snake case); raises MediganError saying why not."""
        if not isinstance(model_id, str):
            raise TypeError(f"model_id must be a str such as '00100_YOUR_MODEL', got {model_id!r}")
        _native.check_model_id(model_id.strip())  # type: ignore[attr-defined]
        return True

    def validate_init_py_path(self, init_py_path: Union[str, os.PathLike]) -> bool:
        """Checks that `init_py_path` is an existing file or folder of the package."""
        if not os.path.exists(init_py_path):
            raise FileNotFoundError(
                f"{self.model_id}: init_py_path {os.fspath(init_py_path)!r} does not exist: give "
                "the package's __init__.py (original format), its model.onnx or medigan.json "
                "(native), or the package folder"
            )
        return True

    @property
    def _metadata_path(self) -> str:
        return os.path.join(self.package_path, METADATA_FILE)

    def _entry(self) -> Dict[str, Any]:
        if self.metadata is None:
            raise MediganError(
                f"{self.model_id}: no metadata yet: call add_metadata_from_file() or "
                "add_metadata_from_input() first"
            )
        return self.metadata[self.model_id]

    def _save(self) -> None:
        """Writes the metadata to the package's `medigan.json` (the file the core packs)."""
        text = json.dumps(self.metadata, indent=4) + "\n"
        tmp = self._metadata_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self._metadata_path)
        self.metadata_file_path = self._metadata_path

    def add_metadata_from_file(self, metadata_file_path: Union[str, os.PathLike]) -> Dict[str, Any]:
        """Reads the entry from a JSON file (or `metadata.json` / `medigan.json` in a folder):
        `{model_id: entry}` (a one-entry catalogue under another id is taken as this model's),
        writes it to the package's `medigan.json` and returns `{model_id: entry}`."""
        path = os.fspath(metadata_file_path)
        if os.path.isdir(path):
            for name in ("metadata.json", METADATA_FILE):
                if os.path.isfile(os.path.join(path, name)):
                    path = os.path.join(path, name)
                    break
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{self.model_id}: no metadata JSON file at {os.fspath(metadata_file_path)!r}; "
                "without one, create it with add_metadata_from_input()"
            )
        loaded = _read_json(self.model_id, path)
        self.metadata = {self.model_id: _entry_of(self.model_id, loaded)}
        self._save()
        return self.metadata

    def add_metadata_from_input(
        self,
        model_weights_name: Optional[str] = None,
        model_weights_extension: Optional[str] = None,
        generate_method_name: Optional[str] = None,
        dependencies: Optional[list] = None,
        fill_more_fields_interactively: bool = True,
        output_path: str = "config",
    ) -> Dict[str, Any]:
        """Makes the entry from the package's `medigan.json` when it has one (else an entry in
        the original format), sets the given execution fields (`model_name`, `extension`,
        `generate_method.name`, `dependencies`; they matter for the original format only: a
        native package names its graph in `execution.onnx`), and asks in the terminal for the
        required fields still empty when `fill_more_fields_interactively` and stdin is a
        terminal (an entry in the original format still needs its `execution.image_size`,
        which `is_model_metadata_valid` names). Writes the package's `medigan.json` and
        returns `{model_id: entry}`.
        `output_path` is where `push_to_zenodo` writes the packed zip (the original wrote the
        metadata file there)."""
        entry = self._existing_entry() or _template(self.model_id)
        execution = entry.setdefault("execution", {})
        for key, value in (("model_name", model_weights_name), ("extension", model_weights_extension)):
            if value is not None:
                execution[key] = value
        if generate_method_name is not None:
            execution.setdefault("generate_method", {})["name"] = generate_method_name
        if dependencies is not None:
            execution["dependencies"] = [str(d) for d in dependencies]
        if fill_more_fields_interactively and sys.stdin is not None and sys.stdin.isatty():
            entry = _ask_missing(entry)
        self.output_path = os.fspath(output_path)
        self.metadata = {self.model_id: entry}
        self._save()
        return self.metadata

    def _existing_entry(self) -> Optional[Dict[str, Any]]:
        """The entry of the package's `medigan.json`, or None when it has none."""
        if not os.path.isfile(self._metadata_path):
            return None
        return _entry_of(self.model_id, _read_json(self.model_id, self._metadata_path))

    def _with_creator(self, creator_name: str, creator_affiliation: str, model_description: str) -> None:
        """Fills `description.authors` and `description.comment` from the original's
        arguments where the entry leaves them empty, and saves."""
        description = self._entry().setdefault("description", {})
        if creator_name and creator_name != _UNKNOWN_NAME and not description.get("authors"):
            affiliation = "" if creator_affiliation == _UNKNOWN_AFFILIATION else creator_affiliation
            description["authors"] = [{"name": creator_name, "affiliation": affiliation or ""}]
        if model_description and not str(description.get("comment") or "").strip():
            description["comment"] = model_description
        self._save()

    def push_to_zenodo(
        self,
        access_token: str,
        creator_name: str = _UNKNOWN_NAME,
        creator_affiliation: str = _UNKNOWN_AFFILIATION,
        model_description: str = "",
        publish: bool = False,
        sandbox: bool = False,
    ) -> str:
        """Checks the package, runs its end-to-end test (native), packs a reproducible zip into
        `output_path` and uploads it to a new Zenodo deposition (a draft unless `publish`;
        `sandbox=True` for Zenodo's sandbox; `MEDIGAN_ZENODO_URL` overrides the address).
        `creator_name`, `creator_affiliation` and `model_description` fill
        `description.authors` / `description.comment` where the entry leaves them empty.
        Returns the deposition's page; the package's download link is kept for
        `push_to_github`."""
        self._with_creator(creator_name, creator_affiliation, model_description)
        os.makedirs(self.output_path, exist_ok=True)
        report = _native.push_to_zenodo(  # type: ignore[attr-defined]
            self.generators._native(),
            self.package_path,
            self.model_id,
            os.path.join(self.output_path, f"{self.model_id}.zip"),
            access_token or "",
            publish=publish,
            sandbox=sandbox,
        )
        self.zenodo_report = report
        return report["deposition"]["url"]

    def push_to_github(
        self,
        access_token: str,
        package_link: Optional[str] = None,
        creator_name: str = "",
        creator_affiliation: str = "",
        model_description: str = "",
    ) -> str:
        """Opens the issue proposing the entry, with `package_link` as its `package_link`, on
        medigan's repository (`MEDIGAN_GITHUB_API_URL` overrides the API address); returns the
        issue's page. Without `package_link`, or given the deposition page `push_to_zenodo`
        returned, the uploaded package's download link is used."""
        self._with_creator(creator_name, creator_affiliation, model_description)
        deposition = (self.zenodo_report or {}).get("deposition") or {}
        if package_link is None or package_link == deposition.get("url"):
            package_link = deposition.get("file_url")
        if not package_link:
            raise MediganError(
                f"{self.model_id}: no package_link: call push_to_zenodo() first, or give the "
                "link the package is downloaded from"
            )
        report = _native.push_to_github(  # type: ignore[attr-defined]
            self.generators._native(), self.package_path, self.model_id, package_link,
            access_token or "",
        )
        self.issue_url = report["url"]
        return self.issue_url

    def __repr__(self) -> str:
        return f"ModelContributor(model_id={self.model_id!r}, package_path={self.package_path!r})"


def _read_json(model_id: str, path: str) -> Any:
    """A metadata file (at most 64 MiB, like a catalogue) as JSON."""
    if os.path.getsize(path) > 64 << 20:
        raise ValueError(f"{model_id}: {path!r} is over 64 MiB: not a metadata file")
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{model_id}: {path!r} is not valid JSON: {e}") from e


def _template(model_id: str) -> Dict[str, Any]:
    """An entry in the original package format, to be filled in."""
    return {
        "execution": {
            "package_name": model_id,
            "package_link": ".",
            "model_name": "",
            "extension": "",
            "image_size": [],
            "dependencies": [],
            "generate_method": {
                "name": "generate",
                "args": {"base": ["model_file", "num_samples", "output_path", "save_images"], "custom": {}},
            },
        },
        "selection": {"performance": {}, "organ": [], "modality": [], "tags": [], "license": ""},
        "description": {"title": "", "provided_date": "", "trained_date": "", "provided_after_epoch": "",
                        "version": "", "publication": "", "doi": [], "comment": "", "authors": []},
    }


def _ask_missing(entry: Dict[str, Any]) -> Dict[str, Any]:
    """Asks for each required field the entry lacks (the core's questions and parsing)."""
    text = json.dumps(entry)
    for path, question in _native.missing_fields(text):  # type: ignore[attr-defined]
        while True:
            answer = input(f"{path}: {question}: ")
            try:
                text = _native.set_field(text, path, answer)  # type: ignore[attr-defined]
                break
            except ValueError as e:
                print(e)
    return json.loads(text)


class ContributorMethods:
    """The original `Generators`' contribution and catalogue methods; mixed into `Generators`,
    whose `model_contributors` list they keep."""

    model_contributors: List[ModelContributor]

    def _contributors(self) -> List[ModelContributor]:
        if not isinstance(self.__dict__.get("model_contributors"), list):
            self.__dict__["model_contributors"] = []
        return self.__dict__["model_contributors"]

    def _contributor(self, model_id: str) -> ModelContributor:
        contributor = self.get_model_contributor_by_id(model_id)
        if contributor is None:
            raise MediganError(
                f"{model_id}: no model contributor for this model_id: call "
                "add_model_contributor(model_id, init_py_path) first"
            )
        return contributor

    def is_model_metadata_valid(
        self, model_id: str, metadata: dict, is_local_model: bool = True
    ) -> bool:
        """Validates an entry (`{model_id: entry}` or the entry) with the core's catalogue
        validation; returns True, or raises CatalogError naming each bad field (e.g.
        `execution.onnx.outputs[0].range`), as the original raised AssertionError.
        `is_local_model` is accepted for compatibility: local and catalogue models are checked
        alike."""
        _raise_if_invalid(model_id, metadata)
        return True

    def add_model_to_config(
        self,
        model_id: str,
        metadata: dict,
        is_local_model: Optional[bool] = None,
        overwrite_existing_metadata: bool = False,
        store_new_config: bool = True,
    ) -> bool:
        """Validates the entry and adds it to the user's catalogue, `<home>/catalog-v1/
        local.json` (never the bundled catalogue or the upstream snapshot), read on top of the
        default catalogue by this and every later `Generators` and by the CLI. An entry already
        there is replaced only with `overwrite_existing_metadata=True` (else nothing changes and
        False is returned). A relative local `package_link` is made absolute (against the
        contributor's package folder, else the working directory). With explicit `catalog=`
        sources, this object also reads the user's catalogue from now on. `store_new_config=False`
        (an entry in memory only) is refused: the core reads entries from catalogue files.
        `is_local_model` is accepted for compatibility. Returns True when the entry was
        written."""
        if not store_new_config:
            raise ValueError(
                "store_new_config=False is not supported: medigan_rs reads catalogue entries "
                "from files; add the entry with store_new_config=True (the user's catalogue), or "
                "give Generators(catalog=[...]) a file holding it"
            )
        entry = json.loads(json.dumps(_entry_of(model_id, metadata)))
        self._absolute_link(model_id, entry)
        added, path = _native.add_to_user_catalog(  # type: ignore[attr-defined]
            self._native(), model_id, json.dumps(entry), bool(overwrite_existing_metadata)
        )
        if added == "kept":
            logging.warning(
                "%s: already in the user's catalogue %s; give overwrite_existing_metadata=True "
                "to replace it", model_id, path,
            )
            return False
        self._read_user_catalog(path)
        return True

    def _absolute_link(self, model_id: str, entry: Dict[str, Any]) -> None:
        execution = entry.get("execution")
        link = execution.get("package_link") if isinstance(execution, dict) else None
        if not isinstance(link, str) or "://" in link or os.path.isabs(link):
            return
        contributor = self.get_model_contributor_by_id(model_id)
        base = contributor.package_path if contributor is not None else os.getcwd()
        execution["package_link"] = os.path.normpath(os.path.join(base, link))

    def _read_user_catalog(self, path: str) -> None:
        """Makes this object read the catalogue again (with the user's catalogue among
        explicit sources)."""
        settings = self._settings  # type: ignore[attr-defined]
        explicit = list(self._native().settings()["catalog"])  # type: ignore[attr-defined]
        if explicit and path not in explicit:  # from catalog= or MEDIGAN_CATALOG
            settings["catalog"] = explicit + [path]
        self._native_obj = None  # the next call reads the catalogue again

    def add_model_contributor(
        self, model_id: str, init_py_path: Optional[Union[str, os.PathLike]] = None
    ) -> ModelContributor:
        """Adds the contributor of `model_id` (a new id, `NNNNN_UPPER_SNAKE`) for the package
        at `init_py_path` (its `__init__.py`, `model.onnx`, `medigan.json`, or the folder),
        checking both; one already added for this id is returned as it is."""
        existing = self.get_model_contributor_by_id(model_id)
        if existing is not None:
            logging.warning("%s: a ModelContributor exists already; returning it", model_id)
            return existing
        if init_py_path is None:
            raise TypeError(f"{model_id}: init_py_path is required for a new contributor")
        contributor = ModelContributor(model_id, init_py_path, generators=self)  # type: ignore[arg-type]
        self._contributors().append(contributor)
        return contributor

    def get_model_contributor_by_id(self, model_id: str) -> Optional[ModelContributor]:
        """The contributor of `model_id` in `model_contributors`, or None."""
        wanted = model_id.strip() if isinstance(model_id, str) else str(model_id)
        for contributor in self._contributors():
            if contributor.model_id == wanted:
                return contributor
        return None

    def add_metadata_from_file(self, model_id: str, metadata_file_path: str) -> dict:
        """`ModelContributor.add_metadata_from_file` of the contributor of `model_id`."""
        return self._contributor(model_id).add_metadata_from_file(metadata_file_path)

    def add_metadata_from_input(
        self,
        model_id: str,
        model_weights_name: Optional[str] = None,
        model_weights_extension: Optional[str] = None,
        generate_method_name: Optional[str] = None,
        dependencies: Optional[list] = None,
        fill_more_fields_interactively: bool = True,
        output_path: str = "config",
    ) -> dict:
        """`ModelContributor.add_metadata_from_input` of the contributor of `model_id`. (The
        original requires the four execution arguments; they matter for packages in the
        original format only, so here they may be left out.)"""
        return self._contributor(model_id).add_metadata_from_input(
            model_weights_name=model_weights_name,
            model_weights_extension=model_weights_extension,
            generate_method_name=generate_method_name,
            dependencies=dependencies,
            fill_more_fields_interactively=fill_more_fields_interactively,
            output_path=output_path,
        )

    def push_to_zenodo(
        self,
        model_id: str,
        zenodo_access_token: str,
        creator_name: str = _UNKNOWN_NAME,
        creator_affiliation: str = _UNKNOWN_AFFILIATION,
        model_description: str = "",
        publish: bool = False,
        sandbox: bool = False,
    ) -> str:
        """`ModelContributor.push_to_zenodo` of the contributor of `model_id`: returns the
        deposition's page. A draft unless `publish=True` (the original published at once)."""
        return self._contributor(model_id).push_to_zenodo(
            access_token=zenodo_access_token,
            creator_name=creator_name,
            creator_affiliation=creator_affiliation,
            model_description=model_description,
            publish=publish,
            sandbox=sandbox,
        )

    def push_to_github(
        self,
        model_id: str,
        github_access_token: str,
        package_link: Optional[str] = None,
        creator_name: str = "",
        creator_affiliation: str = "",
        model_description: str = "",
    ) -> str:
        """`ModelContributor.push_to_github` of the contributor of `model_id`: returns the
        issue's page."""
        return self._contributor(model_id).push_to_github(
            access_token=github_access_token,
            package_link=package_link,
            creator_name=creator_name,
            creator_affiliation=creator_affiliation,
            model_description=model_description,
        )
