"""Task success rate of the scripted controller on the dataset's randomised episodes (physics only).

    source scripts/env.sh && python bench/sim_success.py [-n 60] [--seed 0]

Samples episodes exactly as ``hoi_ros.sim.dataset`` does (task, object, colour, pose jitter,
push direction, turn angle from ``seed``), simulates them without rendering and prints the
success rate per task and object, and why the failures failed.
"""

from __future__ import annotations

import argparse
import collections
import time

from hoi_ros.sim.dataset import DEFAULT_TASKS, episode_rng, sample_request
from hoi_ros.sim.tasks import simulate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", "--num-episodes", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    results: dict[tuple[str, str], list[bool]] = collections.defaultdict(list)
    t0 = time.perf_counter()
    for i in range(args.num_episodes):
        req = sample_request(episode_rng(args.seed, i), DEFAULT_TASKS)
        traj, _scene = simulate(req)
        results[(req.task, req.objects[0].name)].append(traj.success)
        if not traj.success:
            info = {k: v for k, v in traj.info.items() if k not in ("phases", "objects", "task")}
            print(f"episode {i}: {req.task} {req.objects[0].display_name} failed: {info}")
    total = sum(len(v) for v in results.values())
    ok = sum(sum(v) for v in results.values())
    for (task, obj), v in sorted(results.items()):
        print(f"{task:10s} {obj:9s} {sum(v)}/{len(v)}")
    print(f"success {ok}/{total} ({100 * ok / total:.0f} %), seed {args.seed}, "
          f"{time.perf_counter() - t0:.0f} s of physics")


if __name__ == "__main__":
    main()
