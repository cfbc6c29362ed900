"""One model worker behind a bounded queue, and complete-or-nothing output folders (ROS-free).

``/hoi/generate`` (service and action) hands validated requests to a :class:`GenerationQueue`.
One worker thread runs them in order on the loaded :class:`~hoi_ros.core.generation.HOIGenerator`
(the model is loaded once; GPU memory allows one sampler at a time). At most ``queue_size``
requests wait behind the running one; a request beyond that is refused at once with
:class:`QueueFull` ("busy"), so no caller ever waits behind an unbounded backlog.

Each successful request writes ``<output_root>/<request_id>/<request_id>.mp4`` (the generated
video) and ``<request_id>.npz`` (the sequence, :meth:`HOISequence.save` format). The files are
written into a hidden ``.<request_id>.partial`` folder that is renamed into place when both are
complete, so ``<output_root>/<request_id>`` only ever holds complete files; a failed or cancelled
request leaves nothing behind, and :meth:`GenerationQueue.start` removes the ``.partial`` folders a
killed process left. A request id may contain dots (``v1.2``): the files are ``v1.2.mp4`` and
``v1.2.npz``.

A job cancelled while it waits (:meth:`GenerationQueue.cancel`) ends at once and frees its place in
the queue; a running one stops within one generator step.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hoi_ros.core.generation import GenerationCancelled, GenerationRequest, HOIGenerator, ProgressCallback
from hoi_ros.core.sequence import HOISequence

LOG = logging.getLogger(__name__)


class QueueFull(RuntimeError):
    """The queue holds ``queue_size`` waiting requests already."""


class DuplicateRequest(ValueError):
    """A request id that is in flight or whose output folder exists; the message names the field."""


@dataclass
class JobOutcome:
    """What happened to a request."""

    success: bool
    message: str
    request_id: str
    seed: int
    cancelled: bool = False
    video_path: str = ""
    sequence_path: str = ""
    sequence: HOISequence | None = None
    seconds: float = 0.0


@dataclass(eq=False)
class Job:
    """A request in the queue; ``done`` is set once ``outcome`` is filled in (compared by identity)."""

    request_id: str
    request: GenerationRequest
    progress: ProgressCallback | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    outcome: JobOutcome | None = None
    on_done: Callable[[Job], None] | None = None

    def wait(self, timeout: float | None = None) -> JobOutcome | None:
        self.done.wait(timeout)
        return self.outcome


def describe_error(exc: BaseException) -> str:
    """A one-line failure reason; GPU and host out-of-memory errors are named as such."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if name == "OutOfMemoryError" or "out of memory" in text.lower():
        return f"GPU out of memory: {text[:300]} (try fewer frames or steps, or enable model CPU offload)"
    if isinstance(exc, MemoryError):
        return f"host out of memory: {text[:300]}"
    return f"generation failed: {name}: {text[:500]}"


def _release_memory(generator: HOIGenerator) -> None:
    """Let the generator return cached accelerator memory after a failure (its ``release_memory``)."""
    release = getattr(generator, "release_memory", None)
    if release is not None:
        try:
            release()
        except Exception:
            LOG.exception("release_memory failed")


