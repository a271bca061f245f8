"""The held-out evaluation set: which feedback turns are kept out of training to evaluate on.

The method (WildFeedback's checklist-guided evaluation, section 5): embed each feedback turn's
task and the user's preferences, cluster the embeddings with k-means, take the instances
nearest to each centroid, and drop near duplicates. Here, in order:

1. **item**     a feedback turn becomes an item: its prompt (the history up to the judged
                response, ending with the user's request), the checklist (its preference
                statements), its rubric category, and the text that is embedded
                (:func:`embed_text`: the last user request, then the checklist).
2. **usable**   items without a task or a checklist are dropped with a reason
                (:func:`unusable_reason`: no user request, moderation flag, greeting,
                too few words, no checklist, prompt over budget).
3. **cluster**  seeded k-means++ and Lloyd iterations on the normalised vectors
                (:func:`kmeans`; Euclidean on unit vectors orders like cosine).
4. **select**   round robin over the clusters, nearest to the centroid first
                (:func:`select`): an item is dropped when its conversation or its near-dup
                cluster (prepare's ``cluster_id``) is already in the set, or when its cosine
                with a selected item is >= the threshold; the next nearest takes its place.

Then the assemble job drops every pair and SFT example of a held-out conversation or near-dup
cluster before the split (reason :data:`R_HELDOUT`), so no training or test export holds one.

Pure Python and numpy; deterministic for the same items (sorted by turn id) and seed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import ids

# why a pair or SFT example is not exported (assemble's rejected_by_reason key)
R_HELDOUT = "heldout"

# why a feedback turn cannot be a held-out item
U_NO_REQUEST = "heldout_no_user_request"
U_FLAGGED = "heldout_moderation_flagged"
U_GREETING = "heldout_greeting"
U_SHORT = "heldout_short_prompt"
U_NO_CHECKLIST = "heldout_no_checklist"
U_TOO_LONG = "heldout_prompt_too_long"
U_SIGNAL = "heldout_signal_not_selected"

# why a usable item close to a centroid was not taken
D_SAME_CONVERSATION = "same_conversation"
D_SAME_NEAR_DUP = "same_near_dup_cluster"
D_NEAR_DUPLICATE = "near_duplicate"

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
GREETING_WORDS = frozenset(
    """hi hello hey heya hiya yo hola howdy greetings sup whats what's up good morning afternoon
    evening night day there how are you doing is it going thanks thank thx ty ok okay k cool great
    nice bye goodbye cya see later please again dear friend chatgpt gpt assistant bot sir madam all
    everyone guys u r ya my name i'm im am""".split()
)


@dataclass(frozen=True)
class HeldoutOptions:
    k: int = 70
    per_cluster: int = 10
    max_fraction: float = 0.05
    max_items: int | None = None
    near_dup_threshold: float = 0.9
    min_prompt_words: int = 3
    min_checklist_items: int = 1
    min_statement_words: int = 2
    max_prompt_chars: int = 24_000
    signals: tuple[str, ...] = ("DSAT", "SAT")
    max_request_chars: int = 1_000
    seed: int = 0
    max_iter: int = 50

    @classmethod
    def from_config(cls, h: Any, max_prompt_chars: int) -> HeldoutOptions:
        """From ``assemble.heldout`` (a :class:`wfcore.config.HeldoutConfig`)."""
        return cls(
            k=h.k,
            per_cluster=h.per_cluster,
            max_fraction=h.max_fraction,
            max_items=h.max_items,
            near_dup_threshold=h.near_dup_threshold,
            min_prompt_words=h.min_prompt_words,
            min_checklist_items=h.min_checklist_items,
            min_statement_words=h.min_statement_words,
            max_prompt_chars=max_prompt_chars,
            signals=tuple(h.signals),
            seed=h.seed,
        )


# ---------------------------------------------------------------- 1-2. items and usability


def words(text: str | None) -> list[str]:
    return _WORD.findall((text or "").casefold())


