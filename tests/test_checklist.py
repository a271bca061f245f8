"""Scoring of checklist-guided evaluation on fixed and simulated verdicts (pure Python, no model)."""

from __future__ import annotations

import numpy as np
import pytest

from wfcore.checklist import (
    LEVELS,
    OrderVerdict,
    PromptJudgment,
    bootstrap_interval,
    candidate_level,
    combine,
    score,
)


def _j(
    hid: str,
    ab: str,
    ba: str,
    cat: str | None = None,
    items_ab=((), ()),
    items_ba=((), ()),
    la=10,
    lb=10,
):
    return PromptJudgment(
        hid,
        OrderVerdict(ab, *map(tuple, items_ab)),
        OrderVerdict(ba, *map(tuple, items_ba)),
        cat,
        la,
        lb,
    )


def test_all_ties_give_a_half_win_rate_and_full_consistency():
    s = score([_j(f"h{i}", "A=B", "A=B") for i in range(20)], seed=1)
    assert (s["wins"], s["ties"], s["losses"], s["n_prompts"]) == (0, 20, 0, 20)
    assert s["win_rate"] == 0.5 and s["ci_low"] == 0.5 and s["ci_high"] == 0.5
    assert s["position_consistency"] == 1.0
    assert s["first_position_preferred"] is None  # no decisive verdict at all
    assert s["mean_reward"] == 0.0


def test_one_prompt_won_in_both_orders_is_one_win():
    s = score([_j("h0", "A>B", "A>>B", cat="Revision")])
    assert (s["wins"], s["ties"], s["losses"]) == (1, 0, 0)
    assert s["win_rate"] == 1.0 and (s["ci_low"], s["ci_high"]) == (1.0, 1.0)
    assert s["mean_reward"] == 0.75 and s["strong_wins"] == 0  # only one order at the ">>" level
    assert s["per_category"]["Revision"]["wins"] == 1
    assert s["first_position_preferred"] == 0.5  # first shown won once (AB) and lost once (BA)


def test_disagreeing_orders_are_ties_and_count_against_position_consistency():
    # first-shown response preferred in both orders: pure position bias, no preference
    s = score([_j("h0", "A>B", "B>A"), _j("h1", "A>>B", "A=B"), _j("h2", "B>A", "B>A")])
    assert (s["wins"], s["ties"], s["losses"]) == (0, 2, 1)
    assert s["win_rate"] == pytest.approx((0 + 0.5 * 2) / 3, abs=1e-6)
    assert s["position_consistency"] == pytest.approx(1 / 3, abs=1e-6)


def test_five_level_mapping_both_orders():
    # the B-first order mirrors the labels into candidate terms
    assert [candidate_level(v, "BA") for v in LEVELS] == list(reversed(LEVELS))
    assert [candidate_level(v, "AB") for v in LEVELS] == list(LEVELS)
    expected = {
        ("A>>B", "A>>B"): ("win", True, 1.0, True),
        ("A>>B", "A>B"): ("win", True, 0.75, False),
        ("A>B", "A>B"): ("win", True, 0.5, False),
        ("A=B", "A=B"): ("tie", True, 0.0, False),
        ("A>B", "A=B"): ("tie", False, 0.25, False),
        ("A>>B", "B>>A"): ("tie", False, 0.0, False),
        ("B>A", "B>>A"): ("loss", True, -0.75, False),
        ("B>>A", "B>>A"): ("loss", True, -1.0, True),
    }
    for (ab, ba), want in expected.items():
        c = combine(OrderVerdict(ab), OrderVerdict(ba))
        assert (c.outcome, c.consistent, c.reward, c.strong) == want, (ab, ba)
    with pytest.raises(ValueError):
        candidate_level("A>>>B", "AB")
    with pytest.raises(ValueError):
        candidate_level("A>B", "XY")


