"""Each package keeps its private names to itself: no module imports a private module or name of another package."""

import ast
import sys
from pathlib import Path

import samptx_hf

PACKAGE_ROOT = Path(samptx_hf.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(module: str, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if node.level == 0:
        return node.module or ""
    base = package.split(".")
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def cross_package_private_imports() -> list[str]:
    found = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        if path.parent.name.startswith("samptx_") and path.parent.parent.name == "metrics":
            continue  # the evaluate module scripts are loaded by evaluate, outside the package
        module = _module_name(path)
        package = _package_of(module, path.name == "__init__.py")
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            source = _absolute(node, package)
            if not source.startswith("samptx_hf"):
                continue
            private_part = next((part for part in source.split(".") if part.startswith("_")), None)
            names = [alias.name for alias in node.names if alias.name.startswith("_")]
            source_package = (
                source if (PACKAGE_ROOT.parent / source.replace(".", "/")).is_dir() else (source.rpartition(".")[0])
            )
            if private_part is not None and not (package + ".").startswith(source.rpartition(".")[0] + "."):
                found.append(f"{module}: from {source} import ... (the private module {private_part})")
            if names and source_package != package:
                found.append(f"{module}: from {source} import {', '.join(names)}")
    return found


def test_no_module_imports_a_private_name_of_another_package():
    assert cross_package_private_imports() == []


def test_the_check_sees_a_private_import(tmp_path, monkeypatch):
    fake_root = tmp_path / "samptx_hf"
    (fake_root / "data").mkdir(parents=True)
    (fake_root / "data" / "_helpers.py").write_text("X = 1\n")
    (fake_root / "inference.py").write_text("from .data._helpers import X\nfrom .data.loaders import _private\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE_ROOT", fake_root)
    assert cross_package_private_imports() == [
        "samptx_hf.inference: from samptx_hf.data._helpers import ... (the private module _helpers)",
        "samptx_hf.inference: from samptx_hf.data.loaders import _private",
    ]


def test_the_package_root_holds_the_public_api_and_subpackages_by_layer():
    modules = sorted(path.name for path in PACKAGE_ROOT.glob("*.py"))
    assert len(modules) <= 5, modules  # __init__ and at most four more; everything else lives in a layer's folder
    for layer in ("modeling", "processing", "inference", "evaluation", "cli", "tuners", "hub", "data", "training"):
        assert (PACKAGE_ROOT / layer / "__init__.py").is_file(), layer
