import numpy as np
import pytest

from hoi_ros.core.hand import BONES, FINGERTIPS, HAND_JOINT_NAMES, bones_for, joint_names, num_hands_for


def test_joint_order_is_mano_openpose():
    assert len(HAND_JOINT_NAMES) == 21
    assert HAND_JOINT_NAMES[0] == "wrist"
    assert HAND_JOINT_NAMES[1:5] == ("thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip")
    assert HAND_JOINT_NAMES[5:9] == ("index_mcp", "index_pip", "index_dip", "index_tip")
    assert HAND_JOINT_NAMES[20] == "little_tip"
    assert FINGERTIPS == (4, 8, 12, 16, 20)


def test_bones_form_five_chains_from_the_wrist():
    assert len(BONES) == 20
    assert [b for b in BONES if b[0] == 0] == [(0, 1), (0, 5), (0, 9), (0, 13), (0, 17)]
    assert (7, 8) in BONES and (19, 20) in BONES
    two = bones_for(42)
    assert two.shape == (40, 2) and two[20:].min() == 21 and two.max() == 41


def test_joint_names_and_hand_count():
    names = joint_names(2)
    assert len(names) == 42 and names[0] == "right_wrist" and names[21] == "left_wrist"
    assert num_hands_for(21) == 1 and num_hands_for(42) == 2
    with pytest.raises(ValueError, match="21 or 42"):
        num_hands_for(20)
    with pytest.raises(ValueError):
        joint_names(3)
    assert np.unique(names).size == 42