def test_satisfaction_and_length_per_side_and_per_category():
    js = [
        _j(
            "h0",
            "A>B",
            "A>B",
            "Style",
            items_ab=(("yes", "no"), ("no", "no")),
            items_ba=(("yes", "partly"), ("no", "unknown")),
            la=100,
            lb=50,
        ),
        _j(
            "h1",
            "B>A",
            "B>A",
            "Factual Error",
            items_ab=(("no",), ("yes",)),
            items_ba=(("no",), ("yes",)),
            la=20,
            lb=40,
        ),
    ]
    s = score(js)
    # A: h0 orders 0.5, 0.75; h1 0, 0 -> mean 0.3125. B: h0 0, 0 (unknown skipped); h1 1, 1 -> 0.5
    assert s["satisfaction"] == {"A": 0.3125, "B": 0.5}
    assert s["mean_length"] == {"A": 60.0, "B": 45.0}
    assert s["longer_response_won"] == 1.0  # A longer and won h0; B longer and won h1
    assert set(s["per_category"]) == {"Style", "Factual Error"}
    assert s["per_category"]["Style"]["mean_length"] == {"A": 100.0, "B": 50.0}
    assert s["per_category"]["Factual Error"]["losses"] == 1


def test_bootstrap_is_seeded_and_resamples_prompts():
    x = np.r_[np.ones(30), np.zeros(30), np.full(40, 0.5)]
    assert bootstrap_interval(x, 2000, seed=3) == bootstrap_interval(x, 2000, seed=3)
    lo, hi = bootstrap_interval(x, 2000, seed=3)
    assert lo < 0.5 < hi
    # an interval over prompts narrows as prompts are added, here by about 1/sqrt(4)
    lo4, hi4 = bootstrap_interval(np.tile(x, 4), 2000, seed=3)
    assert 0.4 < (hi4 - lo4) / (hi - lo) < 0.6
    with pytest.raises(ValueError):
        score([_j("h0", "A>B", "A>B")], n_resamples=500)


def test_score_interval_is_the_bootstrap_of_per_prompt_outcomes():
    js = [
        _j(f"h{i}", v, w)
        for i, (v, w) in enumerate(
            [("A>B", "A>B"), ("A=B", "B>A"), ("B>>A", "B>A"), ("A>>B", "A>B")] * 10
        )
    ]
    s = score(js, n_resamples=1_000, seed=7)
    outcomes = [{"win": 1.0, "tie": 0.5, "loss": 0.0}[combine(j.ab, j.ba).outcome] for j in js]
    assert (s["ci_low"], s["ci_high"]) == tuple(
        round(v, 6) for v in bootstrap_interval(outcomes, 1_000, seed=7)
    )
    assert s["bootstrap"] == {"resamples": 1_000, "seed": 7, "level": 0.95, "unit": "prompt"}


def test_bootstrap_interval_covers_the_true_win_rate_in_93_to_97_percent_of_simulations():
    """1,000 simulated evaluations of 300 prompts. Each order's verdict is drawn independently
    (A preferred 0.45, tie 0.22, B preferred 0.33), the two combine by ``combine``, so the true win
    rate is known exactly: P(win) + P(tie) / 2 with P(win) = 0.45^2, P(loss) = 0.33^2. The 95%
    interval must cover it in 93-97% of simulations. (Resampling single judgments instead of
    prompts covers it in about 88%.)"""
    p = np.array([0.45, 0.22, 0.33])
    levels = ("A>B", "A=B", "B>A")
    value = {"win": 1.0, "tie": 0.5, "loss": 0.0}
    table = np.array(
        [[value[combine(OrderVerdict(a), OrderVerdict(b)).outcome] for b in levels] for a in levels]
    )
    p_win, p_loss = p[0] ** 2, p[2] ** 2
    true_rate = p_win + 0.5 * (1 - p_win - p_loss)
    rng = np.random.default_rng(20260)
    n_sims, n = 1_000, 300
    draws = rng.choice(3, size=(n_sims, n, 2), p=p)
    outcomes = table[draws[..., 0], draws[..., 1]]
    covered = 0
    for s in range(n_sims):
        lo, hi = bootstrap_interval(outcomes[s], n_resamples=1_000, seed=s)
        covered += lo <= true_rate <= hi
    assert 0.93 <= covered / n_sims <= 0.97, covered / n_sims


def test_items_judged_is_the_share_of_item_verdicts_that_are_not_unknown():
    s = score(
        [
            _j(
                "h0",
                "A=B",
                "A=B",
                items_ab=(("yes", "unknown"), ("unknown", "unknown")),
                items_ba=(("no", "unknown"), ("unknown", "partly")),
            )
        ]
    )
    assert s["items_judged"] == 3 / 8
