"""Robot hands for ``hoi_retarget``, by name only: built-in or registered ones, else
``<folder>/<name>.yaml`` in the configured folders (the ``robot_folders`` parameter).

A request never names a path: anything that is not a plain name (letters, digits, ``_``, ``-``)
is refused before the file system is touched, so a DDS peer can neither read a file elsewhere on
the machine nor learn whether one exists. Errors in a robot YAML are reported by kind and line,
never with the file's contents.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from hoi_ros.core.generation import RequestError
from hoi_ros.retarget import HandDescription, get_robot
from hoi_ros.retarget.robots import BUILTIN

ROBOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
DEFAULT_FOLDERS = ("urdf", "~/.ros/hoi_ros/robots")


def check_robot_name(name: str) -> str:
    """``name`` when it is a plain robot name, else :class:`RequestError` (field ``robot``)."""
    if not ROBOT_NAME.fullmatch(name):
        shown = name if len(name) <= 80 else name[:77] + "..."
        raise RequestError("robot", f"{shown!r} is not a robot name (1-64 letters, digits, '_', '-'); robots are "
                           "chosen by name from the built-in ones and the robot_folders parameter's folders")
    return name


def robot_yaml(name: str, folders: Sequence[Path]) -> Path | None:
    """The first ``<folder>/<name>.yaml`` that is a file, or None."""
    for folder in folders:
        path = folder / f"{name}.yaml"
        if path.is_file():
            return path
    return None


def find_robot(name: str, folders: Sequence[Path]) -> HandDescription:
    """The robot ``name``: built-in / registered, else ``<name>.yaml`` in ``folders`` (in order).

    Raises :class:`RequestError` (field ``robot``) for a name that is not plain, an unknown robot
    or a robot YAML that cannot be loaded (the reason by kind, without the file's contents).
    """
    check_robot_name(name)
    path = robot_yaml(name, folders)
    if path is None:
        try:
            return get_robot(name)
        except ValueError:
            known = sorted(BUILTIN) + sorted({p.stem for f in folders if f.is_dir() for p in f.glob("*.yaml")})
            raise RequestError("robot", f"unknown robot {name!r}; known: {', '.join(known)} (robot_folders: "
                               f"{', '.join(map(str, folders)) or 'none'})") from None
    try:
        return get_robot(str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise RequestError("robot", f"{name}: {path.name} is not valid YAML{where}") from None
    except (ValueError, OSError) as exc:
        raise RequestError("robot", f"{name}: cannot load {path.name}: {_first_line(exc)}") from None
    except Exception as exc:  # e.g. a urdf that is not XML
        raise RequestError("robot", f"{name}: cannot load {path.name}: {type(exc).__name__}: "
                           f"{_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
