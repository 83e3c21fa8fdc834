#!/usr/bin/env python3
"""Hands Extend runs your application started to hookless, which tells receiver.py when each one
finishes.

    HOOKLESS_SOCKET=/run/hookless/hookless.sock python3 watch_runs.py [--sink app] exr_... exr_...
"""

import argparse
import sys

from hookless_client import HooklessError, watch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    parser.add_argument("--sink", action="append", help="deliver to this sink (default: default_sinks)")
    args = parser.parse_args()
    try:
        records = watch(args.run_ids, sinks=args.sink, context={"startedBy": "watch_runs.py"})
    except (HooklessError, OSError) as error:
        print(f"watch_runs.py: {error}", file=sys.stderr)
        return 1
    for record in records:
        print(f"hookless is watching {record['id']} ({record['kind']}, {record['state']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
