"""Settings, resolved once: arguments > ``SATCHEL_*`` environment > ``$SATCHEL_HOME/config.toml`` > defaults.

Nothing is read at import time; :func:`resolve_settings` reads the environment and the config file
when it is called, and the result is passed down explicitly.

Config file keys (all optional)::

    cache_dir = "/fast/disk/satchel-cache"
    cache_limit = "200GiB"
    default_storage = "/mnt/shared/satchel-store"     # a folder or a URL
    catalog_url = "sqlite:////path/to/catalog.db"
    max_workers = 8
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from satchel.errors import ConfigError
from satchel.units import parse_size

DEFAULT_CACHE_LIMIT = 100 * 1024**3
CONFIG_FILE_NAME = "config.toml"
_KEYS = ("cache_dir", "cache_limit", "default_storage", "catalog_url", "max_workers")


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Paths are absolute."""

    home: Path
    cache_dir: Path
    cache_limit: int
    default_storage: str
    catalog_url: str
    max_workers: int

    @property
    def stat_cache_path(self) -> Path:
        """SQLite file remembering (device, inode, size, mtime) -> content hash."""
        return self.home / "statcache.db"


def _default_workers() -> int:
    return min(32, (os.cpu_count() or 1) * 4)


def _read_config_file(home: Path) -> dict[str, Any]:
    path = home / CONFIG_FILE_NAME
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot parse {path}: {exc}; fix or remove the file") from exc
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {unknown}; known settings are {list(_KEYS)}")
    return data


def _pick(name: str, arguments: dict[str, Any], file_values: dict[str, Any]) -> Any:
    if arguments.get(name) is not None:
        return arguments[name]
    env = os.environ.get(f"SATCHEL_{name.upper()}")
    if env not in (None, ""):
        return env
    return file_values.get(name)


def resolve_settings(**arguments: Any) -> Settings:
    """Resolve settings from ``arguments`` (keys: home and the config file keys), env, file, defaults."""
    unknown = sorted(set(arguments) - {"home", *_KEYS})
    if unknown:
        raise ConfigError(f"unknown setting(s) {unknown}; known settings are {['home', *_KEYS]}")
    home_value = arguments.get("home") or os.environ.get("SATCHEL_HOME") or "~/.satchel"
    home = Path(str(home_value)).expanduser().absolute()
    file_values = _read_config_file(home)
    cache_dir = _pick("cache_dir", arguments, file_values) or home / "cache"
    limit = _pick("cache_limit", arguments, file_values)
    storage = _pick("default_storage", arguments, file_values) or str(home / "storage")
    catalog = _pick("catalog_url", arguments, file_values) or f"sqlite:///{home / 'catalog.db'}"
    workers = _pick("max_workers", arguments, file_values)
    return Settings(
        home=home,
        cache_dir=Path(str(cache_dir)).expanduser().absolute(),
        cache_limit=DEFAULT_CACHE_LIMIT if limit is None else parse_size(limit, setting="cache_limit"),
        default_storage=str(storage),
        catalog_url=str(catalog),
        max_workers=_parse_workers(workers),
    )


def _parse_workers(value: Any) -> int:
    if value is None:
        return _default_workers()
    try:
        workers = int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"max_workers={value!r} is not a whole number") from exc
    if workers < 1:
        raise ConfigError(f"max_workers must be at least 1, got {workers}")
    return workers
