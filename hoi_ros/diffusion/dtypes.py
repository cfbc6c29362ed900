"""Parameter dtypes by name, as configs spell them (one map for every model and encoder)."""

from __future__ import annotations

import torch

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DTYPE_NAMES = tuple(DTYPES)


def check_dtype_name(name: str, field: str) -> str:
    """``name`` when it is one of :data:`DTYPE_NAMES`; else a ``ValueError`` naming ``field``."""
    if name not in DTYPES:
        raise ValueError(f"{field}: expected one of {list(DTYPE_NAMES)}, got {name!r}")
    return name


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype a config names."""
    return DTYPES[check_dtype_name(name, "dtype")]
