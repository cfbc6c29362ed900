"""The main job end to end: start ``hoi_generator``, send one goal through the action, show the result.

    python -m hoi_ros.nodes.demo_stack [--prompt "..."] [--image ref.png] [--out out/demo]

What ``ros2 launch hoi_ros generate.launch.py`` + :mod:`hoi_ros.nodes.demo_client` do on a full
ROS install, for a machine with only rclpy (no ``launch``/``ros2`` CLI): the generator node runs
in a child process with ``config/ros/generator.yaml`` (``--generator-params``) and its outputs go to
``<out>/generations``; the demo client sends the goal, shows a progress bar from the feedback and
writes the contact sheet (generated video above the rendered motion video of the generated 3D
motion). The node is stopped afterwards; its log is ``<out>/hoi_generator.log``. Arguments not
listed here go to the demo client (``--steps``, ``--seed``, ``--frames``, ``--guidance``, ...).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    ap.add_argument("--generator-params", type=Path, default=REPO / "config" / "ros" / "generator.yaml",
                    help="hoi_generator parameter file")
    ap.add_argument("--request-id", default="", help="names the output folder of the generation "
                    "(default: demo-<date>-<time>; an existing one is refused, so nothing is overwritten)")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed (the same seed gives the same result)")
    ap.add_argument("--startup-timeout", type=float, default=180.0, help="seconds for the node to come up")
    return ap.parse_known_args(argv)


def start_generator(params: Path, out: Path) -> tuple[subprocess.Popen, Path]:
    """Start ``hoi_generator`` in its own process session, writing into ``out/generations``."""
    if not params.is_file():
        raise FileNotFoundError(f"--generator-params: {params} does not exist")
    override = out / "generator_override.yaml"
    override.write_text(yaml.safe_dump(
        {"/**/hoi_generator": {"ros__parameters": {"output_root": str((out / "generations").resolve())}}}))
    log_path = out / "hoi_generator.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hoi_ros.nodes.generator_node", "--ros-args",
             "--params-file", str(params), "--params-file", str(override)],
            env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log_path


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    args, client_args = parse_args(argv)
    from hoi_ros.nodes import demo_client

    args.out.mkdir(parents=True, exist_ok=True)
    args.request_id = args.request_id or time.strftime("demo-%Y%m%d-%H%M%S")
    start = time.monotonic()
    proc, log_path = start_generator(args.generator_params, args.out)
    print(f"started hoi_generator (pid {proc.pid}, log {log_path})")
    try:
        code = demo_client.main([*client_args, "--request-id", args.request_id, "--seed", str(args.seed),
                                 "--out", str(args.out), "--server-timeout", str(args.startup_timeout)])
        if proc.poll() is not None:
            print(f"hoi_generator exited with {proc.returncode}; its log:\n{log_path.read_text()}", file=sys.stderr)
            return code or 1
    finally:
        stop(proc)
    if code == 0:
        sheet = args.out / f"{args.request_id}_sheet.png"
        shutil.copyfile(sheet, args.out / "contact_sheet.png")
        print(f"done in {time.monotonic() - start:.1f} s: {args.out / 'contact_sheet.png'}")
    else:
        print(f"hoi_generator log: {log_path}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
