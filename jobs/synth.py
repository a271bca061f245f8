"""`wildfeedback synth`: write a synthetic corpus with ground truth (see wfcore.synth)."""

from __future__ import annotations

import argparse
import json
import sys

from wfcore import synth


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wildfeedback synth", description=__doc__)
    p.add_argument("--conversations", type=int, required=True, help="Records to write.")
    p.add_argument("--seed", type=int, default=0, help="Same seed, same bytes.")
    p.add_argument("--output", required=True, help="Folder or s3:// prefix for the shards and _truth.parquet.")
    p.add_argument("--format", default="wildchat", choices=synth.FORMATS,
                   help="wildchat writes Parquet (as published); the others write JSONL.")
    p.add_argument("--shard-rows", type=int, default=10_000, help="Records per shard file.")
    p.add_argument("--malformed-share", type=float, default=0.02, help="Share of malformed records.")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    summary = synth.generate(args.conversations, args.seed, args.output, args.format,
                             args.shard_rows, args.malformed_share)
    print(json.dumps({k: summary[k] for k in ("output", "format", "conversations", "truth", "counts")},
                     indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
