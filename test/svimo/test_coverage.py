"""Input the model does not cover: the prompt vocabulary of the sim's training prompts and the image
statistics shipped beside the embedded default (models/svimo_tiny/input_coverage.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shared_data import REAL_HAND_VIDEO

from hoi_ros.svimo.coverage import (
    COVERAGE_FILE,
    ImageStatistics,
    InputCoverage,
    Vocabulary,
    choose_threshold,
    coverage_file,
    parse_prompt,
    sim_training_prompts,
    video_frames,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "svimo_tiny"
SIM_CONFIG = ROOT / "config" / "recipes" / "sim_dataset_embedded_default.yaml"
needs_real = pytest.mark.skipif(not REAL_HAND_VIDEO.is_file(), reason=f"{REAL_HAND_VIDEO} not present")


@pytest.fixture(scope="module")
def shipped() -> InputCoverage:
    return InputCoverage.load(SHIPPED / COVERAGE_FILE)


@pytest.fixture(scope="module")
def training_prompts() -> list[str]:
    from hoi_ros.sim.dataset import DatasetConfig

    return sim_training_prompts(DatasetConfig.from_yaml(SIM_CONFIG))[0]


def demo_image() -> np.ndarray:
    with Image.open(SHIPPED / "demo_reference.png") as im:
        return np.asarray(im.convert("RGB"))


def test_prompts_parse_into_verbs_and_noun_phrases() -> None:
    p = parse_prompt("Pick up the brown rolling pin and sweep it over the white plate.")
    assert p.verbs == ("pick", "sweep")
    assert p.phrases == ((("brown", "rolling"), "pin"), (("white",), "plate"))
    p = parse_prompt("push the red box forward across the table")
    assert p.verbs == ("push",) and [h for _, h in p.phrases] == ["box", "table"]
    p = parse_prompt("the red mug, lift it")
    assert p.verbs == ("lift",) and p.phrases == ((("red",), "mug"),)


def test_vocabulary_is_the_sims_training_prompts(training_prompts: list[str], shipped: InputCoverage) -> None:
    """Verbs and objects come from the sim's own prompt templates over the dataset's tasks and objects;
    the shipped file holds exactly that vocabulary, and no training prompt gets a warning."""
    from hoi_ros.sim.dataset import DatasetConfig

    prompts, objects = sim_training_prompts(DatasetConfig.from_yaml(SIM_CONFIG))
    vocab = Vocabulary.from_prompts(prompts, objects)
    assert {"grasp", "lift", "push", "turn", "pick", "place", "sweep"} == set(vocab.verbs)
    assert {"box", "block", "can", "ball", "mug", "pin", "bowl", "plate", "table"} == set(vocab.heads)
    assert "rolling pin" in vocab.objects and "red" in vocab.modifiers
    assert "move" not in vocab.verbs  # the goto task is not in the embedded default's training data
    assert shipped.vocabulary == vocab
    assert all(not vocab.check(p) for p in training_prompts)


@pytest.mark.parametrize(("prompt", "kind", "word"), [
    ("lift the green banana", "unknown object", "banana"),
    ("grasp the red cup and lift it up", "unknown object", "cup"),
    ("juggle the mug", "unknown verb", "juggle"),
    ("throw the blue ball", "unknown verb", "throw"),
    ("grasp the golden mug and lift it up", "unknown word", "golden"),
])
def test_unknown_objects_and_verbs_are_named(shipped: InputCoverage, prompt: str, kind: str, word: str) -> None:
    warnings = shipped.vocabulary.check(prompt)
    assert len(warnings) == 1 and warnings[0].startswith(f"prompt: {kind} '{word}'"), warnings


def test_known_prompts_give_no_warning(shipped: InputCoverage) -> None:
    for prompt in ("grasp the orange mug and lift it up", "push the red box forward across the table",
                   "pick up the yellow block and place it on the cyan bowl", "Grasp the blue can, then lift it up."):
        assert shipped.vocabulary.check(prompt) == [], prompt


def test_shipped_statistics_state_their_command_and_threshold(shipped: InputCoverage) -> None:
    """The file says how it was made, from how many sim renders, and the threshold lies between the
    held-out sim scores and the real photos' it was chosen from."""
    d = json.loads((SHIPPED / COVERAGE_FILE).read_text())
    assert d["command"].startswith("python -m hoi_ros.svimo.coverage ")
    assert d["training_data"]["seed"] == 0 and d["training_data"]["episodes"] >= 200
    stats = shipped.image
    assert stats is not None and stats.num_images == d["training_data"]["episodes"]
    assert (stats.height, stats.width) == (64, 96)  # the model's video size
    cal = d["calibration"]
    assert cal["held_out_sim"]["max"] < stats.threshold < cal["real_calibration"]["min"]
    assert cal["real_evaluation"]["min"] > stats.threshold
    assert (SHIPPED / COVERAGE_FILE).stat().st_size < 64 * 1024
    assert coverage_file(SHIPPED) == SHIPPED / COVERAGE_FILE and coverage_file(ROOT / "docs") is None


