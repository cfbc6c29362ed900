"""What every hoi_ros node shares: finding its files and spinning until Ctrl-C.

Kept apart from the nodes so each node module holds only its own message handling.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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


def spin_node(make_node: Callable[[], object], threads: int | Callable[[object], int] = 1,
              args: list[str] | None = None) -> int:
    """``rclpy.init``, build the node, spin it until Ctrl-C / shutdown, then clean up; returns 0.

    ``threads``: 1 = a single-threaded executor; more = a ``MultiThreadedExecutor`` with that many
    threads (or a function of the node giving the count, e.g. from a queue-size parameter).
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor

    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        count = threads(node) if callable(threads) else int(threads)
        executor = MultiThreadedExecutor(num_threads=count) if count > 1 else SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
