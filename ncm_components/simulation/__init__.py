"""The built-in data: a physics-based simulation of apical echocardiography videos, the team's stand-in for real echo.

Real data comes in through :mod:`ncm_components.data` (converters of public releases and clinical exports); this
package makes data: the heart and its scene (:mod:`.anatomy`), B-mode image formation (:mod:`.ultrasound`), the
simulated sonographer's tracings (:mod:`.tracing`), videos, datasets and public-release layouts (:mod:`.synthetic`,
:mod:`.releases`), site presets (:mod:`.presets`) and the statistics that compare it with real echo
(:mod:`.image_stats`, :mod:`.motion_stats`, :mod:`.scene_stats`).

CLI: ``python -m ncm_components.simulation --out DIR --num-videos N`` (``--help`` for layouts, presets and ``--stats``).
"""
