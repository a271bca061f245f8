"""Dedup math: fingerprints, shingles, MinHash estimates, banding parameters, components."""

import numpy as np
import pytest

from wfcore import dedup

rng = np.random.default_rng(7)
VOCAB = [f"w{i}" for i in range(4000)]


def _text(n: int = 120) -> str:
    return " ".join(rng.choice(VOCAB, n))


def _mutate(text: str, k: int) -> str:
    w = text.split()
    for j in rng.choice(len(w), k, replace=False):
        w[j] = f"x{j}"
    return " ".join(w)


def test_exact_fingerprint_folds_whitespace_and_case_but_not_roles_or_words():
    a = [{"role": "user", "content": "Hello   World"}, {"role": "assistant", "content": "Hi"}]
    b = [{"role": "user", "content": "hello world "}, {"role": "assistant", "content": "HI"}]
    c = [{"role": "assistant", "content": "hello world"}, {"role": "assistant", "content": "hi"}]
    d = [{"role": "user", "content": "hello there"}, {"role": "assistant", "content": "hi"}]
    assert dedup.exact_fingerprint(a) == dedup.exact_fingerprint(b)
    assert dedup.exact_fingerprint(a) != dedup.exact_fingerprint(c)
    assert dedup.exact_fingerprint(a) != dedup.exact_fingerprint(d)


def test_user_text_ignores_assistant_and_system_messages():
    msgs = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Ask  ONE"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "ask two"},
    ]
    assert dedup.user_text(msgs) == "ask one \n ask two"


def test_shingles_are_word_ngrams_and_short_texts_give_one_shingle():
    assert dedup.shingles("a b c d", 3) == {"a b c", "b c d"}
    assert dedup.shingles("A b", 3) == {"a b"}
    assert dedup.shingles("  ", 3) == set()
    assert len(dedup.shingle_hashes("a b c d", 3)) == 2


def test_signatures_are_deterministic_and_batch_independent():
    texts = [_text() for _ in range(30)]
    hs = [dedup.shingle_hashes(t, 5) for t in texts]
    batch = dedup.signatures(hs, 64, seed=3, block=500)
    one_by_one = np.stack([dedup.signatures([h], 64, seed=3)[0] for h in hs])
    assert batch.dtype == np.int32 and batch.shape == (30, 64)
    assert (batch == one_by_one).all()
    assert (batch >= 0).all()
    assert not (dedup.signatures(hs, 64, seed=4) == batch).all()


def test_empty_documents_get_the_empty_signature():
    sigs = dedup.signatures([np.empty(0, np.uint64), dedup.shingle_hashes("a b c", 2)], 16, 1)
    assert (sigs[0] == dedup.EMPTY).all() and (sigs[1] >= 0).all()


def test_jaccard_estimate_tracks_exact_jaccard_within_sampling_error():
    num_perm = 256
    errors = []
    for k in (0, 2, 5, 10, 20, 40, 80):
        for _ in range(8):
            a = _text()
            b = _mutate(a, k)
            exact = dedup.exact_jaccard(dedup.shingles(a, 5), dedup.shingles(b, 5))
            est = dedup.jaccard_estimate(dedup.signature(a, num_perm, 1, 5), dedup.signature(b, num_perm, 1, 5))
            sd = np.sqrt(max(exact * (1 - exact), 1e-3) / num_perm)
            assert abs(est - exact) <= 5 * sd + 1e-9
            errors.append(est - exact)
    assert abs(np.mean(errors)) < 0.02  # unbiased


def test_optimal_bands_rows_minimise_the_weighted_error_and_fit_num_perm():
    for threshold in (0.5, 0.7, 0.8, 0.9):
        b, r = dedup.optimal_bands_rows(threshold, 128)
        assert b * r <= 128
        err = dedup.false_positive_area(threshold, b, r) + dedup.false_negative_area(threshold, b, r)
        for b2, r2 in ((b + 1, r), (b, r + 1), (b - 1, r), (b, r - 1), (16, 8), (32, 4)):
            if b2 >= 1 and r2 >= 1 and b2 * r2 <= 128:
                assert err <= dedup.false_positive_area(threshold, b2, r2) + dedup.false_negative_area(threshold, b2, r2) + 1e-9
        # the S-curve's steepest point sits near the threshold
        assert abs((1 / b) ** (1 / r) - threshold) < 0.12


