"""Unit tests for `sis_watcher.config` (`settings` and `load`): YAML in, frozen typed sections out, every problem at once."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from sis_watcher.config.alerting import AlertSettings, EmailSettings, WebhookSettings
from sis_watcher.config.load import load, parse
from sis_watcher.config.settings import (
    CanvasSettings,
    Config,
    GuardSettings,
    ImportOptions,
    IntakeSettings,
    LoggingSettings,
    MetricsSettings,
    OutcomeSettings,
    PollSettings,
    RetentionSettings,
    RetrySettings,
    ValidationSettings,
)
from sis_watcher.core.errors import ConfigError
from sis_watcher.core.urls import is_loopback_host

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "config.example.yaml"

MINIMAL: dict[str, Any] = {
    "canvas": {"base_url": "https://school.instructure.com"},
    "folders": {"drop": "drop", "queue": "queue", "done": "done", "failed": "failed"},
}


def document(**sections: Any) -> dict[str, Any]:
    """Return the minimal valid document with `sections` merged in (a section's keys updated)."""
    raw = copy.deepcopy(MINIMAL)
    for name, values in sections.items():
        if isinstance(values, dict) and isinstance(raw.get(name), dict):
            raw[name].update(values)
        else:
            raw[name] = values
    return raw


def write(tmp_path: Path, raw: object, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, raw: object) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, raw))
    return caught.value.problems


