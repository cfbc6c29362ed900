"""Demo client of the ``generate`` action (:class:`hoi_ros.nodes.client.HOIClient`): image + prompt in,
progress bar, contact sheet out.

    python -m hoi_ros.nodes.demo_client --prompt "grasp the ball and lift it" [--image ref.png]

Without ``--image`` the reference image is the one shipped with the embedded default model
(``models/svimo_tiny/demo_reference.png``: the first RGB frame of a held-out sim episode, at the
model's 64 x 96), and without ``--prompt`` the prompt is that episode's (``demo.json`` beside it).
The feedback drives a tqdm bar (one tick per denoising step). On success it reads the
saved sequence and writes ``<request_id>_sheet.png`` (a contact sheet: generated video above the
rendered motion video of the generated 3D motion) and ``<request_id>_motion.mp4`` into ``--out``
(default: the request's output folder, when this client runs on the generator's machine; on
another machine pass ``--out`` and ``--fetch-video``: the sheet is then made from the motion and
the video frames in the result).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DEMO_INPUT = "models/svimo_tiny/demo.json"  # source tree or installed share/hoi_ros


def default_input(size: tuple[int, int] | None = None) -> tuple[np.ndarray, str]:
    """The shipped demo input: a held-out sim episode's first RGB frame (resized to ``size`` = (H, W)
    when given) and that episode's prompt."""
    import json

    from PIL import Image as PILImage

    from hoi_ros.nodes.runtime import resolve_path

    spec = resolve_path(DEMO_INPUT, "demo input (else pass --image and --prompt)")
    info = json.loads(spec.read_text())
    with PILImage.open(spec.parent / info["image"]) as img:
        img = img.convert("RGB")
        if size is not None and (img.height, img.width) != tuple(size):
            img = img.resize((size[1], size[0]), PILImage.BILINEAR)
        return np.asarray(img), str(info["prompt"])


def load_png(path: str) -> np.ndarray:
    from PIL import Image as PILImage

    with PILImage.open(path) as img:
        return np.asarray(img.convert("RGB"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", default="", help="reference image (PNG/JPEG); default: the shipped held-out sim frame")
    ap.add_argument("--size", default="", help="HxW to resize the default image to (default: as shipped, 64x96)")
    ap.add_argument("--prompt", default="", help="default: the shipped demo frame's prompt")
    ap.add_argument("--frames", type=int, default=0, help="0 = the model's default")
    ap.add_argument("--steps", type=int, default=0, help="0 = the model's default")
    ap.add_argument("--seed", type=int, default=-1, help="negative = the node picks one")
    ap.add_argument("--guidance", type=float, default=0.0, help="0 = the model's default")
    ap.add_argument("--request-id", default="")
    ap.add_argument("--out", default="", help="folder for the sheet and motion video; default: the output folder")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the result")
    ap.add_argument("--server-timeout", type=float, default=30.0, help="seconds to wait for the action server")
    ap.add_argument("--namespace", default="/hoi", help="namespace of the stack (its generate action)")
    ap.add_argument("--fetch-video", action="store_true",
                    help="receive the generated frames in the result (a server on another machine)")
    return ap.parse_args(argv)


def write_outputs(sequence_path: str, out_dir: Path, request_id: str, motion_msg: Any = None,
                  video_msgs: Any = ()) -> tuple[Path, Path]:
    """Contact sheet PNG (video + rendered motion video) and the motion video mp4 of a result.

    When ``sequence_path`` is not readable here (the server runs on another machine), the sheet
    is made from the result's motion message and, when the result carries them
    (``return_video``), its video frames.
    """
    from hoi_ros.core.io import write_video
    from hoi_ros.core.sequence import HOISequence
    from hoi_ros.core.visualize import contact_sheet, save_png
    from hoi_ros.nodes.conversions import motion_msg_to_sequence

    if sequence_path and Path(sequence_path).is_file():
        seq = HOISequence.load(sequence_path)
    elif motion_msg is not None:
        seq = motion_msg_to_sequence(motion_msg)
        if len(video_msgs):
            from hoi_ros.nodes.image_conversion import msg_to_rgb

            seq = seq.with_video(np.stack([msg_to_rgb(m) for m in video_msgs]))
    else:
        raise FileNotFoundError(f"{sequence_path!r} is not readable here and the result has no motion")
    motion = seq.render_motion()
    rows, labels = [motion], ["motion"]
    if seq.video is not None:
        rows, labels = [seq.video, motion], ["video", "motion"]
    out_dir.mkdir(parents=True, exist_ok=True)
    sheet = save_png(out_dir / f"{request_id}_sheet.png", contact_sheet(rows, labels=labels))
    video = write_video(out_dir / f"{request_id}_motion.mp4", motion, seq.fps)
    return sheet, video


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from action_msgs.msg import GoalStatus
    from tqdm import tqdm

    from hoi_ros.nodes.client import ClientError, HOIClient

    prompt = args.prompt
    if args.image:
        image = load_png(args.image)
    else:
        size = tuple(int(v) for v in args.size.lower().split("x")) if args.size else None
        image, default_prompt = default_input(size)  # type: ignore[arg-type]
        prompt = prompt or default_prompt
    if not prompt:
        print("error: --prompt is needed with --image", file=sys.stderr)
        return 2
    fields = {"num_frames": args.frames, "num_inference_steps": args.steps, "seed": args.seed,
              "guidance_scale": args.guidance, "request_id": args.request_id, "return_video": args.fetch_video}

    client = HOIClient(args.namespace, "hoi_generate_demo")
    bar = tqdm(total=1, unit="step", desc="queued")
    try:
        try:
            client.wait_ready(["generate"], timeout=args.server_timeout)
        except ClientError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

        shown = {"stage": "queued"}  # tqdm's desc carries a ": " suffix, so the stage is kept here

        def on_feedback(fb: Any) -> None:
            if fb.stage != shown["stage"] or bar.total != max(fb.total_steps, 1):
                shown["stage"] = fb.stage
                bar.reset(total=max(fb.total_steps, 1))
                bar.set_description(fb.stage)
            bar.n = fb.step
            bar.set_postfix(overall=f"{100 * fb.progress:.0f}%")
            bar.refresh()

        start = time.monotonic()
        try:
            job = client.generate_async(image, prompt, on_feedback, timeout=args.server_timeout, **fields)
        except ClientError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        try:
            status, result = job.result(timeout=args.timeout)
        except KeyboardInterrupt:
            print("\ncancelling...", file=sys.stderr)
            job.cancel()
            status, result = job.result(timeout=60)
        except ClientError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        bar.close()
        if status != GoalStatus.STATUS_SUCCEEDED or not result.success:
            print(f"failed: {result.message}", file=sys.stderr)
            return 1
        print(f"{result.message} (round trip {time.monotonic() - start:.1f} s, seed {result.seed})")
        print(f"video:    {result.video_path}\nsequence: {result.sequence_path}")
        local = Path(result.sequence_path).is_file()
        if not local and not args.out:
            print("the output folder is on the server's machine: pass --out to write the sheet here",
                  file=sys.stderr)
            return 1
        out_dir = Path(args.out) if args.out else Path(result.sequence_path).parent
        sheet, motion = write_outputs(result.sequence_path, out_dir, result.request_id, result.motion, result.video)
        print(f"sheet:    {sheet}\nmotion:   {motion}")
        return 0
    finally:
        bar.close()
        client.close()


if __name__ == "__main__":
    sys.exit(main())
