"""report.html from report.json's dict: one self-contained page (inline CSS, SVG, a table-of-contents
script; no network). Every text from the run is HTML-escaped here."""

from __future__ import annotations

import html
import json
from typing import Any

from wfcore.rubric import DSAT_CATEGORIES, SAT_CATEGORIES

SECTIONS = (
    ("funnel", "Funnel"),
    ("cost", "Projected cost"),
    ("categories", "Rubric categories of detected feedback turns"),
    ("pair-types", "Pairs by type"),
    ("examples", "Examples"),
    ("distributions", "Distributions"),
    ("losses", "What was lost and why"),
    ("near-duplicates", "Near-duplicate clusters"),
    ("evaluation", "Evaluation"),
    ("audit", "Detector audit"),
    ("throughput", "Throughput per stage"),
)

CSS = """body{font-family:sans-serif;margin:2em;max-width:72em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;vertical-align:top}
td:first-child,th:first-child{text-align:left}td.t{text-align:left}th{text-align:left}
nav#toc{display:flex;flex-wrap:wrap;gap:.3em 1em}nav#toc a{white-space:nowrap}
.ex{border:1px solid #ddd;border-radius:4px;padding:.6em;margin:.6em 0}
.meta{color:#666;font-size:.85em}.meta code{font-size:.95em}
.txt{white-space:pre-wrap;background:#f7f7f7;padding:.4em;margin:.2em 0 .6em;font-size:.9em;max-height:18em;overflow:auto}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1em}
.chosen .txt{background:#eef7ee}.rejected .txt{background:#fbeeee}
mark{background:#ffe27a}.muted{color:#777}h3{margin-bottom:.2em}"""

TOC_SCRIPT = """(function () {
  var nav = document.getElementById("toc");
  document.querySelectorAll("section[id] > h2").forEach(function (h) {
    var a = document.createElement("a");
    a.href = "#" + h.parentNode.id;
    a.textContent = h.textContent;
    nav.appendChild(a);
  });
})();"""


def e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return e(v)


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def value(v: Any) -> str:
    """Any JSON value as escaped HTML (for summaries written by other stages)."""
    if isinstance(v, dict):
        return "<br>".join(f"{e(k)}: {value(x)}" for k, x in v.items())
    if isinstance(v, list):
        return ", ".join(value(x) for x in v)
    return num(v)


def bars(items: list[tuple[str, int]], color: str = "#4a78c2") -> str:
    if not items:
        return "<p><em>nothing to show</em></p>"
    top = max(v for _, v in items) or 1
    rows, h = [], 22
    for i, (label, v) in enumerate(items):
        w = int(420 * v / top)
        y = i * h
        rows.append(
            f'<text x="0" y="{y + 15}" font-size="12">{e(label)}</text>'
            f'<rect x="200" y="{y + 3}" width="{max(w, 1)}" height="16" fill="{color}"/>'
            f'<text x="{205 + w}" y="{y + 15}" font-size="12">{v:,}</text>'
        )
    return f'<svg width="720" height="{len(items) * h + 4}" xmlns="http://www.w3.org/2000/svg">{"".join(rows)}</svg>'


def paired_bars(labels: list[str], a: list[int], b: list[int], names: tuple[str, str]) -> str:
    """Two bars per bin (chosen green, rejected red)."""
    if not labels:
        return "<p><em>nothing to show</em></p>"
    top = max(a + b + [1])
    rows, h = [], 30
    for i, label in enumerate(labels):
        y = i * h
        rows.append(f'<text x="0" y="{y + 17}" font-size="12">{e(label)}</text>')
        for j, (v, color) in enumerate(((a[i], "#3c9a5f"), (b[i], "#c0504d"))):
            w = int(400 * v / top)
            rows.append(
                f'<rect x="140" y="{y + 2 + 13 * j}" width="{max(w, 1)}" height="12" fill="{color}"/>'
                f'<text x="{145 + w}" y="{y + 12 + 13 * j}" font-size="11">{v:,}</text>'
            )
    legend = (
        f'<p class="meta"><span style="color:#3c9a5f">&#9632;</span> {e(names[0])} '
        f'<span style="color:#c0504d">&#9632;</span> {e(names[1])}</p>'
    )
    return (
        legend
        + f'<svg width="640" height="{len(labels) * h + 4}" xmlns="http://www.w3.org/2000/svg">{"".join(rows)}</svg>'
    )


