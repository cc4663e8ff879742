"""Every config on every converter's output: CAMUS 2019 (MHD) and 2023 (NIfTI) releases and DICOM cine exports go
through train.yaml, evaluate.yaml and inference.yaml as a team runs them (EchoNet-Dynamic: test_public_path.py)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from ncm_components.data import camus, dicom
from ncm_components.simulation import synthetic

from .bundle_helpers import EVALUATE, TRAIN, run_bundle, tiny_overrides
from .conftest import REPO_ROOT
from .video_files import write_dicom_cine

INFERENCE = str(REPO_ROOT / "bundle" / "configs" / "inference.yaml")


def _inference(datalist, models, out) -> dict:
    return {"dataset_dir": str(datalist), "ckpt_dir": str(models), "output_dir": str(out), "image_size": 32,
            "clip_frames": 4, "overlay_format": "gif"}  # fmt: skip


@pytest.mark.parametrize("version", ["2019", "2023"])
def test_camus_release_trains_evaluates_and_infers(tmp_path, version):
    release, data = tmp_path / "release", tmp_path / "data"
    assert synthetic.main(["--layout", f"camus{version}", "--out", str(release), "--num-videos", "3"]) == 0
    assert camus.convert(release, data).exit_code == 0
    overrides = tiny_overrides(data, tmp_path, batch_size=1)
    for configs in ([TRAIN], [TRAIN, EVALUATE]):
        result = run_bundle(configs, overrides)
        assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["videos"] == 1 and summary["distance_unit"] == "mm" and summary["volume_unit"] == "mL"
    assert 0 <= summary["dice_semi"] <= 1 and summary["ef_missing"] == 0
    inferred = run_bundle([INFERENCE], _inference(data / "datalist.json", tmp_path / "models", tmp_path / "pred"))
    assert inferred.returncode == 0, inferred.stderr[-2000:]
    rows = list(csv.DictReader(open(tmp_path / "pred" / "predictions.csv")))
    assert len(rows) == 1 and "edv_mL" in rows[0] and float(rows[0]["spacing_x_mm"]) > 0


def test_dicom_export_infers_and_the_training_configs_say_it_has_no_labels(tmp_path, random_weights):
    rng = np.random.default_rng(0)
    (tmp_path / "export" / "series1").mkdir(parents=True)
    for name in ("IM0001", "IM0002"):
        write_dicom_cine(
            tmp_path / "export" / "series1" / f"{name}.dcm", rng.integers(0, 255, (40, 32, 6), dtype=np.uint8)
        )
    assert dicom.convert([tmp_path / "export"], tmp_path / "data").exit_code == 0
    inferred = run_bundle([INFERENCE], _inference(tmp_path / "data", random_weights.parent, tmp_path / "pred"))
    assert inferred.returncode == 0, inferred.stderr[-2000:]
    rows = list(csv.DictReader(open(tmp_path / "pred" / "predictions.csv")))
    assert sorted(row["name"] for row in rows) == ["series1_IM0001", "series1_IM0002"]
    trained = run_bundle([TRAIN], tiny_overrides(tmp_path / "data", tmp_path))
    assert trained.returncode != 0 and "the 'training' split has no items" in trained.stderr + trained.stdout
    overrides = tiny_overrides(tmp_path / "data", tmp_path, ckpt_dir=str(random_weights.parent))
    evaluated = run_bundle([TRAIN, EVALUATE], overrides)
    assert evaluated.returncode != 0
    assert "no reference label" in evaluated.stderr + evaluated.stdout and "inference.yaml" in evaluated.stderr
