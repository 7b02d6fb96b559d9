#!/usr/bin/env python3
"""Why the tests run in two workers with one torch thread each (scripts/test.sh, tests/conftest.py): the same
100-step SDS run on the world prior, once with two threads, then twice at once with one thread each; prints the
seconds and the throughput ratio, measured in this one run.

    .host/venv/bin/python bench/bench_test_threads.py
"""
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = ("import sys, time, torch; sys.path.insert(0, sys.argv[1]); torch.set_num_threads(int(sys.argv[2])); "
       "from core.recipes import dreamfusion_on_world; from core.world import get_object; t = time.time(); "
       "dreamfusion_on_world(get_object('cube'), steps=100); print(time.time() - t)")


def start(threads: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", RUN, ROOT, str(threads)], stdout=subprocess.PIPE, text=True)


def main():
    start(2).communicate()  # warm the world prior's disk cache
    two = float(start(2).communicate()[0])
    t0 = time.time()
    procs = [start(1), start(1)]
    ones = [float(p.communicate()[0]) for p in procs]
    wall = time.time() - t0
    print(f"one process, 2 threads: {two:.1f} s per run")
    print(f"two processes, 1 thread each: {ones[0]:.1f} s and {ones[1]:.1f} s ({wall:.1f} s wall for both)")
    print(f"throughput, two 1-thread workers vs one 2-thread process: {2 * two / wall:.2f}x")


if __name__ == "__main__":
    main()
