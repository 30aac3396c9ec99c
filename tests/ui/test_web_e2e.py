"""The web UI in a real browser (Debian's Chromium through Playwright), embedded (``satchel ui``) and through a
satchel server: click through projects -> dataset -> version -> content -> preview -> compare, log in and out,
change a version through the UI and see it through the API, a reader offered no change."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from satchel import Dataset
from tests.ui.conftest import Site, login, shot


def test_click_through_projects_dataset_version_content_preview_compare(page: Any, site: Site) -> None:
    login(page, site)
    expect(page).to_have_title("Projects · satchel")
    assert [r.get_attribute("data-project") for r in page.locator("tr.project-row").all()] == ["vision", "vision/pets"]
    shot(page, site, "01-projects")

    page.get_by_role("link", name="vision", exact=True).click()
    expect(page).to_have_title("vision: datasets · satchel")
    row = page.locator("tr.dataset-row", has_text="cats")
    assert row.locator("td").nth(1).inner_text() == "3"  # versions
    shot(page, site, "02-datasets")

    row.get_by_role("link", name="cats").click()
    expect(page.locator("tr.version-row")).to_have_count(3)
    shot(page, site, "03-dataset")

    page.get_by_role("link", name="v1.0.1").click()
    page.wait_for_url(f"**/versions/{site.versions['v2']}")
    assert page.url.endswith(f"/versions/{site.versions['v2']}")
    assert page.locator("#version-id").input_value() == site.versions["v2"]
    assert page.locator("#file-count").inner_text() == str(len(Dataset.get(dataset_id=site.versions["v2"])
                                                             .list_files()))
    assert page.locator("#removed").inner_text().startswith("1 files")
    shot(page, site, "04-version")

    page.get_by_role("navigation", name="Version").get_by_role("link", name="Content").click()
    page.wait_for_url("**/files")
    assert {r.get_attribute("data-path") for r in page.locator("tr.file-row").all()} == {"extra.txt", "labels.csv"}
    shot(page, site, "05-content")

    page.get_by_role("link", name="images/").click()
    expect(page.locator("tr.file-row")).to_have_count(5)  # cat_5 was removed in v2
    page.get_by_role("link", name="cat_0.png", exact=True).click()
    thumbnail = page.get_by_alt_text("thumbnail of images/cat_0.png")
    thumbnail.wait_for()
    assert page.evaluate("img => img.complete && img.naturalWidth", thumbnail.element_handle()) == 64
    shot(page, site, "06-preview-image")

    page.goto(f"/versions/{site.versions['v2']}/files")
    page.get_by_role("link", name="labels.csv", exact=True).click()
    table = page.locator("table.data-table")
    expect(table.locator("tbody tr")).to_have_count(50)
    assert [c.inner_text().split("\n")[0] for c in table.locator("thead th").all()] == ["file", "label", "weight"]
    assert "integer" in table.locator("thead th").nth(1).inner_text()
    assert "float" in table.locator("thead th").nth(2).inner_text()
    shot(page, site, "07-preview-csv")

    page.goto(f"/versions/{site.versions['v2']}")
    page.get_by_role("link", name="Compare with parent").click()
    page.wait_for_url("**/compare?**")
    assert page.locator("#sum-modified").inner_text().startswith("1 ")
    assert page.locator("#sum-removed").inner_text().startswith("1 ")
    assert page.locator("#sum-added").inner_text().startswith("1 ")
    paths = {r.get_attribute("data-path"): r for r in page.locator("tr.change-row").all()}
    assert set(paths) == {"extra.txt", "images/cat_0.png", "images/cat_5.png"}
    paths["images/cat_0.png"].get_by_role("link", name="after").click()
    assert page.evaluate("img => img.naturalWidth", page.get_by_alt_text("thumbnail of images/cat_0.png")
                         .element_handle()) == 64
    page.go_back()
    page.locator("tr.change-row", has_text="cat_0.png").get_by_role("link", name="before").click()
    page.get_by_alt_text("thumbnail of images/cat_0.png").wait_for()
    assert page.evaluate("img => img.naturalWidth", page.get_by_alt_text("thumbnail of images/cat_0.png")
                         .element_handle()) == 40
    shot(page, site, "08-compare-preview")

    page.goto(f"/versions/{site.versions['v2']}/lineage")
    expect(page.locator("svg.lineage a")).to_have_count(3)  # parent, itself, its child
    shot(page, site, "09-lineage")
    page.locator(f'svg.lineage a[href="/versions/{site.versions["v3"]}"]').click()
    page.wait_for_url(f"**/versions/{site.versions['v3']}")


def test_log_in_and_out(page: Any, site: Site) -> None:
    page.goto("/")
    assert "/login" in page.url  # no session: the login page
    page.get_by_label("Token").fill("sat_nobody_wrong")
    page.get_by_role("button", name="Log in").click()
    assert "unknown, expired or revoked" in page.get_by_role("alert").inner_text()
    shot(page, site, "10-login-refused")
    login(page, site)
    cookie = next(c for c in page.context.cookies() if c["name"] == "satchel_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # scripts cannot read the session
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login?**")
    page.goto(f"/versions/{site.versions['v1']}")
    assert "/login" in page.url and "next=" in page.url
    login_then = page.url
    page.get_by_label("Token").fill(site.token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**/versions/{site.versions['v1']}")  # back where it was going
    assert login_then


def test_a_change_through_the_ui_is_seen_through_the_api(page: Any, site: Site) -> None:
    login(page, site)
    page.goto(f"/versions/{site.versions['v3']}")
    page.get_by_label("Description", exact=True).fill("checked by hand")
    page.get_by_label("Tags (comma-separated)").fill("reviewed, gold")
    page.get_by_role("button", name="Save").click()
    assert page.get_by_role("status").inner_text() == "saved"
    found = Dataset.get(dataset_id=site.versions["v3"])
    assert found.tags == ["reviewed", "gold"]
    assert site.twin(f"/api/v1/versions/{site.versions['v3']}")["description"] == "checked by hand"

    page.get_by_role("button", name="Publish").click()
    assert site.twin(f"/api/v1/versions/{site.versions['v3']}")["status"] == "published"
    page.get_by_role("button", name="Archive").click()
    assert site.twin(f"/api/v1/versions/{site.versions['v3']}")["archived"] is True
    page.get_by_role("button", name="Unarchive").click()
    assert site.twin(f"/api/v1/versions/{site.versions['v3']}")["archived"] is False
    shot(page, site, "11-version-managed")

    page.goto("/dataset?project=vision%2Fpets&name=dogs")
    page.get_by_text("Rename or move this dataset").click()
    page.get_by_label("Project").fill("vision/animals")
    page.get_by_label("Name").fill("hounds")
    page.get_by_role("button", name="Rename / move all").click()
    assert page.get_by_role("status").inner_text() == "renamed"
    moved = Dataset.get(dataset_id=site.versions["dogs"])
    assert (moved.project, moved.name) == ("vision/animals", "hounds")
    assert Dataset.get(dataset_id=site.versions["dogs"]).get_local_copy()  # its content moved along


def test_delete_asks_first_says_what_it_frees_and_refuses_a_parent(page: Any, site: Site) -> None:
    login(page, site)
    page.goto(f"/versions/{site.versions['v2']}/delete")
    assert "Other versions use this version as a parent" in page.get_by_role("alert").inner_text()
    assert page.get_by_role("button", name="Delete this version").count() == 0

    page.goto(f"/versions/{site.versions['v3']}")
    page.get_by_role("link", name="Delete…").click()
    plan = site.twin(f"/api/v1/browse/versions/{site.versions['v3']}/delete-plan")
    assert plan["frees_bytes"] == 0  # v3's one file is stored by v2 already (content-addressed)
    shot(page, site, "12-delete-confirm")
    page.get_by_role("button", name="Delete this version").click()
    assert "deleted" in page.get_by_role("status").inner_text()
    with pytest.raises(ValueError, match="no dataset version"):
        Dataset.get(dataset_id=site.versions["v3"])
    assert Dataset.get(dataset_id=site.versions["v2"]).list_files()  # its parent is intact
