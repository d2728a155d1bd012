"""Exports of the catalogue: hashdeep known-file list, DFXML and CSV."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl

from forensics import __version__
from forensics.case import Case
from forensics.catalogue import TIME_COLUMNS
from forensics.errors import ForensicsError
from forensics.evidence import evidence_location

FORMATS = ("hashdeep", "dfxml", "csv")
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """Text with characters XML cannot hold shown as \\xNN instead of dropped."""
    return _XML_FORBIDDEN.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else
                              f"\\u{ord(m.group()):04x}", text)


def for_display(rows: pl.DataFrame) -> pl.DataFrame:
    """Rows with bytes as hex and times as ISO 8601 UTC text, for CSV and JSON."""
    return rows.with_columns(
        pl.col("path_bytes").bin.encode("hex"),
        *[pl.col(name).dt.strftime("%Y-%m-%dT%H:%M:%S.%9fZ") for name in TIME_COLUMNS],
    )


def export(case: Case, rows: pl.DataFrame, fmt: str, output: Path) -> tuple[int, list[str]]:
    """Write catalogue rows (current_rows, perhaps filtered) in a format; return rows written and warnings."""
    if fmt not in FORMATS:
        raise ForensicsError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    tmp = output.with_name(output.name + ".tmp")
    if fmt == "hashdeep":
        count, warnings = _hashdeep(case, rows, tmp)
    elif fmt == "dfxml":
        count, warnings = _dfxml(case, rows, tmp)
    else:
        shown = for_display(rows)
        shown.write_csv(tmp)
        count, warnings = shown.height, []
    os.replace(tmp, output)
    return count, warnings


def _hashdeep(case: Case, rows: pl.DataFrame, output: Path) -> tuple[int, list[str]]:
    """hashdeep's known-file format, plain files on disk only (hashdeep cannot see members)."""
    rows = rows.filter(
        (pl.col("depth") == 0) & (pl.col("kind") == "file") & pl.col("sha256").is_not_null()
    )
    warnings: list[str] = []
    count = 0
    with open(output, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as handle:
        handle.write("%%%% HASHDEEP-1.0\n%%%% size,md5,sha1,sha256,filename\n")
        handle.write(f"## Invoked from: forensics {__version__} catalogue {case.path} --export hashdeep\n")
        handle.write(f"## $ forensics catalogue {case.path} --export hashdeep (case {case.case_ref})\n##\n")
        for root, root_kind, path_bytes, size, md5, sha1, sha256 in rows.select(
            "root", "root_kind", "path_bytes", "size", "md5", "sha1", "sha256"
        ).iter_rows():
            name = evidence_location(root, os.fsdecode(path_bytes), root_kind)
            if "\n" in name or "\r" in name:
                warnings.append(f"{name!r}: name holds a line break, which hashdeep's format cannot; left out")
                continue
            handle.write(f"{size},{md5},{sha1},{sha256},{name}\n")
            count += 1
    return count, warnings


def _dfxml(case: Case, rows: pl.DataFrame, output: Path) -> tuple[int, list[str]]:
    """Digital Forensics XML: one fileobject per row."""
    root = ET.Element("dfxml", {"version": "1.2.0", "xmlns": "http://www.forensicswiki.org/wiki/Category:Digital_Forensics_XML"})
    creator = ET.SubElement(root, "creator")
    ET.SubElement(creator, "program").text = "forensics"
    ET.SubElement(creator, "version").text = __version__
    source = ET.SubElement(root, "source")
    ET.SubElement(source, "case_ref").text = xml_safe(case.case_ref)
    shown = for_display(rows)
    for row in shown.iter_rows(named=True):
        obj = ET.SubElement(root, "fileobject")
        name = row["path"] if row["depth"] else evidence_location(row["root"], row["path"], row["root_kind"])
        ET.SubElement(obj, "filename").text = xml_safe(name)
        if row["parent"]:
            ET.SubElement(obj, "parent_object").text = xml_safe(row["parent"])
        if row["label"]:
            ET.SubElement(obj, "label").text = xml_safe(row["label"])
        ET.SubElement(obj, "name_type").text = {"file": "r", "directory": "d", "symlink": "l", "fifo": "p",
                                               "socket": "s", "block-device": "b", "char-device": "c"}.get(
            row["kind"], "-")
        if row["size"] is not None:
            ET.SubElement(obj, "filesize").text = str(row["size"])
        for tag in ("mtime", "ctime", "atime"):
            if row[tag]:
                ET.SubElement(obj, tag).text = row[tag]
        for algorithm in ("md5", "sha1", "sha256"):
            if row[algorithm]:
                ET.SubElement(obj, "hashdigest", {"type": algorithm}).text = row[algorithm]
        if row["mime"]:
            ET.SubElement(obj, "libmagic").text = xml_safe(f"{row['mime']}; {row['description']}")
        if row["error"]:
            ET.SubElement(obj, "error").text = xml_safe(row["error"])
    ET.ElementTree(root).write(output, encoding="utf-8", xml_declaration=True)
    return shown.height, []
