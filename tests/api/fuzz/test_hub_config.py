"""Property tests of hub.toml loading (api/config_loader.py over api/settings.py): any file is
either loaded or refused with ConfigError whose every problem names a key of the file; valid
values come back as written."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from bounceback.api.config_loader import ConfigError, load_settings
from bounceback.api.settings import HubSettings

EXAMPLES = settings(max_examples=200, deadline=None, derandomize=True)
FIELDS = sorted(HubSettings.model_fields)
# A key hub.toml must not carry: a test must not point the hub at a real store or data dir.
UNSAFE = {"database_url", "bounceback_data_dir"}

toml_scalars = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=30)
    | st.datetimes()
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=10,
)
keys = st.sampled_from([name for name in FIELDS if name not in UNSAFE]) | st.text(max_size=12)


def load(path: Path, text: bytes) -> HubSettings | ConfigError:
    path.write_bytes(text)
    try:
        return load_settings(config_file=path)
    except ConfigError as exc:
        return exc


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return tmp_path / "hub.toml"


def test_any_document_loads_or_every_problem_names_one_of_its_keys(config_path: Path) -> None:
    @EXAMPLES
    @given(document=st.dictionaries(keys, toml_values, max_size=4))
    def check(document: dict[str, Any]) -> None:
        document = {key: value for key, value in document.items() if key not in UNSAFE}
        result = load(config_path, tomli_w.dumps(document).encode())
        if isinstance(result, HubSettings):
            return
        assert result.problems
        for problem in result.problems:
            assert "key '" in problem, problem
            assert any(f"key '{key}" in problem for key in document), problem

    check()


def test_any_bytes_load_or_are_refused_as_config_error(config_path: Path) -> None:
    @EXAMPLES
    @given(text=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
    def check(text: bytes) -> None:
        result = load(config_path, text)
        if isinstance(result, ConfigError):
            assert all(str(config_path) in problem for problem in result.problems)

    check()


valid = st.fixed_dictionaries(
    {},
    optional={
        "bounceback_port": st.integers(1, 65535),
        "bounceback_log_level": st.sampled_from(["DEBUG", "INFO", "WARNING", "ERROR"]),
        "bounceback_log_format": st.sampled_from(["text", "json"]),
        "bounceback_max_body_bytes": st.integers(1024, 2**40),
        "max_concurrent_recoveries": st.integers(1, 1000),
        "global_cooldown_minutes": st.floats(0, 1e6),
        "circuit_breaker_failure_threshold": st.integers(1, 10**6),
        "circuit_breaker_recovery_timeout": st.integers(0, 10**9),
        "degradation_enabled": st.booleans(),
        "degradation_check_interval": st.floats(0.001, 1e6),
        "l1_timeout_minutes": st.floats(0.001, 1e6),
        "memory_threshold": st.floats(0, 100),
        "cpu_threshold": st.floats(0, 100),
        "disk_threshold": st.floats(0, 100),
        "auto_rollback_enabled": st.booleans(),
        "slack_api_url": st.from_regex(r"https?://[a-z]{1,10}\.example/", fullmatch=True),
    },
)


def test_valid_values_come_back_as_written(tmp_path: Path) -> None:
    @EXAMPLES
    @given(document=valid)
    def check(document: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory(dir=tmp_path) as data:
            written = {**document, "bounceback_data_dir": data}
            loaded = load(tmp_path / "hub.toml", tomli_w.dumps(written).encode())
            assert isinstance(loaded, HubSettings), loaded
            for key, value in document.items():
                assert getattr(loaded, key) == value, key

    check()
