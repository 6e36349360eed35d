"""README promises: its first two commands and its connector reference stay true."""

from __future__ import annotations

import re
from pathlib import Path

from engine.reference import connector_reference

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_reference_matches_the_config_models() -> None:
    section = re.search(r"<!-- reference:start -->\n(.*)<!-- reference:end -->", README, re.S)
    assert section, "README lost its reference markers"
    assert section.group(1).strip() == connector_reference().strip(), (
        "README's connector reference is stale: paste `plexus schema --markdown` between "
        "the reference markers")


def test_ci_runs_the_readme_test_command() -> None:
    block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert block, "README must start with a shell block"
    lines = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    install, test = lines[0], lines[1]
    assert install.startswith("pip install -e .") and "plexus run" in install
    assert test in (ROOT / ".ci" / "run").read_text()
