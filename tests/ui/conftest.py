"""Fixtures for the web UI tests: a site with datasets (``satchel ui`` on an embedded home, or a satchel server),
and Debian's Chromium driven by Playwright (never a downloaded browser).

Screenshots of the pages the tests visit are saved under ``test-artifacts/ui/<mode>/``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from satchel import Dataset
from tests.server.conftest import (
    Reply,
    as_client,  # noqa: F401 - a fixture the UI tests use too
    call,
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "ui"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
                 *(["--no-sandbox"] if os.geteuid() == 0 else [])]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def http(url: str, method: str = "GET", *, token: str | None = None, cookie: str | None = None,
         form: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Reply:
    """One raw HTTP request as a browser would send it (a session cookie, a form), redirects not followed."""
    all_headers = dict(headers or {})
    if cookie:
        all_headers["Cookie"] = f"satchel_session={cookie}"
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    return call(url, method, token, data=data, headers=all_headers, opener=_opener)


@dataclass
class Site:
    """A running web UI: its base URL, how to log a browser in, and an admin token for API checks."""

    mode: str
    url: str
    token: str
    versions: dict[str, str] = field(default_factory=dict)
    sources: dict[str, bytes] = field(default_factory=dict, repr=False)
    login_code: str | None = None

    @property
    def session(self) -> str:
        """A browser session of the site's admin token (the cookie's value)."""
        if "session" not in self.__dict__:
            self.__dict__["session"] = session_for(self.url, self.token)
        return str(self.__dict__["session"])

    def twin(self, path: str, token: str | None = None) -> Any:
        reply = http(self.url + path, token=token or self.token)
        assert reply.status == 200, (path, reply.status, reply.body[:500])
        return reply.json()


def session_for(url: str, token: str) -> str:
    """Log in with ``token`` through the login form; the session token the cookie holds."""
    reply = http(f"{url}/login", "POST", form={"token": token, "next": "/"})
    assert reply.status == 303, (reply.status, reply.body[:300])
    found = re.search(r"satchel_session=([^;]+)", reply.headers["set-cookie"])
    assert found, reply.headers
    return found.group(1)


def _png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def _wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(rate)
        sound.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 8))) for i in range(int(rate * seconds))))
    return out.getvalue()


def _parquet() -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id": list(range(120)), "score": [i / 7 for i in range(120)],
                      "label": [f"class_{i % 3}" for i in range(120)]})
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=40)
    return out.getvalue()


def sample_files() -> dict[str, bytes]:
    """The files of the sample dataset: images, CSV, Parquet, audio, text kinds, a binary, nested folders."""
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["file", "label", "weight"])
    for i in range(80):
        writer.writerow([f"images/cat_{i}.png", i % 2, f"{i / 3:.3f}"])
    files = {f"images/cat_{i}.png": _png(40 + i, 30, (200, 40 + i * 5, 40)) for i in range(6)}
    files.update({
        "labels.csv": rows.getvalue().encode(),
        "tables/scores.parquet": _parquet(),
        "audio/tone.wav": _wav(),
        "docs/README.md": b"# Cats\n\nA *small* sample.\n",
        "docs/config.yaml": b"classes: [cat, dog]\nsize: 40\n",
        "docs/meta.json": b'{"classes": ["cat", "dog"], "count": 6}',
        "docs/x<b>y.txt": b"<script>alert(1)</script>\n",
        "blobs/random.bin": bytes(range(256)) * 4,
        "deep/a/b/c/leaf.txt": b"leaf\n",
    })
    return files


def make_sample(home: Path, tmp: Path) -> tuple[dict[str, str], dict[str, bytes]]:
    """Three versions of vision/cats (v1, a child v2 with changes, a grandchild v3), and a second project."""
    files = sample_files()
    source = tmp / "sample"
    for rel, data in files.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(data)
    v1 = Dataset.create(dataset_name="cats", dataset_project="vision", dataset_tags=["raw"],
                        description="first cut")
    v1.add_files(source)
    v1.set_metadata({"source": {"camera": "x100", "sites": [1, 2]}}, metadata_name="capture")
    v1.get_logger().report_table("class balance", "counts", table_plot=[["label", "n"], ["cat", 3], ["dog", 3]])
    v1.get_logger().report_scalar("quality", "blur", 0.25, 0)
    v1.get_logger().report_image("samples", "first", iteration=0, local_path=source / "images" / "cat_1.png")
    v1.finalize(auto_upload=True)
    (source / "images" / "cat_0.png").write_bytes(_png(64, 64, (10, 200, 10)))
    (source / "images" / "cat_5.png").unlink()
    (source / "extra.txt").write_bytes(b"added in v2\n")
    v2 = Dataset.create(dataset_name="cats", dataset_project="vision", parent_datasets=[v1.id],
                        dataset_tags=["clean"])
    v2.sync_folder(source)
    v2.finalize(auto_upload=True)
    v3 = Dataset.create(dataset_name="cats", dataset_project="vision", parent_datasets=[v2.id])
    v3.add_files(source / "extra.txt", dataset_path="more")
    v3.finalize(auto_upload=True)
    other = Dataset.create(dataset_name="dogs", dataset_project="vision/pets", dataset_tags=["raw"])
    other.add_files(source / "docs")
    other.finalize(auto_upload=True)
    sources = {rel: data for rel, data in files.items()}
    sources["images/cat_0.png@v2"] = (source / "images" / "cat_0.png").read_bytes()
    return {"v1": v1.id, "v2": v2.id, "v3": v3.id, "dogs": other.id}, sources


@contextlib.contextmanager
def personal_ui(home: Path) -> Iterator[tuple[str, str, int]]:
    """``satchel ui --port 0`` on ``home`` as a real process: (base URL, one-time login code, pid)."""
    env = {**os.environ, "SATCHEL_HOME": str(home)}
    env.pop("SATCHEL_API_URL", None)
    env.pop("SATCHEL_API_TOKEN", None)
    process = subprocess.Popen([sys.executable, "-m", "satchel", "ui", "--port", "0"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if "http://" in line or not line:
                break
        found = re.search(r"(http://127\.0\.0\.1:\d+)/login\?code=(\S+)", line)
        assert found, f"satchel ui printed no login link: {line!r}"
        yield found.group(1), found.group(2), process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


@pytest.fixture
def site(home: Path, mode: str, tmp_path: Path) -> Iterator[Site]:
    """The sample datasets, served by ``satchel ui`` (embedded) or by the test's satchel server."""
    versions, sources = make_sample(home, tmp_path)
    if mode == "server":
        yield Site(mode, os.environ["SATCHEL_API_URL"], os.environ["SATCHEL_API_TOKEN"], versions, sources)
        return
    with personal_ui(home) as (url, code, _pid):
        # the session's token lives in the ui process: log in once to learn it (the cookie holds it)
        reply = http(f"{url}/login?code={urllib.parse.quote(code)}")
        assert reply.status == 303, reply.body
        token = re.search(r"satchel_session=([^;]+)", reply.headers["set-cookie"]).group(1)  # type: ignore[union-attr]
        yield Site(mode, url, token, versions, sources)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: scripts/test installs Debian's chromium package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, site: Site, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page on the site; JavaScript errors fail the test."""
    context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.set_default_timeout(15_000)
    yield opened
    context.close()
    assert not errors, errors


def login(page: Any, site: Site, token: str | None = None) -> None:
    """Log the page in with a token through the login form."""
    page.goto("/login")
    page.get_by_label("Token").fill(token or site.token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/$"))


def shot(page: Any, site: Site, name: str) -> None:
    """Save a full-page screenshot as a test artifact."""
    folder = ARTIFACTS / site.mode
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
