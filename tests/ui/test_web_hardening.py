"""The web UI against hostile and heavy input: another project's bytes through the preview cache, decompression
bombs, huge files, long lineages, malformed reports, forged messages, sessions that outlive a logout."""

from __future__ import annotations

import base64
import io
import itertools
import json
import urllib.parse
from http.client import HTTPException
from pathlib import Path
from typing import Any

from satchel import Dataset
from satchel.server.browse import _layers
from satchel.server.preview import THUMBNAIL_PIXELS
from tests import servers
from tests.server.conftest import call, make_token
from tests.ui.conftest import Site, http, session_for


def _put_json(url: str, token: str, body: Any, method: str = "PUT") -> int:
    return call(url, method, token, body).status


def test_a_draft_row_naming_another_projects_file_gets_nothing(server_factory: servers.SatchelServerFactory,
                                                                tmp_path: Path, as_client: Any) -> None:
    server = server_factory.start(tmp_path / "server")
    try:
        beta, alpha = make_token(server, "writer", ["beta"]), make_token(server, "writer", ["alpha"])
        as_client(server, beta, "beta-machine")
        (tmp_path / "b").mkdir()
        (tmp_path / "b" / "secret.txt").write_text("TOP SECRET beta content")
        secret = Dataset.create(dataset_name="s", dataset_project="beta")
        secret.add_files(tmp_path / "b")
        secret.finalize(auto_upload=True)
        entry = next(iter(Dataset.get(dataset_id=secret.id).file_entries))
        seen = http(f"{server.url}/api/v1/browse/versions/{secret.id}/file?path=secret.txt", token=beta)
        assert seen.body == b"TOP SECRET beta content"  # now in the server's preview cache
        as_client(server, alpha, "alpha-machine")
        draft = Dataset.create(dataset_name="a", dataset_project="alpha")
        row = {"path": "stolen.txt", "hash": entry.hash, "size": entry.size}
        assert call(f"{server.url}/api/v1/versions/{draft.id}/draft", "POST", alpha, {"upsert": [row]}).status == 200
        stolen = http(f"{server.url}/api/v1/browse/versions/{draft.id}/file?path=stolen.txt", token=alpha)
        assert stolen.status == 409 and b"TOP SECRET" not in stolen.body
    finally:
        server.stop()


