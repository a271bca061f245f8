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
