"""The bundle's training and evaluation workflows: property checks, tiny runs, resume after SIGKILL, 2 processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from monai.bundle import ConfigWorkflow

from ncm_components.handlers import latest_checkpoint

from .bundle_helpers import (
    EVALUATE,
    LOGGING,
    MULTI_GPU_EVALUATE,
    MULTI_GPU_TRAIN,
    TRAIN,
    bundle_command,
    make_tiny_dataset,
    run_bundle,
    subprocess_env,
    tiny_overrides,
)
from .conftest import REPO_ROOT


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny_echo"))


def _workflow(config_files, overrides, **kwargs) -> ConfigWorkflow:
    return ConfigWorkflow(config_file=config_files, logging_file=LOGGING, workflow_type="train", **overrides, **kwargs)


def test_train_workflow_properties_and_two_iterations(tiny_data, tmp_path):
    workflow = _workflow(TRAIN, tiny_overrides(tiny_data, tmp_path), tracking="mlflow")
    workflow.initialize()
    assert workflow.check_properties() == []
    workflow.run()
    workflow.finalize()
    trainer = workflow.parser.get_parsed_content("train#trainer")
    assert trainer.state.iteration == 2 and trainer.state.epoch == 1
    assert latest_checkpoint(tmp_path / "models").endswith("checkpoint_epoch=1.pt")
    state = torch.load(tmp_path / "models" / "model.pt", map_location="cpu", weights_only=True)
    network = workflow.parser.get_parsed_content("network_def", instantiate=True)
    network.load_state_dict(state)  # the best model is a plain state dict of the network
    checkpoint = torch.load(latest_checkpoint(tmp_path / "models"), map_location="cpu", weights_only=False)
    assert {"model", "optimizer", "lr_scheduler", "trainer"} <= set(checkpoint)
    _assert_mlflow_run_logged(tmp_path / "eval" / "mlruns.db")


def _assert_mlflow_run_logged(database):
    """``--tracking mlflow`` writes a local SQLite store (no server) holding a run with the training loss."""
    from mlflow.tracking import MlflowClient
    from monai.utils import path_to_sqlite_uri

    assert database.is_file(), f"no MLflow store at {database}"
    client = MlflowClient(tracking_uri=path_to_sqlite_uri(str(database)))
    experiment = client.get_experiment_by_name("monai_experiment")
    runs = client.search_runs([experiment.experiment_id])
    assert runs and "train_loss" in runs[0].data.metrics


def test_compiled_training_runs_on_batches_of_several_videos(tiny_data, tmp_path):
    """``--compile True`` trains on a batch of 2 videos (MONAI's trainer fails copying a collated MetaTensor batch's
    metadata back after a compiled step; the bundle feeds it plain tensors) and validates. The "aot_eager" backend
    traces as Inductor would without generating C++ (seconds, not minutes)."""
    backend = {"backend": "aot_eager"}
    overrides = tiny_overrides(tiny_data, tmp_path, compile=True)
    overrides.update({"train#trainer#compile_kwargs": backend, "validate#evaluator#compile_kwargs": backend})
    workflow = _workflow(TRAIN, overrides)
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    trainer = workflow.parser.get_parsed_content("train#trainer")
    assert trainer.state.iteration == 2  # 4 training videos in batches of 2
    assert (tmp_path / "models" / "model.pt").is_file()  # validated, and the best model saved


def test_train_then_evaluate_workflow(tiny_data, tmp_path):
    overrides = tiny_overrides(tiny_data, tmp_path)
    train = _workflow(TRAIN, overrides)
    train.initialize()
    train.run()
    train.finalize()
    evaluate = _workflow([TRAIN, EVALUATE], overrides)
    evaluate.initialize()
    assert evaluate.check_properties() == []
    evaluate.run()
    evaluate.finalize()
    summary = evaluate.parser.get_parsed_content("validate#evaluator").state.metrics["video_summary"]
    assert summary["videos"] == 2
    assert 0.0 <= summary["dice_full"] <= 1.0 and 0.0 <= summary["dice_semi"] <= 1.0
    for name in ("metrics.csv", "videos.csv", "summary.json"):
        assert (tmp_path / "eval" / name).is_file()
    # predictions are scored in the input geometry (64 px), not the network's 32 px
    header, first = (tmp_path / "eval" / "videos.csv").read_text().splitlines()[:2]
    assert "dice_full" in header and first.split(",")[2] == "mm"


def test_cli_training_killed_mid_run_resumes_to_the_uninterrupted_weights(tiny_data, tmp_path):
    """SIGKILL after an epoch checkpoint, rerun the same command: it resumes, completes all epochs, and ends with
    the weights, teacher and optimiser state of the same run left alone, bit for bit (clips, augmentation, teacher
    noise and validation included: the random streams travel in the checkpoint)."""
    overrides = {"train#trainer#max_epochs": 4, "val_interval": 2}
    killed = tiny_overrides(tiny_data, tmp_path / "killed", **overrides)
    command = bundle_command([TRAIN], killed)
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    models = tmp_path / "killed" / "models"
    deadline = time.monotonic() + 240
    while latest_checkpoint(models) is None and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = latest_checkpoint(models)
    assert first is not None, "the first run wrote no checkpoint before it was killed"
    killed_at_epoch = int(first.rsplit("=", 1)[1].split(".")[0])
    assert killed_at_epoch < 4, "the run finished before it could be killed"

    resumed = subprocess.run(command, cwd=REPO_ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming training from" in resumed.stdout + resumed.stderr
    assert f"Epoch: {killed_at_epoch}/4" not in resumed.stdout + resumed.stderr  # finished epochs are not redone
    assert [p.name for p in models.glob("checkpoint_epoch=*.pt")] == ["checkpoint_epoch=4.pt"]
    final = torch.load(latest_checkpoint(models), map_location="cpu", weights_only=True)
    assert final["trainer"]["iteration"] == 8  # 4 epochs of 2 iterations

    alone = run_bundle([TRAIN], tiny_overrides(tiny_data, tmp_path / "alone", **overrides))
    assert alone.returncode == 0, alone.stdout[-3000:] + alone.stderr[-3000:]
    reference = torch.load(latest_checkpoint(tmp_path / "alone" / "models"), map_location="cpu", weights_only=True)
    for part in ("model", "teacher"):
        for name, weight in reference[part].items():
            assert torch.equal(weight, final[part][name]), f"{part}.{name}"
    for index, moments in reference["optimizer"]["state"].items():
        assert torch.equal(moments["exp_avg"], final["optimizer"]["state"][index]["exp_avg"]), index


def test_training_twice_with_one_seed_gives_the_same_weights(tiny_data, tmp_path):
    """Two fresh processes with the same seed train bit-identical weights (augmentation, clip sampling, mean teacher
    and validation included); another seed does not: a benchmark's seeds are repeatable on one install."""
    weights = {}
    for name, seed in (("first", 0), ("again", 0), ("other", 1)):
        overrides = tiny_overrides(tiny_data, tmp_path / name, seed=seed, **{"train#trainer#max_epochs": 2})
        result = run_bundle([TRAIN], overrides)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        weights[name] = torch.load(tmp_path / name / "models" / "model.pt", map_location="cpu", weights_only=True)
    for key, weight in weights["first"].items():
        assert torch.equal(weight, weights["again"][key]), key
    assert any(not torch.equal(weight, weights["other"][key]) for key, weight in weights["first"].items())


