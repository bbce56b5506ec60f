#!/usr/bin/env python3
"""Benchmark the diffusion sampler: `medigan generate` vs diffusers in PyTorch eager vs onnxruntime-Python.

Same denoiser (models/00901_PHANTOM_DDPM/denoiser.onnx, 1.68M-parameter UNet, 64x64), same scheduler
(DDIM, the package's scheduler_config.json, 50 steps), same number of threads, N samples at
--batch B. Each way runs in a fresh process under `/usr/bin/time -v` (peak RSS = its "Maximum
resident set size"), `--repeats` times; the table gives the median.

Ways:
  medigan   `medigan generate 00901 -n N --batch B --threads T --backend ort --format npy`
            (release build; T one-thread onnxruntime sessions, one per worker). samples/s = N /
            process wall time (start-up, session loading and file writing included).
  torch     the diffusers pipeline loop (DDIMScheduler.step over torch tensors) around the torch
            UNet of scripts/train_phantom_ddpm.py, weights loaded from the ONNX initializers by
            name (GroupNorm affine parameters, renamed by the exporter, by order of use; checked
            against onnxruntime with --check). torch.set_num_threads(T), torch.inference_mode().
  ort-py    the same loop with the denoiser run by onnxruntime (intra_op_num_threads=T) and
            diffusers' DDIMScheduler stepping torch tensors (so torch is imported).
  ort-np    onnxruntime with the DDIM step written in numpy (no torch, no diffusers imported):
            the leanest Python process on this graph, the memory reference.
  medigan-1s  medigan with one batch (-n B): one worker, one session of T intra-op threads (the
            layout of the Python ways; one batch in flight instead of T).
  For the Python ways samples/s = N / time of the sampling loop alone (imports, model loading and
  process start-up excluded: this favours Python); the process wall time is also given.

medigan's time outside the denoiser: `MEDIGAN_LOG=medigan::diffusion::timing=debug` makes the
sampler print one line per batch with the batch's total time and the time spent inside the
denoiser's `Session::run` (which itself includes the ort wrapper's input/output copies); the
share is sum(total - graph) / sum(graph) over the batches.

Usage (from the repository root; `cargo build --release -p medigan-cli` first):
  python3 scripts/bench_diffusion.py                       # 32 samples, batches 8,16, threads 2,1
  python3 scripts/bench_diffusion.py --check               # torch vs onnxruntime agreement only
  python3 scripts/bench_diffusion.py --n 32 --batches 8,16 --threads 2,1 --repeats 3 --markdown
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL_ID = "00901_PHANTOM_DDPM"
PACKAGE = REPO / "models" / MODEL_ID
GRAPH = PACKAGE / "denoiser.onnx"
SCHEDULER = PACKAGE / "scheduler_config.json"
SIZE = 64


# ------------------------------------------------------------------------------------------
# the Python ways (run in a child process: `--worker WAY`)
# ------------------------------------------------------------------------------------------


def torch_unet():
    """The torch UNet of train_phantom_ddpm.py with the ONNX file's weights."""
    import onnx
    import torch
    from onnx import numpy_helper

    sys.path.insert(0, str(REPO / "scripts"))
    import train_phantom_ddpm as tpd

    m = onnx.load(str(GRAPH))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    model = tpd.UNet()  # the package was trained with the script's defaults
    state = model.state_dict()
    loaded = {}
    for name in state:
        if name in inits:
            loaded[name] = torch.from_numpy(inits[name].copy())
    # GroupNorm's affine weight and bias become the [C, 1, 1] constants of a Mul and an Add after
    # the exporter's InstanceNormalization; they appear in the graph in the order the norms run.
    consts = []
    for node in m.graph.node:
        if node.op_type in ("Mul", "Add"):
            for i in node.input:
                if i.startswith("onnx::") and i in inits and inits[i].shape[1:] == (1, 1) and i not in consts:
                    consts.append(i)
    pairs = list(zip(consts[0::2], consts[1::2]))
    order = forward_norm_order(model)
    assert len(consts) == 2 * len(order), (len(consts), len(order))
    for norm, (w, b) in zip(order, pairs):
        loaded[f"{norm}.weight"] = torch.from_numpy(inits[w].reshape(-1).copy())
        loaded[f"{norm}.bias"] = torch.from_numpy(inits[b].reshape(-1).copy())
    missing = set(state) - set(loaded)
    assert not missing, f"weights not found in the ONNX file: {sorted(missing)}"
    for k, v in loaded.items():
        assert tuple(v.shape) == tuple(state[k].shape), (k, v.shape, state[k].shape)
    model.load_state_dict(loaded)
    return model.eval()


