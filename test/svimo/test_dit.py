"""G_θ (SViMo §3.3, Eq. 4–5): shapes, per-modality modulation, joint attention, parameter counts."""

from __future__ import annotations

import dataclasses
import inspect
import json
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from hoi_ros.diffusion.cogvideox_rope import resize_crop_region
from hoi_ros.diffusion.components import public_config
from hoi_ros.svimo.dit import (
    DiTConfig,
    SViMoTransformer,
    build_dit,
    count_parameters,
    expand_image_latents,
    x0_from_output,
)

ROOT = Path(__file__).resolve().parents[2]
B, F, C, H, W = 2, 2, 4, 4, 6


def tiny_cfg(**kw) -> DiTConfig:
    base = DiTConfig(
        num_layers=2, num_attention_heads=2, attention_head_dim=16, latent_channels=C, text_embed_dim=24,
        max_text_seq_length=8, time_embed_dim=32, sample_frames=(F - 1) * 4 + 1, sample_height=H, sample_width=W,
    )
    return replace(base, **kw)


def inputs(seed: int = 0, text_len: int = 8) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z = [torch.randn(B, F, C, H, W, generator=g) for _ in range(4)]
    return dict(
        video_latents=z[0], image_latents=z[1], motion_latents=z[2], guidance_latents=z[3],
        text_embeds=torch.randn(B, text_len, 24, generator=g), timestep=torch.tensor([3, 900]),
    )


