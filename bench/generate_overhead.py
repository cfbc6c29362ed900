"""Request overhead of /hoi/generate outside the model, for a 49 x 416 x 624 video.

    source scripts/env.sh && python bench/generate_overhead.py [--repeats 5]

Measures, each as the median of ``--repeats`` runs:
1. validation: ``validate_request`` of a 416 x 624 reference image (rgb8 and bgr8);
2. conversion: ``sequence_to_motion_msg`` of a 49-frame motion (21 joints, 298 object points)
   plus its CDR serialisation and deserialisation (what DDS does with the response's motion);
3. transport: a real DDS service round trip of a Generate request carrying the 416 x 624 image to
   ``hoi_generator`` in a separate process (no model configured, so the node answers at once);
4. writing: the output folder of a 49 x 416 x 624 video + sequence (mp4 CRF 18 + npz, atomic).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test" / "nodes"))


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    import os
    import random

    os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    from generate_client import GenerateClient, make_request
    from hoi_ros.msg import HOIMotion
    from rclpy.serialization import deserialize_message, serialize_message
    from ros_support import NodeProcess

    from hoi_ros.core.generation import GeneratorLimits
    from hoi_ros.core.queue import GenerationQueue
    from hoi_ros.core.synthetic import reach_grasp_lift
    from hoi_ros.nodes.conversions import sequence_to_motion_msg
    from hoi_ros.nodes.validation import validate_request

    height, width, frames = 416, 624, 49
    seq = reach_grasp_lift(num_frames=frames, image_size=(height, width))
    video = seq.render_motion()
    seq = seq.with_video(video)
    image = video[0]
    limits = GeneratorLimits()
    results: dict[str, float] = {}
    for enc in ("rgb8", "bgr8"):
        req = make_request("srv", image=image, encoding=enc, prompt="grasp the ball and lift it")
        results[f"validation ({enc}, {height}x{width})"] = timed(lambda r=req: validate_request(r, limits),
                                                                 args.repeats)

    def convert() -> None:
        msg = sequence_to_motion_msg(seq, "world")
        deserialize_message(serialize_message(msg), HOIMotion)

    results[f"motion -> msg -> CDR -> msg ({frames} frames, 21 joints, 298 points)"] = timed(convert, args.repeats)

    with tempfile.TemporaryDirectory() as tmp:
        queue = GenerationQueue(None, tmp, queue_size=1)  # type: ignore[arg-type] - only _write is used
        counter = iter(range(10**6))
        results[f"writing {frames}x{height}x{width} mp4 + npz"] = timed(
            lambda: queue._write(f"bench-{next(counter)}", seq), args.repeats)

        client = GenerateClient("bench_client")
        try:
            with NodeProcess("hoi_ros.nodes.generator_node", "hoi_generator_bench",
                             {"generator_config": "", "output_root": tmp}) as node:
                client.wait_ready(node=node)
                req = make_request("srv", image=image)
                client.call(req)  # warm-up: discovery, first allocation
                results[f"DDS service round trip, {height}x{width} rgb8 request"] = timed(
                    lambda: client.call(req), args.repeats)
        finally:
            client.close()

    print(f"# request overhead outside the model (median of {args.repeats})")
    for name, seconds in results.items():
        print(f"{name:70s} {1000 * seconds:9.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
