"""Each page against its JSON twin, accessibility, previews of every kind, the bounds and refusals of the web UI,
in both modes."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import pytest

from satchel import Dataset
from tests.ui.conftest import Site, http, login, session_for, shot


def _pages(site: Site) -> list[str]:
    v1, v2 = site.versions["v1"], site.versions["v2"]
    return ["/", "/?search=cat", "/project?name=vision", "/project?name=vision&status=completed&tag=raw",
            "/dataset?project=vision&name=cats", f"/versions/{v1}", f"/versions/{v2}/lineage",
            f"/versions/{v2}/files", f"/versions/{v2}/files?folder=images&sort=size&order=desc",
            f"/versions/{v1}/preview?path=labels.csv", f"/versions/{v1}/preview?path=tables/scores.parquet",
            f"/versions/{v1}/preview?path=audio/tone.wav", f"/compare?a={v1}&b={v2}",
            f"/versions/{v2}/delete", "/compare"]


def test_every_page_has_a_title_labelled_controls_and_a_json_twin_that_agrees(page: Any, site: Site) -> None:
    login(page, site)
    for path in _pages(site):
        reply = page.goto(path)
        assert reply is not None and reply.status == 200, path
        assert re.fullmatch(r".+ · satchel", page.title()), (path, page.title())
        unlabelled = page.evaluate("""() => [...document.querySelectorAll(
            'input:not([type=hidden]), select, textarea, button')].filter(el => {
              const name = el.getAttribute('aria-label')
                || (el.labels && el.labels.length && el.labels[0].textContent.trim())
                || (el.tagName === 'BUTTON' && el.textContent.trim());
              return !name; }).map(el => el.outerHTML)""")
        assert unlabelled == [], (path, unlabelled)
        twin = page.locator('link[rel="alternate"][type="application/json"]')
        if path == "/compare":
            assert twin.count() == 0
            continue
        body = site.twin(twin.get_attribute("href"))
        _agree(page, path, body)


def _agree(page: Any, path: str, body: dict[str, Any]) -> None:
    """The numbers and names the HTML shows are the twin's."""
    if path.startswith("/?") or path == "/":
        assert [r.get_attribute("data-project") for r in page.locator("tr.project-row").all()] == \
            [p["project"] for p in body["projects"]]
        if body["search"]:
            assert page.locator("section table.list tbody tr").count() == len(body["matches"])
    elif path.startswith("/project"):
        assert [r.get_attribute("data-name") for r in page.locator("tr.dataset-row").all()] == \
            [d["name"] for d in body["datasets"]]
    elif path.startswith("/dataset"):
        assert [r.get_attribute("data-id") for r in page.locator("tr.version-row").all()] == \
            [v["id"] for v in body["versions"]]
    elif path.endswith("/lineage"):
        assert page.locator("svg.lineage a").count() == sum(1 for n in body["nodes"] if n["visible"])
        assert page.locator("svg.lineage path.edge").count() == len(body["edges"])
    elif "/files" in path:
        assert [r.get_attribute("data-path") for r in page.locator("tr.file-row").all()] == \
            [f["path"] for f in body["files"]]
        assert page.locator("table.files").get_attribute("data-total") == str(body["total"])
    elif "/preview" in path:
        if "table" in body:
            assert page.locator("table.data-table tbody tr").count() == len(body["table"]["rows"])
    elif path.startswith("/compare"):
        assert [r.get_attribute("data-path") for r in page.locator("tr.change-row").all()] == \
            [i["path"] for i in body["items"]]
        assert page.locator("#sum-added").inner_text().startswith(f"{body['summary']['added']} ")
    elif path.endswith("/delete"):
        assert body["blocked"] is True and page.get_by_role("alert").count() == 1
    elif path.startswith("/versions/"):
        assert page.locator("#file-count").inner_text() == str(body["stats"]["file_count"])
        assert page.locator("#version-id").input_value() == body["version"]["id"]


