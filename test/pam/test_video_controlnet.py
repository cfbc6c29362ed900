"""Stage III video ControlNet: zero init, copies by name, condition masking, save/load."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from diffusers import CogVideoXTransformer3DModel

from hoi_ros.diffusion.components import public_config
from hoi_ros.pam.conditions import CONDITIONS, apply_condition_keep, draw_condition_keep, subset_keep
from hoi_ros.pam.config import build_video_base, load_config
from hoi_ros.pam.video_controlnet import CogVideoXControlNetModel, ControlledCogVideoX

TINY = load_config(Path(__file__).resolve().parents[2] / "config/models/pam/tiny_for_tests.yaml")


def _base() -> CogVideoXTransformer3DModel:
    return build_video_base(TINY.video).eval()


def _inputs(seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return dict(
        noisy_latents=torch.randn(2, 3, 4, 4, 6, generator=g),
        image_latents=torch.randn(2, 1, 4, 4, 6, generator=g),
        condition_latents=torch.randn(2, 3, 12, 4, 6, generator=g),
        encoder_hidden_states=torch.randn(2, 5, 384, generator=g),
        timestep=torch.tensor([10, 900]),
    )


def _base_output(model: ControlledCogVideoX, inp: dict[str, torch.Tensor]) -> torch.Tensor:
    x = model.base_input(inp["noisy_latents"], inp["image_latents"])
    rotary = model.rotary_embedding(x.shape[1], x.shape[3], x.shape[4], "cpu")
    return model.base(hidden_states=x, encoder_hidden_states=inp["encoder_hidden_states"],
                      timestep=inp["timestep"], image_rotary_emb=rotary, return_dict=False)[0]


@torch.no_grad()
def test_fresh_controlnet_leaves_the_base_output_unchanged_exactly() -> None:
    base = _base()
    model = ControlledCogVideoX(base, CogVideoXControlNetModel.from_base(base))
    inp = _inputs()
    out = model(**inp)
    assert out.shape == (2, 3, 4, 4, 6)
    assert torch.equal(out, _base_output(model, inp))
    assert all(torch.equal(r, torch.zeros_like(r)) for r in model.controlnet(
        model.base_input(inp["noisy_latents"], inp["image_latents"]), inp["condition_latents"],
        inp["encoder_hidden_states"], inp["timestep"],
        image_rotary_emb=model.rotary_embedding(3, 4, 6, "cpu")))


@torch.no_grad()
def test_a_trained_controlnet_changes_the_output_and_depends_on_the_conditions() -> None:
    base = _base()
    cn = CogVideoXControlNetModel.from_base(base)
    for p in cn.parameters():  # stands in for training: every zero projection becomes non-zero
        p.add_(0.05 * torch.randn_like(p))
    model = ControlledCogVideoX(base, cn)
    inp = _inputs()
    out = model(**inp)
    assert not torch.allclose(out, _base_output(model, inp))
    none = model(**inp, condition_keep=torch.zeros(2, 3, dtype=torch.bool))
    assert not torch.allclose(out, none)


def test_copies_equal_the_first_base_blocks_by_name() -> None:
    base = _base()
    cn = CogVideoXControlNetModel.from_base(base, num_layers=2)
    assert len(cn.transformer_blocks) == 2
    mapping = cn.base_key_map(base)
    sd, bsd = cn.state_dict(), base.state_dict()
    block_keys = [k for k in sd if k.startswith("transformer_blocks.")]
    assert {k.split(".")[1] for k in block_keys} == {"0", "1"}
    assert set(block_keys) == {k for k in bsd if k.split(".")[:2] in (["transformer_blocks", "0"],
                                                                     ["transformer_blocks", "1"])}
    for k in block_keys + [k for k in sd if k.startswith(("time_embedding.", "patch_embed.text_proj."))]:
        assert mapping[k] == k and torch.equal(sd[k], bsd[k]), k
    assert torch.equal(sd["patch_embed.pos_embedding"], bsd["patch_embed.pos_embedding"])
    w = sd["patch_embed.proj.weight"]
    assert torch.equal(w[:, :8], bsd["patch_embed.proj.weight"]) and not w[:, 8:].any()
    assert all(not p.any() for n, p in cn.named_parameters() if n.startswith("controlnet_blocks."))
    # the paper's 12 copies: all blocks when the base has fewer
    assert len(CogVideoXControlNetModel.from_base(base).transformer_blocks) == TINY.video.transformer["num_layers"]


def test_each_condition_is_masked_at_rate_p_within_binomial_tolerance() -> None:
    p, n = 0.2, 20000
    keep = draw_condition_keep(n, p, torch.Generator().manual_seed(0))
    assert keep.shape == (n, len(CONDITIONS))
    sigma = math.sqrt(p * (1 - p) / n)
    for k in range(len(CONDITIONS)):  # each condition independently
        assert abs((~keep[:, k]).float().mean().item() - p) < 4 * sigma
    both = (~keep[:, 0] & ~keep[:, 1]).float().mean().item()  # independence: P(both masked) = p²
    assert abs(both - p * p) < 4 * math.sqrt(p * p * (1 - p * p) / n)


def test_masking_zeroes_whole_condition_blocks() -> None:
    lat = torch.ones(2, 3, 12, 2, 2)
    keep = torch.tensor([[True, False, True], [False, False, True]])
    out = apply_condition_keep(lat, keep)
    assert out[0, :, 4:8].abs().sum() == 0 and out[0, :, :4].eq(1).all() and out[0, :, 8:].eq(1).all()
    assert out[1, :, :8].abs().sum() == 0 and out[1, :, 8:].eq(1).all()
    assert subset_keep("depth+seg").tolist() == [[True, True, False]]
    with pytest.raises(ValueError, match="condition subset"):
        subset_keep("rgb")


def test_only_controlnet_parameters_train() -> None:
    base = _base()
    model = ControlledCogVideoX(base, CogVideoXControlNetModel.from_base(base))
    before = {k: v.clone() for k, v in base.state_dict().items()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):  # the second step moves the input side too (the output projections are no longer 0)
        opt.zero_grad()
        model(**_inputs()).pow(2).mean().backward()
        assert all(p.grad is None for p in base.parameters())
        opt.step()
    assert all(torch.equal(v, base.state_dict()[k]) for k, v in before.items())
    assert any(p.any() for p in model.controlnet.controlnet_blocks.parameters())


def test_save_load_round_trip_is_exact(tmp_path: Path) -> None:
    base = _base()
    cn = CogVideoXControlNetModel.from_base(base, num_layers=2)
    with torch.no_grad():
        for p in cn.parameters():
            p.add_(torch.randn_like(p))
    cn.save_pretrained(tmp_path / "controlnet", safe_serialization=True)
    assert (tmp_path / "controlnet" / "diffusion_pytorch_model.safetensors").is_file()
    back = CogVideoXControlNetModel.from_pretrained(tmp_path / "controlnet", local_files_only=True,
                                                    use_safetensors=True)
    assert public_config(back) == public_config(cn)
    a, b = cn.state_dict(), back.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    inp = _inputs()
    with torch.no_grad():
        assert torch.equal(ControlledCogVideoX(base, cn)(**inp), ControlledCogVideoX(base, back)(**inp))


def test_training_loss_is_seeded_and_trains_only_the_controlnet() -> None:
    from hoi_ros.pam.config import build_video_scheduler
    from hoi_ros.pam.video_loss import video_training_loss

    base = _base()
    model = ControlledCogVideoX(base, CogVideoXControlNetModel.from_base(base))
    sched = build_video_scheduler(TINY.video)
    inp = _inputs()
    args = (inp["noisy_latents"], inp["image_latents"], inp["condition_latents"], inp["encoder_hidden_states"])
    losses = [video_training_loss(model, sched, *args, torch.Generator().manual_seed(s)) for s in (0, 0, 1)]
    assert losses[0].item() == losses[1].item() != losses[2].item()
    losses[0].backward()
    assert all(p.grad is None for p in base.parameters())
    assert model.controlnet.controlnet_blocks[0].weight.grad.abs().sum() > 0


def test_gradient_checkpointing_gives_the_same_controlnet_gradients() -> None:
    base = _base()
    cn = CogVideoXControlNetModel.from_base(base)
    with torch.no_grad():
        for p in cn.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model = ControlledCogVideoX(base, cn)
    model.train()  # checkpointing is active in training mode only

    def grads() -> dict[str, torch.Tensor]:
        cn.zero_grad(set_to_none=True)
        model(**_inputs()).pow(2).mean().backward()
        return {n: p.grad.clone() for n, p in cn.named_parameters() if p.grad is not None}

    plain = grads()
    base.enable_gradient_checkpointing()
    cn.enable_gradient_checkpointing()
    checkpointed = grads()
    assert plain.keys() == checkpointed.keys() and len(plain) == len(list(cn.parameters()))
    for n in plain:
        torch.testing.assert_close(checkpointed[n], plain[n], rtol=1e-5, atol=1e-7, msg=n)
