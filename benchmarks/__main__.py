"""``python -m benchmarks`` (``make bench``): every benchmark, each in its own process (clean peak-memory figures).

Run one alone with ``python -m benchmarks.bench_<name> --help``. Figures depend on what else the machine is doing:
compare rows of one run, never numbers from different runs.
"""

import importlib.util
import subprocess
import sys

BENCHMARKS = ["bench_generator", "bench_fast", "bench_precision", "bench_app_latency", "bench_train"]


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        if importlib.util.find_spec(f"benchmarks.{name}") is None:
            continue
        print(f"\n=== {name} ===", flush=True)
        if subprocess.call([sys.executable, "-m", f"benchmarks.{name}"]) != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
