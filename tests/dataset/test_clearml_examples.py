"""The flows of ClearML's published dataset examples (its repository's examples/datasets), written anew here
on small generated data, with only the import changed: `from satchel import Dataset`. Downloads that the
examples make with ClearML's StorageManager are replaced by generated folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas

from satchel import Dataset
from tests.conftest import read_tree, write_tree


def mnist_like(root: Path) -> tuple[Path, Path]:
    write_tree(root, {f"TRAIN/{d}/img{i}.png": f"train {d} {i}" for d in range(3) for i in range(4)})
    write_tree(root, {f"TEST/{d}/img{i}.png": f"test {d} {i}" for d in range(3) for i in range(2)})
    return root / "TRAIN", root / "TEST"


def test_dataset_creation_and_ingestion(home: Path, tmp_path: Path) -> None:
    source = write_tree(tmp_path / "cifar", {"data_batch_1": b"\x00" * 3000, "batches.meta": b"meta"})
    dataset = Dataset.create(dataset_name="cifar_dataset", dataset_project="dataset_examples")
    dataset.add_files(path=source)
    dataset.upload()
    dataset.finalize()
    dataset_path = Dataset.get(dataset_name="cifar_dataset", dataset_project="dataset_examples",
                               only_completed=False).get_local_copy()
    assert read_tree(Path(dataset_path)) == read_tree(source)


def test_csv_dataset_creation(home: Path, tmp_path: Path) -> None:
    csv_file_path = tmp_path / "Iris_Species.csv"
    csv_file_path.write_text("Id,SepalLengthCm,Species\n1,5.1,Iris-setosa\n2,4.9,Iris-setosa\n")
    simple_dataset = Dataset.create(dataset_project="dataset_examples", dataset_name="CSV_Dataset")
    simple_dataset.add_files(path=csv_file_path)
    simple_dataset.upload()
    simple_dataset.finalize()
    copy = Path(Dataset.get(dataset_project="dataset_examples", dataset_name="CSV_Dataset").get_local_copy())
    assert pandas.read_csv(copy / "Iris_Species.csv")["Species"].tolist() == ["Iris-setosa", "Iris-setosa"]


def test_dataset_folder_syncing(home: Path, tmp_path: Path) -> None:
    mnist_dataset_train, _ = mnist_like(tmp_path / "MNIST")
    mnist_path = tmp_path / "MNIST_sync"
    mnist_path.mkdir()
    mnist_dataset = Dataset.create(dataset_project="dataset_examples",
                                   dataset_name="MNIST Complete Dataset (Syncing Example)")
    shutil.copytree(mnist_dataset_train, mnist_path / "TRAIN")
    mnist_dataset.sync_folder(mnist_path)
    mnist_dataset.upload()
    shutil.copytree(mnist_dataset_train, mnist_path / "TEST")  # as the example does: TRAIN images again
    mnist_dataset.sync_folder(mnist_path)
    mnist_dataset.upload()
    mnist_dataset.finalize()
    assert read_tree(Path(mnist_dataset.get_local_copy())) == read_tree(mnist_path)
    assert mnist_dataset.get_num_chunks() == 1  # the same bytes under TEST/ are stored once


def test_single_parent_child_dataset(home: Path, tmp_path: Path) -> None:
    mnist_dataset_train, mnist_dataset_test = mnist_like(tmp_path / "MNIST")
    mnist_dataset = Dataset.create(dataset_project="dataset_examples", dataset_name="MNIST Training Dataset")
    mnist_dataset.add_files(path=mnist_dataset_train, dataset_path="TRAIN")
    mnist_dataset.upload()
    mnist_dataset.finalize()
    child_dataset = Dataset.create(dataset_project="dataset_examples", dataset_name="MNIST Complete Dataset",
                                   parent_datasets=[mnist_dataset.id])
    child_dataset.add_files(path=mnist_dataset_test, dataset_path="TEST")
    child_dataset.upload()
    child_dataset.finalize()
    assert read_tree(Path(child_dataset.get_local_copy())) == read_tree(tmp_path / "MNIST")
    assert child_dataset.list_added_files() == sorted(f"TEST/{p}" for p in read_tree(mnist_dataset_test))


def test_multi_parent_child_dataset(home: Path, tmp_path: Path) -> None:
    mnist_dataset_train, mnist_dataset_test = mnist_like(tmp_path / "MNIST")
    train_dataset = Dataset.create(dataset_project="dataset_examples/MNIST", dataset_name="MNIST Training Dataset")
    train_dataset.add_files(path=mnist_dataset_train, dataset_path="TRAIN")
    train_dataset.upload()
    train_dataset.finalize()
    test_dataset = Dataset.create(dataset_project="dataset_examples/MNIST", dataset_name="MNIST Testing Dataset")
    test_dataset.add_files(path=mnist_dataset_test, dataset_path="TEST")
    test_dataset.upload()
    test_dataset.finalize()
    child_dataset = Dataset.create(dataset_project="dataset_examples/MNIST", dataset_name="MNIST Complete Dataset",
                                   parent_datasets=[train_dataset.id, test_dataset.id])
    child_dataset.upload()
    child_dataset.finalize()
    assert read_tree(Path(child_dataset.get_local_copy())) == read_tree(tmp_path / "MNIST")
    assert child_dataset.get_dependency_graph() == {child_dataset.id: [train_dataset.id, test_dataset.id],
                                                    train_dataset.id: [], test_dataset.id: []}


def test_urbansounds_style_reports_and_processing(home: Path, tmp_path: Path) -> None:
    audio = write_tree(tmp_path / "audio", {f"fold{i}/s{j}.wav": f"RIFF {i} {j}" for i in range(2) for j in range(3)})
    metadata = pandas.DataFrame({"slice_file_name": ["s0.wav", "s1.wav"], "classID": [3, 7]})
    dataset = Dataset.create(dataset_name="UrbanSounds example", dataset_project="dataset_examples",
                             dataset_tags=["raw"])
    dataset.add_files(audio)
    dataset.get_logger().report_table(title="Raw Dataset Metadata", series="Raw Dataset Metadata",
                                      table_plot=metadata)
    dataset.get_logger().report_histogram(title="Class distribution", series="Class distribution",
                                          values=metadata["classID"], iteration=0, xaxis="X axis label",
                                          yaxis="Y axis label")
    dataset.finalize(auto_upload=True)
    original_dataset = Dataset.get(dataset_project="dataset_examples", dataset_name="UrbanSounds example",
                                   dataset_tags=["raw"], alias="Raw Dataset")
    original_dataset_path = original_dataset.get_mutable_local_copy(tmp_path / "work", overwrite=True)
    preprocessed = Dataset.create(dataset_name="UrbanSounds example", dataset_project="dataset_examples",
                                  dataset_tags=["preprocessed"], parent_datasets=[original_dataset.id])
    (Path(original_dataset_path) / "fold0" / "s0.npy").write_bytes(b"spectrogram")
    wav = Path(original_dataset_path) / "fold0" / "s0.wav"
    preprocessed.get_logger().report_media(title="fold0/s0.wav", series="original_audio", local_path=wav)
    preprocessed.add_files(original_dataset_path)
    preprocessed.finalize(auto_upload=True)
    assert preprocessed.list_added_files() == ["fold0/s0.npy"]
    assert [r["type"] for r in Dataset.get(dataset_id=dataset.id).get_reports()] == ["table", "histogram"]
    assert Dataset.get(dataset_id=preprocessed.id).get_reports()[0]["data"] == wav.read_bytes()
