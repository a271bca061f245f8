"""Small held-out sets for the evaluate tests, in the contract assemble writes to ``RUN/heldout/``
(``heldout_id, conversation_id, message_index, prompt, checklist, category, cluster, chosen,
rejected``)."""

from __future__ import annotations

import pyarrow as pa

from wfcore.ids import content_id
from wfcore.run import RunDir
from wfcore.schema import MESSAGES, STRINGS

HELDOUT = pa.schema(
    [
        ("heldout_id", pa.string()),
        ("conversation_id", pa.string()),
        ("message_index", pa.int32()),
        ("prompt", MESSAGES),
        ("checklist", STRINGS),
        ("category", pa.string()),
        ("cluster", pa.int32()),
        ("chosen", pa.string()),
        ("rejected", pa.string()),
    ]
)

_CASES = [
    (
        "Explain DNS.",
        ["Gives the answer in under 20 words"],
        "Revision",
        "DNS maps names to addresses.",
        "DNS, the domain name system, is a distributed database that maps human-readable names to the numeric addresses computers use, through resolvers, root servers and authoritative servers.",
    ),
    (
        "List three fruits.",
        ["Uses a bulleted list", "Is friendly"],
        "Style",
        "- apple\n- pear\n- plum",
        "Apple, pear and plum.",
    ),
    (
        "Fix my loop.",
        ["Includes a code block with the fix"],
        "Factual Error",
        "```python\nfor i in range(3):\n    print(i)\n```",
        "Use range(3) instead.",
    ),
    (
        "Say hello in French.",
        ["Answers in French"],
        "Revision",
        "Bonjour ! Je suis très content de vous voir, et je vous souhaite une bonne journée.",
        "Hello! I am very happy to see you, and I wish you a good day.",
    ),
    (
        "Write a tagline.",
        ["Is more creative"],
        "Lower Quality",
        "Fresh ideas, daily.",
        "A tagline.",
    ),
]


def heldout_rows(n: int = 10) -> list[dict]:
    rows = []
    for i in range(n):
        question, checklist, category, chosen, rejected = _CASES[i % len(_CASES)]
        cid = f"held-{i:03d}"
        prompt = [
            {"role": "user", "content": f"{question} (case {i})"},
            {"role": "assistant", "content": rejected},
            {"role": "user", "content": "Not what I wanted, again please."},
        ]
        rows.append(
            {
                "heldout_id": content_id("heldout", cid, 2),
                "conversation_id": cid,
                "message_index": 2,
                "prompt": prompt,
                "checklist": list(checklist),
                "category": category,
                "cluster": i % 3,
                "chosen": chosen,
                "rejected": rejected,
            }
        )
    return rows


def write_heldout(run: RunDir, rows: list[dict]) -> None:
    run.table("heldout").write(pa.Table.from_pylist(rows, schema=HELDOUT), "test")

