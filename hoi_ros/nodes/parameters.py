"""Parameters with descriptors: type, description, range, read-only where only read at start-up.

``declare(node, name, default, description, ...)`` declares one parameter with a
``rcl_interfaces/ParameterDescriptor``; rclpy then refuses (``successful: false``, with the reason)
a runtime change outside the range or of a read-only parameter, and a start-up value outside the
range ends the node with a :class:`~hoi_ros.nodes.runtime.StartupError` naming the parameter.

Parameters that may change at run time are declared ``read_only=False`` and applied by the node in
a post-set callback (:func:`on_change`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

from hoi_ros.nodes.runtime import StartupError


def descriptor(description: str, default: Any, *, read_only: bool = True,
               low: float | None = None, high: float | None = None) -> ParameterDescriptor:
    """A descriptor for ``default``'s type, with an inclusive ``low..high`` range when given."""
    desc = ParameterDescriptor(description=description, read_only=read_only)
    if low is not None and high is not None:
        if isinstance(default, bool) or not isinstance(default, int | float):
            raise TypeError(f"a range needs a number parameter, got {default!r}")
        if isinstance(default, int):
            desc.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
        else:
            desc.floating_point_range = [FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]
        desc.additional_constraints = f"{low} <= value <= {high}"
    return desc


def declare(node: Node, name: str, default: Any, description: str, *, read_only: bool = True,
            low: float | None = None, high: float | None = None) -> Any:
    """Declare ``name`` (see :func:`descriptor`) and return its value; a bad start-up value (wrong
    type or outside the range) raises :class:`StartupError` naming the parameter."""
    desc = descriptor(description, default, read_only=read_only, low=low, high=high)
    try:
        return node.declare_parameter(name, default, desc).value
    except InvalidParameterValueException as exc:
        raise StartupError(name, f"{_given(node, name)} is outside {low}..{high}" if low is not None
                           else str(exc)) from None
    except InvalidParameterTypeException as exc:
        raise StartupError(name, f"expected a {type(default).__name__}: {exc}") from None


def declare_strings(node: Node, name: str, default: Sequence[str], description: str) -> list[str]:
    """A read-only string-array parameter (an empty list stays a string array)."""
    desc = ParameterDescriptor(description=description, read_only=True, type=Parameter.Type.STRING_ARRAY.value)
    try:
        value = node.declare_parameter(name, Parameter.Type.STRING_ARRAY if not default else list(default),
                                       desc).value
    except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
        raise StartupError(name, f"expected a list of strings: {exc}") from None
    return [str(v) for v in (value or [])]


def _given(node: Node, name: str) -> str:
    """The start-up override of ``name`` (from the command line or a parameter file), if any."""
    override = node._parameter_overrides.get(name)  # rclpy keeps them by name
    return repr(override.value) if override is not None else "the value"


def on_change(node: Node, apply: Callable[[dict[str, Any]], None]) -> None:
    """Call ``apply({name: value})`` after each accepted runtime change of parameters."""
    node.add_post_set_parameters_callback(lambda params: apply({p.name: p.value for p in params}))
