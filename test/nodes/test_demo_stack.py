"""The README's main command (scripts/demo.sh = hoi_ros.nodes.demo_stack) end to end over real DDS."""

from __future__ import annotations

import numpy as np
import pytest
from ros_support import REPO, ros_available

pytestmark = [
    pytest.mark.ros,
    pytest.mark.skipif(not ros_available(), reason="rclpy / interfaces not built"),
]


def test_demo_stack_generates_and_writes_a_contact_sheet(tmp_path) -> None:
    from PIL import Image

    from hoi_ros.core.sequence import HOISequence
    from hoi_ros.nodes import demo_stack

    params = tmp_path / "generator.yaml"
    params.write_text((REPO / "config" / "ros" / "generator.yaml").read_text())
    out = tmp_path / "demo"
    code = demo_stack.main(["--out", str(out), "--generator-params", str(params), "--request-id", "r1",
                            "--prompt", "push the red box", "--steps", "2"])
    assert code == 0, (out / "hoi_generator.log").read_text()
    seq = HOISequence.load(out / "generations" / "r1" / "r1.npz")
    assert seq.prompt == "push the red box"
    assert seq.video is not None and seq.video.shape[0] == seq.num_frames
    sheet = np.asarray(Image.open(out / "contact_sheet.png"))
    assert sheet.ndim == 3 and sheet.shape[0] > 2 * seq.video.shape[1]  # video row above motion row
    # The same id again is refused (nothing overwritten) and the command says so.
    assert demo_stack.main(["--out", str(out), "--generator-params", str(params), "--request-id", "r1",
                            "--steps", "2"]) != 0
    assert (out / "generations" / "r1" / "r1.npz").exists()
