"""ClearML 2.x's Dataset API as its users call it: positional orders, a string where a list is expected, the
arguments ClearML has and satchel accepts, and ClearML's meanings where they differ from a naive reading."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from satchel import ConflictError, Dataset, DatasetNotFinalizedError
from tests.conftest import make_version, read_tree, write_tree

# ClearML 2.x (clearml/datasets/dataset.py): the public methods' parameters in order, as its users pass them.
CLEARML_PARAMETERS = {
    "create": ["dataset_name", "dataset_project", "dataset_tags", "parent_datasets", "use_current_task",
               "dataset_version", "output_uri", "description"],
    "get": ["dataset_id", "dataset_project", "dataset_name", "dataset_tags", "only_completed", "only_published",
            "include_archived", "auto_create", "writable_copy", "dataset_version", "alias", "overridable",
            "shallow_search", "silence_alias_warnings", "kwargs"],
    "add_files": ["path", "wildcard", "local_base_folder", "dataset_path", "recursive", "verbose", "max_workers"],
    "add_external_files": ["source_url", "wildcard", "dataset_path", "recursive", "verbose", "max_workers",
                           "read_hash"],
    "remove_files": ["dataset_path", "recursive", "verbose"],
    "sync_folder": ["local_path", "dataset_path", "verbose"],
    "upload": ["show_progress", "verbose", "output_url", "compression", "chunk_size", "max_workers", "retries",
               "preview", "upload_as_external_links"],
    "finalize": ["verbose", "raise_on_error", "auto_upload"],
    "publish": ["raise_on_error"],
    "get_local_copy": ["use_soft_links", "part", "num_parts", "raise_on_error", "max_workers", "files"],
    "get_mutable_local_copy": ["target_folder", "overwrite", "part", "num_parts", "raise_on_error", "max_workers"],
    "get_num_chunks": ["include_parents"],
    "squash": ["dataset_name", "dataset_ids", "dataset_project_name_pairs", "output_url", "close_squashed_dataset"],
    "delete": ["dataset_id", "dataset_project", "dataset_name", "force", "dataset_version", "entire_dataset",
               "shallow_search", "delete_files", "delete_external_files"],
    "list_datasets": ["dataset_project", "partial_name", "tags", "ids", "only_completed",
                      "recursive_project_search", "include_archived"],
    "update_changed_files": ["num_files_added", "num_files_modified", "num_files_removed"],
    "verify_dataset_hash": ["local_copy_path", "skip_hash", "verbose"],
    "list_files": ["dataset_path", "recursive", "dataset_id"],
    "set_metadata": ["metadata", "metadata_name", "ui_visible"],
    "rename": ["new_dataset_name", "dataset_project", "dataset_name"],
    "move_to_project": ["new_dataset_project", "dataset_project", "dataset_name"],
    "add_tags": ["tags"],
    "set_description": ["description"],
    "get_metadata": ["metadata_name"],
    "list_added_files": ["dataset_id"],
    "list_modified_files": ["dataset_id"],
    "list_removed_files": ["dataset_id"],
    "set_offline": ["offline_mode"],
    "is_offline": [],
    "get_offline_mode_folder": [],
    "import_offline_session": ["session_folder_zip", "upload", "finalize"],
    "get_logger": [],
    "get_dependency_graph": [],
    "get_default_storage": [],
    "is_dirty": [],
    "is_final": [],
}


@pytest.mark.parametrize("method", sorted(CLEARML_PARAMETERS))
def test_positional_order_is_clearmls(method: str) -> None:
    """Every public method of ClearML 2.x's Dataset (the SDK's inspect.signature, listed above) exists with
    ClearML's parameters in ClearML's order; satchel may add keyword parameters after them."""
    parameters = [p.name for p in inspect.signature(getattr(Dataset, method)).parameters.values() if p.name != "self"]
    assert parameters[: len(CLEARML_PARAMETERS[method])] == CLEARML_PARAMETERS[method]


def test_create_positionally_as_clearml_users_do(home: Path) -> None:
    ds = Dataset.create("n", "p", None, None, False, "2.0.0")
    assert ds.version == "2.0.0"
    tagged = Dataset.create("t", "p", "raw", None, False, None, None, "the description")
    assert tagged.tags == ["raw"] and tagged.version == "1.0.0"
    with pytest.raises(ValueError, match="positional order is ClearML's"):
        Dataset.create("n", "p", None, None, "2.0.0", 3)  # type: ignore[arg-type]


def test_a_string_means_a_one_item_list(home: Path, tmp_path: Path) -> None:
    tagged = make_version(tmp_path / "a", {"a.txt": "a"}, name="tagged", dataset_tags="raw")
    make_version(tmp_path / "b", {"b.txt": "b"}, name="other", dataset_tags=["r", "a", "w"])
    assert Dataset.get(dataset_tags="raw").id == tagged.id
    assert [d["id"] for d in Dataset.list_datasets(tags="raw")] == [tagged.id]
    child = Dataset.create(dataset_name="child", dataset_project="p", parent_datasets=tagged.id)
    assert Dataset.get(dataset_id=child.id)._record.parents == (tagged.id,)


def test_accepted_clearml_arguments(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.txt": "alpha", "b/c.txt": "charlie"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    assert ds.publish(raise_on_error=False) is False
    with pytest.raises(DatasetNotFinalizedError):
        ds.publish()
    ds.upload(upload_as_external_links=False)
    with pytest.raises(ValueError, match="upload_as_external_links"):
        ds.upload(upload_as_external_links=True)
    ds.update_changed_files(num_files_added=2)
    ds.finalize()
    assert ds.publish() is True
    assert Dataset.get(dataset_project="p", dataset_name="ds", silence_alias_warnings=True,
                       some_future_argument=1).id == ds.id
    child = Dataset.create(parent_datasets=[ds])
    write_tree(tmp_path / "more", {"big.bin": b"x" * 20_000_000})
    child.add_files(tmp_path / "more")
    child.finalize(auto_upload=True)
    assert child.get_num_chunks(include_parents=False) == 1
    assert child.get_num_chunks() == child.get_num_chunks(include_parents=True) == 2


def test_the_version_setter_renames_a_version(home: Path, tmp_path: Path) -> None:
    first = make_version(tmp_path / "a", {"a.txt": "a"})
    second = make_version(tmp_path / "b", {"b.txt": "b"}, parents=[first])
    second.version = "2.0.0"
    assert Dataset.get(dataset_id=second.id).version == "2.0.0"
    assert Dataset.get(dataset_project="p", dataset_name="ds").id == second.id
    with pytest.raises(ConflictError, match="taken"):
        second.version = first.version
    assert Dataset.get(dataset_id=second.id).version == "2.0.0"


def test_a_leading_slash_is_the_dataset_root(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.txt": "alpha"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src", dataset_path="/images")
    ds.add_files(tmp_path / "src", dataset_path="/")
    assert ds.list_files() == ["a.txt", "images/a.txt"]
    assert ds.list_files(dataset_path="/images") == ["images/a.txt"]
    assert ds.remove_files("/images/*") == 1
    assert ds.list_files() == ["a.txt"]


def test_remove_files_matches_link_urls(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "remote/raw", {"x.jpg": "x", "y.jpg": "y", "z.txt": "z"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_external_files((tmp_path / "remote").as_uri(), dataset_path="linked", read_hash=True)
    assert ds.list_files() == ["linked/raw/x.jpg", "linked/raw/y.jpg", "linked/raw/z.txt"]
    assert ds.remove_files((tmp_path / "remote/raw").as_uri() + "/*.jpg") == 2
    assert ds.remove_files((tmp_path / "remote/raw/z.txt").as_uri()) == 1
    assert ds.list_files() == []


def test_a_non_empty_target_is_a_value_error_as_in_clearml(home: Path, tmp_path: Path) -> None:
    ds = make_version(tmp_path / "src", {"a.txt": "a"})
    write_tree(tmp_path / "target", {"mine.txt": "keep"})
    with pytest.raises(ValueError):
        ds.get_mutable_local_copy(tmp_path / "target")
    assert read_tree(tmp_path / "target") == {"mine.txt": b"keep"}


def test_squash_can_leave_the_result_open(home: Path, tmp_path: Path) -> None:
    first = make_version(tmp_path / "a", {"a.txt": "alpha", "gone.txt": "g"})
    second = make_version(tmp_path / "b", {"b.txt": "bravo"}, parents=[first], remove=["gone.txt"])
    open_squash = Dataset.squash("flat", dataset_ids=[first.id, second.id], close_squashed_dataset=False)
    assert not open_squash.is_final() and open_squash.list_files() == ["a.txt", "b.txt"]
    write_tree(tmp_path / "c", {"c.txt": "charlie"})
    open_squash.add_files(tmp_path / "c")
    open_squash.finalize(auto_upload=True)
    assert read_tree(Path(open_squash.get_local_copy())) == {"a.txt": b"alpha", "b.txt": b"bravo", "c.txt": b"charlie"}
    assert Dataset.squash("closed", dataset_ids=[first.id, second.id]).is_final()


def test_delete_external_files_deletes_sources_no_other_version_links(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "remote", {"only.bin": "only here", "shared.bin": "shared"})
    keeper = Dataset.create(dataset_name="keeper", dataset_project="p")
    keeper.add_external_files((tmp_path / "remote/shared.bin").as_uri())
    keeper.finalize()
    doomed = Dataset.create(dataset_name="doomed", dataset_project="p")
    doomed.add_external_files((tmp_path / "remote").as_uri())
    doomed.finalize()
    Dataset.delete(dataset_id=doomed.id, shallow_search=True, delete_external_files=True)
    assert not (tmp_path / "remote/only.bin").exists()
    assert (tmp_path / "remote/shared.bin").read_text() == "shared"
    assert read_tree(Path(Dataset.get(dataset_id=keeper.id).get_local_copy())) == {"shared.bin": b"shared"}


def test_version_strings_as_clearml_accepts_them(home: Path, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    for bad in ["", "   ", "1.0\x01x", "x" * 201]:
        with pytest.raises(ValueError, match="refused"):
            Dataset.create(dataset_name="ds", dataset_project="p", dataset_version=bad)
    nightly = Dataset.create(dataset_name="ds", dataset_project="p", dataset_version=" nightly ")
    assert nightly.version == "nightly" and "not semantic" in caplog.text
    older = make_version(tmp_path / "a", {"a.txt": "a"}, dataset_version="2.0.0")
    newer_but_lower = make_version(tmp_path / "b", {"b.txt": "b"}, dataset_version="1.5.0")
    picked = Dataset.get(dataset_project="p", dataset_name="ds", only_completed=True)
    assert picked.id == older.id  # the highest semantic version, not the newest
    listed = {d["id"]: d["latest"] for d in Dataset.list_datasets(dataset_project="p")}
    assert listed == {older.id: True, newer_but_lower.id: False}  # search agrees with get


def test_non_recursive_link_removal_stays_at_its_level(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "remote", {"top.jpg": "t", "deep/in.jpg": "d"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_external_files((tmp_path / "remote").as_uri())
    base = (tmp_path / "remote").as_uri()
    assert ds.remove_files(f"{base}/*.jpg", recursive=False) == 1  # '*' does not cross '/' in the URL then
    assert ds.list_files() == ["deep/in.jpg"]
    assert ds.remove_files("*.jpg", recursive=False) == 0  # nor in the dataset path
    assert ds.remove_files(f"{base}/*.jpg") == 1  # recursive (the default): it does
    assert ds.list_files() == []


def test_a_refused_image_report_keeps_its_file(home: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + b"0" * (17 << 20))
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    with pytest.raises(ValueError, match="up to"):
        ds.get_logger().report_image("t", "s", local_path=big, delete_after_upload=True)
    assert big.exists()
    small = tmp_path / "small.png"
    small.write_bytes(b"\x89PNG small")
    ds.get_logger().report_image("t", "s", local_path=small, delete_after_upload=True)
    assert not small.exists() and ds.get_reports()[0]["data"] == b"\x89PNG small"