def test_huge_files_are_streamed_whole_and_checked(server_factory: servers.SatchelServerFactory, tmp_path: Path,
                                                   as_client: Any) -> None:
    server = server_factory.start(tmp_path / "server", preview_cache="4MiB")  # files over 1 MiB: streamed
    try:
        as_client(server, server.token)
        data = bytes(range(256)) * 8192  # 2 MiB
        (tmp_path / "src").mkdir()
        (tmp_path / "src" / "big.bin").write_bytes(data)
        ds = Dataset.create(dataset_name="big", dataset_project="p")
        ds.add_files(tmp_path / "src")
        ds.finalize(auto_upload=True)
        url = f"{server.url}/api/v1/browse/versions/{ds.id}/file?path=big.bin"
        whole = http(url, token=server.token, headers={"Range": "bytes=0-9"})
        assert whole.status == 200 and whole.body == data and whole.headers["accept-ranges"] == "none"
        preview = http(f"{server.url}/api/v1/browse/versions/{ds.id}/preview?path=big.bin", token=server.token)
        assert preview.status == 400 and "download it whole" in preview.text
        assert not [p for p in (server.data / "cache" / "content").rglob("*") if p.is_file()], "nothing cached"
        pack = next((server.data / "storage").rglob("*.pack"))
        damaged = bytearray(pack.read_bytes())
        damaged[len(damaged) // 2] ^= 0xFF
        pack.write_bytes(bytes(damaged))
        import urllib.error
        import urllib.request

        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {server.token}"})
        body: bytes | None = None
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                body = reply.read()
        except (urllib.error.URLError, HTTPException, OSError):
            pass  # refused, or the transfer broke
        assert body is None, "a complete wrong file was sent: the transfer must break instead"
    finally:
        server.stop()


def test_a_parquet_bomb_is_not_unpacked_and_images_are_bounded(site: Site, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    (tmp_path / "bomb").mkdir()
    for name, values in [("same.parquet", ["x" * (40 << 20)] * 50),  # one 40 MiB value 50 times: 2 GB decoded
                         ("bomb.parquet", ["x" * (4 << 20) + str(i) for i in range(20)])]:  # 80 MiB, all different
        out = io.BytesIO()
        pq.write_table(pa.table({"text": values, "n": list(range(len(values)))}), out, compression="zstd")
        (tmp_path / "bomb" / name).write_bytes(out.getvalue())
    Image.new("L", (6000, 5000)).save(tmp_path / "bomb" / "huge.png")  # 30 megapixels, a small file
    ds = Dataset.create(dataset_name="bombs", dataset_project="vision")
    ds.add_files(tmp_path / "bomb")
    ds.finalize(auto_upload=True)
    bomb = site.twin(f"/api/v1/browse/versions/{ds.id}/preview?path=bomb.parquet")
    assert bomb["table"]["rows"] == [] and "the schema only" in bomb["note"] and bomb["row_count"] == 20
    same = site.twin(f"/api/v1/browse/versions/{ds.id}/preview?path=same.parquet")
    assert len(same["table"]["rows"]) == 50 and same["table"]["rows"][49] == ["x" * 200, 49]
    huge = http(f"{site.url}/api/v1/browse/versions/{ds.id}/thumbnail?path=huge.png", token=site.token)
    assert huge.status == 400 and "too large for a thumbnail" in huge.text
    first = http(f"{site.url}/api/v1/browse/versions/{site.versions['v1']}/thumbnail?path=images/cat_1.png",
                 token=site.token)
    again = http(f"{site.url}/api/v1/browse/versions/{site.versions['v1']}/thumbnail?path=images/cat_1.png",
                 token=site.token)
    assert first.status == again.status == 200 and first.body == again.body
    with Image.open(io.BytesIO(first.body)) as thumb:
        assert thumb.format == "PNG" and max(thumb.size) <= THUMBNAIL_PIXELS


def test_malformed_reports_and_deep_metadata_do_not_break_the_page(site: Site) -> None:
    v1 = site.versions["v1"]
    for name, value in [("satchel.report.a", [1, 2]), ("satchel.report.b", {"type": "text", "message": "hi"}),
                        ("satchel.report.c", {"type": "single_value", "value": 3}),
                        ("satchel.report.d", {"type": "table", "columns": 5})]:
        content = base64.b64encode(json.dumps(value).encode()).decode()
        assert _put_json(f"{site.url}/api/v1/versions/{v1}/metadata/{name}", site.token,
                         {"kind": "report", "content": content}) == 200
    deep: Any = "leaf"
    for _ in range(400):
        deep = {"k": deep}
    content = base64.b64encode(json.dumps(deep).encode()).decode()
    assert _put_json(f"{site.url}/api/v1/versions/{v1}/metadata/deep", site.token,
                     {"kind": "json", "content": content}) == 200
    page = http(f"{site.url}/versions/{v1}", cookie=site.session)
    assert page.status == 200 and "hi" in page.text and "nested deeper than a page shows" in page.text
    assert site.twin(f"/api/v1/browse/versions/{v1}")["version"]["id"] == v1


def test_pages_say_only_their_own_messages_and_logout_ends_the_session(site: Site) -> None:
    forged = http(f"{site.url}/?msg=" + urllib.parse.quote("paste your token at evil.example"),
                  cookie=site.session)
    assert forged.status == 200 and "evil.example" not in forged.text
    saved = http(f"{site.url}/?msg=saved", cookie=site.session)
    assert 'role="status">saved<' in saved.text
    session = session_for(site.url, site.token)
    assert session != site.token  # the cookie holds a session token, never the token typed in
    assert http(f"{site.url}/api/v1/whoami", token=session).json()["name"].startswith("web session of ")
    page = http(f"{site.url}/", cookie=session)
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    assert http(f"{site.url}/logout", "POST", cookie=session, form={"csrf": csrf}).status == 303
    assert http(f"{site.url}/", cookie=session).status == 303  # to the login page
    assert http(f"{site.url}/api/v1/whoami", token=session).status == 401
    as_json = http(f"{site.url}/api/v1/browse/projects", cookie=site.session)  # "This page as JSON" in a browser
    assert as_json.status == 200 and as_json.json()["projects"]


def test_a_revoked_token_ends_its_sessions(site: Site) -> None:
    reader = make_reader(site)
    session = session_for(site.url, reader)
    projects = f"{site.url}/api/v1/browse/projects"
    assert http(f"{site.url}/", cookie=session).status == 200
    assert http(projects, token=session).status == 200  # the session's secret works as a Bearer token too
    reader_id = reader.split("_")[1]
    assert call(f"{site.url}/api/v1/tokens/{reader_id}", "DELETE", site.token).status == 200
    assert http(f"{site.url}/", cookie=session).status == 303
    assert http(projects, cookie=session).status == 401
    assert http(projects, token=session).status == 401  # ended however it is sent


def make_reader(site: Site) -> str:
    reply = call(f"{site.url}/api/v1/tokens", "POST", site.token, {"name": "r", "role": "reader"})
    assert reply.status == 201
    return str(reply.json()["token"])


def test_the_delete_plan_is_a_writers_and_counts_whole_packs(site: Site) -> None:
    reader = make_reader(site)
    refused = http(f"{site.url}/api/v1/browse/versions/{site.versions['v1']}/delete-plan", token=reader)
    assert refused.status == 403
    plan = site.twin(f"/api/v1/browse/versions/{site.versions['v1']}/delete-plan")
    assert plan["blocked"] is True and plan["frees_bytes"] == 0  # its packs hold files v2 still uses


def test_size_change_is_the_change_of_the_version_size(site: Site) -> None:
    v1, v2 = site.twin(f"/api/v1/versions/{site.versions['v1']}"), site.twin(f"/api/v1/versions/{site.versions['v2']}")
    page = site.twin(f"/api/v1/browse/versions/{site.versions['v2']}")
    assert page["changes"]["size_change"] == v2["stats"]["total_size"] - v1["stats"]["total_size"]


def test_a_long_lineage_is_laid_out_without_recursion() -> None:
    chain = [f"{i:032x}" for i in range(3000)]
    layers = _layers(chain, list(itertools.pairwise(chain)))
    assert layers[chain[0]] == 0 and layers[chain[-1]] == 2999
    loop = _layers(["a", "b"], [("a", "b"), ("b", "a")])  # hostile rows: placed, not an error
    assert set(loop) == {"a", "b"}
