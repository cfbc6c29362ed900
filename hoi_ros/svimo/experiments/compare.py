"""Two recipe runs' evaluations of the same episodes in one configuration table.

A recipe run evaluates its own training seeds and baselines (:mod:`hoi_ros.svimo.experiments.evaluate`).
To compare two recipes (say, two point orders) configuration against configuration, paired per episode
and over both recipes' training seeds, this merges their ``results.json``: every row of the first run as
it is, and the trained rows (those with a training seed, ``… seed N``) of the others with their
configuration renamed ``"{configuration}, {label}"``. The runs must have evaluated the same episodes;
the rows that need no model (the template, the static frame) must agree episode by episode on MPJPE,
which shows that the episodes are the same.

    python -m hoi_ros.svimo.experiments.compare out/run_a/select/results.json \\
        "sampled order=out/run_b/select/results.json"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from hoi_ros.svimo.experiments.evaluate import (
    STATIC_ROW,
    TEMPLATE_ROW,
    configuration_table,
    paired_table,
    split_seed,
)


def _episodes(results: dict[str, Any]) -> list[tuple[int, str]] | None:
    for model in results["models"].values():
        rows = model.get("per_episode")
        if rows:
            return [(int(r["episode"]), str(r["task"])) for r in rows]
    return None


def merge_evaluations(first: dict[str, Any], others: dict[str, dict[str, Any]], tol: float = 1e-6) -> dict[str, Any]:
    """``first``'s rows, then each other run's trained rows renamed ``"{configuration}, {label} seed N"``.

    Raises ``ValueError`` when a run evaluated other episodes than ``first``, or when a row that needs
    no model (template, static frame) differs by more than ``tol`` (m) in MPJPE on some episode."""
    merged = {"models": dict(first["models"]), "episodes": first["episodes"],
              "ground_truth": first.get("ground_truth", {})}
    episodes = _episodes(first)
    for label, res in others.items():
        if _episodes(res) != episodes:
            raise ValueError(f"{label!r}: evaluated other episodes than the first run "
                             f"({res['episodes']} against {first['episodes']}, or another order)")
        for name, model in res["models"].items():
            if name in (TEMPLATE_ROW, STATIC_ROW) and name in first["models"]:
                a = np.array([r["mpjpe"] for r in first["models"][name]["per_episode"]])
                b = np.array([r["mpjpe"] for r in model["per_episode"]])
                if np.abs(a - b).max() > tol:
                    raise ValueError(f"{label!r}: row {name!r} differs from the first run's by up to "
                                     f"{np.abs(a - b).max() * 100:.3f} cm MPJPE: not the same episodes or seeds")
            config, seed = split_seed(name)
            if seed is None:
                continue
            new = f"{config}, {label} seed {seed}"
            if new in merged["models"]:
                raise ValueError(f"{label!r}: row {new!r} twice")
            merged["models"][new] = model
    return merged


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Merge recipe runs' evaluations of the same episodes into one "
                                 "configuration table (paired per episode, over training seeds).")
    ap.add_argument("first", type=Path, help="results.json of the run the others are compared with")
    ap.add_argument("others", nargs="+", metavar="LABEL=RESULTS", help="a further run's results.json and its label")
    ap.add_argument("--out", type=Path, help="write the merged results.json here")
    a = ap.parse_args(argv)
    others = {}
    for spec in a.others:
        label, sep, path = spec.partition("=")
        if not sep or not label or not path:
            ap.error(f"expected LABEL=RESULTS, got {spec!r}")
        others[label] = json.loads(Path(path).read_text())
    merged = merge_evaluations(json.loads(a.first.read_text()), others)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(merged, indent=1))
    print(configuration_table(merged))
    print()
    print(paired_table(merged))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