def table(header: list[str], rows: list[list[str]], left: tuple[int, ...] = ()) -> str:
    """Rows of already escaped cells; columns in ``left`` are text (left-aligned)."""
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=t' if i in left else ''}>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


# ---------------------------------------------------------------- sections


def _funnel(rep: dict) -> str:
    f = rep["funnel"]
    steps = [
        ("conversations read", f.get("conversations_read", 0)),
        ("accepted (ingest)", f.get("conversations_accepted", 0)),
        ("kept (prepare)", f.get("conversations_kept", 0)),
        ("candidate turns", f.get("candidate_turns", 0)),
        ("feedback turns", f.get("feedback_turns", 0)),
        ("  SAT turns", f.get("sat_turns", 0)),
        ("  DSAT turns", f.get("dsat_turns", 0)),
        ("preferences", f.get("preferences", 0)),
        ("candidate pairs", f.get("candidate_pairs", 0)),
        ("pairs (after filters)", f.get("pairs", 0)),
        ("  train", f.get("train", 0)),
        ("  test", f.get("test", 0)),
    ]
    return bars(steps)


def _categories(rep: dict) -> str:
    cats = [(c, rep["categories"].get("SAT", {}).get(c, 0)) for c in SAT_CATEGORIES]
    cats += [(c, rep["categories"].get("DSAT", {}).get(c, 0)) for c in DSAT_CATEGORIES]
    return bars(cats[:9], "#3c9a5f") + bars(cats[9:], "#c0504d")


def _example(x: dict) -> str:
    from wfcore.report_data import highlight

    fb, found = highlight(x.get("feedback_turn") or "", x.get("evidence"))
    evidence = (
        ""
        if found or not x.get("evidence")
        else f'<p class="meta">evidence (not verbatim in the turn): {e(x["evidence"])}</p>'
    )
    prefs = (
        "".join(f"<li>{e(p)}</li>" for p in x.get("preferences") or [])
        or '<li class="muted">none</li>'
    )
    return f"""<div class="ex" data-pair="{e(x["pair_id"])}">
<div class="meta"><code>{e(x["locator"])}</code> &middot; {e(x["pair_type"])} &middot; {e(x["signal"])}
&middot; {e(", ".join(x.get("categories") or []))} &middot; {e(x["split"])} &middot; prompt of {x["prompt_turns"]} messages
&middot; pair <code>{e(x["pair_id"])}</code></div>
<h4>Prompt: last user turn</h4><div class="txt">{e(x["prompt_last_user"])}</div>
<h4>Feedback turn</h4><div class="txt feedback">{fb or '<span class="muted">(not found)</span>'}</div>{evidence}
<h4>Preferences</h4><ul class="prefs">{prefs}</ul>
<div class="pair"><div class="rejected"><h4>Rejected ({e(x.get("rejected_model") or "-")})</h4><div class="txt">{e(x["rejected"])}</div></div>
<div class="chosen"><h4>Chosen ({e(x.get("chosen_model") or "-")})</h4><div class="txt">{e(x["chosen"])}</div></div></div>
</div>"""


