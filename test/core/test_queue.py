"""The ROS-free model worker: bounded queue, failures as outcomes, complete-or-nothing folders.

The generators here are small real implementations of the HOIGenerator protocol that fail or
block in controlled ways; the node-level tests use SViMo itself.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from hoi_ros.core.generation import GenerationCancelled, GenerationRequest, GeneratorLimits
from hoi_ros.core.queue import DuplicateRequest, GenerationQueue, Job, QueueFull, describe_error
from hoi_ros.core.synthetic import reach_grasp_lift


def _request(seed: int = 0) -> GenerationRequest:
    return GenerationRequest(np.zeros((4, 4, 3), np.uint8), "p", 3, 2, seed, 1.0)


class GatedGenerator:
    """Emits one progress step, then waits on ``gate`` (or cancel); returns a kinematic sequence."""

    limits = GeneratorLimits()

    def __init__(self, error: BaseException | None = None) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.error = error

    def generate(self, request, progress=None, cancel=None):
        self.started.set()
        if progress:
            progress("denoising", 1, 2)
        while not self.gate.wait(0.01):
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled("after step 1")
        if self.error is not None:
            raise self.error
        seq = reach_grasp_lift(num_frames=request.num_frames, image_size=(16, 24), num_object_points=8)
        return seq.with_video(seq.render_motion())


def test_queue_bound_cancel_and_complete_folders(tmp_path) -> None:
    gen = GatedGenerator()
    queue = GenerationQueue(gen, tmp_path, queue_size=1).start()
    try:
        stages: list[tuple] = []
        first = Job("first", _request(), progress=lambda *a: stages.append(a))
        queue.submit(first)
        assert gen.started.wait(5)
        second = Job("second", _request())
        queue.submit(second)
        with pytest.raises(QueueFull, match="busy"):
            queue.submit(Job("third", _request()))
        with pytest.raises(DuplicateRequest, match="request_id: 'second' is already in flight"):
            queue.submit(Job("second", _request()))
        second.cancel.set()  # cancelled while waiting: never starts
        gen.gate.set()
        out = first.wait(30)
        assert out.success, out.message
        assert stages[0] == ("queued", 0, 2) and ("denoising", 1, 2) in stages and stages[-1] == ("writing", 1, 1)
        assert second.wait(10).cancelled and not second.outcome.success
        assert sorted(p.name for p in tmp_path.iterdir()) == ["first"]
        assert sorted(p.name for p in (tmp_path / "first").iterdir()) == ["first.mp4", "first.npz"]
        with pytest.raises(DuplicateRequest, match="already has an output folder"):
            queue.submit(Job("first", _request()))
        # Cancelling the running job stops it within a step and leaves no folder.
        gen.gate.clear()
        gen.started.clear()
        run = Job("run", _request())
        queue.submit(run)
        assert gen.started.wait(5)
        run.cancel.set()
        assert run.wait(5).cancelled
        assert not (tmp_path / "run").exists()
    finally:
        gen.gate.set()
        queue.stop()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "GPU out of memory: CUDA out of memory"),
        (ValueError("bad latent shape"), "generation failed: ValueError: bad latent shape"),
    ],
)
def test_model_errors_become_failed_outcomes_and_worker_survives(tmp_path, error, expected) -> None:
    gen = GatedGenerator(error=error)
    gen.gate.set()
    queue = GenerationQueue(gen, tmp_path, queue_size=0).start()
    try:
        out = queue.submit(job := Job("bad", _request())) or job.wait(10)
        assert not out.success and out.message.startswith(expected)
        assert list(tmp_path.iterdir()) == []
        gen.error = None
        ok = Job("good", _request())
        queue.submit(ok)
        assert ok.wait(30).success
    finally:
        queue.stop()


def test_torch_oom_is_named() -> None:
    import torch

    assert describe_error(torch.cuda.OutOfMemoryError("boom")).startswith("GPU out of memory")


def test_a_queued_job_cancels_at_once_and_frees_its_place(tmp_path) -> None:
    gen = GatedGenerator()
    done: list[str] = []
    queue = GenerationQueue(gen, tmp_path, queue_size=1).start()
    try:
        running = Job("running", _request())
        queue.submit(running)
        assert gen.started.wait(5)
        waiting = Job("waiting", _request(), on_done=lambda job: done.append(job.request_id))
        queue.submit(waiting)
        with pytest.raises(QueueFull):
            queue.submit(Job("refused", _request()))
        assert queue.cancel(waiting) is True
        # Ended now, while the running job still holds the worker.
        outcome = waiting.wait(0)
        assert outcome is not None and outcome.cancelled and not outcome.success
        assert outcome.message == "cancelled while queued" and done == ["waiting"]
        assert not gen.gate.is_set() and running.outcome is None
        queue.submit(Job("next", _request()))  # its place is free again
        assert queue.in_flight == 2
        assert queue.cancel(running) is False  # running: only its event is set
        assert running.wait(5).cancelled
    finally:
        gen.gate.set()
        queue.stop()


def test_request_id_with_a_dot_names_its_files(tmp_path) -> None:
    gen = GatedGenerator()
    gen.gate.set()
    queue = GenerationQueue(gen, tmp_path, queue_size=1).start()
    try:
        job = Job("v1.2", _request())
        queue.submit(job)
        out = job.wait(30)
        assert out.success, out.message
        assert out.video_path == str(tmp_path / "v1.2" / "v1.2.mp4")
        assert out.sequence_path == str(tmp_path / "v1.2" / "v1.2.npz")
        assert sorted(p.name for p in (tmp_path / "v1.2").iterdir()) == ["v1.2.mp4", "v1.2.npz"]
    finally:
        queue.stop()


def test_start_removes_partial_folders_of_a_killed_process(tmp_path) -> None:
    stale = tmp_path / ".old.partial"
    stale.mkdir()
    (stale / "old.mp4").write_bytes(b"half")
    kept = tmp_path / "done"
    kept.mkdir()
    queue = GenerationQueue(GatedGenerator(), tmp_path, queue_size=0).start()
    queue.stop()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done"]
