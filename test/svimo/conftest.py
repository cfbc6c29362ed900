"""Shared inputs of the SViMo training-step tests (test_train.py, test_train_switches.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from hoi_ros.data.samples import collate
from hoi_ros.svimo.data import DataConfig, build_dataset
from hoi_ros.svimo.train import load_train_config
from hoi_ros.svimo.train_step import draw_noise

TINY_TRAIN = Path(__file__).resolve().parents[2] / "config/recipes/svimo_train_tiny_synthetic.yaml"


@pytest.fixture(scope="session")
def make_step_inputs() -> Callable[[tuple[int, int]], dict]:
    """``make(t)``: the tiny training config, a two-sample synthetic batch, seeded latents and the
    noise of one step at timesteps ``t`` (one per sample)."""

    def make(t: tuple[int, int]) -> dict:
        cfg, model_cfg = load_train_config(TINY_TRAIN)
        data = build_dataset(DataConfig(num_samples=2), model_cfg)
        batch = collate([data[0], data[1]])
        g = torch.Generator().manual_seed(0)
        latents = {
            "video_latents": torch.randn(2, 3, 4, 4, 6, generator=g),
            "motion_latents": torch.randn(2, 3, 4, 4, 6, generator=g),
            "image_latents": torch.randn(2, 1, 4, 4, 6, generator=g),
            "text_embeds": torch.randn(2, 16, 384, generator=g),
        }
        noise = draw_noise(g, 1000, latents["video_latents"].shape, latents["motion_latents"].shape,
                           batch["hand"].shape, batch["obj"].shape)
        noise.t = torch.tensor(list(t))
        return {"cfg": cfg, "model_cfg": model_cfg, "batch": batch, "latents": latents, "noise": noise}

    return make
