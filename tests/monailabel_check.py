"""A real MONAI Label check (``make monailabel-check``, in its own environment): serve the exported bundle over HTTP.

Usage: ``python tests/monailabel_check.py BUNDLE_FOLDER WORK_FOLDER``, with the python of the MONAI Label environment
(``tests/monailabel_requirements.txt``); ``ncm_components`` need not be installed there (the exported bundle vendors
it). Steps:

1. a studies folder with one NIfTI echo video that is not square, with anisotropic spacing, an origin and a rotated
   direction;
2. the bundle's own offline inference on it (``python -m monai.bundle run`` in the bundle folder);
3. ``monailabel start_server`` with the ``monaibundle`` sample app on 127.0.0.1, the bundle as its model;
4. ``GET /info/`` (the model is listed), ``POST /infer/<model>?image=<id>`` (the label comes back), one bad request
   (an image that does not exist: refused with an error, the server keeps running);
5. the returned label must have the video's size and affine and equal the offline mask voxel for voxel;
6. the server is stopped by its PID.

Exits 0 when everything holds and prints what was measured.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import requests

MODEL = "ncm_echo_lv_segmentation"


def oriented_video(path: Path) -> None:
    """(X=96, Y=80, T=24) NIfTI: a dark ellipse that breathes in a bright speckled field, oriented and offset."""
    rng = np.random.default_rng(0)
    x, y = np.meshgrid(np.arange(96), np.arange(80), indexing="ij")
    frames = []
    for t in range(24):
        scale = 1.0 - 0.25 * np.sin(np.pi * t / 12) ** 2
        inside = ((x - 40) / (22 * scale)) ** 2 + ((y - 42) / (30 * scale)) ** 2 < 1
        frames.append(np.where(inside, 10, 140) + rng.integers(0, 60, x.shape))
    affine = np.array([[0.0, -0.45, 0.0, 20.0], [0.3, 0.0, 0.0, -35.0], [0.0, 0.0, 20.0, 4.0], [0, 0, 0, 1]])
    image = nib.Nifti1Image(np.stack(frames, axis=-1).astype(np.uint8), affine)
    image.header.set_xyzt_units("mm", "msec")
    nib.save(image, str(path))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before answering")
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return time.monotonic() - start
        except requests.ConnectionError:
            pass
        time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop(server: subprocess.Popen) -> None:
    """Stop the server and everything it started, by its process group."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def main(bundle: str, work: str) -> int:
    bundle, work = Path(bundle).resolve(), Path(work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    studies, app = work / "studies", work / "apps" / "monaibundle"
    studies.mkdir(parents=True)
    oriented_video(studies / "echo_video.nii.gz")
    apps_source = Path(sys.prefix) / "monailabel" / "sample-apps" / "monaibundle"
    shutil.copytree(apps_source, app)
    shutil.copytree(bundle, app / "model" / MODEL)

    offline = subprocess.run(
        [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/inference.yaml"]
        + ["--dataset_dir", str(studies / "echo_video.nii.gz"), "--output_dir", str(work / "offline")]
        + ["--overlay_format", "none"],
        cwd=app / "model" / MODEL,
        capture_output=True,
        text=True,
    )
    if offline.returncode:
        print(offline.stderr[-3000:], file=sys.stderr)
        return 1

    port = free_port()
    log = open(work / "server.log", "w")
    command = [sys.executable, "-m", "monailabel.main", "start_server", "--app", str(app), "--studies", str(studies)]
    command += ["--conf", "models", MODEL, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--conf", "zoo_source", "local", "--conf", "sam2", "false"]  # no model-zoo listing over the network
    server = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ), start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        started = wait_for(f"{base}/info/", server, timeout=300)
        info = requests.get(f"{base}/info/", timeout=30).json()
        assert MODEL in info.get("models", {}), f"/info/ lists {list(info.get('models', {}))}"
        tick = time.monotonic()
        answer = requests.post(f"{base}/infer/{MODEL}", params={"image": "echo_video", "output": "image"}, timeout=600)
        seconds = time.monotonic() - tick
        assert answer.status_code == 200, f"/infer/ answered {answer.status_code}: {answer.text[:500]}"
        (work / "label.nii.gz").write_bytes(answer.content)
        bad = requests.post(f"{base}/infer/{MODEL}", params={"image": "no_such_video"}, timeout=120)
        assert bad.status_code >= 400, f"a missing image was answered {bad.status_code}"
        assert requests.get(f"{base}/info/", timeout=30).status_code == 200, "the server died after the bad request"
    except (AssertionError, RuntimeError, TimeoutError) as error:
        print(f"monailabel-check: {error}; server log: {work / 'server.log'}", file=sys.stderr)
        return 1
    finally:
        stop(server)
        log.close()

    video = nib.load(str(studies / "echo_video.nii.gz"))
    label = nib.load(str(work / "label.nii.gz"))
    reference = nib.load(str(work / "offline" / "echo_video_mask.nii.gz"))
    served, expected = np.asarray(label.dataobj).squeeze(), np.asarray(reference.dataobj)
    checks = {
        "non-trivial mask": 0 < int((expected > 0).sum()) < expected.size,  # else equal content would prove nothing
        "size": served.shape == video.shape,
        "affine": bool(np.allclose(label.affine, video.affine, atol=1e-4)),
        "content": served.shape == expected.shape and bool(np.array_equal(served > 0, expected > 0)),
    }
    print(
        json.dumps(
            {
                "server_start_s": round(started, 1),
                "infer_s": round(seconds, 1),
                "video_shape": list(video.shape),
                "label_shape": list(served.shape),
                "label_affine_equals_video": checks["affine"],
                "label_equals_offline_mask": checks["content"],
                "lv_voxels": int((served > 0).sum()),
                "bad_request_status": bad.status_code,
            }
        )
    )
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        print(
            f"monailabel-check: the served label differs from the video or the offline mask in {failed}",
            file=sys.stderr,
        )
        return 1
    print("monailabel-check: the served label overlays the video and equals the bundle's own inference")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
