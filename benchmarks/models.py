"""The models the benchmarks compare, as bundle ``network_def`` configs (one definition for every benchmark).

NCM-Net variants are ``ncmnet_small``/``NCMNet`` with ablation flags; the baselines are the two approaches a team
would otherwise use: MONAI ``UNet`` applied frame by frame and trained on the ED/ES frames (EchoNet-Dynamic's
approach), and MONAI ``UNet`` with ``spatial_dims=3`` on the whole clip (SimLVSeg-3D's approach), strided in space
only so that a 10-frame clip keeps its frames. The baselines train as those approaches do, on the annotated frames
alone: no cross-frame boundary term and no unlabelled-frame objective (NCM-Net's recipe; its ablations show what each
part brings). ``train_overrides`` are extra bundle overrides for one model; an ``experiment`` runs only when named.
Every model trains on the bundle's ``mixed`` clips (ED -> ES clips and windows with ED or ES at a random position, as
SimLVSeg samples): on ED -> ES clips alone, whose labelled frames always sit at the clip's two ends, the 3D UNet
learned to segment only there (Dice 0.29 on all frames) and NCM-Net, whose correlation masks neighbours beyond the
clip's ends, scored 0.79 on whole videos against 0.94 on validation clips.
"""

from __future__ import annotations

from monai.bundle import ConfigParser

__all__ = ["BENCHMARK_MODELS", "build_model"]

_SMALL = {"_target_": "ncm_components.networks.ncmnet_small", "out_channels": 2}
_UNET_2D = {
    "_target_": "monai.networks.nets.UNet",
    "spatial_dims": 2,
    "in_channels": 1,
    "out_channels": 2,
    "channels": [16, 32, 64, 128, 256],
    "strides": [2, 2, 2, 2],
    "num_res_units": 2,
}

BENCHMARK_MODELS: dict[str, dict] = {
    "NCM-Net small": {"network_def": _SMALL, "boundary_weight": 0.1},
    "NCM-Net default": {"network_def": {"_target_": "ncm_components.networks.NCMNet"}, "boundary_weight": 0.1},
    "small w/o NCM": {"network_def": {**_SMALL, "use_ncm": False}, "boundary_weight": 0.1},
    "small w/o UMA": {"network_def": {**_SMALL, "use_uma": False}, "boundary_weight": 0.1},
    "small with NCM within each frame": {  # an experiment: the space-time neighbourhood trained away
        "network_def": {**_SMALL, "temporal_radius": 0},
        "boundary_weight": 0.1,
        "experiment": True,
    },
    "small with UMA threshold 0.01": {  # an experiment, run only when named
        "network_def": {**_SMALL, "uma_threshold": 0.01},
        "boundary_weight": 0.1,
        "experiment": True,
    },
    "small with NCM at 1/8 reaching 4 frames": {  # an experiment: walls come and go over the cycle
        "network_def": {**_SMALL, "ncm_levels": [0, 1, 2], "temporal_radius": [1, 1, 4]},
        "boundary_weight": 0.1,
        "experiment": True,
    },
    "small reaching 4 frames with area smoothness": {  # an experiment: the long reach plus the soft-area term
        "network_def": {**_SMALL, "ncm_levels": [0, 1, 2], "temporal_radius": [1, 1, 4]},
        "boundary_weight": 0.1,
        "train_overrides": {"loss#area_smoothness_weight": 10.0},
        "experiment": True,
    },
    "small with a 16-channel full-resolution head": {  # an experiment: capacity where the boundary is placed
        "network_def": {**_SMALL, "head_channels": 16},
        "boundary_weight": 0.1,
        "experiment": True,
    },
    "small with residual decoder levels": {  # an experiment: two convolutions per decoder level, as a UNet has
        "network_def": {**_SMALL, "decoder_convs": 2},
        "boundary_weight": 0.1,
        "experiment": True,
    },
    "small with a wider head and residual decoder": {  # an experiment: both of the above
        "network_def": {**_SMALL, "head_channels": 16, "decoder_convs": 2},
        "boundary_weight": 0.1,
        "experiment": True,
    },
    "small w/o boundary loss": {"network_def": _SMALL, "boundary_weight": 0.0},
    "NCM-Net small, a third of the clips anywhere": {  # an experiment: the unlabelled frames of every phase
        "network_def": _SMALL,
        "boundary_weight": 0.1,
        "train_overrides": {"anywhere_clip_prob": 1 / 3},
        "experiment": True,
    },
    "small w/o NCM, a third of the clips anywhere": {
        "network_def": {**_SMALL, "use_ncm": False},
        "boundary_weight": 0.1,
        "train_overrides": {"anywhere_clip_prob": 1 / 3},
        "experiment": True,
    },
    "small w/o unlabelled objective": {
        "network_def": _SMALL,
        "boundary_weight": 0.1,
        "train_overrides": {"unlabelled_weight": 0.0},
    },
    "UNet 2D per frame (EchoNet)": {
        "network_def": {"_target_": "ncm_components.networks.nets.FrameWise", "net": _UNET_2D},
        "boundary_weight": 0.0,
        "train_overrides": {"unlabelled_weight": 0.0},
    },
    "UNet 3D on the clip (SimLVSeg-3D)": {
        "network_def": {
            **_UNET_2D,
            "spatial_dims": 3,
            "channels": [16, 32, 64, 128],
            "strides": [[2, 2, 1], [2, 2, 1], [2, 2, 1]],
        },
        "boundary_weight": 0.0,
        "train_overrides": {"unlabelled_weight": 0.0},
    },
}


def build_model(name: str):
    """Instantiate a benchmark model by name (randomly initialised)."""
    parser = ConfigParser({"network_def": BENCHMARK_MODELS[name]["network_def"]})
    return parser.get_parsed_content("network_def", instantiate=True)
