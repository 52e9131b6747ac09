"""The documentation stays true: its Python examples run, its flag table matches train.py, and it builds."""

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SKIP_MARKER = "<!-- skip-test"  # before a block that needs the network, real weights or data, or is slow
BLOCK = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)```", re.DOTALL)


def python_blocks(page: Path) -> list[tuple[int, str, bool]]:
    """(line, code, skipped) of every ```python block of `page`; skipped when the line before is a skip marker."""
    text = page.read_text()
    blocks = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("code"))
        blocks.append((line, match.group("code"), match.group("before").strip().startswith(SKIP_MARKER)))
    return blocks


PAGES = sorted(page for page in DOCS.rglob("*.md") if any(not skipped for _, _, skipped in python_blocks(page)))


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(DOCS)))
def test_python_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The blocks of one page run in order, in one namespace (later blocks use earlier names), offline."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    namespace: dict = {"__name__": "__docs__"}
    for line, code, skipped in python_blocks(page):
        if skipped:
            continue
        try:
            exec(compile(code, f"{page.relative_to(ROOT)}:{line}", "exec"), namespace)
        except Exception as error:
            raise AssertionError(f"the example at {page.relative_to(ROOT)} line {line} fails: {error!r}") from error


def test_every_page_with_python_has_a_runnable_or_marked_block() -> None:
    # A block is either run or explicitly skipped; the marker must sit on the line right before the fence.
    for page in DOCS.rglob("*.md"):
        text = page.read_text()
        for match in re.finditer(re.escape(SKIP_MARKER), text):
            following = text[match.end() :].split("\n", 2)
            assert len(following) > 1 and following[1].startswith("```"), (
                f"{page.relative_to(ROOT)}: {SKIP_MARKER} must be on the line right before a code fence"
            )


def test_training_flags_table_matches_train_py() -> None:
    """docs/training.md documents every flag of examples/train.py, and no flag that does not exist."""
    from samptx_hf.training import DataArguments, ModelArguments, SamPtxTrainingArguments

    flags = {
        f"--{field.name}"
        for arguments in (ModelArguments, DataArguments, SamPtxTrainingArguments)
        for field in dataclasses.fields(arguments)
        if field.init  # set from the flags, not a flag (e.g. the parsed `layers_to_transform`)
    }
    documented = set(re.findall(r"^\| `(--[a-z0-9_]+)` \|", (DOCS / "training.md").read_text(), re.MULTILINE))
    assert documented == flags, (
        f"undocumented flags: {sorted(flags - documented)}; documented but not flags: {sorted(documented - flags)}"
    )


def test_nav_pages_exist() -> None:
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def pages(nav) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        if isinstance(nav, dict):
            return [page for value in nav.values() for page in pages(value)]
        return [page for item in nav for page in pages(item)]

    missing = [page for page in pages(config["nav"]) if not (DOCS / page).is_file()]
    assert not missing, f"mkdocs.yml nav names pages that do not exist: {missing}"


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    command = [mkdocs] if mkdocs else [sys.executable, "-m", "mkdocs"]
    result = subprocess.run(
        [*command, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
