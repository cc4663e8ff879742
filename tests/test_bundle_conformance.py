"""Model-zoo conformance, MONAI Label's use of the configs, exports, and the shareable package."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import onnxruntime
import pytest
import torch
import yaml
from monai.bundle import ConfigParser, ckpt_export, onnx_export, run, verify_metadata, verify_net_in_out

from ncm_components import bundle_tools
from ncm_components.networks import ncmnet_small
from ncm_components.simulation.synthetic import generate_echo
from ncm_components.transforms import read_video, write_volume

from .bundle_helpers import CONFIGS, TRAIN
from .conftest import REPO_ROOT, SCHEMA_FILE

META = CONFIGS / "metadata.json"
INFERENCE = CONFIGS / "inference.yaml"
SCHEMA_MD5 = "06954cad2cc5d3784e72077ac76f0fc8"
requires_schema = pytest.mark.skipif(
    not SCHEMA_FILE.is_file(), reason=f"zoo metadata schema not found at {SCHEMA_FILE}"
)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Randomly initialised NCM-Net small weights, plain and wrapped as {"model": ...}."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    state = ncmnet_small().state_dict()
    torch.save(state, folder / "model.pt")
    torch.save({"model": state, "epoch": 3}, folder / "wrapped.pt")
    return folder


@requires_schema
def test_metadata_follows_the_official_schema_with_installable_pins():
    assert hashlib.md5(SCHEMA_FILE.read_bytes()).hexdigest() == SCHEMA_MD5
    verify_metadata(meta_file=str(META), filepath=str(SCHEMA_FILE))
    meta = json.loads(META.read_text())
    assert meta["monai_version"] == importlib.metadata.version("monai")
    assert meta["pytorch_version"] == torch.__version__.split("+")[0]
    assert meta["numpy_version"] == np.__version__
    for package, version in meta["required_packages_version"].items():
        assert importlib.metadata.version(package) == version, package
    assert "ncm_components" not in meta["required_packages_version"]  # no index has it: exported bundles vendor it
    assert meta["version"] in meta["changelog"]
    assert "research use only" in meta["intended_use"].lower()
    image, pred = meta["network_data_format"]["inputs"]["image"], meta["network_data_format"]["outputs"]["pred"]
    assert image["modality"] == "US" and image["num_channels"] == 1 and image["spatial_shape"][-1] == "*"
    num_classes = ConfigParser.load_config_file(str(INFERENCE))["num_classes"]
    assert pred["format"] == "segmentation" and len(pred["channel_def"]) == pred["num_channels"] == num_classes


def test_eval_metrics_are_what_evaluation_reports():
    """Every eval_metrics key is the evaluator's key metric or a field of the evaluation summary."""
    meta = json.loads(META.read_text())
    evaluate = ConfigParser.load_config_files([TRAIN, str(CONFIGS / "evaluate.yaml")])
    produced = set(evaluate["validate"]["key_metric"]) | {"dice_semi", "dice_full", "hd95_full", "ef_mae"}
    assert set(meta["eval_metrics"]) <= produced


def test_schema_violation_names_the_field(tmp_path):
    broken = json.loads(META.read_text())
    del broken["monai_version"]
    broken["network_data_format"]["inputs"]["image"]["num_channels"] = "one"
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps(broken))
    schema = SCHEMA_FILE if SCHEMA_FILE.is_file() else None
    if schema is None:
        pytest.skip(f"zoo metadata schema not found at {SCHEMA_FILE}")
    with pytest.raises(ValueError, match=r"metadata.json: field .*(monai_version|num_channels)"):
        bundle_tools.check_metadata(path, schema)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        bundle_tools.check_metadata(path)


def test_verify_net_in_out():
    verify_net_in_out(net_id="network_def", meta_file=str(META), config_file=str(INFERENCE), n=7, any=10)


