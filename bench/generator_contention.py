"""The embedded default's generation time alone and next to a busy process, per OpenMP wait policy.

    source scripts/env.sh && python bench/generator_contention.py --steps 5 --out /tmp/contention.json

Each configuration runs in a fresh Python process (the wait policy is read when torch loads), on
the cores this process may use (``--cores``, default all of them): load the shipped model
(config/models/svimo/embedded_default.yaml), one warm-up generation of one step, then the timed
generation of the demo's input (``hoi_ros.nodes.demo_client.default_input``, seed 0) with
``--steps`` denoising steps. ``--repeats`` rounds, each running every configuration once in turn
(so that they share the machine's background load), give the median. "busy" starts a pure-Python
busy loop pinned to the first of those cores for the child's whole run. Policies:

- ``default``: what ran before (no ``OMP_WAIT_POLICY``, torch's own thread count: libgomp's default
  wait, which spins before it sleeps);
- ``passive``: what the generator node sets now (:func:`hoi_ros.core.threads.apply_thread_policy`
  with its defaults: ``OMP_WAIT_POLICY=PASSIVE``, one thread per available core);
- ``passive1``: passive with one thread (for comparison).

The machine is shared: the 1-minute load average before and after each run is recorded too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ("default", "passive", "passive1")


def child(policy: str, steps: int, repeats: int) -> dict:
    """Runs in the child process: the policy before torch loads, then the timed generations."""
    sys.path.insert(0, str(ROOT))
    from hoi_ros.core.threads import apply_thread_policy

    if policy == "passive":
        apply_thread_policy(0, "passive")
    elif policy == "passive1":
        apply_thread_policy(1, "passive")
    import torch

    from hoi_ros.core.generation import GenerationRequest
    from hoi_ros.nodes.demo_client import default_input
    from hoi_ros.svimo.pipeline import SViMoGenerator

    start = time.perf_counter()
    gen = SViMoGenerator.from_config(ROOT / "config" / "models" / "svimo" / "embedded_default.yaml")
    load_s = time.perf_counter() - start
    image, prompt = default_input()

    def run(n: int) -> float:
        req = GenerationRequest(image=image, prompt=prompt, num_frames=17, num_inference_steps=n, seed=0,
                                guidance_scale=1.0)
        t0 = time.perf_counter()
        gen.generate(req)
        return time.perf_counter() - t0

    run(1)  # warm-up
    times = [run(steps) for _ in range(repeats)]
    return {"load_s": round(load_s, 2), "times_s": [round(t, 2) for t in times],
            "median_s": round(statistics.median(times), 2), "threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}


def busy_loop(core: int) -> subprocess.Popen:
    """A pure-Python busy loop pinned to ``core`` (a process that keeps one core busy)."""
    code = f"import os\nos.sched_setaffinity(0, {{{core}}})\nwhile True:\n    pass\n"
    return subprocess.Popen([sys.executable, "-c", code])


def measure(policy: str, busy: bool, steps: int, repeats: int, cores: set[int]) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    cmd = [sys.executable, __file__, "--child", policy, "--steps", str(steps), "--repeats", str(repeats)]
    load_before = os.getloadavg()[0]
    loop = busy_loop(min(cores)) if busy else None
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=3600,
                             preexec_fn=lambda: os.sched_setaffinity(0, cores))
    finally:
        if loop is not None:
            loop.kill()
            loop.wait()
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {"policy": policy, "busy": busy, **result, "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5, help="denoising steps of each timed generation")
    ap.add_argument("--repeats", type=int, default=1, help="timed generations per configuration (median)")
    ap.add_argument("--policies", default=",".join(POLICIES), help=f"comma-separated, of {', '.join(POLICIES)}")
    ap.add_argument("--cores", help="comma-separated cores to run on (default: this process's affinity)")
    ap.add_argument("--out", type=Path, help="also write the results as JSON")
    ap.add_argument("--child", choices=POLICIES, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.steps, args.repeats)))
        return 0
    cores = {int(c) for c in args.cores.split(",")} if args.cores else set(os.sched_getaffinity(0))
    configs = [(policy, busy) for policy in args.policies.split(",") for busy in (False, True)]
    runs: dict[tuple[str, bool], list[dict]] = {c: [] for c in configs}
    for r in range(args.repeats):  # interleaved: every configuration sees the same background load
        for policy, busy in configs:
            run = measure(policy, busy, args.steps, 1, cores)
            runs[(policy, busy)].append(run)
            print(f"round {r + 1}: {policy:9s} {'busy' if busy else 'alone':5s} {run['median_s']:7.2f} s "
                  f"(threads {run['threads']}; load {run['load_before']} -> {run['load_after']})", flush=True)
    rows = []
    for (policy, busy), got in runs.items():
        times = [g["median_s"] for g in got]
        rows.append({"policy": policy, "busy": busy, "times_s": times, "median_s": statistics.median(times),
                     "threads": got[0]["threads"], "omp_wait_policy": got[0]["omp_wait_policy"],
                     "load": [[g["load_before"], g["load_after"]] for g in got]})
        print(f"{policy:9s} {'busy' if busy else 'alone':5s} median {statistics.median(times):7.2f} s of {times}")
    report = {"machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
                         f"{os.cpu_count()} CPUs, cores used {sorted(cores)}",
              "command": "python bench/generator_contention.py " + " ".join(argv or sys.argv[1:]),
              "steps": args.steps, "rows": rows}
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
