"""Settings grouped by concern keep every variable's name: each ``SELECTOR_*`` variable
of the flat settings is read, into its group, from the environment and from ``.env``."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from selector.config import VARIABLES, load_settings

# the variables the service read before its settings were grouped, every one kept
FLAT = (
    "access_log",
    "admin_token",
    "allow_unauthenticated",
    "allowed_hosts",
    "api_token",
    "archive",
    "archive_dir",
    "auth_exempt",
    "bandit_gamma",
    "bandit_learner",
    "bandit_memory",
    "bandit_min_exploration",
    "bandit_posterior_scale",
    "bandit_prior_weight",
    "bandit_ridge",
    "bandit_ridge_learned",
    "budget_period_s",
    "budget_tenant_usd",
    "budget_tenants",
    "budget_usd",
    "bandit_save_every_s",
    "bandit_state_path",
    "bandit_updates",
    "baseline_heavy_model",
    "baseline_max_turns",
    "baseline_small_model",
    "breaker_cooldown_s",
    "breaker_error_rate",
    "breaker_min_samples",
    "breaker_probe_timeout_s",
    "canary_share",
    "catalog_path",
    "challenger_mode",
    "challenger_policy",
    "challenger_quality_model",
    "cost_weight",
    "database_url",
    "db_check_s",
    "db_path",
    "db_sync",
    "default_completion_tokens",
    "exploration",
    "forwarded_allow_ips",
    "host",
    "intent_model_dir",
    "join_window_s",
    "keepalive_timeout_s",
    "latency_max_samples",
    "latency_memory",
    "latency_prior_sd",
    "latency_prior_weight",
    "latency_weight",
    "latency_window_s",
    "learner_max_failing_s",
    "learner_max_lag_s",
    "log_format",
    "log_level",
    "log_text",
    "log_text_max_chars",
    "max_body_bytes",
    "max_connections",
    "max_fallbacks",
    "mlflow_tracking_uri",
    "model_poll_s",
    "policy",
    "port",
    "prior_path",
    "probe_evidence",
    "probe_max_share",
    "probe_share",
    "prune_every_s",
    "quality_model",
    "registry_timeout_s",
    "replica_id",
    "request_timeout_s",
    "retention_days",
    "reward_deadline_ms",
    "reward_default_outcome",
    "reward_late_penalty",
    "seed",
    "shared_poll_s",
    "shutdown_timeout_s",
    "tokens_per_turn",
    "prompt_cache",
    "prompt_cache_conversations",
    "sticky_draws",
)


def test_every_variable_keeps_its_name() -> None:
    assert sorted(VARIABLES) == sorted(FLAT)
    assert len(set(VARIABLES.values())) == len(VARIABLES)  # one place each


@pytest.mark.parametrize(
    ("variable", "value", "group", "name", "expected"),
    [
        ("SELECTOR_BANDIT_MEMORY", "500", "online", "memory", 500.0),
        ("SELECTOR_LEARNER_MAX_LAG_S", "7", "online", "max_lag_s", 7.0),
        ("SELECTOR_CANARY_SHARE", "0.25", "challenger", "canary_share", 0.25),
        ("SELECTOR_RETENTION_DAYS", "30", "retention", "days", 30.0),
        ("SELECTOR_ACCESS_LOG", "false", "logs", "access_log", False),
        ("SELECTOR_LOG_TEXT_MAX_CHARS", "99", "logs", "text_max_chars", 99),
        ("SELECTOR_LATENCY_WEIGHT", "0.5", "decision", "latency_weight", 0.5),
        ("SELECTOR_LATENCY_WINDOW_S", "60", "latency", "window_s", 60.0),
        ("selector_probe_share", "0.02", "probe", "share", 0.02),  # any case, as before
    ],
)
def test_a_variable_lands_in_its_group(
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    group: str,
    name: str,
    expected: object,
) -> None:
    monkeypatch.setenv(variable, value)
    assert getattr(getattr(load_settings(), group), name) == expected


def test_the_dotenv_file_is_read_below_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SELECTOR_BANDIT_GAMMA=0.25\nSELECTOR_SEED=7\n")
    monkeypatch.setenv("SELECTOR_SEED", "11")
    s = load_settings()
    assert (s.online.gamma, s.decision.seed) == (0.25, 11)


def test_a_bad_value_in_a_group_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELECTOR_LEARNER_MAX_LAG_S", "-1")
    with pytest.raises(ConfigError, match="SELECTOR_LEARNER_MAX_LAG_S: Input should be"):
        load_settings()


def test_replace_validates_and_keeps_what_was_set() -> None:
    s = load_settings(cost_weight=3.0)
    t = s.replace(bandit_gamma=0.5, policy="utility-v0")
    assert (t.online.gamma, t.decision.policy, t.decision.cost_weight) == (0.5, "utility-v0", 3.0)
    assert "cost_weight" in t.decision.model_fields_set  # still set by the operator
    assert "cost_weight" not in load_settings().replace(seed=1).decision.model_fields_set
    with pytest.raises(ConfigError, match="SELECTOR_BANDIT_GAMMA"):
        s.replace(bandit_gamma=float("nan"))
    with pytest.raises(ConfigError, match=r"not a setting \(bandit_gamma\?\)"):
        s.replace(bandit_gama=0.5)
