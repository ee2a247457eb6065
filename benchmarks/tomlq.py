"""One value of a TOML file for the shell drivers (benchmarks/v2_mujoco.sh, llm_v2.sh):

    python benchmarks/tomlq.py FILE KEY[.KEY...] [--keys] [--field NAME] [--sep SEP]

prints the value at the dotted key: a scalar as it is, a list joined by SEP (default a space,
floats as Python writes them: 0.0001), a table's keys in file order with --keys, and with
--field the field NAME of each table of an array of tables. Nothing is evaluated; a missing key
is a one-line error (exit 2).
"""

from __future__ import annotations

import argparse
import sys
import tomllib


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("key", help="dotted, e.g. halving.keep")
    ap.add_argument("--keys", action="store_true", help="the keys of a table")
    ap.add_argument("--field", help="this field of each table of an array of tables")
    ap.add_argument("--sep", default=" ")
    args = ap.parse_args(argv)
    try:
        with open(args.file, "rb") as f:
            value = tomllib.load(f)
        for part in args.key.split("."):
            value = value[part]
        if args.keys:
            value = list(value)
        elif args.field:
            value = [t[args.field] for t in value]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        print(f"error: {args.file}: {args.key}: {exc!r}", file=sys.stderr)
        return 2
    print(args.sep.join(map(str, value)) if isinstance(value, list) else value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