def randomize(model: torch.nn.Module, seed: int = 1) -> None:
    """Non-zero random values everywhere (gates and heads are zero-free, so every path matters)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)


@pytest.fixture(scope="module")
def model() -> SViMoTransformer:
    torch.manual_seed(0)
    m = SViMoTransformer(tiny_cfg()).eval()
    randomize(m)
    return m


def test_shapes_and_backward(model: SViMoTransformer) -> None:
    x = inputs()
    out_v, out_m = model(**x)
    assert out_v.shape == out_m.shape == (B, F, C, H, W)
    assert torch.isfinite(out_v).all() and torch.isfinite(out_m).all()
    model.zero_grad()
    (out_v.square().mean() + out_m.square().mean()).backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert grads["motion_patch_embed.weight"].abs().sum() > 0
    assert grads["transformer_blocks.1.motion_norm2.linear.weight"].abs().sum() > 0
    assert grads["patch_embed.text_proj.weight"].abs().sum() > 0
    model.zero_grad()


def test_gradient_checkpointing_matches(model: SViMoTransformer) -> None:
    ckpt = SViMoTransformer(tiny_cfg(gradient_checkpointing=True))
    ckpt.load_state_dict(model.state_dict())
    x = inputs()
    a = model(**x)
    b = ckpt(**x)
    torch.testing.assert_close(a[0], b[0])
    b[1].sum().backward()
    assert ckpt.motion_proj_out.weight.grad is not None


def test_streams_are_coupled_by_joint_attention(model: SViMoTransformer) -> None:
    """3D full attention: changing the motion input changes the video output, and vice versa;
    the text and the guidance latent reach both streams."""
    x = inputs()
    base_v, base_m = model(**x)
    for name in ("motion_latents", "guidance_latents", "text_embeds", "image_latents"):
        y = dict(x)
        y[name] = x[name] + 0.5
        v, m = model(**y)
        assert not torch.allclose(v, base_v), name
        assert not torch.allclose(m, base_m), name


def test_batch_items_independent(model: SViMoTransformer) -> None:
    x = inputs()
    out_v, _ = model(**x)
    one = {k: v[:1] for k, v in x.items()}
    torch.testing.assert_close(model(**one)[0], out_v[:1], atol=1e-5, rtol=1e-4)


def test_separate_modulation_per_modality(model: SViMoTransformer) -> None:
    """The motion modulation acts on motion tokens only (Eq. 4: α, β, γ per modality)."""
    x = inputs()
    base_v, base_m = model(**x)
    altered = SViMoTransformer(tiny_cfg())
    altered.load_state_dict(model.state_dict())
    with torch.no_grad():
        altered.transformer_blocks[1].motion_norm2.linear.bias.add_(0.3)
    v, m = altered(**x)
    torch.testing.assert_close(v, base_v)  # last block's FF gate of motion: video untouched
    assert not torch.allclose(m, base_m)


def test_save_pretrained_from_pretrained_round_trip(model: SViMoTransformer, tmp_path: Path) -> None:
    """A diffusers component: config.json holds the DiTConfig fields, the safetensors every tensor
    under its own name; from_pretrained gives the same config, the same tensors and the same outputs."""
    model.save_pretrained(tmp_path, safe_serialization=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "diffusion_pytorch_model.safetensors"]
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["_class_name"] == "SViMoTransformer"
    assert {k: v for k, v in saved.items() if not k.startswith("_")} == dataclasses.asdict(tiny_cfg())
    loaded = SViMoTransformer.from_pretrained(tmp_path, use_safetensors=True)
    assert loaded.cfg == model.cfg and public_config(loaded) == public_config(model)
    want, got = model.state_dict(), loaded.state_dict()
    assert list(got) == list(want)
    for k in want:
        assert got[k].dtype == want[k].dtype and torch.equal(got[k], want[k]), k
    x = inputs(seed=5)
    with torch.no_grad():
        for a, b in zip(model(**x), loaded(**x)):
            assert torch.equal(a, b)


def test_built_from_the_dataclass_or_keywords() -> None:
    """``SViMoTransformer(cfg)`` (what the YAML configs build) and the same fields as keywords give the
    same model; the init's keywords are exactly DiTConfig's fields with its defaults; the
    diffusers config reads like the dataclass (``dit.config.prediction_type``)."""
    cfg = tiny_cfg(prediction_type="sample", motion_modulation="even")
    a, b = SViMoTransformer(cfg), SViMoTransformer(**dataclasses.asdict(cfg))
    assert a.cfg == b.cfg == cfg and public_config(a) == public_config(b) == dataclasses.asdict(cfg)
    assert list(a.state_dict()) == list(b.state_dict())
    params = inspect.signature(SViMoTransformer.__init__).parameters
    defaults = DiTConfig()
    assert [n for n in params if n != "self"] == [f.name for f in dataclasses.fields(DiTConfig)]
    assert all(params[f.name].default == getattr(defaults, f.name) for f in dataclasses.fields(DiTConfig))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no diffusers deprecation for config reads through .config
        assert a.config.prediction_type == "sample" and a.config.image_latent_layout == "repeat"
    with pytest.raises(ValueError, match=r"dit\.motion_modulation"):
        SViMoTransformer(**{**dataclasses.asdict(cfg), "motion_modulation": "odd"})
    with pytest.raises(TypeError, match="unknown"):
        SViMoTransformer(bogus=1)
    with pytest.raises(TypeError, match="either"):
        SViMoTransformer(cfg, num_layers=1)


def test_only_even_layers_variant() -> None:
    full = build_dit(tiny_cfg(num_layers=4), "meta")
    even = build_dit(tiny_cfg(num_layers=4, motion_modulation="even"), "meta")
    assert [b.motion_norm1 is not None for b in even.transformer_blocks] == [True, False, True, False]
    per_block = 2 * (32 * 3 * 32 + 3 * 32)
    assert count_parameters(full) - count_parameters(even) == 2 * per_block
    torch.manual_seed(0)
    m = SViMoTransformer(tiny_cfg(num_layers=2, motion_modulation="even"))
    out_v, out_m = m(**inputs())
    assert out_v.shape == out_m.shape == (B, F, C, H, W)


def test_other_grids_text_lengths_and_positions() -> None:
    """Shorter prompts, another latent grid (learned table resampled), sin-cos positions."""
    torch.manual_seed(0)
    m = SViMoTransformer(tiny_cfg())
    g = torch.Generator().manual_seed(0)
    z = [torch.randn(1, 3, C, 6, 8, generator=g) for _ in range(4)]
    v, mo = m(*z, torch.randn(1, 5, 24, generator=g), torch.tensor([7]))
    assert v.shape == mo.shape == (1, 3, C, 6, 8)
    sincos = SViMoTransformer(tiny_cfg(use_rotary_positional_embeddings=False, use_learned_positional_embeddings=False))
    assert sincos.positional_embedding(3, 6, 8).shape == (1, 3 * 3 * 4, 32)
    assert sincos(*z, torch.randn(1, 5, 24), torch.tensor([7]))[0].shape == (1, 3, C, 6, 8)


def test_input_validation(model: SViMoTransformer) -> None:
    x = inputs()
    with pytest.raises(ValueError, match="guidance_latents"):
        model(**{**x, "guidance_latents": x["guidance_latents"][:, :1]})
    with pytest.raises(ValueError, match="text_embeds"):
        model(**{**x, "text_embeds": torch.randn(B, 9, 24)})
    with pytest.raises(ValueError, match="motion_latents"):
        model(**{**x, "motion_latents": torch.randn(B, F, C + 1, H, W)})
    with pytest.raises(ValueError, match=r"dit\.num_layers"):
        DiTConfig(num_layers=0)
    with pytest.raises(ValueError, match=r"dit\.motion_modulation"):
        DiTConfig(motion_modulation="odd")
    with pytest.raises(ValueError, match=r"dit\.prediction_type"):
        DiTConfig(prediction_type="epsilon")


def test_image_latent_layouts() -> None:
    z = torch.randn(2, 1, C, H, W)
    rep = expand_image_latents(z, 3, "repeat")
    assert torch.equal(rep[:, 2], z[:, 0])
    first = expand_image_latents(z, 3, "first_frame")
    assert torch.equal(first[:, 0], z[:, 0]) and not first[:, 1:].any()


def test_x0_from_v_prediction() -> None:
    """x₀ = √ᾱ·z − √(1−ᾱ)·v inverts the v target v = √ᾱ·ε − √(1−ᾱ)·x₀ of the forward process (Eq. 1)."""
    abar = torch.linspace(0.99, 0.0, 1000)
    x0, eps = torch.randn(3, 5), torch.randn(3, 5)
    t = torch.tensor([0, 500, 999])
    a, s = abar[t].sqrt()[:, None], (1 - abar[t]).sqrt()[:, None]
    zt = a * x0 + s * eps
    v = a * eps - s * x0
    torch.testing.assert_close(x0_from_output(v, zt, t, abar, "v_prediction"), x0)
    assert torch.equal(x0_from_output(v, zt, t, abar, "sample"), v)


def test_paper_config_parameter_count_on_meta() -> None:
    """The full model (42 blocks, 48 heads, 4096-d text, 16-ch latents) is 5.9-6.1 B parameters."""
    from hoi_ros.svimo.config import SViMoConfig

    cfg = SViMoConfig.from_yaml(ROOT / "config/models/svimo/paper.yaml")
    dit = build_dit(cfg.dit, "meta")
    n = count_parameters(dit)
    assert 5.9e9 <= n <= 6.1e9, n
    assert cfg.dit.num_tokens(13, 52, 78) == 26590  # §4.2
    even = build_dit(replace(cfg.dit, motion_modulation="even"), "meta")
    assert count_parameters(even) < n


def test_rotary_crop_matches_diffusers_pipeline() -> None:
    from diffusers.pipelines.cogvideo.pipeline_cogvideox_image2video import get_resize_crop_region_for_grid

    for grid in ((30, 45), (26, 39), (15, 23), (2, 3), (40, 20)):
        assert resize_crop_region(grid, 45, 30) == get_resize_crop_region_for_grid(grid, 45, 30), grid


def test_dit_imports_without_transformers() -> None:
    """G_θ needs torch + diffusers only (what bench/svimo_gpu.py relies on)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for name in ('transformers', 'accelerate', 'hoi_ros.core'):\n"
        "    sys.modules[name] = None  # import fails, find_spec says absent\n"
        "import hoi_ros.svimo.dit\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_gpu_bench_script_runs_tiny_on_cpu(tmp_path: Path) -> None:
    """bench/svimo_gpu.py (the full-scale GPU measurement) runs end to end with --tiny on CPU."""
    import json
    import subprocess
    import sys

    out = tmp_path / "gpu.json"
    subprocess.run([sys.executable, str(ROOT / "bench/svimo_gpu.py"), "--tiny", "--out", str(out), "--repeats", "1",
                    "--cases", "dit_full_ckpt,dit_2blocks_nockpt,vid_full"], check=True, cwd=ROOT, capture_output=True)
    report = json.loads(out.read_text())
    full = report["cases"]["dit_full_ckpt"]
    assert full["tokens_per_sample"] == 52 and full["gradient_checkpointing"] and full["forward_backward_s"] > 0
    assert report["cases"]["dit_2blocks_nockpt"]["layers"] == 2 and report["cases"]["vid_full"]["params"] > 0


