"""PII scrub micro-benchmark: the library's ``wfcore.pii.scrub`` against the regex scrub it replaced.

The baseline peer is ``wfcore/pii.py`` as of ``--baseline`` (default: the last commit before the
pre-checked scrub), loaded from git at run time into its own module, so no old code stays in the
library. Both run in the same process on the same messages, one message per call, as prepare
calls them. Corpora:

- ``synthetic chat``: every message of ``wfcore.synth`` conversations (realistic PII-free chat
  text in English and 5 other languages) with PII of every type planted in a share of them
  (start, middle, end, several types in one message, look-alikes, non-ASCII digits and case);
- ``prepare-bench words``: the corpus ``benchmarks/prepare.py`` feeds prepare (Zipf-like
  ``w123`` words: digits everywhere, no PII);
- ``LLM-Rubric real``, ``WildChat real``: real chats from ``../shared/data`` (read only).

For each corpus it prints messages/s and MB/s (UTF-8) of both, the speed-up, and the number of
messages whose output (text and counts) differs from the baseline's; that must be 0. On the
synthetic corpus it also compares each type enabled alone.

    python benchmarks/pii.py [--conversations 20000] [--pii-share 0.1] [--repeat 3] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import types
from collections.abc import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

BASELINE = "96ab644"  # main before issue 15.2: one re.sub per pattern on every message


def load_baseline(rev: str) -> types.ModuleType:
    src = subprocess.run(
        ["git", "-C", ROOT, "show", f"{rev}:wfcore/pii.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    mod = types.ModuleType(f"pii_{rev}")
    mod.__file__ = f"{rev}:wfcore/pii.py"
    sys.modules[mod.__name__] = mod  # dataclasses/annotations look the module up
    exec(compile(src, mod.__file__, "exec"), mod.__dict__)
    return mod


# ------------------------------------------------------------------ planted PII


def _luhn_digits(rng: random.Random, n: int, valid: bool = True) -> str:
    from wfcore.pii import luhn_ok

    body = [rng.choice("3456")] + [rng.choice("0123456789") for _ in range(n - 2)]
    for d in "0123456789":
        if luhn_ok("".join(body) + d) == valid:
            return "".join(body) + d
    raise AssertionError


def _group(rng: random.Random, digits: str) -> str:
    sep = rng.choice([" ", "-", ""])
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def _word(rng: random.Random, k: int = 8, alphabet: str = "abcdefghijklmnopqrstuvwxyz") -> str:
    return "".join(rng.choice(alphabet) for _ in range(k))


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def planted(rng: random.Random) -> str:
    """One PII item (any type, random values) or a look-alike."""
    h = lambda: f"{rng.randrange(65536):x}"  # noqa: E731
    kind = rng.randrange(30)
    if kind == 0:
        return f"{_word(rng, 5)}.{_word(rng, 4)}+{rng.randrange(99)}@{_word(rng, 6)}.example.{rng.choice(['org', 'com', 'io'])}"
    if kind == 1:
        return f"{_word(rng, 3)}@{_word(rng, 2)}.io"
    if kind == 2:
        return rng.choice(
            ["+44 20 7946 0958", "+1-202-555-0173", "+49 (30) 901820", "+33.1.23.45.67.89"]
        )
    if kind == 3:
        a, b, c = rng.randrange(200, 999), rng.randrange(200, 999), rng.randrange(1000, 9999)
        return rng.choice(
            [f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"{a} {b} {c}", f"({a}){b}.{c}"]
        )
    if kind == 4:
        return ".".join(str(rng.randrange(256)) for _ in range(4))
    if kind == 5:
        return rng.choice(
            [
                ":".join(h() for _ in range(8)),
                f"2001:db8::{h()}:{h()}",
                "fe80::1",
                f"::{h()}",
                f"{h()}::",
            ]
        )
    if kind == 6:
        return _group(rng, _luhn_digits(rng, rng.choice([13, 15, 16, 16, 19])))
    if kind == 7:
        return _group(rng, _luhn_digits(rng, 16, valid=False))  # look-alike: fails Luhn
    if kind == 8:
        return f"postgres://{_word(rng, 5)}:{_word(rng, 7)}@db.internal:5432/app"
    if kind == 9:
        return f"https://api.example.com/v1/{_word(rng, 4)}?{rng.choice(['access_token', 'sig', 'key'])}={_word(rng, 12, _ALNUM)}&x=1"
    if kind == 10:
        return f"sk-{rng.choice(['', 'proj-', 'ant-'])}{_word(rng, 24, _ALNUM + '_-')}"
    if kind == 11:
        return rng.choice(["AKIA", "ASIA"]) + _word(rng, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    if kind == 12:
        return "gh" + rng.choice("pousr") + "_" + _word(rng, 36, _ALNUM)
    if kind == 13:
        return "github_pat_" + _word(rng, 30, _ALNUM + "_")
    if kind == 14:
        return "xox" + rng.choice("abprs") + "-" + _word(rng, 14, _ALNUM + "-")
    if kind == 15:
        return "AIza" + _word(rng, 35, _ALNUM + "_-")
    if kind == 16:
        return "hf_" + _word(rng, 34, _ALNUM)
    if kind == 17:
        key = rng.choice(
            [
                "api_key",
                "API-KEY",
                "client_secret",
                "auth_token",
                "password",
                "db.passwd",
                "AWS_SECRET_ACCESS_KEY",
            ]
        )
        sep = rng.choice(["=", ": ", " = ", '="', ': "', "='"])
        return f"{key}{sep}{_word(rng, 14, _ALNUM)}"
    if kind == 18:  # non-ASCII digits and case folding the patterns honour
        return rng.choice(
            [
                "４１１１ １１１１ １１１１ １１１１",
                "١٩٢.١٦٨.١.١",
                "ſecret=abcdefghijk",
                "api_\u212aey: zq8Hn3kLp0Xw",
                "+٩٧١ ٥٠ ١٢٣ ٤٥٦٧",
            ]
        )
    # look-alikes that must stay
    return rng.choice(
        [
            "version 1.2.3.4.5",
            "999.1.1.1",
            "at 10:30:00",
            "std::vector<int>",
            "isbn 978-3-16-148410-0",
            "https://example.com/page?id=5",
            "token counts: 12",
            "the key idea: compounding",
            "order 123456789012",
            "on 2023-04-09",
            "call 5550132",
            "a::b::c",
            "password: short",
            "10.0.0",
            "dead:beef:cafe",
        ]
    )


def plant(rng: random.Random, text: str) -> str:
    """``text`` with 1-3 planted items at its start, end or a word boundary inside it."""
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        item = planted(rng)
        where = rng.randrange(4)
        if where == 0:
            text = item + rng.choice([" ", ", ", "\n"]) + text
        elif where == 1:
            text = (
                text + rng.choice([" ", ": ", " (", "\n"]) + item + rng.choice(["", ".", ")", ""])
            )
        else:
            spaces = [i for i, c in enumerate(text) if c == " "] or [len(text)]
            i = rng.choice(spaces)
            text = (
                text[:i]
                + rng.choice([" ", " <", " '"])
                + item
                + rng.choice([" ", "> ", "' "])
                + text[i:]
            )
    return text


# fragments that random strings are built from: pieces of every pattern, its separators and
# anchors, and the non-ASCII digits and letters that \\d and IGNORECASE also match
_FRAGMENTS = (
    [str(d) for d in range(10)]
    + ["0000", "4111", "1111", "555", "0132", "192", "168", "255", "256", "10"]
    + [
        " ",
        "  ",
        "-",
        ".",
        ":",
        "::",
        "+",
        "(",
        ")",
        "@",
        "/",
        "://",
        "?",
        "#",
        "=",
        "&",
        "'",
        '"',
        ",",
        ";",
        "_",
        "\n",
    ]
    + [
        "key",
        "KEY",
        "token",
        "secret",
        "password",
        "passwd",
        "api_key",
        "access_",
        "auth",
        "sig",
        "signature",
        "apikey",
    ]
    + [
        "sk-",
        "proj-",
        "AKIA",
        "ASIA",
        "ghp_",
        "gh",
        "github_pat_",
        "xoxb-",
        "AIza",
        "hf_",
        "https",
        "postgres",
    ]
    + [
        "a",
        "b",
        "f",
        "e",
        "dead",
        "beef",
        "x",
        "Z",
        "w12",
        "ABCDEFGHIJKLMNOP",
        "abcdefghijklmnopqrstuvwxyz0123456789",
    ]
    + [
        "\uff14",
        "\u0661",
        "\u0669",
        "\u017f",
        "\u212a",
        "\u0130",
        "\u0131",
        "\u00e9",
        "\u4e2d",
        "[",
        "]",
        "[API_KEY]",
    ]
)


def fuzz(n: int, seed: int = 15) -> list[str]:
    """``n`` random strings of 3-40 fragments: near-misses and overlaps of every pattern."""
    rng = random.Random(seed)
    return ["".join(rng.choices(_FRAGMENTS, k=rng.randint(3, 40))) for _ in range(n)]


# ------------------------------------------------------------------ corpora


def synthetic(conversations: int, share: float, seed: int = 15) -> list[str]:
    from wfcore import synth

    rng = random.Random(seed)
    texts = []
    for i in range(conversations):
        for m in synth.base_conversation(seed, i).messages:
            t = m["content"]
            texts.append(plant(rng, t) if rng.random() < share else t)
    return texts


def prepare_words(conversations: int) -> list[str]:
    from dedup_quality import make_corpus

    return [m["content"] for c in make_corpus(conversations, seed=0) for m in c["messages"]]


def llm_rubric(data: str) -> list[str]:
    convs = json.load(open(os.path.join(data, "llm_rubric", "real_data.json"), encoding="utf-8"))
    return [m["content"] for c in convs for m in c["messages"] if m.get("content")]


def wildchat(data: str) -> list[str]:
    path = os.path.join(data, "wildchat_tuples", "wildfeedback_held_outputs_step10.json")
    texts = []
    for r in json.load(open(path, encoding="utf-8")):
        texts += [m["content"] for m in r["x"] if m.get("content")] + [r["y_gpt4"], r["o_oracle"]]
    return [t for t in texts if t]


# ------------------------------------------------------------------ measure


def best_time(fn: Callable, texts: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for t in texts:
            fn(t)
        best = min(best, time.perf_counter() - t0)
    return best


def differences(
    old: Callable, new: Callable, texts: list[str], types_: tuple[str, ...]
) -> tuple[int, int, dict]:
    """(messages whose output differs, messages the baseline changed, baseline counts per type)."""
    diff = changed = 0
    total: dict[str, int] = {}
    for t in texts:
        a, b = old(t, types_), new(t, types_)
        diff += a != b
        changed += a[0] != t
        for k, v in a[1].items():
            total[k] = total.get(k, 0) + v
    return diff, changed, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conversations", type=int, default=20_000, help="synthetic conversations")
    ap.add_argument(
        "--pii-share", type=float, default=0.1, help="share of synthetic messages with planted PII"
    )
    ap.add_argument("--words", type=int, default=10_000, help="prepare-bench conversations")
    ap.add_argument("--fuzz", type=int, default=50_000, help="random fragment strings")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per corpus (best kept)")
    ap.add_argument(
        "--baseline", default=BASELINE, help="git revision of the baseline wfcore/pii.py"
    )
    ap.add_argument(
        "--data", default=os.path.join(ROOT, "..", "shared", "data"), help="real data dir"
    )
    args = ap.parse_args()

    from wfcore import pii

    old = load_baseline(args.baseline)
    corpora = [
        (
            f"synthetic chat ({args.pii_share:.0%} planted)",
            synthetic(args.conversations, args.pii_share),
        ),
        ("prepare-bench words", prepare_words(args.words)),
        ("fuzz (random pattern fragments)", fuzz(args.fuzz)),
    ]
    if os.path.isdir(args.data):
        corpora += [
            ("LLM-Rubric real", llm_rubric(args.data)),
            ("WildChat real", wildchat(args.data)),
        ]
    else:
        print(f"(no {args.data}: real corpora skipped)")

    print(
        f"baseline: wfcore/pii.py at {args.baseline}; new: {pii.__file__}; best of {args.repeat} passes"
    )
    print()
    print(
        "| corpus | messages | MB | baseline msg/s | new msg/s | baseline MB/s | new MB/s | speed-up | changed by baseline | differences |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    all_diff = 0
    for name, texts in corpora:
        mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
        diff, changed, per_type = differences(old.scrub, pii.scrub, texts, pii.TYPES)
        all_diff += diff
        t_old = best_time(old.scrub, texts, args.repeat)
        t_new = best_time(pii.scrub, texts, args.repeat)
        n = len(texts)
        print(
            f"| {name} | {n:,} | {mb:.1f} | {n / t_old:,.0f} | {n / t_new:,.0f} | {mb / t_old:.2f} | "
            f"{mb / t_new:.2f} | {t_old / t_new:.2f}x | {changed:,} | {diff} |",
            flush=True,
        )
        if per_type:
            print(
                f"|   replaced per type | {', '.join(f'{k} {v:,}' for k, v in sorted(per_type.items()))} |"
            )

    print()
    texts = corpora[0][1] + corpora[2][1]
    print("each type alone on the synthetic and fuzz corpora (differences vs baseline):")
    for kind in pii.TYPES:
        diff, changed, _ = differences(old.scrub, pii.scrub, texts, (kind,))
        all_diff += diff
        print(f"  {kind}: {changed:,} messages changed, {diff} differences")
    print(f"\ntotal differences: {all_diff} (must be 0)")
    if all_diff:
        sys.exit(1)


if __name__ == "__main__":
    main()
