"""The product package never imports the vendor emulators: they depend on inkbridge (for the
sandbox's fault vocabulary and signing page), never the reverse."""

from __future__ import annotations

import ast
from pathlib import Path

import inkbridge

PRODUCT = Path(inkbridge.__file__).parent


def imported_modules(source: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names.add(node.module)
    return names


def test_no_product_module_imports_the_emulators() -> None:
    offenders = {
        str(path.relative_to(PRODUCT)): sorted(
            name
            for name in imported_modules(path)
            if name.split(".")[0] == "inkbridge_emulators" or name.startswith("inkbridge.emulators")
        )
        for path in PRODUCT.rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_no_product_module_names_the_emulators_package() -> None:
    # Catches importlib and string module paths as well as imports.
    mentions = [
        str(path.relative_to(PRODUCT))
        for path in PRODUCT.rglob("*.py")
        if "inkbridge_emulators" in path.read_text(encoding="utf-8")
    ]
    assert mentions == []


def test_the_emulators_are_not_inside_the_product_package() -> None:
    assert not (PRODUCT / "emulators").exists()
    assert sorted(p.name for p in (PRODUCT / "web").glob("sandbox*")) == []
