"""What input a trained SViMo model covers: warnings for a reference image or a prompt unlike its
training data.

SViMo (§3.3) conditions G_θ on the reference image's latent z_I = E(I) and the prompt's text
features; a small model trained on one data distribution (the embedded default: MuJoCo sim
episodes from one ego camera, prompts from a handful of task templates) still returns *something*
for any input, and nothing in its output says that the input was outside what it learnt. This
module says so, cheaply, before any denoising:

- **Image** (:class:`ImageStatistics`): the reference image is brought to the statistics' size
  exactly as the generator brings it to its video size (:func:`hoi_ros.diffusion.image.prepare_image`:
  scale to cover, centre crop), then described by a small feature vector — the mean colour and the
  mean luminance-gradient magnitude of each cell of a coarse grid (where things are, how textured
  they are). Each feature is compared with its mean and standard deviation over the first frames
  of the training episodes (the images z_I was computed from in training); the score is the RMS
  of those z-scores, with a floor on the standard deviation so that features the sim never varies
  (the wall behind the table) do not turn a small colour shift into a large score. A score above
  ``threshold`` is a warning. The threshold is chosen between held-out sim renders and real
  photos (:func:`choose_threshold`) by the command that writes the statistics, and stored with them.
- **Camera** (:class:`CameraCoverage`): a request may give the reference image's camera, which
  then renders the closed loop's motion video (``Proj`` of Eq. 7). The training episodes' cameras
  and a sample of their 3D points (hand joints, object points) are stored; a request camera (at
  the video size) that moves those points in the image (RMS) by more than ``tolerance`` times
  their spread there, away from where every training camera puts them, renders a guidance video
  from a view the model never saw, and is a warning. The embedded default was trained with one
  fixed camera.
- **Prompt** (:class:`Vocabulary`): the training prompts are parsed into verbs (the first word of
  each clause), object nouns (the last word of each noun phrase), their modifiers (colours,
  "rolling") and other words; a prompt is parsed the same way and each verb, object or modifier the
  training prompts never contain is a warning ("lift the green banana" → unknown object "banana";
  "juggle the mug" → unknown verb "juggle").

All three are stored in one small JSON file beside the model, ``<model folder>/input_coverage.json``
(:data:`COVERAGE_FILE`), with the command that wrote it and the calibration numbers. Written by::

    CONFIG=config/recipes/sim_dataset_embedded_default.yaml
    python -m hoi_ros.sim.dataset out/coverage/train -n 240 --seed 0 --config $CONFIG
    python -m hoi_ros.sim.dataset out/coverage/val -n 40 --seed 1000 --config $CONFIG
    python -m hoi_ros.sim.dataset out/coverage/test -n 60 --seed 2000 --config $CONFIG
    python -m hoi_ros.svimo.coverage --train out/coverage/train --held-out out/coverage/val \\
        --test out/coverage/test --real ../shared/data/real_hand/human_hand_video.mp4 --size 64x96 \\
        --out models/svimo_tiny/input_coverage.json

(the seeds and configuration of the embedded default's training, validation and test splits,
``config/recipes/svimo_embedded_default.yaml``; ``--test`` only adds a report on further held-out
sets, not used for the threshold; docs/svimo.md states the numbers). A warning never stops a
generation: the request is still served, and the warnings travel in the sequence's
``metadata["warnings"]`` and the ``/hoi/generate`` response.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

COVERAGE_FILE = "input_coverage.json"
FORMAT = "hoi_ros.input_coverage"
VERSION = 1

# English function words that separate a prompt's parts (grammar, not vocabulary): clause breaks,
# determiners and pronouns (start or replace a noun phrase), particles and prepositions (end one).
CLAUSE_BREAKS = frozenset({"and", "then"})
DETERMINERS = frozenset({"the", "a", "an", "this", "that", "these", "those", "my", "your", "its", "his", "her",
                         "their", "our", "some", "one"})
PRONOUNS = frozenset({"it", "them", "him", "me", "itself"})
PARTICLES = frozenset({"up", "down", "forward", "forwards", "backward", "backwards", "back", "across", "on", "onto",
                       "over", "into", "in", "inside", "to", "toward", "towards", "from", "off", "out", "with", "at",
                       "by", "next", "near", "under", "above", "below", "around", "away", "along", "through",
                       "behind", "beside", "between", "of", "for",
                       # directions, like "forward": "turn it clockwise", "push it to the left"
                       "left", "right", "straight", "clockwise", "counterclockwise", "anticlockwise"})
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


# ---------------------------------------------------------------------------------------- prompts
@dataclass(frozen=True)
class ParsedPrompt:
    """A prompt's parts: verbs (each clause's first word), noun phrases as (modifiers, head)."""

    verbs: tuple[str, ...]
    phrases: tuple[tuple[tuple[str, ...], str], ...]
    other: tuple[str, ...]


def parse_prompt(prompt: str) -> ParsedPrompt:
    """Split ``prompt`` into clauses (at "and", "then", punctuation), take each clause's first word as
    its verb (unless it is a function word), and the runs of words between function words as noun
    phrases (last word = the head, e.g. the object; the words before it its modifiers). Lower case;
    words are ``[a-z]+``."""
    verbs: list[str] = []
    phrases: list[tuple[tuple[str, ...], str]] = []
    other: list[str] = []
    for clause in re.split(r"[,.;:!?]", prompt.lower()):
        words = _WORD.findall(clause)
        start = 0
        for i in range(len(words) + 1):
            if i < len(words) and words[i] not in CLAUSE_BREAKS:
                continue
            part = words[start:i]
            start = i + 1
            if not part:
                continue
            function_word = part[0] in DETERMINERS or part[0] in PRONOUNS or part[0] in PARTICLES
            if not function_word:  # a clause that starts with "the ..." has no verb
                verbs.append(part[0])
            run: list[str] = []
            for word in [*(part if function_word else part[1:]), "."]:
                if word == "." or word in DETERMINERS or word in PRONOUNS or word in PARTICLES:
                    if run:
                        phrases.append((tuple(run[:-1]), run[-1]))
                        run = []
                    if word != ".":
                        other.append(word)
                else:
                    run.append(word)
    return ParsedPrompt(tuple(verbs), tuple(phrases), tuple(other))


@dataclass(frozen=True)
class Vocabulary:
    """The verbs, object nouns and modifiers of a model's training prompts (see the module docstring).

    ``objects`` are the full object names for messages ("rolling pin"); ``heads`` what the parser
    takes as a noun phrase's last word ("pin", and "table" of "across the table").
    """

    verbs: frozenset[str]
    heads: frozenset[str]
    modifiers: frozenset[str]
    objects: tuple[str, ...] = ()

    @classmethod
    def from_prompts(cls, prompts: Iterable[str], objects: Sequence[str] = ()) -> Vocabulary:
        """The vocabulary of ``prompts`` (the training prompts), parsed by :func:`parse_prompt`."""
        verbs: set[str] = set()
        heads: set[str] = set()
        modifiers: set[str] = set()
        count = 0
        for prompt in prompts:
            parsed = parse_prompt(prompt)
            verbs.update(parsed.verbs)
            for mods, head in parsed.phrases:
                heads.add(head)
                modifiers.update(mods)
            count += 1
        if not count:
            raise ValueError("prompts: no training prompts to take a vocabulary from")
        return cls(frozenset(verbs), frozenset(heads), frozenset(modifiers), tuple(sorted(set(objects))))

    def check(self, prompt: str) -> list[str]:
        """One warning per verb, object or modifier of ``prompt`` the training prompts never contain."""
        parsed = parse_prompt(prompt)
        warnings: list[str] = []
        seen: set[tuple[str, str]] = set()

        def add(kind: str, word: str, text: str) -> None:
            if (kind, word) not in seen:
                seen.add((kind, word))
                warnings.append(text)

        known_verbs = ", ".join(sorted(self.verbs))
        known_objects = ", ".join(self.objects or sorted(self.heads))
        for verb in parsed.verbs:
            if verb not in self.verbs:
                add("verb", verb, f"prompt: unknown verb {verb!r}; the model was trained on the verbs {known_verbs}")
        for mods, head in parsed.phrases:
            if head not in self.heads:
                add("object", head, f"prompt: unknown object {head!r}; the model was trained on {known_objects}")
            for mod in mods:
                if mod not in self.modifiers and mod not in self.heads:
                    add("modifier", mod, f"prompt: unknown word {mod!r} (describing {head!r}); the training "
                        f"prompts describe objects by {', '.join(sorted(self.modifiers))}")
        return warnings

    def to_dict(self) -> dict[str, Any]:
        return {"verbs": sorted(self.verbs), "heads": sorted(self.heads), "modifiers": sorted(self.modifiers),
                "objects": list(self.objects)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Vocabulary:
        return cls(frozenset(d["verbs"]), frozenset(d["heads"]), frozenset(d["modifiers"]),
                   tuple(d.get("objects", ())))


# ----------------------------------------------------------------------------------------- images
def image_features(image: np.ndarray, height: int, width: int, grid: tuple[int, int]) -> np.ndarray:
    """The feature vector of an RGB ``[H, W, 3] uint8`` image at ``height`` x ``width`` (the model's
    pre-processing: scale to cover, centre crop): per cell of a ``grid`` (rows, columns), the mean
    R, G, B and the mean luminance-gradient magnitude, all in [0, 1] units."""
    from hoi_ros.diffusion.image import prepare_image

    rows, cols = grid
    if height % rows or width % cols:
        raise ValueError(f"grid: {rows}x{cols} must divide the size {height}x{width}")
    x = prepare_image(np.asarray(image), height, width).numpy().astype(np.float64) / 255.0
    luma = x @ np.array([0.299, 0.587, 0.114])
    gy, gx = np.zeros_like(luma), np.zeros_like(luma)
    gy[1:-1] = 0.5 * (luma[2:] - luma[:-2])
    gx[:, 1:-1] = 0.5 * (luma[:, 2:] - luma[:, :-2])
    grad = np.hypot(gx, gy)
    ch, cw = height // rows, width // cols
    colour = x.reshape(rows, ch, cols, cw, 3).mean(axis=(1, 3)).reshape(-1)
    texture = grad.reshape(rows, ch, cols, cw).mean(axis=(1, 3)).reshape(-1)
    return np.concatenate([colour, texture])


@dataclass(frozen=True)
class ImageStatistics:
    """Per-feature mean and standard deviation of the training reference images, and the threshold
    on the RMS z-score above which an image is reported as unlike them (module docstring)."""

    height: int
    width: int
    grid: tuple[int, int]
    mean: np.ndarray
    std: np.ndarray
    std_floor: float
    threshold: float
    num_images: int = 0

    def features(self, image: np.ndarray) -> np.ndarray:
        return image_features(image, self.height, self.width, self.grid)

    def score(self, image: np.ndarray) -> float:
        """RMS over the features of (feature − mean) / √(std² + floor²)."""
        z = (self.features(image) - self.mean) / np.sqrt(self.std**2 + self.std_floor**2)
        return float(np.sqrt(np.mean(z**2)))

    def check(self, image: np.ndarray) -> list[str]:
        """A warning when the image's score exceeds the threshold, else none."""
        score = self.score(image)
        if score <= self.threshold:
            return []
        return [f"image: far from the model's training images (score {score:.2f} > threshold {self.threshold:.2f}, "
                f"the RMS z-score of its colour and texture layout against {self.num_images} training "
                "reference images); expect output unlike the request"]

    @classmethod
    def fit(cls, images: Iterable[np.ndarray], height: int, width: int, grid: tuple[int, int],
            std_floor: float) -> ImageStatistics:
        """Mean and standard deviation of the features of ``images`` (threshold still unset: inf)."""
        feats = np.stack([image_features(im, height, width, grid) for im in images])
        if len(feats) < 2:
            raise ValueError("images: at least two training images are needed")
        return cls(height, width, tuple(grid), feats.mean(axis=0), feats.std(axis=0, ddof=1), float(std_floor),
                   float("inf"), len(feats))

    def to_dict(self) -> dict[str, Any]:
        return {"size": [self.height, self.width], "grid": list(self.grid), "std_floor": self.std_floor,
                "threshold": self.threshold, "num_images": self.num_images,
                "features": "per grid cell (row-major): mean R, G, B, then per cell the mean luminance-gradient "
                            "magnitude; [0, 1] units",
                "mean": [round(float(v), 6) for v in self.mean], "std": [round(float(v), 6) for v in self.std]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageStatistics:
        mean, std = np.asarray(d["mean"], dtype=np.float64), np.asarray(d["std"], dtype=np.float64)
        rows, cols = (int(v) for v in d["grid"])
        if mean.shape != std.shape or mean.shape != (rows * cols * 4,):
            raise ValueError(f"image: mean/std must have {rows * cols * 4} values for a {rows}x{cols} grid")
        return cls(int(d["size"][0]), int(d["size"][1]), (rows, cols), mean, std, float(d["std_floor"]),
                   float(d["threshold"]), int(d.get("num_images", 0)))


def choose_threshold(held_out_sim: Sequence[float], real: Sequence[float]) -> float:
    """The threshold between the held-out sim scores and the real photos' scores: the geometric mean
    of the highest sim score and the lowest real score. Raises if the two sets overlap (then no
    threshold separates them and the features must change)."""
    hi, lo = max(held_out_sim), min(real)
    if not hi < lo:
        raise ValueError(f"threshold: held-out sim scores reach {hi:.3f}, real photos go down to {lo:.3f}; "
                         "no threshold separates them")
    return float(np.sqrt(hi * lo))


# ---------------------------------------------------------------------------------------- cameras
@dataclass(frozen=True)
class CameraCoverage:
    """The training episodes' cameras (at ``width`` x ``height``) and a sample of their 3D points."""

    width: int
    height: int
    cameras: tuple[tuple[np.ndarray, np.ndarray], ...]  # (intrinsics 3x3, extrinsics 4x4)
    points: np.ndarray  # [N, 3] world metres
    tolerance: float  # largest displacement (RMS, relative to the points' spread in the image) covered

    def displacement(self, camera: Any) -> float:
        """How far ``camera`` (any size of the same aspect: scaled to this one) moves the stored points
        in the image from where the nearest training camera puts them: the RMS of the displacements
        over the RMS spread of the training camera's projections about their mean (0 = the same
        view; 1 = moved by as much as the points are spread). Points in front of the training camera
        but behind ``camera`` are left out; more than half of them so gives infinity."""
        from hoi_ros.core.camera import Camera

        sx, sy = self.width / camera.width, self.height / camera.height
        a = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
        request = Camera(self.width, self.height, a @ camera.intrinsics, camera.extrinsics)
        uv, depth = request.project(self.points)
        best = float("inf")
        for k, ext in self.cameras:
            uv0, depth0 = Camera(self.width, self.height, k, ext).project(self.points)
            seen = depth0 > 0
            both = seen & (depth > 0)
            if both.sum() < 0.5 * seen.sum() or both.sum() < 2:
                continue
            spread = np.sqrt(np.mean(np.sum((uv0[seen] - uv0[seen].mean(axis=0)) ** 2, axis=-1)))
            moved = np.sqrt(np.mean(np.sum((uv[both] - uv0[both]) ** 2, axis=-1)))
            best = min(best, float(moved / spread))
        return best

    def check(self, camera: Any) -> list[str]:
        d = self.displacement(camera)
        if d <= self.tolerance:
            return []
        moved = "most of them behind it" if not np.isfinite(d) else f"moved by {d:.2f} of their spread"
        return [f"camera: unlike the model's training camera{'s' if len(self.cameras) > 1 else ''} (the training "
                f"data's 3D points seen through it: {moved}, > {self.tolerance:.2f}); the closed loop's guidance "
                "video is rendered from a view the model never saw"]

    def to_dict(self) -> dict[str, Any]:
        return {"size": [self.height, self.width], "tolerance": self.tolerance,
                "cameras": [{"intrinsics": np.round(k, 6).tolist(), "extrinsics": np.round(e, 8).tolist()}
                            for k, e in self.cameras],
                "points": np.round(np.asarray(self.points, dtype=np.float64), 5).tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CameraCoverage:
        cams = tuple((np.asarray(c["intrinsics"], dtype=np.float64), np.asarray(c["extrinsics"], dtype=np.float64))
                     for c in d["cameras"])
        points = np.asarray(d["points"], dtype=np.float64).reshape(-1, 3)
        return cls(int(d["size"][1]), int(d["size"][0]), cams, points, float(d["tolerance"]))


# --------------------------------------------------------------------------------------- together
@dataclass(frozen=True)
class InputCoverage:
    """A model's image statistics and prompt vocabulary (either may be absent), and where they came from."""

    image: ImageStatistics | None = None
    vocabulary: Vocabulary | None = None
    camera: CameraCoverage | None = None
    source: dict[str, Any] = field(default_factory=dict)

    def check(self, image: np.ndarray | None, prompt: str | None, camera: Any = None) -> list[str]:
        """Warnings for a reference image, a prompt and a request camera (None = the model's: not
        checked); empty when all are covered."""
        warnings: list[str] = []
        if self.image is not None and image is not None:
            warnings += self.image.check(image)
        if self.camera is not None and camera is not None:
            warnings += self.camera.check(camera)
        if self.vocabulary is not None and prompt is not None:
            warnings += self.vocabulary.check(prompt)
        return warnings

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, **self.source,
                "image": None if self.image is None else self.image.to_dict(),
                "camera": None if self.camera is None else self.camera.to_dict(),
                "vocabulary": None if self.vocabulary is None else self.vocabulary.to_dict()}

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> InputCoverage:
        """Read a coverage file; ValueError naming the file when it is not one."""
        path = Path(path)
        d = json.loads(path.read_text())
        if d.get("format") != FORMAT or int(d.get("version", 0)) != VERSION:
            raise ValueError(f"{path}: not a {FORMAT} file of version {VERSION}")
        source = {k: v for k, v in d.items() if k not in ("format", "version", "image", "camera", "vocabulary")}
        return cls(None if d.get("image") is None else ImageStatistics.from_dict(d["image"]),
                   None if d.get("vocabulary") is None else Vocabulary.from_dict(d["vocabulary"]),
                   None if d.get("camera") is None else CameraCoverage.from_dict(d["camera"]), source)



def coverage_file(model: str | os.PathLike | None) -> Path | None:
    """The coverage file beside a model (in its folder, or beside a single-file checkpoint), or None."""
    if not model:
        return None
    folder = Path(model)
    path = (folder if folder.is_dir() else folder.parent) / COVERAGE_FILE
    return path if path.is_file() else None


# ------------------------------------------------------------------------------ building the file
def sim_training_prompts(dataset_config: Any) -> tuple[list[str], list[str]]:
    """Every prompt the sim dataset configuration ``dataset_config`` can give (its tasks × their
    objects × colours × targets, through the sim's own :func:`hoi_ros.sim.tasks.prompt_for`) and
    the names of those objects."""
    from hoi_ros.sim.dataset import TASK_OBJECTS, TASK_TARGETS
    from hoi_ros.sim.objects import COLORS, make_object
    from hoi_ros.sim.tasks import DIRECTION_ANGLES, prompt_for

    prompts: set[str] = set()
    names: set[str] = set()
    for task in dataset_config.tasks:
        for name in TASK_OBJECTS[task]:
            for colour in COLORS:
                obj = make_object(name, colour)
                names.add(obj.noun)
                targets = [[make_object(t, c) for c in COLORS] for t in TASK_TARGETS.get(task, ())]
                if not targets:
                    for angle in DIRECTION_ANGLES.get(task, (0.0,)):
                        prompts.add(prompt_for(task, [obj], push_angle=angle, rotate_angle=angle))
                for per_colour in targets:
                    for target in per_colour:
                        names.add(target.noun)
                        prompts.add(prompt_for(task, [obj, target]))
    return sorted(prompts), sorted(names)


@dataclass
class _Episodes:
    frames: list[np.ndarray]  # frame 0 of each episode
    prompts: list[str]
    cameras: list[Any]
    points: list[np.ndarray]  # per episode: its hand joints and object points, all frames [N, 3]
    manifest: dict[str, Any]


def _episodes(dataset: Path) -> _Episodes:
    """Frame 0 (the reference image of training, z_I), prompt, camera and 3D points of every episode."""
    from hoi_ros.core.sequence import HOISequence

    manifest = json.loads((dataset / "manifest.json").read_text())
    out = _Episodes([], [], [], [], manifest)
    for entry in manifest["episodes"]:
        seq = HOISequence.load(dataset / entry["files"]["sequence"])
        out.frames.append(seq.video[0])
        out.prompts.append(seq.prompt)
        out.cameras.append(seq.camera)
        out.points.append(np.concatenate([seq.hand_joints.reshape(-1, 3), seq.object_points.reshape(-1, 3)]))
    return out


def video_frames(path: str | os.PathLike, every: int = 1, limit: int | None = None) -> list[np.ndarray]:
    """Frames 0, every, 2·every, ... of a video as RGB ``[H, W, 3] uint8`` (streamed: only those are
    kept), at most ``limit`` of them."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    width, height = reader.__next__()["size"]
    frames: list[np.ndarray] = []
    for i, buf in enumerate(reader):
        if i % every == 0:
            frames.append(np.frombuffer(buf, dtype=np.uint8).reshape(height, width, 3).copy())
            if limit is not None and len(frames) >= limit:
                reader.close()
                break
    if not frames:
        raise ValueError(f"{path}: no frames")
    return frames


def _summary(scores: Sequence[float]) -> dict[str, float]:
    s = np.asarray(scores, dtype=np.float64)
    return {"n": int(s.size), "min": round(float(s.min()), 3), "median": round(float(np.median(s)), 3),
            "max": round(float(s.max()), 3)}


def build(args: argparse.Namespace) -> tuple[InputCoverage, dict[str, Any]]:
    """The coverage of the command line's datasets (see the module docstring); returns it and a report."""
    from hoi_ros.sim.dataset import DatasetConfig

    height, width = (int(v) for v in args.size.lower().split("x"))
    grid = tuple(int(v) for v in args.grid.lower().split("x"))
    train = _episodes(Path(args.train))
    train_frames, train_prompts, manifest = train.frames, train.prompts, train.manifest
    stats = ImageStatistics.fit(train_frames, height, width, grid, args.std_floor)
    held_frames = _episodes(Path(args.held_out)).frames
    real_frames = video_frames(args.real, args.real_every)
    calibration_real, evaluation_real = real_frames[0::2], real_frames[1::2]
    held = [stats.score(f) for f in held_frames]
    real = [stats.score(f) for f in calibration_real]
    threshold = choose_threshold(held, real)
    stats = ImageStatistics(stats.height, stats.width, stats.grid, stats.mean, stats.std, stats.std_floor,
                            round(threshold, 4), stats.num_images)
    dataset_cfg = DatasetConfig.from_dict(manifest["config"])
    prompts, objects = sim_training_prompts(dataset_cfg)
    missing = sorted(set(train_prompts) - set(prompts))
    if missing:
        raise ValueError(f"--train: prompts the configuration does not give: {missing[:3]}")
    vocabulary = Vocabulary.from_prompts(prompts, objects)
    cameras: list[tuple[np.ndarray, np.ndarray]] = []
    for cam in train.cameras:
        if (cam.width, cam.height) != (width, height):
            raise ValueError(f"--train: episode camera of {cam.width}x{cam.height}, not the --size {width}x{height}")
        if not any(np.allclose(cam.intrinsics, k) and np.allclose(cam.extrinsics, e) for k, e in cameras):
            cameras.append((cam.intrinsics, cam.extrinsics))
    rng = np.random.default_rng(0)
    every = np.concatenate(train.points)
    points = every[rng.choice(len(every), size=min(args.camera_points, len(every)), replace=False)].astype(np.float64)
    camera_cov = CameraCoverage(width, height, tuple(cameras), points, args.camera_tolerance)
    report: dict[str, Any] = {
        "held_out_sim": {"dataset": str(args.held_out), **_summary(held)},
        "real_calibration": {"video": Path(args.real).name, "frames": f"every {2 * args.real_every}th from 0",
                             **_summary(real)},
        "real_evaluation": {"video": Path(args.real).name,
                            "frames": f"every {2 * args.real_every}th from {args.real_every}",
                            **_summary([stats.score(f) for f in evaluation_real])},
    }
    for path in args.test or []:
        frames = _episodes(Path(path)).frames
        scores = [stats.score(f) for f in frames]
        report[f"test:{path}"] = {**_summary(scores), "above_threshold": int(sum(s > threshold for s in scores))}
    source = {
        "command": "python -m hoi_ros.svimo.coverage " + " ".join(args.argv),
        "training_data": {"dataset": str(args.train), "seed": manifest.get("seed"),
                          "episodes": len(train_frames), "config": manifest["config"],
                          "images": "frame 0 of each episode (the reference image z_I is computed from)",
                          "prompts": f"{len(prompts)} prompts the configuration gives (the {len(train_prompts)} "
                                     "episodes' prompts are among them)"},
        "threshold": "geometric mean of the highest held-out sim score and the lowest real calibration score",
        "camera_points": f"{len(points)} of the training episodes' hand joints and object points (all frames), "
                         "drawn with numpy seed 0",
        "calibration": report,
    }
    return InputCoverage(stats, vocabulary, camera_cov, source), report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, type=Path, help="sim dataset of the training distribution")
    ap.add_argument("--held-out", required=True, type=Path, help="held-out sim dataset (threshold)")
    ap.add_argument("--real", required=True, type=Path, help="a real video whose frames are real photos")
    ap.add_argument("--real-every", type=int, default=20, help="take every Nth frame of --real (alternately "
                    "for calibration and evaluation)")
    ap.add_argument("--test", type=Path, nargs="*", help="further held-out sim datasets, reported only")
    ap.add_argument("--size", default="64x96", help="analysis size HxW (the model's video size)")
    ap.add_argument("--grid", default="4x6", help="feature grid, rows x columns")
    ap.add_argument("--std-floor", type=float, default=0.02, help="floor on each feature's standard deviation")
    ap.add_argument("--camera-points", type=int, default=128, help="training 3D points stored for the camera check")
    ap.add_argument("--camera-tolerance", type=float, default=0.25,
                    help="how far a request camera may move those points in the image (RMS, relative to their "
                         "spread there) from where the training cameras put them")
    ap.add_argument("--out", required=True, type=Path, help="the JSON to write (beside the model)")
    args = ap.parse_args(argv)
    args.argv = [str(a) for a in argv]
    coverage, report = build(args)
    coverage.save(args.out)
    print(json.dumps({"threshold": coverage.image.threshold, **report}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
