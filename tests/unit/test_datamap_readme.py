"""The README's data map is the one `inkbridge datamap` generates from the example
configuration, so the two cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from inkbridge.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "inkbridge.toml"
# The example's secret references only need to be set to be checked; nothing is built.
SECRETS = {
    name: "unused" for name in re.findall(r'"env:([A-Z_]+)"', EXAMPLE.read_text(encoding="utf-8"))
}


def _readme_map() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- datamap:begin -->\n(.*?)<!-- datamap:end -->", readme, re.S)
    assert found, "README.md has no generated data map between its markers"
    return found.group(1)


def test_the_readme_data_map_is_the_generated_map_of_the_example_configuration() -> None:
    result = CliRunner(env=SECRETS).invoke(
        main, ["datamap", "--config", str(EXAMPLE), "--format", "markdown"]
    )

    assert result.exit_code == 0, result.output
    assert _readme_map() == result.output, (
        "regenerate it: inkbridge datamap --config examples/inkbridge.toml --format markdown"
    )
