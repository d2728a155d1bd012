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


# The worked example's dump (docs/plugins.md): its rows, lines and byte offsets are those the guide shows.
_CALLMASK_CLIENTS = [
    "(101,'shadow','shadow@example.org','07700 900123','2023-03-12 14:05:00','2023-10-29 01:30:00','203.0.113.7',1)",
    "(102,'nightowl',NULL,'+44 7700 900456','2023-03-26 01:30:00','2023-11-02 22:10:00','198.51.100.23',1)",
    "(103,'burner',NULL,'ask admin','2023-04-01 09:00:00',NULL,NULL,0)",
]
_CALLMASK_CREDIT = [
    "(1,101,'1.234,50','EUR',NULL,NULL,'2023-03-12 14:20:00')",
    "(2,101,'0.0025','BTC','bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq',"
    "'6f2a1c9e0b7d4e3f8a5c2b1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f','2023-06-01 12:00:00')",
    "(3,102,'1,234','EUR',NULL,NULL,'2023-07-15 18:45:00')",
]
CALLMASK_DUMP = (
    "-- MariaDB dump callmask\nUSE `callmask`;\n"
    "CREATE TABLE `tbl_clients` (`cid` int NOT NULL, `login` varchar(32), `mail` varchar(64), `mobile` varchar(32), "
    "`signup` datetime, `lastlogin` datetime, `lastip` varchar(45), `flag` tinyint);\n"
    "-- rows of tbl_clients\nINSERT INTO `tbl_clients` VALUES " + ",".join(_CALLMASK_CLIENTS) + ";\n"
    "CREATE TABLE `tbl_credit` (`id` int NOT NULL, `cid` int, `value` varchar(20), `coin` char(3), "
    "`wallet` varchar(64), `txid` char(64), `ts` datetime);\n"
    "-- rows\nINSERT INTO `tbl_credit` VALUES " + ",".join(_CALLMASK_CREDIT) + ";\n"
)


def _console_runs(page: str) -> list[tuple[list[str], str]]:
    """Each `$ forensics ...` command of the page's console blocks, with the lines shown after it."""
    import shlex

    runs: list[tuple[list[str], str]] = []
    for block in re.findall(r"```console\n(.*?)```", page, flags=re.S):
        for command, shown in re.findall(r"^\$ (.*)\n((?:(?!\$ ).*\n)*)", block, flags=re.M):
            if command.startswith("forensics "):
                runs.append((shlex.split(command)[1:], shown))
    return runs


def test_the_plugin_guides_worked_example_prints_what_the_guide_shows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs every command of the worked example in docs/plugins.md on the dump it describes,
    with the plugin and test the guide gives, and compares what each prints with the guide."""
    page = (DOCS / "plugins.md").read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    dump = tmp_path / "seized" / "var" / "backups" / "callmask.sql"
    dump.parent.mkdir(parents=True)
    dump.write_text(CALLMASK_DUMP, encoding="utf-8")
    assert (len(CALLMASK_DUMP), CALLMASK_DUMP.index("(101"), CALLMASK_DUMP.index("(3,102")) == (1026, 288, 971)
    python = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    plugin = next(code for code in python if code.startswith('"""CallMask') and "def extract" in code
                  and "..." not in code)
    test = next(code for code in python if code.startswith('"""Tests of the callmask plugin'))
    broken = tmp_path / "broken" / "typo.py"
    broken.parent.mkdir()
    broken.write_text(plugin.replace('NAME = "callmask"', 'NAME = "typo"').replace(
        'PRODUCES = ("accounts", "payments")', 'PRODUCES = ("accounts",)').replace(
        "ACCEPTS = Accepts(tables=(\"tbl_clients\", \"tbl_credit\"), columns={\"cid\"})",
        "ACCEPTS = Accepts(tables=(\"tbl_clients\",), columns={\"cid\"})").replace(
        "username=pl.col(\"login\")", "user_name=pl.col(\"login\")"), encoding="utf-8")
    compared = 0
    for args, shown in _console_runs(page.partition("## A worked example")[2].partition("## The recogniser")[0]
                                     + page.partition("**Failures are isolated.**")[2].partition("```\n\n")[0]
                                     + "```\n"):
        if args[:2] == ["plugins", "new"]:
            run(*args)
            (tmp_path / "my-plugins" / "callmask.py").write_text(plugin, encoding="utf-8")
            (tmp_path / "my-plugins" / "test_callmask.py").write_text(test, encoding="utf-8")
            continue
        result = run(*args, expect=None)
        printed = result.stderr + result.stdout
        if args[:2] == ["plugins", "list"]:
            printed = printed.replace(str(Path(__file__).resolve().parents[1]), "/work/main")
        assert printed == shown, f"forensics {' '.join(args)} prints:\n{printed}\nthe guide shows:\n{shown}"
        compared += 1
    assert compared >= 10
    import subprocess
    import sys

    tested = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "my-plugins/test_callmask.py"],
                            capture_output=True, text=True, check=False)
    assert tested.returncode == 0, tested.stdout + tested.stderr  # the guide's test of its plugin passes


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write-canonical"]:
        target = DOCS / "canonical-tables.md"
        target.write_text(_with_reference(target.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"wrote {target}")