def _examples(rep: dict) -> str:
    ex = rep.get("examples") or {}
    groups = ex.get("groups") or {}
    if not groups:
        return "<p><em>no pairs in this run</em></p>"
    parts = [
        f'<p class="meta">{ex.get("per_group")} pairs per group, picked by a hash of the pair id with seed '
        f"{ex.get('seed')} (deterministic); text as PII-scrubbed by prepare; long texts are cut.</p>"
    ]
    for g, items in groups.items():
        parts.append(
            f'<details class="group"{" open" if g.startswith("type:") else ""}><summary>{e(g)} '
            f"({len(items)})</summary>{''.join(_example(x) for x in items)}</details>"
        )
    missing = ex.get("categories_without_pairs") or []
    if missing:
        parts.append(
            f'<p class="meta">rubric categories with no pair: {e(", ".join(missing))}'
            + (": their detected turns below" if ex.get("turns_without_pairs") else "")
            + "</p>"
        )
    for c, items in (ex.get("turns_without_pairs") or {}).items():
        parts.append(
            f'<details class="group"><summary>category: {e(c)}, turns without a pair ({len(items)})</summary>'
            f"{''.join(_turn(x) for x in items)}</details>"
        )
    return "".join(parts)


def _turn(x: dict) -> str:
    from wfcore.report_data import highlight

    fb, found = highlight(x.get("feedback_turn") or "", x.get("evidence"))
    return f"""<div class="ex turn"><div class="meta"><code>{e(x["locator"])}</code> &middot; {e(", ".join(x.get("categories") or []))}
&middot; detector {e(x.get("detector"))}</div>
<h4>Previous response</h4><div class="txt">{e(x.get("previous_response"))}</div>
<h4>Feedback turn</h4><div class="txt feedback">{fb}</div></div>"""


def _summary_rows(d: dict, keys: list[tuple[str, str]]) -> list[list[str]]:
    rows = []
    for label, k in keys:
        s = d.get(k) or {}
        rows.append(
            [e(label)] + [num(s.get(c), 1) for c in ("n", "mean", "p10", "median", "p90", "max")]
        )
    return rows


def _distributions(rep: dict) -> str:
    d = rep.get("distributions") or {}
    if not d:
        return "<p><em>no pairs</em></p>"
    cp = d.get("chars_paired") or {}
    tp = d.get("tokens_paired") or {}
    parts = [
        f'<h3>Chosen vs rejected length</h3><p id="chosen-longer">chosen is longer than rejected in '
        f"<b>{pct(cp.get('chosen_longer'))}</b> of {num(cp.get('pairs'))} pairs (equal {pct(cp.get('equal'))}, "
        f"shorter {pct(cp.get('rejected_longer'))}; median difference {num(cp.get('median_difference'), 1)} characters)."
        + (
            f" In tokens (pairs with both sides counted: {num(tp.get('pairs'))}): chosen longer in {pct(tp.get('chosen_longer'))}."
            if tp.get("pairs")
            else f' <span class="muted">{e(d.get("tokens_note"))}.</span>'
        )
        + "</p>",
        table(
            ["length", "n", "mean", "p10", "median", "p90", "max"],
            _summary_rows(
                d,
                [
                    ("chosen (characters)", "chosen_chars"),
                    ("rejected (characters)", "rejected_chars"),
                    ("chosen (tokens)", "chosen_tokens"),
                    ("rejected (tokens)", "rejected_tokens"),
                    ("prompt (characters)", "prompt_chars"),
                    ("prompt (messages)", "prompt_messages"),
                    ("user turns per kept conversation", "user_turns_per_conversation"),
                ],
            ),
        ),
    ]
    by_type = d.get("chars_paired_by_type") or {}
    if by_type:
        parts.append(
            table(
                [
                    "pair type",
                    "pairs",
                    "chosen longer",
                    "equal",
                    "rejected longer",
                    "median difference",
                ],
                [
                    [
                        e(t),
                        num(v["pairs"]),
                        pct(v["chosen_longer"]),
                        pct(v["equal"]),
                        pct(v["rejected_longer"]),
                        num(v["median_difference"], 1),
                    ]
                    for t, v in by_type.items()
                ],
            )
        )
    hist = d.get("chars_histogram") or {}
    if hist.get("chosen"):
        parts.append(
            "<h3>Response length (characters)</h3>"
            + paired_bars(
                [lbl for lbl, _ in hist["chosen"]],
                [v for _, v in hist["chosen"]],
                [v for _, v in hist["rejected"]],
                ("chosen", "rejected"),
            )
        )
    parts.append(
        "<h3>Prompt length (characters)</h3>"
        + bars([tuple(x) for x in d.get("prompt_chars_histogram") or []])
    )
    parts.append(
        "<h3>User turns per kept conversation</h3>"
        + bars([tuple(x) for x in d.get("user_turns_histogram") or []])
    )
    lc, lp = d.get("languages_conversations") or {}, d.get("languages_pairs") or {}
    parts.append(
        "<h3>Languages</h3>"
        + table(
            ["language", "kept conversations", "pairs"],
            [[e(k), num(v), num(lp.get(k, 0))] for k, v in lc.items()],
        )
    )
    return "".join(parts)


