"""Settings precedence: arguments > SATCHEL_* environment > config file > defaults; nothing at import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from satchel.config import DEFAULT_CACHE_LIMIT, resolve_settings
from satchel.errors import ConfigError
from satchel.units import format_size, parse_size


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("SATCHEL_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("SATCHEL_HOME", str(home))
    return home


def test_defaults(clean_env: Path) -> None:
    settings = resolve_settings()
    assert settings.home == clean_env
    assert settings.cache_dir == clean_env / "cache"
    assert settings.cache_limit == DEFAULT_CACHE_LIMIT
    assert settings.default_storage == str(clean_env / "storage")
    assert settings.catalog_url == f"sqlite:///{clean_env / 'catalog.db'}"


def test_precedence(clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.mkdir()
    (clean_env / "config.toml").write_text('cache_limit = "1GiB"\ncache_dir = "/from/file"\nmax_workers = 3\n')
    settings = resolve_settings()
    assert (settings.cache_limit, settings.cache_dir, settings.max_workers) == (1024**3, Path("/from/file"), 3)
    monkeypatch.setenv("SATCHEL_CACHE_LIMIT", "500MB")
    assert resolve_settings().cache_limit == 500 * 1000**2
    assert resolve_settings(cache_limit="2g").cache_limit == 2 * 1024**3
    assert resolve_settings(home=tmp_path / "other").home == tmp_path / "other"


def test_bad_settings_are_explained(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_CACHE_LIMIT", "lots")
    with pytest.raises(ConfigError, match="cache_limit"):
        resolve_settings()
    monkeypatch.delenv("SATCHEL_CACHE_LIMIT")
    clean_env.mkdir()
    (clean_env / "config.toml").write_text("cache_limt = 3\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        resolve_settings()
    (clean_env / "config.toml").write_text("not toml ===")
    with pytest.raises(ConfigError, match=r"config\.toml"):
        resolve_settings()
    with pytest.raises(ConfigError, match="max_workers"):
        resolve_settings(home=clean_env / "x", max_workers=0)


def test_import_reads_and_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "never"
    env = {**os.environ, "SATCHEL_HOME": str(home), "SATCHEL_CACHE_LIMIT": "garbage"}
    subprocess.run([sys.executable, "-c", "import satchel; from satchel import Dataset"], env=env, check=True)
    assert not home.exists()


@pytest.mark.parametrize("text,expected", [("10", 10), ("1k", 1024), ("1KB", 1000), ("1.5GiB", 1610612736),
                                           ("2 mb", 2_000_000)])
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


def test_format_size() -> None:
    assert format_size(512) == "512 B" and format_size(1536) == "1.5 KiB"
