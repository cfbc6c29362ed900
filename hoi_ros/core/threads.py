"""CPU threads of a model process: how many, and how idle threads wait.

torch runs its CPU kernels on an OpenMP thread pool (``torch.__config__.parallel_info()``: "ATen
parallel backend: OpenMP", GNU libgomp in the pip wheels). By default an OpenMP thread that runs
out of work *spins* at the next barrier before it sleeps. On a machine where another process keeps
one core busy, a thread that shares that core gets half of it, every parallel region waits for it,
and the threads that spin meanwhile take time slices from it: a 50-step generation of the embedded
default took 272 s instead of ≈ 14 s (docs/benchmarks.md, "Generation under CPU contention").
With ``OMP_WAIT_POLICY=PASSIVE`` idle threads sleep at once, and the same load slows generation in
proportion to the CPU it takes.

libgomp reads ``OMP_WAIT_POLICY`` once, when it is loaded, i.e. when torch is first imported; so
:func:`apply_thread_policy` must run before that (the generator node calls it before it loads its
model, the Python API's user before ``import torch``). The number of threads can change at any
time (``torch.set_num_threads``). This module never imports torch (the core's rule): it sets the
environment, and calls ``torch.set_num_threads`` only where torch is already loaded.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

WAIT_POLICIES = ("passive", "active", "")  # "" = leave the environment as it is
DEFAULT_WAIT_POLICY = "passive"


def cgroup_cpu_limit(path: str | os.PathLike = "/sys/fs/cgroup/cpu.max") -> float | None:
    """The CPU quota of this process's cgroup (v2 ``cpu.max``: "quota period") in cores, or None
    when there is none or it cannot be read."""
    try:
        quota, period = Path(path).read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return float(quota) / float(period)
    except (ValueError, ZeroDivisionError):
        return None


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity (``taskset``, a container's cpuset), capped by
    its cgroup's CPU quota, at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        cores = min(cores, max(1, math.ceil(limit)))
    return max(1, cores)


@dataclass(frozen=True)
class ThreadPolicy:
    """What :func:`apply_thread_policy` set: the thread count, the wait policy and whether the wait
    policy reaches the OpenMP runtime (False when torch was already loaded with another one)."""

    num_threads: int
    wait_policy: str
    wait_policy_effective: bool

    def describe(self) -> str:
        policy = self.wait_policy or os.environ.get("OMP_WAIT_POLICY", "the OpenMP default")
        note = "" if self.wait_policy_effective else " (not applied: torch was loaded before)"
        return f"{self.num_threads} CPU threads, OpenMP wait policy {policy}{note}"


def apply_thread_policy(num_threads: int = 0, wait_policy: str = DEFAULT_WAIT_POLICY) -> ThreadPolicy:
    """Set the CPU thread count (0 = :func:`available_cores`) and the OpenMP wait policy
    (``"passive"``, ``"active"``, ``""`` = leave ``OMP_WAIT_POLICY`` as it is).

    Before torch is loaded: sets ``OMP_WAIT_POLICY`` (and Intel OpenMP's ``KMP_BLOCKTIME``, 0 for
    passive), ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` for the process and its children. Once
    torch is loaded: ``torch.set_num_threads``; the wait policy then stays the one torch started
    with. Call it before and after loading a model. Raises ``ValueError`` naming the argument.
    """
    if int(num_threads) < 0:
        raise ValueError(f"num_threads: must be >= 0 (0 = the available cores), got {num_threads}")
    policy = str(wait_policy).strip().lower()
    if policy not in WAIT_POLICIES:
        raise ValueError(f"wait_policy: expected one of 'passive', 'active' or '' (the environment's), "
                         f"got {wait_policy!r}")
    threads = int(num_threads) or available_cores()
    torch = sys.modules.get("torch")
    effective = True
    if torch is None:
        if policy:
            os.environ["OMP_WAIT_POLICY"] = policy.upper()
            os.environ["KMP_BLOCKTIME"] = "0" if policy == "passive" else "200"
        os.environ["OMP_NUM_THREADS"] = str(threads)
        os.environ["MKL_NUM_THREADS"] = str(threads)
    else:
        effective = not policy or os.environ.get("OMP_WAIT_POLICY", "").lower() == policy
        torch.set_num_threads(threads)
    return ThreadPolicy(threads, policy, effective)
