"""Stage II Flux ControlNet: zero init, first-two-block injection, frozen base, save/load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import FluxTransformer2DModel

from hoi_ros.diffusion.components import public_config
from hoi_ros.pam.config import build_image_base, load_config
from hoi_ros.pam.image_controlnet import (
    ControlledFlux,
    PAMFluxControlNetModel,
    flow_matching_loss,
    latent_image_ids,
    pack_latents,
    unpack_latents,
)

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # diffusers' own FluxPosEmbed import
TINY = load_config(Path(__file__).resolve().parents[2] / "config/models/pam/tiny_for_tests.yaml")
C = TINY.image.condition_latent_channels


def _base() -> FluxTransformer2DModel:
    return build_image_base(TINY.image).eval()


def _controlnet(base: FluxTransformer2DModel) -> PAMFluxControlNetModel:
    return PAMFluxControlNetModel.from_base(base, TINY.image.controlnet_layers, TINY.image.controlnet_single_layers,
                                            condition_latent_channels=C)


def _inputs(seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return dict(
        latents=torch.randn(2, C, 4, 6, generator=g),
        condition_latents=torch.randn(2, 3 * C, 4, 6, generator=g),
        encoder_hidden_states=torch.randn(2, 5, 384, generator=g),
        pooled_projections=torch.randn(2, 384, generator=g),
        timestep=torch.tensor([0.3, 0.9]),
        guidance=torch.tensor([3.5, 3.5]),
    )


def _base_output(base: FluxTransformer2DModel, inp: dict[str, torch.Tensor]) -> torch.Tensor:
    out = base(hidden_states=pack_latents(inp["latents"]), encoder_hidden_states=inp["encoder_hidden_states"],
               pooled_projections=inp["pooled_projections"], timestep=inp["timestep"],
               img_ids=latent_image_ids(4, 6), txt_ids=torch.zeros(5, 3), guidance=inp["guidance"],
               return_dict=False)[0]
    return unpack_latents(out, 4, 6)


def _perturb(model: torch.nn.Module, scale: float = 0.05) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn_like(p))


def test_packing_round_trips() -> None:
    x = torch.randn(2, 5, 4, 6)
    assert pack_latents(x).shape == (2, 6, 20)
    assert torch.equal(unpack_latents(pack_latents(x), 4, 6), x)


@torch.no_grad()
def test_fresh_controlnet_leaves_the_base_output_unchanged_exactly() -> None:
    base = _base()
    model = ControlledFlux(base, _controlnet(base))
    inp = _inputs()
    out = model(**inp)
    assert out.shape == (2, C, 4, 6)
    assert torch.equal(out, _base_output(base, inp))


def test_controlnet_copies_the_first_two_base_blocks_by_name() -> None:
    base = _base()
    cn = _controlnet(base)
    sd, bsd = cn.state_dict(), base.state_dict()
    blocks = {k.split(".")[1] for k in sd if k.startswith("transformer_blocks.")}
    assert blocks == {"0", "1"} and not any(k.startswith("single_transformer_blocks.") for k in sd)
    for k, bk in cn.base_key_map(base).items():
        assert torch.equal(sd[k], bsd[bk]), k
    assert cn.controlnet_x_embedder.in_features == 3 * C * 4  # three packed condition latents
    assert not any(p.any() for n, p in cn.named_parameters() if n.startswith(("controlnet_blocks.",
                                                                               "controlnet_x_embedder.")))


@torch.no_grad()
def test_residuals_reach_only_the_first_two_blocks() -> None:
    base = _base()
    cn = _controlnet(base)
    _perturb(cn)
    model = ControlledFlux(base, cn)
    inp = _inputs()
    seen: list[torch.Tensor] = []
    original = base.forward

    def spy(*args: object, **kwargs: object) -> object:
        seen.extend(kwargs["controlnet_block_samples"])  # type: ignore[arg-type]
        return original(*args, **kwargs)

    base.forward = spy  # type: ignore[method-assign]
    out = model(**inp)
    del base.forward
    n = len(base.transformer_blocks)
    assert len(seen) == n and seen[0].abs().sum() > 0 and seen[1].abs().sum() > 0
    assert all(not s.any() for s in seen[2:])
    assert not torch.allclose(out, _base_output(base, inp))
    assert not torch.allclose(out, model(**inp, condition_keep=torch.zeros(2, 3, dtype=torch.bool)))


def test_only_controlnet_parameters_train() -> None:
    base = _base()
    model = ControlledFlux(base, _controlnet(base))
    before = {k: v.clone() for k, v in base.state_dict().items()}
    cn_before = {k: v.clone() for k, v in model.controlnet.state_dict().items()}
    params = [p for p in model.parameters() if p.requires_grad]
    assert {id(p) for p in params} == {id(p) for p in model.controlnet.parameters()}
    opt = torch.optim.AdamW(params, lr=1e-2)
    inp = _inputs()
    for step in range(2):
        opt.zero_grad()
        loss = flow_matching_loss(model, inp["latents"], inp["condition_latents"], inp["encoder_hidden_states"],
                                  inp["pooled_projections"], torch.Generator().manual_seed(step))
        loss.backward()
        assert torch.isfinite(loss)
        assert all(p.grad is None for p in base.parameters())
        opt.step()
    assert all(torch.equal(v, base.state_dict()[k]) for k, v in before.items())
    after = model.controlnet.state_dict()
    assert not torch.equal(after["controlnet_blocks.0.weight"], cn_before["controlnet_blocks.0.weight"])


def test_save_load_round_trip_is_exact(tmp_path: Path) -> None:
    base = _base()
    cn = _controlnet(base)
    _perturb(cn, 1.0)
    cn.save_pretrained(tmp_path / "cn", safe_serialization=True)
    back = PAMFluxControlNetModel.from_pretrained(tmp_path / "cn", local_files_only=True, use_safetensors=True)
    assert public_config(back) == public_config(cn)
    a, b = cn.state_dict(), back.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
