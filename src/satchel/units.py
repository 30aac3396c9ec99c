"""Human-friendly byte sizes: ``"10GiB"``, ``"500 MB"``, ``"1.5g"``, ``1048576``."""

from __future__ import annotations

import re

from satchel.errors import ConfigError

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1000**4,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: str | int | float, *, setting: str = "size") -> int:
    """Return ``value`` in bytes. Bare ``k/m/g/t`` are binary (KiB...), ``KB/MB`` decimal.

    Raises ConfigError naming ``setting`` when the value cannot be parsed or is negative.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"{setting}={value!r} is not a size; use bytes or a suffix such as 500MB, 10GiB, 2g")
    if isinstance(value, int | float):
        if value < 0:
            raise ConfigError(f"{setting} must not be negative, got {value}")
        return int(value)
    match = _SIZE.match(value)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise ConfigError(
            f"{setting}={value!r} is not a size; use bytes or a suffix such as 500MB, 10GiB, 2g"
        )
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(num_bytes: int) -> str:
    """Format bytes for people: ``1.5 GiB``."""
    size = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def parse_duration(value: str | int | float, *, setting: str = "duration") -> float:
    """Seconds of a duration: a number of seconds, or a number with a unit (``90s``, ``15m``, ``12h``, ``30d``,
    ``2w``, ``1y``). ConfigError when it is not one."""
    from satchel.errors import ConfigError

    text = str(value).strip().lower()
    unit = text[-1:] if text[-1:] in _DURATION_UNITS else "s"
    number = text[:-1] if text[-1:] in _DURATION_UNITS else text
    try:
        seconds = float(number) * _DURATION_UNITS[unit]
    except ValueError as exc:
        raise ConfigError(f"{setting}={value!r} is not a duration; write e.g. 30d, 12h, 15m or 3600") from exc
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError(f"{setting}={value!r} must be a positive duration")
    return seconds
