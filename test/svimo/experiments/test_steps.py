"""The steps sweep's parsing and the per-task template baseline."""

from __future__ import annotations

import pytest
import torch

from hoi_ros.svimo.experiments.baselines import task_templates, template_baseline
from hoi_ros.svimo.experiments.steps import parse_sampler


def test_sampler_specs_parse_and_bad_ones_are_refused() -> None:
    assert parse_sampler("dpm:10") == {"name": "dpm", "num_inference_steps": 10}
    for bad in ("dpm", "dpm:0", "dpm:ten"):
        with pytest.raises(ValueError, match="NAME:STEPS"):
            parse_sampler(bad)


def test_the_template_is_the_mean_path_of_the_true_task_and_the_object_holds_still() -> None:
    g = torch.Generator().manual_seed(0)
    hands = torch.randn(4, 5, 21, 3, generator=g)
    tasks = ["push", "rotate", "push", "rotate"]
    templates = task_templates(tasks, hands)
    assert torch.allclose(templates["push"], (hands[0] + hands[2]) / 2, atol=1e-6)
    obj = torch.randn(2, 5, 8, 3, generator=g)
    hand, held = template_baseline(templates, ["rotate", "push"], obj)
    assert torch.allclose(hand[0], (hands[1] + hands[3]) / 2, atol=1e-6)
    assert torch.equal(held[:, 3], obj[:, 0]) and held.shape == obj.shape


def test_a_task_without_training_episodes_gets_the_mean_of_the_task_paths() -> None:
    hands = torch.randn(2, 5, 21, 3, generator=torch.Generator().manual_seed(1))
    templates = task_templates(["push", "rotate"], hands)
    hand, _ = template_baseline(templates, ["place"], torch.zeros(1, 5, 8, 3))
    assert torch.allclose(hand[0], hands.mean(0), atol=1e-6)
    with pytest.raises(ValueError, match="empty"):
        template_baseline({}, ["push"], torch.zeros(1, 5, 8, 3))