def test_held_out_sim_renders_give_no_image_warning(shipped: InputCoverage) -> None:
    """The demo's reference image (held-out test split) and a freshly simulated held-out episode's
    first frame, at the dataset's size, are covered."""
    from hoi_ros.sim.dataset import DatasetConfig, make_episode

    assert shipped.image.check(demo_image()) == []
    episode = make_episode(2000, 3, DatasetConfig.from_yaml(SIM_CONFIG))
    assert shipped.image.score(episode.sequence.video[0]) < shipped.image.threshold


@needs_real
def test_a_real_photo_gives_an_image_warning(shipped: InputCoverage) -> None:
    frame = video_frames(REAL_HAND_VIDEO, limit=1)[0]
    assert frame.shape == (720, 1280, 3)
    warnings = shipped.check(frame, "grasp the orange mug and lift it up")
    assert len(warnings) == 1 and warnings[0].startswith("image: far from the model's training images"), warnings


def test_other_unlike_images_are_flagged(shipped: InputCoverage) -> None:
    """Not only the one real video: noise, a black frame and the sim from another camera."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    black = np.zeros((64, 96, 3), np.uint8)
    for image in (noise, black, demo_image()[:, ::-1][::-1]):  # upside down: the wall at the bottom
        assert shipped.image.score(image) > shipped.image.threshold


def test_a_camera_unlike_the_training_camera_is_flagged(shipped: InputCoverage) -> None:
    """The embedded default was trained with one camera, the model's own (the sim's ego preset):
    that camera at any size is covered, a few centimetres off too; a view from the side, one from
    much farther away and one looking away from the table are not."""
    from hoi_ros.core.camera import Camera, look_at
    from hoi_ros.svimo.config import SViMoConfig

    cfg = SViMoConfig.from_yaml(ROOT / "config" / "models" / "svimo" / "embedded_default.yaml")
    cov = shipped.camera
    assert cov is not None and len(cov.cameras) == 1 and (cov.width, cov.height) == (96, 64)
    own = cfg.camera.build(96, 64)
    np.testing.assert_allclose(cov.cameras[0][0], own.intrinsics, atol=1e-5)
    np.testing.assert_allclose(cov.cameras[0][1], own.extrinsics, atol=1e-7)
    eye, target = np.array(cfg.camera.eye), np.array(cfg.camera.target)
    for camera in (own, cfg.camera.build(960, 640), Camera.from_fov(96, 64, 45.0, look_at(eye + [0.03, 0, 0], target))):
        assert shipped.check(None, None, camera) == []
    for camera in (Camera.from_fov(96, 64, 75.0, look_at([0.45, 0.1, 0.3], [0.0, 0.0, 0.05])),
                   Camera.from_fov(96, 64, 45.0, look_at(target + 2.5 * (eye - target), target)),
                   Camera.from_fov(96, 64, 45.0, look_at(eye, eye + [0.0, -1.0, 0.0]))):
        warnings = shipped.check(None, None, camera)
        assert len(warnings) == 1 and warnings[0].startswith("camera: unlike the model's training camera"), warnings


def test_threshold_lies_between_the_sets_or_is_refused() -> None:
    assert choose_threshold([0.5, 1.0], [4.0, 9.0]) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="threshold"):
        choose_threshold([0.5, 5.0], [4.0, 9.0])


def test_statistics_round_trip(tmp_path: Path, shipped: InputCoverage) -> None:
    shipped.save(tmp_path / COVERAGE_FILE)
    again = InputCoverage.load(tmp_path / COVERAGE_FILE)
    assert again.vocabulary == shipped.vocabulary and again.source == shipped.source
    np.testing.assert_array_equal(again.image.mean, shipped.image.mean)
    np.testing.assert_allclose(again.camera.points, shipped.camera.points, rtol=0, atol=1e-12)
    assert again.image.threshold == shipped.image.threshold
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match=r"bad\.json"):
        InputCoverage.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="grid"):
        ImageStatistics.from_dict({**shipped.image.to_dict(), "grid": [2, 2]})


def test_the_sim_prompts_with_their_directions_are_all_enumerated() -> None:
    """Every prompt a sim dataset can give is in the enumeration the vocabulary is built from,
    the push and turn directions included."""
    from hoi_ros.sim.dataset import DatasetConfig, episode_rng, sample_request
    from hoi_ros.sim.tasks import request_prompt

    prompts, _names = sim_training_prompts(DatasetConfig())
    assert "grasp the red box and turn it counterclockwise" in prompts
    assert "push the red box forward and to the right across the table" in prompts
    for i in range(60):
        r = sample_request(episode_rng(3, i), distractor_probability=0.5)
        assert request_prompt(r) in prompts
