"""Initialisation of G_θ from a (tiny) CogVideoX-I2V transformer in diffusers format, tensor by tensor."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from diffusers import CogVideoXTransformer3DModel

from hoi_ros.diffusion.checkpointing import load_checkpoint, save_checkpoint
from hoi_ros.svimo.dit import DiTConfig, SViMoTransformer
from hoi_ros.svimo.weights import copy_source, init_from_cogvideox

C = 4
CFG = DiTConfig(
    num_layers=2, num_attention_heads=2, attention_head_dim=16, latent_channels=C, text_embed_dim=24,
    max_text_seq_length=8, time_embed_dim=32, sample_frames=5, sample_height=4, sample_width=6,
)


def tiny_cogvideox(learned: bool = True, seed: int = 0) -> CogVideoXTransformer3DModel:
    torch.manual_seed(seed)
    m = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=2 * C, out_channels=C, time_embed_dim=32,
        text_embed_dim=24, num_layers=2, sample_width=6, sample_height=4, sample_frames=5, patch_size=2,
        max_text_seq_length=8, use_rotary_positional_embeddings=True, use_learned_positional_embeddings=learned,
    )
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for t in m.state_dict().values():  # every tensor distinct and non-zero (incl. the pos table)
            t.copy_(torch.randn(t.shape, generator=g) * 0.2)
    return m.eval()


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CogVideoXTransformer3DModel]:
    folder = tmp_path_factory.mktemp("cogvideox") / "transformer"
    ref = tiny_cogvideox()
    ref.save_pretrained(folder, safe_serialization=True)
    return folder, ref


def test_mapping_tensor_by_tensor(saved: tuple[Path, CogVideoXTransformer3DModel]) -> None:
    folder, ref = saved
    assert (folder / "diffusion_pytorch_model.safetensors").is_file()
    src = ref.state_dict()
    dit = SViMoTransformer(CFG)
    report = init_from_cogvideox(dit, folder.parent)  # the pipeline folder resolves to transformer/
    own = dit.state_dict()
    assert set(report.loaded) | set(report.copied) | set(report.new) == set(own)
    assert not report.new and not report.unused
    # Video stream + shared weights: identical names, identical values.
    assert set(report.loaded) == set(src)
    for name in report.loaded:
        assert torch.equal(own[name], src[name]), name
    # Motion stream: copies of the video stream's tensors.
    d = CFG.inner_dim
    expected_copies = {
        "motion_patch_embed.weight": src["patch_embed.proj.weight"],
        "motion_patch_embed.bias": src["patch_embed.proj.bias"],
        "motion_norm_out.linear.weight": src["norm_out.linear.weight"],
        "motion_norm_out.norm.bias": src["norm_out.norm.bias"],
        "motion_proj_out.weight": src["proj_out.weight"],
        "motion_proj_out.bias": src["proj_out.bias"],
    }
    for i in range(CFG.num_layers):
        for k in (1, 2):
            for p in ("weight", "bias"):
                expected_copies[f"transformer_blocks.{i}.motion_norm{k}.linear.{p}"] = src[
                    f"transformer_blocks.{i}.norm{k}.linear.{p}"
                ][: 3 * d]
    for name, value in expected_copies.items():
        assert torch.equal(own[name], value), name
    assert set(report.copied) == {k for k in own if copy_source(k, d) is not None}
    assert report.copied["transformer_blocks.1.motion_norm2.linear.weight"] == (
        f"transformer_blocks.1.norm2.linear.weight[0:{3 * d}]"
    )
    text = report.to_text()
    assert "copied  motion_proj_out.weight <- proj_out.weight" in text
    assert f"{len(report.loaded)} loaded" in text


def test_loaded_model_equals_cogvideox_on_joint_sequence(tmp_path: Path) -> None:
    """Right after init, G_θ is CogVideoX applied to [text; video; motion] (motion = copied video
    stream). Checked against diffusers' own forward with the video and motion latents stacked in time
    and the same rotary table (rotary-only model, so no absolute positions)."""
    ref = tiny_cogvideox(learned=False, seed=3)
    ref.save_pretrained(tmp_path, safe_serialization=True, max_shard_size="20KB")  # sharded
    assert (tmp_path / "diffusion_pytorch_model.safetensors.index.json").is_file()
    dit = SViMoTransformer(replace(CFG, use_learned_positional_embeddings=False)).eval()
    report = init_from_cogvideox(dit, tmp_path)
    assert not report.new
    g = torch.Generator().manual_seed(0)
    zv, zi, zm, zg = (torch.randn(2, 2, C, 4, 6, generator=g) for _ in range(4))
    text = torch.randn(2, 8, 24, generator=g)
    t = torch.tensor([5, 700])
    with torch.no_grad():
        out_v, out_m = dit(zv, zi, zm, zg, text, t)
        rotary = dit.rotary_embedding(2, 4, 6, torch.device("cpu"))
        stacked = torch.cat([torch.cat([zv, zi], 2), torch.cat([zm, zg], 2)], dim=1)
        expect = ref(stacked, text, t, image_rotary_emb=rotary, return_dict=False)[0]
    torch.testing.assert_close(out_v, expect[:, :2], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out_m, expect[:, 2:], atol=1e-5, rtol=1e-4)


def test_config_mismatch_and_pickles_rejected(saved: tuple[Path, CogVideoXTransformer3DModel], tmp_path: Path) -> None:
    folder, _ = saved
    with pytest.raises(ValueError, match=r"dit\.num_layers"):
        init_from_cogvideox(SViMoTransformer(replace(CFG, num_layers=3)), folder)
    with pytest.raises(ValueError, match=r"dit\.latent_channels"):
        init_from_cogvideox(SViMoTransformer(replace(CFG, latent_channels=2 * C)), folder)
    (tmp_path / "config.json").write_text(json.dumps({"in_channels": 2 * C, "out_channels": C}))
    (tmp_path / "diffusion_pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(ValueError, match="pickle"):
        init_from_cogvideox(SViMoTransformer(CFG), tmp_path)
    with pytest.raises(ValueError, match="not a local folder"):
        init_from_cogvideox(SViMoTransformer(CFG), tmp_path / "missing")


def test_missing_tensors_are_reported_new(tmp_path: Path) -> None:
    """A checkpoint without the learned positional table: that tensor is listed as newly initialised."""
    from safetensors.torch import load_file, save_file

    ref = tiny_cogvideox()
    ref.save_pretrained(tmp_path, safe_serialization=True)
    weights = load_file(tmp_path / "diffusion_pytorch_model.safetensors")
    weights.pop("patch_embed.pos_embedding")
    weights["ofs_embedding.linear_1.weight"] = torch.zeros(2, 2)
    save_file(weights, tmp_path / "diffusion_pytorch_model.safetensors")
    dit = SViMoTransformer(CFG)
    before = dit.patch_embed.pos_embedding.clone()
    report = init_from_cogvideox(dit, tmp_path)
    assert report.new == ["patch_embed.pos_embedding"]
    assert report.unused == ["ofs_embedding.linear_1.weight"]
    assert torch.equal(dit.patch_embed.pos_embedding, before)


def test_svimo_checkpoint_roundtrip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    a = SViMoTransformer(CFG)
    path = save_checkpoint(tmp_path / "svimo.safetensors", {"dit": a}, {"trained": "true", "steps": "7"})
    torch.manual_seed(1)
    b = SViMoTransformer(CFG)
    meta = load_checkpoint(path, {"dit": b})
    assert meta == {"trained": "true", "steps": "7"}
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    with pytest.raises(ValueError, match="does not match"):
        load_checkpoint(path, {"dit": SViMoTransformer(replace(CFG, num_layers=1))})
