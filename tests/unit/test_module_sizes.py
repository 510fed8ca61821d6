"""No Python module over 400 lines (the house style: split past ~350), in the product, its
tests, its benchmarks, the vendor emulators and the scripts."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("src", "tests", "bench", "emulators/src", "scripts")
MAX_LINES = 400


def oversized(root: Path, folders: tuple[str, ...] = CHECKED) -> dict[str, int]:
    """Every ``.py`` file under ``folders`` of ``root`` longer than MAX_LINES: path -> lines."""
    found: dict[str, int] = {}
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                found[path.relative_to(root).as_posix()] = lines
    return found


def test_no_module_is_over_400_lines() -> None:
    assert oversized(ROOT) == {}, "split these modules by behaviour (at most ~350 lines each)"


def test_the_checked_folders_hold_the_modules_they_should() -> None:
    # A wrong root or a renamed folder would make the size check pass over nothing.
    for folder, module in (
        ("src", "inkbridge/bootstrap.py"),
        ("tests", "unit/test_module_sizes.py"),
        ("bench", "ingest.py"),
        ("emulators/src", "inkbridge_emulators/hubspot.py"),
    ):
        assert (ROOT / folder / module).is_file(), f"{folder}/{module}"


def test_a_module_over_400_lines_is_named_with_its_length(tmp_path: Path) -> None:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "bench").mkdir()
    (tmp_path / "src" / "pkg" / "long.py").write_text("x = 1\n" * 401)
    (tmp_path / "src" / "pkg" / "at_the_limit.py").write_text("x = 1\n" * 400)
    (tmp_path / "bench" / "notes.txt").write_text("x\n" * 1000)

    assert oversized(tmp_path, ("src", "bench", "scripts")) == {"src/pkg/long.py": 401}
