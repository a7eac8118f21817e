"""Global Aggregation (GA) modules, one per file, all `Module(channels) -> same-shape features`."""

from __future__ import annotations

from torch import nn

from .aspp import ASPP
from .cgnl import CGNL
from .non_local import NonLocal
from .psp import PSP

GA_MODULES: dict[str, type[nn.Module]] = {"cgnl": CGNL, "nl": NonLocal, "psp": PSP, "aspp": ASPP}


def build_context(name: str, channels: int, **kwargs) -> nn.Module:
    """Build a GA module by name; unknown names list the valid ones."""
    if name not in GA_MODULES:
        raise ValueError(f"unknown global aggregation module {name!r}; valid: {sorted(GA_MODULES)}")
    return GA_MODULES[name](channels, **kwargs)


__all__ = ["GA_MODULES", "build_context", "CGNL", "NonLocal", "PSP", "ASPP"]
