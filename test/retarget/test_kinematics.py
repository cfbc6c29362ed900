"""Forward kinematics of the built-in hands against hand-computed poses, and Jacobians."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from hoi_ros.retarget import Kinematics, get_robot
from hoi_ros.retarget.description import HandDescription, Joint


def _tip(kin: Kinematics, q: np.ndarray, link: str) -> np.ndarray:
    return kin.link_positions(q, [link])[0, 0]


def _q(kin: Kinematics, **values: float) -> np.ndarray:
    q = np.zeros(kin.num_joints)
    for name, v in values.items():
        q[kin.joint_names.index(name)] = v
    return q


@pytest.fixture(scope="module")
def allegro() -> Kinematics:
    return Kinematics(get_robot("allegro"))


@pytest.fixture(scope="module")
def inspire() -> Kinematics:
    return Kinematics(get_robot("inspire"))


def test_allegro_index_finger_by_hand(allegro: Kinematics) -> None:
    # Index finger: base at (0.095, 0.0435, 0); links 16.4 / 54.0 / 38.4 mm, tip 42.4 mm further.
    base = np.array([0.095, 0.0435, 0.0])
    length = 0.0164 + 0.054 + 0.0384 + 0.0424
    np.testing.assert_allclose(_tip(allegro, _q(allegro), "index_tip"), base + [length, 0, 0], atol=1e-12)
    # Abduction joint_0 turns the whole finger about +z.
    a = 0.3
    np.testing.assert_allclose(_tip(allegro, _q(allegro, joint_0=a), "index_tip"),
                               base + length * np.array([math.cos(a), math.sin(a), 0.0]), atol=1e-12)
    # Flexion joint_1 = 90 degrees about +y points the rest of the finger down (-z, towards the palm).
    np.testing.assert_allclose(_tip(allegro, _q(allegro, joint_1=math.pi / 2), "index_tip"),
                               base + [0.0164, 0.0, -(0.054 + 0.0384 + 0.0424)], atol=1e-12)
    # Three flexions of 0.5 rad: a planar chain in the x-z plane.
    pose = _q(allegro, joint_1=0.5, joint_2=0.5, joint_3=0.5)
    expected = base + [0.0164, 0.0, 0.0]
    for k, seg in enumerate((0.054, 0.0384, 0.0424)):
        ang = 0.5 * (k + 1)
        expected = expected + seg * np.array([math.cos(ang), 0.0, -math.sin(ang)])
    np.testing.assert_allclose(_tip(allegro, pose, "index_tip"), expected, atol=1e-12)


def test_inspire_coupled_finger_by_hand(inspire: Kinematics) -> None:
    # Index: proximal joint at (0.105, 0.032, 0), phalanges 32 and 46 mm; intermediate = 1.06399 q - 0.04545.
    q = 1.0
    a1 = q
    a2 = a1 + 1.06399 * q - 0.04545
    expected = np.array([0.105 + 0.032 * math.cos(a1) + 0.046 * math.cos(a2), 0.032,
                         -(0.032 * math.sin(a1) + 0.046 * math.sin(a2))])
    np.testing.assert_allclose(_tip(inspire, _q(inspire, index_proximal_joint=q), "index_tip"), expected, atol=1e-12)
    full = inspire.full(_q(inspire, index_proximal_joint=q))
    assert full[inspire.full_joint_names.index("index_intermediate_joint")] == pytest.approx(1.06399 - 0.04545)


def test_inspire_thumb_by_hand(inspire: Kinematics) -> None:
    # At zero yaw and pitch the thumb is a straight 98 mm chain turned 0.9 rad about z.
    base = np.array([0.04, 0.025, -0.012]) + [0.01, 0.018, 0.0]
    expected = base + 0.098 * np.array([math.cos(0.9), math.sin(0.9), 0.0])
    np.testing.assert_allclose(_tip(inspire, _q(inspire), "thumb_tip"), expected, atol=1e-12)
    # Yaw turns the thumb about -x: a point's (y, z) offset from the yaw axis rotates by -yaw.
    yaw = 0.7
    rel = expected - np.array([0.04, 0.025, -0.012])
    c, s = math.cos(-yaw), math.sin(-yaw)
    turned = np.array([rel[0], c * rel[1] - s * rel[2], s * rel[1] + c * rel[2]]) + [0.04, 0.025, -0.012]
    np.testing.assert_allclose(_tip(inspire, _q(inspire, thumb_proximal_yaw_joint=yaw), "thumb_tip"), turned,
                               atol=1e-12)


def test_general_axis_and_fixed_rotations_match_matrix_products() -> None:
    """A joint about an arbitrary axis with origin rotations: FK equals the product of the URDF transforms."""
    from scipy.spatial.transform import Rotation

    desc = HandDescription("gen", "palm", [
        Joint("j1", "palm", "a", xyz=(0.1, 0.02, 0.01), rpy=(0.1, 0.2, 0.3), axis=(0.3, 0.5, 0.8), lower=-1, upper=1),
        Joint("j2", "a", "b", xyz=(0.05, 0.0, 0.0), axis=(0.0, 0.0, -1.0), lower=-1, upper=1),
        Joint("tip", "b", "c", type="fixed", xyz=(0.03, 0.01, 0.0), rpy=(0.2, 0.0, 0.0)),
    ], [], {"palm": 0, "c": 8})
    kin = Kinematics(desc)
    q = np.array([0.4, -0.6])

    def transform(xyz, rpy, axis=None, angle=0.0):
        m = np.eye(4)
        rot = Rotation.from_euler("xyz", rpy).as_matrix()  # URDF rpy: fixed axes x, y, z
        if axis is not None:
            rot = rot @ Rotation.from_rotvec(np.asarray(axis) / np.linalg.norm(axis) * angle).as_matrix()
        m[:3, :3], m[:3, 3] = rot, xyz
        return m

    world = (transform((0.1, 0.02, 0.01), (0.1, 0.2, 0.3), (0.3, 0.5, 0.8), 0.4)
             @ transform((0.05, 0, 0), (0, 0, 0), (0, 0, -1), -0.6) @ transform((0.03, 0.01, 0), (0.2, 0, 0)))
    fk = kin.forward(q)
    np.testing.assert_allclose(fk.pos[0, kin.link_index["c"]], world[:3, 3], atol=1e-12)
    np.testing.assert_allclose(fk.rot[0, kin.link_index["c"]], world[:3, :3], atol=1e-12)


@pytest.mark.parametrize("robot", ["allegro", "inspire", "allegro_left", "inspire_left"])
def test_fk_matches_mujoco_on_the_exported_mjcf(robot: str) -> None:
    desc = get_robot(robot)
    kin = Kinematics(desc)
    model = mujoco.MjModel.from_xml_string(desc.to_mjcf())
    data = mujoco.MjData(model)
    q = np.random.default_rng(3).uniform(kin.lower, kin.upper, size=(5, kin.num_joints))
    fk = kin.forward(q)
    for t in range(len(q)):
        for name, v in zip(kin.full_joint_names, kin.full(q[t])):
            data.qpos[model.joint(name).qposadr[0]] = v
        mujoco.mj_kinematics(model, data)
        for link in desc.keypoints:
            np.testing.assert_allclose(data.site(f"kp_{link}").xpos, fk.pos[t, kin.link_index[link]], atol=1e-8)


@pytest.mark.parametrize("robot", ["allegro", "inspire", "allegro_left", "inspire_left"])
def test_point_jacobian_matches_finite_differences(robot: str) -> None:
    kin = Kinematics(get_robot(robot))
    q = np.random.default_rng(0).uniform(kin.lower, kin.upper, size=(4, kin.num_joints))
    links = np.arange(len(kin.link_names))
    fk = kin.forward(q)
    jac = kin.point_jacobian(fk, links, fk.pos[:, links])
    eps = 1e-6
    for j in range(kin.num_joints):
        dq = np.zeros(kin.num_joints)
        dq[j] = eps
        num = (kin.forward(q + dq).pos - kin.forward(q - dq).pos) / (2 * eps)
        np.testing.assert_allclose(jac[..., j], num, atol=1e-8)
    # Single points in given frames give the same rows.
    frames = np.arange(len(links)) % len(q)
    single = kin.point_jacobian(fk, links, fk.pos[frames, links], frames=frames)
    np.testing.assert_allclose(single, jac[frames, links], atol=1e-15)


def test_wrong_joint_count_is_rejected(allegro: Kinematics) -> None:
    with pytest.raises(ValueError, match="q: expected 16"):
        allegro.forward(np.zeros(5))


def test_mimic_limits_narrow_the_actuated_range(inspire: Kinematics) -> None:
    # thumb_intermediate = 1.6 x pitch must stay <= 0.8, so pitch <= 0.5 (its own upper limit too);
    # thumb_distal = 2.4 x pitch <= 1.2 gives the same bound.
    i = inspire.joint_names.index("thumb_proximal_pitch_joint")
    assert inspire.upper[i] == pytest.approx(0.5)
    full_lo = np.array([j.lower for j in inspire.desc.revolute_joints])
    full_hi = np.array([j.upper for j in inspire.desc.revolute_joints])
    for q in (inspire.lower, inspire.upper):
        f = inspire.full(q)
        assert np.all(f >= full_lo - 1e-12) and np.all(f <= full_hi + 1e-12)
