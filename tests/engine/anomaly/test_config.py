"""The anomaly config contract: defaults from the issue, every key parsed, errors naming the key and the fix."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from palaryn_proxy.anomaly import Action, AnomalyConfig, AnomalyType
from palaryn_proxy.errors import ConfigError


def test_defaults_follow_the_issue() -> None:
    for cfg in (AnomalyConfig.from_mapping(None), AnomalyConfig.from_mapping({}), AnomalyConfig()):
        assert cfg.enabled is True
        assert cfg.window_seconds == 3600
        assert cfg.min_samples == 10
        assert cfg.z_score_threshold == 3.0
        assert cfg.repeat_threshold == 10
        assert cfg.repeat_window_seconds == 60.0
        assert cfg.entities == frozenset({"actor", "tool", "workspace"})
        assert cfg.working_hours is None
        assert {cfg.action(t) for t in AnomalyType} == {Action.LOG}
        assert len(cfg.actions) == len(AnomalyType) == 10


def test_full_yaml_section_parses() -> None:
    text = """
anomaly:
  enabled: true
  window_seconds: 7200
  bucket_seconds: 30
  min_samples: 20
  z_score_threshold: 4.5
  repeat_threshold: 5
  repeat_window_seconds: 30
  entities: [actor, tool]
  max_entities: 500
  max_alerts: 50
  min_payload_bytes: 4096
  working_hours: {timezone: Europe/Warsaw, start: "08:30", end: "17:00", days: [mon, Tuesday, wed]}
  actions:
    request_rate_spike: block
    repeated_request: flag
    new_tool_usage: off
"""
    cfg = AnomalyConfig.from_mapping(yaml.safe_load(text)["anomaly"])
    assert (cfg.window_seconds, cfg.bucket_seconds, cfg.min_samples) == (7200, 30, 20)
    assert (cfg.z_score_threshold, cfg.repeat_threshold, cfg.repeat_window_seconds) == (4.5, 5, 30.0)
    assert cfg.entities == frozenset({"actor", "tool"})
    assert (cfg.max_entities, cfg.max_alerts, cfg.min_payload_bytes) == (500, 50, 4096)
    hours = cfg.working_hours
    assert hours is not None and str(hours.timezone) == "Europe/Warsaw"
    assert (hours.start_minute, hours.end_minute, hours.days) == (510, 1020, frozenset({0, 1, 2}))
    assert cfg.action(AnomalyType.REQUEST_RATE_SPIKE) is Action.BLOCK
    assert cfg.action(AnomalyType.REPEATED_REQUEST) is Action.FLAG
    assert cfg.action(AnomalyType.NEW_TOOL_USAGE) is Action.OFF  # YAML read the bare `off` as false
    assert cfg.action(AnomalyType.COST_SPIKE) is Action.LOG


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"enabled": "yes"}, "anomaly.enabled"),
        ({"window_seconds": 0}, "anomaly.window_seconds"),
        ({"window_seconds": "1h"}, "anomaly.window_seconds"),
        ({"bucket_seconds": True}, "anomaly.bucket_seconds"),
        ({"min_samples": -1}, "anomaly.min_samples"),
        ({"z_score_threshold": 0}, "anomaly.z_score_threshold"),
        ({"z_score_threshold": float("nan")}, "anomaly.z_score_threshold"),
        ({"repeat_threshold": 1}, "anomaly.repeat_threshold"),
        ({"repeat_window_seconds": "60s"}, "anomaly.repeat_window_seconds"),
        ({"entities": "actor"}, "anomaly.entities"),
        ({"entities": ["actor", "host"]}, "anomaly.entities"),
        ({"max_entities": 0}, "anomaly.max_entities"),
        ({"max_alerts": 2.5}, "anomaly.max_alerts"),
        ({"min_payload_bytes": -5}, "anomaly.min_payload_bytes"),
        ({"actions": ["block"]}, "anomaly.actions"),
        ({"actions": {"rate_spike": "block"}}, "anomaly.actions.rate_spike"),
        ({"actions": {"cost_spike": "deny"}}, "anomaly.actions.cost_spike"),
        ({"working_hours": "9-17"}, "anomaly.working_hours"),
        ({"working_hours": {"tz": "UTC"}}, "anomaly.working_hours.tz"),
        ({"working_hours": {"start": "9am"}}, "anomaly.working_hours.start"),
        ({"working_hours": {"end": "24:00"}}, "anomaly.working_hours.end"),
        ({"working_hours": {"start": "10:00", "end": "10:00"}}, "anomaly.working_hours.start"),
        ({"working_hours": {"timezone": "Mars/Olympus"}}, "anomaly.working_hours.timezone"),
        ({"working_hours": {"days": ["mon", "funday"]}}, "anomaly.working_hours.days"),
        ({"working_hours": {"days": []}}, "anomaly.working_hours.days"),
        ({"windows_seconds": 60}, "anomaly.windows_seconds"),
        ({"window_seconds": 300}, "anomaly.window_seconds"),  # 5 buckets cannot reach min_samples 10
    ],
)
def test_errors_name_the_key_and_the_fix(section: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        AnomalyConfig.from_mapping(section)
    assert key in str(err.value)
    assert "fix:" in str(err.value)


def test_section_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError, match="anomaly must be a mapping"):
        AnomalyConfig.from_mapping(["enabled"])  # type: ignore[arg-type]


def test_unquoted_yaml_time_gets_a_quoting_hint() -> None:
    section = yaml.safe_load("working_hours: {start: 09:00, end: 18:00}")
    assert section["working_hours"]["end"] == 1080  # what YAML 1.1 makes of it
    with pytest.raises(ConfigError, match=r'working_hours.end must be a quoted "HH:MM".*1080'):
        AnomalyConfig.from_mapping(section)


def test_short_window_is_fine_when_buckets_shrink_with_it() -> None:
    cfg = AnomalyConfig.from_mapping({"window_seconds": 60, "bucket_seconds": 1, "min_samples": 5})
    assert (cfg.window_seconds, cfg.bucket_seconds) == (60, 1)
