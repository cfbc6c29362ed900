"""Where the rotate task's object points go: does the generated cloud have the object's shape, do its
indices keep their place on the object, and does it turn the way the prompt says?

    python -m hoi_ros.svimo.experiments.rotate_points --data out/svimo_tiny/data/val
    python -m hoi_ros.svimo.experiments.rotate_points --data DATA --model MODEL.yaml --point-order layered_azimuth

Per rotate episode (the turned object only: the first K/2 points when a second object is in the
scene, App. B.2's split), at frame 0: the mean distance from generated point i to true point i
("index error") and to the nearest true point ("surface error"), and each cloud's mean distance
to its own centre ("spread"); over the episode, the turn about the vertical
(:func:`hoi_ros.core.metrics.yaw_change`), true and generated, and whether the generated turn has
the sense the prompt names; and the turn of the generated hand (its 21 joints), against the object's
true turn. Not a SViMo metric: a diagnosis of the yaw error. A model trained on
points in a canonical order (``data.point_order``) is compared with the truth in that order
(``--point-order``), so that its index error means what it was trained to do. ``--refine off`` reads
VID's points as they are, whatever the model YAML's ``refine.object_follows_hand`` says.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hoi_ros.core.metrics import yaw_change
from hoi_ros.data.point_order import POINT_ORDERS, order_point_sets
from hoi_ros.svimo.config import SViMoConfig
from hoi_ros.svimo.experiments.evaluate import EvalItem, load_items, svimo_model, turned_object

DEFAULT_MODEL = Path(__file__).resolve().parents[3] / "config" / "models" / "svimo" / "embedded_default.yaml"


def point_diagnostics(item: EvalItem, obj: torch.Tensor, hand: torch.Tensor | None = None) -> dict[str, float]:
    """The module docstring's numbers for one episode (metres, degrees; ``sense_agrees`` 1/0); with the
    generated ``hand`` joints ``[T, J, 3]`` also its turn (``hand_turn``)."""
    t, g = turned_object(item, obj)
    gen_turn = math.degrees(yaw_change(g))
    sense = 1.0 if "counterclockwise" in item.prompt else -1.0 if "clockwise" in item.prompt else 0.0
    extra = {} if hand is None else {"hand_turn": math.degrees(yaw_change(hand.double().numpy()))}
    return {**extra,
        "true_turn": math.degrees(yaw_change(t)), "generated_turn": gen_turn,
        "sense_agrees": float(sense != 0 and np.sign(gen_turn) == sense),
        "index_error": float(np.linalg.norm(g[0] - t[0], axis=-1).mean()),
        "surface_error": float(np.linalg.norm(g[0][:, None] - t[0][None], axis=-1).min(axis=1).mean()),
        "true_spread": float(np.linalg.norm(t[0] - t[0].mean(0), axis=-1).mean()),
        "generated_spread": float(np.linalg.norm(g[0] - g[0].mean(0), axis=-1).mean()),
    }


def in_point_order(item: EvalItem, order: str, layers: int = 4) -> EvalItem:
    """``item`` with its true points (and labels) in ``order`` (:data:`~hoi_ros.data.point_order.POINT_ORDERS`;
    ``layered_azimuth``: each tool/target half ordered as the training data of such a model)."""
    if order == "source":
        return item
    if order not in POINT_ORDERS:
        raise ValueError(f"point order: one of {POINT_ORDERS}, got {order!r}")
    perm = order_point_sets(item.obj, 2, layers)
    labels = None if item.labels is None else item.labels[perm]
    return dataclasses.replace(item, obj=item.obj[:, perm], labels=labels)


def summarize(rows: list[dict[str, float]]) -> dict[str, Any]:
    """Means over episodes; turns as mean absolute values, plus the true/generated correlation."""
    a = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    out: dict[str, Any] = {"episodes": len(rows)}
    out["true_turn_abs_deg"] = float(np.abs(a["true_turn"]).mean())
    out["generated_turn_abs_deg"] = float(np.abs(a["generated_turn"]).mean())
    out["sense_agrees"] = float(a["sense_agrees"].mean())
    varied = len(rows) > 1 and a["true_turn"].std() > 0 and a["generated_turn"].std() > 0
    out["turn_correlation"] = float(np.corrcoef(a["true_turn"], a["generated_turn"])[0, 1]) if varied else None
    for k in ("index_error", "surface_error", "true_spread", "generated_spread"):
        out[f"{k}_cm"] = float(a[k].mean() * 100)
    if "hand_turn" in a:  # does the generated hand turn with the true object?
        out["hand_turn_abs_deg"] = float(np.abs(a["hand_turn"]).mean())
        out["hand_minus_true_turn_abs_deg"] = float(np.abs(a["hand_turn"] - a["true_turn"]).mean())
        hand_varied = len(rows) > 1 and a["true_turn"].std() > 0 and a["hand_turn"].std() > 0
        out["hand_turn_correlation"] = float(np.corrcoef(a["true_turn"], a["hand_turn"])[0, 1]) if hand_varied else None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Diagnose the rotate task's generated object points.")
    ap.add_argument("--data", required=True, help="a sim dataset (e.g. the recipe's validation split)")
    ap.add_argument("--model", default=str(DEFAULT_MODEL), help="model YAML (its checkpoint is used)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--point-order", choices=POINT_ORDERS, default="source",
                    help="the order of the true points: the model's training data.point_order")
    ap.add_argument("--refine", choices=("model", "on", "off"), default="model",
                    help="refine.object_follows_hand: as the model YAML says, or on/off")
    a = ap.parse_args(argv)
    cfg = SViMoConfig.from_yaml(a.model)
    items = [in_point_order(it, a.point_order) for it in load_items(a.data, cfg) if it.task == "rotate"]
    if not items:
        ap.error(f"--data: no successful rotate episodes in {a.data}")
    refine = None if a.refine == "model" else {"object_follows_hand": a.refine == "on"}
    generated = svimo_model(a.model, cfg.checkpoint, refine=refine)(items, a.seed)
    rows = [point_diagnostics(it, obj, hand) for it, obj, hand in zip(items, generated.obj, generated.hand)]
    print(json.dumps(summarize(rows), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
