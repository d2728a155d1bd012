"""Extraction plugins: discovery, running them into the canonical tables, isolating failures; query."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from conftest import run, sha256, write

from forensics.canonical import TABLES, schema

ROOT = Path(__file__).resolve().parent.parent


def test_extract_fills_the_canonical_tables_with_provenance(sample_case: Path) -> None:
    result = run("extract", sample_case)
    # sample-spoofcall, asterisk-cdr, and the recogniser (generic), which looked at sessions and did not map it
    assert "3 plugins ran: accounts 2, payments 2, calls 3, victims 3, account_summary 4" in result.stdout
    assert "recogniser: 0 tables mapped, 1 not sure enough to map; review tables/recognised-mapping.toml" in result.stdout
    calls = pl.read_parquet(sample_case / "tables" / "calls.parquet")
    assert calls.schema == schema("calls")
    assert calls.height == 3
    first = calls.row(0, named=True)
    assert first["caller_id_raw"] == "+442079460000" and first["caller_id_e164"] == "+442079460000"
    assert first["destination_e164"] == "+447700900123"
    assert str(first["started_at"]) == "2022-05-17 09:00:00+00:00"  # 10:00 in London in May is 09:00 UTC
    assert (first["duration_s"], first["billed_s"], first["disposition"]) == (70, 65, "ANSWERED")
    assert first["_source_path"] == "var/log/asterisk/cdr-csv/Master.csv"
    assert first["_source_table"] == "Master" and first["_source_locator"] == "line 1"
    assert first["_extractor"] == "asterisk-cdr@1.0"
    payments = pl.read_parquet(sample_case / "tables" / "payments.parquet")
    assert payments["crypto_address"].to_list() == ["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", None]
    from decimal import Decimal

    assert payments["amount"].to_list() == [Decimal("50"), Decimal("25")]
    assert payments["method"].to_list() == ["bitcoin", None]
    assert payments["_source_locator"][0].startswith("line ")
    accounts = pl.read_parquet(sample_case / "tables" / "accounts.parquet")
    assert accounts.select("account_id", "username").rows() == [("1", "shadow"), ("2", "o'brien")]

    listed = {t["name"]: t for t in json.loads(run("tables", sample_case, "--json").stdout)}
    assert listed["calls"]["kind"] == "canonical" and listed["calls"]["rows"] == 3

    entry = json.loads((sample_case / "audit.jsonl").read_text().splitlines()[-1])
    outputs = {o["path"]: o["sha256"] for o in entry["outputs"]}
    assert outputs["tables/calls.parquet"] == sha256((sample_case / "tables" / "calls.parquet").read_bytes())
    run("verify", sample_case)

    before = {name: (sample_case / "tables" / f"{name}.parquet").read_bytes() for name in TABLES}
    run("extract", sample_case)
    assert {name: (sample_case / "tables" / f"{name}.parquet").read_bytes() for name in TABLES} == before


BROKEN_PLUGINS = {
    "raises.py": '''"""Raises."""
from forensics.plugin import Accepts
NAME, VERSION, PRODUCES = "raises", "0.1", ("calls",)
ACCEPTS = Accepts(columns={"src"})
def extract(table, context):
    raise RuntimeError("boom")
''',
    "typo.py": '''"""Returns a column that is not canonical."""
import polars as pl
from forensics.plugin import Accepts
NAME, VERSION, PRODUCES = "typo", "0.1", ("calls",)
ACCEPTS = Accepts(columns={"src"})
def extract(table, context):
    return {"calls": table.select(destination=pl.col("dst"))}
''',
    "undeclared.py": '''"""Returns a table it did not declare."""
from forensics.plugin import Accepts
NAME, VERSION, PRODUCES = "undeclared", "0.1", ("calls",)
ACCEPTS = Accepts(columns={"src"})
def extract(table, context):
    return {"payments": table.select()}
''',
    "incomplete.py": '''"""No ACCEPTS."""
NAME, VERSION, PRODUCES = "incomplete", "0.1", ("calls",)
def extract(table, context):
    return {}
''',
    "syntax.py": "def broken(:\n",
}


def test_a_failing_plugin_is_recorded_and_the_others_go_on(sample_case: Path, tmp_path: Path) -> None:
    folder = tmp_path / "my-plugins"
    for name, text in BROKEN_PLUGINS.items():
        write(folder / name, text)
    listed = run("plugins", "list", "--plugins-dir", folder, "--json", expect=3)
    found = json.loads(listed.stdout)
    assert {p["name"] for p in found["plugins"]} >= {"asterisk-cdr", "raises", "typo", "undeclared"}
    failed = {Path(f["origin"]).name: f["error"] for f in found["failed"]}
    assert "missing ACCEPTS" in failed["incomplete.py"] and "SyntaxError" in failed["syntax.py"]

    result = run("extract", sample_case, "--plugins-dir", folder, expect=3)
    assert "raises@0.1 on var/log/asterisk/cdr-csv/Master.csv table Master: RuntimeError: boom" in result.stderr
    assert "columns not in the canonical calls table: destination" in result.stderr
    assert "returned table 'payments', which PRODUCES does not declare" in result.stderr
    assert pl.read_parquet(sample_case / "tables" / "calls.parquet").height == 3  # asterisk-cdr still ran
    entry = json.loads((sample_case / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["outcome"] == "problems"
    assert any("boom" in f for f in entry["details"]["extraction"]["failures"])


def test_only_runs_the_named_plugins(sample_case: Path) -> None:
    run("extract", sample_case, "--only", "asterisk-cdr")
    assert pl.read_parquet(sample_case / "tables" / "calls.parquet").height == 3
    assert pl.read_parquet(sample_case / "tables" / "payments.parquet").height == 0
    before = (sample_case / "tables" / "calls.parquet").read_bytes()
    result = run("extract", sample_case, "--only", "nonesuch", expect=1)
    assert "--only: no plugin named nonesuch" in result.stderr
    assert (sample_case / "tables" / "calls.parquet").read_bytes() == before  # a typo empties nothing


def test_query_over_canonical_and_raw_tables(sample_case: Path) -> None:
    run("extract", sample_case)
    out = run("query", sample_case, "SELECT destination_e164, count(*) AS n FROM calls GROUP BY 1 ORDER BY 1",
              "--format", "json").stdout
    assert json.loads(out) == [{"destination_e164": "+15555550199", "n": 1},
                               {"destination_e164": "+447700900123", "n": 1},
                               {"destination_e164": "+447700900456", "n": 1}]
    csv = run("query", sample_case, "SELECT username FROM users ORDER BY id", "--format", "csv").stdout
    assert csv == "username\nshadow\no'brien\n"
    bad = run("query", sample_case, "SELECT nope FROM calls", expect=1)
    assert bad.stderr.startswith("forensics: error: query failed")


def test_every_registered_plugin_keeps_the_contract() -> None:
    from forensics.plugins import discover, try_plugin

    found = discover()
    assert found.failed == []
    assert {p.name for p in found.plugins} >= {"asterisk-cdr", "sample-spoofcall"}
    for plugin in found.plugins:
        assert plugin.description, f"{plugin.name}: no docstring"
        assert plugin.produces, f"{plugin.name}: PRODUCES is empty"
        example = getattr(plugin.module, "EXAMPLE", None)
        assert example, f"{plugin.name}: no EXAMPLE raw table"
        tables = try_plugin(plugin, example["columns"], example["table"], example.get("source_path", "example"))
        assert tables and set(tables) <= set(plugin.produces), plugin.name
        for name, frame in tables.items():
            assert frame.schema == schema(name), f"{plugin.name}: {name}"
            assert frame.height >= 1 and frame["_extractor"][0] == plugin.extractor


def test_try_plugin_runs_an_examiners_file_in_a_few_lines(tmp_path: Path) -> None:
    from forensics.plugins import try_plugin

    path = write(tmp_path / "spoofer.py", '''"""The spoofer's users."""
