"""The Grafana dashboards query only metrics the proxy exports, and the compose file provisions them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics_core import Metric

from palaryn_proxy.serve.metrics import Metrics

DEPLOY = Path(__file__).parents[3] / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana").glob("*.json"))
METRIC = re.compile(r"\b(palaryn_[a-z0-9_]+)")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported() -> set[str]:
    """Every series name a scrape of the proxy can hold."""
    names: set[str] = set()
    metrics = Metrics(actor_labels=True)
    for family in metrics.registry.collect():
        assert isinstance(family, Metric)
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names


def queries(path: Path) -> list[str]:
    dashboard = json.loads(path.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_the_areas_are_covered():
    names = {p.stem for p in DASHBOARDS}
    assert names == {"palaryn-llm", "palaryn-security", "palaryn-health"}
    everything = " ".join(q for p in DASHBOARDS for q in queries(p))
    for metric in (
        "palaryn_llm_cost_usd_total",  # spend
        "palaryn_llm_tokens_total",  # tokens
        "palaryn_llm_duration_seconds_bucket",  # latency by provider and model
        "palaryn_llm_time_to_first_token_by_model_seconds_bucket",  # TTFT by provider and model
        "palaryn_requests_total",  # decisions
        "palaryn_dlp_findings_total",
        "palaryn_anomalies_total",
        "palaryn_budget_remaining_usd",
        "palaryn_upstream_errors_total",  # health
    ):
        assert metric in everything, metric


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_names_an_exported_metric(path):
    known = exported()
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] and len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    found = queries(path)
    assert found
    for expr in found:
        names = METRIC.findall(expr)
        assert names, f"{path.name}: {expr!r} names no palaryn metric"
        unknown = [n for n in names if n not in known]
        assert not unknown, f"{path.name}: {expr!r} names {unknown}, which the proxy does not export"
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "palaryn-prometheus"


def test_compose_provisions_prometheus_and_grafana():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    grafana = compose["services"]["grafana"]
    mounts = {m.split(":")[0]: m.split(":")[1] for m in grafana["volumes"]}
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    dashboards_dir = mounts["./grafana"]
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/palaryn.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == dashboards_dir
    source = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    assert source["datasources"][0]["uid"] == "palaryn-prometheus"
    prometheus = compose["services"]["prometheus"]
    assert any(v.startswith("./prometheus.yaml:") for v in prometheus["volumes"])
    scrape = yaml.safe_load((DEPLOY / "prometheus.yaml").read_text())
    target = scrape["scrape_configs"][0]["static_configs"][0]["targets"][0]
    assert target == "palaryn:9464" and "9464" in " ".join(compose["services"]["palaryn"]["command"])
