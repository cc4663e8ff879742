"""A team's path through a public release, as the user guide gives it: simulated EchoNet-Dynamic release ->
converter -> train -> evaluate -> inference on the release's AVIs; a second dataset into a used run folder; fine-tuning
from the shipped weights, which a training never loses."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
import torch
from ignite.engine import Engine

from ncm_components.data import echonet
from ncm_components.handlers import RunLock, run_lock
from ncm_components.handlers.run_lock import LOCK_NAME
from ncm_components.simulation import synthetic

from .bundle_helpers import EVALUATE, TRAIN, make_tiny_dataset, run_bundle, tiny_overrides
from .conftest import REPO_ROOT

INFERENCE = str(REPO_ROOT / "bundle" / "configs" / "inference.yaml")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def echonet_data(tmp_path_factory):
    """A 5-video simulated EchoNet-Dynamic release converted by the project's converter (spacing null)."""
    root = tmp_path_factory.mktemp("echonet")
    assert synthetic.main(["--layout", "echonet", "--out", str(root / "release"), "--num-videos", "5"]) == 0
    assert echonet.convert(root / "release", root / "data").exit_code == 0
    return root


def test_echonet_release_trains_evaluates_and_infers(echonet_data, tmp_path):
    overrides = tiny_overrides(echonet_data / "data", tmp_path)
    trained = run_bundle([TRAIN], overrides)
    assert trained.returncode == 0, trained.stderr[-2000:]
    evaluated = run_bundle([TRAIN, EVALUATE], overrides)  # "spacing": null in every item
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["videos"] == 1 and summary["distance_unit"] == "px" and 0 <= summary["dice_semi"] <= 1
    assert summary["volume_unit"] == "kpx3" and "ef_cycles_bias" in summary and "cycles_mean" in summary
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "EDV (kpx3)" in report and "never compare them with volumes in mL" in report
    datalist = json.loads((echonet_data / "data" / "datalist.json").read_text())
    item = dict(datalist["test"][0], image=str(echonet_data / "data" / datalist["test"][0]["image"]))
    item["ed_frame"] = None  # a datalist that does not know ED
    (tmp_path / "infer.json").write_text(json.dumps({"test": [item]}))
    inferred = run_bundle(
        [INFERENCE],
        {"dataset_dir": str(tmp_path / "infer.json"), "ckpt_dir": str(tmp_path / "models"), "image_size": 32,
         "clip_frames": 4, "output_dir": str(tmp_path / "pred"), "overlay_format": "gif"},  # fmt: skip
    )
    assert inferred.returncode == 0, inferred.stderr[-2000:]
    row = next(csv.DictReader(open(tmp_path / "pred" / "predictions.csv")))
    assert {"ef_percent", "ef_cycle_average_percent", "cycles", "edv_kpx3"} <= set(row)
    avis = run_bundle(
        [INFERENCE],
        {"dataset_dir": str(echonet_data / "release" / "Videos"), "ckpt_dir": str(tmp_path / "models"),
         "image_size": 32, "clip_frames": 4, "output_dir": str(tmp_path / "avi"), "overlay_format": "gif"},  # fmt: skip
    )
    assert avis.returncode == 0, avis.stderr[-2000:]
    assert len((tmp_path / "avi" / "predictions.csv").read_text().splitlines()) == 6  # header + 5 AVIs


def test_second_dataset_into_a_used_run_folder_is_refused(echonet_data, tmp_path):
    synthetic_data = make_tiny_dataset(tmp_path / "synthetic")
    first = run_bundle([TRAIN], tiny_overrides(synthetic_data, tmp_path))
    assert first.returncode == 0, first.stderr[-2000:]
    second = run_bundle([TRAIN], tiny_overrides(echonet_data / "data", tmp_path))
    assert second.returncode != 0
    message = second.stderr + second.stdout
    assert "belongs to another run" in message and "datalist" in message and "--ckpt_dir" in message
    again = run_bundle([TRAIN], tiny_overrides(synthetic_data, tmp_path, **{"train#trainer#max_epochs": 2}))
    assert again.returncode == 0, again.stderr[-2000:]  # the same run, continued for one more epoch
    assert "resuming training from" in again.stderr + again.stdout


