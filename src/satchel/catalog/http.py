"""The catalog of a satchel server, over its HTTP API: the same :class:`Catalog` contract as the SQL catalog.

Every answer is validated as it enters (see :mod:`satchel.catalog.wire`); errors the server reports arrive as the
same satchel error classes the SQL catalog raises.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from typing import Any

from satchel.catalog.base import Catalog, DraftRow, VersionRecord
from satchel.catalog.wire import record_from_json, record_to_json, row_from_json, row_to_json
from satchel.errors import DatasetNotFoundError, IntegrityError, InvalidArgumentError
from satchel.objects.pathnames import is_valid_id, to_wire
from satchel.storage.api import ApiClient, quote_segment
from satchel.storage.server import namespace_from_url

PAGE = 1000


class HttpCatalog(Catalog):
    """Catalog calls sent to a satchel server."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    @staticmethod
    def _v(version_id: str) -> str:
        if not is_valid_id(version_id):  # no such id can exist: the same answer as the SQL catalog's
            raise DatasetNotFoundError(f"no dataset version with id {version_id!r}; list versions with "
                                       "Dataset.get(...) by project and name", dataset_id=version_id)
        return f"/versions/{quote_segment(version_id)}"

    def create_version(self, record: VersionRecord) -> None:
        self.client.send_json("POST", "/versions", record_to_json(record))

    def get_version(self, version_id: str) -> VersionRecord:
        return _record(self.client.get_json(self._v(version_id)))

    def find_versions(self, *, project: str | None = None, name: str | None = None, version: str | None = None,
                      tags: Sequence[str] | None = None, statuses: Iterable[str] | None = None,
                      include_archived: bool = True) -> list[VersionRecord]:
        params: dict[str, Any] = {"project": project, "name": name, "version": version, "tag": list(tags or []),
                                  "status": None if statuses is None else list(statuses) or [""],
                                  "include_archived": str(include_archived).lower(), "limit": PAGE}
        found: list[VersionRecord] = []
        offset = 0
        while True:
            page = self.client.get_json("/versions", **params, offset=offset)
            found.extend(_record(item) for item in page["items"])
            if page.get("next_offset") is None:
                return found
            offset = int(page["next_offset"])

    def whoami(self) -> dict[str, Any]:
        """The server's record of this client's token (id, name, role, projects, expiry)."""
        return dict(self.client.get_json("/whoami"))

    def server_stores(self) -> list[str]:
        """The server's stores this token may read (``server://...``), whether or not versions still use them."""
        found = []
        for url in self.client.get_json("/stores")["stores"]:
            try:  # only the server's own stores: a listing never sends gc or check anywhere else
                found.append(f"server://{namespace_from_url(str(url))}")
            except InvalidArgumentError:
                continue
        return found

    def children_of(self, version_id: str) -> list[str]:
        return [str(i) for i in self.client.get_json(f"{self._v(version_id)}/children")["ids"]]

    def publish_version(self, version_id: str) -> None:
        self.client.send_json("POST", f"{self._v(version_id)}/publish")

    def rename_dataset(self, project: str, name: str, *, new_project: str, new_name: str) -> int:
        body = {"project": project, "name": name, "new_project": new_project, "new_name": new_name}
        return int(self.client.send_json("POST", "/datasets/rename", body)["moved"])

    def delete_versions(self, version_ids: Sequence[str]) -> None:
        self.client.send_json("POST", "/versions/delete", {"ids": list(version_ids)})

    def replace_manifest(self, version_id: str, *, manifest: str, depth: int, parents: tuple[str, ...]) -> None:
        self.client.send_json("PUT", f"{self._v(version_id)}/manifest",
                              {"manifest": manifest, "depth": depth, "parents": list(parents)})

    def set_metadata(self, version_id: str, name: str, kind: str, content: bytes) -> None:
        self.client.send_json("PUT", f"{self._v(version_id)}/metadata/{quote_segment(name)}",
                              {"kind": kind, "content": base64.b64encode(content).decode()})

    def get_metadata(self, version_id: str, name: str) -> tuple[str, bytes] | None:
        found = self.client.get_json(f"{self._v(version_id)}/metadata/{quote_segment(name)}")
        if found.get("kind") is None:
            return None
        return str(found["kind"]), base64.b64decode(found["content"])

    def list_metadata(self, version_id: str, prefix: str = "") -> list[str]:
        names = self.client.get_json(f"{self._v(version_id)}/metadata", prefix=prefix)["names"]
        return [str(n) for n in names if isinstance(n, str)]

    def set_storage(self, version_id: str, storage_url: str) -> None:
        self.client.send_json("PUT", f"{self._v(version_id)}/storage", {"storage_url": storage_url})

    def update_fields(self, version_id: str, **fields: Any) -> None:
        if "tags" in fields:
            fields["tags"] = list(fields["tags"])
        self.client.send_json("PATCH", self._v(version_id), fields)

    def finalize_version(self, version_id: str, *, manifest: str, storage_url: str, depth: int,
                         stats: dict[str, Any], revision: int | None = None) -> None:
        self.client.send_json("POST", f"{self._v(version_id)}/finalize", {
            "manifest": manifest, "storage_url": storage_url, "depth": depth, "stats": stats, "revision": revision})

    def draft_revision(self, version_id: str) -> int:
        return int(self.client.get_json(f"{self._v(version_id)}/draft/revision")["revision"])

    def change_draft(self, version_id: str, upsert: Iterable[DraftRow], forget: Iterable[str] = ()) -> int:
        body = {"upsert": [row_to_json(r) for r in upsert], "forget": [to_wire(p) for p in forget]}
        return int(self.client.send_json("POST", f"{self._v(version_id)}/draft", body)["revision"])

    def draft_rows(self, version_id: str) -> dict[str, DraftRow]:
        rows = {}
        for item in self.client.get_json(f"{self._v(version_id)}/draft")["rows"]:
            try:
                row = row_from_json(item)
            except InvalidArgumentError as exc:
                raise IntegrityError(f"dataset {version_id}: the server sent a pending change that is invalid "
                                     f"({exc}); it was not used", object_key="", content_hash="",
                                     dataset_id=version_id) from exc
            rows[row.path] = row
        return rows


def _record(data: Any) -> VersionRecord:
    try:
        return record_from_json(data)
    except InvalidArgumentError as exc:
        raise IntegrityError(f"the satchel server sent an invalid version record ({exc}); it was not used",
                             object_key="", content_hash="") from exc