def test_the_keyboard_reaches_and_follows_links(page: Any, site: Site) -> None:
    login(page, site)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(30):  # tab to the first project link, then follow it with Enter
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "vision":
            break
    assert page.evaluate("document.activeElement.textContent") == "vision"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"  # focus is visible
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/project\?name=vision$"))


def test_version_page_shows_metadata_as_a_tree_and_reports(page: Any, site: Site) -> None:
    login(page, site)
    page.goto(f"/versions/{site.versions['v1']}")
    meta = page.get_by_role("region", name="Metadata")
    assert "camera" in meta.inner_text() and "x100" in meta.inner_text()
    reports = page.get_by_role("region", name="Reports")
    table = reports.locator("table.data-table")
    assert table.locator("tbody tr").count() == 2 and "cat" in table.inner_text()
    assert "0.25" in reports.inner_text()
    picture = reports.get_by_alt_text("samples first")
    assert page.evaluate("img => img.complete && img.naturalWidth", picture.element_handle()) == 41
    shot(page, site, "13-version-metadata-reports")


def test_previews_of_each_kind_are_bounded_and_exact(site: Site) -> None:
    v1 = site.versions["v1"]
    preview = lambda path: site.twin(f"/api/v1/browse/versions/{v1}/preview?path={urllib.parse.quote(path)}")  # noqa: E731
    parquet = preview("tables/scores.parquet")
    assert parquet["kind"] == "parquet" and parquet["row_count"] == 120 and len(parquet["table"]["rows"]) == 50
    assert [(c["name"], c["type"]) for c in parquet["table"]["columns"]] == \
        [("id", "int64"), ("score", "double"), ("label", "string")]
    assert preview("docs/meta.json")["text"] == '{\n  "classes": [\n    "cat",\n    "dog"\n  ],\n  "count": 6\n}'
    assert preview("docs/README.md")["kind"] == "markdown"
    assert preview("docs/config.yaml")["text"] == "classes: [cat, dog]\nsize: 40\n"
    binary = preview("blobs/random.bin")
    assert binary["kind"] == "binary" and len(binary["hex"]) == 32 and binary["truncated"] is True
    assert binary["hex"][0].startswith("00000000  00 01 02 03")
    image = preview("images/cat_3.png")
    assert image["image"] == {"width": 43, "height": 30, "format": "PNG", "mode": "RGB"}
    assert preview("audio/tone.wav")["kind"] == "audio"


def test_downloads_are_the_stored_bytes_and_answer_range_requests(site: Site) -> None:
    v1 = site.versions["v1"]
    for path in ("labels.csv", "tables/scores.parquet", "audio/tone.wav", "blobs/random.bin"):
        url = f"{site.url}/api/v1/browse/versions/{v1}/file?path={urllib.parse.quote(path)}"
        whole = http(url, token=site.token)
        assert whole.status == 200 and whole.body == site.sources[path]
        part = http(url, token=site.token, headers={"Range": "bytes=10-99"})
        assert part.status == 206 and part.body == site.sources[path][10:100]
        assert part.headers["content-range"] == f"bytes 10-99/{len(site.sources[path])}"
    # the player's requests through the browser session (cookie) are served the same way
    audio = http(f"{site.url}/versions/{v1}/file?path=audio/tone.wav", cookie=site.session,
                 headers={"Range": "bytes=0-43"})
    assert audio.status == 206 and audio.body == site.sources["audio/tone.wav"][:44]
    assert audio.headers["content-type"] == "audio/x-wav"
    # a file that could be a page (HTML, SVG, text) is never served as one
    text = http(f"{site.url}/versions/{v1}/file?path={urllib.parse.quote('docs/x<b>y.txt')}", cookie=site.session)
    assert text.headers["content-type"] == "application/octet-stream"
    assert text.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in text.headers["content-security-policy"]


