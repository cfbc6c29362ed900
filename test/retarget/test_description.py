"""Hand descriptions: URDF/MJCF export, URDF import, user robots from YAML, validation."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import mujoco
import numpy as np
import pytest

from hoi_ros.retarget import (
    Capsule,
    HandDescription,
    Joint,
    Kinematics,
    SequenceRetargeter,
    from_urdf,
    get_robot,
    load_robot_yaml,
    register_robot,
    write_robot_files,
)


@pytest.mark.parametrize("robot", ["allegro", "inspire", "allegro_left", "inspire_left"])
def test_urdf_round_trip_keeps_kinematics_limits_and_mimics(robot: str) -> None:
    desc = get_robot(robot)
    back = from_urdf(desc.to_urdf(), desc.keypoints, name=robot)
    k1, k2 = Kinematics(desc), Kinematics(back)
    assert k1.joint_names == k2.joint_names
    assert k1.full_joint_names == k2.full_joint_names
    np.testing.assert_allclose(k1.lower, k2.lower, atol=1e-6)
    np.testing.assert_allclose(k1.upper, k2.upper, atol=1e-6)
    np.testing.assert_allclose(k1.coupling, k2.coupling, atol=1e-8)
    q = np.random.default_rng(0).uniform(k1.lower, k1.upper, size=(6, k1.num_joints))
    np.testing.assert_allclose(k1.forward(q).pos[:, [k1.link_index[n] for n in desc.links]],
                               k2.forward(q).pos[:, [k2.link_index[n] for n in desc.links]], atol=1e-7)
    # Every capsule came back as collision shapes (URDF has no capsule: spheres + cylinder).
    assert len(back.capsules) >= len(desc.capsules)


@pytest.mark.parametrize("robot", ["allegro", "inspire", "allegro_left", "inspire_left"])
def test_mjcf_loads_with_limits_and_couplings(robot: str) -> None:
    desc = get_robot(robot)
    kin = Kinematics(desc)
    model = mujoco.MjModel.from_xml_string(desc.to_mjcf())
    assert model.njnt == len(kin.full_joint_names)
    for j in desc.revolute_joints:
        np.testing.assert_allclose(model.jnt_range[model.joint(j.name).id], [j.lower, j.upper], atol=1e-6)
    assert model.neq == sum(j.mimic is not None for j in desc.joints)
    assert model.ngeom == len(desc.capsules)
    assert model.nsite == len(desc.keypoints)


def test_both_hands_have_fingertips_and_limits() -> None:
    allegro, inspire = get_robot("allegro"), get_robot("inspire")
    assert len(Kinematics(allegro).joint_names) == 16 and len(allegro.fingertips) == 4
    assert len(Kinematics(inspire).joint_names) == 6 and len(inspire.fingertips) == 5
    assert len(inspire.revolute_joints) == 12


def test_write_robot_files(tmp_path: Path) -> None:
    urdf, mjcf = write_robot_files(get_robot("inspire"), tmp_path)
    assert ET.parse(urdf).getroot().tag == "robot"
    mujoco.MjModel.from_xml_path(str(mjcf))


def _tiny_urdf() -> str:
    """A two-finger hand written by hand, as a user would supply it."""
    finger = """
  <joint name="{f}_1" type="revolute"><parent link="palm"/><child link="{f}_a"/>
    <origin xyz="0.08 {y} 0" rpy="0 0 0"/><axis xyz="0 1 0"/>
    <limit lower="0" upper="1.5" effort="1" velocity="1"/></joint>
  <link name="{f}_a"><collision><origin xyz="0.02 0 0" rpy="0 1.5707963 0"/>
    <geometry><cylinder radius="0.008" length="0.04"/></geometry></collision></link>
  <joint name="{f}_2" type="revolute"><parent link="{f}_a"/><child link="{f}_b"/>
    <origin xyz="0.04 0 0"/><axis xyz="0 1 0"/><limit lower="0" upper="1.5" effort="1" velocity="1"/>
    <mimic joint="{f}_1" multiplier="0.8" offset="0"/></joint>
  <link name="{f}_b"/>
  <joint name="{f}_tipj" type="fixed"><parent link="{f}_b"/><child link="{f}_tip"/><origin xyz="0.03 0 0"/></joint>
  <link name="{f}_tip"/>"""
    body = finger.format(f="thumb", y="0.03") + finger.format(f="index", y="-0.01")
    return f'<?xml version="1.0"?><robot name="two"><link name="palm"/>{body}</robot>'


def test_user_robot_from_yaml_is_registered_and_retargets(tmp_path: Path) -> None:
    (tmp_path / "two.urdf").write_text(_tiny_urdf())
    (tmp_path / "two.yaml").write_text(
        "name: two_finger\nurdf: two.urdf\nkeypoints: {palm: 0, thumb_a: 2, thumb_tip: 4, index_a: 5, index_tip: 8}\n")
    desc = load_robot_yaml(tmp_path / "two.yaml")
    assert desc.fingertips == ["thumb_tip", "index_tip"]
    assert len(desc.capsules) == 2
    kin = Kinematics(desc)
    assert kin.joint_names == ["thumb_1", "index_1"]
    register_robot(desc)
    assert get_robot("two_finger") is desc
    assert get_robot(str(tmp_path / "two.yaml")).name == "two_finger"
    # The robot's own fingertip trajectory comes back.
    q = np.linspace([0.2, 0.1], [1.2, 1.0], 40)
    human = np.zeros((40, 21, 3))
    fk = kin.forward(q)
    for link, h in desc.keypoints.items():
        human[:, h] = fk.pos[:, kin.link_index[link]]
    from hoi_ros.retarget import RetargetConfig

    res = SequenceRetargeter(desc, RetargetConfig(scale=1.0)).retarget(human, 30.0, in_palm_frame=True)
    assert res.fingertip_error.max() < 2e-3


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("name: x\nkeypoints: {palm: 0}\n", "missing field 'urdf'"),
    ("name: x\nurdf: nope.urdf\nkeypoints: {palm: 0, index_tip: 8}\n", "does not exist"),
    ("name: x\nurdf: two.urdf\nkeypoints: []\n", "keypoints must map"),
    ("name: x\nurdf: two.urdf\nkeypoints: {nolink: 8}\n", "unknown link 'nolink'"),
    ("name: x\nurdf: two.urdf\nkeypoints: {thumb_a: 2}\n", "maps no fingertip"),
    ("name: x\nurdf: two.urdf\nkeypoints: {thumb_tip: 25}\n", "must be in 0..20"),
])
def test_bad_robot_yaml_names_the_field(tmp_path: Path, yaml_text: str, message: str) -> None:
    (tmp_path / "two.urdf").write_text(_tiny_urdf())
    (tmp_path / "r.yaml").write_text(yaml_text)
    with pytest.raises(ValueError, match=message):
        load_robot_yaml(tmp_path / "r.yaml")


def test_invalid_descriptions_are_rejected() -> None:
    with pytest.raises(ValueError, match="lower limit"):
        Joint("j", "a", "b", lower=1.0, upper=0.0)
    with pytest.raises(ValueError, match="type must be"):
        Joint("j", "a", "b", type="prismatic")
    with pytest.raises(ValueError, match="mimic source"):
        HandDescription("h", "palm", [Joint("j", "palm", "tip", mimic=("nope", 1.0, 0.0))], [], {"tip": 4})
    with pytest.raises(ValueError, match="unknown link"):
        HandDescription("h", "palm", [Joint("j", "palm", "tip", upper=1.0)], [Capsule("x", (0, 0, 0), (1, 0, 0), 0.1)],
                        {"tip": 4})
    with pytest.raises(ValueError, match="unknown robot"):
        get_robot("no_such_hand")