def test_a_run_folder_in_use_is_refused_and_a_stale_lock_taken_over(tiny_data, tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (tmp_path / "models").mkdir()
        lock = {"pid": holder.pid, "host": socket.gethostname(), "started": "2026-01-01 10:00:00 UTC",
                "process_start": run_lock._process_start(holder.pid)}  # fmt: skip
        (tmp_path / "models" / LOCK_NAME).write_text(json.dumps(lock))
        refused = run_bundle([TRAIN], tiny_overrides(tiny_data, tmp_path))
        assert refused.returncode != 0
        message = refused.stderr + refused.stdout
        assert f"in use by another run (PID {holder.pid}" in message and "2026-01-01 10:00:00" in message
        assert "--ckpt_dir" in message and not list((tmp_path / "models").glob("checkpoint_epoch=*.pt"))
    finally:
        holder.kill()
        holder.wait()
    taken_over = run_bundle([TRAIN], tiny_overrides(tiny_data, tmp_path))  # the holder is gone: a stale lock
    assert taken_over.returncode == 0, taken_over.stderr[-2000:]
    assert "replacing the lock of a run that is gone" in taken_over.stderr + taken_over.stdout
    assert not (tmp_path / "models" / LOCK_NAME).exists()  # released at the end


def test_run_lock_is_exclusive_and_released(tmp_path):
    first, second = RunLock(str(tmp_path / "models")), RunLock(str(tmp_path / "models"))
    engine = Engine(lambda engine, batch: None)
    first.attach(engine)
    holder = json.loads((tmp_path / "models" / LOCK_NAME).read_text())
    assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname() and holder["started"]
    engine.run([0], max_epochs=1)
    assert not (tmp_path / "models" / LOCK_NAME).exists()
    second.acquire()
    assert (tmp_path / "models" / LOCK_NAME).exists()
    second.release()


def test_a_run_folder_that_cannot_be_written_is_refused_before_training(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(OSError, match="a_file/models: cannot create the folder .*choose another --ckpt_dir"):
        RunLock(str(tmp_path / "a_file" / "models")).acquire()
    folder = tmp_path / "read_only"
    folder.mkdir(mode=0o500)
    if not os.access(folder, os.W_OK):  # (a superuser writes anywhere: the check passes, as it should)
        with pytest.raises(PermissionError, match="read_only: the checkpoint folder is not writable"):
            RunLock(str(folder)).acquire()


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fine_tuning_starts_from_the_shipped_weights_and_keeps_them(echonet_data, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(REPO_ROOT / "bundle", bundle, ignore=shutil.ignore_patterns(".cache", "eval", "runs"))
    shipped = _sha256(bundle / "models" / "model.pt")
    overrides = tiny_overrides(
        echonet_data / "data",
        tmp_path,
        bundle_root=str(bundle),
        ckpt_dir=str(bundle / "models"),
        image_size=112,
        init_weights="$@shipped_weights",
        **{"train#trainer#max_epochs": 2},
    )  # fmt: skip  (epoch 1 is the lr warm-up from 0)
    started = time.time()
    tuned = run_bundle([TRAIN], overrides)
    assert tuned.returncode == 0, tuned.stderr[-2000:]
    log = tuned.stderr + tuned.stdout
    assert "training starts from" in log and "the shipped weights (sha256 verified" in log
    assert "kept as" in log and _sha256(bundle / "models" / "model_shipped.pt") == shipped
    assert (bundle / "models" / "model.pt").stat().st_mtime >= started  # the run's best model, where MONAI Label reads
    state = torch.load(bundle / "models" / "model.pt", weights_only=True)
    torch.save({k: v + 0.001 if v.is_floating_point() else v for k, v in state.items()}, bundle / "models" / "model.pt")
    evaluated = run_bundle([TRAIN, EVALUATE], overrides)  # weights that are not the shipped ones: said so
    assert evaluated.returncode == 0 and "NOT the shipped weights" in evaluated.stderr + evaluated.stdout
    again = run_bundle([TRAIN], dict(overrides, ckpt_dir=str(tmp_path / "second")))  # still finds the shipped copy
    assert again.returncode == 0 and "the shipped weights (sha256 verified" in again.stderr + again.stdout


def test_demo_walks_the_release_path(tmp_path, capsys, monkeypatch):
    """As ``make demo`` runs it: a work folder relative to the working directory (absolute paths hid a bug here)."""
    from ncm_components import demo

    monkeypatch.chdir(tmp_path)
    demo.main(["--work-dir", "work/demo", "--videos", "10", "--epochs", "1", "--threads", "1"])
    out = capsys.readouterr().out
    assert "simulated EchoNet-Dynamic release" in out and "echonet: converted 10 case(s), 0 failed" in out
    assert "demo: Dice ED/ES" in out and "EF error" in out and "work/demo/predictions" in out
    assert len(list((tmp_path / "work/demo/predictions").glob("*_overlay.gif"))) == 1  # the one TEST AVI, segmented


def test_the_best_score_travels_in_the_checkpoint(echonet_data, tmp_path):
    overrides = tiny_overrides(echonet_data / "data", tmp_path)
    assert run_bundle([TRAIN], overrides).returncode == 0
    checkpoint = torch.load(tmp_path / "models" / "checkpoint_epoch=1.pt", weights_only=True)
    (score, _), *_ = checkpoint["best_model"]["_saved"]
    assert 0.0 <= score <= 1.0
    resumed = run_bundle([TRAIN], dict(overrides, **{"train#trainer#max_epochs": 2}))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"best validation score so far: {score:.4f} (restored" in resumed.stderr + resumed.stdout
