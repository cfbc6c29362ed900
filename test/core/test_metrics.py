import numpy as np
import pytest
import torch

from hoi_ros.core.metrics import chamfer_distance, motion_smoothness, mpjpe


def test_mpjpe_hand_computed():
    pred = np.zeros((2, 21, 3))
    target = np.zeros((2, 21, 3))
    target[0, :, 0] = 3.0  # frame 0: every joint 3 away
    target[1, :, :2] = [3.0, 4.0]  # frame 1: every joint 5 away
    assert mpjpe(pred, target) == pytest.approx(4.0)


def test_motion_smoothness_hand_computed():
    t = np.arange(5, dtype=float)
    h = np.zeros((5, 21, 3))
    h[..., 0] = t[:, None]  # constant velocity: zero acceleration
    assert motion_smoothness(h) == pytest.approx(0.0)
    h[..., 1] = (t**2)[:, None]  # y = t^2: second difference 2 everywhere
    assert motion_smoothness(h) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        motion_smoothness(h[:2])


def test_chamfer_hand_computed():
    a = np.array([[[0.0, 0, 0], [1.0, 0, 0]]])
    b = np.array([[[0.0, 0, 0], [0.0, 2.0, 0], [1.0, 0.5, 0]]])
    # a->b: 0 and 0.5 (mean 0.25); b->a: 0, 2, 0.5 (mean 5/6)
    assert chamfer_distance(a, b) == pytest.approx(0.25 + 5 / 6)
    # squared: a->b 0, 0.25 -> 0.125; b->a 0, 4, 0.25 -> 4.25/3
    assert chamfer_distance(a, b, squared=True) == pytest.approx(0.125 + 4.25 / 3)
    assert chamfer_distance(a, a) == 0.0
    # per-frame, averaged over frames
    two = np.concatenate([a, a + 0.0], 0), np.concatenate([a, a + np.array([0, 0, 1.0])], 0)
    per = chamfer_distance(*two, reduce=False)
    np.testing.assert_allclose(per, [0.0, 2.0])
    assert chamfer_distance(*two) == pytest.approx(1.0)


def test_metrics_accept_torch_and_give_finite_gradients():
    a = torch.zeros(3, 4, 3, requires_grad=True)
    b = torch.zeros(3, 5, 3)
    loss = chamfer_distance(a, b)
    loss.backward()
    assert torch.isfinite(a.grad).all()
    assert isinstance(mpjpe(torch.ones(2, 21, 3), torch.zeros(2, 21, 3)), torch.Tensor)


def test_metric_shape_errors():
    with pytest.raises(ValueError):
        mpjpe(np.zeros((2, 21, 3)), np.zeros((2, 20, 3)))
    with pytest.raises(ValueError, match="empty"):
        chamfer_distance(np.zeros((1, 0, 3)), np.zeros((1, 2, 3)))


def test_yaw_change_measures_the_turn_about_z() -> None:
    from hoi_ros.core.metrics import yaw_change

    rng = np.random.default_rng(0)
    pts = rng.normal(size=(32, 3))
    for angle in (0.0, 0.6, -1.1, 3.0):
        c, s = np.cos(angle), np.sin(angle)
        turned = pts @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T + np.array([0.1, -0.2, 0.05])
        traj = np.stack([pts, pts, turned])
        assert abs(yaw_change(traj) - angle) < 1e-9
    with pytest.raises(ValueError, match="T >= 2"):
        yaw_change(pts[None])


def test_centroid_error_is_the_mean_distance_of_the_centres() -> None:
    from hoi_ros.core.metrics import centroid_error

    a = np.zeros((2, 4, 3))
    b = np.zeros((2, 6, 3))
    b[1, :, 0] = 0.1
    assert abs(centroid_error(a, b) - 0.05) < 1e-12
    with pytest.raises(ValueError, match="incompatible"):
        centroid_error(a, b[:1])
