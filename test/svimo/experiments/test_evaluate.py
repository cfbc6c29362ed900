"""Evaluation bookkeeping (hoi_ros.svimo.experiments.evaluate): summaries and paired differences on known rows."""

import dataclasses

import numpy as np
import pytest

from hoi_ros.svimo.experiments.evaluate import paired_differences, paired_table, summarise


def _results(ref: list[float], other: list[float], episodes: list[int] | None = None) -> dict:
    def model(vals: list[float], eps: list[int]) -> dict:
        rows = [{"episode": e, "task": "push", "mpjpe": v, "chamfer": 2 * v} for e, v in zip(eps, vals)]
        return summarise(rows) | {"per_episode": rows}

    eps = list(range(len(ref)))
    return {"models": {"mine": model(ref, eps), "theirs": model(other, episodes or eps)}}


def test_paired_differences_by_hand() -> None:
    res = _results([0.01, 0.02, 0.03, 0.04], [0.02, 0.02, 0.05, 0.03])
    d = paired_differences(res, "mpjpe")["theirs"]
    diffs = np.array([0.01, 0.0, 0.02, -0.01])
    assert d["mean"] == pytest.approx(diffs.mean())
    assert d["sem"] == pytest.approx(diffs.std(ddof=1) / 2.0)
    assert d["better"] == pytest.approx(0.5)  # a tie is not "better"
    assert d["n"] == 4
    assert paired_differences(res, "chamfer")["theirs"]["mean"] == pytest.approx(2 * diffs.mean())
    table = paired_table(res)
    assert "| theirs | +0.50 ± 0.65 | 50% | +1.00 ± 1.29 | 50% |" in table


def test_paired_differences_refuse_unpaired_rows() -> None:
    res = _results([0.01, 0.02], [0.02, 0.02], episodes=[1, 0])
    with pytest.raises(ValueError, match="other episodes"):
        paired_differences(res, "mpjpe")


def test_no_rows_no_table() -> None:
    res = _results([0.01, 0.02], [0.02, 0.02])
    for m in res["models"].values():
        del m["per_episode"]
    assert paired_differences(res, "mpjpe") == {}
    assert paired_table(res) == ""


def _item(task: str, obj, labels=None):
    import torch

    from hoi_ros.svimo.experiments.evaluate import EvalItem

    return EvalItem(0, "p", task, torch.zeros(3, 4, 6, 3, dtype=torch.uint8), torch.zeros(3, 21, 3), obj, labels)


def _turned(points, angles):
    import torch

    out = []
    for a in angles:
        c, s = np.cos(a), np.sin(a)
        r = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float32)
        out.append(points @ r.T)
    return torch.stack(out)


def test_rotate_yaw_error_compares_the_turns() -> None:
    """The generated turn against the true one, in degrees, only for rotate episodes; a cloud held
    still scores the whole true turn, whatever the point order."""
    import torch

    from hoi_ros.svimo.experiments.evaluate import episode_metrics

    pts = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
    truth = _turned(pts, [0.0, 0.4, 0.9])
    still = truth[:1].expand_as(truth)[:, torch.randperm(16)]
    m = episode_metrics(_item("rotate", truth), torch.zeros(3, 21, 3), still, None)
    assert abs(m["yaw_error"] - np.degrees(0.9)) < 1e-3
    half = _turned(pts, [0.0, 0.2, 0.45])
    assert abs(episode_metrics(_item("rotate", truth), torch.zeros(3, 21, 3), half, None)["yaw_error"]
               - np.degrees(0.45)) < 1e-3
    assert "yaw_error" not in episode_metrics(_item("push", truth), torch.zeros(3, 21, 3), truth, None)


def test_rotate_yaw_error_with_a_second_object_is_the_turned_objects() -> None:
    """A rotate episode with an unnamed bowl beside the box: the turn is the tool half's (first K/2),
    not the whole cloud's, which the still bowl would halve."""
    import torch

    from hoi_ros.core.metrics import yaw_change
    from hoi_ros.svimo.experiments.evaluate import episode_metrics

    pts = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    box = _turned(pts, [0.0, 0.4, 0.9])
    bowl = (torch.randn(8, 3, generator=torch.Generator().manual_seed(2)) + torch.tensor([0.25, 0.05, 0.0]))
    truth = torch.cat([box, bowl.expand(3, 8, 3)], dim=1)
    labels = torch.tensor([0] * 8 + [1] * 8)
    exact = episode_metrics(_item("rotate", truth, labels), torch.zeros(3, 21, 3), truth, None)
    assert exact["yaw_error"] < 1e-3 and exact["second_object"] == 1.0
    still = truth[:1].expand_as(truth)
    m = episode_metrics(_item("rotate", truth, labels), torch.zeros(3, 21, 3), still, None)
    assert abs(m["yaw_error"] - np.degrees(0.9)) < 1e-3
    assert abs(np.degrees(yaw_change(truth.numpy())) - np.degrees(0.9)) > 5  # the whole cloud turns less