@pytest.mark.parametrize("checkpoint,key", [("model.pt", None), ("wrapped.pt", "model")])
def test_torchscript_and_onnx_exports_match_eager(weights, tmp_path, checkpoint, key):
    common = {"net_id": "network_def", "ckpt_file": str(weights / checkpoint), "meta_file": str(META)}
    common.update(config_file=str(INFERENCE), use_trace=True, input_shape=[1, 1, 112, 112, 10])
    if key:
        common["key_in_ckpt"] = key
    ckpt_export(filepath=str(tmp_path / "model.ts"), **common)
    onnx_export(filepath=str(tmp_path / "model.onnx"), **common)
    network = ncmnet_small().eval()
    network.load_state_dict(torch.load(weights / "model.pt", weights_only=True))
    clip = torch.rand(1, 1, 112, 112, 10)
    with torch.no_grad():
        eager = network(clip)
        scripted = torch.jit.load(str(tmp_path / "model.ts"))(clip)
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    exported = session.run(None, {session.get_inputs()[0].name: clip.numpy()})[0]
    assert torch.allclose(scripted, eager, atol=1e-4)
    assert np.abs(exported - eager.numpy()).max() < 1e-4


def _bundle_copy(tmp_path, weights) -> str:
    root = tmp_path / "bundle"
    shutil.copytree(REPO_ROOT / "bundle" / "configs", root / "configs")
    (root / "models").mkdir()
    shutil.copy(weights / "model.pt", root / "models" / "model.pt")
    return str(root)


def test_monai_label_infer_task_path(weights, tmp_path):
    """What MONAI Label's BundleInferTask does: parse inference.yaml, override bundle_root and device, load
    models/model.pt itself, then run preprocessing, inferer and postprocessing on one NIfTI video."""
    echo = generate_echo(5, size=64)
    video_path = tmp_path / "video.nii.gz"
    write_volume(video_path, echo.video, echo.spacing, echo.fps)
    parser = ConfigParser()
    parser.read_config(str(INFERENCE))
    parser.read_meta(str(META))
    parser["bundle_root"] = _bundle_copy(tmp_path, weights)
    parser["device"] = "$torch.device('cpu')"
    network = parser.get_parsed_content("network")
    checkpoint = torch.load(f"{parser.get_parsed_content('bundle_root')}/models/model.pt", weights_only=True)
    network.load_state_dict(checkpoint.get("model", checkpoint))
    network.eval()
    data = parser.get_parsed_content("preprocessing")({"image": str(video_path)})
    with torch.no_grad():
        data["pred"] = parser.get_parsed_content("inferer")(data["image"][None], network)[0]
    data = parser.get_parsed_content("postprocessing")(data)
    assert tuple(data["pred"].shape) == (1, *echo.video.shape)
    assert set(torch.unique(data["pred"]).tolist()) <= {0.0, 1.0}


def test_monai_label_train_task_path(weights, tmp_path):
    """What MONAI Label's BundleTrainTask does: read train#handlers, put a CheckpointLoader of models/model.pt in
    front, override bundle_root, device, max_epochs and the datasets' data (image/label items from its datastore,
    unlabelled frames left at 0), then ``monai.bundle.run`` without the initialize step."""
    echo = generate_echo(6, size=64)
    label = np.zeros_like(echo.lv_masks)
    label[..., [echo.ed_frame, echo.es_frame]] = echo.lv_masks[..., [echo.ed_frame, echo.es_frame]]
    write_volume(tmp_path / "image.nii.gz", echo.video, echo.spacing, echo.fps)
    write_volume(tmp_path / "label.nii.gz", label, echo.spacing, echo.fps)
    items = [{"image": str(tmp_path / "image.nii.gz"), "label": str(tmp_path / "label.nii.gz")}] * 2
    bundle_root = _bundle_copy(tmp_path, weights)
    config = ConfigParser()
    config.read_config(TRAIN)
    loader = {"_target_": "CheckpointLoader", "load_path": f"{bundle_root}/models/model.pt", "strict": False}
    loader["load_dict"] = {"model": "$@network"}
    overrides = {
        "bundle_root": bundle_root,
        "train#trainer#max_epochs": 1,
        "train#dataset#data": items,
        "device": torch.device("cpu"),
        "train#handlers": [loader] + config.get("train#handlers"),
        "validate#dataset#data": items[:1],
        "image_size": 32,  # small and quick; not part of what MONAI Label changes
        "clip_frames": 4,
        "batch_size": 2,
        "val_interval": 1,
    }
    run(run_id="run", init_id=None, final_id=None, meta_file=str(META), config_file=TRAIN, **overrides)
    checkpoint = torch.load(f"{bundle_root}/models/checkpoint_epoch=1.pt", weights_only=False)
    assert checkpoint["trainer"]["iteration"] == 1
    assert torch.load(f"{bundle_root}/models/model.pt", weights_only=True).keys() == ncmnet_small().state_dict().keys()


