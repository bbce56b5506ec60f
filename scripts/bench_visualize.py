#!/usr/bin/env python3
"""Visualiser latency: from a slider move (a POST of new offsets) to the new image (the PNG data
URL in the answer), on the 128x128 DCGAN benchmark generator; prints a Markdown table.

    python3 scripts/bench_visualize.py [--medigan target/release/medigan] [--moves 200] [--backend ort]

The benchmark package (~51 MB) is written once by scripts/make_fixtures.py into $BENCH_MODEL_DIR
(default $TMPDIR/medigan-bench-model). The browser adds its own decode and paint time (a few ms)
on top of these numbers.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--medigan", default=str(REPO / "target/release/medigan"))
    ap.add_argument("--moves", type=int, default=200)
    ap.add_argument("--backends", default="ort,tract")
    args = ap.parse_args()
    base = Path(os.environ.get("BENCH_MODEL_DIR", Path(tempfile.gettempdir()) / "medigan-bench-model"))
    package = base / "dcgan128_benchmark"
    if not (package / "model.onnx").exists():
        subprocess.run([sys.executable, str(REPO / "scripts/make_fixtures.py"), "--only",
                        "--benchmark", str(base)], check=True)
    print("| backend | moves | median ms | p95 ms | max ms | model ms (median) |")
    print("|---|---:|---:|---:|---:|---:|")
    for backend in args.backends.split(","):
        home = tempfile.mkdtemp(prefix="medigan-viz-bench-")
        server = subprocess.Popen(
            [args.medigan, "--offline", "--cache-dir", home, "--backend", backend, "--catalog",
             str(package / "medigan.json"), "visualize", "90100", "--no-browser", "--port", "0",
             "--slider-grouper", "10", "--save-dir", home],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            url = server.stdout.readline().split(": ", 1)[1].strip()
            info = json.loads(urllib.request.urlopen(url + "api/model").read())
            post(url + "api/sample", {"seed": 1})  # warm up
            took, model = [], []
            for move in range(args.moves):
                offsets = [0.0] * info["sliders"]
                offsets[move % info["sliders"]] = (move % 60) / 10 - 3
                start = time.perf_counter()
                answer = post(url + "api/sample", {"seed": 1, "offsets": offsets})
                took.append((time.perf_counter() - start) * 1000)
                model.append(answer["milliseconds"])
            took.sort()
            p95 = took[int(len(took) * 0.95) - 1]
            print(f"| {backend} | {len(took)} | {statistics.median(took):.1f} | {p95:.1f} | "
                  f"{took[-1]:.1f} | {statistics.median(model):.1f} |", flush=True)
        finally:
            server.terminate()
            server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
