"""The embedded default's recipe end to end on a minuscule config, so it cannot rot:
sim data → VAE ‖ MDM → latent cache → SViMo (warm-up + joint) ‖ w/o VID → held-out evaluation →
shipped folder, contact sheets, loss curve and model card. Plus determinism of the small trainers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[3]


def write_minuscule(tmp: Path, parallel: bool = False) -> Path:
    """A recipe at 32 x 48, 9 frames, with a handful of episodes and steps."""
    sim = yaml.safe_load((ROOT / "config/recipes/sim_dataset_embedded_default.yaml").read_text())
    sim["tasks"] = ["grasp_lift", "push"]
    sim["episode"].update(width=48, height=32, fps=1.5, num_object_points=16)
    (tmp / "sim.yaml").write_text(yaml.safe_dump(sim))
    model = {
        "base": str(ROOT / "config/models/svimo/embedded_default.yaml"),
        "name": "minuscule",
        "checkpoint": None,
        "dit": {"num_layers": 1, "num_attention_heads": 2, "attention_head_dim": 16, "time_embed_dim": 32,
                "patch_size": 2, "sample_frames": 9, "sample_height": 4, "sample_width": 6, "latent_channels": 4},
        "vid": {"num_frames": 9, "num_object_points": 16, "conv_channels": [8], "token_grid": [2], "d_model": 24,
                "num_layers": 1, "num_heads": 2, "time_embed_dim": 32, "latent_channels": 4},
        "vae": {"latent_channels": 4, "block_out_channels": [8, 8, 8, 8], "norm_num_groups": 4},
        "sampler": {"name": "ddim", "num_inference_steps": 2},
        "video": {"num_frames": 9, "height": 32, "width": 48, "fps": 1.5},
    }
    (tmp / "model.yaml").write_text(yaml.safe_dump(model))
    (tmp / "model_novid.yaml").write_text(yaml.safe_dump(
        {"base": "model.yaml", "loop": {"interaction_guidance": False, "gradient_constraint": False}}))
    recipe = {
        "output_dir": str(tmp / "run"), "model": "model.yaml", "ablation_model": "model_novid.yaml",
        "seed": 0, "training_seeds": [0, 3], "threads": 1, "parallel": parallel,
        "data": {"config": "sim.yaml", "workers": 1, "point_order": "layered_azimuth",
                 "train": {"seed": 0, "episodes": 3},
                 "val": {"seed": 1, "episodes": 2}, "test": {"seed": 2, "episodes": 2}},
        "vae": {"block_out_channels": [8, 8, 8, 8], "latent_channels": 4, "norm_num_groups": 4, "steps": 2,
                "batch_size": 1, "clip_frames": 9},
        "train": {"batch_size": 2, "warmup_steps": 2, "joint_steps": 2, "lr": 1e-3, "checkpoint_every": 100,
                  "log_every": 1, "loss_weighting": "cogvideox"},
        "mdm": {"d_model": 24, "num_layers": 1, "num_heads": 2, "time_embed_dim": 32},
        "eval": {"seed": 0, "batch_size": 2, "compare_with": {"elsewhere": "missing.yaml"}, "processes": 2},
        "ship": {"models_dir": "shipped", "model_card": "card.md", "images": "images", "keep": ["notes.txt"],
                 "sheets": ["grasp_lift", "push"], "demo_task": "grasp_lift"},
    }
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_recipe_runs_end_to_end(tmp_path: Path) -> None:
    from hoi_ros.svimo.experiments.recipe import run_recipe, same_weights

    (tmp_path / "shipped").mkdir()
    (tmp_path / "shipped" / "notes.txt").write_text("kept")  # a weight-independent file: kept on re-shipping
    info = run_recipe(write_minuscule(tmp_path))
    run = tmp_path / "run"
    # Every stage ran and recorded its time; the datasets come from the three seeds.
    for stage in ("data", "vae", "mdm", "latents", "full", "full_seed3", "without_vid", "without_vid_seed3",
                  "select", "eval", "ship"):
        assert stage in info["timings"], stage
    assert [info["data"][s]["seed"] for s in ("train", "val", "test")] == [0, 1, 2]
    # Both SViMo runs did warm-up + joint steps with their Table 3 variants.
    assert info["full_result"]["steps"] == 4 and info["full_result"]["variant"] == "SViMo w/ VID"
    assert info["without_vid_result"]["variant"] == "SViMo w/o VID"
    assert [info[f"{n}_result"]["seed"] for n in ("full", "full_seed3", "without_vid_seed3")] == [0, 3, 3]
    assert not same_weights(info["checkpoints"]["full"], info["checkpoints"]["full_seed3"])  # other seed
    phases = [json.loads(line)["phase"] for line in (run / "full" / "loss_log.jsonl").read_text().splitlines()]
    assert phases == ["warmup", "warmup", "joint", "joint"]
    # The evaluation compares all four on the held-out episodes with the motion and video metrics.
    results = json.loads((run / "eval" / "results.json").read_text())
    models = ["SViMo w/ VID (shipped) seed 0", "SViMo w/ VID seed 3", "SViMo w/o VID seed 0", "SViMo w/o VID seed 3",
              "MDM-like (text only)", "per-task template (no model)", "static first frame (GT)"]
    assert list(results["models"]) == models
    # The validation split saw the same models (a missing compare_with model is left out, not fatal).
    selection = json.loads((run / "select" / "results.json").read_text())
    assert list(selection["models"]) == models
    for name, model in results["models"].items():
        assert {"mpjpe", "msmo", "chamfer"} <= set(model["mean"]), name
        assert all(torch.isfinite(torch.tensor(v)) for v in model["mean"].values())
    assert "psnr" in results["models"]["SViMo w/ VID (shipped) seed 0"]["mean"]
    assert "psnr" not in results["models"]["MDM-like (text only)"]["mean"]  # no video
    # What ships: safetensors + JSON + the demo frame, loadable by the generator.
    shipped = tmp_path / "shipped"
    names = sorted(p.relative_to(shipped).as_posix() for p in shipped.rglob("*") if p.is_file())
    assert names == ["demo.json", "demo_reference.png", "model_index.json", "notes.txt",
                     "transformer/config.json", "transformer/diffusion_pytorch_model.safetensors",
                     "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
                     "vid/config.json", "vid/diffusion_pytorch_model.safetensors"]
    from hoi_ros.svimo.weights import svimo_tensors

    full = svimo_tensors(info["checkpoints"]["full"])  # the training run's model folder (dit.* + vid.*)
    for prefix, sub in (("dit", "transformer"), ("vid", "vid")):
        shipped_weights = load_file(shipped / sub / "diffusion_pytorch_model.safetensors")
        assert {f"{prefix}.{k}" for k in shipped_weights} == {k for k in full if k.startswith(prefix + ".")}
        assert all(torch.equal(v, full[f"{prefix}.{k}"]) for k, v in shipped_weights.items())
    card = (tmp_path / "card.md").read_text()
    assert "Evaluation on held-out episodes" in card and "MPJPE" in card
    for task in ("grasp_lift", "push"):
        assert (tmp_path / "images" / f"svimo_{task}.png").is_file()
        assert f"images/svimo_{task}.png" in card
    assert (tmp_path / "images" / "svimo_tiny_loss.png").is_file()
    # The reproducibility statement: a run compared with itself has identical weights and metrics.
    from hoi_ros.svimo.experiments.recipe import compare_runs

    text = compare_runs(run, run)
    assert "full yes" in text and "vae yes" in text and " no" not in text
    from hoi_ros.svimo.experiments.recipe import same_weights

    assert same_weights(shipped, shipped) and not same_weights(shipped, info["checkpoints"]["full"])
    assert "| SViMo w/ VID (shipped) seed 0 |" in text


def test_small_trainers_are_deterministic(tmp_path: Path) -> None:
    """The same seed gives bit-identical VAE and MDM weights (the recipe's reproducibility)."""
    from hoi_ros.diffusion.vae_train import VAETrainConfig, train_vae
    from hoi_ros.svimo.experiments.baselines import MDMConfig, train_mdm

    g = torch.Generator().manual_seed(0)
    rgb = torch.randint(0, 256, (2, 9, 32, 48, 3), dtype=torch.uint8, generator=g)
    motion = torch.randint(0, 256, (2, 9, 32, 48, 3), dtype=torch.uint8, generator=g)
    vcfg = VAETrainConfig(block_out_channels=[8, 8, 8], latent_channels=4, norm_num_groups=4, steps=2, batch_size=1)
    a = train_vae(vcfg, rgb, motion, tmp_path / "a", progress=False)
    b = train_vae(vcfg, rgb, motion, tmp_path / "b", progress=False)
    wa, wb = load_file(a.folder / "diffusion_pytorch_model.safetensors"), load_file(
        b.folder / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa) and a.scaling_factor == b.scaling_factor

    mcfg = MDMConfig(num_frames=5, num_object_points=8, d_model=24, num_layers=1, num_heads=2, time_embed_dim=16)
    samples = [{"hand": torch.randn(5, 21, 3, generator=g) * 0.1, "obj": torch.randn(5, 8, 3, generator=g) * 0.1,
                "prompt": p} for p in ("push the box", "lift the ball")]

    def text(prompts: list[str]) -> torch.Tensor:
        return torch.stack([torch.full((3, 384), float(len(p))) for p in prompts])

    abar = torch.linspace(0.999, 0.001, 1000)
    r1 = train_mdm(mcfg, samples, text, abar, tmp_path / "m1", steps=3, batch_size=2, lr=1e-3, progress=False)
    r2 = train_mdm(mcfg, samples, text, abar, tmp_path / "m2", steps=3, batch_size=2, lr=1e-3, progress=False)
    w1, w2 = load_file(r1.checkpoint), load_file(r2.checkpoint)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    r3 = train_mdm(mcfg, samples, text, abar, tmp_path / "m3", steps=3, batch_size=2, lr=1e-3, seed=1,
                   progress=False)
    assert not all(torch.equal(w1[k], load_file(r3.checkpoint)[k]) for k in w1)  # the seed matters


def test_clean_latent_warmup_feeds_vid_the_clean_latents() -> None:
    """``vid_warmup_clean_fraction``: the marked warm-up samples give VID z₀ instead of z_t (Eq. 6)."""
    from hoi_ros.svimo.config import SViMoConfig
    from hoi_ros.svimo.dit import SViMoTransformer
    from hoi_ros.svimo.losses import LossWeights, vid_loss
    from hoi_ros.svimo.train_step import SViMoTrainModule, diffuse, draw_noise
    from hoi_ros.svimo.vid import VID

    cfg = SViMoConfig.from_yaml(ROOT / "config/models/svimo/tiny_for_tests.yaml")
    torch.manual_seed(0)
    module = SViMoTrainModule(SViMoTransformer(cfg.dit), VID(cfg.vid), cfg, LossWeights())
    f, h, w = cfg.latent_grid
    z = {"video_latents": torch.randn(2, f, 4, h, w), "motion_latents": torch.randn(2, f, 4, h, w),
         "image_latents": torch.randn(2, 1, 4, h, w), "text_embeds": torch.randn(2, 16, 384)}
    hand, obj = torch.randn(2, 9, 21, 3) * 0.1, torch.randn(2, 9, 16, 3) * 0.1
    g = torch.Generator().manual_seed(0)
    noise = draw_noise(g, 1000, z["video_latents"].shape, z["motion_latents"].shape, hand.shape, obj.shape, 1.0)
    assert noise.clean is not None and noise.clean.all()
    got = module(z, hand, obj, noise, warmup=True)["l_vid"]
    abar = module.alphas_cumprod
    ht = diffuse(module.vid.to_diffusion(hand), noise.eps_hand, noise.t, abar)
    ot = diffuse(module.vid.to_diffusion(obj), noise.eps_obj, noise.t, abar)
    hp, op = module.vid(ht, ot, z["video_latents"], z["motion_latents"], noise.t)
    want = vid_loss(hp, op, module.vid.to_diffusion(hand), module.vid.to_diffusion(obj))["vid"]
    assert torch.allclose(got, want)
    pointed = SViMoTrainModule(module.dit, module.vid, cfg, LossWeights(w_obj_points=3.0))
    want = vid_loss(hp, op, module.vid.to_diffusion(hand), module.vid.to_diffusion(obj), 3.0)["vid"]
    assert torch.allclose(pointed(z, hand, obj, noise, warmup=True)["l_vid"], want) and want > got  # w_obj_points
    noise.clean = None  # Eq. 6 as written: z_t (a random VID barely depends on its latents: compare exactly)
    assert not torch.equal(module(z, hand, obj, noise, warmup=True)["l_vid"], got)


def test_same_weights_compares_tensors_and_metadata(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from hoi_ros.svimo.experiments.recipe import same_weights

    w = {"a": torch.arange(4.0), "b": torch.ones(2, 2)}
    save_file(w, str(tmp_path / "x.safetensors"), metadata={"steps": "6", "trained": "true"})
    save_file(w, str(tmp_path / "y.safetensors"), metadata={"trained": "true", "steps": "6"})
    save_file({**w, "b": torch.ones(2, 2) * (1 + 2**-20)}, str(tmp_path / "z.safetensors"),
              metadata={"steps": "6", "trained": "true"})
    save_file(w, str(tmp_path / "m.safetensors"), metadata={"steps": "7", "trained": "true"})
    assert same_weights(tmp_path / "x.safetensors", tmp_path / "y.safetensors")
    assert not same_weights(tmp_path / "x.safetensors", tmp_path / "z.safetensors")
    assert not same_weights(tmp_path / "x.safetensors", tmp_path / "m.safetensors")
    # A re-run in another folder: its checkpoint's model_config names its own VAE path.
    save_file(w, str(tmp_path / "r.safetensors"), metadata={"model_config": "path: /runs/a/vae"})
    save_file(w, str(tmp_path / "s.safetensors"), metadata={"model_config": "path: /runs/b/vae"})
    assert not same_weights(tmp_path / "r.safetensors", tmp_path / "s.safetensors")
    assert same_weights(tmp_path / "r.safetensors", tmp_path / "s.safetensors", ("/runs/b", "/runs/a"))


def test_card_names_every_deviation_of_the_loop() -> None:
    """The card's training row says which of the loop's deviations from Alg. 1 the run used."""
    from hoi_ros.svimo.experiments.card import _constraint_note, _dropout_note, _motion_noise_note

    paper = {"loop_motion_noise": [], "constraint_paths": ["video", "motion"], "constraint_ramp_steps": 0,
             "guidance_dropout": 0.0}
    assert _motion_noise_note(paper) == "" and _constraint_note(paper) == "" and _constraint_note({}) == ""
    assert _dropout_note(paper) == "" and _dropout_note({}) == ""
    assert "50% of the joint samples" in _dropout_note({"guidance_dropout": 0.5})
    assert "does not reach G_θ" in _constraint_note({"constraint_paths": []})
    note = _constraint_note({"constraint_paths": ["video"], "constraint_ramp_steps": 3000})
    assert "through ẑ₀ⱽ only" in note and "first 3000 joint steps" in note and "not in the paper" in note
    assert "guidance VID call sees" in _motion_noise_note({"loop_motion_noise": ["guidance"]})


def test_card_names_the_schedule_and_the_refinement_when_used() -> None:
    from hoi_ros.svimo.config import RefineConfig, SViMoConfig
    from hoi_ros.svimo.experiments.card import _refine_note, _schedule_note

    assert _schedule_note({}) == "" and _schedule_note({"lr_schedule": "constant"}) == ""
    assert "cosine decay to 0×" in _schedule_note({"lr_schedule": "cosine"})
    assert "last 1500 joint steps" in _schedule_note({"lr_schedule": "stable_decay", "lr_decay_steps": 1500})
    cfg = SViMoConfig.from_yaml(ROOT / "config/models/svimo/tiny_for_tests.yaml")
    assert _refine_note(cfg) == ""
    on = SViMoConfig.from_dict({**cfg.to_dict(), "refine": vars(RefineConfig(True, 0.03))})
    assert "closer than 3 cm" in _refine_note(on) and "row 28" in _refine_note(on)


@pytest.mark.parametrize("name", ["svimo_embedded_default.yaml", "svimo_embedded_v_weighted.yaml",
                                  "svimo_embedded_points.yaml", "svimo_embedded_cosine.yaml"])
def test_the_recipe_files_parse_and_name_loadable_models(name: str) -> None:
    """The shipped model's recipe and the variants tried beside it: valid recipes whose model and
    ablation YAMLs load and whose training section is a valid TrainConfig; a variant ships into out/,
    never over the shipped model."""
    from hoi_ros.svimo.config import SViMoConfig
    from hoi_ros.svimo.experiments.recipe import RecipeConfig, model_dict, training_stages
    from hoi_ros.svimo.train import TrainConfig

    cfg = RecipeConfig.from_yaml(ROOT / "config" / "recipes" / name)
    full, ablation = (SViMoConfig.from_dict(model_dict(cfg, w)) for w in ("full", "without_vid"))
    assert full.loop.interaction_guidance and not ablation.loop.interaction_guidance
    assert training_stages(cfg)[0] == "full"
    TrainConfig(**cfg.train)  # every field known and valid
    if name != "svimo_embedded_default.yaml":
        assert "out" in cfg.path(cfg.ship["models_dir"]).relative_to(ROOT).parts
        assert "out" in cfg.path(cfg.ship["model_card"]).relative_to(ROOT).parts
    if name == "svimo_embedded_v_weighted.yaml":
        assert full.dit.prediction_type == "v_prediction" and cfg.train["loss_weighting"] == "cogvideox"
    if name == "svimo_embedded_points.yaml":
        assert cfg.data["point_order"] == "layered_azimuth" and cfg.train["w_obj_points"] > 0
    if name == "svimo_embedded_cosine.yaml":
        assert cfg.train["lr_schedule"] == "cosine"
