"""Settings, resolved once: arguments > ``SATCHEL_*`` environment > ``$SATCHEL_HOME/config.toml`` > defaults.

Nothing is read at import time; :func:`resolve_settings` reads the environment and the config file
when it is called, and the result is passed down explicitly.

Config file keys (all optional)::

    cache_dir = "/fast/disk/satchel-cache"
    cache_limit = "200GiB"
    default_storage = "/mnt/shared/satchel-store"     # a folder or a URL
    catalog_url = "sqlite:////path/to/catalog.db"
    max_workers = 8

Object-storage settings (each also ``SATCHEL_<KEY>``; each cloud's own variables and files are used when
these are not set, see docs/storage.md)::

    s3_endpoint_url = "http://127.0.0.1:8333"        # S3-compatible servers; else AWS_ENDPOINT_URL[_S3]
    s3_region = "us-east-1"
    s3_access_key_id = "..."                          # else AWS_ACCESS_KEY_ID, ~/.aws/credentials, ...
    s3_secret_access_key = "..."
    gcs_endpoint_url = "http://127.0.0.1:4443"       # emulators; else STORAGE_EMULATOR_HOST
    gcs_project = "my-project"
    gcs_credentials_file = "/path/to/service-account.json"   # else GOOGLE_APPLICATION_CREDENTIALS
    azure_account_name = "myaccount"                  # for az://container/prefix URLs
    azure_account_key = "..."                         # else AZURE_STORAGE_ACCOUNT_KEY / AZURE_STORAGE_KEY
    azure_sas_token = "..."
    azure_endpoint_url = "http://127.0.0.1:10000/devstoreaccount1"   # emulators

Team mode (a satchel server; ``satchel login URL`` writes both, the file mode 0600)::

    api_url = "http://satchel.example.com:8383"      # SATCHEL_API_URL; the catalog and default storage are the server's
    api_token = "sat_..."                             # SATCHEL_API_TOKEN

Secrets are kept out of ``repr`` and never logged.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from satchel.errors import ConfigError
from satchel.units import parse_size

DEFAULT_CACHE_LIMIT = 100 * 1024**3
CONFIG_FILE_NAME = "config.toml"
STORAGE_KEYS = (
    "s3_endpoint_url", "s3_region", "s3_access_key_id", "s3_secret_access_key", "s3_session_token",
    "gcs_endpoint_url", "gcs_project", "gcs_credentials_file",
    "azure_account_name", "azure_account_key", "azure_sas_token", "azure_endpoint_url",
    "api_url", "api_token",
)
_KEYS = ("cache_dir", "cache_limit", "default_storage", "catalog_url", "max_workers", *STORAGE_KEYS)


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Paths are absolute."""

    home: Path
    cache_dir: Path
    cache_limit: int
    default_storage: str
    catalog_url: str
    max_workers: int
    storage_options: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def api_url(self) -> str | None:
        """The satchel server's URL in team mode, else None (embedded mode)."""
        return self.storage_options.get("api_url") or None

    @property
    def api_token(self) -> str | None:
        """The token sent to the satchel server."""
        return self.storage_options.get("api_token") or None

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
        storage_options=_storage_options(arguments, file_values),
    )


def _storage_options(arguments: dict[str, Any], file_values: dict[str, Any]) -> dict[str, str]:
    """The object-storage settings that are set, as strings."""
    options = {}
    for name in STORAGE_KEYS:
        value = _pick(name, arguments, file_values)
        if value is not None and value != "":
            options[name] = str(value)
    return options


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