class TestLoad:
    def test_minimal_config_takes_every_default(self, tmp_path):
        """A config with only the Canvas URL and the four folders gets the documented defaults."""
        config = load(write(tmp_path, MINIMAL))

        assert config.canvas.base_url == "https://school.instructure.com"
        assert config.canvas.account_id == "self"
        assert config.canvas.token_file is None
        assert config.canvas.timeout_seconds == 60.0
        assert config.intake == IntakeSettings()
        assert config.import_options == ImportOptions()
        assert config.retry == RetrySettings()
        assert config.poll == PollSettings()
        assert config.validation == ValidationSettings()
        assert config.guard == GuardSettings()
        assert config.outcome == OutcomeSettings()
        assert config.keep_zip is True
        assert config.logging == LoggingSettings()
        assert config.alerts == AlertSettings()
        assert config.metrics == MetricsSettings()
        assert config.retention == RetentionSettings()

    def test_documented_defaults_have_the_documented_values(self):
        """The defaults in the code are the ones the README and config.example.yaml promise."""
        intake = IntakeSettings()

        assert ("*.csv", "*.zip") == intake.include
        assert (".*", "*.tmp", "*.part", "*.partial", "*.filepart", "*.crdownload", "*.swp", "~*") == (
            intake.ignore
        )
        assert (5.0, 30.0, 600.0, None, False, 60.0, 10_000) == (
            intake.settle_seconds,
            intake.quiet_seconds,
            intake.max_wait_seconds,
            intake.trigger_file,
            intake.polling,
            intake.rescan_seconds,
            intake.max_batch_files,
        )
        assert (1.0, 300.0, 3600.0) == (
            RetrySettings().initial_backoff_seconds,
            RetrySettings().max_backoff_seconds,
            RetrySettings().max_elapsed_seconds,
        )
        assert (2.0, 60.0, 7200.0, 86400.0) == (
            PollSettings().interval_seconds,
            PollSettings().max_interval_seconds,
            PollSettings().warn_after_seconds,
            PollSettings().give_up_after_seconds,
        )
        assert ValidationSettings().mode == "strict"
        assert GuardSettings().max_shrink_percent is None
        assert OutcomeSettings().warnings_are_failures is False
        assert ("auto", "info") == (LoggingSettings().format, LoggingSettings().level)
        assert (False, "127.0.0.1", 9464) == (
            MetricsSettings().enabled,
            MetricsSettings().host,
            MetricsSettings().port,
        )
        assert RetentionSettings().done_days is None
        assert (None, None, False, 1800.0) == (
            AlertSettings().webhook,
            AlertSettings().email,
            AlertSettings().on_warnings,
            AlertSettings().retries_stuck_after_seconds,
        )

    def test_every_key_is_read(self, tmp_path):
        """Every key of every section is read into the typed config with its own value."""
        raw = {
            "canvas": {
                "base_url": "https://school.test.instructure.com/",
                "account_id": 7,
                "token_file": "/etc/token",
                "timeout_seconds": 12,
            },
            "folders": {"drop": "/d", "queue": "/q", "done": "/o", "failed": "/f"},
            "intake": {
                "include": ["*.CSV"],
                "ignore": ["*.bak"],
                "settle_seconds": 1,
                "quiet_seconds": 2,
                "max_wait_seconds": 3,
                "trigger_file": "READY",
                "polling": True,
                "rescan_seconds": 4,
                "max_batch_files": 5,
            },
            "import": {
                "batch_mode": True,
                "batch_mode_term_id": 42,
                "batch_mode_enrollment_drop_status": "inactive",
                "skip_deletes": True,
                "override_sis_stickiness": True,
                "add_sis_stickiness": True,
                "clear_sis_stickiness": False,
                "update_sis_id_if_login_claimed": True,
                "change_threshold": 10,
            },
            "retry": {"initial_backoff_seconds": 2, "max_backoff_seconds": 20, "max_elapsed_seconds": 200},
            "poll": {
                "interval_seconds": 3,
                "max_interval_seconds": 30,
                "warn_after_seconds": 300,
                "give_up_after_seconds": 3000,
            },
            "validation": {"mode": "warn"},
            "guard": {"max_shrink_percent": 20},
            "outcome": {"warnings_are_failures": True},
            "keep_zip": False,
            "logging": {"format": "json", "level": "debug"},
            "alerts": {
                "webhook": {"url": "https://hooks.example.com/x", "timeout_seconds": 3},
                "email": {
                    "host": "smtp.example.com",
                    "port": 465,
                    "security": "tls",
                    "username": "watcher",
                    "password_file": "/etc/smtp",
                    "from": "watcher@example.com",
                    "to": ["a@example.com", "b@example.com"],
                    "timeout_seconds": 9,
                },
                "on_warnings": True,
                "retries_stuck_after_seconds": 60,
            },
            "metrics": {"enabled": True, "host": "192.0.2.10", "port": 9100},
            "retention": {"done_days": 30},
        }

        config = load(write(tmp_path, raw))

        assert config.canvas == CanvasSettings(
            base_url="https://school.test.instructure.com",
            account_id="7",
            token_file=Path("/etc/token"),
            timeout_seconds=12,
        )
        assert config.intake == IntakeSettings(
            include=("*.CSV",),
            ignore=("*.bak",),
            settle_seconds=1,
            quiet_seconds=2,
            max_wait_seconds=3,
            trigger_file="READY",
            polling=True,
            rescan_seconds=4,
            max_batch_files=5,
        )
        assert config.import_options.batch_mode_term_id == "42"
        assert config.import_options.batch_mode_enrollment_drop_status == "inactive"
        assert config.import_options.change_threshold == 10
        assert config.retry == RetrySettings(
            initial_backoff_seconds=2, max_backoff_seconds=20, max_elapsed_seconds=200
        )
        assert config.poll == PollSettings(
            interval_seconds=3, max_interval_seconds=30, warn_after_seconds=300, give_up_after_seconds=3000
        )
        assert config.validation.mode == "warn"
        assert config.guard.max_shrink_percent == 20
        assert config.outcome.warnings_are_failures is True
        assert config.keep_zip is False
        assert config.logging == LoggingSettings(format="json", level="debug")
        assert config.alerts.webhook == WebhookSettings(url="https://hooks.example.com/x", timeout_seconds=3)
        email = config.alerts.email
        assert email is not None
        assert (email.host, email.port, email.security, email.username) == (
            "smtp.example.com",
            465,
            "tls",
            "watcher",
        )
        assert email.password_file == Path("/etc/smtp")
        assert email.sender == "watcher@example.com"
        assert email.to == ("a@example.com", "b@example.com")
        assert email.timeout_seconds == 9
        assert config.alerts.on_warnings is True
        assert config.alerts.retries_stuck_after_seconds == 60
        assert config.metrics == MetricsSettings(enabled=True, host="192.0.2.10", port=9100)
        assert config.retention.done_days == 30

    def test_sections_are_frozen(self, tmp_path):
        """A loaded config cannot be changed by accident downstream."""
        config = load(write(tmp_path, MINIMAL))

        with pytest.raises(ValidationError):
            config.intake.settle_seconds = 1  # type: ignore[misc]

    def test_missing_file_is_a_config_error(self, tmp_path):
        """A config path that does not exist is reported as a ConfigError naming the file."""
        path = tmp_path / "absent.yaml"

        with pytest.raises(ConfigError) as caught:
            load(path)

        assert caught.value.source == str(path)
        assert caught.value.problems[0].startswith("cannot read the file")

    def test_file_that_is_not_utf8_is_a_config_error(self, tmp_path):
        """A config file in another encoding is reported, not a traceback."""
        path = tmp_path / "config.yaml"
        path.write_bytes(b"canvas:\n  base_url: \xff\xfe\n")

        with pytest.raises(ConfigError) as caught:
            load(path)

        assert caught.value.problems[0].startswith("cannot read the file")

    def test_invalid_yaml_is_a_config_error(self, tmp_path):
        """Broken YAML syntax is reported as one problem."""
        path = tmp_path / "config.yaml"
        path.write_text("canvas: [unclosed\n", encoding="utf-8")

        with pytest.raises(ConfigError) as caught:
            load(path)

        assert caught.value.problems[0].startswith("not valid YAML")

    @pytest.mark.parametrize("raw", [["a", "list"], "text", 42])
    def test_document_that_is_not_a_mapping_is_refused(self, tmp_path, raw):
        """The top level of the file must be a mapping of sections."""
        assert problems_of(tmp_path, raw) == (
            "the file must be a YAML mapping of sections (canvas:, folders:, ...)",
        )

    def test_empty_file_reports_the_required_sections(self, tmp_path):
        """An empty file is a document with no keys: canvas and folders are missing."""
        path = tmp_path / "config.yaml"
        path.write_text("", encoding="utf-8")

        with pytest.raises(ConfigError) as caught:
            load(path)

        assert set(caught.value.problems) == {
            "canvas: required key is missing",
            "folders: required key is missing",
        }

    def test_config_error_message_names_file_and_every_problem(self, tmp_path):
        """The ConfigError's text carries the file path and each problem."""
        path = write(tmp_path, document(intake={"settle_seconds": "soon", "bogus": 1}))

        with pytest.raises(ConfigError) as caught:
            load(path)

        text = str(caught.value)
        assert text.startswith(f"{path}: ")
        for problem in caught.value.problems:
            assert problem in text


