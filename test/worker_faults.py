"""Episode jobs that kill their own worker process (SIGKILL), for the dataset writer's tests.

They live in a module on pytest's ``pythonpath`` (not in a test file) so that the dataset's
spawned workers can import them by name.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any


def kill_worker_once(args: tuple[int, int, dict[str, Any], str]) -> Any:
    """Run the episode, except that the first run of episode 1 kills its worker."""
    from hoi_ros.sim.dataset import _episode_job

    marker = Path(args[3]).parent / f"killed_{args[1]}"
    if args[1] == 1 and not marker.exists():
        marker.write_text("")
        os.kill(os.getpid(), signal.SIGKILL)
    return _episode_job(args)


def kill_worker_always(args: tuple[int, int, dict[str, Any], str]) -> Any:
    """Run the episode, except that every run of episode 1 kills its worker."""
    from hoi_ros.sim.dataset import _episode_job

    if args[1] == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return _episode_job(args)
