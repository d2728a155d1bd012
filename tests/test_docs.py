"""The examiner's guide stays true to the code it describes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import run

from forensics.catalogue import COLUMNS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_catalogue_column_is_documented() -> None:
    page = (DOCS / "catalogue.md").read_text(encoding="utf-8")
    documented = re.findall(r"^\|\s*`([a-z_0-9]+)`", page, flags=re.MULTILINE)
    assert documented == list(COLUMNS)


@pytest.mark.parametrize("command,page", [
    (["case", "init"], "case-init.md"), (["ingest"], "ingest.md"), (["catalogue"], "catalogue.md"),
    (["verify"], "verify.md"), (["log"], "log.md"),
])
def test_every_option_of_a_command_is_on_its_page(command: list[str], page: str) -> None:
    text = (DOCS / "commands" / page).read_text(encoding="utf-8")
    options = set(re.findall(r"(--[a-z][a-z-]+)", run(*command, "--help").stdout)) - {"--help"}
    missing = sorted(option for option in options if option not in text)
    assert not missing, f"{page} does not mention {missing}"
