"""mav_lite: a course that rebuilds Make-A-Video (Singer et al. 2022) at laptop scale.

The notebooks in notebooks/ build each component; this package holds the polished versions.
Start with `mav_lite.data.ShapesWorld` (notebook 01) and `mav_lite.config.get_preset`; the trained
chain is `MakeAVideoLite.from_pretrained()`.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "MakeAVideoLite":  # imported on first use: `import mav_lite` stays light
        from .pipeline import MakeAVideoLite

        return MakeAVideoLite
    raise AttributeError(f"module 'mav_lite' has no attribute {name!r}")
