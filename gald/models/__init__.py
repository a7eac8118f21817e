"""GALDNet model family."""

from .config import ARRANGEMENTS, GALDConfig
from .galdnet import GALDNet, build_model
from .heads import ProbeHead, SegHead

__all__ = ["ARRANGEMENTS", "GALDConfig", "GALDNet", "build_model", "ProbeHead", "SegHead"]