def is_greeting(text: str | None) -> bool:
    """Only greeting / pleasantry words ("hi there!", "thanks, how are you?")."""
    w = words(text)
    return bool(w) and all(x in GREETING_WORDS for x in w)


def last_request(prompt: Sequence[dict] | None) -> str | None:
    """The user's request the judged response answered: the prompt's last message, if a user's."""
    if not prompt or prompt[-1].get("role") != "user":
        return None
    return prompt[-1].get("content") or ""


def clean_checklist(preferences: Sequence[str] | None, min_statement_words: int = 2) -> list[str]:
    """Preference statements usable as checklist items: stripped, case-insensitively unique,
    with at least ``min_statement_words`` words."""
    out: list[str] = []
    seen: set[str] = set()
    for s in preferences or []:
        s = " ".join((s or "").split())
        key = s.casefold()
        if key in seen or len(words(s)) < min_statement_words:
            continue
        seen.add(key)
        out.append(s)
    return out


def unusable_reason(
    prompt: Sequence[dict] | None,
    checklist: Sequence[str],
    signal: str | None,
    flagged: bool | None,
    opts: HeldoutOptions,
) -> str | None:
    """Why a feedback turn cannot be a held-out item (None: it can), first rule that fails."""
    request = last_request(prompt)
    if request is None or not request.strip():
        return U_NO_REQUEST
    if signal not in opts.signals:
        return U_SIGNAL
    if flagged:
        return U_FLAGGED
    if is_greeting(request):
        return U_GREETING
    if len(words(request)) < opts.min_prompt_words:
        return U_SHORT
    if len(checklist) < max(opts.min_checklist_items, 1):
        return U_NO_CHECKLIST
    if sum(len(m.get("content") or "") for m in prompt or []) > opts.max_prompt_chars:
        return U_TOO_LONG
    return None


def embed_text(request: str, checklist: Sequence[str], max_request_chars: int = 1_000) -> str:
    """What is embedded: the task first (the model truncates at its token limit, so the task
    is never the part cut), then the user's preferences."""
    task = " ".join((request or "").split())[:max_request_chars]
    return task + "\nPreferences: " + "; ".join(checklist)


def heldout_id(conversation_id: str, message_index: int) -> str:
    return "h" + ids.content_id("heldout", conversation_id, int(message_index))


