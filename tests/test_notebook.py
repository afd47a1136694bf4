"""``notebooks/coverage.ipynb`` runs top to bottom on the demo city, as a planner runs it."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "coverage.ipynb"


def _text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
    return "".join(parts)


def test_the_coverage_notebook_runs_top_to_bottom(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    assert not any(c.get("outputs") for c in notebook.cells if c.cell_type == "code"), (
        "commit the notebook without outputs: the suite executes it"
    )
    monkeypatch.setenv("COVERAGE_NOTEBOOK_DIR", str(tmp_path))  # the kernel inherits it
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        # Run from the project root, so `import gaps` is the project's own.
        resources={"metadata": {"path": str(ROOT)}},
    )
    try:
        client.execute()  # raises CellExecutionError, with the cell and traceback, on failure
    except Exception as exc:  # pragma: no cover - the message is the point
        pytest.fail(f"{NOTEBOOK.name} failed:\n{exc}")
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "every code cell ran"
    printed = "\n".join(_text(c) for c in code)
    assert "gap cells of" in printed and "均匀分配 / uniform" in printed
    assert "report:" in printed and "白云区" not in notebook_source(notebook)
    figures = [o for c in code for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert figures, "the gaps map is drawn"
    # No district named in the notebook: the first of the layer by code (荔湾区, 440103).
    report = (tmp_path / "report-elderly_care.html").read_text(encoding="utf-8")
    assert "荔湾区养老服务覆盖缺口报告" in report and "<script src=" not in report
    assert (tmp_path / "荔湾区-elderly_care.xlsx").exists()


def notebook_source(notebook: nbformat.NotebookNode) -> str:
    return "\n".join(c.source for c in notebook.cells)
