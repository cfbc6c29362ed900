"""Round-trip latency of the /hoi/generate action with a model config (default: SViMo tiny).

    source scripts/env.sh && python bench/generate_roundtrip.py \
        [--config config/models/svimo/tiny_for_tests.yaml] [--repeats 5]

Starts ``hoi_generator`` in a separate process, sends ``--repeats`` goals with the model's default
frames and steps (after one warm-up goal) and reports the median wall time from sending the goal to
receiving the result, next to the time the node spent in the worker (generation + writing).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "test"))
sys.path.insert(0, str(REPO / "test" / "nodes"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(REPO / "config" / "models" / "svimo" / "tiny_for_tests.yaml"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--size", default="416x624", help="HxW of the reference image sent")
    args = ap.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    import numpy as np
    from generate_client import GenerateClient, make_request
    from ros_support import NodeProcess

    height, width = (int(v) for v in args.size.split("x"))
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    walls, inside = [], []
    with tempfile.TemporaryDirectory() as tmp:
        client = GenerateClient("bench_roundtrip_client")
        try:
            t0 = time.monotonic()
            with NodeProcess("hoi_ros.nodes.generator_node", "hoi_generator_bench",
                             {"generator_config": args.config, "output_root": tmp}) as node:
                client.wait_ready(timeout=300, node=node)
                startup = time.monotonic() - t0
                for i in range(args.repeats + 1):
                    start = time.perf_counter()
                    handle = client.send_goal(make_request("action", image=image, prompt="grasp the ball"))
                    _status, result = client.result(handle, timeout=600)
                    wall = time.perf_counter() - start
                    if not result.success:
                        print(f"failed: {result.message}", file=sys.stderr)
                        return 1
                    if i == 0:
                        print(f"warm-up: {wall:.2f} s ({result.message})")
                        continue
                    walls.append(wall)
                    match = re.search(r"in ([0-9.]+) s", result.message)
                    inside.append(float(match.group(1)) if match else float("nan"))
                print(f"last: {result.message}")
        finally:
            client.close()
    print(f"# {Path(args.config).name}: node start-up + model load {startup:.1f} s")
    print(f"round trip (goal -> result), median of {args.repeats}: {statistics.median(walls):.3f} s "
          f"(min {min(walls):.3f}, max {max(walls):.3f})")
    print(f"inside the worker (generate + write), median: {statistics.median(inside):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