def forward_norm_order(model):
    """Names of the GroupNorm modules in the order a forward pass calls them."""
    import torch

    order = []
    hooks = [mod.register_forward_pre_hook(lambda mod, _inp, n=n: order.append(n))
             for n, mod in model.named_modules() if isinstance(mod, torch.nn.GroupNorm)]
    with torch.no_grad():
        model(torch.zeros(1, 1, SIZE, SIZE), torch.zeros(1, dtype=torch.int64))
    for h in hooks:
        h.remove()
    return order


def ddim_scheduler(steps: int):
    from diffusers import DDIMScheduler

    sched = DDIMScheduler.from_config(json.loads(SCHEDULER.read_text()))
    sched.set_timesteps(steps)
    return sched


def ort_session(threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(GRAPH), so, providers=["CPUExecutionProvider"])


class NumpyDDIM:
    """diffusers' DDIMScheduler (eta = 0) for this package's config, in numpy."""

    def __init__(self, steps: int):
        import numpy as np

        cfg = json.loads(SCHEDULER.read_text())
        assert cfg["beta_schedule"] == "linear" and cfg["timestep_spacing"] == "trailing"
        assert cfg["prediction_type"] == "epsilon" and not cfg["thresholding"]
        t_train = cfg["num_train_timesteps"]
        betas = np.linspace(cfg["beta_start"], cfg["beta_end"], t_train, dtype=np.float32)
        self.ac = np.cumprod(1.0 - betas, dtype=np.float32)
        self.final = np.float32(1.0) if cfg["set_alpha_to_one"] else self.ac[0]
        self.timesteps = (np.round(np.arange(t_train, 0, -t_train / steps)) - 1).astype(np.int64)
        self.ratio = t_train // steps
        self.clip = cfg["clip_sample"]
        self.clip_range = cfg["clip_sample_range"]

    def step(self, eps, t, x):
        import numpy as np

        a_t = self.ac[t]
        prev = t - self.ratio
        a_prev = self.ac[prev] if prev >= 0 else self.final
        x0 = (x - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t)
        if self.clip:
            x0 = np.clip(x0, -self.clip_range, self.clip_range)
        return (np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev) * eps).astype(np.float32)


def worker(args) -> None:
    """One way, timed in this process; prints a JSON line."""
    import numpy as np

    out = Path(args.out)
    t_import = time.perf_counter()
    if args.worker in ("torch", "ort-py"):
        import torch

        torch.set_num_threads(args.threads)
    if args.worker == "torch":
        unet = torch_unet()
        sched = ddim_scheduler(args.steps)

        def sample_batch(noise):
            x = torch.from_numpy(noise) * sched.init_noise_sigma
            with torch.inference_mode():
                for t in sched.timesteps:
                    inp = sched.scale_model_input(x, t)
                    eps = unet(inp, t.expand(x.shape[0]))
                    x = sched.step(eps, t, x).prev_sample
            return x.clamp(-1, 1).numpy()
    elif args.worker == "ort-py":
        sess = ort_session(args.threads)
        sched = ddim_scheduler(args.steps)

        def sample_batch(noise):
            x = torch.from_numpy(noise) * sched.init_noise_sigma
            for t in sched.timesteps:
                inp = sched.scale_model_input(x, t)
                ts = np.full(x.shape[0], int(t), dtype=np.int64)
                eps = sess.run(["noise_pred"], {"sample": inp.numpy(), "timestep": ts})[0]
                x = sched.step(torch.from_numpy(eps), t, x).prev_sample
            return x.clamp(-1, 1).numpy()
    elif args.worker == "ort-np":
        sess = ort_session(args.threads)
        sched = NumpyDDIM(args.steps)

        def sample_batch(noise):
            x = noise
            for t in sched.timesteps:
                ts = np.full(x.shape[0], t, dtype=np.int64)
                eps = sess.run(["noise_pred"], {"sample": x, "timestep": ts})[0]
                x = sched.step(eps, int(t), x)
            return np.clip(x, -1, 1)
    else:
        raise SystemExit(f"unknown worker {args.worker}")
    t_loop = time.perf_counter()
    rng = np.random.default_rng(0)
    done = 0
    while done < args.n:
        b = min(args.batch, args.n - done)
        noise = rng.standard_normal((b, 1, SIZE, SIZE), dtype=np.float32)
        images = sample_batch(noise)
        for j in range(b):
            np.save(out / f"{done + j:06d}.npy", images[j])
        done += b
    t_end = time.perf_counter()
    print(json.dumps({"setup_s": t_loop - t_import, "loop_s": t_end - t_loop}))


