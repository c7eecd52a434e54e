"""Settings: defaults, environment overrides, and errors that name the variable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from compliance.errors import ConfigError
from compliance.settings import DEFAULT_POLICY, Settings


def test_defaults_live_under_home(tmp_path):
    s = Settings.from_env({"COMPLIANCE_HOME": str(tmp_path / "h")})
    assert s.home == tmp_path / "h"
    assert s.database_url == f"sqlite:///{tmp_path / 'h' / 'compliance.db'}"
    assert s.index_dir == tmp_path / "h" / "index"
    assert s.policy_path == DEFAULT_POLICY and s.policy_path.is_file()
    assert s.policy_path == Path(__file__).resolve().parents[1] / "policies" / "default.yaml"
    assert s.max_duration_s == 1800.0 and s.max_file_bytes == 1 << 30 and s.workers == 1


def test_default_home_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env({})
    assert s.home == tmp_path / "compliance-data" and s.home.is_absolute()
    assert not s.home.exists()  # reading settings never touches the disk


def test_reads_os_environ_when_no_mapping_is_given(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_HOME", str(tmp_path))
    monkeypatch.setenv("COMPLIANCE_WORKERS", "3")
    s = Settings.from_env()
    assert s.home == tmp_path and s.workers == 3


def test_overrides(tmp_path):
    policy = tmp_path / "p.yaml"
    s = Settings.from_env(
        {
            "COMPLIANCE_HOME": str(tmp_path),
            "COMPLIANCE_DATABASE_URL": "postgresql+psycopg://u@h/db",
            "COMPLIANCE_INDEX_DIR": str(tmp_path / "idx"),
            "COMPLIANCE_POLICY": str(policy),
            "COMPLIANCE_MAX_DURATION_S": "600.5",
            "COMPLIANCE_MAX_FILE_BYTES": "1000",
            "COMPLIANCE_WORKERS": " 4 ",
        }
    )
    assert s.database_url == "postgresql+psycopg://u@h/db"
    assert s.index_dir == tmp_path / "idx" and s.policy_path == policy
    assert s.max_duration_s == 600.5 and s.max_file_bytes == 1000 and s.workers == 4


def test_blank_values_mean_default(tmp_path):
    s = Settings.from_env({"COMPLIANCE_HOME": str(tmp_path), "COMPLIANCE_WORKERS": ""})
    assert s.workers == 1


@pytest.mark.parametrize(
    "url", ["sqlite:///x.db", "sqlite://", "postgresql://u@h/d", "postgresql+psycopg://u@h/d"]
)
def test_supported_database_urls(url):
    assert Settings.from_env({"COMPLIANCE_DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("COMPLIANCE_MAX_DURATION_S", "ten"),
        ("COMPLIANCE_MAX_DURATION_S", "-1"),
        ("COMPLIANCE_MAX_DURATION_S", "0"),
        ("COMPLIANCE_MAX_DURATION_S", "nan"),
        ("COMPLIANCE_MAX_DURATION_S", "inf"),
        ("COMPLIANCE_MAX_FILE_BYTES", "1.5"),
        ("COMPLIANCE_MAX_FILE_BYTES", "-5"),
        ("COMPLIANCE_WORKERS", "many"),
        ("COMPLIANCE_WORKERS", "0"),
        ("COMPLIANCE_WORKERS", "-2"),
        ("COMPLIANCE_DATABASE_URL", "mysql://x"),
        ("COMPLIANCE_DATABASE_URL", "not a url"),
    ],
)
def test_bad_values_name_the_variable(var, value):
    with pytest.raises(ConfigError, match=var) as err:
        Settings.from_env({var: value})
    assert err.value.code == "config_invalid"


def test_settings_are_frozen(tmp_path):
    s = Settings.from_env({"COMPLIANCE_HOME": str(tmp_path)})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.workers = 2  # type: ignore[misc]


def test_ensure_dirs_creates_home_and_index(tmp_path):
    s = Settings.from_env(
        {"COMPLIANCE_HOME": str(tmp_path / "a" / "h"), "COMPLIANCE_INDEX_DIR": str(tmp_path / "i")}
    )
    s.ensure_dirs()
    s.ensure_dirs()  # idempotent
    assert s.home.is_dir() and s.index_dir.is_dir()


def test_ensure_dirs_fails_with_a_config_error(tmp_path):
    (tmp_path / "file").write_text("x")
    s = Settings.from_env({"COMPLIANCE_HOME": str(tmp_path / "file" / "h")})
    with pytest.raises(ConfigError, match="cannot create state folder"):
        s.ensure_dirs()
