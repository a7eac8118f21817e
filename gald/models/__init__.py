"""GALDNet model family."""

from .config import ARRANGEMENTS, GALDConfig
from .galdnet import GALDNet, build_model
from .heads import ProbeHead, SegHead, probe_gradients

__all__ = ["ARRANGEMENTS", "GALDConfig", "GALDNet", "build_model", "ProbeHead", "SegHead", "probe_gradients"]
