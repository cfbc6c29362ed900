"""The video VAE wrapper (SViMo §3.3): shapes, scaling, local loading, switches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hoi_ros.diffusion.vae import VAEConfig, build_vae

TINY = dict(block_out_channels=[8, 16, 16], layers_per_block=1, latent_channels=4, norm_num_groups=8)


def test_vae_round_trip_shapes_and_input_types() -> None:
    vae = build_vae(VAEConfig(**TINY))
    assert (vae.latent_channels, vae.spatial_ratio, vae.temporal_ratio) == (4, 4, 4)
    frames = torch.randint(0, 256, (2, 9, 16, 24, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    z = vae.encode(frames)
    assert z.shape == (2, 3, 4, 4, 6) == (2, *vae.latent_shape(9, 16, 24))
    assert torch.allclose(z, vae.encode(frames.float() / 255.0), atol=1e-5)  # uint8 == float in [0, 1]
    out = vae.decode(z)
    assert out.shape == (2, 9, 16, 24, 3) and out.min() >= 0 and out.max() <= 1
    assert vae.encode(frames[:, :1]).shape == (2, 1, 4, 4, 6)  # a single reference image (z_I)


def test_vae_scaling_factor_and_local_weights(tmp_path: Path) -> None:
    vae = build_vae(VAEConfig(**TINY, scaling_factor=0.5))
    frames = torch.rand(1, 9, 16, 16, 3, generator=torch.Generator().manual_seed(1))
    x = (frames * 2 - 1).permute(0, 4, 1, 2, 3)
    with torch.no_grad():
        raw = vae.model.encode(x).latent_dist.mode().permute(0, 2, 1, 3, 4)
    assert torch.allclose(vae.encode(frames), 0.5 * raw, atol=1e-6)
    vae.model.save_pretrained(tmp_path / "vae", safe_serialization=True)
    loaded = build_vae(VAEConfig(path=str(tmp_path), subfolder="vae", enable_slicing=True, enable_tiling=True))
    assert loaded.model.use_slicing and loaded.model.use_tiling
    assert loaded.scaling_factor == 0.5 and loaded.latent_channels == 4
    assert torch.allclose(loaded.encode(frames), vae.encode(frames), atol=1e-6)


def test_vae_errors(tmp_path: Path) -> None:
    vae = build_vae(VAEConfig(**TINY))
    with pytest.raises(ValueError, match="number of frames"):
        vae.encode(torch.zeros(1, 5, 16, 16, 3))
    with pytest.raises(ValueError, match="multiples of 4"):
        vae.encode(torch.zeros(1, 9, 18, 16, 3))
    with pytest.raises(ValueError, match="odd number"):
        vae.decode(torch.zeros(1, 2, 4, 4, 4))
    with pytest.raises(ValueError, match="not a local folder"):
        build_vae(VAEConfig(path=str(tmp_path / "nope")))
    with pytest.raises(ValueError, match="norm_num_groups"):
        VAEConfig(block_out_channels=[12, 16], norm_num_groups=8)


def test_batch_one_convolutions_take_onednn_and_match_a_batch_of_two() -> None:
    """route_conv3d_to_onednn: a batch-1 encode/decode never runs torch's im2col 3-D kernel, and gives
    exactly the numbers of the same clip inside a batch of two (which torch already sends to oneDNN)."""
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this torch build has no oneDNN")
    from torch.profiler import profile

    vae = build_vae(VAEConfig(block_out_channels=[16, 32, 32], layers_per_block=1, latent_channels=8,
                              norm_num_groups=16))
    frames = torch.rand(1, 9, 32, 48, 3, generator=torch.Generator().manual_seed(0))
    with profile() as prof:
        z = vae.encode(frames)
        x = vae.decode(z)
    ops = {e.key for e in prof.key_averages()}
    assert "aten::slow_conv3d_forward" not in ops and "aten::mkldnn_convolution" in ops
    pair = torch.cat([frames, frames.flip(1)])
    torch.testing.assert_close(vae.encode(pair)[:1], z, rtol=0, atol=1e-6)
    torch.testing.assert_close(vae.decode(torch.cat([z, z]))[:1], x, rtol=0, atol=1e-6)
