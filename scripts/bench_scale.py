"""Throughput at scale (issue #28 item 4): samples/s, bytes/s and peak RSS of one run of the
bundled model 00900 written four ways; called by scripts/bench_scale.sh, which prints the table.

  python3 scripts/bench_scale.py MODE OUT SAMPLES PER_TAR

MODE: `memory` (generation alone: samples made in memory, 1,000 at a time, and dropped; no
encoding, no writing), `ray` (medigan_rs.ray: GenerateSamples on 2 actors, write_shards to OUT).
Prints one line `seconds peak_rss_kib` (for `ray`, the peak of the driver plus every Ray worker
process, sampled every 0.2 s).
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time


def ray_rss_kib() -> int:
    """The resident memory of this process and every Ray process of this machine, in KiB."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            if int(pid) != os.getpid() and b"ray" not in cmdline:
                continue
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total


def memory(samples: int) -> int:
    import medigan_rs

    gens = medigan_rs.Generators(offline=True)
    for start in range(0, samples, 1000):
        indices = list(range(start, min(start + 1000, samples)))
        gens._native().generate_samples("00900", samples, seed=1, indices=indices)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def on_ray(out: str, samples: int, per_tar: int) -> int:
    import ray
    import medigan_rs
    from medigan_rs.ray import GenerateSamples, RunSpec, write_shards

    peak = [0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], ray_rss_kib())
            time.sleep(0.2)

    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    spec = RunSpec(medigan_rs.Generators(offline=True), "00900", num_samples=samples,
                   samples_per_shard=per_tar, seed=1)
    ds = ray.data.range(samples).map_batches(
        GenerateSamples, fn_constructor_args=(spec, False), concurrency=2, batch_size=256)
    write_shards(ds, out, spec)
    stop.set()
    watcher.join()
    ray.shutdown()
    return peak[0]


def main() -> None:
    mode, out, samples, per_tar = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    started = time.perf_counter()
    peak = memory(samples) if mode == "memory" else on_ray(out, samples, per_tar)
    print(f"{time.perf_counter() - started:.3f} {peak}")


if __name__ == "__main__":
    main()