import polars as pl
from forensics.plugin import Accepts
NAME, VERSION, PRODUCES = "spoofer", "0.1", ("accounts",)
ACCEPTS = Accepts(tables=("members",), columns={"login"})
def extract(table, context):
    return {"accounts": table.select(account_id=pl.col("uid"), username=pl.col("login"),
                                     phone_raw=pl.col("tel"), phone_e164=context.phone(pl.col("tel")))}
''')
    tables = try_plugin(path, {"uid": ["7"], "login": ["shadow"], "tel": ["020 7946 0000"]}, table="members",
                        context=__import__("forensics.plugin", fromlist=["Context"]).Context(region="GB"))
    row = tables["accounts"].row(0, named=True)
    assert (row["account_id"], row["username"], row["phone_e164"]) == ("7", "shadow", "+442079460000")
    assert row["_source_locator"] == "line 1" and row["_extractor"] == "spoofer@0.1"
    with pytest.raises(ValueError, match="does not accept"):
        try_plugin(path, {"uid": ["7"]}, table="members")


def test_plugins_new_writes_a_plugin_and_a_test_that_pass_as_written(tmp_path: Path) -> None:
    import subprocess
    import sys

    folder = tmp_path / "my-plugins"
    assert "wrote" in run("plugins", "new", "spoofer-db", "--dir", folder).stdout
    assert (folder / "spoofer_db.py").exists() and (folder / "test_spoofer_db.py").exists()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(folder / "test_spoofer_db.py")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    listed = json.loads(run("plugins", "list", "--plugins-dir", folder, "--json").stdout)
    assert "spoofer-db" in {p["name"] for p in listed["plugins"]}
    assert "already exists" in run("plugins", "new", "spoofer-db", "--dir", folder, expect=1).stderr
    assert "plugin name" in run("plugins", "new", "Bad Name", "--dir", folder, expect=1).stderr


def test_victims_and_account_summary(tmp_path: Path) -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    from forensics.derived import account_summary, victims

    def at(hour: int) -> datetime:
        return datetime(2024, 3, 1, hour, tzinfo=UTC)

    calls = pl.DataFrame({
        "account_id": ["a", "a", "b", "b", None],
        "destination_raw": ["07700 900123", "07700 900123", "07700 900123", "555", "999"],
        "destination_e164": ["+447700900123", "+447700900123", "+447700900123", None, None],
        "started_at": [at(9), at(10), at(11), at(12), at(13)],
        "duration_s": [70, 5, 30, 10, 1], "billed_s": [65, 0, 25, 0, 0],
        "disposition": ["ANSWERED", "NO ANSWER", "ANSWERED", "BUSY", "FAILED"],
    }, schema_overrides={"started_at": pl.Datetime("us", "UTC")}).lazy()
    table = victims(calls).collect()
    assert table.schema == pl.Schema({c.name: c.dtype for c in __import__("forensics.canonical", fromlist=["DERIVED"]).DERIVED["victims"]})
    first = table.row(0, named=True)
    assert (first["destination_e164"], first["calls"], first["answered_calls"], first["accounts"],
            first["account_ids"]) == ("+447700900123", 3, 2, 2, "a, b")
    assert (first["first_call_at"], first["last_call_at"], first["total_duration_s"]) == (at(9), at(11), 105)
    assert table["destination_e164"].to_list() == ["+447700900123", "555", "999"]  # raw text where not a number

    payments = pl.DataFrame({"account_id": ["a", "a", "a"], "amount": [Decimal("10.5"), Decimal("2"), Decimal("1")],
                             "currency": ["USD", "USD", "EUR"], "paid_at": [at(8), at(14), at(7)]},
                            schema_overrides={"amount": pl.Decimal(38, 18), "paid_at": pl.Datetime("us", "UTC")}).lazy()
    accounts = pl.DataFrame({"account_id": ["a", "c"], "created_at": [at(1), None], "last_seen_at": [None, None]},
                            schema_overrides={"created_at": pl.Datetime("us", "UTC"),
                                              "last_seen_at": pl.Datetime("us", "UTC")}).lazy()
    summary = {r["account_id"]: r for r in account_summary(accounts, payments, calls).collect().iter_rows(named=True)}
    assert (summary["a"]["calls"], summary["a"]["numbers_called"], summary["a"]["payments"]) == (2, 1, 3)
    assert summary["a"]["paid"] == "EUR 1.00; USD 12.50"
    assert (summary["a"]["first_activity_at"], summary["a"]["last_activity_at"]) == (at(1), at(14))
    assert (summary["c"]["calls"], summary["c"]["payments"], summary["c"]["paid"]) == (0, 0, None)
    assert set(summary) == {"a", "b", "c"}


def test_freeswitch_cdr_csv_is_recognised_and_extracted(tmp_path: Path) -> None:
    lines = [
        '"Bank","+442079460000","+447700900123","default","2024-03-01 12:00:00","2024-03-01 12:00:05",'
        '"2024-03-01 12:01:10","70","65","NORMAL_CLEARING","a1b2c3d4-0000-1111-2222-333344445555","","shadow",'
        '"PCMU","PCMU"',
        '"Bank","+442079460000","07700 900456","default","2024-03-01 12:05:00","","2024-03-01 12:05:30","30",'
        '"0","NO_ANSWER","a1b2c3d4-0000-1111-2222-333344445556","","shadow","PCMU","PCMU"',
    ]
    write(tmp_path / "evidence/var/log/freeswitch/cdr-csv/Master.csv", "\n".join(lines) + "\n")
    case = tmp_path / "case"
    run("case", "init", case, "--case-ref", "OP-1", "--examiner", "E", "--timezone", "Europe/London")
    run("ingest", case, tmp_path / "evidence")
    run("extract", case, "--region", "GB")
    calls = pl.read_parquet(case / "tables" / "calls.parquet")
    assert calls.select("call_id", "destination_e164", "billed_s", "disposition", "_extractor").rows() == [
        ("a1b2c3d4-0000-1111-2222-333344445555", "+447700900123", 65, "NORMAL_CLEARING", "freeswitch-cdr@1.0"),
        ("a1b2c3d4-0000-1111-2222-333344445556", "+447700900456", 0, "NO_ANSWER", "freeswitch-cdr@1.0"),
    ]
    assert str(calls["started_at"][0]) == "2024-03-01 12:00:00+00:00"  # GMT in March


def test_values_that_do_not_parse_keep_their_row_and_are_counted(tmp_path: Path) -> None:
    from forensics.plugins import try_plugin

    example = {"src": ["+442079460000", "anonymous"], "dst": ["+447700900123", "n/a"],
               "start": ["2022-05-17 10:00:00", "yesterday"], "duration": ["70", "x"], "billsec": ["65", "0"],
               "disposition": ["ANSWERED", "FAILED"]}
    calls = try_plugin(ROOT / "plugins" / "asterisk_cdr.py", example, "Master", "Master.csv")["calls"]
    assert calls.height == 2  # the row that does not parse is kept
    bad = calls.row(1, named=True)
    assert (bad["destination_raw"], bad["destination_e164"]) == ("n/a", None)
    assert (bad["started_at_text"], bad["started_at"]) == ("yesterday", None)
    from forensics.canonical import unparsed_counts

    assert unparsed_counts("calls", calls.lazy()) == {"caller_id_e164": 1, "destination_e164": 1, "started_at": 1}

    lines = '"a","anonymous","n/a","ctx","","","","","","2022-05-17 10:00:00","2022-05-17 10:00:05","2022-05-17 10:01:10",'
    write(tmp_path / "evidence/Master.csv",
          lines + '70,65,"ANSWERED","DOCUMENTATION"\n' + lines.replace("n/a", "+447700900123") + '70,65,"ANSWERED","DOCUMENTATION"\n')
    case = tmp_path / "case"
    run("case", "init", case, "--case-ref", "OP-1", "--examiner", "E")
    run("ingest", case, tmp_path / "evidence")
    out = run("extract", case).stdout
    assert "values that did not parse, kept as text beside a null: calls.caller_id_e164 2, calls.destination_e164 1" in out
    entry = json.loads((case / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["details"]["extraction"]["runs"][0]["unparsed"] == {"calls": {"caller_id_e164": 2,
                                                                              "destination_e164": 1}}


ENTRY_POINT_PLUGIN = '''"""Call records of the PBX-9000 (an installed plugin)."""
import polars as pl
from forensics.plugin import Accepts
NAME, VERSION, PRODUCES = "pbx9000", "2.1", ("calls",)
ACCEPTS = Accepts(columns={"pbx_from", "pbx_to"})
def extract(table, context):
    return {"calls": table.select(caller_id_raw=pl.col("pbx_from"), destination_raw=pl.col("pbx_to"),
                                  destination_e164=context.phone(pl.col("pbx_to")))}