def test_export_package_installs_and_runs_from_the_unzipped_bundle(weights, tmp_path):
    result = bundle_tools.export_bundle(weights / "wrapped.pt", tmp_path / "dist", schema_file=None)
    assert result.wheel is not None and result.wheel.name.startswith("ncm_components-")
    entries = yaml.safe_load((result.folder / "large_files.yml").read_text())["large_files"]
    for entry in entries:
        digest = hashlib.sha256((result.folder / entry["path"]).read_bytes()).hexdigest()
        assert entry["hash_type"] == "sha256" and entry["hash_val"] == digest
    assert "not for clinical use" in (result.folder / "large_files.yml").read_text()

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "pinned_environment.pth").write_text(next(p for p in sys.path if p.endswith("site-packages")) + "\n")
    python = str(venv / "bin" / "python")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(result.wheel)],
        check=True,
    )
    unzipped = tmp_path / "elsewhere"
    with zipfile.ZipFile(result.zip_file) as archive:
        archive.extractall(unzipped)
    bundle = unzipped / bundle_tools.BUNDLE_NAME
    echo = generate_echo(3, size=64)
    write_volume(tmp_path / "video.nii.gz", echo.video[..., :12], echo.spacing, echo.fps)
    where = subprocess.run(
        [python, "-c", "import ncm_components; print(ncm_components.__file__)"],
        cwd=bundle,
        capture_output=True,
        text=True,
    )
    assert str(site) in where.stdout, where.stdout + where.stderr  # the wheel, not the source checkout
    command = [python, "-m", "monai.bundle", "run", "--config_file", "configs/inference.yaml"]
    command += ["--dataset_dir", str(tmp_path / "video.nii.gz"), "--output_dir", str(tmp_path / "out")]
    run = subprocess.run(command, cwd=bundle, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert read_video(tmp_path / "out" / "video_mask.nii.gz").array.shape == (64, 64, 12)


def test_exported_bundle_runs_without_the_package_installed(weights, tmp_path):
    """The zoo's situation: a clean environment with MONAI and the metadata's packages but no ncm_components; the
    exported bundle imports its vendored copy from scripts/, passes MONAI's checks and segments a video."""
    result = bundle_tools.export_bundle(weights / "model.pt", tmp_path / "dist", schema_file=None, wheel=False)
    assert bundle_tools.verify_large_files(result.folder) == []
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "pinned_environment.pth").write_text(next(p for p in sys.path if p.endswith("site-packages")) + "\n")
    python = str(venv / "bin" / "python")
    bundle = result.folder

    def run_in_bundle(*arguments):
        return subprocess.run([python, *arguments], cwd=bundle, capture_output=True, text=True, timeout=300)

    plain = run_in_bundle("-c", "import ncm_components")
    assert plain.returncode != 0 and "No module named 'ncm_components'" in plain.stderr  # not installed there
    vendored = run_in_bundle("-c", "import scripts, ncm_components; print(ncm_components.__file__)")
    assert str(bundle / "scripts" / "ncm_components") in vendored.stdout, vendored.stderr[-2000:]
    checks = [["verify_net_in_out", "network_def", "--meta_file", "configs/metadata.json"]]
    checks[0] += ["--config_file", "configs/inference.yaml", "--n", "7", "--any", "10"]
    if SCHEMA_FILE.is_file():
        checks.append(["verify_metadata", "--meta_file", "configs/metadata.json", "--filepath", str(SCHEMA_FILE)])
    for check in checks:
        outcome = run_in_bundle("-m", "monai.bundle", *check)
        assert outcome.returncode == 0, outcome.stdout[-2000:] + outcome.stderr[-2000:]
    echo = generate_echo(4, size=64)
    write_volume(tmp_path / "video.nii.gz", echo.video[..., :12], echo.spacing, echo.fps)
    inference = ["-m", "monai.bundle", "run", "--config_file", "configs/inference.yaml"]
    inference += ["--dataset_dir", str(tmp_path / "video.nii.gz"), "--output_dir", str(tmp_path / "out")]
    outcome = run_in_bundle(*inference)
    assert outcome.returncode == 0, outcome.stdout[-2000:] + outcome.stderr[-2000:]
    assert read_video(tmp_path / "out" / "video_mask.nii.gz").array.shape == (64, 64, 12)