def test_hostile_names_are_escaped_and_paths_stay_inside(page: Any, site: Site) -> None:
    login(page, site)
    page.goto(f"/versions/{site.versions['v1']}/files?folder=docs")
    assert page.locator("tr.file-row", has_text="x<b>y.txt").count() == 1  # shown as text
    assert page.locator("table.files b").count() == 0  # not markup
    page.goto(f"/versions/{site.versions['v1']}/preview?path={urllib.parse.quote('docs/x<b>y.txt')}")
    assert page.locator("pre.text").inner_text() == "<script>alert(1)</script>\n"
    for path in ("../../etc/passwd", "/etc/passwd", "docs/../../../catalog.db", "docs/%2e%2e/x"):
        reply = http(f"{site.url}/api/v1/browse/versions/{site.versions['v1']}/file?path={urllib.parse.quote(path)}",
                     token=site.token)
        assert reply.status == 404, (path, reply.status)
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        reply = http(f"{site.url}/login", "POST", form={"token": site.token, "next": target})
        assert reply.status == 303 and reply.headers["location"] == "/", target


def test_forms_without_the_csrf_value_or_from_another_site_change_nothing(site: Site) -> None:
    v1 = site.versions["v1"]
    page = http(f"{site.url}/versions/{v1}", cookie=site.session)
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
    for form, headers in [({}, {}), ({"csrf": "0" * 64}, {}), ({"csrf": csrf}, {"Origin": "https://evil.example"})]:
        reply = http(f"{site.url}/versions/{v1}/publish", "POST", cookie=site.session, form=form, headers=headers)
        assert reply.status == 403, (form, headers, reply.status)
        assert "CSRF" in reply.text or "another site" in reply.text or "may not change" in reply.text
    assert site.twin(f"/api/v1/versions/{v1}")["status"] == "completed"
    reply = http(f"{site.url}/versions/{v1}/publish", "POST", cookie=site.session, form={"csrf": csrf},
                 headers={"Origin": site.url})
    assert reply.status == 303
    assert site.twin(f"/api/v1/versions/{v1}")["status"] == "published"


def test_pages_refuse_without_a_session_and_say_what_is_missing(site: Site) -> None:
    reply = http(f"{site.url}/versions/{site.versions['v1']}")
    assert reply.status == 303 and reply.headers["location"].startswith("/login?next=")
    missing = http(f"{site.url}/versions/{'f' * 32}", cookie=site.session)
    assert missing.status == 404 and "no dataset version" in missing.text
    bad = http(f"{site.url}/versions/{site.versions['v1']}/files?sort=colour", cookie=site.session)
    assert bad.status == 400 and "sort must be one of" in bad.text
    nofile = http(f"{site.url}/versions/{site.versions['v1']}/preview?path=nothing.txt", cookie=site.session)
    assert nofile.status == 404 and "has no file" in nofile.text


def test_content_pages_page_and_sort_on_the_server(site: Site) -> None:
    v1 = site.versions["v1"]
    first = site.twin(f"/api/v1/browse/versions/{v1}/files?folder=images&sort=size&order=desc&limit=2")
    assert first["total"] == 6 and first["next_offset"] == 2
    assert [f["path"] for f in first["files"]] == ["images/cat_5.png", "images/cat_4.png"]
    rest = site.twin(f"/api/v1/browse/versions/{v1}/files?folder=images&sort=size&order=desc&limit=10&offset=2")
    sizes = [f["size"] for f in first["files"] + rest["files"]]
    assert sizes == sorted(sizes, reverse=True) and rest["next_offset"] is None
    found = site.twin(f"/api/v1/browse/versions/{v1}/files?search=LEAF")
    assert [f["path"] for f in found["files"]] == ["deep/a/b/c/leaf.txt"]
    deep = site.twin(f"/api/v1/browse/versions/{v1}/files?folder=deep/a")
    assert deep["folders"] == [{"folder": "deep/a/b", "name": "b"}] and deep["files"] == []


@pytest.mark.embedded_only("the one-time login link is satchel ui's")
def test_the_login_link_of_satchel_ui_works_once(home: Any, browser: Any) -> None:
    from tests.ui.conftest import personal_ui

    Dataset.create(dataset_name="d", dataset_project="p").finalize()
    with personal_ui(home) as (url, code, _pid):
        context = browser.new_context()
        opened = context.new_page()
        opened.goto(f"{url}/login?code={code}")
        assert opened.title() == "Projects · satchel" and opened.locator("tr.project-row").count() == 1
        again = context.browser.new_context().new_page()
        again.goto(f"{url}/login?code={code}")
        assert "used already" in again.get_by_role("alert").inner_text()
        assert http(f"{url}/api/v1/stores/p/objects", token="x").status == 404  # no file server in satchel ui
        context.close()