def test_learned_table_trains_through_the_resampling_when_switched_on(tmp_path: Path) -> None:
    """train_positional_table: the learned table (same name, patch_embed.pos_embedding) becomes a
    parameter and a loss at another latent grid (the table resampled) gives it a gradient; off, it stays
    a buffer as in diffusers. The switch is a runtime one: saved weights load either way."""
    torch.manual_seed(0)
    fixed = SViMoTransformer(tiny_cfg())
    torch.manual_seed(0)
    trained = SViMoTransformer(tiny_cfg(train_positional_table=True, learned_text_positions=True))
    assert "patch_embed.pos_embedding" in dict(fixed.named_buffers())
    assert "patch_embed.pos_embedding" not in dict(fixed.named_parameters())
    assert "patch_embed.pos_embedding" in dict(trained.named_parameters())
    # In the weights' dtype (diffusers builds the table in float64): a float64 parameter would make the
    # module's dtype (its first parameter's) float64 and the training step cast its inputs to it.
    assert trained.patch_embed.pos_embedding.dtype == trained.patch_embed.proj.weight.dtype == torch.float32
    assert next(trained.parameters()).dtype == torch.float32
    assert fixed.state_dict().keys() == trained.state_dict().keys()
    trained.load_state_dict(fixed.state_dict())
    g = torch.Generator().manual_seed(0)
    z = [torch.randn(1, 3, C, 6, 8, generator=g) for _ in range(4)]  # not the base grid: resampled
    v, m = trained(*z, torch.randn(1, 5, 24, generator=g), torch.tensor([7]))
    (v.square().mean() + m.square().mean()).backward()
    grad = trained.patch_embed.pos_embedding.grad
    assert grad is not None and grad[:, 5:].abs().sum() > 0  # video rows, through the interpolation
    assert grad[:, :5].abs().sum() > 0  # the text rows of the 5 prompt tokens (learned_text_positions)
    trained.save_pretrained(tmp_path, safe_serialization=True)
    again = SViMoTransformer.from_pretrained(tmp_path, use_safetensors=True)
    assert torch.equal(again.patch_embed.pos_embedding, trained.patch_embed.pos_embedding)
