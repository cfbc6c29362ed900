"""Body-model files: plain .npz loading, the restricted unpickler and the one-time converter."""

from __future__ import annotations

import os
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from body_model_fakes import random_mano_arrays

from hoi_ros.bodies.convert import main as convert_main
from hoi_ros.bodies.mano import MANO_ARRAYS, MANOModel
from hoi_ros.bodies.model_files import (
    ModelFileError,
    check_shapes,
    load_model_arrays,
    numeric_arrays,
    read_pickled_model,
    read_pickled_npy,
    restricted_loads,
)


# --------------------------------------------------------------------------- .npz loading
def test_loads_required_and_optional_arrays(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    np.savez(path, a=np.ones((2, 3)), faces=np.zeros((4, 3), np.int32), extra=np.arange(3))
    out = load_model_arrays(path, ["a", "f"], optional=["b", "extra"], aliases={"f": "faces"})
    assert sorted(out) == ["a", "extra", "f"] and out["f"].shape == (4, 3)


def test_a_missing_array_is_named(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    np.savez(path, a=np.ones(2))
    with pytest.raises(ModelFileError, match="missing array 'v_template'"):
        load_model_arrays(path, ["a", "v_template"])


def test_object_arrays_are_never_unpickled(tmp_path: Path) -> None:
    """A needed key holding an object array is refused; unneeded pickled keys are not read."""
    path = tmp_path / "m.npz"
    np.savez(path, a=np.ones(2), part2num=np.array({"x": 1}, dtype=object))
    assert list(load_model_arrays(path, ["a"])) == ["a"]
    with pytest.raises(ModelFileError, match="'part2num' is not a plain numeric array"):
        load_model_arrays(path, ["part2num"])


def test_text_arrays_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    np.savez(path, a=np.array("lbs"))
    with pytest.raises(ModelFileError, match="must be numeric"):
        load_model_arrays(path, ["a"])


def test_a_pickle_is_refused_with_the_converter_command(tmp_path: Path) -> None:
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps({"a": np.ones(2)}))
    with pytest.raises(ModelFileError, match=r"python -m hoi_ros\.bodies\.convert"):
        load_model_arrays(path, ["a"])


def test_shapes_bind_symbols_across_arrays() -> None:
    arrays = {"v": np.zeros((5, 3)), "w": np.zeros((5, 16)), "bad": np.zeros((6, 16))}
    assert check_shapes(arrays, {"v": ("V", 3), "w": ("V", 16)}) == {"V": 5}
    with pytest.raises(ModelFileError, match=r"'bad' has shape \[6, 16\], expected \[5, 16\]"):
        check_shapes(arrays, {"v": ("V", 3), "bad": ("V", 16)})


# --------------------------------------------------------------------------- restricted unpickler
class _SystemCall:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return (os.system, (self.command,))


class _Eval:
    def __reduce__(self) -> tuple:
        return (eval, ("1 + 1",))


def test_a_pickle_calling_os_system_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"v_template": np.ones(3), "x": _SystemCall(f"touch {marker}")}, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refused to load global"):
        restricted_loads(payload)
    assert not marker.exists()
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(payload)
    with pytest.raises(pickle.UnpicklingError):
        read_pickled_model(path)
    assert convert_main([str(path), str(tmp_path / "out.npz")]) == 1
    assert not marker.exists() and not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("payload", [_Eval(), types.SimpleNamespace(a=1), np.load])
def test_other_globals_are_refused(payload: object) -> None:
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        restricted_loads(pickle.dumps(payload, protocol=2))


class _RawObjectArray:
    """``numpy.ndarray((1,), object, buffer=...)``: object pointers made of the pickle's bytes."""

    def __reduce__(self) -> tuple:
        return (np.ndarray, ((1,), object, b"A" * 8))


def test_numpy_is_never_called_on_the_pickles_data() -> None:
    with pytest.raises(pickle.UnpicklingError, match=r"numpy\.ndarray"):
        restricted_loads(pickle.dumps(_RawObjectArray(), protocol=2))
    # Structured dtypes (whose pickled flags could hide an object field) are not read at all.
    with pytest.raises(pickle.UnpicklingError, match="only plain scalar dtypes"):
        restricted_loads(pickle.dumps(np.zeros(2, dtype=[("a", "f8"), ("b", "O")]), protocol=2))
    # Object arrays come from their unpickled elements.
    out = restricted_loads(pickle.dumps(np.array([{"k": np.ones(2)}, 3], dtype=object), protocol=2))
    assert out.dtype == object and out[1] == 3
    np.testing.assert_array_equal(out[0]["k"], np.ones(2))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_plain_numpy_pickles_are_accepted(protocol: int) -> None:
    data = {"a": np.arange(12, dtype=np.float64).reshape(3, 4), "b": np.array([1, 2], np.int32),
            "f": np.asfortranarray(np.arange(6, dtype=">f4").reshape(2, 3)), "s": np.float64(2.5), "n": 3,
            "u": np.array(["lbs", "x"]), "e": np.zeros((0, 3), np.uint32), "t": np.array(True)}
    out = restricted_loads(pickle.dumps(data, protocol=protocol))
    for key in ("a", "b", "f", "u", "e", "t"):
        np.testing.assert_array_equal(out[key], data[key])
        assert out[key].dtype == data[key].dtype
    assert out["s"] == 2.5 and out["n"] == 3


