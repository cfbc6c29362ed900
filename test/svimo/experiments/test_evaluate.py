"""Evaluation bookkeeping (hoi_ros.svimo.experiments.evaluate): summaries and paired differences on known rows."""

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
