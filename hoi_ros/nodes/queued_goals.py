"""Action goals served through a :class:`hoi_ros.core.queue.GenerationQueue`: one execute path for
every node that queues generation jobs (the generator and PAM nodes).

Each goal's job is kept by goal id so a cancel reaches it (a waiting job ends at once, a running one
within a step); feedback maps each stage's steps into an overall fraction (``spans``); every goal is
answered, an unexpected error as an aborted result, and the node keeps serving.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from rclpy.action import CancelResponse

from hoi_ros.core.queue import GenerationQueue, Job, JobOutcome


class QueuedGoals:
    """The running and waiting goals of one action server, by goal id."""

    def __init__(self, spans: Mapping[str, tuple[float, float]], result_type: Any, feedback_type: Any,
                 logger: Any) -> None:
        self.spans, self.result_type, self.feedback_type, self.logger = spans, result_type, feedback_type, logger
        self._jobs: dict[bytes, Job] = {}
        self._lock = threading.Lock()

    def cancel(self, goal_handle: Any, queue: GenerationQueue | None) -> CancelResponse:
        """Cancel the goal's job (the action server's cancel callback)."""
        with self._lock:
            job = self._jobs.get(bytes(goal_handle.goal_id.uuid))
        if job is not None and queue is not None:
            queue.cancel(job)  # a waiting job ends now; a running one within a step
        return CancelResponse.ACCEPT

    def execute(self, goal_handle: Any, generate: Callable[[Any, Callable[[Job], None]], JobOutcome],
                fill: Callable[[Any, JobOutcome, bool], Any]) -> Any:
        """Run ``generate(goal, setup)`` (validate, queue, wait) with feedback and cancel wired into
        the job by ``setup``, then ``fill`` the result; never raises."""
        try:
            return self._execute(goal_handle, generate, fill)
        except Exception as exc:  # answer the goal, keep serving
            self.logger.error(f"goal failed: {type(exc).__name__}: {exc}")
            goal_handle.abort()
            return self.result_type(success=False, message=f"generation failed: {type(exc).__name__}: {exc}",
                                    request_id=str(goal_handle.request.request_id))

    def _execute(self, goal_handle: Any, generate: Callable[[Any, Callable[[Job], None]], JobOutcome],
                 fill: Callable[[Any, JobOutcome, bool], Any]) -> Any:
        key = bytes(goal_handle.goal_id.uuid)
        state = {"progress": 0.0}

        def progress(stage: str, step: int, total: int) -> None:
            lo, hi = self.spans.get(stage, (state["progress"], state["progress"]))
            frac = lo + (hi - lo) * (step / total if total > 0 else 1.0)
            state["progress"] = max(state["progress"], frac) if stage != "queued" else 0.0
            goal_handle.publish_feedback(self.feedback_type(
                stage=stage, step=max(int(step), 0), total_steps=max(int(total), 0),
                progress=float(state["progress"])))

        def setup(job: Job) -> None:
            job.progress = progress
            with self._lock:
                self._jobs[key] = job
            if goal_handle.is_cancel_requested:
                job.cancel.set()

        try:
            outcome = generate(goal_handle.request, setup)
        finally:
            with self._lock:
                self._jobs.pop(key, None)
        result = fill(self.result_type(), outcome, bool(goal_handle.request.return_video))
        if outcome.cancelled and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif outcome.success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result
