"""The object library: at least eight table-top objects, physical (mass, friction, resting stably on
the table), named by colour in prompts, with K surface points."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from hoi_ros.core.geometry import quat_to_matrix
from hoi_ros.sim.objects import (
    LIBRARY,
    OBJECT_NAMES,
    ROLE_TARGET,
    ROLE_TOOL,
    GeomSpec,
    make_object,
    parse_object,
    sample_surface_points,
)
from hoi_ros.sim.scene import SimScene, object_point_sets


def test_library_has_the_required_kinds() -> None:
    assert len(OBJECT_NAMES) >= 8
    types = {name: [g.type for g in make_object(name).geoms] for name in OBJECT_NAMES}
    assert types["box"] == ["box"] and types["ball"] == ["sphere"] and types["cylinder"] == ["cylinder"]
    assert len(types["mug"]) >= 3 and "cylinder" in types["mug"]  # a cup with a handle
    tools = [n for n in OBJECT_NAMES if make_object(n).role == ROLE_TOOL]
    targets = [n for n in OBJECT_NAMES if make_object(n).role == ROLE_TARGET]
    assert {"spatula", "roller"} <= set(tools) and {"bowl", "plate"} <= set(targets)
    for name in tools:  # elongated: long axis at least 4x the short ones
        pts = sample_surface_points(make_object(name), 2000, np.random.default_rng(0))
        extent = np.ptp(pts, axis=0)
        assert extent.max() > 4 * np.sort(extent)[1], name


@pytest.mark.parametrize("name", OBJECT_NAMES)
def test_each_object_has_its_mass_and_rests_on_the_table(name: str) -> None:
    obj = make_object(name, scale=1.2)
    pose = (np.array([0.0, 0.0, obj.rest_height]), np.array([1.0, 0.0, 0.0, 0.0]))
    scene = SimScene([obj], [pose], max_size=(64, 64))
    m, d = scene.model, scene.data
    body = int(scene.object_bodies[0])
    assert m.body_subtreemass[body] == pytest.approx(obj.mass, rel=1e-6)
    assert obj.mass == pytest.approx(LIBRARY[name]["mass"] * 1.2**3)
    # The hand is far above; the object only feels gravity and the table.
    for _ in range(300):
        mujoco.mj_step(m, d)
    pos, quat = scene.object_pose(0)
    assert np.linalg.norm(pos - pose[0]) < 0.004, (name, pos)
    assert abs(abs(quat[0]) - 1.0) < 1e-3, (name, quat)  # did not tip over
    vel = d.qvel[m.jnt_dofadr[m.body_jntadr[body]]:][:6]
    assert np.linalg.norm(vel[:3]) < 5e-3 and np.linalg.norm(vel[3:]) < 0.05, (name, vel)  # (nearly) at rest


def test_names_and_colours_come_from_prompts() -> None:
    mug = parse_object("the red mug")
    assert (mug.name, mug.color, mug.display_name) == ("mug", "red", "red mug")
    pin = parse_object("Blue rolling_pin")
    assert (pin.name, pin.color, pin.display_name) == ("roller", "blue", "blue rolling pin")
    assert parse_object("plate").display_name == "white plate"
    np.testing.assert_allclose(make_object("box", "green").rgba[:3], (0.15, 0.65, 0.20))


@pytest.mark.parametrize("call, field", [
    (lambda: parse_object("red teapot"), "object"),
    (lambda: parse_object(""), "object"),
    (lambda: make_object("teapot"), "object"),
    (lambda: make_object("mug", "octarine"), "color"),
    (lambda: make_object("mug", scale=3.0), "scale"),
    (lambda: make_object("mug", scale=float("nan")), "scale"),
    (lambda: make_object("mug", mass=-1.0), "mass"),
    (lambda: make_object("mug", friction=0.0), "friction"),
])
def test_bad_object_requests_name_the_field(call, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}:"):
        call()


def _sdf(g: GeomSpec, p: np.ndarray) -> np.ndarray:
    """Signed distance of points ``p`` [N, 3] (body frame) to one primitive."""
    q = (p - np.asarray(g.pos)) @ quat_to_matrix(g.quat)  # into the geom frame
    s = g.size
    if g.type == "sphere":
        return np.linalg.norm(q, axis=1) - s[0]
    if g.type == "box":
        d = np.abs(q) - np.asarray(s)
        return np.linalg.norm(np.maximum(d, 0), axis=1) + np.minimum(d.max(axis=1), 0)
    if g.type == "capsule":
        z = np.clip(q[:, 2], -s[1], s[1])
        return np.linalg.norm(q - np.stack([0 * z, 0 * z, z], 1), axis=1) - s[0]
    d = np.stack([np.linalg.norm(q[:, :2], axis=1) - s[0], np.abs(q[:, 2]) - s[1]], 1)  # cylinder
    return np.linalg.norm(np.maximum(d, 0), axis=1) + np.minimum(d.max(axis=1), 0)


@pytest.mark.parametrize("name", OBJECT_NAMES)
def test_surface_points_lie_on_the_surface(name: str) -> None:
    obj = make_object(name)
    pts = sample_surface_points(obj, 298, np.random.default_rng(7))
    assert pts.shape == (298, 3)
    dist = np.stack([np.abs(_sdf(g, pts)) for g in obj.geoms]).min(axis=0)
    assert dist.max() < 1e-9
    np.testing.assert_array_equal(pts, sample_surface_points(obj, 298, np.random.default_rng(7)))


def test_two_objects_split_k_into_tool_and_target() -> None:
    sets, labels = object_point_sets([make_object("roller"), make_object("plate")], 298, np.random.default_rng(0))
    assert [len(s) for s in sets] == [149, 149]
    assert labels.tolist() == [0] * 149 + [1] * 149
    sets, labels = object_point_sets([make_object("mug")], 298, np.random.default_rng(0))
    assert len(sets[0]) == 298 and not labels.any()
    with pytest.raises(ValueError, match=r"^objects:"):
        object_point_sets([], 298, np.random.default_rng(0))
