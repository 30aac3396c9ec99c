"""Every Python example in docs/integrations.md runs, in order, as written (embedded and through a server)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_integrations_doc_has_its_examples() -> None:
    assert len(examples()) >= 7


def test_every_example_of_the_integrations_doc_runs(home: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    namespace: dict[str, object] = {"__name__": "docs_example"}
    for number, code in enumerate(examples(), 1):
        try:
            exec(compile(code, f"{DOC.name} example {number}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"example {number} of {DOC.name} failed: {exc!r}\n{code}") from exc
