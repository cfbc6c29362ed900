"""Weights of G_θ and M_φ: initialisation from a (tiny) CogVideoX-I2V transformer in diffusers
format, tensor by tensor; trained SViMo weights as a diffusers-style folder, and the single-file
checkpoint of earlier releases (still read, with a DeprecationWarning)."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import CogVideoXTransformer3DModel
from safetensors import safe_open

from hoi_ros.diffusion.checkpointing import load_checkpoint, save_checkpoint
from hoi_ros.svimo.dit import DiTConfig, SViMoTransformer
from hoi_ros.svimo.vid import VID, VIDConfig
from hoi_ros.svimo.weights import convert_checkpoint, copy_source, init_from_cogvideox, load_svimo, save_svimo

ROOT = Path(__file__).resolve().parents[2]

C = 4
CFG = DiTConfig(
    num_layers=2, num_attention_heads=2, attention_head_dim=16, latent_channels=C, text_embed_dim=24,
    max_text_seq_length=8, time_embed_dim=32, sample_frames=5, sample_height=4, sample_width=6,
)


VID_CFG = VIDConfig(num_joints=21, num_object_points=8, num_frames=5, latent_channels=C, conv_channels=[8],
                    token_grid=[2], d_model=24, num_layers=1, num_heads=2, time_embed_dim=16,
                    coord_offset=[0.1, 0.0, 0.05])


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


def test_loaded_model_equals_cogvideox_with_the_learned_table(tmp_path: Path) -> None:
    """The same with CogVideoX-5B-I2V's learned positional table (``learned_text_positions``): its text
    rows on the text tokens, as diffusers adds them, and its video rows on the video tokens and, frame
    by frame, on the motion tokens. diffusers' forward on [text; video; motion] stacked in time is given
    the table [text rows; video rows; video rows] (its base grid then spans both streams' frames)."""
    ref = tiny_cogvideox(learned=True, seed=5)
    ref.save_pretrained(tmp_path, safe_serialization=True)
    dit = SViMoTransformer(replace(CFG, learned_text_positions=True)).eval()
    report = init_from_cogvideox(dit, tmp_path)
    assert not report.new and "patch_embed.pos_embedding" in report.loaded
    table = ref.patch_embed.pos_embedding  # [1, 8 + 2·2·3, d]: text rows, then 2 latent frames of 2 x 3
    text_rows, video_rows = table[:, :8], table[:, 8:]
    assert text_rows.abs().sum() > 0  # random, non-zero rows: dropping them would show
    torch.manual_seed(0)
    joint = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=2 * C, out_channels=C, time_embed_dim=32,
        text_embed_dim=24, num_layers=2, sample_width=6, sample_height=4, sample_frames=13, patch_size=2,
        max_text_seq_length=8, use_rotary_positional_embeddings=True, use_learned_positional_embeddings=True,
    ).eval()  # 13 frames -> 4 latent frames: video (2) then motion (2)
    state = {k: v for k, v in ref.state_dict().items() if k != "patch_embed.pos_embedding"}
    joint.load_state_dict(state, strict=False)
    with torch.no_grad():
        joint.patch_embed.pos_embedding.copy_(torch.cat([text_rows, video_rows, video_rows], dim=1))
    g = torch.Generator().manual_seed(1)
    zv, zi, zm, zg = (torch.randn(2, 2, C, 4, 6, generator=g) for _ in range(4))
    text = torch.randn(2, 8, 24, generator=g)
    t = torch.tensor([5, 700])
    with torch.no_grad():
        out_v, out_m = dit(zv, zi, zm, zg, text, t)
        rotary = dit.rotary_embedding(2, 4, 6, torch.device("cpu"))
        stacked = torch.cat([torch.cat([zv, zi], 2), torch.cat([zm, zg], 2)], dim=1)
        expect = joint(stacked, text, t, image_rotary_emb=rotary, return_dict=False)[0]
    torch.testing.assert_close(out_v, expect[:, :2], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out_m, expect[:, 2:], atol=1e-5, rtol=1e-4)
    # Without the text rows (earlier releases) the model is not CogVideoX's.
    dit.register_to_config(learned_text_positions=False)
    dit.cfg = replace(dit.cfg, learned_text_positions=False)
    with torch.no_grad():
        assert not torch.allclose(dit(zv, zi, zm, zg, text, t)[0], expect[:, :2], atol=1e-4)


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


# ---------------------------------------------------------------------- trained SViMo weights
def trained_pair(seed: int = 0) -> tuple[SViMoTransformer, VID]:
    torch.manual_seed(seed)
    return SViMoTransformer(CFG), VID(VID_CFG)


def assert_same_tensors(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]), k


