"""Harvested chosen that open by referring to the feedback their prompt lacks: share, and what
the opener rule (``wfcore.pairs.strip_feedback_opener``) does with them.

For each run directory: the kept harvested pairs, how many chosen open with a feedback reference,
and, applied to those chosen, how many the rule would cut (opener removed) or drop. A run
assembled with the rule on shows 0 remaining and the rule's own counters from the manifest; run
with ``--set assemble.strip_feedback_openers=false`` to see the share before the rule. With
``--data``, the same rule on replies that have nothing to refer back to (the first assistant
reply of WildChat excerpts that start the conversation, and of the LLM-Rubric chats) gives its
false-alarm rate, and on WildChat replies to a follow-up its rate on real revisions.

    python benchmarks/pair_openers.py RUN [RUN ...] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from wfcore import pairs as P  # noqa: E402
from wfcore import schema as S  # noqa: E402
from wfcore.run import RunDir  # noqa: E402


def rule_counts(texts: list[str]) -> Counter:
    return Counter(P.strip_feedback_opener(t)[1] for t in texts)


def run_row(run: str) -> str:
    rd = RunDir(run)
    pairs = [p for p in rd.table("pairs").read(S.PAIRS).to_pylist() if p["pair_type"] == P.HARVESTED]
    chosen = [p["chosen"] for p in pairs]
    opens = sum(P.opens_with_feedback_reference(c) for c in chosen)
    c = rule_counts(chosen)
    stage = rd.manifest().get("stages", {}).get("assemble", {})
    removed = stage.get("harvest_opener_removed")
    dropped = (stage.get("rejected_by_reason") or {}).get(P.R_CHOSEN_REFERS_TO_FEEDBACK, 0)
    share = f"{opens / len(chosen):.1%}" if chosen else "-"
    return (f"| {run} | {len(chosen)} | {opens} ({share}) | {c[P.OPENER_REMOVED]} / {c[P.OPENER_DROPPED]} | "
            f"{'off' if removed is None else f'{removed} / {dropped}'} |")


def data_rows(data: str) -> list[str]:
    tuples = json.load(open(os.path.join(data, "wildchat_tuples", "wildfeedback_held_outputs_step10.json")))
    chats = json.load(open(os.path.join(data, "llm_rubric", "real_data.json")))
    sets = {
        "WildChat first replies (excerpt starts the conversation)": [r["y_gpt4"] for r in tuples if len(r["x"]) == 1],
        "LLM-Rubric first replies (after the greeting)": [
            c["messages"][2]["content"] for c in chats
            if len(c["messages"]) > 2 and c["messages"][2]["role"] == "assistant"
        ],
        "WildChat replies after earlier turns": [r["y_gpt4"] for r in tuples if len(r["x"]) > 1],
    }
    rows = []
    for name, texts in sets.items():
        c = rule_counts(texts)
        n = c[P.OPENER_REMOVED] + c[P.OPENER_DROPPED]
        rows.append(f"| {name} | {len(texts)} | {n} ({n / len(texts):.1%}) | {c[P.OPENER_REMOVED]} / {c[P.OPENER_DROPPED]} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="*", help="run directories (assembled)")
    ap.add_argument("--data", help="../shared/data: false alarms on first replies, rate on real revisions")
    args = ap.parse_args(argv)
    if args.runs:
        print("| run | harvested pairs kept | chosen opening with a feedback reference | rule on them: removed / dropped | "
              "manifest: removed / dropped |")
        print("| --- | --- | --- | --- | --- |")
        for run in args.runs:
            print(run_row(run))
    if args.data:
        print()
        print("| replies | n | open with a feedback reference | removed / dropped |")
        print("| --- | --- | --- | --- |")
        for row in data_rows(args.data):
            print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
