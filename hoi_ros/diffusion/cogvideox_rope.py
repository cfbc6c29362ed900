"""CogVideoX's 3D rotary position embedding for a latent grid, as its pipelines compute it.

diffusers computes the ``image_rotary_emb`` that :class:`~diffusers.CogVideoXTransformer3DModel`
takes inside its pipelines (``_prepare_rotary_positional_embeddings``), which import
``transformers``; this is the same arithmetic for any model built on a CogVideoX transformer
config (CogVideoX 1.0: the grid resized and centre-cropped into the pretrained base grid;
CogVideoX 1.5, ``patch_size_t`` set: sliced from the base grid).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from diffusers.models.embeddings import get_3d_rotary_pos_embed


def resize_crop_region(
    src: tuple[int, int], tgt_width: int, tgt_height: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The crop of the base grid a ``src = (h, w)`` token grid uses (``get_resize_crop_region_for_grid``)."""
    h, w = src
    if h / w > tgt_height / tgt_width:
        resize_height, resize_width = tgt_height, round(tgt_height / h * w)
    else:
        resize_width, resize_height = tgt_width, round(tgt_width / w * h)
    top, left = round((tgt_height - resize_height) / 2.0), round((tgt_width - resize_width) / 2.0)
    return (top, left), (top + resize_height, left + resize_width)


def cogvideox_rotary_embedding(
    config: Mapping[str, Any], latent_frames: int, latent_height: int, latent_width: int,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(cos, sin)`` for ``latent_frames × latent_height × latent_width`` latents, or None when the
    transformer ``config`` (a CogVideoX transformer's ``config``) uses no rotary embedding."""
    if not config.get("use_rotary_positional_embeddings", False):
        return None
    p = int(config["patch_size"])
    p_t = config.get("patch_size_t")
    gh, gw = latent_height // p, latent_width // p
    base_w, base_h = int(config["sample_width"]) // p, int(config["sample_height"]) // p
    if p_t is None:
        return get_3d_rotary_pos_embed(
            embed_dim=int(config["attention_head_dim"]),
            crops_coords=resize_crop_region((gh, gw), base_w, base_h),
            grid_size=(gh, gw), temporal_size=latent_frames, device=device,
        )
    return get_3d_rotary_pos_embed(
        embed_dim=int(config["attention_head_dim"]), crops_coords=None, grid_size=(gh, gw),
        temporal_size=(latent_frames + int(p_t) - 1) // int(p_t), grid_type="slice", max_size=(base_h, base_w),
        device=device,
    )
