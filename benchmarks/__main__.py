"""``python -m benchmarks`` (``make bench``): every benchmark with its default settings."""

import sys

from benchmarks import bench_generator

if __name__ == "__main__":
    sys.exit(bench_generator.main([]))