class TestProblems:
    def test_unknown_keys_are_reported_with_their_dotted_path(self, tmp_path):
        """Unknown keys at the top level and inside sections are errors, named by path."""
        raw = document(
            colour="blue",
            intake={"setle_seconds": 5},
            alerts={"webhook": {"url": "https://h.example", "retries": 3}},
        )

        problems = problems_of(tmp_path, raw)

        assert "colour: unknown key" in problems
        assert "intake.setle_seconds: unknown key" in problems
        assert "alerts.webhook.retries: unknown key" in problems

    @pytest.mark.parametrize(
        ("section", "key", "value"),
        [
            ("canvas", "timeout_seconds", "slow"),
            ("canvas", "timeout_seconds", 0),
            ("canvas", "account_id", True),
            ("intake", "settle_seconds", -1),
            ("intake", "max_wait_seconds", 0),
            ("intake", "include", "*.csv,*.zip"),
            ("intake", "polling", "sometimes"),
            ("intake", "max_batch_files", 0),
            ("intake", "max_batch_files", 100_001),
            ("intake", "rescan_seconds", 0),
            ("import", "change_threshold", 0),
            ("import", "change_threshold", 101),
            ("import", "diffing_drop_status", "gone"),
            ("import", "batch_mode_enrollment_drop_status", "deleted_last_completed"),
            ("import", "diffing_user_remove_status", "inactive"),
            ("import", "diff_row_count_threshold", 0),
            ("import", "diffing_data_set_identifier", "x" * 129),
            ("import", "diffing_data_set_identifier", ""),
            ("retry", "max_elapsed_seconds", -5),
            ("poll", "interval_seconds", 0),
            ("validation", "mode", "lenient"),
            ("guard", "max_shrink_percent", 0),
            ("guard", "max_shrink_percent", 101),
            ("outcome", "warnings_are_failures", "maybe"),
            ("logging", "format", "xml"),
            ("logging", "level", "trace"),
            ("metrics", "port", 70000),
            ("retention", "done_days", 0),
        ],
    )
    def test_wrong_type_or_range_is_reported_with_its_path(self, tmp_path, section, key, value):
        """A value of the wrong type or out of range names its dotted key path."""
        problems = problems_of(tmp_path, document(**{section: {key: value}}))

        assert any(problem.startswith(f"{section}.{key}") for problem in problems), problems

    def test_wrong_type_for_a_whole_section_is_reported(self, tmp_path):
        """A section given as a scalar is reported by its name (and its cross-field rules skipped)."""
        problems = problems_of(tmp_path, document(intake=5, keep_zip="perhaps"))

        assert any(problem.startswith("intake:") for problem in problems)
        assert any(problem.startswith("keep_zip:") for problem in problems)

    def test_missing_required_keys_are_reported(self, tmp_path):
        """canvas.base_url and each folder are required."""
        raw = {"canvas": {}, "folders": {"drop": "d"}}

        problems = problems_of(tmp_path, raw)

        assert set(problems) == {
            "canvas.base_url: required key is missing",
            "folders.queue: required key is missing",
            "folders.done: required key is missing",
            "folders.failed: required key is missing",
        }

    def test_every_problem_is_reported_at_once(self, tmp_path):
        """Type errors, unknown keys and cross-field contradictions come out together."""
        raw = document(
            canvas={"base_url": "http://canvas.example.com"},
            intake={"settle_seconds": 700, "bogus": True},
            poll={"interval_seconds": "fast"},
            **{"import": {"batch_mode": True}},
        )

        problems = problems_of(tmp_path, raw)

        assert len(problems) == 5
        assert any(problem.startswith("canvas.base_url: must use https://") for problem in problems)
        assert "intake.bogus: unknown key" in problems
        assert any(problem.startswith("poll.interval_seconds:") for problem in problems)
        assert any(
            problem.startswith("import.batch_mode: needs import.batch_mode_term_id") for problem in problems
        )
        assert "intake.settle_seconds: must not be longer than intake.max_wait_seconds" in problems

    @pytest.mark.parametrize(
        ("options", "expected"),
        [
            ({"batch_mode": True}, "import.batch_mode: needs import.batch_mode_term_id"),
            (
                {"batch_mode": True, "multi_term_batch_mode": False},
                "import.batch_mode: needs import.batch_mode_term_id",
            ),
            ({"multi_term_batch_mode": True}, "import.multi_term_batch_mode: needs import.change_threshold"),
            (
                {"batch_mode": True, "multi_term_batch_mode": True},
                "import.multi_term_batch_mode: needs import.change_threshold",
            ),
            (
                {"batch_mode": True, "batch_mode_term_id": "5", "diffing_data_set_identifier": "set"},
                "import.diffing_data_set_identifier: cannot be combined with batch mode",
            ),
            (
                {"multi_term_batch_mode": True, "change_threshold": 5, "diffing_data_set_identifier": "set"},
                "import.diffing_data_set_identifier: cannot be combined with batch mode",
            ),
            ({"add_sis_stickiness": True}, "import.add_sis_stickiness/clear_sis_stickiness: need"),
            ({"clear_sis_stickiness": True}, "import.add_sis_stickiness/clear_sis_stickiness: need"),
            (
                {"add_sis_stickiness": True, "override_sis_stickiness": False},
                "import.add_sis_stickiness/clear_sis_stickiness: need",
            ),
            ({"diffing_remaster_data_set": True}, "import.diffing_remaster_data_set: needs"),
        ],
    )
    def test_contradicting_import_options_are_refused(self, tmp_path, options, expected):
        """Each combination of Canvas options that Canvas refuses or ignores is a config error."""
        problems = problems_of(tmp_path, document(**{"import": options}))

        assert [problem for problem in problems if problem.startswith(expected)], problems

    @pytest.mark.parametrize(
        "options",
        [
            {"batch_mode": True, "batch_mode_term_id": "sis_term_id:F26"},
            {"batch_mode": True, "batch_mode_term_id": 12},
            {"batch_mode": True, "multi_term_batch_mode": True, "change_threshold": 10},
            {"multi_term_batch_mode": True, "change_threshold": 10},
            {"diffing_data_set_identifier": "nightly", "diffing_remaster_data_set": True},
            {"override_sis_stickiness": True, "add_sis_stickiness": True, "clear_sis_stickiness": True},
            {"batch_mode": False, "diffing_data_set_identifier": "nightly"},
        ],
    )
    def test_consistent_import_options_are_accepted(self, tmp_path, options):
        """Combinations Canvas accepts load without a problem."""
        config = load(write(tmp_path, document(**{"import": options})))

        assert (
            config.import_options.model_dump(exclude_none=True, exclude={"skip_unchanged"}).keys()
            == options.keys()
        )

    @pytest.mark.parametrize(
        ("options", "expected"),
        [
            ({"batch_mode": 1}, "import.batch_mode: needs import.batch_mode_term_id"),
            ({"batch_mode": "true"}, "import.batch_mode: needs import.batch_mode_term_id"),
            ({"multi_term_batch_mode": 1}, "import.multi_term_batch_mode: needs import.change_threshold"),
            ({"add_sis_stickiness": "yes"}, "import.add_sis_stickiness/clear_sis_stickiness: need"),
            ({"batch_mode": 1.0}, "import.batch_mode: needs import.batch_mode_term_id"),
            ({"batch_mode": " On "}, "import.batch_mode: needs import.batch_mode_term_id"),
            ({"diffing_remaster_data_set": "t"}, "import.diffing_remaster_data_set: needs"),
        ],
    )
    def test_contradictions_are_found_whatever_spelling_of_true_is_accepted(
        self, tmp_path, options, expected
    ):
        """A flag pydantic accepts as true (1, "true", "yes") is checked like `true` (it is sent as true)."""
        problems = problems_of(tmp_path, document(**{"import": options}))

        assert [problem for problem in problems if problem.startswith(expected)], problems

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            (document(import_options={"batch_mode": True}), "import_options: unknown key"),
            (
                document(
                    alerts={
                        "email": {
                            "host": "smtp.example.com",
                            "sender": "a@example.com",
                            "to": ["b@example.com"],
                        }
                    }
                ),
                "alerts.email.sender: unknown key",
            ),
        ],
    )
    def test_python_attribute_names_are_not_config_keys(self, tmp_path, raw, expected):
        """Only the documented spellings (`import:`, `from:`) are keys; `import_options:` would bypass the import checks."""
        problems = problems_of(tmp_path, raw)

        assert expected in problems

    @pytest.mark.parametrize(
        "options",
        [
            {"add_sis_stickiness": "yes", "override_sis_stickiness": "yes"},
            {"batch_mode": "false", "diffing_data_set_identifier": "nightly"},
            {"batch_mode": 0},
            {"multi_term_batch_mode": "no"},
        ],
    )
    def test_every_spelling_of_false_and_true_is_read_alike(self, tmp_path, options):
        """Spellings pydantic reads as false are not flags that are on; a true override covers stickiness."""
        config = load(write(tmp_path, document(**{"import": options})))

        assert config.import_options.as_params().get("batch_mode") is None

    def test_folder_of_the_wrong_type_is_reported_once(self, tmp_path):
        """A folder given as a number is a type error, not also a same-folder error."""
        problems = problems_of(tmp_path, document(folders={"drop": 5, "queue": 5}))

        assert not [problem for problem in problems if "same folder" in problem]
        assert [problem for problem in problems if problem.startswith("folders.drop:")]

    @pytest.mark.parametrize(
        ("folders", "expected"),
        [
            ({"done": "queue"}, "folders.done: is the same folder as folders.queue"),
            ({"failed": "./done"}, "folders.failed: is the same folder as folders.done"),
            ({"queue": "sub/../drop"}, "folders.queue: is the same folder as folders.drop"),
        ],
    )
    def test_one_folder_used_twice_is_refused(self, tmp_path, folders, expected):
        """Two roles sharing a folder (after resolving `.` and `..`) is a config error, named once."""
        problems = problems_of(tmp_path, document(folders=folders))

        assert (expected,) == problems

    @pytest.mark.parametrize(
        ("section", "values", "expected"),
        [
            ("intake", {"settle_seconds": 10, "max_wait_seconds": 5}, "intake.settle_seconds"),
            ("poll", {"interval_seconds": 90}, "poll.interval_seconds"),
            ("poll", {"warn_after_seconds": 10, "give_up_after_seconds": 5}, "poll.warn_after_seconds"),
            ("retry", {"initial_backoff_seconds": 400}, "retry.initial_backoff_seconds"),
        ],
    )
    def test_reversed_durations_are_refused(self, tmp_path, section, values, expected):
        """A first wait longer than its cap is a contradiction, checked against defaults too."""
        problems = problems_of(tmp_path, document(**{section: values}))

        assert [problem for problem in problems if problem.startswith(f"{expected}: must not be longer")]

    def test_equal_durations_are_accepted(self, tmp_path):
        """A first wait equal to its cap is not reversed."""
        raw = document(poll={"interval_seconds": 60, "max_interval_seconds": 60})

        assert load(write(tmp_path, raw)).poll.interval_seconds == 60

    @pytest.mark.parametrize("name", ["", "a/b", ".", "..", "/READY"])
    def test_trigger_file_must_be_a_plain_name(self, tmp_path, name):
        """The trigger is a file name in the drop folder, never a path."""
        problems = problems_of(tmp_path, document(intake={"trigger_file": name}))

        assert "intake.trigger_file: must be a plain file name such as READY" in problems

    def test_email_needs_a_recipient_and_a_sender(self, tmp_path):
        """alerts.email without `from` or with an empty `to` is refused."""
        raw = document(alerts={"email": {"host": "smtp.example.com", "to": []}})

        problems = problems_of(tmp_path, raw)

        assert "alerts.email.from: required key is missing" in problems
        assert any(problem.startswith("alerts.email.to:") for problem in problems)


