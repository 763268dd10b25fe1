"""
deploy/prometheus/ and deploy/grafana/ against the daemon's own /metrics (issue 14, item 7).

`promtool check rules` and `promtool test rules` run in tests/check; here every series the alerting
rules and the Grafana dashboard name must be one the daemon exposes, so a renamed metric breaks
the build instead of an alert silently never firing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from sis_watcher.ops.metrics import Metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "sis-watcher.rules.yml"
RULE_TESTS = DEPLOY / "prometheus" / "sis-watcher.rules.test.yml"
DASHBOARD = DEPLOY / "grafana" / "sis-watcher.json"
FROM_PROMETHEUS = {"up"}  # made by Prometheus for every scrape, not by the daemon
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}
SERIES = re.compile(r"\b(?:sis_watcher_\w+|process_\w+|up)\b(?=\s*(?:\{|\[|\)|$|\s|>|<|=|!|\*|-|\+|/))")
SELECTOR = re.compile(r"\b(sis_watcher_\w+)\{([^}]*)\}")
LABEL = re.compile(r'(\w+)\s*=~?\s*"')


def exposed() -> dict[str, set[str]]:
    """Return every sample name the daemon's registry exposes, with the label names it may carry."""
    names: dict[str, set[str]] = {}
    for family in Metrics().registry.collect():
        labels = {label for sample in family.samples for label in sample.labels}
        if family.name == "sis_watcher_batches":  # labelled families with children made at start
            assert labels == {"result"}
        suffixes = SUFFIXES.get(family.type, ("",))
        for suffix in suffixes:
            names[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    names["sis_watcher_retries_total"] = {"step"}  # no child until the first retry: no sample yet
    names["sis_watcher_canvas_requests_total"] = {"status"}
    return names


def expressions_of_rules() -> list[str]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule["expr"] for group in document["groups"] for rule in group["rules"]]


def expressions_of_dashboard() -> list[str]:
    document = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [target["expr"] for panel in document["panels"] for target in panel.get("targets", [])]


def series_in(expressions: list[str]) -> set[str]:
    return {name for expression in expressions for name in SERIES.findall(expression)}


def test_the_dashboard_is_grafana_json_with_panels_for_every_metric_family():
    """The dashboard parses, has a unique uid, a data source variable, and shows every sis_watcher family."""
    document: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [panel["id"] for panel in document["panels"]]
    variables = {variable["name"] for variable in document["templating"]["list"]}
    shown = {re.sub(r"_(total|bucket|created)$", "", name) for name in series_in(expressions_of_dashboard())}
    families = {
        family.name for family in Metrics().registry.collect() if family.name.startswith("sis_watcher_")
    }

    assert document["uid"] == "sis-watcher"
    assert len(ids) == len(set(ids))
    assert {"datasource", "instance"} <= variables
    assert families - shown == set(), "metrics without a panel"


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_series_named_is_exposed_by_the_daemon(source):
    """Every series the rules or the dashboard query exists in the daemon's /metrics exposition."""
    expressions = expressions_of_rules() if source == "rules" else expressions_of_dashboard()
    names = series_in(expressions)

    assert names, f"no series found in the {source}"
    missing = names - exposed().keys() - FROM_PROMETHEUS
    assert missing == set(), f"the {source} name series the daemon does not expose"


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_label_selected_is_a_label_of_its_series(source):
    """A selector such as {result="failed"} only uses labels the series has (and the scrape's own)."""
    expressions = expressions_of_rules() if source == "rules" else expressions_of_dashboard()
    names = exposed()
    for expression in expressions:
        for name, selector in SELECTOR.findall(expression):
            labels = set(LABEL.findall(selector)) - {"instance", "job"}
            assert labels <= names[name], f"{name}{{{selector}}} in the {source}"


def test_the_rule_tests_cover_every_alert():
    """deploy/prometheus/sis-watcher.rules.test.yml tests every alert of the rules at least once firing."""
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    firing = {
        case["alertname"] for test in tests["tests"] for case in test["alert_rule_test"] if case["exp_alerts"]
    }

    assert alerts == firing
    assert tests["rule_files"] == [RULES.name]
