"""What every hoi_ros node shares: finding its files, answering every request, spinning until Ctrl-C.

Kept apart from the nodes so each node module holds only its own message handling.

* :func:`guarded_service` wraps a service handler so that any error becomes a failure response
  (``success: false`` and a message naming the field when the error does) and the node keeps
  serving; :func:`guarded_callback` does the same for subscriptions and timers (the error is logged).
  An exception that escapes a callback would otherwise leave the caller without an answer and end
  the executor's spin, and with it the process.
* :class:`StartupError` names the parameter a node cannot start with; :func:`spin_node` logs it
  and returns exit status 1 (nothing else is printed over it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def resolve_path(path: str, field: str) -> Path:
    """``path`` as given, else relative to the source tree or the installed ``share/hoi_ros``.

    ``field`` names the parameter in the error, e.g. ``generator_config``.
    """
    candidate = Path(path).expanduser()
    if candidate.is_absolute() or candidate.exists():
        return candidate
    roots = [PACKAGE_ROOT]
    try:
        from ament_index_python.packages import get_package_share_directory

        roots.append(Path(get_package_share_directory("hoi_ros")))
    except Exception:  # no ament index (plain pip install): the source tree only
        pass
    for root in roots:
        if (root / candidate).exists():
            return root / candidate
    raise FileNotFoundError(f"{field}: {path!r} not found (looked in {', '.join(map(str, roots))})")


class StartupError(RuntimeError):
    """A node cannot start; ``str(error)`` starts with the parameter's name, ``parameter`` holds it."""

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"{parameter}: {reason}")
        self.parameter = parameter


def failure_message(exc: BaseException, field: str = "") -> str:
    """``invalid request: <field>: <reason>`` for an error that names its field (a ``field``
    attribute, e.g. :class:`~hoi_ros.core.generation.RequestError`), else ``<field>: <Type>: ...``."""
    named = getattr(exc, "field", None)
    if named:
        return f"invalid request: {exc}"
    text = str(exc).strip().splitlines()[0][:500] if str(exc).strip() else ""
    return f"{field + ': ' if field else ''}{type(exc).__name__}: {text}".rstrip(": ")


def guarded_service(node: Any, handler: Callable[[Any, Any], Any], field: str = "") -> Callable[[Any, Any], Any]:
    """``handler(request, response)`` that always answers: an error becomes a fresh response with
    ``success = False`` and :func:`failure_message` (``field`` names the request part at fault when
    the error does not say). The error and its traceback go to the node's log."""

    @functools.wraps(handler)
    def answer(request: Any, response: Any) -> Any:
        try:
            return handler(request, response)
        except Exception as exc:
            failed = type(response)()
            failed.success = False
            failed.message = failure_message(exc, field)
            node.get_logger().error(f"{getattr(handler, '__name__', 'handler')}: {failed.message}")
            return failed

    return answer


def guarded_callback(node: Any, callback: Callable[..., None], what: str) -> Callable[..., None]:
    """A subscription or timer ``callback`` whose errors are logged (naming ``what``), not raised."""

    @functools.wraps(callback)
    def run(*args: Any) -> None:
        try:
            callback(*args)
        except Exception as exc:
            node.get_logger().error(f"{what}: {type(exc).__name__}: {exc}")

    return run


def spin_node(make_node: Callable[[], object], threads: int | Callable[[object], int] = 1,
              args: list[str] | None = None) -> int:
    """``rclpy.init``, build the node, spin it until Ctrl-C / shutdown, then clean up; returns 0.

    ``threads``: 1 = a single-threaded executor; more = a ``MultiThreadedExecutor`` with that many
    threads (or a function of the node giving the count, e.g. from a queue-size parameter).
    A start-up error (:class:`StartupError`, or any error while building the node) is logged as
    ``cannot start: <parameter>: <reason>`` and the process ends with status 1.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor

    rclpy.init(args=args)
    node = None
    try:
        try:
            node = make_node()
        except (KeyboardInterrupt, ExternalShutdownException):
            raise
        except Exception as exc:
            name = getattr(make_node, "node_name", getattr(make_node, "__name__", "node"))
            reason = str(exc) if isinstance(exc, StartupError) else f"{type(exc).__name__}: {exc}"
            rclpy.logging.get_logger(name).fatal(f"cannot start: {reason}")
            return 1
        count = threads(node) if callable(threads) else int(threads)
        executor = MultiThreadedExecutor(num_threads=count) if count > 1 else SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        try:
            rclpy.try_shutdown()  # also destroys a node whose constructor failed
        except Exception as exc:  # never hide the error that ended the node
            rclpy.logging.get_logger("hoi_ros").warning(f"shutdown: {type(exc).__name__}: {exc}")
    return 0
