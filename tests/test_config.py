"""Each kind of configuration mistake fails fast with a one-line message naming the problem."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from wfcore.config import Config, ConfigError, config_reference, load_config

PROFILES = ["default", "vllm", "openai", "object-storage"]


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_every_shipped_profile_validates(profile):
    assert isinstance(load_config(profile), Config)


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown config key 'detect.engin'"):
        load_config("default", ["detect.engin=vllm"])


def test_wrong_type_is_named_with_the_value():
    with pytest.raises(ConfigError, match=r"'prepare.min_user_turns'.*'many'"):
        load_config("default", ["prepare.min_user_turns=many"])


def test_wrong_choice_lists_what_is_allowed():
    with pytest.raises(ConfigError, match=r"'detect.engine'.*'lexical', 'vllm' or 'openai'"):
        load_config("default", ["detect.engine=gpt"])


def test_out_of_range_value_is_rejected():
    with pytest.raises(ConfigError, match=r"prepare.near_dedup.threshold"):
        load_config("default", ["prepare.near_dedup.threshold=1.5"])


def test_set_overrides_file_and_parses_yaml_values(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("run: a\nprepare:\n  languages: [English]\n")
    cfg = load_config(str(f), ["run=b", "prepare.near_dedup.num_perm=64", "prepare.languages=[English, French]"])
    assert cfg.run == "b"
    assert cfg.prepare.near_dedup.num_perm == 64
    assert cfg.prepare.languages == ["English", "French"]


def test_missing_file_and_bad_yaml_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(bad))


def test_reference_documents_every_leaf_key():
    ref = config_reference()
    for key in ("run", "input", "detect.engine", "prepare.near_dedup.threshold", "vllm.model",
                "openai.api_key_env", "assemble.split.test_fraction", "report.gpu_hour_price"):
        assert f"| `{key}` |" in ref


def test_readme_config_reference_is_generated_from_the_schema():
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md"), encoding="utf-8").read()
    assert config_reference() in readme, "README is stale: run `python -m jobs.readme` to regenerate"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "detect.engin=x"], "unknown config key 'detect.engin'"),
        (["--set", "prepare.min_user_turns=x"], "'prepare.min_user_turns'"),
        (["--set", "detect.engine=vllm", "--set", "vllm.model=/no/such/model"], "model path does not exist"),
        (["--set", "detect.engine=vllm"], "'vllm.model' is required"),
        (["--set", "detect.engine=openai"], "'openai.base_url' is required"),
        (["--input", "/no/such/corpus/*.jsonl"], "has no files"),
    ],
)
def test_cli_config_mistakes_exit_2_with_one_line_before_ray_or_spark(tmp_path, args, message):
    res = cli("run", "--run", str(tmp_path / "run"), *args)
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.stderr
    assert not (tmp_path / "run").exists(), "nothing may be written before the config is valid"


def test_bare_yaml_off_means_prefilter_off(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("detect:\n  prefilter: off\n")
    assert load_config(str(f)).detect.prefilter == "off"
    assert load_config("default", ["detect.prefilter=off"]).detect.prefilter == "off"


def test_overriding_one_sampling_key_keeps_the_stage_defaults():
    cfg = load_config("default", ["respond.sampling.max_tokens=24"])
    assert cfg.respond.sampling.max_tokens == 24
    assert cfg.respond.sampling.temperature == 0.7
    assert load_config("default", ["detect.sampling.seed=3"]).detect.sampling.max_tokens == 128


# ---------------------------------------------------------------- engines per role

ROLES = [
    "engines={detector: {kind: vllm, model: org/small, batch_size: 8}, "
    "writer: {kind: openai, base_url: 'http://127.0.0.1:8000/v1', model: big}, "
    "judge: {kind: vllm, model: org/judge, max_model_len: 8192}}",
    "detect.engine=detector",
    "preferences.engine=detector",
    "respond.engine=writer",
]


def test_named_engines_parse_and_stages_refer_to_them_by_name():
    from wfcore.engines import engine_spec

    cfg = load_config("default", ROLES)
    assert cfg.model_engines() == {"detector", "writer"}
    det = engine_spec(cfg, "detector", check=False)
    assert (det.name, det.kind, det.model_id, det.batch_size) == ("detector", "vllm", "org/small", 8)
    writer = engine_spec(cfg, "writer")
    assert (writer.kind, writer.model_id, writer.shards_per_plan) == ("openai", "big", 8)
    assert engine_spec(cfg, "judge", check=False).fingerprint_parts()["max_model_len"] == 8192


def test_single_engine_configs_map_to_an_implicit_engine_named_after_the_section():
    from wfcore.engines import engine_spec

    cfg = load_config("vllm")
    spec = engine_spec(cfg, "vllm")
    assert (spec.kind, spec.model_id, spec.batch_size) == ("vllm", cfg.vllm.model, cfg.vllm.batch_size)
    spec = engine_spec(load_config("openai"), "openai")
    assert (spec.kind, spec.model_id) == ("openai", "served-model-name")


def test_unknown_engine_name_fails_fast_naming_the_key_and_the_choices():
    with pytest.raises(ConfigError, match=r"config key 'respond.engine'.*'detector'.*got 'writr'"):
        load_config("default", [*ROLES, "respond.engine=writr"])


def test_named_engine_mistakes_name_their_key():
    with pytest.raises(ConfigError, match=r"config key 'engines.j.model': Field required"):
        load_config("default", ["engines={j: {kind: vllm}}"])
    with pytest.raises(ConfigError, match=r"unknown config key 'engines.j.modle'"):
        load_config("default", ["engines={j: {kind: vllm, model: m, modle: x}}"])
    with pytest.raises(ConfigError, match=r"config key 'engines.j'.*'vllm', 'openai'"):
        load_config("default", ["engines={j: {kind: tgi, model: m}}"])
    with pytest.raises(ConfigError, match=r"'lexical' cannot name an engine"):
        load_config("default", ["engines={lexical: {kind: vllm, model: m}}"])


def test_stage_fingerprint_includes_its_engine_settings_but_not_throughput_knobs():
    from jobs.pipeline import stage_parts

    base = load_config("default", ROLES)
    parts = stage_parts("detect", base)
    assert parts["engine"]["model"] == "org/small"
    changed = load_config("default", [*ROLES, "engines.detector.max_model_len=1024"])
    assert stage_parts("detect", changed) != parts
    dtype = load_config("default", [*ROLES, "engines.detector.engine_kwargs={dtype: float32}"])
    assert stage_parts("detect", dtype) != parts
    faster = load_config("default", [*ROLES, "engines.detector.batch_size=64", "engines.detector.concurrency=4",
                                     "engines.detector.engine_kwargs={enforce_eager: true}"])
    assert stage_parts("detect", faster) == parts
    # renaming an engine does not change what it answers
    renamed = load_config("default", [r.replace("detector", "small") for r in ROLES])
    assert stage_parts("detect", renamed) == parts
    # the legacy section gives the same parts as the same engine under a name
    legacy = load_config("default", ["detect.engine=vllm", "vllm.model=org/small"])
    assert stage_parts("detect", legacy)["engine"] == parts["engine"]


def test_every_engine_kind_has_an_adapter_with_the_whole_interface():
    from wfcore.config import ENGINE_KINDS
    from wfcore.engines import ADAPTERS, EngineAdapter

    assert set(ADAPTERS) == set(ENGINE_KINDS)
    for kind, cls in ADAPTERS.items():
        assert issubclass(cls, EngineAdapter) and cls.kind == kind
        for hook in ("fingerprint_parts", "processor_config", "preprocess", "postprocess"):
            assert getattr(cls, hook) is not getattr(EngineAdapter, hook), (kind, hook)


def test_judge_of_its_own_model_warns_about_self_preference(caplog):
    from wfcore.engines import engine_for, warn_self_preference

    cfg = load_config("default", ROLES)
    judge = engine_for(cfg, "judge")
    with caplog.at_level("WARNING", logger="wfcore.engines"):
        assert warn_self_preference(judge, [engine_for(cfg, "detector"), "big"]) == []
    assert not caplog.records
    with caplog.at_level("WARNING", logger="wfcore.engines"):
        assert warn_self_preference(judge, ["org/judge", engine_for(cfg, "writer")]) == ["org/judge"]
    assert "self-preference" in caplog.text


def test_cli_names_the_missing_key_of_a_named_engine(tmp_path):
    res = cli("check-config", "--run", str(tmp_path / "run"), "--set",
              "engines={w: {kind: vllm, model: /no/such/model}}", "--set", "respond.engine=w")
    assert res.returncode == 2, res.stderr
    assert "config key 'engines.w.model': model path does not exist" in res.stderr, res.stderr


def test_one_call_detect_needs_a_model_detector_and_makes_room_for_the_statements():
    from wfcore.config import WITH_PREFERENCES_MAX_TOKENS

    with pytest.raises(ConfigError, match=r"'detect.with_preferences'.*model detect engine"):
        load_config("default", ["detect.with_preferences=true"])
    on = load_config("default", [*ROLES, "detect.with_preferences=true"])
    assert on.detect.sampling.max_tokens == WITH_PREFERENCES_MAX_TOKENS
    assert load_config("default", [*ROLES, "detect.with_preferences=true", "detect.sampling.seed=3"]).detect.sampling.max_tokens == WITH_PREFERENCES_MAX_TOKENS
    explicit = load_config("default", [*ROLES, "detect.sampling.max_tokens=64", "detect.with_preferences=true"])
    assert explicit.detect.sampling.max_tokens == 64, "an explicit limit wins"
    assert load_config("default", ROLES).detect.sampling.max_tokens == 128


def test_one_call_detect_changes_both_stages_fingerprints_and_off_keeps_the_old_ones():
    from jobs.pipeline import fingerprints, stage_parts

    off = load_config("default", ROLES)
    on = load_config("default", [*ROLES, "detect.with_preferences=true", "detect.sampling.max_tokens=128"])
    for stage in ("detect", "preferences"):
        assert stage_parts(stage, on) != stage_parts(stage, off), stage
    assert "with_preferences" not in stage_parts("detect", off)["detect"], "runs committed before the key resume"
    assert "from_detect" not in stage_parts("preferences", off)
    assert stage_parts("preferences", on)["from_detect"] == stage_parts("detect", on)["prompt_version"]
    assert "+detect_preferences.v1-" in stage_parts("detect", on)["prompt_version"]
    assert fingerprints(off)["prepare"] == fingerprints(on)["prepare"]