def _losses(rep: dict) -> str:
    losses = rep.get("losses") or {}
    rows = []
    for stage, items in losses.items():
        for x in items:
            ex = (
                f"<code>{e(x['example'])}</code>"
                if x.get("example")
                else '<span class="muted">-</span>'
            )
            rows.append([e(stage), e(x["reason"]), num(x["rows"]), ex, e(x.get("detail"))])
    if not rows:
        return "<p>nothing was lost</p>"
    return (
        '<p class="meta">Every stage accounts for its rows: rows in = rows out + rows lost by reason. Examples are '
        "locators (file:line or conversation id:message index), never raw text.</p>"
        + table(["stage", "reason", "rows", "example", "detail"], rows, left=(0, 1, 3, 4))
    )


def _near_duplicates(rep: dict) -> str:
    c = rep.get("near_duplicates") or {}
    s = c.get("settings") or {}
    head = (
        f"<p>{num(c.get('near_dup_clusters', 0))} near-duplicate clusters holding "
        f"{num(c.get('conversations_in_clusters', 0))} conversations (one representative kept per cluster); "
        f"{num(c.get('exact_duplicates_dropped', 0))} exact duplicates dropped from "
        f"{num(c.get('exact_duplicate_groups', 0))} groups. MinHash Jaccard &ge; {num(s.get('threshold'), 2)}, "
        f"{num(s.get('num_perm'))} permutations, {num(s.get('bands'))} bands.</p>"
    )
    sizes = [(f"size {k}", v) for k, v in (c.get("size_counts") or {}).items()]
    largest = table(
        ["representative kept", "cluster size"],
        [
            [f"<code>{e(x['representative'])}</code>", num(x["size"])]
            for x in c.get("largest") or []
        ],
    )
    return head + bars(sizes, "#8064a2") + (largest if c.get("largest") else "")


