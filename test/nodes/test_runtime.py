"""Every handler answers: errors become failure responses (services) or log lines (callbacks)."""

from __future__ import annotations

import pytest

from hoi_ros.core.generation import RequestError

pytest.importorskip("rclpy")


class Response:
    """The two fields every hoi_ros / std_srvs response shares, plus one more."""

    def __init__(self) -> None:
        self.success = True
        self.message = ""
        self.partial = ""


class Logger:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def error(self, text: str) -> None:
        self.lines.append(text)


class Node:
    def __init__(self) -> None:
        self.logger = Logger()

    def get_logger(self) -> Logger:
        return self.logger


def test_guarded_service_turns_any_error_into_a_failure_naming_the_field() -> None:
    from hoi_ros.nodes.runtime import guarded_service

    node = Node()

    def handler(request, response):
        response.partial = "half-filled"
        if request == "named":
            raise RequestError("robot", "unknown robot 'x'")
        raise NotADirectoryError(20, "Not a directory")

    answer = guarded_service(node, handler, "motion")
    named = answer("named", Response())
    assert named.success is False and named.message == "invalid request: robot: unknown robot 'x'"
    assert named.partial == ""  # a fresh response, not the half-filled one
    other = answer("other", Response())
    assert other.success is False and other.message == "motion: NotADirectoryError: [Errno 20] Not a directory"
    assert len(node.logger.lines) == 2


def test_guarded_callback_logs_instead_of_raising() -> None:
    from hoi_ros.nodes.runtime import guarded_callback

    node = Node()
    calls: list[int] = []

    def callback(msg: int) -> None:
        calls.append(msg)
        raise ZeroDivisionError("division by zero")

    guarded_callback(node, callback, "motion")(1)
    assert calls == [1] and node.logger.lines == ["motion: ZeroDivisionError: division by zero"]
