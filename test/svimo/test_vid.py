"""VID M_φ (SViMo §3.4, Eq. 6): shapes, conditioning and the gradient path into the latents."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from hoi_ros.diffusion.components import public_config
from hoi_ros.svimo.vid import VID, VIDConfig

TINY = dict(num_joints=21, num_object_points=8, num_frames=5, latent_channels=4, conv_channels=[8, 16],
            token_grid=[2, 1], d_model=24, num_layers=2, num_heads=2, time_embed_dim=16)


def _inputs(b: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, 5, 21, 3, generator=g), torch.randn(b, 5, 8, 3, generator=g),
            torch.randn(b, 2, 4, 6, 8, generator=g), torch.randn(b, 2, 4, 6, 8, generator=g),
            torch.randint(0, 1000, (b,), generator=g))


def test_vid_shapes_and_timestep_and_latent_conditioning() -> None:
    torch.manual_seed(0)
    vid = VID(VIDConfig(**TINY))
    h, o, zv, zm, t = _inputs()
    hand, obj = vid(h, o, zv, zm, t)
    assert hand.shape == (2, 5, 21, 3) and obj.shape == (2, 5, 8, 3)
    # The prediction depends on the timestep and on both latent streams.
    hand_t2, _ = vid(h, o, zv, zm, t + 7)
    hand_v, _ = vid(h, o, zv + 1.0, zm, t)
    hand_m, _ = vid(h, o, zv, zm + 1.0, t)
    for other in (hand_t2, hand_v, hand_m):
        assert not torch.allclose(hand, other)


def test_vid_gradient_reaches_latents_and_checkpointing_matches() -> None:
    torch.manual_seed(0)
    vid = VID(VIDConfig(**TINY))
    h, o, zv, zm, t = _inputs(seed=1)
    zv.requires_grad_(True)
    zm.requires_grad_(True)
    hand, obj = vid(h, o, zv, zm, t)
    (hand.square().mean() + obj.square().mean()).backward()
    # Eq. 7 row 2: the VID loss must reach SViMo's predicted latents.
    assert zv.grad is not None and zv.grad.abs().sum() > 0
    assert zm.grad is not None and zm.grad.abs().sum() > 0
    grads = {n: p.grad.clone() for n, p in vid.named_parameters() if p.grad is not None}
    vid.zero_grad()
    vid.gradient_checkpointing = True
    hand2, obj2 = vid(h, o, zv.detach(), zm.detach(), t)
    (hand2.square().mean() + obj2.square().mean()).backward()
    assert torch.allclose(hand, hand2)
    for n, p in vid.named_parameters():
        if n in grads:
            assert torch.allclose(grads[n], p.grad, atol=1e-6), n


def test_vid_normalisation_round_trip_and_errors() -> None:
    vid = VID(VIDConfig(**TINY, coord_scale=0.2, coord_offset=[0.1, 0.0, 0.5]))
    p = torch.randn(3, 4, 3)
    assert torch.allclose(vid.from_diffusion(vid.to_diffusion(p)), p, atol=1e-6)
    h, o, zv, zm, t = _inputs()
    with pytest.raises(ValueError, match="hand_t"):
        vid(h[:, :, :20], o, zv, zm, t)
    with pytest.raises(ValueError, match="obj_t"):
        vid(h, o[:, :, :6], zv, zm, t)
    with pytest.raises(ValueError, match="motion_latents"):
        vid(h, o, zv, zm[:, :1], t)
    with pytest.raises(ValueError, match="num_object_points"):
        VIDConfig(**{**TINY, "num_object_points": 7})
    with pytest.raises(ValueError, match="token_grid"):
        VIDConfig(**{**TINY, "token_grid": [2]})
    with pytest.raises(ValueError, match="unknown"):
        VIDConfig.from_dict({"bogus": 1})


def test_vid_save_pretrained_from_pretrained_round_trip(tmp_path: Path) -> None:
    """A diffusers component: the same config (the VIDConfig fields, normalisation included), the
    same tensors and the same predictions after save_pretrained / from_pretrained."""
    torch.manual_seed(0)
    cfg = VIDConfig(**TINY, coord_scale=0.2, coord_offset=[0.1, 0.0, 0.5])
    vid = VID(cfg).eval()
    vid.save_pretrained(tmp_path, safe_serialization=True)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert {k: v for k, v in saved.items() if not k.startswith("_")} == dataclasses.asdict(cfg)
    loaded = VID.from_pretrained(tmp_path, use_safetensors=True)
    assert loaded.cfg == cfg and public_config(loaded) == public_config(vid)
    want, got = vid.state_dict(), loaded.state_dict()
    assert list(got) == list(want) and all(torch.equal(got[k], want[k]) for k in want)
    assert torch.equal(loaded.offset, vid.offset)  # the non-persistent normalisation buffer, rebuilt
    h, o, zv, zm, t = _inputs(seed=3)
    with torch.no_grad():
        for a, b in zip(vid(h, o, zv, zm, t), loaded(h, o, zv, zm, t)):
            assert torch.equal(a, b)


def test_vid_built_from_the_dataclass_or_keywords() -> None:
    """``VID(cfg)`` and the same fields as keywords agree; omitted list fields take VIDConfig's defaults."""
    cfg = VIDConfig(**TINY)
    a, b = VID(cfg), VID(**dataclasses.asdict(cfg))
    assert a.cfg == b.cfg == cfg and public_config(a) == public_config(b) == dataclasses.asdict(cfg)
    assert list(a.state_dict()) == list(b.state_dict())
    sizes = {k: v for k, v in TINY.items() if k not in ("conv_channels", "token_grid")}
    with torch.device("meta"):
        default = VID(**sizes)
    assert default.cfg == VIDConfig(**sizes) and default.config.conv_channels == [64, 128, 256]
    assert public_config(default) == dataclasses.asdict(VIDConfig(**sizes))
    with pytest.raises(ValueError, match="num_object_points"):
        VID(**{**TINY, "num_object_points": 7})
    with pytest.raises(TypeError, match="unknown"):
        VID(bogus=1)


def test_vid_defaults_are_a_valid_full_scale_config() -> None:
    """``VIDConfig()`` passes its own checks and matches the paper config's VID sizes."""
    from hoi_ros.svimo.config import read_yaml_with_base

    cfg = VIDConfig()
    paper = read_yaml_with_base(Path(__file__).resolve().parents[2] / "config/models/svimo/paper.yaml")["vid"]
    assert all(getattr(cfg, k) == v for k, v in paper.items())
