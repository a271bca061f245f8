"""Regenerate the bundled demo sample (wfcore/data/sample/) reproducibly: fixed seed, fixed size.

    python benchmarks/make_sample.py [OUTPUT_DIR]
"""

from __future__ import annotations

import json
import os
import sys

from wfcore.sample import bundled_sample_path, make_sample


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = argv[0] if argv else bundled_sample_path()
    summary = make_sample(out)
    sizes = {f: os.path.getsize(os.path.join(out, f)) for f in sorted(os.listdir(out))}
    print(json.dumps({"output": out, "counts": summary["counts"], "bytes": sizes}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