# ------------------------------------------------------------------------------------------
# agreement check
# ------------------------------------------------------------------------------------------


def check(steps: int) -> dict:
    """torch vs onnxruntime on the denoiser, and the whole DDIM loop from the same noise."""
    import numpy as np
    import torch

    torch.set_num_threads(2)
    unet = torch_unet()
    sess = ort_session(2)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 1, SIZE, SIZE), dtype=np.float32)
    ts = np.array([999, 979, 500, 250, 100, 39, 19, 0], dtype=np.int64)
    with torch.inference_mode():
        ref = unet(torch.from_numpy(x), torch.from_numpy(ts)).numpy()
    got = sess.run(["noise_pred"], {"sample": x, "timestep": ts})[0]
    denoiser_diff = float(np.abs(ref - got).max())

    sched = ddim_scheduler(steps)
    xt = torch.from_numpy(x.copy())
    xo = torch.from_numpy(x.copy())
    xn = x.copy()
    np_sched = NumpyDDIM(steps)
    assert [int(t) for t in sched.timesteps] == [int(t) for t in np_sched.timesteps]
    with torch.inference_mode():
        for t in sched.timesteps:
            xt = sched.step(unet(xt, t.expand(8)), t, xt).prev_sample
            ts = np.full(8, int(t), dtype=np.int64)
            eps = sess.run(["noise_pred"], {"sample": xo.numpy(), "timestep": ts})[0]
            xo = sched.step(torch.from_numpy(eps), t, xo).prev_sample
            eps = sess.run(["noise_pred"], {"sample": xn, "timestep": ts})[0]
            xn = np_sched.step(eps, int(t), xn)
    return {
        "denoiser_max_abs_diff_torch_vs_ort": denoiser_diff,
        "samples_max_abs_diff_torch_vs_ort": float((xt.clamp(-1, 1) - xo.clamp(-1, 1)).abs().max()),
        "samples_max_abs_diff_ortpy_vs_ortnp": float(np.abs(np.clip(xn, -1, 1) - xo.clamp(-1, 1).numpy()).max()),
    }


# ------------------------------------------------------------------------------------------
# driver
# ------------------------------------------------------------------------------------------


