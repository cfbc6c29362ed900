"""Parameter counts of any model (on the meta device too) and their human-readable form."""

from __future__ import annotations

from torch import nn


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (works on the meta device)."""
    return sum(p.numel() for p in module.parameters())


def format_count(n: int) -> str:
    """``"   6.012 B  (6,012,345,678)"``: scaled to B/M/k, then the exact count."""
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:8.3f} {unit}  ({n:,})"
    return f"{n:8d}    ({n:,})"
