"""A streaming .xlsx writer for evidence sheets: exact, inert and reproducible to the byte.

The sheet XML is made by Polars' vectorised string functions, chunk by chunk, on a
background thread while the main thread deflates the previous chunk into the zip, so
memory stays flat and both cores work. Rules (docs/exhibits.md):

- every text value is an inline string, never a formula; text starting with = + - @,
  a tab or a carriage return also gets Excel's quote-prefix style, so editing the cell
  keeps it text;
- numbers are written as numbers only when Excel holds them exactly (whole numbers
  below 10^15, decimals of at most 15 significant digits, finite floats); anything
  else is text, so no digit is lost;
- datetimes are Excel dates in UTC when exact to the millisecond, else ISO text;
- characters XML forbids are shown escaped (``\\x00``), text Excel would read as its
  own ``_xHHHH_`` escape is kept literal, and a value longer than a cell is cut with
  a visible mark (the caller keeps the full text);
- zip entries have fixed times, attributes and order; nothing depends on the clock.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import queue
import re
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape as xml_escape

import polars as pl

MAX_ROWS = 1_048_576  # rows of a sheet, the header included
MAX_CELL = 32_767  # characters of a cell
MAX_EXACT = 10**15  # whole numbers below this are held exactly by Excel's doubles and shown in full
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
CHUNK_ROWS = 50_000
SHARED_MIN_ROWS = 64  # chunks shorter than this write inline strings only
SHARED_MAX_DISTINCT = 256  # a text column with at most this many distinct values in a chunk (and 4 rows each) is shared
SHARED_MAX_TOTAL = 100_000  # shared strings of a workbook, at most
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
FORBIDDEN_PATTERN = "[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]"
CUT_MARK = "…[CUT: {shown:,} of {total:,} characters shown; full text in {where}]"

STYLE_HEADER, STYLE_DATETIME, STYLE_DATE, STYLE_QUOTED, STYLE_DATETIME_MS, STYLE_WRAP, STYLE_TITLE = 1, 2, 3, 4, 5, 6, 7
STYLE_INTEGER = 8  # number format 0: a whole number shown in full, never as 4.4777E+11
EXCEL_FIRST_DAY, EXCEL_LAST_DAY = date(1900, 3, 1), date(9999, 12, 31)  # Excel's dates are right between these

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def column_letter(index: int) -> str:
    """Excel's letters for a 0-based column index (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


RESERVED_SHEET_NAMES = {"history"}  # Excel keeps it for its own use


def sheet_name(wanted: str, taken: set[str]) -> str:
    """A valid, unused sheet name.

    At most 31 characters (UTF-16 units), none of []:*?/\\ nor a character XML forbids, not
    starting or ending with ', not Excel's reserved History; " (2)" and so on where taken.
    """
    def fit(text: str, room: int) -> str:
        while _excel_units(text) > room:
            text = text[:-1]
        return text.strip("'") or "sheet"

    cleaned = FORBIDDEN.sub("_", re.sub(r"[\[\]:*?/\\]", "_", wanted)).strip("'") or "sheet"
    name, n = fit(cleaned, 31), 1
    lowered = {t.lower() for t in taken} | RESERVED_SHEET_NAMES
    while name.lower() in lowered:
        n += 1
        suffix = f" ({n})"
        name = fit(cleaned, 31 - len(suffix)) + suffix
    taken.add(name)
    return name


def show_forbidden(text: str) -> str:
    """Text with each character XML forbids written as a visible escape (\\x00, \\uffff)."""
    return FORBIDDEN.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 256 else f"\\u{ord(m[0]):04x}", text)


def _excel_units(text: str) -> int:
    """Length as Excel counts it (UTF-16 code units)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _cut(text: str, where: str, total: int) -> str:
    """The text cut to fit a cell, ending with a mark saying how many of the value's total characters are shown."""
    budget = MAX_CELL - _excel_units(CUT_MARK.format(shown=total, total=total, where=where))
    keep, used = 0, 0
    for ch in text:
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > budget:
            break
        keep += 1
    return text[:keep] + CUT_MARK.format(shown=keep, total=total, where=where)


@dataclass(frozen=True)
class SheetColumn:
    """One column of a data sheet: the frame's column, its header and its note."""

    name: str
    header: str
    note: str | None = None


@dataclass
class CutValue:
    """A value longer than a cell: where it was shown cut, and its full text."""

    sheet: str
    cell: str
    column: str
    row: int  # 1-based row of the table (after filtering), not of the sheet
    text: str


@dataclass
class SheetResult:
    """What writing one data sheet did."""

    name: str
    rows: int
    escaped: dict[str, int] = field(default_factory=dict)  # values with characters XML forbids, per column
    cut: list[CutValue] = field(default_factory=list)
    as_text: dict[str, str] = field(default_factory=dict)  # columns written as text, and why


@dataclass
class _Sheet:
    name: str
    part: int
    comments: bool


