"""Dataset.get_logger(): ClearML's reporting methods, stored with the version, read back by API and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy
import pandas
import pytest
from click.testing import CliRunner

from satchel import Dataset
from satchel.cli import commands  # noqa: F401 - registers the commands
from satchel.cli.main import cli
from tests.conftest import make_version

PNG_1x1 = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")  # header only: any bytes do


def test_reports_round_trip_in_order(home: Path, tmp_path: Path) -> None:
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    logger = ds.get_logger()
    logger.report_text("stats computed", print_console=False)
    logger.report_scalar("loss", "train", 0.25, iteration=3)
    frame = pandas.DataFrame({"label": ["cat", "dog"], "count": [3, 4]})
    logger.report_table("labels", "counts", iteration=0, table_plot=frame)
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n")
    logger.report_table("from csv", "rows", csv=tmp_path / "t.csv")
    logger.report_histogram("sizes", "bytes", numpy.array([1, 5, 2]), xlabels=["s", "m", "l"])
    (tmp_path / "img.png").write_bytes(PNG_1x1)
    logger.report_image("sample", "first", iteration=1, local_path=tmp_path / "img.png")
    logger.report_image("pixels", "array", image=numpy.zeros((4, 4, 3), dtype=numpy.uint8))
    logger.report_plotly("curve", "plotly", {"data": [{"x": [1, 2], "y": [3, 4]}], "layout": {}})
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure = pyplot.figure()
    pyplot.plot([1, 2, 3])
    logger.report_matplotlib_figure("plot", "mpl", figure)
    pyplot.close(figure)
    with pytest.raises(ValueError, match="finite"):
        logger.report_scalar("loss", "train", float("nan"), iteration=4)
    reports = Dataset.get(dataset_id=ds.id).get_reports()
    assert [r["type"] for r in reports] == ["text", "scalar", "table", "table", "histogram", "image", "image",
                                            "plotly", "image"]
    assert reports[0]["message"] == "stats computed"
    assert (reports[1]["value"], reports[1]["iteration"]) == (0.25, 3)
    assert reports[2]["columns"] == ["index", "label", "count"] and reports[2]["rows"] == [[0, "cat", 3], [1, "dog", 4]]
    assert reports[3]["columns"] == ["a", "b"] and reports[3]["rows"] == [["1", "2"], ["3", "4"]]
    assert reports[4]["values"] == [1.0, 5.0, 2.0] and reports[4]["xlabels"] == ["s", "m", "l"]
    assert reports[5]["data"] == PNG_1x1 and reports[5]["media_type"] == "image/png"
    assert reports[6]["data"].startswith(b"\x89PNG") and reports[8]["data"].startswith(b"\x89PNG")
    assert reports[7]["figure"]["data"][0]["y"] == [3, 4]


def test_reports_on_a_finalized_version_and_through_the_cli(home: Path, tmp_path: Path) -> None:
    ds = make_version(tmp_path / "src", {"a.txt": "alpha"})
    ds.get_logger().report_scalar("rows", "all", 1, iteration=0)
    ds.get_logger().report_image("pic", "one", local_path=_png(tmp_path))
    result = CliRunner().invoke(cli, ["reports", "--id", ds.id, "--json", "--save-images", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert [r["type"] for r in shown] == ["scalar", "image"]
    assert [p.read_bytes() for p in (tmp_path / "out").iterdir()] == [PNG_1x1]
    human = CliRunner().invoke(cli, ["reports", "--id", ds.id])
    assert "scalar       rows  all = 1.0 @ 0" in human.stdout and "2 report(s)" in human.stdout
    assert ds.get_metadata("metadata") is None  # reports are not the user's metadata


def _png(folder: Path) -> Path:
    path = folder / "p.png"
    path.write_bytes(PNG_1x1)
    return path
