"""Compatibility name of the engine layer: everything lives in :mod:`wfcore.engines`."""

from wfcore.engines import *  # noqa: F403
from wfcore.engines import __all__  # noqa: F401
