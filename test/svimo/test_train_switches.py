"""Training switches beyond Alg. 1 as written, on the tiny config: CogVideoX's loss weighting, the
schedule kept in fp32 under a bf16 cast, Table 3's video-only rows, Table 4's LoRA variant (folded
into plain weights at the end) and text dropout for classifier-free guidance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hoi_ros.diffusion import loss_weighting as lw
from hoi_ros.svimo.config import LoopConfig, SViMoConfig
from hoi_ros.svimo.data import build_dataset
from hoi_ros.svimo.dit import SViMoTransformer
from hoi_ros.svimo.lora import LoRALinear, apply_lora, merged_state_dict
from hoi_ros.svimo.losses import LossWeights
from hoi_ros.svimo.train import build_models, load_train_config, train
from hoi_ros.svimo.train_step import SViMoTrainModule, alphas_cumprod_of, diffuse, draw_noise

ROOT = Path(__file__).resolve().parents[2]
TINY_TRAIN = ROOT / "config/recipes/svimo_train_tiny_synthetic.yaml"


@pytest.fixture(scope="module")
def step_inputs(make_step_inputs) -> dict:
    return make_step_inputs((3, 700))


def _module(step_inputs: dict, loop: LoopConfig | None = None, **kw) -> SViMoTrainModule:
    model_cfg = step_inputs["model_cfg"]
    if loop is not None:
        model_cfg = SViMoConfig.from_dict({**model_cfg.to_dict(), "loop": vars(loop)})
    dit, vid = build_models(model_cfg, step_inputs["cfg"])
    return SViMoTrainModule(dit, vid, model_cfg, LossWeights(), **kw)


def _dit_outputs(module: SViMoTrainModule, step_inputs: dict, monkeypatch) -> list:
    seen: list = []
    monkeypatch.setattr(module.dit, "forward",
                        lambda *a, _f=module.dit.forward: seen.append((a, r := _f(*a))) or r)
    return seen


def test_cogvideox_weighting_makes_eq5_the_mse_on_v(step_inputs: dict, monkeypatch) -> None:
    """loss_weighting "cogvideox": the step's Eq. 5 terms are the MSE between G_θ's v output and the true
    v (shared module); "none" is the unweighted x₀ MSE, (1 − ᾱₜ)-weighted in v."""
    lat, b, noise = step_inputs["latents"], step_inputs["batch"], step_inputs["noise"]
    off = LoopConfig(interaction_guidance=False, gradient_constraint=False)
    out = {}
    for weighting in ("none", "cogvideox"):
        module = _module(step_inputs, off, loss_weighting=weighting)
        seen = _dit_outputs(module, step_inputs, monkeypatch)
        out[weighting] = module(lat, b["hand"], b["obj"], noise, False)
        (v_out, m_out) = seen[0][1]
    abar = alphas_cumprod_of(step_inputs["model_cfg"])
    t = noise.t
    expect_v = lw.v_mse(v_out, lat["video_latents"], noise.eps_video, t, abar).mean()
    expect_m = lw.v_mse(m_out, lat["motion_latents"], noise.eps_motion, t, abar).mean()
    torch.testing.assert_close(out["cogvideox"]["l_video"], expect_v, rtol=1e-3, atol=1e-6)
    torch.testing.assert_close(out["cogvideox"]["l_motion"], expect_m, rtol=1e-3, atol=1e-6)
    w = 1.0 / lw.loss_weights(abar, t, v_out).reshape(-1)  # 1 − ᾱₜ
    per = [lw.v_mse(v_out, lat["video_latents"], noise.eps_video, t, abar)]
    torch.testing.assert_close(out["none"]["l_video"], (w * per[0]).mean(), rtol=1e-3, atol=1e-6)
    with pytest.raises(ValueError, match="loss_weighting"):
        _module(step_inputs, loss_weighting="snr")
    with pytest.raises(ValueError, match="loss_weighting"):
        load_train_config(TINY_TRAIN, {"loss_weighting": "snr"})


def test_schedule_stays_fp32_when_the_module_is_cast_to_bf16(step_inputs: dict) -> None:
    """A bf16 cast (what DeepSpeed's bf16 mode does to the module) leaves ᾱ in fp32, bit for bit;
    in bf16 ᾱ at t = 0 and 1 would round to 1 (no noise at all)."""
    module = _module(step_inputs)
    before = module.alphas_cumprod.clone()
    assert torch.bfloat16 != before.dtype and before[:2].to(torch.bfloat16).eq(1).all()  # the failure it guards
    module.to(torch.bfloat16)
    assert next(module.dit.parameters()).dtype == torch.bfloat16
    assert module.alphas_cumprod.dtype == torch.float32 and torch.equal(module.alphas_cumprod, before)
    module.bfloat16().half().float()
    assert torch.equal(module.alphas_cumprod, before)
    x0 = torch.ones(2, 3)
    noised = diffuse(x0, torch.ones(2, 3), torch.tensor([0, 1]), module.alphas_cumprod)
    assert (noised != x0).all()  # t = 0 and 1 do add noise
    lat, b, noise = step_inputs["latents"], step_inputs["batch"], step_inputs["noise"]
    module.to(torch.bfloat16)
    losses = module(lat, b["hand"], b["obj"], noise, False, lambda h, o: torch.zeros(2, 3, 4, 4, 6))
    assert torch.isfinite(losses["loss"])


def test_video_only_rows_of_table_3(step_inputs: dict, monkeypatch) -> None:
    """svimo_streams [video] + guidance_source ground_truth ("VModel w/ GT Mot. Guid."): G_θ gets the
    true motion latents z₀ᴹ as guidance (VID's guidance call is never made) and only the video term
    trains it; [motion] keeps only the motion term."""
    lat, b, noise = step_inputs["latents"], step_inputs["batch"], step_inputs["noise"]
    gt = _module(step_inputs, LoopConfig(interaction_guidance=True, gradient_constraint=False),
                 svimo_streams=("video",), guidance_source="ground_truth")
    seen = _dit_outputs(gt, step_inputs, monkeypatch)
    losses = gt(lat, b["hand"], b["obj"], noise, False, lambda h, o: pytest.fail("VID guidance computed"))
    torch.testing.assert_close(seen[0][0][3], lat["motion_latents"])
    torch.testing.assert_close(losses["l_svimo"], losses["l_video"])
    motion_only = _module(step_inputs, LoopConfig(False, False), svimo_streams=("motion",))
    losses = motion_only(lat, b["hand"], b["obj"], noise, False)
    torch.testing.assert_close(losses["l_svimo"], losses["l_motion"])
    motion_only.zero_grad()
    losses["l_svimo"].backward()
    assert motion_only.dit.proj_out.weight.grad is None  # the video head gets nothing
    assert motion_only.dit.motion_proj_out.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="ground_truth needs"):
        _module(step_inputs, LoopConfig(False, False), guidance_source="ground_truth")
    with pytest.raises(ValueError, match="svimo_streams"):
        load_train_config(TINY_TRAIN, {"svimo_streams": []})


def test_lora_layer_starts_as_the_base_and_folds_into_plain_weights() -> None:
    """LoRA (Table 4): the wrapped DiT computes the base model at init (B = 0); after training-like
    updates, folding W + (α/r)·B·A into the plain names gives the same outputs in a plain DiT."""
    cfg = SViMoConfig.from_yaml(ROOT / "config/models/svimo/tiny_for_tests.yaml").dit
    torch.manual_seed(0)
    base = SViMoTransformer(cfg).eval()
    lora = SViMoTransformer(cfg).eval()
    lora.load_state_dict(base.state_dict())
    apply_lora(lora, rank=2, alpha=4.0)
    g = torch.Generator().manual_seed(1)
    z = [torch.randn(1, 3, 4, 4, 6, generator=g) for _ in range(4)]
    args = (*z, torch.randn(1, 16, 384, generator=g), torch.tensor([300]))
    with torch.no_grad():
        torch.testing.assert_close(lora(*args)[0], base(*args)[0])
    trained = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert any("lora_A" in n for n in trained) and "motion_proj_out.weight" in trained
    assert "proj_out.weight" not in trained and "transformer_blocks.0.attn1.to_q.base_layer.weight" not in trained
    assert not any("to_q" in n and "lora" not in n for n in trained)
    with torch.no_grad():
        for n, p in lora.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
        merged = SViMoTransformer(cfg).eval()
        merged.load_state_dict(merged_state_dict(lora.state_dict(), rank=2, alpha=4.0))  # strict: plain names
        torch.testing.assert_close(merged(*args)[0], lora(*args)[0], rtol=1e-4, atol=1e-5)
        assert not torch.allclose(merged(*args)[0], base(*args)[0])


def test_lora_layer_matches_peft_where_installed() -> None:
    """The adapter is peft's LoRA for nn.Linear (same names, init and output); skipped without peft."""
    peft = pytest.importorskip("peft")

    torch.manual_seed(0)
    holder = torch.nn.Module()
    holder.to_q = torch.nn.Linear(12, 10)
    ours = LoRALinear(torch.nn.Linear(12, 10), rank=3, alpha=6.0)
    ours.base_layer.load_state_dict(holder.to_q.state_dict())
    peft.inject_adapter_in_model(peft.LoraConfig(r=3, lora_alpha=6.0, target_modules=["to_q"]), holder)
    theirs = holder.to_q
    assert type(theirs).__name__ == "Linear" and theirs.scaling["default"] == ours.scaling
    assert {n for n, _ in ours.named_parameters()} == {n for n, _ in theirs.named_parameters()}
    with torch.no_grad():
        for (n, p), (_, q) in zip(sorted(ours.named_parameters()), sorted(theirs.named_parameters())):
            q.copy_(torch.randn(p.shape) if "lora" in n else p)
            p.copy_(q)
    x = torch.randn(5, 12)
    torch.testing.assert_close(ours(x), theirs(x))
    assert peft.__version__


def test_lora_and_video_only_runs_of_the_training_command(tmp_path: Path) -> None:
    """The same training command with Table 4's LoRA switch and Table 3's VModel switches: it trains,
    names the row, and the final model folder has the plain names (LoRA folded in) with the frozen
    pretrained tensors unchanged."""
    cfg, model_cfg = load_train_config(TINY_TRAIN, {
        "output_dir": str(tmp_path / "lora"), "log_every": 1, "num_threads": 1, "warmup_steps": 1,
        "joint_steps": 3, "lora_rank": 2, "lora_alpha": 2.0, "loss_weighting": "cogvideox",
        "text_dropout": 0.5,
    })
    res = train(cfg, model_cfg)
    assert res.variant == "SViMo w/ VID, LoRA r=2"
    from hoi_ros.svimo.weights import svimo_tensors

    final = svimo_tensors(res.final_checkpoint)
    assert not any("lora_" in k or "base_layer" in k for k in final)
    init = build_models(model_cfg, load_train_config(TINY_TRAIN)[0])[0].state_dict()
    assert torch.equal(final["dit.proj_out.weight"], init["proj_out.weight"])  # frozen, not adapted
    assert not torch.equal(final["dit.transformer_blocks.0.attn1.to_q.weight"],
                           init["transformer_blocks.0.attn1.to_q.weight"])  # adapted (B·A folded in)
    assert not torch.equal(final["dit.motion_proj_out.weight"], init["motion_proj_out.weight"])  # motion: full
    SViMoTransformer(model_cfg.dit).load_state_dict(
        {k[4:]: v for k, v in final.items() if k.startswith("dit.")})  # strict
    log = [json.loads(x) for x in res.loss_log.read_text().splitlines()]
    assert [e["phase"] for e in log] == ["warmup", "joint", "joint", "joint"]
    cfg, model_cfg = load_train_config(TINY_TRAIN, {
        "output_dir": str(tmp_path / "vmodel"), "log_every": 1, "num_threads": 1, "warmup_steps": 0,
        "joint_steps": 2, "svimo_streams": ["video"], "guidance_source": "ground_truth",
    })
    res = train(cfg, model_cfg)
    assert res.variant == "VModel w/ GT Mot. Guid." and res.final_checkpoint.is_dir()
    last = [json.loads(x) for x in res.loss_log.read_text().splitlines()][-1]
    assert last["l_svimo"] == pytest.approx(last["l_video"])


def test_text_dropout_replaces_the_marked_prompts_with_the_empty_one(tmp_path: Path, monkeypatch) -> None:
    """text_dropout: the marked samples reach G_θ with the empty prompt's features (what sampling's
    classifier-free guidance uses as its unconditional branch), the others with their own; the mask is
    drawn after every other draw, so the paper's draws are unchanged."""
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    shapes = ((4, 3, 4, 4, 6), (4, 3, 4, 4, 6), (4, 9, 21, 3), (4, 9, 16, 3))
    plain = draw_noise(g1, 1000, *shapes)
    dropped = draw_noise(g2, 1000, *shapes, text_dropout=0.5)
    assert plain.drop_text is None and dropped.drop_text is not None
    torch.testing.assert_close(plain.eps_obj, dropped.eps_obj)
    from hoi_ros.diffusion.text import build_text_encoder

    cfg, model_cfg = load_train_config(TINY_TRAIN, {
        "output_dir": str(tmp_path), "num_threads": 1, "warmup_steps": 0, "joint_steps": 3,
        "text_dropout": 0.5, "batch_size": 4})
    empty = build_text_encoder(model_cfg.text).encode([""])[0]
    texts: list[torch.Tensor] = []
    original = SViMoTrainModule.forward

    def spy(self, latents, *a, **k):  # type: ignore[no-untyped-def]
        texts.append(latents["text_embeds"].clone())
        return original(self, latents, *a, **k)

    monkeypatch.setattr(SViMoTrainModule, "forward", spy)
    train(cfg, model_cfg, resume=None)
    is_empty = [bool(torch.allclose(x, empty, atol=1e-5)) for batch in texts for x in batch]
    assert any(is_empty) and not all(is_empty)
    with pytest.raises(ValueError, match="text_dropout"):
        load_train_config(TINY_TRAIN, {"text_dropout": 1.0})


def test_zero3_bench_writes_runnable_configs(tmp_path: Path) -> None:
    """bench/svimo_zero3.py --dry-run: the configs it would launch load (the mid-sized model, the training
    run with bf16 + checkpointing + CogVideoX's weighting, accelerate's ZeRO-3 file naming the DeepSpeed
    JSON that exists) and its synthetic samples fit the model. The GPU run itself needs deepspeed."""
    import subprocess
    import sys

    from accelerate.commands.config.config_args import load_config_from_file

    from hoi_ros.svimo.dit import build_dit, count_parameters
    from hoi_ros.svimo.train import check_sample

    proc = subprocess.run([sys.executable, str(ROOT / "bench/svimo_zero3.py"), "--out", str(tmp_path), "--dry-run",
                           "--world-sizes", "1,2"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.count("hoi_ros.svimo.train") == 2
    for world in (1, 2):
        acc = load_config_from_file(str(tmp_path / f"ws{world}/accelerate.yaml"))
        assert acc.distributed_type == "DEEPSPEED" and acc.num_processes == world
        assert Path(acc.deepspeed_config["deepspeed_config_file"]).is_file()
        cfg, model_cfg = load_train_config(tmp_path / f"ws{world}/train.yaml")
        assert cfg.mixed_precision == "bf16" and cfg.gradient_checkpointing and cfg.loss_weighting == "cogvideox"
        assert 0.2e9 < count_parameters(build_dit(model_cfg.dit, "meta")) < 0.4e9
        check_sample(build_dataset(cfg.data, model_cfg)[0], model_cfg)