def _new_token(site: Site, role: str, projects: list[str] | None = None) -> str:
    import json
    import urllib.request

    request = urllib.request.Request(f"{site.url}/api/v1/tokens", method="POST",
                                     data=json.dumps({"name": role, "role": role, "projects": projects or []}).encode(),
                                     headers={"Authorization": f"Bearer {site.token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as reply:
        return str(json.loads(reply.read())["token"])


def test_a_reader_is_offered_no_change_and_refused_one(page: Any, site: Site) -> None:
    reader = _new_token(site, "reader")
    login(page, site, reader)
    v1 = site.versions["v1"]
    page.goto(f"/versions/{v1}")
    for name in ("Publish", "Archive", "Save", "Delete…", "Rename or move…"):
        assert page.get_by_role("button", name=name).count() == 0, name
        assert page.get_by_role("link", name=name).count() == 0, name
    assert page.locator("textarea#description").count() == 0
    assert "needs a writer token" in page.get_by_role("region", name="Manage").inner_text()
    assert page.get_by_role("link", name="Tokens").count() == 0
    shot(page, site, "14-reader-version")
    page.goto("/dataset?project=vision&name=cats")
    assert page.get_by_text("Rename or move this dataset").count() == 0
    # a forged form with the reader's own valid CSRF value: refused by the server anyway
    reader_session = session_for(site.url, reader)
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"',  # type: ignore[union-attr]
                     http(f"{site.url}/", cookie=reader_session).text).group(1)
    for action, form in [("publish", {}), ("archive", {"archived": "true"}), ("delete", {}),
                         ("edit", {"description": "x", "tags": "y"})]:
        reply = http(f"{site.url}/versions/{v1}/{action}", "POST", cookie=reader_session,
                     form={"csrf": csrf, **form})
        assert reply.status == 403 and "reader" in reply.text, (action, reply.status)
    record = site.twin(f"/api/v1/versions/{v1}")
    assert (record["status"], record["archived"], record["description"]) == ("completed", False, "first cut")


def test_a_token_of_another_project_sees_nothing_of_this_one(page: Any, site: Site) -> None:
    other = _new_token(site, "writer", ["elsewhere"])
    login(page, site, other)
    assert page.locator("tr.project-row").count() == 0
    for path in (f"/versions/{site.versions['v1']}", f"/versions/{site.versions['v1']}/files",
                 f"/versions/{site.versions['v1']}/preview?path=labels.csv", "/project?name=vision",
                 f"/compare?a={site.versions['v1']}&b={site.versions['v2']}"):
        reply = page.goto(path)
        assert reply is not None and reply.status == 404, path
        assert "cats" not in page.content() and "labels" not in page.inner_text("main"), path
    other_session = session_for(site.url, other)
    assert http(f"{site.url}/versions/{site.versions['v1']}/file?path=labels.csv", cookie=other_session).status \
        == 404
    assert "vision" not in http(f"{site.url}/?search=cat", cookie=other_session).text


def test_an_admin_manages_tokens_in_the_ui(page: Any, site: Site) -> None:
    login(page, site)
    page.goto("/tokens")
    page.get_by_label("Name").fill("ci reader")
    page.get_by_label("Role").select_option("reader")
    page.get_by_label("Projects (comma-separated; empty: all)").fill("vision")
    page.get_by_label("Expires in days (empty: never)").fill("7")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("the new token").input_value()
    shot(page, site, "15-tokens")
    assert http(f"{site.url}/api/v1/whoami", token=secret).json()["projects"] == ["vision"]
    row = page.locator("tr.token-row", has_text="ci reader")
    row.get_by_role("button", name="revoke token ci reader").click()
    assert "revoked" in page.get_by_role("status").inner_text()
    assert http(f"{site.url}/api/v1/whoami", token=secret).status == 401


def test_a_draft_is_browsable_and_its_unuploaded_files_say_so(page: Any, site: Site, tmp_path: Any) -> None:
    (tmp_path / "new.txt").write_text("not uploaded yet\n")
    draft = Dataset.create(dataset_name="cats", dataset_project="vision", parent_datasets=[site.versions["v2"]])
    draft.add_files(tmp_path / "new.txt")
    login(page, site)
    page.goto(f"/versions/{draft.id}")
    assert page.locator("#added").inner_text().startswith("1 files")
    page.goto(f"/versions/{draft.id}/files")
    assert "new.txt" in {r.get_attribute("data-path") for r in page.locator("tr.file-row").all()}
    reply = page.goto(f"/versions/{draft.id}/preview?path=new.txt")
    assert reply is not None and reply.status == 409
    assert "not uploaded yet" in page.get_by_role("alert").inner_text()
    inherited = http(f"{site.url}/versions/{draft.id}/file?path=labels.csv", cookie=site.session)
    assert inherited.status == 200 and inherited.body == site.sources["labels.csv"]


def test_satchel_ui_in_team_mode_points_to_the_server(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "SATCHEL_HOME": str(tmp_path / "home"), "SATCHEL_API_URL": "http://127.0.0.1:9",
           "SATCHEL_API_TOKEN": "sat_x_y"}
    done = subprocess.run([sys.executable, "-m", "satchel", "ui"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert "serves the web UI at http://127.0.0.1:9/" in done.stderr and "satchel logout" in done.stderr


def test_dataset_filters_by_tag_and_status(site: Site) -> None:
    def names(query: str) -> dict[str, int]:
        body = site.twin(f"/api/v1/browse/project?name=vision&{query}")
        return {d["name"]: d["versions"] for d in body["datasets"]}

    assert names("") == {"cats": 3}
    assert names("tag=raw") == {"cats": 1}
    assert names("tag=raw&tag=clean&tag_mode=any") == {"cats": 2}
    assert names("tag=raw&tag=clean&tag_mode=all") == {}
    assert names("tag=raw&tag_mode=not") == {"cats": 2}
    assert names("status=draft") == {}
    reply = http(f"{site.url}/api/v1/versions/{site.versions['v1']}", "PATCH", token=site.token,
                 headers={"Content-Type": "application/json"})
    assert reply.status == 400  # no body: refused, nothing changed
    import json
    import urllib.request

    request = urllib.request.Request(f"{site.url}/api/v1/versions/{site.versions['v1']}", method="PATCH",
                                     data=json.dumps({"archived": True}).encode(),
                                     headers={"Authorization": f"Bearer {site.token}",
                                              "Content-Type": "application/json"})
    urllib.request.urlopen(request).close()
    assert names("") == {"cats": 2}  # archived versions are left out unless asked for
    assert names("status=archived") == {"cats": 1}
    assert names("status=archived&status=completed") == {"cats": 3}
    bad = http(f"{site.url}/api/v1/browse/project?name=vision&status=gone", token=site.token)
    assert bad.status == 400 and "use draft, completed, published, archived" in bad.text


def test_copy_buttons_put_the_id_on_the_clipboard_and_players_seek(browser: Any, site: Site) -> None:
    context = browser.new_context(base_url=site.url)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    page = context.new_page()
    login(page, site)
    page.goto(f"/versions/{site.versions['v1']}")
    page.locator('button.copy[data-copy="version-id"]').click()
    assert page.evaluate("navigator.clipboard.readText()") == site.versions["v1"]
    page.goto(f"/versions/{site.versions['v1']}/preview?path=audio/tone.wav")
    player = page.locator("audio").element_handle()
    page.wait_for_function("a => a.readyState >= 1", arg=player)
    assert abs(page.evaluate("a => a.duration", player) - 1.0) < 0.01
    page.evaluate("a => { a.currentTime = 0.8; }", player)
    page.wait_for_function("a => !a.seeking && a.currentTime > 0.7", arg=player)
    context.close()
