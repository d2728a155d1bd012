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
    (["verify"], "verify.md"), (["log"], "log.md"), (["extract"], "extract.md"), (["tables"], "tables.md"),
    (["query"], "query.md"), (["exhibit"], "exhibit.md"), (["plugins", "list"], "plugins.md"), (["plugins", "new"], "plugins.md"),
    (["sample", "generate"], "sample.md"), (["demo"], "demo.md"),
])
def test_every_option_of_a_command_is_on_its_page(command: list[str], page: str) -> None:
    text = (DOCS / "commands" / page).read_text(encoding="utf-8")
    options = set(re.findall(r"(--[a-z][a-z-]+)", run(*command, "--help").stdout)) - {"--help"}
    missing = sorted(option for option in options if option not in text)
    assert not missing, f"{page} does not mention {missing}"


GENERATED_START = "<!-- generated: forensics.canonical.reference_markdown -->"
GENERATED_END = "<!-- end generated -->"


def _with_reference(page: str) -> str:
    """The page with the text between its markers replaced by what the declaration gives now."""
    from forensics.canonical import reference_markdown

    before, start, rest = page.partition(GENERATED_START)
    _, end, after = rest.partition(GENERATED_END)
    assert start and end, f"docs/canonical-tables.md lacks the markers {GENERATED_START} ... {GENERATED_END}"
    return f"{before}{GENERATED_START}\n\n{reference_markdown()}\n{GENERATED_END}{after}"


def test_the_canonical_tables_page_is_the_declaration() -> None:
    path = DOCS / "canonical-tables.md"
    page = path.read_text(encoding="utf-8")
    assert page == _with_reference(page), (
        "docs/canonical-tables.md differs from forensics.canonical (TABLES, DERIVED, PROVENANCE); "
        "rewrite it with: .venv/bin/python tests/test_docs.py --write-canonical")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write-canonical"]:
        target = DOCS / "canonical-tables.md"
        target.write_text(_with_reference(target.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"wrote {target}")
