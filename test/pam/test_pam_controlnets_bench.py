"""The ControlNet benchmark runs end to end (tiny config, CPU); the paper-scale run needs a GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")
ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "config/models/pam/tiny_for_tests.yaml")


def _bench_main():
    """``main`` of ``bench/pam_controlnets.py`` (benchmarks are scripts, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("pam_controlnets", ROOT / "bench" / "pam_controlnets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_bench_reports_forward_and_train_times(capsys: pytest.CaptureFixture[str]) -> None:
    assert _bench_main()([TINY, "--device", "cpu", "--repeats", "1", "--gradient-checkpointing", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["stage"] for r in rows] == ["image", "video"]
    for r in rows:
        assert r["forward_s"] > 0 and r["train_s"] > 0 and r["controlnet_params"] > 0
