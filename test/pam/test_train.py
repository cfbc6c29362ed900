"""One training command per stage: precomputed latents, frozen bases, exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hoi_ros.pam.train import TrainConfig, main, train

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")
TINY = str(Path(__file__).resolve().parents[2] / "config/models/pam/tiny_for_tests.yaml")


@pytest.fixture(scope="module")
def latents(dataset: Path) -> Path:
    from hoi_ros.pam.config import load_config
    from hoi_ros.pam.train import precompute_latents

    files = precompute_latents(load_config(TINY), dataset, dataset / "latents", progress=False)
    assert len(files) == 2
    return dataset / "latents"


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "diffusion_pytorch_model.safetensors"))


@pytest.mark.parametrize("stage", ["video", "image"])
def test_training_resumes_exactly_and_trains_the_zero_projections(stage: str, dataset: Path, latents: Path,
                                                                  tmp_path: Path) -> None:
    common = dict(stage=stage, config=TINY, data=str(dataset), latents=str(latents), lr=1e-2, progress=False)
    full = train(TrainConfig(**common, output=str(tmp_path / "full"), steps=2))
    assert full["step"] == 2
    train(TrainConfig(**common, output=str(tmp_path / "split"), steps=1))
    assert (tmp_path / "split/checkpoints/step_00000001/trainer.json").is_file()
    resumed = train(TrainConfig(**common, output=str(tmp_path / "split"), steps=2))
    a, b = _weights(Path(full["controlnet"])), _weights(Path(resumed["controlnet"]))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "full/loss_log.jsonl").read_text().splitlines()]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    assert any(v.any() for k, v in a.items() if k.startswith("controlnet_blocks."))  # the zero projections moved
    assert not (tmp_path / "full/latents").exists()  # the shared cache was used


def test_command_line(dataset: Path, latents: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stage", "image", "--config", TINY, "--data", str(dataset), "--output", str(tmp_path / "run"),
                 "--latents", str(latents), "--steps", "1", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["step"] == 1
    assert main(["--stage", "video", "--config", TINY, "--data", str(tmp_path / "none"), "--output",
                 str(tmp_path / "bad"), "--steps", "1", "--no-progress"]) == 2
