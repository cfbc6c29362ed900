"""The ControlNet benchmark runs end to end (tiny config, CPU); the paper-scale run needs a GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hoi_ros.pam.bench import main

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")
TINY = str(Path(__file__).resolve().parents[2] / "config/models/pam/tiny_for_tests.yaml")


def test_bench_reports_forward_and_train_times(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([TINY, "--device", "cpu", "--repeats", "1", "--gradient-checkpointing", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["stage"] for r in rows] == ["image", "video"]
    for r in rows:
        assert r["forward_s"] > 0 and r["train_s"] > 0 and r["controlnet_params"] > 0
