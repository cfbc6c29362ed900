import numpy as np
from PIL import Image

from hoi_ros.core.visualize import contact_sheet, pick_frames, save_png


def test_pick_frames_keeps_ends():
    assert pick_frames(49, 7).tolist() == [0, 8, 16, 24, 32, 40, 48]
    assert pick_frames(3, 10).tolist() == [0, 1, 2]


def test_contact_sheet_layout(tmp_path):
    a = np.full((10, 20, 30, 3), 200, np.uint8)
    b = np.full((10, 40, 60, 3), 100, np.uint8)  # resized to 20 px high
    sheet = contact_sheet([a, b], ["video", "motion"], columns=4, gap=2)
    assert sheet.shape[0] == 20 * 2 + 2
    assert sheet.shape[1] >= 4 * 30 + 3 * 2
    path = save_png(tmp_path / "s.png", sheet)
    assert Image.open(path).size == (sheet.shape[1], sheet.shape[0])