class TestProxy:
    @pytest.mark.parametrize(
        "proxy", ["http://proxy.school.edu:3128", "https://proxy.school.edu", "http://10.0.0.1:8080"]
    )
    def test_proxy_urls_are_accepted(self, tmp_path, proxy):
        """An explicit http(s) proxy URL is kept as given."""
        assert load(write(tmp_path, document(canvas={"proxy": proxy}))).canvas.proxy == proxy

    @pytest.mark.parametrize("proxy", ["proxy.school.edu:3128", "socks5://proxy:1080", "http://", ""])
    def test_other_proxies_are_refused(self, tmp_path, proxy):
        """Anything but an absolute http(s) URL is refused with its path."""
        problems = problems_of(tmp_path, document(canvas={"proxy": proxy}))

        assert "canvas.proxy: must be a URL such as http://proxy.school.edu:3128" in problems

    def test_no_proxy_by_default(self, tmp_path):
        """Without canvas.proxy, Canvas is reached directly."""
        assert load(write(tmp_path, MINIMAL)).canvas.proxy is None


class TestEmail:
    EMAIL: dict[str, Any] = {"host": "smtp.example.com", "from": "a@example.com", "to": ["b@example.com"]}  # noqa: RUF012

    def test_clear_text_login_off_this_machine_is_refused(self, tmp_path):
        """security: none with a username to a remote SMTP host would send the password in clear text."""
        raw = document(alerts={"email": {**self.EMAIL, "security": "none", "username": "watcher"}})

        problems = problems_of(tmp_path, raw)

        assert [
            problem
            for problem in problems
            if problem.startswith("alerts.email: security: none with a username")
        ]

    @pytest.mark.parametrize(
        "values",
        [
            {"security": "none", "username": "watcher", "host": "127.0.0.1"},
            {"security": "none", "username": "watcher", "host": "localhost"},
            {"security": "none"},
            {"security": "starttls", "username": "watcher"},
            {"security": "tls", "username": "watcher"},
        ],
    )
    def test_logins_over_tls_or_to_loopback_are_accepted(self, tmp_path, values):
        """A login is fine over TLS or to this machine, and no login is fine anywhere."""
        config = load(write(tmp_path, document(alerts={"email": {**self.EMAIL, **values}})))

        assert config.alerts.email is not None
        assert config.alerts.email.security == values["security"]

    def test_ca_file_is_resolved_against_the_config_folder(self, tmp_path):
        """alerts.email.ca_file, like every path, is relative to the config file's folder."""
        raw = document(alerts={"email": {**self.EMAIL, "ca_file": "relay-ca.pem"}})

        config = load(write(tmp_path, raw, name="conf/config.yaml"))

        assert config.alerts.email is not None
        assert config.alerts.email.ca_file == tmp_path / "conf" / "relay-ca.pem"


