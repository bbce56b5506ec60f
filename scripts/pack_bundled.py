#!/usr/bin/env python3
"""Pack the models this repository ships into reproducible zips and write the bundled catalogue.

For every package directory models/<ID>/ (holding medigan.json, the ONNX graph, README.md,
LICENSE), writes models/<ID>.zip with sorted entries, fixed timestamps and permissions (same
input, same bytes), then writes models/catalog.json: each package's medigan.json entry with
`execution.package_link` set to `bundled:<ID>.zip` and `execution.sha256` to the zip's hash.
The binary embeds both files (crates/medigan/src/bundled.rs). Run after changing a package:

    python3 scripts/pack_bundled.py
"""
import hashlib
import json
import pathlib
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent / "models"
SKIP = {"preview.png"}  # shown in the repository, not needed to run the model


def pack(package: pathlib.Path) -> pathlib.Path:
    archive = ROOT / f"{package.name}.zip"
    files = sorted(p for p in package.rglob("*") if p.is_file() and p.name not in SKIP)
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(package).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    return archive


def main() -> None:
    catalog = {}
    for package in sorted(p for p in ROOT.iterdir() if (p / "medigan.json").is_file()):
        archive = pack(package)
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        entries = json.loads((package / "medigan.json").read_text())
        for model_id, entry in entries.items():
            entry["execution"]["package_link"] = f"bundled:{archive.name}"
            entry["execution"]["sha256"] = digest
            catalog[model_id] = entry
        print(f"{archive.name}: {archive.stat().st_size} bytes, sha256 {digest}")
    (ROOT / "catalog.json").write_text(json.dumps(catalog, indent=4) + "\n")


if __name__ == "__main__":
    main()