class XlsxWriter:
    """Writes one workbook: data sheets streamed from Polars frames, plus small text sheets.

    Sheets appear in the workbook in the order given by ``order`` at close (default: the
    order they were written), so a cover can be written last and shown first.
    """

    def __init__(self, handle: IO[bytes], title: str = "", creator: str = "", made_at: str = "",
                 description: str = "", compiled: bool = True) -> None:
        """compiled=False writes the rows with the Polars expressions alone (the reference), not _xlsxrows."""
        self._compiled = _compiled_writer() if compiled else None
        self._zip = zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        self._sheets: list[_Sheet] = []
        self._shared: dict[str, int] = {}  # shared strings: text -> index, in order of first use
        self._props = {"title": title, "creator": creator, "made_at": made_at, "description": description}

    def __enter__(self) -> XlsxWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        """On an error, close the zip quietly (the caller throws the partial file away); else nothing."""
        if kind is not None:
            try:
                self._zip.close()
            except (OSError, ValueError, RuntimeError):
                pass

    # -- zip entries -------------------------------------------------------------------
    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 3
        info.external_attr = 0o100644 << 16
        # zlib level 1: the sheets are large and repetitive, and level 1 keeps deflate off the critical path
        setattr(info, "compress_level" if hasattr(info, "compress_level") else "_compresslevel", 1)
        return info

    def _put(self, name: str, text: str) -> None:
        with self._zip.open(self._info(name), "w") as out:
            out.write(text.encode("utf-8"))

    # -- sheets --------------------------------------------------------------------------
    def text_sheet(self, name: str, rows: list[list[Any]], styles: dict[int, int] | None = None, selected: bool = False,
                   widths: list[float] | None = None) -> str:
        """A small sheet of text and numbers (the cover), every value inert; styles maps row index to a style."""
        part = len(self._sheets) + 1
        lines = [XML_HEAD, f'<worksheet xmlns="{NS_MAIN}" xmlns:r="{NS_REL}">',
                 f'<dimension ref="A1:{column_letter(max([len(r) for r in rows] + [1]) - 1)}{max(len(rows), 1)}"/>']
        if widths:
            lines.append("<cols>" + "".join(
                f'<col min="{i + 1}" max="{i + 1}" width="{w:.1f}" customWidth="1"/>' for i, w in enumerate(widths))
                + "</cols>")
        if selected:  # the sheet the workbook opens on: the only one selected, so no edit goes to two sheets
            lines.append('<sheetViews><sheetView tabSelected="1" workbookViewId="0"/></sheetViews>')
        lines.append("<sheetData>")
        for r, row in enumerate(rows, start=1):
            style = (styles or {}).get(r - 1)
            cells = []
            for c, value in enumerate(row):
                if value is None or value == "":
                    continue
                ref = f"{column_letter(c)}{r}"
                s = f' s="{style}"' if style else ""
                if isinstance(value, int) and not isinstance(value, bool) and abs(value) < MAX_EXACT:
                    cells.append(f'<c r="{ref}"{s}><v>{value}</v></c>')
                    continue
                text = show_forbidden(str(value))
                if _excel_units(text) > MAX_CELL:
                    text = _cut(text, "the case", len(str(value)))
                if not style and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
                    s = f' s="{STYLE_QUOTED}"'
                cells.append(f'<c r="{ref}" t="inlineStr"{s}><is><t xml:space="preserve">'
                             f'{_escape(text)}</t></is></c>')
            lines.append(f'<row r="{r}">{"".join(cells)}</row>')
        lines.append("</sheetData>")
        lines.append('<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>')
        lines.append("</worksheet>")
        self._put(f"xl/worksheets/sheet{part}.xml", "".join(lines))
        self._sheets.append(_Sheet(name, part, False))
        return name

    def data_sheet(self, name: str, columns: list[SheetColumn], batches: Iterable[pl.DataFrame], rows: int,
                   first_row: int, cut_where: str) -> SheetResult:
        """One data sheet: a header row with notes, then the ``rows`` rows that ``batches`` hold.

        ``first_row`` is the 0-based row of the table the sheet starts at (for the record of
        cut values). The header is frozen and filtered; each column's width comes from its
        header and first values. ``cut_where`` names, in the cut mark, where full texts are kept.
        """
        part = len(self._sheets) + 1
        result = SheetResult(name, rows)
        batches = iter(batches)
        first = next(batches, None)
        if first is None:
            first = pl.DataFrame(schema={c.name: pl.String for c in columns})
        plans = [_plan(col.name, first.schema[col.name], result) for col in columns]
        last = column_letter(len(columns) - 1)
        widths = [_width(col.header, first[col.name].head(200)) for col in columns]
        chunks = _produce(self._chunks(itertools.chain([first], batches), plans, first_row, name, cut_where, result))
        head = next(chunks, b"")
        head = head() if callable(head) else head
        # zip64 only where the sheet may pass 2 GiB: Excel reads it, but some readers do not
        big = len(head) / max(len(first), 1) * rows > 1_500_000_000
        info = self._info(f"xl/worksheets/sheet{part}.xml")
        header = (
            f'{XML_HEAD}<worksheet xmlns="{NS_MAIN}" xmlns:r="{NS_REL}">'
            f'<dimension ref="A1:{last}{rows + 1}"/>'
            '<sheetViews><sheetView workbookViewId="0">'
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
            '<sheetFormatPr defaultRowHeight="15"/>'
            "<cols>" + "".join(f'<col min="{i + 1}" max="{i + 1}" width="{w:.1f}" customWidth="1"/>'
                               for i, w in enumerate(widths)) + "</cols>"
            "<sheetData>"
            '<row r="1">' + "".join(
                f'<c r="{column_letter(i)}1" t="inlineStr" s="{STYLE_HEADER}"><is><t xml:space="preserve">'
                f"{_escape(show_forbidden(col.header))}</t></is></c>" for i, col in enumerate(columns))
            + "</row>").encode("utf-8")
        trailer = (
            "</sheetData>"
            f'<autoFilter ref="A1:{last}{rows + 1}"/>'
            '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
            + ('<legacyDrawing r:id="rId1"/>' if any(c.note for c in columns) else "")
            + "</worksheet>").encode("utf-8")
        with self._zip.open(info, "w", force_zip64=big) as out, ParallelDeflate.attach(out) as deflate:
            for chunk in deflate.ahead(itertools.chain([header, head], chunks, [trailer])):
                out.write(chunk)
        notes = [(i, c.note) for i, c in enumerate(columns) if c.note]
        if notes:
            self._notes(part, notes)
        self._sheets.append(_Sheet(name, part, bool(notes)))
        return result

    def _chunks(self, batches: Iterable[pl.DataFrame], plans: list[_Plan], first_row: int, sheet: str,
                cut_where: str, result: SheetResult) -> Iterator[Chunk]:
        """The XML of the sheet's rows, batch by batch (or the job that writes it)."""
        letters = [column_letter(i) for i in range(len(plans))]
        done = 0
        for batch in batches:
            n = len(batch)
            if not n:
                continue
            data = batch.select(plan.source for plan in plans)
            if self._compiled is not None:
                rare_rows = self._compiled[1]
                arrays = {plan.name: _arrow_text(data[plan.name]) for plan in plans}
                rare = {p.name: rare_rows(*_arrow_buffers(arrays[p.name]), len(data), MAX_CELL)
                        for p in plans if p.textual}
                fixed = _fix_rare_values(data, plans, letters, sheet, first_row + done, done + 2, cut_where, result,
                                         rare)
                arrays.update({name: _arrow_text(fixed[name]) for name, rows in rare.items() if rows})
                shared = self._shared_cells(fixed, plans)
                yield self._compiled_rows(fixed, plans, shared, done + 2, arrays)  # rendered on a worker thread
                done += n
                continue
            data = _fix_rare_values(data, plans, letters, sheet, first_row + done, done + 2, cut_where, result)
            shared = self._shared_cells(data, plans)
            facts = _chunk_facts(data, plans)
            row_no = pl.int_range(done + 2, done + 2 + n, eager=False).cast(pl.String)
            row = pl.concat_str([pl.lit('<row r="'), row_no, pl.lit('">'),
                                 *(shared.get(p.name, _cell(p, facts)) for p in plans),
                                 pl.lit("</row>")])
            yield _joined(data.select(row.alias("xml")).to_series())
            done += n
        if done != result.rows:
            raise ValueError(f"sheet {sheet}: {done:,} rows given where {result.rows:,} were announced")

    def _compiled_rows(self, data: pl.DataFrame, plans: list[_Plan], shared: dict[str, pl.Expr],
                       first_row: int, arrays: dict[str, Any]) -> Callable[[], bytes]:
        """The chunk's rows by the compiled writer, from the same prepared columns as the Polars path.

        arrays: each column of data as text in Arrow (`_arrow_text`). Returns the job that
        writes them, so that a worker thread does it (without the GIL) while this thread
        prepares the next chunk.
        """
        kinds = {"text": 0, "mixed": 1, "number": 2, "bool": 3}
        columns = []
        keep = []  # the Arrow arrays must live while the writer reads their buffers
        rendered = data.select(shared.values()) if shared else None
        for plan in plans:
            if plan.name in shared and rendered is not None:
                array, kind = _arrow_text(rendered[plan.name]), 4
            else:
                array, kind = arrays[plan.name], kinds[plan.kind]
            keep.append(array)
            ms_style = STYLE_DATETIME_MS if plan.style == STYLE_DATETIME else plan.style
            columns.append((kind, plan.style, ms_style, STYLE_QUOTED, *_arrow_buffers(array)))
        assert self._compiled is not None
        rows_xml, count = self._compiled[0], len(data)
        return lambda: (keep, rows_xml(columns, count, first_row))[1]

    def _shared_cells(self, data: pl.DataFrame, plans: list[_Plan]) -> dict[str, pl.Expr]:
        """Cells of the chunk's text columns with few distinct values, as shared strings.

        Provenance, dispositions and the like repeat on every row: each distinct text is
        written once in the shared-strings part and the cells name its index, which keeps
        the sheet small and quick to compress.
        """
        cells = {}
        for plan in plans:
            if plan.kind != "text" or len(data) < SHARED_MIN_ROWS:
                continue
            column = data[plan.name]
            limit = min(SHARED_MAX_DISTINCT, len(data) // 4)
            if (len(self._shared) >= SHARED_MAX_TOTAL or column.head(1_000).n_unique() > limit
                    or column.n_unique() > limit):  # the first rows tell most columns apart cheaply
                continue
            values = column.drop_nulls().unique(maintain_order=True).to_list()
            xml = []
            for text in values:
                index = self._shared.setdefault(text, len(self._shared))
                style = f' s="{STYLE_QUOTED}"' if re.match(NEEDS_QUOTE, text) else ""
                xml.append(f'<c t="s"{style}><v>{index}</v></c>')
            cells[plan.name] = pl.col(plan.name).replace_strict(
                values, xml, default=None, return_dtype=pl.String).fill_null("<c/>")
        return cells

    def _notes(self, part: int, notes: list[tuple[int, str]]) -> None:
        """Header notes (Excel's notes, legacy comments) of one sheet, with the drawing Excel needs to show them."""
        comments = "".join(
            f'<comment ref="{column_letter(i)}1" authorId="0"><text><t xml:space="preserve">'
            f"{_escape(show_forbidden(note))}</t></text></comment>" for i, note in notes)
        self._put(f"xl/comments{part}.xml",
                  f'{XML_HEAD}<comments xmlns="{NS_MAIN}"><authors><author>forensics</author></authors>'
                  f"<commentList>{comments}</commentList></comments>")
        shapes = "".join(
            f'<v:shape id="_x0000_s{1024 + n}" type="#_x0000_t202" style="position:absolute;margin-left:80pt;'
            f'margin-top:2pt;width:220pt;height:80pt;z-index:{n + 1};visibility:hidden" fillcolor="#ffffe1" '
            'o:insetmode="auto"><v:fill color2="#ffffe1"/><v:shadow on="t" color="black" obscured="t"/>'
            '<v:path o:connecttype="none"/><v:textbox style="mso-direction-alt:auto"><div style="text-align:left"/>'
            '</v:textbox><x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/>'
            f"<x:AutoFill>False</x:AutoFill><x:Row>0</x:Row><x:Column>{i}</x:Column></x:ClientData></v:shape>"
            for n, (i, _) in enumerate(notes))
        self._put(f"xl/drawings/vmlDrawing{part}.vml",
                  '<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
                  'xmlns:x="urn:schemas-microsoft-com:office:excel"><o:shapelayout v:ext="edit">'
                  '<o:idmap v:ext="edit" data="1"/></o:shapelayout><v:shapetype id="_x0000_t202" coordsize="21600,21600" '
                  'o:spt="202" path="m,l,21600r21600,l21600,xe"><v:stroke joinstyle="miter"/>'
                  '<v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>' + shapes + "</xml>")
        self._put(f"xl/worksheets/_rels/sheet{part}.xml.rels",
                  f'{XML_HEAD}<Relationships xmlns="{NS_PKG_REL}">'
                  f'<Relationship Id="rId1" Type="{NS_REL}/vmlDrawing" Target="../drawings/vmlDrawing{part}.vml"/>'
                  f'<Relationship Id="rId2" Type="{NS_REL}/comments" Target="../comments{part}.xml"/>'
                  "</Relationships>")

    # -- the package -----------------------------------------------------------------------
    def close(self, order: list[str] | None = None) -> None:
        """Write the workbook's parts (sheet list, styles, properties, content types) and the zip directory."""
        by_name = {s.name: s for s in self._sheets}
        sheets = [by_name[n] for n in order] if order else self._sheets
        self._put("xl/workbook.xml", (
            f'{XML_HEAD}<workbook xmlns="{NS_MAIN}" xmlns:r="{NS_REL}">'
            '<workbookPr date1904="0"/><bookViews><workbookView activeTab="0"/></bookViews><sheets>'
            + "".join(f'<sheet name="{xml_escape(s.name, {chr(34): "&quot;"})}" sheetId="{s.part}" r:id="rId{s.part}"/>'
                      for s in sheets)
            + "</sheets></workbook>"))
        self._put("xl/_rels/workbook.xml.rels", (
            f'{XML_HEAD}<Relationships xmlns="{NS_PKG_REL}">'
            + "".join(f'<Relationship Id="rId{s.part}" Type="{NS_REL}/worksheet" Target="worksheets/sheet{s.part}.xml"/>'
                      for s in self._sheets)
            + f'<Relationship Id="rId{len(self._sheets) + 1}" Type="{NS_REL}/styles" Target="styles.xml"/>'
            f'<Relationship Id="rId{len(self._sheets) + 2}" Type="{NS_REL}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"))
        self._put("xl/styles.xml", STYLES)
        self._put("xl/sharedStrings.xml", (
            f'{XML_HEAD}<sst xmlns="{NS_MAIN}" count="{len(self._shared)}" uniqueCount="{len(self._shared)}">'
            + "".join(f'<si><t xml:space="preserve">{_escape(text)}</t></si>' for text in self._shared)
            + "</sst>"))
        props = {k: xml_escape(show_forbidden(v)) for k, v in self._props.items()}
        self._put("docProps/core.xml", (
            f'{XML_HEAD}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<dc:title>{props['title']}</dc:title><dc:creator>{props['creator']}</dc:creator>"
            f"<dc:description>{props['description']}</dc:description>"
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{props["made_at"]}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{props["made_at"]}</dcterms:modified>'
            "</cp:coreProperties>"))
        self._put("docProps/app.xml", (
            f'{XML_HEAD}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
            "<Application>forensics</Application></Properties>"))
        self._put("_rels/.rels", (
            f'{XML_HEAD}<Relationships xmlns="{NS_PKG_REL}">'
            f'<Relationship Id="rId1" Type="{NS_REL}/officeDocument" Target="xl/workbook.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/'
            'core-properties" Target="docProps/core.xml"/>'
            f'<Relationship Id="rId3" Type="{NS_REL}/extended-properties" Target="docProps/app.xml"/>'
            "</Relationships>"))
        ct = "application/vnd.openxmlformats-officedocument"
        self._put("[Content_Types].xml", (
            f'{XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Default Extension="vml" ContentType="{ct}.vmlDrawing"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{ct}.spreadsheetml.sheet.main+xml"/>'
            + "".join(f'<Override PartName="/xl/worksheets/sheet{s.part}.xml" '
                      f'ContentType="{ct}.spreadsheetml.worksheet+xml"/>' for s in self._sheets)
            + "".join(f'<Override PartName="/xl/comments{s.part}.xml" ContentType="{ct}.spreadsheetml.comments+xml"/>'
                      for s in self._sheets if s.comments)
            + f'<Override PartName="/xl/styles.xml" ContentType="{ct}.spreadsheetml.styles+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{ct}.spreadsheetml.sharedStrings+xml"/>'
            '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
            f'<Override PartName="/docProps/app.xml" ContentType="{ct}.extended-properties+xml"/>'
            "</Types>"))
        self._zip.close()


STYLES = (
    f'{XML_HEAD}<styleSheet xmlns="{NS_MAIN}">'
    '<numFmts count="3"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd\\ hh:mm:ss"/>'
    '<numFmt numFmtId="165" formatCode="yyyy\\-mm\\-dd"/>'
    '<numFmt numFmtId="166" formatCode="yyyy\\-mm\\-dd\\ hh:mm:ss.000"/></numFmts>'
    '<fonts count="3"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="14"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFD9E1F2"/><bgColor indexed="64"/></patternFill></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="9"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/>'
    '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1">'
    '<alignment wrapText="1" vertical="top"/></xf>'
    '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="1" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _escape(text: str) -> str:
    """Text made safe for an XML text node that Excel shows exactly as given.

    Excel reads _xHHHH_ in cell text as an escaped character, left to right; writing every
    "_x" as "_x005F_x" (an escaped underscore) keeps any such text literal, chains included.
    """
    return xml_escape(text).replace("\r", "&#13;").replace("_x", "_x005F_x")


def _escape_expr(value: pl.Expr) -> pl.Expr:
    """The vectorised form of _escape."""
    return (value.str.replace_all("&", "&amp;", literal=True).str.replace_all("<", "&lt;", literal=True)
            .str.replace_all(">", "&gt;", literal=True).str.replace_all("\r", "&#13;", literal=True)
            .str.replace_all("_x", "_x005F_x", literal=True))


@dataclass
class _Plan:
    """How one column becomes cells.

    ``source`` gives the value as text; ``kind`` says how it is written: "text", "number"
    (a number cell in ``style``), "mixed" (``source`` starts with n for a number, t for
    text) or "bool". ``textual`` marks sources that may hold forbidden characters or be
    too long for a cell.
    """

    name: str
    source: pl.Expr
    kind: str
    style: int = 0
    textual: bool = False


def _plan(name: str, dtype: pl.DataType, result: SheetResult) -> _Plan:
    """How a column of this dtype is written (see the module's rules)."""
    col = pl.col(name)
    text = col.cast(pl.String)
    if dtype == pl.String:
        return _Plan(name, col.alias(name), "text", textual=True)
    if dtype == pl.Boolean:
        return _Plan(name, col.cast(pl.Int8).cast(pl.String).alias(name), "bool")
    if dtype.is_integer():  # a number shown in full (format 0) below 10^15, else text
        exact = (col < MAX_EXACT) & (col > -MAX_EXACT) if dtype.is_signed_integer() else col < MAX_EXACT
        return _Plan(name, pl.when(exact).then("n" + text).otherwise("t" + text).alias(name), "mixed", STYLE_INTEGER)
    if dtype.is_float():
        wide = col.cast(pl.Float64)
        shown = pl.when(wide.is_nan()).then(pl.lit("NaN")).otherwise(text)
        # Excel holds finite doubles between 1e-307 and 1e307 (no -0.0); a whole number is shown in full
        # below 10^15 only; anything else is text
        number = (wide.is_finite() & ((wide == 0) | wide.abs().is_between(1e-307, 1e307))
                  & ~((wide == 0) & text.str.starts_with("-"))
                  & ~((wide.abs() >= MAX_EXACT) & (wide == wide.round(0))))
        return _Plan(name, pl.when(number).then("n" + text).otherwise("t" + shown).alias(name), "mixed")
    if isinstance(dtype, pl.Decimal):
        trimmed = text.str.replace(r"(\.\d*?)0+$", "$1").str.replace(r"\.$", "")
        digits = trimmed.str.replace_all(r"[^0-9]", "").str.replace(r"^0+", "").str.len_chars()
        return _Plan(name, pl.when(digits <= 15).then("n" + trimmed).otherwise("t" + trimmed).alias(name), "mixed")
    if isinstance(dtype, pl.Datetime):
        utc = col.dt.convert_time_zone("UTC") if dtype.time_zone else col
        unit = dtype.time_unit or "us"
        ticks = utc.dt.epoch(unit)
        per_ms = {"ms": 1, "us": 1_000, "ns": 1_000_000}[unit]
        serial = (utc.dt.epoch("ms").cast(pl.Float64) / 86_400_000 + 25569).cast(pl.String)
        iso = utc.dt.strftime("%Y-%m-%d %H:%M:%S%.9f" if unit == "ns" else "%Y-%m-%d %H:%M:%S%.6f")
        in_calendar = utc.dt.date().is_between(EXCEL_FIRST_DAY, EXCEL_LAST_DAY)
        # n: an Excel date exact to the second; m: exact to the millisecond (shown with them); t: ISO text
        source = (pl.when(in_calendar & (ticks % (per_ms * 1000) == 0)).then("n" + serial)
                  .when(in_calendar & (ticks % per_ms == 0)).then("m" + serial)
                  .otherwise("t" + iso).alias(name))
        return _Plan(name, source, "mixed", STYLE_DATETIME)
    if isinstance(dtype, pl.Date):
        in_calendar = col.is_between(EXCEL_FIRST_DAY, EXCEL_LAST_DAY)
        serial = (col.cast(pl.Int32).cast(pl.Int64) + 25569).cast(pl.String)
        source = pl.when(in_calendar).then("n" + serial).otherwise("t" + col.dt.strftime("%Y-%m-%d")).alias(name)
        return _Plan(name, source, "mixed", STYLE_DATE)
    if dtype == pl.Binary:
        result.as_text[name] = "bytes, written as 0x and hexadecimal"
        return _Plan(name, pl.concat_str([pl.lit("0x"), col.bin.encode("hex")]).alias(name), "text")
    if dtype == pl.Null:
        return _Plan(name, col.cast(pl.String).alias(name), "text")
    result.as_text[name] = f"{dtype}, written as JSON text"
    return _Plan(name, col.map_elements(_json_text, return_dtype=pl.String, skip_nulls=True).alias(name), "text",
                 textual=True)


def _json_text(value: Any) -> str:
    """A nested value (list, struct, ...) as JSON text, every item kept."""
    import json

    if isinstance(value, pl.Series):
        value = value.to_list()
    return json.dumps(value, ensure_ascii=False, default=str)


NEEDS_ESCAPE = r"[&<>\r]|_x"
NEEDS_QUOTE = r"^[=+\-@\t\r]"
NEEDS_PRESERVE = r"^[ \t\n\r]|[ \t\n\r]$"  # the white space XML would collapse


def _chunk_facts(data: pl.DataFrame, plans: list[_Plan]) -> dict[str, bool]:
    """What the values of one chunk need, per column, so that the common case takes the short path.

    One scan per column answers "does anything need care"; only columns where something
    does are scanned again for which care it needs.
    """
    anything = f"{NEEDS_ESCAPE}|{NEEDS_QUOTE}|{NEEDS_PRESERVE}"
    checks = []
    for plan in plans:
        if plan.kind == "text":
            checks.append(pl.col(plan.name).str.contains(anything).any().alias(f"{plan.name}\0any"))
        elif plan.kind == "mixed":  # the text of a mixed column is digits, NaN, inf or a date: only a sign needs care
            checks += [pl.col(plan.name).str.starts_with("t").any().alias(f"{plan.name}\0text"),
                       (~pl.col(plan.name).str.starts_with("t")).any().alias(f"{plan.name}\0number"),
                       pl.col(plan.name).str.starts_with("m").any().alias(f"{plan.name}\0ms"),
                       pl.col(plan.name).str.contains("^t[-+]").any().alias(f"{plan.name}\0quote")]
    facts = {k: bool(v) for k, v in data.select(checks).row(0, named=True).items()} if checks else {}
    again = [plan.name for plan in plans if facts.get(f"{plan.name}\0any")]
    if again:
        facts.update({k: bool(v) for k, v in data.select(
            check for name in again for check in (
                pl.col(name).str.contains(NEEDS_ESCAPE).any().alias(f"{name}\0escape"),
                pl.col(name).str.contains(NEEDS_QUOTE).any().alias(f"{name}\0quote"),
                pl.col(name).str.contains(NEEDS_PRESERVE).any().alias(f"{name}\0preserve"))
        ).row(0, named=True).items()})
    return facts


def _cell(plan: _Plan, facts: dict[str, bool]) -> pl.Expr:
    """The cell XML of one column for one chunk (an empty <c/> keeps the place of a null)."""
    def fact(what: str) -> bool:
        return facts.get(f"{plan.name}\0{what}", False)

    if plan.kind == "bool":
        return pl.concat_str([pl.lit('<c t="b"><v>'), pl.col(plan.name), pl.lit("</v></c>")]).fill_null("<c/>")
    if plan.kind == "number":
        return _number_cell(pl.col(plan.name), plan.style)
    if plan.kind == "text":
        return _text_cell(pl.col(plan.name), fact("escape"), fact("quote"), fact("preserve"))
    value = pl.col(plan.name).str.slice(1)
    number = _number_cell(value, plan.style)
    if plan.style == STYLE_DATETIME and fact("ms"):
        number = pl.when(pl.col(plan.name).str.starts_with("m")).then(
            _number_cell(value, STYLE_DATETIME_MS)).otherwise(number)
    if not fact("text"):
        return number
    text = _text_cell(value, fact("escape"), fact("quote"), fact("preserve"))
    if not fact("number"):
        return text
    return pl.when(pl.col(plan.name).str.starts_with("t")).then(text).otherwise(number)


def _text_cell(value: pl.Expr, escape: bool, quote: bool, preserve: bool) -> pl.Expr:
    """An inline-string cell; escaping, quote prefix and space preservation only where the chunk needs them."""
    open_tag = pl.lit('<c t="inlineStr">')
    if quote:
        open_tag = pl.when(value.str.contains(NEEDS_QUOTE)).then(
            pl.lit(f'<c t="inlineStr" s="{STYLE_QUOTED}">')).otherwise(open_tag)
    t_tag = pl.lit("<is><t>")
    if preserve:
        t_tag = pl.when(value.str.contains(NEEDS_PRESERVE)).then(pl.lit('<is><t xml:space="preserve">')).otherwise(t_tag)
    body = _escape_expr(value) if escape else value
    return pl.concat_str([open_tag, t_tag, body, pl.lit("</t></is></c>")]).fill_null("<c/>")


def _number_cell(value: pl.Expr, style: int = 0) -> pl.Expr:
    s = f' s="{style}"' if style else ""
    return pl.concat_str([pl.lit(f"<c{s}><v>"), value, pl.lit("</v></c>")]).fill_null("<c/>")


def _fix_rare_values(data: pl.DataFrame, plans: list[_Plan], letters: list[str], sheet: str, table_row: int,
                     sheet_row: int, cut_where: str, result: SheetResult,
                     rare: dict[str, list[int]] | None = None) -> pl.DataFrame:
    """Escape forbidden characters and cut over-long values, in Python, for the few values that need it.

    rare: the rows of each textual column that may need it, where the compiled scan found
    them (`rare_rows`); else Polars finds them.
    """
    textual = [p.name for p in plans if p.textual]
    if not textual:
        return data
    if rare is None:
        flags = data.select(
            (pl.col(n).str.contains(FORBIDDEN_PATTERN) | (pl.col(n).str.len_bytes() > MAX_CELL)).alias(n)
            for n in textual)
        rare = {name: flags[name].arg_true().to_list() for name in textual}
    replaced = []
    for name in textual:
        if not rare.get(name):
            continue
        values = data[name].to_list()
        for index in rare[name]:
            text = values[index]
            shown = show_forbidden(text)
            if shown != text:
                result.escaped[name] = result.escaped.get(name, 0) + 1
            if _excel_units(shown) > MAX_CELL:
                letter = letters[[p.name for p in plans].index(name)]
                result.cut.append(CutValue(sheet, f"{letter}{sheet_row + index}", name, table_row + index + 1, text))
                shown = _cut(shown, cut_where, len(text))
            values[index] = shown
        replaced.append(pl.Series(name, values, dtype=pl.String))
    return data.with_columns(replaced) if replaced else data


def _width(header: str, values: pl.Series) -> float:
    """A column width from the header and the first values, between 8 and 60 characters."""
    if isinstance(values.dtype, pl.Datetime):
        longest = 23
    elif values.dtype == pl.Binary:
        longest = 2 + 2 * int(values.bin.size().max() or 0)  # type: ignore[arg-type]
    elif values.dtype == pl.String or values.dtype.is_numeric() or values.dtype in (pl.Boolean, pl.Date, pl.Null):
        longest = int(values.cast(pl.String).str.len_chars().max() or 0)  # type: ignore[arg-type]
    else:
        longest = 20  # nested values, written as JSON
    return float(min(60, max(8, len(header) + 3, longest + 2)))


def _deflate_library() -> tuple[Any, str]:
    """zlib-ng (about 2.4x faster at level 1) where installed, else the standard library's zlib; and its name."""
    try:
        from importlib.metadata import version

        from zlib_ng import zlib_ng

        return zlib_ng, f"zlib-ng {version('zlib-ng')}"
    except ImportError:
        return zlib, f"zlib {zlib.ZLIB_RUNTIME_VERSION}"


DEFLATE, DEFLATE_NAME = _deflate_library()  # the sheets' deflate: the same bytes need the same library and version


def _compiled_writer() -> tuple[Callable[..., bytes], Callable[..., list[int]]] | None:
    """The compiled row writer and its scan for values to escape or cut (rows_xml, rare_rows), or None
    where the extension was not built (the Polars path then writes)."""
    try:
        from forensics._xlsxrows import rare_rows, rows_xml
    except ImportError:
        return None
    return rows_xml, rare_rows


def _arrow_text(series: pl.Series) -> Any:
    """A column as text in Arrow, as the compiled writer reads it: string_view, as Polars holds
    text and hands it over without a copy (large_string where this Polars cannot)."""
    import pyarrow as pa

    text = series.cast(pl.String)
    try:
        array = text.to_arrow(compat_level=pl.CompatLevel.newest())
    except (AttributeError, TypeError):
        array = text.to_arrow()
    if array.type == pa.string_view() or array.type == pa.large_string():
        return array
    return array.cast(pa.large_string())


def _arrow_buffers(array: Any) -> tuple[Any, Any, Any, int]:
    """(validity or None, offsets, data, offset) of a text array, for the compiled code: for
    large_string the offsets and the data; for string_view the views and a tuple of its data buffers."""
    import pyarrow as pa

    buffers = array.buffers()
    validity = buffers[0] if array.null_count else None
    if array.type == pa.string_view():
        return validity, buffers[1], tuple(b if b is not None else b"" for b in buffers[2:]), array.offset
    return validity, buffers[1], buffers[2] if buffers[2] is not None else b"", array.offset


Chunk = bytes | memoryview | Callable[[], bytes]  # a sheet's XML, or the job that writes it


class ParallelDeflate:
    """Writes (where a chunk is a job) and deflates a zip entry's chunks on worker threads, in order.

    Each chunk is deflated on its own and ends with a sync flush, so the pieces join into
    one valid deflate stream (as pigz does); the entry ends with an empty final block.
    zipfile still writes the entry's header and computes its CRC and sizes: only its
    compressor is replaced. Where zipfile has no such compressor to replace, chunks are
    written and deflated as usual.
    """

    WORKERS = 2
    AHEAD = 3  # chunks made ahead of the one being written

    def __init__(self, entry: Any) -> None:
        from concurrent.futures import Future, ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(self.WORKERS, thread_name_prefix="xlsx-deflate")
        self._pending: collections.deque[Future[tuple[bytes | memoryview, bytes]]] = collections.deque()
        self._own = getattr(entry, "_compressor", None)

    @classmethod
    @contextlib.contextmanager
    def attach(cls, entry: Any) -> Iterator[ParallelDeflate]:
        """Use parallel deflate for this zipfile entry (opened for writing) while the block runs."""
        deflate = cls(entry)
        if deflate._own is not None:
            entry._compressor = deflate
        try:
            yield deflate
        finally:
            deflate._pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _make(chunk: Chunk) -> tuple[bytes | memoryview, bytes]:
        xml = chunk() if callable(chunk) else chunk
        packer = DEFLATE.compressobj(1, DEFLATE.DEFLATED, -15)
        return xml, packer.compress(xml) + packer.flush(DEFLATE.Z_SYNC_FLUSH)

    def ahead(self, chunks: Iterable[Chunk]) -> Iterator[bytes | memoryview]:
        """The chunks' XML, in order, each written and deflated on the workers a few chunks ahead."""
        if self._own is None:
            for chunk in chunks:
                yield chunk() if callable(chunk) else chunk
            return
        window: collections.deque[Any] = collections.deque()  # futures of (xml, deflated)
        for chunk in chunks:
            future = self._pool.submit(self._make, chunk)
            window.append(future)
            self._pending.append(future)
            if len(window) > self.AHEAD:
                yield window.popleft().result()[0]
        while window:
            yield window.popleft().result()[0]

    def compress(self, data: bytes | memoryview) -> bytes:
        """What zipfile calls with each chunk's XML: its deflated form, made ahead."""
        xml, deflated = self._pending.popleft().result()
        if len(xml) != len(data):
            raise RuntimeError("parallel deflate: chunks out of order")
        return deflated

    def flush(self) -> bytes:
        """The end of the stream: an empty final block."""
        return DEFLATE.compressobj(1, DEFLATE.DEFLATED, -15).flush(DEFLATE.Z_FINISH)


def _joined(xml: pl.Series) -> bytes | memoryview:
    """The rows' XML as one buffer: the Arrow data buffer of the strings, without copying row by row."""
    array = xml.to_arrow()
    buffers = array.buffers() if array.null_count == 0 and str(array.type) == "large_string" else []
    if len(buffers) == 3 and buffers[1] is not None and buffers[2] is not None:
        offsets = memoryview(buffers[1]).cast("q")
        return memoryview(buffers[2])[offsets[array.offset]:offsets[array.offset + len(array)]]
    return xml.str.join("").item().encode("utf-8")


def _produce(chunks: Iterable[Chunk], depth: int = 2) -> Iterator[Chunk]:
    """Run a chunk generator on a background thread, handing chunks over through a short queue."""
    handoff: queue.Queue[tuple[Chunk | None, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for chunk in chunks:
                if stop.is_set():
                    return
                handoff.put((chunk, None))
            handoff.put((None, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            handoff.put((None, exc))

    thread = threading.Thread(target=work, name="xlsx-rows", daemon=True)
    thread.start()
    try:
        while True:
            chunk, error = handoff.get()
            if error is not None:
                raise error
            if chunk is None:
                return
            yield chunk
    finally:
        stop.set()
        while thread.is_alive():
            try:
                handoff.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()


def write_atomic(target: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file under a temporary name beside target and rename it into place: all of it or none."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        with open(partial, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
    finally:
        if partial.exists():
            partial.unlink()