class TestUrls:
    @pytest.mark.parametrize(
        "url",
        [
            "https://school.instructure.com",
            "https://school.instructure.com:8443/canvas",
            "http://127.0.0.1:8080",
            "http://127.0.0.2",
            "http://127.255.255.254:1",
            "http://[::1]:3000",
            "http://[::1]",
            "http://localhost",
            "http://LOCALHOST:9000",
        ],
    )
    def test_https_or_loopback_http_is_accepted(self, tmp_path, url):
        """https:// anywhere and http:// to this machine are accepted."""
        config = load(write(tmp_path, document(canvas={"base_url": url})))

        assert config.canvas.base_url == url

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("http://school.instructure.com", "must use https://"),
            ("http://10.0.0.1", "must use https://"),
            ("http://128.0.0.1", "must use https://"),
            ("http://[::2]", "must use https://"),
            ("http://localhost.example.com", "must use https://"),
            ("ftp://school.instructure.com", "must be an absolute URL"),
            ("school.instructure.com", "must be an absolute URL"),
            ("https://", "must be an absolute URL"),
            ("https://school.instructure.com/?x=1", "must not have a query string or fragment"),
            ("https://school.instructure.com/#top", "must not have a query string or fragment"),
        ],
    )
    def test_other_urls_are_refused(self, tmp_path, url, message):
        """Plain http:// to another host, other schemes, relative URLs, queries and fragments are refused."""
        problems = problems_of(tmp_path, document(canvas={"base_url": url}))

        assert [problem for problem in problems if problem.startswith(f"canvas.base_url: {message}")], (
            problems
        )

    def test_trailing_slash_is_removed(self, tmp_path):
        """The base URL is kept without a trailing slash."""
        config = load(write(tmp_path, document(canvas={"base_url": "https://school.instructure.com///"})))

        assert config.canvas.base_url == "https://school.instructure.com"

    @pytest.mark.parametrize(
        ("url", "accepted"),
        [
            ("https://hooks.example.com/x?token=1", True),
            ("http://127.0.0.1:9000/hook", True),
            ("http://[::1]/hook", True),
            ("http://hooks.example.com/x", False),
            ("hooks.example.com/x", False),
        ],
    )
    def test_webhook_url_is_https_unless_loopback(self, tmp_path, url, accepted):
        """Alert webhooks follow the same https rule as Canvas."""
        raw = document(alerts={"webhook": {"url": url}})

        if accepted:
            webhook = load(write(tmp_path, raw)).alerts.webhook
            assert webhook is not None
            assert webhook.url == url
        else:
            assert [
                problem for problem in problems_of(tmp_path, raw) if problem.startswith("alerts.webhook.url:")
            ]

    @pytest.mark.parametrize(
        ("host", "expected"),
        [
            ("localhost", True),
            ("LocalHost", True),
            ("127.0.0.1", True),
            ("127.1.2.3", True),
            ("::1", True),
            ("[::1]", True),
            ("0.0.0.0", False),  # noqa: S104 - a host name, not a bind
            ("::", False),
            ("example.com", False),
            ("192.168.1.1", False),
        ],
    )
    def test_is_loopback_host(self, host, expected):
        """Only localhost and loopback IP literals count as this machine."""
        assert expected == is_loopback_host(host)


