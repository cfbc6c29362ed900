"""Helpers for tests that talk to hoi_ros nodes over real DDS.

``NodeProcess`` starts a node in a separate Python process (``python -m <module>``) with ROS
parameters, waits until it is up (a service or action server is visible) and stops it cleanly.
``ros_available()`` tells whether rclpy and the colcon-built interfaces import; tests marked
``ros`` skip only when they do not, which never happens after ``scripts/setup.sh``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def ros_available() -> bool:
    try:
        import hoi_ros.msg  # noqa: F401
        import rclpy  # noqa: F401
    except ImportError:
        return False
    return True


class NodeProcess:
    """Run ``python -m module --ros-args --params-file <yaml>`` in a child process.

    ``namespace`` (e.g. ``/robot1/hoi``) starts the node there instead of its default ``/hoi``.
    """

    def __init__(self, module: str, node_name: str, params: dict[str, Any] | None = None,
                 extra_args: list[str] | None = None, namespace: str = "") -> None:
        self.module = module
        self.namespace = namespace
        self.node_name = node_name
        self.params = params or {}
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen | None = None
        self._tmp = tempfile.TemporaryDirectory()
        self.log_path = Path(self._tmp.name) / "node.log"

    def __enter__(self) -> NodeProcess:
        params_file = Path(self._tmp.name) / "params.yaml"
        # "/**/<name>": the node's parameters in any namespace (the nodes default to /hoi).
        params_file.write_text(yaml.safe_dump({f"/**/{self.node_name}": {"ros__parameters": self.params}}))
        env = dict(os.environ)
        env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
        env["PYTHONUNBUFFERED"] = "1"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "--ros-args", "-r", f"__node:={self.node_name}",
             *(["-r", f"__ns:={self.namespace}"] if self.namespace else []),
             "--params-file", str(params_file), *self.extra_args],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def wait_exit(self, timeout: float) -> int:
        """The exit status of a node expected to end by itself (e.g. refusing to start)."""
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def assert_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"node {self.node_name} exited with {self.proc.returncode}:\n{self.log()}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()
        self._tmp.cleanup()


def wait_for(predicate, timeout: float, what: str, node: NodeProcess | None = None,
             interval: float = 0.1) -> None:
    """Poll ``predicate()`` until true; fail with the node's log after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node is not None:
            node.assert_alive()
        if predicate():
            return
        time.sleep(interval)
    log = node.log() if node is not None else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{log}")


class BackgroundClient:
    """A test-side rclpy node in a private context, spun by a daemon thread.

    Subclasses create their clients and subscriptions on ``self.node`` in ``__init__`` after
    ``super().__init__(name)`` and call :meth:`start`; :meth:`close` tears it all down.
    """

    def __init__(self, name: str) -> None:
        import rclpy

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)

    def start(self) -> None:
        import threading

        from rclpy.executors import SingleThreadedExecutor

        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except Exception:  # the context was shut down under the spinning thread
            pass

    def wait_call(self, client: Any, request: Any, timeout: float = 30.0) -> Any:
        """Call a service client of this node and wait for the answer (or fail after ``timeout``)."""
        assert client.wait_for_service(timeout_sec=timeout), f"no service {client.srv_name}"
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done():
            assert time.monotonic() < deadline, f"no answer from {client.srv_name}"
            time.sleep(0.01)
        return future.result()

    def set_parameter(self, node_fqn: str, name: str, value: Any) -> Any:
        """``SetParameters`` on the node ``node_fqn`` (e.g. ``/hoi/hoi_viz``): the one ``SetParametersResult``."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        cli = self.node.create_client(SetParameters, f"{node_fqn}/set_parameters")
        request = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
        return self.wait_call(cli, request).results[0]

    def get_parameter(self, node_fqn: str, name: str) -> Any:
        """The value of parameter ``name`` of ``node_fqn`` (its Python value)."""
        from rcl_interfaces.srv import GetParameters
        from rclpy.parameter import parameter_value_to_python

        cli = self.node.create_client(GetParameters, f"{node_fqn}/get_parameters")
        return parameter_value_to_python(self.wait_call(cli, GetParameters.Request(names=[name])).values[0])

    def close(self) -> None:
        import rclpy

        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self.thread.join(timeout=5)


def read_bag(path) -> dict[str, list]:
    """topic -> decoded messages, with mcap-ros2-support's decoder (from the schemas in the file)."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    got: dict[str, list] = {}
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for _schema, channel, message, decoded in reader.iter_decoded_messages():
            got.setdefault(channel.topic, []).append((message.log_time, decoded))
    return got
