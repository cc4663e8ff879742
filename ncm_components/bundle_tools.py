"""Package the bundle for sharing: a model-zoo folder and zip with the weights, and the ``ncm_components`` wheel.

CLI::

    python -m ncm_components.bundle_tools export --checkpoint bundle/models/model.pt --out dist/

writes ``dist/ncm_echo_lv_segmentation/`` (LICENSE, configs, docs, ``models/model.pt``, ``models/model.ts``,
``large_files.yml`` with the sha256 of the weights, and ``scripts/`` with this package vendored),
``dist/ncm_echo_lv_segmentation_v<version>.zip`` and ``dist/ncm_components-<version>-py3-none-any.whl``. The exported
bundle runs where ``ncm_components`` is not installed, as model-zoo bundles do: its configs import ``scripts`` first
(MONAI Label puts the bundle folder on ``sys.path``; ``python -m monai.bundle`` run from the bundle folder has it),
which puts the vendored package on the path, and its ``metadata.json`` asks only for packages on public indexes.
The checkpoint and the metadata are checked first; every problem is reported with the file and what to fix. Nothing
is written until the checks pass, and the folder and zip appear atomically.

``python -m ncm_components.bundle_tools verify --bundle DIR`` checks every file ``large_files.yml`` lists against its
sha256 (do it before loading weights from anywhere else: checkpoints are pickles).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from .data.atomic import atomic_path
from .handlers.weight_files import file_sha256, model_state, read_checkpoint
from .networks.nets.ncmnet import architecture_hint

__all__ = [
    "BUNDLE_NAME",
    "ExportedBundle",
    "export_bundle",
    "check_metadata",
    "load_model_state",
    "vendor_package",
    "verify_large_files",
]

BUNDLE_NAME = "ncm_echo_lv_segmentation"
REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLE_SOURCE = REPO_ROOT / "bundle"
BUNDLE_PARTS = ("configs", "docs", "LICENSE")


@dataclass
class ExportedBundle:
    """Paths written by :func:`export_bundle`."""

    folder: Path
    zip_file: Path
    wheel: Path | None


def check_metadata(meta_file: Path, schema_file: Path | None = None) -> dict:
    """Load ``metadata.json`` and validate it against the model-zoo schema when one is given.

    Raises:
        ValueError: invalid JSON or a schema violation; the message names the file, the field and the problem.
    """
    import jsonschema

    try:
        metadata = json.loads(Path(meta_file).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{meta_file}: not valid JSON ({error}).") from error
    if schema_file is not None:
        schema = json.loads(Path(schema_file).read_text())
        try:
            jsonschema.validate(metadata, schema)
        except jsonschema.ValidationError as error:
            where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
            raise ValueError(f"{meta_file}: field {where}: {error.message}; fix it to follow {schema_file}.") from None
    return metadata


def load_model_state(checkpoint: Path, network: torch.nn.Module) -> dict:
    """The network's state dict from ``checkpoint`` (a plain state dict or ``{"model": ...}``), checked to fit.

    Raises:
        FileNotFoundError: no such checkpoint.
        ValueError: the checkpoint does not fit ``network`` (another number of classes or configuration).
    """
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"{checkpoint}: checkpoint not found; train first or give the path of model.pt.")
    state = model_state(read_checkpoint(checkpoint, map_location="cpu"))
    expected = network.state_dict()
    mismatched = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    missing = [k for k in expected if k not in state]
    if mismatched or missing:
        detail = ", ".join(f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in mismatched[:3])
        hint = architecture_hint(expected, state)
        hint = (
            f" To export it, {hint}" if hint else " Export it with the num_classes and network_def it was trained with."
        )
        raise ValueError(
            f"{checkpoint}: does not fit the bundle's network_def ({detail or f'missing {missing[:3]}'}).{hint}"
        )
    return state


def _bundle_network(configs: Path) -> tuple[torch.nn.Module, int]:
    """The network of ``inference.yaml`` (randomly initialised) and its input size."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(configs / "inference.yaml"))
    return parser.get_parsed_content("network_def", instantiate=True), int(parser.get("image_size"))


def _large_files_yaml(entries: list[dict], note: str) -> str:
    header = (
        f"# Weights of this bundle: {note}.\n# Download with `python -m monai.bundle download` or place them by hand.\n"
    )
    return header + yaml.safe_dump({"large_files": entries}, sort_keys=False)


_SCRIPTS_INIT = '''"""This bundle's copy of ``ncm_components``: importing ``scripts`` puts it first on ``sys.path``."""

import os
import sys

_VENDORED = os.path.dirname(os.path.abspath(__file__))
if _VENDORED not in sys.path:
    sys.path.insert(0, _VENDORED)
for _name in [name for name in sys.modules if name == "ncm_components" or name.startswith("ncm_components.")]:
    del sys.modules[_name]  # an installed copy imported earlier gives way to the bundle's own
'''


