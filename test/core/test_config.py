"""``dataclass_from_dict``: the one strict YAML-section → dataclass conversion."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from hoi_ros.core.config import dataclass_from_dict


@dataclass
class Section:
    size: int = 3
    name: str = "x"


def test_mapping_none_and_errors() -> None:
    assert dataclass_from_dict(Section, {"size": 5}, "sec") == Section(size=5)
    assert dataclass_from_dict(Section, None, "sec") == Section()
    with pytest.raises(ValueError, match=r"sec: unknown field\(s\) \['sise'\]"):
        dataclass_from_dict(Section, {"sise": 5}, "sec")
    with pytest.raises(ValueError, match="sec: expected a mapping, got list"):
        dataclass_from_dict(Section, [1], "sec")