@pytest.fixture
def fake_chumpy(monkeypatch: pytest.MonkeyPatch) -> type:
    """A stand-in ``chumpy.ch.Ch`` that pickles as chumpy's does (its __dict__ without caches)."""

    class Ch:
        def __init__(self, x: np.ndarray) -> None:
            self.x = x
            self._dirty_vars = {"x"}
            self._itr = None
            self._make_dense = False
            self._depends_on_deps = {}

        def __getstate__(self) -> dict:
            return dict(self.__dict__)

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    module = types.ModuleType("chumpy.ch")
    module.Ch = Ch
    monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
    monkeypatch.setitem(sys.modules, "chumpy.ch", module)
    return Ch


def _official_like_mano_pickle(ch: type, protocol: int) -> tuple[bytes, dict]:
    """A pickle laid out as the official MANO file: sparse regressor, chumpy arrays, strings."""
    arrays = random_mano_arrays(seed=3, sparse_regressor=True)
    content = dict(arrays, shapedirs=ch(arrays["shapedirs"]), v_template=ch(arrays["v_template"]),
                   bs_style="lbs", bs_type="lrotmin", J=np.zeros((16, 3)))
    return pickle.dumps(content, protocol=protocol), arrays


@pytest.mark.parametrize("protocol", [0, 2])
def test_an_official_like_mano_pickle_converts_and_loads(tmp_path: Path, fake_chumpy: type, protocol: int,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    payload, arrays = _official_like_mano_pickle(fake_chumpy, protocol)
    monkeypatch.delitem(sys.modules, "chumpy.ch")  # as on a machine without chumpy
    monkeypatch.delitem(sys.modules, "chumpy")
    src, dst = tmp_path / "MANO_RIGHT.pkl", tmp_path / "MANO_RIGHT.npz"
    src.write_bytes(payload)
    assert convert_main([str(src), str(dst)]) == 0
    with np.load(dst, allow_pickle=False) as npz:
        assert "bs_style" not in npz.files and "bs_type" not in npz.files
        np.testing.assert_array_equal(npz["J_regressor"], arrays["J_regressor"].toarray())
        np.testing.assert_array_equal(npz["shapedirs"], arrays["shapedirs"])
        np.testing.assert_array_equal(npz["v_template"], arrays["v_template"])
    assert set(MANO_ARRAYS) <= set(np.load(dst).files)
    joints = MANOModel(dst, flat_hand_mean=True)(np.zeros((1, 45))).joints
    assert joints.shape == (1, 21, 3)


def test_the_converter_reports_dropped_entries(tmp_path: Path, fake_chumpy: type,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    payload, _ = _official_like_mano_pickle(fake_chumpy, 2)
    src = tmp_path / "MANO_RIGHT.pkl"
    src.write_bytes(payload)
    assert convert_main([str(src), str(tmp_path / "out.npz")]) == 0
    out = capsys.readouterr().out
    assert "dropped bs_style" in out and "J_regressor: float64 [16, 778]" in out


def test_sparse_matrices_come_out_dense() -> None:
    dense = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, 3.0]])
    for matrix in (sp.csc_matrix(dense), sp.csr_matrix(dense), sp.coo_matrix(dense)):
        for protocol in (0, 2):
            arrays, dropped = numeric_arrays(restricted_loads(pickle.dumps({"m": matrix}, protocol=protocol)))
            assert not dropped
            np.testing.assert_array_equal(arrays["m"], dense)


def test_a_recorded_object_npy_reads_without_numpy_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "rec.npy"
    np.save(path, {"right_hand": {"pose": np.ones((2, 45))}}, allow_pickle=True)
    out = read_pickled_npy(path)
    np.testing.assert_array_equal(out["right_hand"]["pose"], np.ones((2, 45)))
    plain = tmp_path / "plain.npy"
    np.save(plain, np.arange(4))
    np.testing.assert_array_equal(read_pickled_npy(plain), np.arange(4))
    evil = tmp_path / "evil.npy"
    np.save(evil, np.array([_SystemCall(f"touch {tmp_path / 'pwned'}")], dtype=object), allow_pickle=True)
    with pytest.raises(pickle.UnpicklingError):
        read_pickled_npy(evil)
    assert not (tmp_path / "pwned").exists()
