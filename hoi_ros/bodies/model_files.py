"""Body-model arrays from the user's own local files, without unpickling anything untrusted.

MANO (``MANO_RIGHT.pkl``, ``MANO_LEFT.pkl``) and SMPL-X (``SMPLX_NEUTRAL.npz``, ...) are licensed:
the user downloads them from the authors' sites, and hoi_ros neither downloads nor ships them.
They are read here as plain numeric arrays:

- ``.npz`` files load with ``np.load(..., allow_pickle=False)``; only the keys a model needs are
  read, and each must be a numeric array (bool, int, uint, float). Official SMPL-X ``.npz`` files
  work as they are: their pickled extras (``joint2num``, ``part2num``) are never touched.
- The official MANO files are Python 2 pickles whose arrays are numpy arrays, a ``scipy.sparse``
  joint regressor and ``chumpy`` arrays. The user converts such a file once, on the file they
  downloaded themselves::

      python -m hoi_ros.bodies.convert MANO_RIGHT.pkl MANO_RIGHT.npz

  which reads it with :class:`RestrictedUnpickler`. A pickle can only call the globals it names;
  the unpickler resolves numpy's array / dtype / scalar reconstruction, ``scipy.sparse`` matrix
  classes and ``chumpy`` arrays to inert records (no reconstruction code of numpy, scipy or chumpy
  runs while unpickling), plus ``set``, ``object`` and byte strings. Any other global (``os.system``,
  ``builtins.eval``, a class of any other module) is refused before it is called. The records are
  then built into arrays by this module: plain bool / int / float / complex / string dtypes from
  their bytes (structured dtypes are refused), object arrays from their unpickled elements, sparse
  matrices from their checked numeric arrays. The numeric arrays are written to a plain ``.npz``;
  strings, dicts and anything else are dropped (and listed).

The same unpickler reads GraspXL's recordings (``.npy`` files holding a pickled dict of arrays),
see :func:`read_pickled_npy`.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

NUMERIC_KINDS = "biuf"  # bool, signed and unsigned int, float
ShapeSpec = tuple[int | str, ...]  # ints are exact sizes; strings are symbols that must agree across keys


class ModelFileError(ValueError):
    """A body-model file is missing, of the wrong kind, or lacks / mis-shapes an array."""


# --------------------------------------------------------------------------- loading .npz
def _as_path(path: str | os.PathLike) -> Path:
    return Path(path).expanduser()


def load_model_arrays(path: str | os.PathLike, required: Iterable[str], optional: Iterable[str] = (),
                      aliases: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """The numeric arrays ``required`` (and those of ``optional`` present) of the ``.npz`` at ``path``.

    ``aliases`` maps a wanted key to another name it may be stored under (e.g. ``{"f": "faces"}``).
    The file is opened with ``allow_pickle=False``; a ``.pkl`` is refused with the converter command
    to run. Raises :class:`ModelFileError` (a ``ValueError``) naming the file and the key.
    """
    file = _as_path(path)
    if file.suffix.lower() in (".pkl", ".pickle"):
        raise ModelFileError(f"{file}: a pickled model is not loaded directly; convert it once with "
                             f"`python -m hoi_ros.bodies.convert {file} {file.with_suffix('.npz')}` "
                             "and use the .npz")
    if file.suffix.lower() != ".npz":
        raise ModelFileError(f"{file}: expected a .npz body-model file")
    if not file.is_file():
        raise ModelFileError(f"{file}: no such file")
    aliases = dict(aliases or {})
    out: dict[str, np.ndarray] = {}
    with np.load(file, allow_pickle=False) as data:
        keys = set(data.files)
        for key, needed in [(k, True) for k in required] + [(k, False) for k in optional]:
            stored = key if key in keys else aliases.get(key)
            if stored not in keys:
                if needed:
                    names = f"{key!r}" + (f" (or {aliases[key]!r})" if key in aliases else "")
                    raise ModelFileError(f"{file}: missing array {names}; the file has {sorted(keys)}")
                continue
            try:
                arr = data[stored]
            except ValueError as exc:  # an object array: numpy refuses to unpickle it
                raise ModelFileError(f"{file}: {stored!r} is not a plain numeric array ({exc})") from None
            if arr.dtype.kind not in NUMERIC_KINDS:
                raise ModelFileError(f"{file}: {stored!r} must be numeric, got dtype {arr.dtype}")
            out[key] = arr
    return out


def check_shapes(arrays: Mapping[str, np.ndarray], specs: Mapping[str, ShapeSpec],
                 source: str | os.PathLike = "model") -> dict[str, int]:
    """Check each array against its shape spec; returns the sizes bound to the spec's symbols.

    A spec is a tuple of ints (exact sizes) and strings (symbols: every use of ``"V"`` must be the
    same size). Keys of ``specs`` missing from ``arrays`` are skipped (optional arrays).
    """
    bound: dict[str, int] = {}
    for key, spec in specs.items():
        if key not in arrays:
            continue
        shape = np.shape(arrays[key])
        ok = len(shape) == len(spec)
        for size, want in zip(shape, spec):
            if not ok:
                break
            if isinstance(want, str):
                ok = bound.setdefault(want, size) == size
            else:
                ok = size == want
        if not ok:
            pretty = "[" + ", ".join(str(bound.get(s, s)) if isinstance(s, str) else str(s) for s in spec) + "]"
            raise ModelFileError(f"{source}: {key!r} has shape {list(shape)}, expected {pretty}")
    return bound


# --------------------------------------------------------------------------- restricted unpickling
class _Inert:
    """A stand-in for a class the pickle names: it only records what it is given."""

    pickled_name = ""
    args: tuple[Any, ...] = ()  # class defaults: NEWOBJ creates instances without __init__
    state: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _byte_string(raw: Any, what: str) -> bytes:
    """Raw array bytes: ``bytes`` (Python 3) or a latin-1 decoded ``str`` (a Python 2 pickle)."""
    if isinstance(raw, bytes | bytearray):
        return bytes(raw)
    if isinstance(raw, str):
        return raw.encode("latin1")
    if isinstance(raw, pickle.PickleBuffer):
        return bytes(raw.raw())
    raise pickle.UnpicklingError(f"{what}: expected raw bytes, got {type(raw).__name__}")


class _DType(_Inert):
    """A pickled ``numpy.dtype``; :meth:`resolve` builds only plain scalar dtypes (no fields)."""

    pickled_name = "numpy.dtype"

    def resolve(self) -> np.dtype:
        code = self.args[0] if self.args else None
        code = code.decode("latin1") if isinstance(code, bytes) else code
        state = self.state if isinstance(self.state, tuple) else ()
        # (version, byteorder, subarray, names, fields, elsize, alignment, flags); version 0-2 are shorter.
        if not isinstance(code, str) or not code or any(v is not None for v in state[2:5] if len(state) >= 8):
            raise pickle.UnpicklingError(f"refused dtype {code!r}: only plain scalar dtypes are read")
        kind = code[0]
        order = state[1] if len(state) > 1 and state[1] in ("<", ">") else ""
        if kind == "O":
            return np.dtype(object)
        if kind in ("U", "S"):  # flexible: the size is the state's elsize
            size = int(state[5]) if len(state) >= 8 else int(code[1:] or 0)
            return np.dtype(f"{order}U{size // 4}" if kind == "U" else f"S{size}")
        if kind not in "biufc" or not code[1:].isdigit():
            raise pickle.UnpicklingError(f"refused dtype {code!r}: only bool, int, float and complex are read")
        return np.dtype(order + code)


class _Array(_Inert):
    """A pickled ``numpy.ndarray``, built by :meth:`resolve` from its recorded state."""

    pickled_name = "numpy.ndarray"

    def resolve(self, materialize: Any) -> np.ndarray:
        state = self.state
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError("numpy.ndarray: unexpected pickled state")
        shape, dtype, fortran, raw = state[-4:]
        if not isinstance(dtype, _DType) or not isinstance(shape, tuple):
            raise pickle.UnpicklingError("numpy.ndarray: unexpected pickled shape or dtype")
        return _build_array(raw, dtype.resolve(), shape, "F" if fortran else "C", materialize)


def _build_array(raw: Any, dtype: np.dtype, shape: Any, order: str, materialize: Any) -> np.ndarray:
    try:
        shape = tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        raise pickle.UnpicklingError(f"numpy.ndarray: bad shape {shape!r}") from None
    count = int(np.prod(shape, dtype=np.int64))
    if min(shape, default=0) < 0:
        raise pickle.UnpicklingError(f"numpy.ndarray: bad shape {shape!r}")
    if dtype.hasobject:  # elements are pickled objects (already restricted), never raw pointers
        if not isinstance(raw, list) or len(raw) != count:
            raise pickle.UnpicklingError("numpy.ndarray: an object array needs a list of its elements")
        out = np.empty(count, dtype=object)
        for i, item in enumerate(raw):
            out[i] = materialize(item)
        return out.reshape(shape, order=order)
    data = _byte_string(raw, "numpy.ndarray")
    if len(data) != count * dtype.itemsize:
        raise pickle.UnpicklingError(f"numpy.ndarray: {len(data)} bytes for {count} x {dtype}")
    return np.frombuffer(data, dtype=dtype, count=count).reshape(shape, order=order).copy()


class _SparseMatrix(_Inert):
    """A pickled ``scipy.sparse`` matrix (csc / csr / coo); :meth:`to_dense` rebuilds it."""

    def to_dense(self) -> np.ndarray:
        import scipy.sparse as sp

        state = self.state
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"{self.pickled_name}: unexpected pickled state {type(state).__name__}")
        shape = tuple(int(s) for s in state.get("_shape", state.get("shape", ())))
        fmt = self.pickled_name.rsplit(".", 1)[-1][:3]
        names = ("data", "row", "col") if fmt == "coo" else ("data", "indices", "indptr")
        if fmt == "coo" and "coords" in state:  # scipy >= 1.13 keeps (row, col) as coords
            state = {**state, "row": state["coords"][0], "col": state["coords"][1]}
        parts = [state.get(n) for n in names]
        if not all(isinstance(a, np.ndarray) and a.dtype.kind in NUMERIC_KINDS for a in parts):
            raise pickle.UnpicklingError(f"{self.pickled_name}: expected numeric arrays {names}")
        if fmt == "coo":
            mat = sp.coo_matrix((parts[0], (parts[1], parts[2])), shape=shape)
        else:
            mat = (sp.csc_matrix if fmt == "csc" else sp.csr_matrix)(tuple(parts), shape=shape)
        return np.asarray(mat.toarray())


class _ChumpyArray(_Inert):
    """A pickled ``chumpy`` object; a plain ``Ch`` holds its array as ``x`` (see :meth:`to_array`)."""

    def to_array(self) -> np.ndarray:
        state = self.state if isinstance(self.state, dict) else {}
        x = state.get("x")
        if isinstance(x, np.ndarray) and x.dtype.kind in NUMERIC_KINDS:
            return x
        if isinstance(x, _ChumpyArray):
            return x.to_array()
        raise pickle.UnpicklingError(f"{self.pickled_name}: a chumpy expression (not a plain Ch array) cannot be "
                                     "evaluated without chumpy; only plain arrays are converted")


class _NDArrayType:
    """What ``numpy.ndarray`` resolves to: a token for ``_reconstruct``, never the constructor
    (``ndarray(shape, object, buffer)`` would make object pointers of the pickle's bytes)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise pickle.UnpicklingError("refused to call numpy.ndarray")


_NDARRAY = _NDArrayType()


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> _Array:
    """numpy's ``_reconstruct`` for plain ndarrays: an inert array filled in by BUILD."""
    if subtype is not _NDARRAY:
        raise pickle.UnpicklingError(f"refused to build an array of type {subtype!r}")
    return _Array()


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """numpy's protocol-5 array reconstruction (plain dtypes only; a copy of the buffer)."""
    if not isinstance(dtype, _DType) or order not in ("C", "F"):
        raise pickle.UnpicklingError("numpy._frombuffer: unexpected dtype or order")
    resolved = dtype.resolve()
    if resolved.hasobject:
        raise pickle.UnpicklingError("numpy._frombuffer: refused an object dtype")
    return _build_array(buf, resolved, shape, order, None)


def _scalar(dtype: Any, raw: Any) -> Any:
    """numpy's ``scalar``: one value of a plain dtype from its bytes (an object scalar is itself)."""
    if not isinstance(dtype, _DType):
        raise pickle.UnpicklingError("numpy.scalar: unexpected dtype")
    resolved = dtype.resolve()
    if resolved.hasobject:
        return raw
    return _build_array(raw, resolved, (), "C", None)[()]


def _latin1_bytes(text: Any, encoding: Any = "latin1") -> bytes:
    """``_codecs.encode`` restricted to what pickle uses it for: a str to latin-1 bytes."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("refused: _codecs.encode beyond latin-1 bytes")
    return text.encode("latin1")


def _empty_bytes(*args: Any) -> bytes:
    """``bytes()`` as pickle uses it: the empty byte string, nothing else."""
    if args:
        raise pickle.UnpicklingError("refused: bytes(...) with arguments")
    return b""


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copyreg._reconstructor`` for the inert stand-ins only."""
    if not (isinstance(cls, type) and issubclass(cls, _Inert)) or base is not object:
        raise pickle.UnpicklingError(f"refused to reconstruct {cls!r} from {base!r}")
    return cls()


def _inert_class(base: type[_Inert], module: str, name: str) -> type[_Inert]:
    return type(name, (base,), {"pickled_name": f"{module}.{name}"})


_MULTIARRAY = ("numpy._core.multiarray", "numpy.core.multiarray")
_NUMERIC = ("numpy._core.numeric", "numpy.core.numeric")
_SPARSE_MODULES = ("scipy.sparse", "scipy.sparse.csc", "scipy.sparse.csr", "scipy.sparse.coo",
                   "scipy.sparse._csc", "scipy.sparse._csr", "scipy.sparse._coo")
_SPARSE_NAMES = ("csc_matrix", "csr_matrix", "coo_matrix", "csc_array", "csr_array", "coo_array")
_CHUMPY_MODULES = ("chumpy", "chumpy.ch", "chumpy.ch_ops", "chumpy.reordering", "chumpy.utils", "chumpy.logic",
                   "chumpy.linalg")


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that reads arrays and runs nothing else (see the module docstring).

    Every global a pickle names goes through :meth:`find_class`, which answers from an allow-list
    and raises ``pickle.UnpicklingError`` for anything else, before it could be called; persistent
    ids are refused too. Even numpy's own reconstruction does not run on the pickle's data: arrays,
    dtypes, sparse matrices and chumpy arrays come in as inert records, and :meth:`load` then builds
    the arrays itself (plain bool / int / float / complex / string dtypes from their bytes, object
    arrays from their already-unpickled elements). Python 2 pickles are read with ``latin1``.
    """

    def __init__(self, file: Any) -> None:
        super().__init__(file, encoding="latin1")

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if module in _MULTIARRAY and name in ("_reconstruct", "scalar"):
            return _reconstruct if name == "_reconstruct" else _scalar
        if module in _NUMERIC and name == "_frombuffer":
            return _frombuffer
        if key == ("numpy", "ndarray"):
            return _NDARRAY
        if key == ("numpy", "dtype"):
            return _DType
        if key in (("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor")):
            return _reconstructor
        if key == ("_codecs", "encode"):  # how Python 3 writes bytes at protocols 0 to 2
            return _latin1_bytes
        if module in ("__builtin__", "builtins") and name == "bytes":  # ... and the empty bytes
            return _empty_bytes
        if module in ("__builtin__", "builtins") and name in ("object", "set", "frozenset"):
            return {"object": object, "set": set, "frozenset": frozenset}[name]
        if module in _SPARSE_MODULES and name in _SPARSE_NAMES:
            return _inert_class(_SparseMatrix, module, name)
        if module in _CHUMPY_MODULES and name.isidentifier():
            return _inert_class(_ChumpyArray, module, name)
        raise pickle.UnpicklingError(f"refused to load global {module}.{name}: only numpy arrays, scipy.sparse "
                                     "matrices and chumpy arrays may appear in a body-model pickle")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused: persistent ids are not allowed")

    def load(self) -> Any:
        """The unpickled object with every inert array record built into a numpy array."""
        try:
            return _materialize(super().load(), {})
        except RecursionError:
            raise pickle.UnpicklingError("refused: the pickle nests too deeply") from None


def _materialize(obj: Any, memo: dict[int, Any]) -> Any:
    """``obj`` with :class:`_Array` / :class:`_DType` records built (shared and cyclic parts kept)."""
    if id(obj) in memo:
        return memo[id(obj)]

    def sub(item: Any) -> Any:
        return _materialize(item, memo)

    if isinstance(obj, _Array):
        memo[id(obj)] = out = obj.resolve(sub)
    elif isinstance(obj, _DType):
        memo[id(obj)] = out = obj.resolve()
    elif isinstance(obj, dict):
        memo[id(obj)] = out = {}
        out.update((sub(k), sub(v)) for k, v in obj.items())
    elif isinstance(obj, list):
        memo[id(obj)] = out = []
        out.extend(sub(v) for v in obj)
    elif isinstance(obj, tuple):
        out = tuple(sub(v) for v in obj)
    elif isinstance(obj, set | frozenset):
        out = type(obj)(sub(v) for v in obj)
    elif isinstance(obj, _Inert):  # sparse / chumpy records: their state holds arrays
        memo[id(obj)] = obj
        obj.args, obj.state = sub(obj.args), sub(obj.state)
        out = obj
    else:
        out = obj
    return out


def restricted_loads(data: bytes) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (sparse / chumpy records left as records)."""
    return RestrictedUnpickler(io.BytesIO(data)).load()


def _to_array(value: Any) -> np.ndarray | None:
    """``value`` as a numeric array when it is one (array, sparse or chumpy stand-in, numeric list)."""
    if isinstance(value, _SparseMatrix):
        return value.to_dense()
    if isinstance(value, _ChumpyArray):
        return value.to_array()
    if isinstance(value, np.ndarray):
        return value if value.dtype.kind in NUMERIC_KINDS else None
    if isinstance(value, list | tuple) and value:
        try:
            arr = np.asarray([_to_array(v) if isinstance(v, _Inert) else v for v in value])
        except (ValueError, TypeError, pickle.UnpicklingError):
            return None
        return arr if arr.dtype.kind in NUMERIC_KINDS else None
    if isinstance(value, bool | int | float | np.generic) and not isinstance(value, np.str_ | np.bytes_):
        arr = np.asarray(value)
        return arr if arr.dtype.kind in NUMERIC_KINDS else None
    return None


def numeric_arrays(obj: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The numeric arrays of an unpickled dict, and the dropped keys with the reason."""
    kept: dict[str, np.ndarray] = {}
    dropped: dict[str, str] = {}
    for key, value in obj.items():
        try:
            arr = _to_array(value)
        except pickle.UnpicklingError as exc:
            dropped[str(key)] = str(exc)
            continue
        if arr is None:
            dropped[str(key)] = f"not a numeric array ({type(value).__name__})"
        else:
            kept[str(key)] = np.ascontiguousarray(arr)
    return kept, dropped


def read_pickled_model(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The numeric arrays of an official body-model pickle, read with :class:`RestrictedUnpickler`.

    Returns ``(arrays, dropped)``: sparse matrices come out dense, chumpy arrays as their values;
    ``dropped`` names every other entry with the reason. Raises ``pickle.UnpicklingError`` when the
    pickle names a refused global, ``ValueError`` when it is not a dict.
    """
    file = _as_path(path)
    with open(file, "rb") as fh:
        obj = RestrictedUnpickler(fh).load()
    if not isinstance(obj, dict):
        raise ValueError(f"{file}: expected a pickled dict of arrays, got {type(obj).__name__}")
    return numeric_arrays(obj)


def read_pickled_npy(path: str | os.PathLike) -> Any:
    """The object held by a ``.npy`` file, unpickled with :class:`RestrictedUnpickler` when needed.

    A numeric ``.npy`` loads with ``allow_pickle=False``; an object array (e.g. GraspXL's recorded
    dict, saved with ``np.save(path, dict)``) is parsed from the ``.npy`` header and its pickled
    payload read by the restricted unpickler. A 0-d object array gives its single item.
    """
    file = _as_path(path)
    with open(file, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            _, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            _, _, dtype = np.lib.format.read_array_header_2_0(fh)
        if not dtype.hasobject:
            return np.load(file, allow_pickle=False)
        arr = RestrictedUnpickler(fh).load()
    if isinstance(arr, np.ndarray) and arr.shape == ():
        return arr.item()
    return arr


def write_model_npz(arrays: Mapping[str, np.ndarray], path: str | os.PathLike, allow_text: bool = False) -> Path:
    """Write numeric arrays (and strings when ``allow_text``) to ``path``, a plain ``.npz``
    readable with ``allow_pickle=False``; the file appears complete or not at all."""
    file = _as_path(path)
    kinds = NUMERIC_KINDS + ("U" if allow_text else "")
    for key, arr in arrays.items():
        if np.asarray(arr).dtype.kind not in kinds:
            raise ValueError(f"{key!r}: only numeric arrays{' and strings' if allow_text else ''} are written, "
                             f"got dtype {np.asarray(arr).dtype}")
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(file.name + ".part")
    with open(tmp, "wb") as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})
    os.replace(tmp, file)
    return file


def convert_pickle(src: str | os.PathLike, dst: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Convert an official body-model pickle to a plain ``.npz`` (see the module docstring)."""
    arrays, dropped = read_pickled_model(src)
    if not arrays:
        raise ValueError(f"{src}: no numeric arrays found (dropped: {dropped})")
    write_model_npz(arrays, dst)
    return arrays, dropped