'''


def test_a_plugin_installed_with_an_entry_point_is_listed_and_runs(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    site = tmp_path / "site"
    write(site / "forensics_pbx9000_test.py", ENTRY_POINT_PLUGIN)
    write(site / "forensics_pbx9000-2.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: forensics-pbx9000\n"
          "Version: 2.1\n")
    write(site / "forensics_pbx9000-2.1.dist-info/entry_points.txt",
          "[forensics.plugins]\npbx9000 = forensics_pbx9000_test\n")
    monkeypatch.syspath_prepend(str(site))
    listed = json.loads(run("plugins", "list", "--json").stdout)
    found = {p["name"]: p for p in listed["plugins"]}
    assert found["pbx9000"]["origin"] == "entry point pbx9000 (forensics_pbx9000_test)"
    assert found["pbx9000"]["version"] == "2.1" and listed["failed"] == []

    write(tmp_path / "evidence/pbx.csv", "pbx_from,pbx_to\n+442079460000,+447700900123\n")
    case = tmp_path / "case"
    run("case", "init", case, "--case-ref", "OP-1", "--examiner", "E")
    run("ingest", case, tmp_path / "evidence")
    run("extract", case, "--only", "pbx9000")
    calls = pl.read_parquet(case / "tables" / "calls.parquet")
    assert calls.select("destination_e164", "_extractor").rows() == [("+447700900123", "pbx9000@2.1")]


def _packages(root: Path) -> set[str]:
    return {".".join(p.parent.relative_to(root).parts) for p in (root / "forensics").rglob("__init__.py")}


def test_an_installed_package_finds_its_built_in_plugins(tmp_path: Path) -> None:
    """The layout a wheel installs: plugins/ as forensics/builtin_plugins/, no plugins/ beside the package."""
    import shutil
    import subprocess
    import sys
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"]["forensics.builtin_plugins"] == "plugins"
    assert set(config["packages"]) == _packages(ROOT) | {"forensics.builtin_plugins"}  # none left out
    site = tmp_path / "site"
    shutil.copytree(ROOT / "forensics", site / "forensics", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "plugins", site / "forensics" / "builtin_plugins")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import json, forensics.plugins as p; "
            "d = p.discover(); print(json.dumps([str(p.BUILTIN_DIR), [x.origin for x in d.plugins], d.failed]))")
    done = subprocess.run([sys.executable, "-c", code, str(site)], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    folder, origins, failed = json.loads(done.stdout)
    assert folder == str(site / "forensics" / "builtin_plugins") and failed == []
    assert {Path(o).name for o in origins} >= {"asterisk_cdr.py", "generic.py", "magnusbilling.py"}
    assert all(o.startswith(folder) for o in origins)


def test_the_wheel_carries_the_built_in_plugins(tmp_path: Path) -> None:
    import importlib.util
    import shutil
    import subprocess
    import sys
    import tomllib
    import zipfile
    from importlib.metadata import version

    backend = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"][0]
    have = version("setuptools") if importlib.util.find_spec("setuptools") else None
    if have is None or int(have.split(".")[0]) < int(backend.split(">=")[1].split(".")[0]):
        pytest.skip(f"build backend unavailable: pyproject needs {backend}, this environment has setuptools "
                    f"{have or 'none'} (pip install '{backend}' to run this test)")
    source = tmp_path / "src"  # a copy: building writes build/ and *.egg-info beside the sources
    shutil.copytree(ROOT / "forensics", source / "forensics", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copytree(ROOT / "plugins", source / "plugins", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    [wheel] = (tmp_path / "dist").glob("forensics-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    plugins = {f"forensics/builtin_plugins/{p.name}" for p in (ROOT / "plugins").iterdir() if p.is_file()}
    assert plugins <= names, plugins - names
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "forensics").rglob("*.py")}
    assert modules <= names, modules - names
    assert any(n.startswith("forensics/_dumpscan") and n.endswith(".so") for n in names)  # the C scanner built