def test_two_gloo_processes_train_like_one_process(tiny_data, tmp_path):
    """torchrun, 2 processes x batch 1 with gloo == 1 process x batch 2.

    NCM-Net's instance norm keeps no per-rank batch statistics. SGD: Adam rescales the rounding noise
    of gradients that are exactly zero in theory (conv biases before a norm) into full-size steps.
    """
    common = {
        "optimizer#_target_": "torch.optim.SGD",
        "train#random_transforms": "$@validate#clip_transforms",  # no randomness: both runs see the same clips
        "train#dataloader#shuffle": False,
        "train#sampler#shuffle": False,
        "val_interval": 1,
    }
    single = tiny_overrides(tiny_data, tmp_path / "single", **common)
    single.pop("train#sampler#shuffle")
    result = run_bundle([TRAIN], single)
    assert result.returncode == 0, result.stderr[-3000:]

    distributed = tiny_overrides(tiny_data, tmp_path / "ddp", **common, batch_size=1, dist_backend="gloo")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "--module"]
    result = run_bundle([TRAIN, MULTI_GPU_TRAIN], distributed, launcher=launcher)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    one = torch.load(latest_checkpoint(tmp_path / "single" / "models"), map_location="cpu", weights_only=False)
    two = torch.load(latest_checkpoint(tmp_path / "ddp" / "models"), map_location="cpu", weights_only=False)
    assert one["trainer"]["iteration"] == two["trainer"]["iteration"] == 2
    for name, weight in one["model"].items():
        assert torch.allclose(weight.float(), two["model"][name].float(), atol=1e-5), name

    # distributed evaluation: each rank scores its share, rank 0 gathers all test videos into the result files
    evaluation = {k: v for k, v in distributed.items() if not k.startswith("train#")}
    result = run_bundle([TRAIN, EVALUATE, MULTI_GPU_EVALUATE], evaluation, launcher=launcher)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / "ddp" / "eval" / "summary.json").read_text())
    assert summary["videos"] == 2 and summary["dice_full"] is not None
