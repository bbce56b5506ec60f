#!/usr/bin/env python3
"""End-to-end generation benchmark: N samples of the 128x128 DCGAN written as PNG files, timed from
process start to the last file, three ways side by side:

  rust         `medigan generate` (this project; onnxruntime backend, 2 one-thread sessions,
               PNG encoding and writing overlapped with inference)
  torch+pil    the way the original medigan does it: PyTorch eager generation in batches, then
               the images written one by one with Pillow, in one Python process
  ort-py+pil   onnxruntime from Python on the same ONNX file, same threads, Pillow writing

Every way runs in a fresh process with the same thread budget (--threads, default all cores), and
its peak RSS is read from the kernel (wait4). A memory check follows: the Rust CLI's peak RSS for
--mem-large samples against --mem-small.

    python3 scripts/bench_generate.py --medigan target/release/medigan [--n 1000,10000]

Needs numpy, onnx, onnxruntime, pillow and torch in python3. The benchmark package (~51 MB) is
written once by scripts/make_fixtures.py into $BENCH_MODEL_DIR (default $TMPDIR/medigan-bench-model).
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL_ID = "90100_BENCHMARK_DCGAN_128"

# The Python ways, run with `python3 -c`; each reads MODEL, OUT, N, BATCH, THREADS from argv.
TORCH_PIL = r"""
import sys, time
model, out, n, batch, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
import numpy as np, onnx, torch
from onnx import numpy_helper
from PIL import Image
torch.set_num_threads(threads)
weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in onnx.load(model).graph.initializer}
layers, i = [], 0
while f"main.convt{i}.weight" in weights:
    w = weights[f"main.convt{i}.weight"]
    first = i == 0
    conv = torch.nn.ConvTranspose2d(w.shape[0], w.shape[1], 4, 1 if first else 2, 0 if first else 1, bias=False)
    conv.weight.data = w
    layers.append(conv)
    if f"main.bn{i}.weight" in weights:
        bn = torch.nn.BatchNorm2d(w.shape[1], eps=1e-5)
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(bn, name).data = weights[f"main.bn{i}.{name}"]
        layers += [bn, torch.nn.ReLU(True)]
    i += 1
net = torch.nn.Sequential(*layers, torch.nn.Tanh()).eval()
gen = torch.Generator().manual_seed(0)
with torch.no_grad():
    done = 0
    while done < n:
        b = min(batch, n - done)
        images = net(torch.randn(b, 100, 1, 1, generator=gen))
        # medigan's DCGAN: map [-1, 1] to 0..255 and save image by image
        images = ((images + 1) * 127.5).clamp(0, 255).round().to(torch.uint8).numpy()
        for j in range(b):
            Image.fromarray(images[j, 0]).save(f"{out}/{done + j:05d}.png")
        done += b
"""

ORT_PIL = r"""
import sys
model, out, n, batch, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
import numpy as np, onnxruntime as ort
from PIL import Image
opts = ort.SessionOptions()
opts.intra_op_num_threads = threads
opts.inter_op_num_threads = 1
session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
rng = np.random.default_rng(0)
done = 0
while done < n:
    b = min(batch, n - done)
    (images,) = session.run(None, {"z": rng.standard_normal((b, 100, 1, 1), dtype=np.float32)})
    images = np.clip(np.rint((images + 1) * 127.5), 0, 255).astype(np.uint8)
    for j in range(b):
        Image.fromarray(images[j, 0]).save(f"{out}/{done + j:05d}.png")
    done += b
"""


def run_timed(cmd: list[str], env: dict | None = None) -> tuple[float, int]:
    """Runs a command; returns (wall seconds, peak RSS in MiB) of that process tree's largest member."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode()}")
    return seconds, usage.ru_maxrss // 1024


def benchmark_package() -> Path:
    base = Path(os.environ.get("BENCH_MODEL_DIR", Path(tempfile.gettempdir()) / "medigan-bench-model"))
    package = base / "dcgan128_benchmark"
    if not (package / "model.onnx").exists():
        subprocess.run([sys.executable, str(REPO / "scripts/make_fixtures.py"), "--only",
                        "--benchmark", str(base)], check=True)
    return package


def count_png(folder: Path) -> tuple[int, float]:
    files = list(folder.glob("*.png"))
    mean_kib = sum(f.stat().st_size for f in files) / max(len(files), 1) / 1024
    return len(files), mean_kib


def run_way(way: str, args, package: Path, n: int, out: Path) -> tuple[float, int]:
    model = str(package / "model.onnx")
    py = [sys.executable, "-c"]
    common = [model, str(out), str(n), str(args.batch), str(args.threads)]
    if way == "rust":
        home = out.parent / "home"
        return run_timed([args.medigan, "--offline", "--quiet", "--cache-dir", str(home), "--catalog",
                          str(package / "medigan.json"), "--backend", "ort", "generate", MODEL_ID,
                          "-n", str(n), "-o", str(out), "--batch", str(args.batch),
                          "--threads", str(args.threads)])
    if way == "torch+pil":
        return run_timed(py + [TORCH_PIL] + common)
    if way == "ort-py+pil":
        return run_timed(py + [ORT_PIL] + common)
    raise ValueError(way)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--medigan", default=str(REPO / "target/release/medigan"), help="the medigan binary")
    ap.add_argument("--n", default="1000,10000", help="sample counts, comma separated")
    ap.add_argument("--ways", default="rust,torch+pil,ort-py+pil")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell; the fastest is reported")
    ap.add_argument("--mem-small", type=int, default=1000)
    ap.add_argument("--mem-large", type=int, default=20000, help="0 skips the memory check")
    args = ap.parse_args()
    package = benchmark_package()
    ways = args.ways.split(",")
    print(f"model {MODEL_ID}, PNG, batch {args.batch}, {args.threads} threads, best of {args.repeat}\n")
    print("| N | way | seconds | samples/s | vs rust | peak RSS MiB | mean PNG KiB |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n in (int(v) for v in args.n.split(",")):
        rust_seconds = None
        for way in ways:
            best = None
            for _ in range(args.repeat):
                work = Path(tempfile.mkdtemp(prefix="medigan-bench-"))
                out = work / "out"
                out.mkdir()
                seconds, rss = run_way(way, args, package, n, out)
                files, kib = count_png(out)
                shutil.rmtree(work)
                if files != n:
                    sys.exit(f"{way} wrote {files} PNG files, expected {n}")
                if best is None or seconds < best[0]:
                    best = (seconds, rss, kib)
            seconds, rss, kib = best
            rust_seconds = seconds if way == "rust" else rust_seconds
            ratio = f"{seconds / rust_seconds:.2f}x" if rust_seconds else "-"
            print(f"| {n} | {way} | {seconds:.2f} | {n / seconds:.1f} | {ratio} | {rss} | {kib:.1f} |",
                  flush=True)
    if args.mem_large:
        print("\nRust CLI peak RSS by N (bounded pipeline: should not grow with N)\n")
        print("| N | seconds | peak RSS MiB |")
        print("|---:|---:|---:|")
        for n in (args.mem_small, args.mem_large):
            work = Path(tempfile.mkdtemp(prefix="medigan-bench-"))
            (work / "out").mkdir()
            seconds, rss = run_way("rust", args, package, n, work / "out")
            shutil.rmtree(work)
            print(f"| {n} | {seconds:.2f} | {rss} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
