from __future__ import annotations

import pytest

from compliance.errors import ConfigError
from compliance.settings import Settings


def test_defaults_live_under_home(tmp_path):
    s = Settings.from_env({"COMPLIANCE_HOME": str(tmp_path / "h")})
    assert s.database_url == f"sqlite:///{tmp_path / 'h' / 'compliance.db'}"
    assert s.index_dir == tmp_path / "h" / "index"
    assert s.policy_path.name == "default.yaml" and s.policy_path.exists()
    assert s.max_duration_s == 1800.0 and s.max_file_bytes == 1 << 30


def test_overrides(tmp_path):
    s = Settings.from_env(
        {
            "COMPLIANCE_HOME": str(tmp_path),
            "COMPLIANCE_DATABASE_URL": "postgresql+psycopg://u@h/db",
            "COMPLIANCE_MAX_DURATION_S": "600",
            "COMPLIANCE_MAX_FILE_BYTES": "1000",
        }
    )
    assert s.database_url.startswith("postgresql") and s.max_duration_s == 600.0
    assert s.max_file_bytes == 1000


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("COMPLIANCE_MAX_DURATION_S", "ten"),
        ("COMPLIANCE_MAX_DURATION_S", "-1"),
        ("COMPLIANCE_MAX_FILE_BYTES", "1.5"),
        ("COMPLIANCE_DATABASE_URL", "mysql://x"),
    ],
)
def test_bad_values_name_the_variable(var, value):
    with pytest.raises(ConfigError, match=var):
        Settings.from_env({var: value})
