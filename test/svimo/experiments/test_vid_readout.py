"""The readout diagnosis: a VID that returns its motion input scores 0 at t = 0 and not under noise or
shuffled indices; a VID that ignores it scores the same at every level."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from hoi_ros.svimo.experiments.vid_readout import load_clips, readout_errors
from hoi_ros.svimo.vid import VID, VIDConfig

SIZES = dict(num_joints=21, num_object_points=8, num_frames=5, latent_channels=4, conv_channels=[8],
             token_grid=[1], d_model=24, num_layers=1, num_heads=2, time_embed_dim=16)


class Echo(VID):
    """Returns (h_t, o_t): a denoiser that reads its input and nothing else."""

    def forward(self, hand_t, obj_t, video_latents, motion_latents, timestep):
        return hand_t, obj_t


class Constant(VID):
    """Returns zeros whatever its input: an answer from nothing but the (here absent) latents."""

    def forward(self, hand_t, obj_t, video_latents, motion_latents, timestep):
        return torch.zeros_like(hand_t), torch.zeros_like(obj_t)


def _clips(n: int = 3) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [{"hand": 0.05 * torch.randn(5, 21, 3, generator=g), "obj": 0.05 * torch.randn(5, 8, 3, generator=g),
             "video_latents": torch.zeros(2, 4, 2, 2), "motion_latents": torch.zeros(2, 4, 2, 2)} for _ in range(n)]


def test_an_echo_reads_its_input_and_a_constant_does_not(tmp_path: Path) -> None:
    abar = torch.cat([torch.ones(1), torch.linspace(0.999, 0.01, 999)])  # t = 0: no noise
    echo = readout_errors(Echo(VIDConfig(**SIZES)), _clips(), abar, levels=(0, 600))
    assert echo["0"]["object_index_error_cm"] < 1e-4 and echo["0"]["hand_error_cm"] < 1e-4
    assert echo["600"]["object_index_error_cm"] > 1.0 and echo["shuffled"]["object_index_error_cm"] > 1.0
    const = readout_errors(Constant(VIDConfig(**SIZES)), _clips(), abar, levels=(0, 600))
    assert const["0"] == const["600"] == const["shuffled"]
    for i, clip in enumerate(_clips(2)):
        save_file(clip, str(tmp_path / f"{i:08d}.safetensors"))
    assert len(load_clips(tmp_path, 5)) == 2
    with pytest.raises(FileNotFoundError):
        load_clips(tmp_path / "none", 1)