def vendor_package(bundle: Path) -> None:
    """Copy this package into ``bundle/scripts/`` and make every config with ``imports`` import ``scripts`` first."""
    package = Path(__file__).resolve().parent
    scripts = bundle / "scripts"
    shutil.copytree(package, scripts / package.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (scripts / "__init__.py").write_text(_SCRIPTS_INIT)
    first_import = "\nimports:\n  - $import scripts  # the vendored package\n"
    for config in sorted((bundle / "configs").glob("*.yaml")):
        text = config.read_text()
        if "\nimports:\n" in text:
            config.write_text(text.replace("\nimports:\n", first_import, 1))


def verify_large_files(bundle: str | Path) -> list[str]:
    """Problems with the files ``bundle/large_files.yml`` lists: missing, or a sha256 other than listed."""
    bundle = Path(bundle)
    listed = yaml.safe_load((bundle / "large_files.yml").read_text()) or {}
    problems = []
    for entry in listed.get("large_files", []):
        path = bundle / entry["path"]
        if not path.is_file():
            problems.append(f"{path}: listed in large_files.yml but missing")
        elif str(entry.get("hash_type", "")).lower() == "sha256" and file_sha256(path) != entry["hash_val"]:
            problems.append(f"{path}: sha256 differs from large_files.yml ({entry['hash_val']})")
    return problems


def build_wheel(out_dir: Path) -> Path:
    """Build the ``ncm_components`` wheel from the source checkout into ``out_dir`` (no network access needed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    before = set(out_dir.glob("ncm_components-*.whl"))
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(REPO_ROOT)]
    subprocess.run(command + ["-w", str(out_dir)], check=True, capture_output=True, text=True)
    built = sorted(set(out_dir.glob("ncm_components-*.whl")) - before) or sorted(out_dir.glob("ncm_components-*.whl"))
    return built[-1]


def export_bundle(
    checkpoint: str | Path,
    out_dir: str | Path,
    schema_file: str | Path | None = None,
    weights_note: str = "trained on synthetic data, not for clinical use",
    weights_url: str = "",
    wheel: bool = True,
    overwrite: bool = False,
) -> ExportedBundle:
    """Write the shareable bundle folder, its zip and (optionally) the package wheel to ``out_dir``."""
    if not (BUNDLE_SOURCE / "configs").is_dir():
        raise FileNotFoundError(f"{BUNDLE_SOURCE}: bundle sources not found; run the export from a source checkout.")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir}: is a file; --out names the folder the bundle and its zip are written to.")
    folder = out_dir / BUNDLE_NAME
    metadata = check_metadata(BUNDLE_SOURCE / "configs" / "metadata.json", schema_file)
    zip_file = out_dir / f"{BUNDLE_NAME}_v{metadata['version']}.zip"
    for existing in (folder, zip_file):
        if existing.exists() and not overwrite:
            raise FileExistsError(f"{existing}: already exists; remove it or pass --overwrite.")
    network, image_size = _bundle_network(BUNDLE_SOURCE / "configs")
    state = load_model_state(Path(checkpoint), network)
    network.load_state_dict(state)

    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{BUNDLE_NAME}.", dir=out_dir))
    try:
        for part in BUNDLE_PARTS:
            source = BUNDLE_SOURCE / part
            (shutil.copytree if source.is_dir() else shutil.copy2)(source, staging / part)
        vendor_package(staging)
        models = staging / "models"
        models.mkdir()
        torch.save(network.state_dict(), models / "model.pt")
        from .networks.export import export_torchscript

        export_torchscript(network, models / "model.ts", spatial_size=(image_size, image_size))
        entries = [
            {
                "path": f"models/{name}",
                "url": weights_url,
                "hash_val": file_sha256(models / name),
                "hash_type": "sha256",
            }
            for name in ("model.pt", "model.ts")
        ]
        (staging / "large_files.yml").write_text(_large_files_yaml(entries, weights_note))
        (models / "README.md").write_text(f"Weights: {weights_note}. Research use only.\n")
        staging.chmod(0o755)  # mkdtemp made it private
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)

    with atomic_path(zip_file) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, Path(BUNDLE_NAME) / path.relative_to(folder))
    return ExportedBundle(folder, zip_file, build_wheel(out_dir) if wheel else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Package the NCM-Net echo bundle for sharing.")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write the zoo-ready bundle folder, its zip and the package wheel")
    export.add_argument("--checkpoint", required=True, help="trained weights: model.pt (plain or {'model': ...})")
    export.add_argument("--out", required=True, help="output folder, e.g. dist/")
    export.add_argument("--schema", default=None, help="model-zoo metadata schema to validate against")
    export.add_argument("--weights-note", default="trained on synthetic data, not for clinical use")
    export.add_argument("--weights-url", default="", help="where the release hosts the weights")
    export.add_argument("--no-wheel", action="store_true", help="skip building the package wheel")
    export.add_argument("--overwrite", action="store_true", help="replace an existing bundle folder")
    verify = commands.add_parser("verify", help="check the files large_files.yml lists against their sha256")
    verify.add_argument("--bundle", required=True, help="bundle folder holding large_files.yml")
    args = parser.parse_args(argv)
    if args.command == "verify":
        problems = verify_large_files(args.bundle)
        for problem in problems:
            print(f"bundle_tools: {problem}", file=sys.stderr)
        print(f"bundle_tools: {'FAILED' if problems else 'ok'}: {args.bundle}/large_files.yml")
        return 1 if problems else 0
    try:
        result = export_bundle(
            args.checkpoint,
            args.out,
            schema_file=args.schema,
            weights_note=args.weights_note,
            weights_url=args.weights_url,
            wheel=not args.no_wheel,
            overwrite=args.overwrite,
        )
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"bundle_tools: {error}", file=sys.stderr)
        return 1
    print(f"bundle_tools: wrote {result.folder}, {result.zip_file}" + (f" and {result.wheel}" if result.wheel else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
