"""`python -m benchmarks NAME [--quick]` or `python -m benchmarks all [--quick]`."""

import argparse
import importlib
import subprocess
import sys

from benchmarks.harness import emit

BENCHMARKS = ["lookup", "ingest", "send", "fairness", "isolation", "campaign", "conversation", "spend"]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("name", choices=[*BENCHMARKS, "all"])
    parser.add_argument("--quick", action="store_true", help="a short run, for smoke checks")
    args = parser.parse_args()
    if args.name == "all":
        # Each in its own process, so one benchmark's state never colours another's figures.
        failed = 0
        for name in BENCHMARKS:
            command = [sys.executable, "-m", "benchmarks", name, *(["--quick"] if args.quick else [])]
            failed += subprocess.call(command)
        return 1 if failed else 0
    emit(importlib.import_module(f"benchmarks.{args.name}").run(quick=args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