def _evaluation(rep: dict) -> str:
    ev = rep.get("evaluation")
    if not isinstance(ev, dict):
        return '<p class="muted">not evaluated (no <code>RUN/eval/summary.json</code>)</p>'
    win = ev.get("win_rate")
    lo, hi = ev.get("ci_low"), ev.get("ci_high")
    ci = (
        f" (95% CI {pct(lo)} to {pct(hi)})"
        if isinstance(lo, int | float) and isinstance(hi, int | float)
        else ""
    )
    head = (
        f'<p id="win-rate">win rate <b>{pct(win) if isinstance(win, int | float) else "-"}</b>{ci} over '
        f"{num(ev.get('n_prompts'))} prompts: {num(ev.get('wins'))} wins, {num(ev.get('ties'))} ties, "
        f"{num(ev.get('losses'))} losses; position consistency {num(ev.get('position_consistency'))}.</p>"
    )
    known = (
        "n_prompts",
        "wins",
        "ties",
        "losses",
        "win_rate",
        "ci_low",
        "ci_high",
        "position_consistency",
        "per_category",
    )
    main = [[e(k), value(ev[k])] for k in ("judge", "checklist", "candidates") if k in ev]
    rest = [
        [e(k), value(v)]
        for k, v in ev.items()
        if k not in known and k not in ("judge", "checklist", "candidates")
    ]
    parts = [head, table(["", ""], main, left=(0, 1)) if main else ""]
    if rest:
        parts.append(
            f"<details><summary>every summary field</summary>{table(['', ''], rest, left=(0, 1))}</details>"
        )
    per = ev.get("per_category")
    if isinstance(per, dict) and per:
        keys = sorted({k for v in per.values() if isinstance(v, dict) for k in v})
        shown = [k for k in EVAL_CATEGORY_COLUMNS if k in keys] or keys
        if keys:
            rows = []
            for c, v in per.items():
                v = v if isinstance(v, dict) else {}
                cells = []
                for k in shown:
                    if k == "win_rate" and isinstance(v.get(k), int | float):
                        lo, hi = v.get("ci_low"), v.get("ci_high")
                        band = (
                            f" [{pct(lo)}, {pct(hi)}]"
                            if isinstance(lo, int | float) and isinstance(hi, int | float)
                            else ""
                        )
                        cells.append(f'{pct(v[k])}<span class="meta">{band}</span>')
                    else:
                        cells.append(value(v.get(k)))
                rows.append([e(c), *cells])
            parts.append("<h3>Per category</h3>" + table(["category", *shown], rows))
        else:
            parts.append(table(["category", "value"], [[e(c), value(v)] for c, v in per.items()]))
    return "".join(parts)


EVAL_CATEGORY_COLUMNS = ("n_prompts", "wins", "ties", "losses", "win_rate", "position_consistency")


def _ci(m: dict, k: str) -> str:
    ci = (m.get("ci95") or {}).get(k)
    est = m["estimate"].get(k)
    return f'{num(est)} <span class="meta">[{num(ci[0])}, {num(ci[1])}]</span>' if ci else num(est)