def item_budget(n_feedback_turns: int, n_usable: int, opts: HeldoutOptions) -> tuple[int, int, int]:
    """(max items, clusters, items per cluster).

    At most ``k * per_cluster`` items, at most ``max_fraction`` of the feedback turns (floor) and
    at most ``max_items``. When the budget is below ``k * per_cluster`` the clusters stay (up to
    the budget: coverage of topics first) and fewer items are taken per cluster.
    """
    cap = opts.k * opts.per_cluster
    cap = min(cap, math.floor(opts.max_fraction * n_feedback_turns + 1e-9))
    if opts.max_items is not None:
        cap = min(cap, opts.max_items)
    cap = max(0, min(cap, n_usable))
    if cap == 0:
        return 0, 0, 0
    k = max(1, min(opts.k, n_usable, cap))
    per = max(1, min(opts.per_cluster, cap // k))
    return cap, k, per


# ---------------------------------------------------------------- 3. k-means


def kmeans(
    x: np.ndarray, k: int, seed: int = 0, max_iter: int = 50, tol: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded k-means++ then Lloyd iterations; returns (centroids k x d, labels n).

    Deterministic for the same rows in the same order and seed. An empty cluster takes the point
    farthest from its centroid.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n == 0 or k <= 0:
        return np.zeros((0, x.shape[1] if x.ndim == 2 else 0)), np.zeros(0, dtype=np.int64)
    k = min(k, n)
    rng = np.random.default_rng(seed)
    sq = (x * x).sum(1)
    centers = np.empty((k, x.shape[1]))
    centers[0] = x[rng.integers(n)]
    d2 = np.maximum(sq - 2 * x @ centers[0] + centers[0] @ centers[0], 0)
    for j in range(1, k):
        total = d2.sum()
        idx = int(rng.choice(n, p=d2 / total)) if total > 0 else int(rng.integers(n))
        centers[j] = x[idx]
        d2 = np.minimum(d2, np.maximum(sq - 2 * x @ centers[j] + centers[j] @ centers[j], 0))
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(max_iter):
        dist = sq[:, None] - 2 * x @ centers.T + (centers * centers).sum(1)[None, :]
        labels = dist.argmin(1)
        new = np.zeros_like(centers)
        np.add.at(new, labels, x)
        counts = np.bincount(labels, minlength=k)
        best = dist[np.arange(n), labels]
        for j in np.flatnonzero(counts == 0):
            far = int(best.argmax())
            new[j] = x[far]
            counts[j] = 1
            best[far] = -1
        new /= counts[:, None]
        shift = float(((new - centers) ** 2).sum())
        centers = new
        if shift <= tol:
            break
    dist = sq[:, None] - 2 * x @ centers.T + (centers * centers).sum(1)[None, :]
    return centers, dist.argmin(1)


# ---------------------------------------------------------------- 4. selection


@dataclass
class Selection:
    chosen: list[int] = field(default_factory=list)  # item indices, in selection order
    cluster: dict[int, int] = field(default_factory=dict)  # item index -> k-means cluster
    # item index -> cosine distance to its centroid
    distance: dict[int, float] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> items examined and dropped
    clusters: int = 0
    per_cluster: int = 0
    budget: int = 0


def select(
    vectors: np.ndarray,
    conversation_ids: Sequence[str],
    near_dup_clusters: Sequence[str | None],
    n_feedback_turns: int,
    opts: HeldoutOptions,
) -> Selection:
    """Cluster the usable items' vectors and pick the held-out set (see the module docstring)."""
    v = np.asarray(vectors, dtype=np.float64)
    n = v.shape[0]
    budget, k, per = item_budget(n_feedback_turns, n, opts)
    sel = Selection(clusters=k, per_cluster=per, budget=budget)
    if budget == 0:
        return sel
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    v = v / np.where(norms > 0, norms, 1.0)
    centers, labels = kmeans(v, k, opts.seed, opts.max_iter)
    cn = centers / np.maximum(np.linalg.norm(centers, axis=1, keepdims=True), 1e-12)
    cos_to_center = (v * cn[labels]).sum(1)
    queues = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        order = sorted(members.tolist(), key=lambda i: (-cos_to_center[i], i))
        queues.append(order)
    taken = [0] * k
    pos = [0] * k
    seen_conv: set[str] = set()
    seen_cluster: set[str] = set()
    chosen_vecs: list[np.ndarray] = []
    active = True
    while active and len(sel.chosen) < budget:
        active = False
        for c in range(k):
            if len(sel.chosen) >= budget:
                break
            while taken[c] < per and pos[c] < len(queues[c]):
                i = queues[c][pos[c]]
                pos[c] += 1
                reason = None
                ndc = near_dup_clusters[i] or conversation_ids[i]
                if conversation_ids[i] in seen_conv:
                    reason = D_SAME_CONVERSATION
                elif ndc in seen_cluster:
                    reason = D_SAME_NEAR_DUP
                elif (
                    chosen_vecs
                    and float(np.max(np.stack(chosen_vecs) @ v[i])) >= opts.near_dup_threshold
                ):
                    reason = D_NEAR_DUPLICATE
                if reason is not None:
                    sel.dropped[reason] = sel.dropped.get(reason, 0) + 1
                    continue
                sel.chosen.append(i)
                sel.cluster[i] = c
                sel.distance[i] = float(1.0 - cos_to_center[i])
                seen_conv.add(conversation_ids[i])
                seen_cluster.add(ndc)
                chosen_vecs.append(v[i])
                taken[c] += 1
                active = True
                break  # one per cluster per round
    return sel