def test_higher_threshold_means_more_rows_per_band():
    rows = [dedup.optimal_bands_rows(t, 128)[1] for t in (0.5, 0.7, 0.9)]
    assert rows == sorted(rows) and rows[0] < rows[-1]


def test_configured_bands_rows_are_validated():
    assert dedup.resolve_bands_rows(0.8, 128, 16, 8) == (16, 8)
    assert dedup.resolve_bands_rows(0.8, 128, None, 8) == dedup.optimal_bands_rows(0.8, 128, dedup.FP_WEIGHT, dedup.FN_WEIGHT)
    with pytest.raises(ValueError):
        dedup.resolve_bands_rows(0.8, 128, 20, 8)


def test_candidate_probability_matches_simulated_banding():
    b, r = dedup.optimal_bands_rows(0.8, 128)
    base = [_text(200) for _ in range(60)]
    hits, expected = 0, 0.0
    for a in base:
        bb = _mutate(a, 6)
        sa, sb = dedup.signature(a, 128, 1, 5), dedup.signature(bb, 128, 1, 5)
        ha, hb = dedup.band_hashes(np.stack([sa, sb]), b, r)
        hits += bool((ha == hb).any())
        expected += dedup.candidate_probability(dedup.exact_jaccard(dedup.shingles(a, 5), dedup.shingles(bb, 5)), b, r)
    assert abs(hits - expected) <= 4 * np.sqrt(expected * (1 - expected / 60)) + 1


def test_band_hashes_differ_per_band_and_match_for_equal_bands():
    sig = dedup.signature(_text(), 128, 1, 5)
    other = sig.copy()
    other[-1] += 1
    h = dedup.band_hashes(np.stack([sig, other]), 8, 16)
    assert h.dtype == np.int64 and h.shape == (2, 8)
    assert (h[0, :7] == h[1, :7]).all() and h[0, 7] != h[1, 7]
    assert len(set(h[0].tolist())) == 8


def test_lsh_pairs_and_components_reference():
    sigs = np.array([[1, 2, 3, 4], [1, 2, 9, 9], [8, 8, 3, 4], [7, 7, 7, 7]], dtype=np.int32)
    pairs = dedup.lsh_candidate_pairs(dedup.band_hashes(sigs, 2, 2))
    assert pairs == {(0, 1), (0, 2)}
    assert dedup.connected_components(4, pairs) == [0, 0, 0, 3]


def test_shingle_set_jaccard_equals_exact_jaccard_of_the_shingles():
    for k in (0, 3, 10, 30, 120):
        a = _text()
        b = _mutate(a, k) if k < 120 else _text()
        want = dedup.exact_jaccard(dedup.shingles(a, 5), dedup.shingles(b, 5))
        sa, sb = (dedup.shingle_set(dedup.shingle_hashes(t, 5)) for t in (a, b))
        assert sa.dtype == np.int32 and (np.diff(sa) > 0).all()
        assert len(sa) == len(dedup.shingles(a, 5))
        assert dedup.set_jaccard(sa, sb) == pytest.approx(want, abs=1e-12)


def test_jaccard_upper_bound_is_never_below_the_exact_jaccard():
    for k in (0, 5, 40):
        a = _text(150)
        b = " ".join(_mutate(a, k).split()[: 60 + k])
        sa, sb = (dedup.shingle_set(dedup.shingle_hashes(t, 5)) for t in (a, b))
        assert dedup.set_jaccard(sa, sb) <= dedup.jaccard_upper_bound(len(sa), len(sb)) + 1e-12
    assert dedup.jaccard_upper_bound(40, 50) == 0.8 and dedup.jaccard_upper_bound(0, 0) == 1.0