def test_export_rejects_bad_checkpoints(weights, tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.pt: checkpoint not found"):
        bundle_tools.export_bundle(tmp_path / "absent.pt", tmp_path / "dist", wheel=False)
    three = tmp_path / "three.pt"
    torch.save(ncmnet_small(out_channels=3).state_dict(), three)
    with pytest.raises(ValueError, match=r"three.pt: does not fit .*--num_classes 3 \(it predicts 3 classes\)"):
        bundle_tools.export_bundle(three, tmp_path / "dist", wheel=False)
    assert not (tmp_path / "dist" / bundle_tools.BUNDLE_NAME).exists()
    assert bundle_tools.main(["export", "--checkpoint", str(three), "--out", str(tmp_path / "d2"), "--no-wheel"]) == 1


def test_export_never_replaces_an_earlier_zip_and_names_a_file_given_as_out(tmp_path):
    metadata = json.loads((REPO_ROOT / "bundle" / "configs" / "metadata.json").read_text())
    (tmp_path / "dist").mkdir()
    earlier = tmp_path / "dist" / f"{bundle_tools.BUNDLE_NAME}_v{metadata['version']}.zip"
    earlier.write_bytes(b"an earlier release")
    weights = REPO_ROOT / "bundle" / "models" / "model.pt"
    with pytest.raises(FileExistsError, match=r"_v.*\.zip: already exists; remove it or pass --overwrite"):
        bundle_tools.export_bundle(weights, tmp_path / "dist", wheel=False)
    assert earlier.read_bytes() == b"an earlier release"
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(NotADirectoryError, match="a_file: is a file; --out names the folder"):
        bundle_tools.export_bundle(weights, tmp_path / "a_file", wheel=False)


def test_shipped_weights_match_their_hash_and_segment_a_simulated_video():
    """bundle/models/model.pt is the file large_files.yml lists, fits the bundle's network, and finds the LV on a
    simulated video it never saw (seed outside the training set): Dice > 0.8 over every frame."""
    bundle = REPO_ROOT / "bundle"
    assert bundle_tools.verify_large_files(bundle) == []
    network = ncmnet_small()
    network.load_state_dict(torch.load(bundle / "models" / "model.pt", map_location="cpu", weights_only=True))
    network.eval()
    echo = generate_echo(seed=987654, size=112, num_frames=20)
    video = torch.from_numpy(echo.video).float()
    clip = ((video - video.min()) / (video.max() - video.min()))[None, None]  # 1 x 1 x X x Y x T
    with torch.no_grad():
        pred = network(clip).argmax(dim=1)[0].numpy()
    truth = echo.lv_masks
    dice = 2 * np.logical_and(pred == 1, truth == 1).sum() / ((pred == 1).sum() + (truth == 1).sum())
    assert dice > 0.8, dice
