"""``python -m fmslab.pipeline STEP ...``: the workflow's glue steps (see docs/pipelines.md)."""

from __future__ import annotations

import argparse
import json
import sys

from fmslab.errors import FmslabError


def main(argv: list[str] | None = None) -> int:
    """Run one glue step; user errors give one line and exit code 2."""
    parser = argparse.ArgumentParser(prog="python -m fmslab.pipeline")
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("export-table", help="catalog table (filtered) -> CSV")
    p.add_argument("--catalog", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--where", default=None)
    p.add_argument("--out", required=True)
    p = sub.add_parser("unblind-samples", help="RNA-seq sample sheet + unblinding key -> CSV")
    p.add_argument("--samples", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("figure-spec", help="default figures.yaml from the comparisons (JSON)")
    p.add_argument("--comparisons", required=True, help="JSON list of {name, outcomes}")
    p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from fmslab.pipeline import steps

    try:
        if args.step == "export-table":
            df = steps.export_table(args.catalog, args.table, args.out, where=args.where)
            print(f"{args.table}: {len(df)} rows -> {args.out}")
        elif args.step == "unblind-samples":
            df = steps.unblinded_samples(args.samples, args.key, args.out)
            print(f"{len(df)} samples unblinded -> {args.out}")
        else:
            spec = steps.default_figure_spec(json.loads(args.comparisons), args.out)
            print(f"{len(spec['figures'])} figure(s) -> {args.out}")
    except FmslabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