class TestPaths:
    def test_relative_paths_are_resolved_against_the_config_folder(self, tmp_path, monkeypatch):
        """Relative folders, token file, password file and CA file are relative to the config file, not the cwd."""
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        raw = document(
            canvas={"token_file": "secrets/token"},
            folders={"drop": "drop", "queue": "state/queue", "done": "/abs/done", "failed": "../failed"},
            alerts={
                "email": {
                    "host": "smtp.example.com",
                    "from": "a@example.com",
                    "to": ["b@example.com"],
                    "password_file": "smtp-password",
                }
            },
        )
        path = write(tmp_path, raw, name="conf/config.yaml")
        base = tmp_path / "conf"

        config = load(path)

        assert config.folders.drop == base / "drop"
        assert config.folders.queue == base / "state" / "queue"
        assert config.folders.done == Path("/abs/done")
        assert config.folders.failed == base / ".." / "failed"
        assert config.canvas.token_file == base / "secrets" / "token"
        assert config.alerts.email is not None
        assert config.alerts.email.password_file == base / "smtp-password"

    def test_parse_resolves_against_the_given_base(self):
        """parse() takes the base folder explicitly."""
        config = parse(copy.deepcopy(MINIMAL), source="inline", base=Path("/etc/sis-watcher"))

        assert config.folders.drop == Path("/etc/sis-watcher/drop")

    def test_parse_of_none_is_an_empty_document(self):
        """A YAML document that is only a comment means "no keys", not a crash."""
        with pytest.raises(ConfigError) as caught:
            parse(None, source="inline", base=Path("/"))

        assert "canvas: required key is missing" in caught.value.problems