def test_second_object_is_present_only_where_the_target_half_is() -> None:
    """Two-object episodes: the generated target half (last K/2) must sit on the true target."""
    import torch

    from hoi_ros.svimo.experiments.evaluate import SECOND_OBJECT_RADIUS, episode_metrics

    tool = torch.zeros(3, 8, 3)
    target = torch.zeros(3, 8, 3)
    target[..., 0] = 0.25
    truth = torch.cat([tool, target], dim=1)
    labels = torch.tensor([0] * 8 + [1] * 8)
    hand = torch.zeros(3, 21, 3)
    on_target = episode_metrics(_item("place", truth, labels), hand, truth, None)
    assert on_target["second_object"] == 1.0 and on_target["target_error"] == 0.0
    all_on_tool = torch.cat([tool, tool], dim=1)
    missing = episode_metrics(_item("place", truth, labels), hand, all_on_tool, None)
    assert missing["second_object"] == 0.0 and abs(missing["target_error"] - 0.25) < 1e-6
    assert 0.25 > SECOND_OBJECT_RADIUS
    single = episode_metrics(_item("push", tool, torch.zeros(8, dtype=torch.long)), hand, tool, None)
    assert "second_object" not in single


def test_configurations_average_their_seeds_and_compare_paired() -> None:
    from hoi_ros.svimo.experiments.evaluate import configuration, configuration_table, seed_groups, summarise

    assert configuration("SViMo w/ VID (shipped) seed 0") == "SViMo w/ VID"
    assert configuration("SViMo w/o VID seed 12") == "SViMo w/o VID"
    assert configuration("static first frame (GT)") == "static first frame (GT)"

    def model(errors: list[float]) -> dict:
        rows = [{"episode": i, "task": "push", "mpjpe": e, "chamfer": e} for i, e in enumerate(errors)]
        return summarise(rows) | {"per_episode": rows}

    results = {"models": {"A (shipped) seed 0": model([0.01, 0.03]), "A seed 1": model([0.03, 0.01]),
                          "B seed 0": model([0.03, 0.05]), "B seed 1": model([0.05, 0.03]),
                          "template": model([0.02, 0.02])}}
    assert seed_groups(results) == {"A": ["A (shipped) seed 0", "A seed 1"], "B": ["B seed 0", "B seed 1"],
                                    "template": ["template"]}
    table = configuration_table(results, (("mpjpe", "MPJPE (cm)", 100.0),))
    assert "| A (2) | 2.00 (2.00, 2.00) | — |" in table
    assert "| B (2) | 4.00 (4.00, 4.00) | +2.00 ± 0.00 |" in table  # seed-averaged rows, paired
    assert "| template (1) | 2.00 | +0.00 ± 0.00 |" in table


def test_lift_prompts_keep_the_two_object_episodes_and_name_only_the_first_object() -> None:
    import torch

    from hoi_ros.svimo.experiments.evaluate import lift_prompt_items

    two = torch.tensor([0, 0, 1, 1])
    items = [dataclasses.replace(_item("place", torch.zeros(3, 4, 3), two),
                                 prompt="pick up the red block and place it on the blue bowl"),
             dataclasses.replace(_item("push", torch.zeros(3, 4, 3), torch.zeros(4, dtype=torch.long)),
                                 prompt="push the pink block forward across the table")]
    (out,) = lift_prompt_items(items)
    assert out.prompt == "grasp the red block and lift it up" and out.task == "place"
    assert torch.equal(out.labels, two)


def test_rows_split_over_processes_by_cost() -> None:
    from hoi_ros.svimo.experiments.evaluate import split_models

    names = ["SViMo w/ VID (shipped) seed 0", "SViMo w/ VID seed 1", "SViMo w/o VID seed 0", "SViMo w/o VID seed 1",
             "per-task template (no model)", "static first frame (GT)"]
    a, b = split_models(names, 2)
    assert sorted(a + b) == sorted(names)
    assert sum(n.startswith("SViMo w/ VID") for n in a) == 1 and sum(n.startswith("SViMo w/o") for n in a) == 1
    assert [sorted(g) for g in split_models(names, 1)] == [sorted(names)]


def test_rows_that_sample_a_named_model_are_costed_as_models() -> None:
    from hoi_ros.svimo.experiments.evaluate import split_models

    names = ["SViMo w/ VID (shipped) seed 0", "an earlier model", "per-task template (no model)"]
    a, b = split_models(names, 2, {"an earlier model"})
    assert {a[0], b[0]} == {"SViMo w/ VID (shipped) seed 0", "an earlier model"}  # one heavy row each


def test_the_lift_prompt_is_the_sims_own() -> None:
    """The rewritten prompt is the sim's grasp_lift prompt for the first object of a place/tool_use scene."""
    import torch

    from hoi_ros.sim.objects import make_object
    from hoi_ros.sim.tasks import prompt_for
    from hoi_ros.svimo.experiments.evaluate import lift_prompt_items

    tool, bowl = make_object("block", "red"), make_object("bowl", "blue")
    for task in ("place", "tool_use"):
        item = dataclasses.replace(_item(task, torch.zeros(3, 4, 3), torch.tensor([0, 0, 1, 1])),
                                   prompt=prompt_for(task, [tool, bowl]))
        assert lift_prompt_items([item])[0].prompt == prompt_for("grasp_lift", [tool])