def _audit(rep: dict) -> str:
    a = rep.get("audit")
    if not isinstance(a, dict) or "signals" not in a:
        return (
            '<p class="muted">no labels yet: <code>wildfeedback audit sample --run RUN</code>, label '
            "<code>RUN/audit/sheet.csv</code>, then <code>wildfeedback audit score --run RUN --labels FILE</code></p>"
        )
    rows = []
    for sig, m in a["signals"].items():
        c, s = m["counts"], m["sample"]
        rows.append(
            [e(sig), num(m["n"]), num(c["tp"] + c["fn"]), num(c["tp"] + c["fp"])]
            + [_ci(m, k) for k in ("precision", "recall", "f1", "kappa")]
            + [f"{num(s['precision'])} / {num(s['recall'])} / {num(s['f1'])} / {num(s['kappa'])}"]
        )
    parts = [
        '<p class="meta">An interval of zero width means the sample showed no variation (for example no'
        " false positive among the labelled detections), not that the figure is exact.</p>",
        f"<p>{num(a['labelled'])} labelled turns (<code>{e(a.get('labels'))}</code>, sample seed "
        f"{e((a.get('sample') or {}).get('seed'))}), weighted by stratum to estimate the run's "
        f"{num(a.get('run_turns_covered'))} of {num(a.get('run_turns'))} turns; [95% intervals: {e(a['bootstrap']['method'])}, "
        f"{num(a['bootstrap']['replicates'])} replicates].</p>",
        table(
            [
                "signal",
                "labelled",
                "gold +",
                "detector +",
                "precision",
                "recall",
                "F1",
                "Cohen's kappa",
                "sample P / R / F1 / kappa",
            ],
            rows,
        ),
    ]
    pf = a.get("prefilter")
    if pf:
        ci = pf.get("ci95")
        parts.append(
            f'<p id="prefilter-recall">prefilter recall of labelled SAT/DSAT turns: <b>{num(pf["estimate"])}</b>'
            + (f" [{num(ci[0])}, {num(ci[1])}]" if ci else "")
            + f" weighted; {num(pf['sample'])} on the sample ({pf['passed']} of {pf['gold_positive']}); "
            f"{e(a.get('prefilter_source'))}."
            + (
                " No labelled SAT/DSAT turn was held back, so the interval cannot show misses: label more"
                " of the turns the prefilter holds back to bound them."
                if pf.get("gold_positive") and pf["passed"] == pf["gold_positive"]
                else ""
            )
            + "</p>"
        )
    cats = a.get("categories") or {}
    if cats:
        parts.append(
            '<h3>Per rubric category</h3><p class="meta">TP / FP / FN / TN counted on the labelled turns; '
            "precision, recall and F1 weighted to the run.</p>"
            + table(
                ["category", "TP", "FP", "FN", "TN", "precision", "recall", "F1"],
                [
                    [
                        e(c),
                        num(m["counts"]["tp"]),
                        num(m["counts"]["fp"]),
                        num(m["counts"]["fn"]),
                        num(m["counts"]["tn"]),
                    ]
                    + [_ci(m, k) for k in ("precision", "recall", "f1")]
                    for c, m in cats.items()
                ],
            )
        )
    strata = a.get("strata") or {}
    parts.append(
        "<details><summary>strata and weights</summary>"
        + table(
            ["stratum", "run turns", "labelled", "weight"],
            [
                [e(h), num(v["turns"]), num(v["labelled"]), num(v["weight"], 2)]
                for h, v in strata.items()
            ],
        )
        + "</details>"
    )
    if a.get("detector_changed_since_sample"):
        parts.append(
            '<p class="meta">the detector changed since the sample was drawn: scored against the current '
            "detector with the original design's weights.</p>"
        )
    return "".join(parts)


def _throughput(rep: dict) -> str:
    rows = [
        [
            e(s),
            e(t["status"]),
            num(t["rows_in"]),
            num(t["rows_out"]),
            f"{t['wall_seconds']:.1f}",
            num(t["rows_per_second"], 1),
            num(t["tokens_in"]),
            num(t.get("tokens_cached")),
            num(t["tokens_out"]),
            num(t["error_rows"]),
        ]
        for s, t in rep["throughput"].items()
    ]
    return table(
        [
            "stage",
            "status",
            "rows in",
            "rows out",
            "seconds",
            "rows/s",
            "tokens in",
            "of which cached",
            "tokens out",
            "error rows",
        ],
        rows,
    )


