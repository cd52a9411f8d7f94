"""mav_lite: a course that rebuilds Make-A-Video (Singer et al. 2022) at laptop scale.

The notebooks in notebooks/ build each component; this package holds the polished versions.
Start with `mav_lite.data.ShapesWorld` (notebook 01) and `mav_lite.config.get_preset`.
"""

__version__ = "0.1.0"