class GenerationQueue:
    """A bounded FIFO of :class:`Job` served by one worker thread calling ``generator``."""

    def __init__(
        self, generator: HOIGenerator, output_root: str | os.PathLike, queue_size: int, video_quality: int = 18,
        extra_files: Callable[[Path, str, HOISequence], None] | None = None,
    ) -> None:
        """``extra_files(folder, request_id, sequence)`` may write more files (e.g. a recording) into
        the request's ``.partial`` folder before it is renamed into place."""
        if queue_size < 0:
            raise ValueError(f"queue_size: must be >= 0, got {queue_size}")
        self.generator = generator
        self.output_root = Path(output_root).expanduser().resolve()
        self.queue_size = int(queue_size)
        self.video_quality = int(video_quality)
        self.extra_files = extra_files
        self._pending: deque[Job] = deque()
        self._running: Job | None = None
        self._ids: set[str] = set()
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="hoi-model-worker", daemon=True)

    def start(self) -> GenerationQueue:
        """Create ``output_root``, remove stale ``.partial`` folders, start the worker."""
        self.output_root.mkdir(parents=True, exist_ok=True)
        for stale in remove_partial_folders(self.output_root):
            LOG.warning("removed %s, left by an interrupted request", stale)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel everything, let the worker finish its step and exit."""
        with self._cond:
            self._stop = True
            for job in [*self._pending, *([self._running] if self._running else [])]:
                job.cancel.set()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def cancel(self, job: Job) -> bool:
        """Cancel ``job``: a waiting one ends now (``cancelled``) and frees its place; a running one
        gets its ``cancel`` event and stops within a step. Returns True when it was still waiting."""
        with self._cond:
            job.cancel.set()
            if job not in self._pending:
                return False
            self._pending.remove(job)
            self._ids.discard(job.request_id)
            job.outcome = JobOutcome(False, "cancelled while queued", job.request_id, job.request.seed,
                                     cancelled=True)
            self._cond.notify_all()
        self._finish(job)
        return True

    @property
    def in_flight(self) -> int:
        with self._cond:
            return len(self._pending) + (self._running is not None)

    def submit(self, job: Job) -> None:
        """Queue ``job``; :class:`QueueFull` when busy, :class:`DuplicateRequest` for a reused id."""
        with self._cond:
            if self._stop:
                raise QueueFull("shutting down")
            if job.request_id in self._ids:
                raise DuplicateRequest(f"request_id: {job.request_id!r} is already in flight")
            if len(self._pending) + (self._running is not None) > self.queue_size:
                raise QueueFull(
                    f"busy: {self.queue_size} request(s) already waiting behind the running one "
                    f"(queue_size = {self.queue_size}); try again later"
                )
            if (self.output_root / job.request_id).exists():
                raise DuplicateRequest(
                    f"request_id: {job.request_id!r} already has an output folder in {self.output_root}"
                )
            ahead = len(self._pending) + (self._running is not None)
            self._ids.add(job.request_id)
            self._pending.append(job)
            if job.progress is not None:  # before the worker can pick it up: "queued" comes first
                job.progress("queued", ahead, self.queue_size + 1)
            self._cond.notify_all()

    # ----------------------------------------------------------------- worker
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if self._stop and not self._pending:
                    return
                job = self._pending.popleft()
                self._running = job
            try:
                job.outcome = self._run(job)
            except BaseException as exc:
                LOG.exception("request %s: unexpected error", job.request_id)
                job.outcome = JobOutcome(False, describe_error(exc), job.request_id, job.request.seed)
            with self._cond:
                self._running = None
                self._ids.discard(job.request_id)
            self._finish(job)

    @staticmethod
    def _finish(job: Job) -> None:
        job.done.set()
        if job.on_done is not None:
            try:
                job.on_done(job)
            except Exception:
                LOG.exception("request %s: on_done callback failed", job.request_id)

    def _run(self, job: Job) -> JobOutcome:
        req = job.request
        start = time.monotonic()
        if job.cancel.is_set():
            return JobOutcome(False, "cancelled before it started", job.request_id, req.seed, cancelled=True)
        try:
            seq = self.generator.generate(req, progress=job.progress, cancel=job.cancel)
        except GenerationCancelled as exc:
            return JobOutcome(False, f"cancelled: {exc}".rstrip(": "), job.request_id, req.seed, cancelled=True)
        except BaseException as exc:
            LOG.exception("request %s: generator failed", job.request_id)
            _release_memory(self.generator)
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            return JobOutcome(False, describe_error(exc), job.request_id, req.seed)
        if not isinstance(seq, HOISequence):
            return JobOutcome(
                False, f"generation failed: generator returned {type(seq).__name__}, not an HOISequence",
                job.request_id, req.seed,
            )
        if job.cancel.is_set():
            return JobOutcome(False, "cancelled", job.request_id, req.seed, cancelled=True)
        seq.metadata = {
            **seq.metadata,
            "request_id": job.request_id,
            "seed": req.seed,
            "num_inference_steps": req.num_inference_steps,
            # Only requests that have it (a ConditionRequest, PAM's, has no guidance).
            **({"guidance_scale": req.guidance_scale} if hasattr(req, "guidance_scale") else {}),
        }
        if job.progress is not None:
            job.progress("writing", 0, 1)
        try:
            video_path, npz_path = self._write(job.request_id, seq)
        except Exception as exc:
            LOG.exception("request %s: writing failed", job.request_id)
            return JobOutcome(False, f"writing the output failed: {type(exc).__name__}: {exc}",
                              job.request_id, req.seed)
        if job.progress is not None:
            job.progress("writing", 1, 1)
        seconds = time.monotonic() - start
        return JobOutcome(
            True,
            f"generated {seq.num_frames} frames at {seq.camera.width}x{seq.camera.height} with "
            f"{req.num_inference_steps} steps in {seconds:.1f} s",
            job.request_id, req.seed, video_path=video_path, sequence_path=npz_path, sequence=seq,
            seconds=seconds,
        )

    def _write(self, request_id: str, seq: HOISequence) -> tuple[str, str]:
        with request_folder(self.output_root, request_id) as partial:
            # The full file name, not the stem: a dot in the id ("v1.2") is not a suffix.
            seq.save(partial / f"{request_id}.npz", video_quality=self.video_quality)
            if self.extra_files is not None:
                self.extra_files(partial, request_id, seq)
        final = self.output_root / request_id
        npz = final / f"{request_id}.npz"
        video = final / f"{request_id}.mp4"
        if not npz.is_file() or (seq.video is not None and not video.is_file()):
            raise FileNotFoundError(f"{final} lacks {npz.name} or {video.name} after writing")
        return (str(video) if seq.video is not None else ""), str(npz)


@contextlib.contextmanager
def request_folder(output_root: str | os.PathLike, request_id: str) -> Iterator[Path]:
    """Write a request's outputs complete or not at all: yields the hidden ``.<request_id>.partial``
    folder, renamed to ``<request_id>`` when the block ends without an error (never over an existing
    folder), removed when it raises."""
    root = Path(output_root)
    final, partial = root / request_id, root / f".{request_id}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
        os.rename(partial, final)  # fails if final appeared meanwhile: never overwrite
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def remove_partial_folders(output_root: str | os.PathLike) -> list[Path]:
    """Remove the ``.<request_id>.partial`` folders in ``output_root`` (left by a killed process)."""
    removed = []
    for path in sorted(Path(output_root).glob(".*.partial")):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