def _cost(rep: dict) -> str:
    c = rep["cost"]
    p = c.get("projection")
    if not c.get("model_used", True) or not p:
        return f'<p id="cost-line">{e(c["note"])}</p>'
    usd = lambda v: "-" if v is None else f"${v:,.2f}"  # noqa: E731
    head = (
        f'<p id="cost-line">Projected for <b>{num(p["conversations"])}</b> conversations '
        f"({num(p['turns_per_conversation'], 2)} candidate turns per conversation read, as in this run's "
        f"{num(p['run_candidate_turns'])} turns of {num(p['run_conversations_read'])} conversations: "
        f"{num(p['projected_turns'])} turns): <b>{num(p['gpu_hours'], 1)} GPU-hours</b> ({e(p['gpu'])}), "
        f"<b>{usd(p['cost'])}</b> at {usd(p['gpu_hour_price'])} per GPU-hour"
        + (
            f"; {usd(p['cost_per_1000_pairs'])} per 1,000 pairs (at this run's pairs per conversation: "
            f"{num(p['projected_pairs'])} pairs)"
            if p.get("cost_per_1000_pairs") is not None
            else ""
        )
        + (
            f"; at the endpoint's token price the stages on an <code>openai</code> engine cost {usd(p['api_cost'])}"
            if p.get("api_cost") is not None
            else ""
        )
        + ".</p>"
    )
    rows, sources = [], {}
    for s in p["stages"]:
        r, u, t = s["rates"], s["per_unit"], s["projected_tokens"]
        refs = []
        for kind in ("prompt", "output"):
            src = r[f"{kind}_source"]
            sources.setdefault(src, len(sources) + 1)
            refs.append(sources[src])
        cached = (
            num(u["cached_prompt"], 1)
            if s["cached_recorded"]
            else '<span class="muted">not recorded</span>'
        )
        rows.append(
            [
                e(s["stage"]),
                f'<code>{e(s["model"])}</code><br><span class="meta">{e(r["size_class"])} class; size {e(s["model_size_from"])}</span>',
                e(s["unit"]),
                num(u["uncached_prompt"], 1),
                cached,
                num(u["output"], 1),
                pct(s["prefix_cache_hit_rate"]),
                num(s["projected_units"], 0)
                if isinstance(s["projected_units"], float)
                else num(s["projected_units"]),
                f"{num(t['uncached_prompt'])} / {num(t['cached_prompt'])} / {num(t['output'])}",
                f"{num(r['prompt_tokens_per_s'], 0)} <sup>{refs[0]}</sup>",
                f"{num(r['output_tokens_per_s'], 0)} <sup>{refs[1]}</sup>",
                num(s["gpu_hours"], 1),
                usd(s["cost"]),
            ]
        )
    parts = [
        head,
        table(
            [
                "stage",
                "model",
                "per",
                "uncached prompt tokens",
                "cached prompt tokens",
                "output tokens",
                "prefix-cache hits",
                "projected units",
                "projected tokens (uncached / cached / output)",
                "prompt tokens/s per GPU",
                "output tokens/s per GPU",
                "GPU-hours",
                "cost",
            ],
            rows,
            left=(0, 1, 2),
        ),
    ]
    for s in p.get("skipped") or []:
        parts.append(
            f'<p class="meta">{e(s["stage"])} (<code>{e(s["model"])}</code>) is not projected: {e(s["reason"])}.</p>'
        )
    if "projected_heldout_prompts" in p:
        parts.append(
            f'<p class="meta">evaluate is projected at the held-out set such a corpus gives: '
            f"{num(p['projected_heldout_prompts'])} prompts (assemble caps it at k x per_cluster).</p>"
        )
    parts.append(
        '<ol class="meta" id="cost-sources">'
        + "".join(f"<li>{e(src)}</li>" for src in sources)
        + "</ol>"
    )
    parts.append(f'<p class="meta">{e(c["note"])}</p>')
    return "".join(parts)


RENDER = {
    "funnel": _funnel,
    "categories": _categories,
    "pair-types": lambda rep: bars(sorted((rep["funnel"].get("pairs_by_type") or {}).items())),
    "examples": _examples,
    "distributions": _distributions,
    "losses": _losses,
    "near-duplicates": _near_duplicates,
    "evaluation": _evaluation,
    "audit": _audit,
    "throughput": _throughput,
    "cost": _cost,
}


def render_html(rep: dict) -> str:
    body = "\n".join(
        f'<section id="{sid}"><h2>{e(title)}</h2>{RENDER[sid](rep)}</section>'
        for sid, title in SECTIONS
    )
    data = json.dumps(rep, sort_keys=True, default=str).replace("<", "\\u003c")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>wildfeedback report</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head><body>
<h1>wildfeedback run report</h1>
<p>run <code>{e(rep["run"])}</code>, code {e(rep.get("code_version"))}, generated {e(rep["generated_at"])}</p>
<nav id="toc"></nav>
{body}
<script type="application/json" id="report">{data}</script>
<script>{TOC_SCRIPT}</script>
</body></html>"""