class TestImportOptions:
    def test_nothing_is_sent_by_default(self):
        """With no import options, no Canvas parameter is sent at all."""
        assert ImportOptions().as_params() == {}

    def test_false_flags_are_never_sent(self):
        """A flag set to false is left out (sending multi_term_batch_mode=false would switch it on)."""
        options = ImportOptions(
            batch_mode=False,
            multi_term_batch_mode=False,
            skip_deletes=False,
            override_sis_stickiness=False,
            diffing_remaster_data_set=False,
        )

        assert options.as_params() == {}
        assert "multi_term_batch_mode" not in options.as_params()

    def test_true_flags_and_set_values_are_sent_as_text(self, tmp_path):
        """True flags are sent as "true", numbers and names as their text."""
        raw = document(
            **{
                "import": {
                    "batch_mode": True,
                    "batch_mode_term_id": 123,
                    "multi_term_batch_mode": False,
                    "batch_mode_enrollment_drop_status": "completed",
                    "skip_deletes": True,
                    "update_sis_id_if_login_claimed": False,
                    "change_threshold": 15,
                }
            }
        )

        params = load(write(tmp_path, raw)).import_options.as_params()

        assert params == {
            "batch_mode": "true",
            "batch_mode_term_id": "123",
            "batch_mode_enrollment_drop_status": "completed",
            "skip_deletes": "true",
            "change_threshold": "15",
        }

    def test_diffing_options_are_sent(self):
        """Diffing parameters keep Canvas's names and values."""
        options = ImportOptions(
            diffing_data_set_identifier="account-5-enrollments",
            diffing_drop_status="deleted_last_completed",
            diffing_user_remove_status="suspended",
            diff_row_count_threshold=500,
        )

        assert options.as_params() == {
            "diffing_data_set_identifier": "account-5-enrollments",
            "diffing_drop_status": "deleted_last_completed",
            "diffing_user_remove_status": "suspended",
            "diff_row_count_threshold": "500",
        }