def test_svimo_folder_round_trip(tmp_path: Path) -> None:
    dit, vid = trained_pair()
    folder = save_svimo(tmp_path / "model", dit, vid, {"trained": "true", "steps": "7", "variant": "SViMo w/ VID"})
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == ["model_index.json", "transformer/config.json", "transformer/diffusion_pytorch_model.safetensors",
                     "vid/config.json", "vid/diffusion_pytorch_model.safetensors"]
    index = json.loads((folder / "model_index.json").read_text())
    assert index["transformer"] == ["hoi_ros.svimo.dit", "SViMoTransformer"]
    assert index["vid"] == ["hoi_ros.svimo.vid", "VID"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the folder form is not deprecated
        dit2, vid2, meta = load_svimo(folder, CFG, VID_CFG)
    assert meta == {"trained": "true", "steps": "7", "variant": "SViMo w/ VID"}
    assert_same_tensors(dit, dit2)
    assert_same_tensors(vid, vid2)
    assert dit2.cfg == CFG and vid2.cfg == VID_CFG
    # A runtime switch may differ from the saved config; the architecture may not.
    load_svimo(folder, replace(CFG, gradient_checkpointing=True), VID_CFG)
    with pytest.raises(ValueError, match=r"dit\.num_layers: 2 in the checkpoint, 1 in the config"):
        load_svimo(folder, replace(CFG, num_layers=1), VID_CFG)
    with pytest.raises(ValueError, match=r"vid\.coord_offset"):
        load_svimo(folder, CFG, replace(VID_CFG, coord_offset=[0.0, 0.0, 0.0]))


def test_single_file_checkpoint_still_loads_with_a_deprecation_warning(tmp_path: Path) -> None:
    """The format of earlier releases (``dit.*`` + ``vid.*`` in one file), written here by
    save_checkpoint: loads with a DeprecationWarning, leaves the global RNG alone, and converts to a
    folder with the same tensors (bytes) and metadata."""
    dit, vid = trained_pair(seed=1)
    file = save_checkpoint(tmp_path / "svimo.safetensors", {"dit": dit, "vid": vid},
                           {"trained": "false", "steps": "3"})
    rng = torch.get_rng_state()
    with pytest.warns(DeprecationWarning, match="single-file SViMo checkpoint"):
        dit2, vid2, meta = load_svimo(file, CFG, VID_CFG)
    assert torch.equal(torch.get_rng_state(), rng)
    assert meta == {"trained": "false", "steps": "3"}
    assert_same_tensors(dit, dit2)
    assert_same_tensors(vid, vid2)
    with pytest.raises(ValueError, match="does not match"):
        with pytest.warns(DeprecationWarning):
            load_svimo(file, replace(CFG, num_layers=1), VID_CFG)

    folder = convert_checkpoint(file, tmp_path / "converted", CFG, VID_CFG)
    with safe_open(str(file), framework="pt") as old:
        for prefix, sub in (("dit", "transformer"), ("vid", "vid")):
            with safe_open(str(folder / sub / "diffusion_pytorch_model.safetensors"), framework="pt") as new:
                assert {f"{prefix}.{k}" for k in new.keys()} == {k for k in old.keys() if k.startswith(prefix + ".")}
                for k in new.keys():
                    assert new.get_tensor(k).numpy().tobytes() == old.get_tensor(f"{prefix}.{k}").numpy().tobytes()
    assert load_svimo(folder, CFG, VID_CFG)[2] == meta


def test_folder_rejects_pickles_missing_tensors_and_other_paths(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    dit, vid = trained_pair()
    folder = save_svimo(tmp_path / "model", dit, vid)
    weights = folder / "vid" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(weights)
    tensors.pop("hand_out.bias")
    save_file(tensors, weights)
    with pytest.raises(ValueError, match=r"hand_out\.bias"):
        load_svimo(folder, CFG, VID_CFG)
    weights.unlink()
    (folder / "vid" / "diffusion_pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(ValueError, match="only safetensors"):
        load_svimo(folder, CFG, VID_CFG)
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "transformer": ["diffusers", "UNet2DModel"]}))
    with pytest.raises(ValueError, match="expected SViMoTransformer"):
        load_svimo(folder, CFG, VID_CFG)
    with pytest.raises(ValueError, match="neither"):
        load_svimo(tmp_path / "missing", CFG, VID_CFG)


def test_generator_loads_the_folder_and_the_old_single_file_alike(tmp_path: Path) -> None:
    """SViMoGenerator on the tiny config: the same weights as a folder or as the old single file
    give the same sequence, bit for bit; only the single file warns."""
    from hoi_ros.core.generation import GenerationRequest
    from hoi_ros.svimo.config import SViMoConfig
    from hoi_ros.svimo.pipeline import SViMoGenerator

    cfg = SViMoConfig.from_yaml(ROOT / "config/models/svimo/tiny_for_tests.yaml")
    torch.manual_seed(5)
    dit, vid = SViMoTransformer(cfg.dit), VID(cfg.vid)
    folder = save_svimo(tmp_path / "model", dit, vid, {"trained": "true"})
    file = save_checkpoint(tmp_path / "old.safetensors", {"dit": dit, "vid": vid}, {"trained": "true"})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        new = SViMoGenerator(cfg, checkpoint=folder)
    with pytest.warns(DeprecationWarning, match="single-file"):
        old = SViMoGenerator(cfg, checkpoint=file)
    image = (np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)
    req = GenerationRequest(image=image, prompt="lift the ball", num_frames=cfg.video.num_frames,
                            num_inference_steps=2, seed=1, guidance_scale=1.0)
    a, b = new.generate(req), old.generate(req)
    assert a.metadata["weights_trained"] is True and a.metadata["weights"] == "SViMo checkpoint model"
    for key in ("video", "hand_joints", "object_points"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key
