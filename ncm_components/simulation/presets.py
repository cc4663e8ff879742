"""Site presets of the simulation: which population, scanner, probe and framing a simulated site's videos come from.

A preset is everything that differs from one echo lab to another while the heart and the physics stay the same: the
patients (EF distribution, heart rates, views), the framing (sector width, depth, how the probe sits on the apex) and
the scanner (probe point spread function and so speckle size, gain, dynamic range, near-field gain, clutter, frame
rate). Videos are deterministic in (seed, preset).

- ``echonet`` (the default, and the shipped weights' domain): matched to EchoNet-Dynamic's published facts, the EF
  population of its ``FileList.csv``, its contraction (:mod:`.motion_stats`) and its apical four-chamber scene
  (:mod:`.scene_stats`: a wide sector cut by the frame's edges, the LV axis tilted 15 degrees, a dark near field).
- ``shifted``: another site, never used for training the shipped weights, held out to measure transfer and
  adaptation: a heart-failure clinic's population (median EF 42 %, one video in five a two-chamber view), a
  lower-frequency probe (coarser speckle, wider beam), another gain and dynamic range, a narrower and deeper sector,
  the LV less tilted and further right, 30 frames/s.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SitePreset", "PRESETS", "EF_QUANTILES", "get_preset"]

# quantiles at which a preset gives its EF population (a piecewise-linear quantile function)
EF_QUANTILES = (0.0, 0.02, 0.10, 0.126, 0.25, 0.5, 0.75, 0.9, 0.97, 1.0)


@dataclass(frozen=True)
class SitePreset:
    """What one simulated site's videos are drawn from. Ranges are (low, high) of uniform draws; ``axis_tilt`` is
    (mean, SD) of a normal draw in degrees (positive: the base to the right of the apex)."""

    name: str
    ef_values: tuple[float, ...]  # EF (%) at EF_QUANTILES
    heart_rate: tuple[float, float]  # beats per minute
    fps: float
    four_chamber_share: float  # the rest are apical two-chamber views
    sector_half_angle: tuple[float, float]  # degrees
    depth_margin: tuple[float, float]  # the sector's depth over the heart's (apex to atria), as a sonographer sets it
    axis_tilt: tuple[float, float]  # degrees, mean and SD
    apex_x: tuple[float, float]  # mm, the LV apex's lateral position (positive: right of the sector's centre line)
    apex_z: tuple[float, float]  # mm, the LV apex's depth
    lv_length: float  # mm, ED length of the LV cavity of an average heart
    psf_scale: float  # point spread function width (axial and lateral) relative to the default probe
    tissue_level: tuple[float, float]  # gain: where myocardium sits in the displayed dynamic range
    dynamic_range: tuple[float, float]  # dB
    near_field_gain: tuple[float, float]  # dB the near-field gain is turned down at the transducer
    near_field_depth: tuple[float, float]  # mm over which the near-field gain returns to normal
    clutter_scale: float  # near-field clutter relative to the default
    depth_markers: bool  # dots every centimetre beside the sector's right edge


PRESETS = {
    "echonet": SitePreset(
        name="echonet",
        ef_values=(10.0, 23.0, 35.7, 40.0, 53.0, 59.2, 63.6, 67.3, 71.0, 78.0),
        heart_rate=(50.0, 110.0),
        fps=50.0,
        four_chamber_share=1.0,
        sector_half_angle=(42.0, 48.0),
        depth_margin=(1.02, 1.2),
        axis_tilt=(15.5, 8.5),
        apex_x=(-11.0, 9.0),
        apex_z=(20.0, 38.0),
        lv_length=87.0,
        psf_scale=1.0,
        tissue_level=(0.46, 0.68),
        dynamic_range=(45.0, 60.0),
        near_field_gain=(20.0, 40.0),
        near_field_depth=(40.0, 60.0),
        clutter_scale=1.0,
        depth_markers=True,
    ),
    "shifted": SitePreset(
        name="shifted",
        ef_values=(8.0, 14.0, 21.0, 24.0, 31.0, 42.0, 55.0, 62.0, 67.0, 75.0),
        heart_rate=(60.0, 120.0),
        fps=30.0,
        four_chamber_share=0.8,
        sector_half_angle=(34.0, 40.0),
        depth_margin=(1.25, 1.5),
        axis_tilt=(4.0, 6.0),
        apex_x=(-2.0, 16.0),
        apex_z=(28.0, 48.0),
        lv_length=86.0,
        psf_scale=1.5,
        tissue_level=(0.45, 0.66),
        dynamic_range=(55.0, 70.0),
        near_field_gain=(0.0, 6.0),
        near_field_depth=(10.0, 20.0),
        clutter_scale=1.8,
        depth_markers=False,
    ),
}


def get_preset(preset: str | SitePreset) -> SitePreset:
    """The preset of that name (``PRESETS``), or ``preset`` itself; a ``ValueError`` names the known ones."""
    if isinstance(preset, SitePreset):
        return preset
    if preset not in PRESETS:
        raise ValueError(f"unknown simulation preset {preset!r}; known presets: {sorted(PRESETS)}.")
    return PRESETS[preset]
