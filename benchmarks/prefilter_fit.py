"""Fit the lexical prefilter's weights (wfcore.lexical.PREFILTER_WEIGHTS) on USS turns.

    .venv/bin/python benchmarks/prefilter_fit.py [--data ../shared/data] [--l2 1.0]

Prints a ``PREFILTER_WEIGHTS`` literal to paste into wfcore/lexical.py: an L2-regularised
logistic regression of "the turn carries feedback" (USS median rating SAT or DSAT) on the cue
families of ``wfcore.lexical.prefilter_features``, fitted on every USS turn that follows a
system response. The weights printed are therefore in-sample for USS; the held-out figures
(leave-one-source-out, dialogue half-split) come from ``benchmarks/detector_quality.py``, which
refits with :func:`fit_logistic` on the training part of each split.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

# a small dense fit: BLAS threads only contend with each other (40x slower on a busy 2-core box)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

L2 = 1.0  # the weight decay used for the shipped weights and for every held-out refit


def fit_logistic(
    features: list[dict[str, float]], labels: list[bool], l2: float = L2
) -> dict[str, float]:
    """Newton-fitted L2 logistic regression on sparse feature dicts; returns name -> weight."""
    names = sorted({k for f in features for k in f})
    index = {k: i for i, k in enumerate(names)}
    x = np.zeros((len(features), len(names) + 1))
    x[:, -1] = 1.0  # bias (not decayed)
    for row, f in enumerate(features):
        for k, v in f.items():
            x[row, index[k]] = v
    y = np.asarray(labels, dtype=float)
    decay = np.full(len(names) + 1, l2)
    decay[-1] = 0.0
    w = np.zeros(len(names) + 1)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y) + decay * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(decay)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    out = {"bias": float(w[-1])}
    out.update({k: float(w[i]) for k, i in index.items()})
    return out


def rounded(weights: dict[str, float], digits: int = 2) -> dict[str, float]:
    return {k: round(v, digits) for k, v in weights.items() if round(v, digits) or k == "bias"}


def main(argv: list[str] | None = None) -> int:
    from detector_quality import USS_CORPORA, load_uss

    from wfcore.lexical import classify

    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    ap.add_argument("--l2", type=float, default=L2)
    args = ap.parse_args(argv)
    rows = [
        r
        for c in USS_CORPORA
        if (args.data / "uss" / f"{c}.txt").exists()
        for r in load_uss(args.data / "uss" / f"{c}.txt")
        if r["response"] is not None
    ]
    feats = [classify(r["message"], r["previous"], r["response"]).features for r in rows]
    weights = rounded(fit_logistic(feats, [r["gold"] != "neutral" for r in rows], args.l2))
    print(f"# fitted on {len(rows)} USS turns (all four sources), l2={args.l2}")
    print("PREFILTER_WEIGHTS: dict[str, float] = {")
    for k, v in sorted(weights.items(), key=lambda kv: (kv[0] != "bias", kv[0])):
        print(f'    "{k}": {v},')
    print("}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