def timed(cmd, env=None) -> tuple[float, float, str, str]:
    """Runs cmd under /usr/bin/time -v: (wall s, peak RSS MiB, stdout, stderr)."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    return wall, int(m.group(1)) / 1024, p.stdout, p.stderr


TIMING = re.compile(r"total_us=(\d+) graph_us=(\d+) outside_us=(\d+)")


def run_medigan(binary, n, batch, threads, steps, home) -> dict:
    out = Path(tempfile.mkdtemp(prefix="bench-medigan-"))
    try:
        env = dict(os.environ, MEDIGAN_HOME=str(home), MEDIGAN_LOG="medigan::diffusion::timing=debug",
                   NO_COLOR="1")
        cmd = [str(binary), "generate", MODEL_ID, "-n", str(n), "-o", str(out), "--batch", str(batch),
               "--threads", str(threads), "--steps", str(steps), "--backend", "ort", "--format", "npy",
               "--offline", "--overwrite"]
        wall, rss, _, err = timed(cmd, env)
        lines = TIMING.findall(err)
        total = sum(int(t) for t, _, _ in lines)
        graph = sum(int(g) for _, g, _ in lines)
        files = len(list(out.glob("*.npy")))
        assert files == n, f"medigan wrote {files} files, expected {n}"
        return {"n": n, "wall_s": wall, "rate": n / wall, "rss": rss, "batches": len(lines),
                "outside_share": (total - graph) / graph if graph else float("nan"),
                "graph_s": graph / 1e6, "total_s": total / 1e6}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run_python(way, n, batch, threads, steps) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"bench-{way}-"))
    try:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        cmd = [sys.executable, __file__, "--worker", way, "--n", str(n), "--batch", str(batch),
               "--threads", str(threads), "--steps", str(steps), "--out", str(out)]
        wall, rss, stdout, _ = timed(cmd, env)
        res = json.loads(stdout.strip().splitlines()[-1])
        assert len(list(out.glob("*.npy"))) == n
        return {"n": n, "wall_s": wall, "rate": n / res["loop_s"], "rss": rss, "loop_s": res["loop_s"]}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--batches", default="8,16")
    ap.add_argument("--threads", default="2,1")
    ap.add_argument("--python-batches", type=int, default=None,
                    help="batches each Python way runs (default: all of --n); its loop is sequential, "
                         "so samples/s does not depend on it: 1 saves time")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ways", default="medigan,torch,ort-py,ort-np")
    ap.add_argument("--binary", type=Path, default=None,
                    help="medigan binary (default: $CARGO_TARGET_DIR or target/, release)")
    ap.add_argument("--check", action="store_true", help="only check torch vs onnxruntime")
    ap.add_argument("--markdown", action="store_true", help="print the table as markdown")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=16, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.threads = int(args.threads)
        return worker(args)
    if args.check:
        print(json.dumps(check(args.steps), indent=1))
        return
    binary = args.binary or Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release" / "medigan"
    ways = args.ways.split(",")
    if any(w.startswith("medigan") for w in ways) and not binary.is_file():
        raise SystemExit(f"no medigan binary at {binary}: cargo build --release -p medigan-cli")
    home = Path(tempfile.mkdtemp(prefix="bench-medigan-home-"))
    print(f"# load before: {os.getloadavg()}", file=sys.stderr)
    rows = []
    try:
        if any(w.startswith("medigan") for w in ways):  # install the bundled package once, untimed
            run_medigan(binary, 1, 1, 1, 1, home)
        for threads in [int(t) for t in args.threads.split(",")]:
            for batch in [int(b) for b in args.batches.split(",")]:
                results = {}
                for rep in range(args.repeats):
                    for way in ways:  # interleaved, so load changes hit every way alike
                        r = (run_medigan(binary, args.n, batch, threads, args.steps, home) if way == "medigan"
                             else run_medigan(binary, batch, batch, threads, args.steps, home) if way == "medigan-1s"
                             else run_python(way, python_n(args, batch), batch, threads, args.steps))
                        results.setdefault(way, []).append(r)
                        print(f"# T={threads} B={batch} rep {rep} {way}: {r}", file=sys.stderr)
                for way in ways:
                    rs = results[way]
                    row = {"threads": threads, "batch": batch, "way": way, "n": rs[0]["n"],
                           "rate": statistics.median(r["rate"] for r in rs),
                           "rates": [r["rate"] for r in rs],
                           "wall_s": statistics.median(r["wall_s"] for r in rs),
                           "rss": statistics.median(r["rss"] for r in rs)}
                    if way.startswith("medigan"):
                        row["outside_share"] = statistics.median(r["outside_share"] for r in rs)
                    rows.append(row)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"# load after: {os.getloadavg()}", file=sys.stderr)
    print_table(rows, args)


def python_n(args, batch: int) -> int:
    return args.n if args.python_batches is None else min(args.n, batch * args.python_batches)


def print_table(rows, args) -> None:
    base = {(r["threads"], r["batch"]): r["rate"] for r in rows if r["way"] == "medigan"}
    head = ["threads", "batch", "way", "samples", "samples/s", "runs", "medigan vs way", "process s", "peak RSS MiB",
            "outside denoiser"]
    lines = []
    for r in rows:
        b = base.get((r["threads"], r["batch"]))
        ratio = f"{b / r['rate']:.2f}x" if b else ""
        share = f"{100 * r['outside_share']:.2f}%" if "outside_share" in r else ""
        lines.append([str(r["threads"]), str(r["batch"]), r["way"], str(r["n"]), f"{r['rate']:.2f}",
                      " ".join(f"{x:.2f}" for x in r["rates"]), ratio, f"{r['wall_s']:.2f}",
                      f"{r['rss']:.0f}", share])
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---:" if i != 2 else "---" for i in range(len(head))) + "|")
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]
        print("  ".join(h.rjust(w) for h, w in zip(head, widths)))
        for line in lines:
            print("  ".join(c.rjust(w) for c, w in zip(line, widths)))


if __name__ == "__main__":
    main()
