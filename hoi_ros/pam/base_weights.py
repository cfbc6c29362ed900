"""Initialising a ControlNet from its base by tensor name (both PAM ControlNets do it), quietly."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch
from torch import nn


def same_named(model: nn.Module, base: nn.Module) -> dict[str, str]:
    """``model`` tensor name → the ``base`` tensor of the same name (every name both have)."""
    base_keys = set(base.state_dict())
    return {k: k for k in model.state_dict() if k in base_keys}


@torch.no_grad()
def copy_same_named(model: nn.Module, base: nn.Module, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Copy every same-named, same-shaped tensor of ``base`` into ``model`` (names in ``skip`` are left);
    a same-named tensor of another shape is a ``ValueError``. Returns the name map copied. On the meta
    device the copy is a no-op and the map is still the one a real load would use."""
    own, src = model.state_dict(), base.state_dict()
    mapping = {k: v for k, v in same_named(model, base).items() if k not in skip}
    for key, base_key in mapping.items():
        if own[key].shape != src[base_key].shape:
            raise ValueError(
                f"controlnet: {key} has shape {tuple(own[key].shape)}, the base {tuple(src[base_key].shape)}"
            )
        own[key].copy_(src[base_key])
    return mapping


@contextlib.contextmanager
def quiet_diffusers() -> Iterator[None]:
    """Silence diffusers' notices about casting a freshly built model (it has no float32-only modules)
    and its deprecation warning for the ``FluxPosEmbed`` import inside its own Flux ControlNet."""
    from diffusers.utils import logging as dlogging

    level = dlogging.get_verbosity()
    dlogging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*FluxPosEmbed.*", category=FutureWarning)
            yield
    finally:
        dlogging.set_verbosity(level)


def match_base(model: nn.Module, base: nn.Module, load_weights_from_base: bool) -> nn.Module:
    """The last steps of building a ControlNet for ``base``: its dtype, then (optionally) the
    same-named weights copied from the base by the model's own ``load_from_base``."""
    if model.dtype != base.dtype:
        with quiet_diffusers():
            model.to(dtype=base.dtype)
    if load_weights_from_base:
        model.load_from_base(base)
    return model