class TestExample:
    def test_example_config_loads(self):
        """config.example.yaml at the repository root is a valid config."""
        config = load(EXAMPLE)

        assert config.canvas.base_url == "https://school.instructure.com"

    def test_example_values_equal_the_code_defaults(self):
        """Every optional value in config.example.yaml is the default of `Config` (no drift)."""
        config = load(EXAMPLE)
        canvas_defaults = CanvasSettings(base_url=config.canvas.base_url)
        defaults = Config(canvas=canvas_defaults, folders=config.folders)

        assert defaults.model_dump() == config.model_dump()

    def test_example_documents_every_key(self):
        """Every key the code knows appears in config.example.yaml, and no other."""
        raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))

        def keys_of(model: type[Any]) -> set[str]:
            return {field.alias or name for name, field in model.model_fields.items()}

        assert set(raw) == keys_of(Config)
        sections = {
            "canvas": CanvasSettings,
            "intake": IntakeSettings,
            "import": ImportOptions,
            "retry": RetrySettings,
            "poll": PollSettings,
            "validation": ValidationSettings,
            "guard": GuardSettings,
            "outcome": OutcomeSettings,
            "logging": LoggingSettings,
            "alerts": AlertSettings,
            "metrics": MetricsSettings,
            "retention": RetentionSettings,
        }
        for name, model in sections.items():
            assert set(raw[name]) == keys_of(model), name

    def test_example_commented_email_block_is_a_valid_email_section(self):
        """The commented-out alerts.email example in config.example.yaml has exactly the known keys."""
        text = EXAMPLE.read_text(encoding="utf-8")
        block = text.split("  # email:\n", 1)[1].split("  email: null", 1)[0]
        lines = [line.removeprefix("  #") for line in block.splitlines() if line.startswith("  #   ")]
        email = yaml.safe_load("\n".join(lines))

        settings = EmailSettings.model_validate(email)

        assert set(email) <= {field.alias or name for name, field in EmailSettings.model_fields.items()}
        assert settings.to == ("lms-admins@school.edu",)
