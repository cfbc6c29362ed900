"""The paper's shapes on the meta device: FLUX.1-dev and CogVideoX-5B-I2V, and their ControlNets."""

from __future__ import annotations

from pathlib import Path

import pytest

from hoi_ros.pam.config import load_config
from hoi_ros.pam.models import build_image_model, build_video_model
from hoi_ros.pam.params import main, parameter_counts

CONFIGS = Path(__file__).resolve().parents[2] / "config/models/pam"
PAPER = load_config(CONFIGS / "paper.yaml")


def test_video_controlnet_takes_the_first_12_base_blocks_by_name_at_5b_i2v_shape() -> None:
    model = build_video_model(PAPER.video, "meta")
    base, cn = model.base, model.controlnet
    assert len(base.transformer_blocks) == 42 and len(cn.transformer_blocks) == 12
    mapping = cn.base_key_map(base)
    base_sd, sd = base.state_dict(), cn.state_dict()
    first12 = {k for k in base_sd if k.startswith("transformer_blocks.") and int(k.split(".")[1]) < 12}
    cn_blocks = {k for k in sd if k.startswith("transformer_blocks.")}
    assert cn_blocks == first12
    for k in cn_blocks:
        assert mapping[k] == k and sd[k].shape == base_sd[k].shape
    # the ControlNet's own patch embedding: base input (32 = noisy + first-frame latents) + 3 × 16 conditions
    assert cn.patch_embed.proj.in_channels == 32 + 48
    assert sd["patch_embed.pos_embedding"].shape == base_sd["patch_embed.pos_embedding"].shape
    assert len(cn.controlnet_blocks) == 12 and cn.controlnet_blocks[0].in_features == 3072


def test_image_controlnet_takes_the_first_two_flux_blocks_at_flux_dev_shape() -> None:
    model = build_image_model(PAPER.image, "meta")
    assert len(model.base.transformer_blocks) == 19 and len(model.base.single_transformer_blocks) == 38
    cn = model.controlnet
    assert len(cn.transformer_blocks) == 2 and len(cn.single_transformer_blocks) == 0
    assert {k.split(".")[1] for k in cn.base_key_map(model.base) if k.startswith("transformer_blocks.")} == {"0", "1"}
    assert cn.controlnet_x_embedder.in_features == 3 * 16 * 4 and cn.x_embedder.in_features == 64


def test_parameter_counts_at_the_papers_scale() -> None:
    c = parameter_counts(PAPER)
    assert c["image"]["base"] == 11_901_408_320  # FLUX.1-dev transformer, 11.9 B
    assert c["video"]["base"] == 5_570_479_680  # CogVideoX-5B-I2V transformer
    assert c["video"]["copied_blocks"] == list(range(12)) and c["image"]["copied_blocks"] == [0, 1]
    assert 1.5e9 < c["video"]["controlnet"] < 2.0e9 and 0.5e9 < c["image"]["controlnet"] < 1.0e9


def test_params_command_prints_base_and_controlnet_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(CONFIGS / "tiny_for_tests.yaml")]) == 0
    out = capsys.readouterr().out
    assert "Stage II  ControlNet" in out and "Stage III base (CogVideoX-I2V)" in out
    assert main([str(CONFIGS / "missing.yaml")]) == 2
