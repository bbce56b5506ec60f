#!/usr/bin/env python3
"""pytorch-fid's FID Inception-v3 exported to ONNX and run by onnxruntime, against PyTorch:
how fast a route through onnxruntime would be (issue #18, item 5), and that the exported graph
gives the same features.

Usage: python3 scripts/bench_inception_ort.py WEIGHTS.pth [--images N] [--threads T...]

WEIGHTS.pth is the file scripts/inception_reference.py writes (or the real pt_inception
weights). Exports the network (eval mode, batch axis dynamic, opset 17) to a temporary file,
checks that onnxruntime's features of one batch equal PyTorch's (prints the largest
difference), then prints images/s and CPU s/image of both for batches of 1, 8 and 32 at each
thread count. Pitfall: `torch.onnx.export` restores the module's training flag afterwards, so a
wrapper module must be put in eval mode itself, or PyTorch's reference runs in training mode.
Needs torch, pytorch-fid, onnx and onnxruntime.
"""

import argparse
import os
import sys
import tempfile
import time
from unittest import mock

import numpy as np
import onnxruntime as ort
import torch
from pytorch_fid import inception as fid_inception

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_inception import synthetic_batch  # noqa: E402 (the same input as the other benches)


class Pool3(torch.nn.Module):
    """The 2048 pool3 features of pytorch-fid's network, as a [N, 2048] tensor."""

    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, x):
        return self.network(x)[0].flatten(1)


def load(weights):
    state_dict = torch.load(weights, map_location="cpu")
    with mock.patch.object(fid_inception, "load_state_dict_from_url", lambda *a, **k: state_dict):
        network = fid_inception.InceptionV3([3], resize_input=False, normalize_input=False)
    return Pool3(network).eval()


def export(model, path):
    torch.onnx.export(model, synthetic_batch(2, 0), path, input_names=["x"], output_names=["f"],
                      dynamic_axes={"x": {0: "n"}, "f": {0: "n"}}, opset_version=17,
                      dynamo=False)
    model.eval()


def timed(run, images, batch):
    run(synthetic_batch(batch, 0))  # warm-up
    start, cpu, done = time.perf_counter(), time.process_time(), 0
    while done < images:
        run(synthetic_batch(batch, done))
        done += batch
    secs, cpu = time.perf_counter() - start, time.process_time() - cpu
    return done / secs, cpu / done


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("weights")
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    args = parser.parse_args()
    model = load(args.weights)
    with tempfile.TemporaryDirectory() as tmp:
        graph = os.path.join(tmp, "fid_inception.onnx")
        export(model, graph)
        x = synthetic_batch(8, 0)
        with torch.no_grad():
            expected = model(x).numpy()
        check = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
        got = check.run(None, {"x": x.numpy()})[0]
        print(f"largest feature difference onnxruntime - PyTorch: {np.abs(got - expected).max():.2e}"
              f" (largest feature {np.abs(expected).max():.2f})")
        print("| threads | batch | onnxruntime images/s | CPU s/image | PyTorch images/s | CPU s/image |")
        print("|---:|---:|---:|---:|---:|---:|")
        for threads in args.threads:
            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
            torch.set_num_threads(threads)
            for batch in (1, 8, 32):
                ort_rate, ort_cpu = timed(lambda b: session.run(None, {"x": b.numpy()}),
                                          args.images, batch)
                with torch.no_grad():
                    torch_rate, torch_cpu = timed(model, args.images, batch)
                print(f"| {threads} | {batch} | {ort_rate:.2f} | {ort_cpu:.3f} | {torch_rate:.2f} "
                      f"| {torch_cpu:.3f} |")


if __name__ == "__main__":
    main()
