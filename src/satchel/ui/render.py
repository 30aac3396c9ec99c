"""Templates (Jinja2, autoescaped) and the filters the pages use."""

from __future__ import annotations

import datetime
import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2

from satchel.units import format_size

HERE = Path(__file__).parent


def static_dir() -> Path:
    return HERE / "static"


def _size(value: Any) -> str:
    if value is None:
        return "-"
    number = int(value)
    return ("-" if number < 0 else "") + format_size(abs(number))


def _signed_size(value: Any) -> str:
    if value is None:
        return "-"
    return ("+" if int(value) >= 0 else "") + _size(value)


def _when(value: Any) -> str:
    if not value:
        return "-"
    return datetime.datetime.fromtimestamp(float(value), datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def query_string(**params: Any) -> str:
    """A URL query of ``params`` (lists repeat their key; None, "" and [] are left out)."""
    pairs = [(k, x) for k, v in params.items() if v not in (None, "", [])
             for x in (v if isinstance(v, list) else [v])]
    return urlencode(pairs)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(size=_size, signed_size=_signed_size, when=_when, urlpart=lambda v: quote(str(v), safe=""),
                       pretty=_pretty)
    env.globals.update(query=query_string)
    return env


def page(template: str, **data: Any) -> str:
    return environment().get_template(template).render(**data)
