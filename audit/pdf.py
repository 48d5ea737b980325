"""Rendering the audit report's data object as a PDF with ReportLab.

The text font is Source Sans Pro from the font-source-sans-pro package,
which covers Latin, Greek and Cyrillic, so names such as «Изоляция» print
as letters instead of empty boxes.
"""

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

from django.core.exceptions import ImproperlyConfigured
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    LongTable,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)

from audit.report import EventRow, FieldChange, PlaybookConfig, ReportData

FONT = "ExecSans"
FONT_BOLD = "ExecSans-Bold"
PAGE_SIZE = landscape(A4)
MARGIN = 15 * mm
CONTENT_WIDTH = PAGE_SIZE[0] - 2 * MARGIN
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

ProgressCallback = Callable[[int], None]


@cache
def register_fonts() -> None:
    """Register the report's TrueType fonts with ReportLab once per process."""
    try:
        import font_source_sans_pro
    except ImportError:
        raise ImproperlyConfigured(
            "The report font is missing: install the font-source-sans-pro "
            "package (`pip install -r requirements.txt`)."
        ) from None
    directory = Path(font_source_sans_pro.font_directory)
    files = {
        FONT: directory / "SourceSansPro-Regular.ttf",
        FONT_BOLD: directory / "SourceSansPro-Bold.ttf",
    }
    for name, path in files.items():
        if not path.is_file():
            raise ImproperlyConfigured(
                f"The report font file {path} is missing; reinstall the "
                "font-source-sans-pro package."
            )
        pdfmetrics.registerFont(TTFont(name, str(path)))
    pdfmetrics.registerFontFamily(
        FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD
    )


def _styles() -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=11.5)
    return {
        "body": body,
        "cell": ParagraphStyle("cell", parent=body, fontSize=8, leading=10),
        "mono": ParagraphStyle("mono", parent=body, fontSize=7.5, leading=9.5),
        "title": ParagraphStyle(
            "title", parent=body, fontName=FONT_BOLD, fontSize=24, leading=30
        ),
        "h1": ParagraphStyle(
            "h1",
            parent=body,
            fontName=FONT_BOLD,
            fontSize=15,
            leading=19,
            spaceBefore=6,
            spaceAfter=6,
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=body,
            fontName=FONT_BOLD,
            fontSize=11.5,
            leading=15,
            spaceBefore=8,
            spaceAfter=4,
        ),
        "head": ParagraphStyle(
            "head", parent=body, fontName=FONT_BOLD, fontSize=8, leading=10
        ),
    }


STYLES: dict[str, ParagraphStyle] = {}


def _style(name: str) -> ParagraphStyle:
    if not STYLES:
        STYLES.update(_styles())
    return STYLES[name]


# A table row must fit on one page, or ReportLab stops with a LayoutError.
# By estimate, this many characters fill about half a page in a value
# column of a change table. Longer values, such as a role's whole permission
# list, are cut in the PDF but stay complete in the timeline's exports.
MAX_CELL_CHARS = 1200


def _shortened(text: str) -> str:
    if len(text) <= MAX_CELL_CHARS:
        return text
    cut = len(text) - MAX_CELL_CHARS
    return (
        f"{text[:MAX_CELL_CHARS]} … ({cut} more characters; the full value is "
        "in the timeline's exports)"
    )


def _p(text: Any, style: str = "cell") -> Paragraph:
    return Paragraph(escape(_shortened(_plain(text))), _style(style))


def _cell(value: Any, max_chars: int, style: str = "cell") -> str | Paragraph:
    """Return short text as a plain cell and longer text as a wrapped one.

    A plain string costs a fraction of a Paragraph to lay out; `max_chars`
    is what fits on one line of the column.
    """
    text = _plain(value)
    if len(text) <= max_chars and "\n" not in text:
        return text
    return Paragraph(escape(_shortened(text)), _style(style))


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime(TIME_FORMAT)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


TABLE_STYLE = TableStyle(
    [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e4e8ee")),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.HexColor("#445066")),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#c8ced8")),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
)


# ReportLab measures every remaining row again each time a table breaks
# across a page, so one table of ten thousand rows costs time quadratic in
# its length. Tables are cut into pieces of this many rows instead; each
# piece starts with the header row.
TABLE_CHUNK_ROWS = 100


def _table(
    headers: list[str], rows: Iterable[list[Any]], widths: list[float]
) -> LongTable:
    """Return a table whose header row repeats on every page it spans."""
    scale = CONTENT_WIDTH / sum(widths)
    data = [[_p(header, "head") for header in headers], *rows]
    table = LongTable(data, colWidths=[w * scale for w in widths], repeatRows=1)
    table.setStyle(TABLE_STYLE)
    return table


def _tables(
    headers: list[str], rows: list[list[Any]], widths: list[float]
) -> list[Flowable]:
    """Return a long table as consecutive tables of TABLE_CHUNK_ROWS rows."""
    return [
        _table(headers, rows[start : start + TABLE_CHUNK_ROWS], widths)
        for start in range(0, len(rows), TABLE_CHUNK_ROWS)
    ]


def _cover(data: ReportData) -> list[Flowable]:
    facts = [
        ["Organization", _p(data.organization)],
        ["Period", _p(f"{data.since} to {data.until}, UTC, both days included")],
        ["Generated by", _p(data.generated_by)],
        ["Generated at", _p(f"{data.generated_at.strftime(TIME_FORMAT)} UTC")],
        ["Events in the period", _p(data.total_events)],
        ["Chain head", _p(f"sequence {data.head_sequence}, SHA-256 {data.head_hash}")],
    ]
    return [
        Spacer(1, 30 * mm),
        _p("Exec audit report", "title"),
        Spacer(1, 4 * mm),
        _p(data.organization, "h1"),
        Spacer(1, 8 * mm),
        _table(["Fact", "Value"], facts, [1, 4]),
        Spacer(1, 6 * mm),
        _p(
            "Every event is chained to the one before it by SHA-256. Run "
            "`manage.py verify_audit` and compare the chain head above with "
            "a later report to show that no event was changed or removed.",
            "body",
        ),
        PageBreak(),
    ]


def _summary(data: ReportData) -> list[Flowable]:
    flowables: list[Flowable] = [_p("Summary", "h1")]
    if not data.counts:
        return [*flowables, _p("No events in the period.", "body")]
    rows = [[_p(kind), _p(total)] for kind, total in data.counts]
    rows.append([_p("All events", "head"), _p(data.total_events, "head")])
    return [*flowables, *_tables(["Kind", "Events"], rows, [4, 1])]


def _changes_tables(changes: list[FieldChange]) -> list[Flowable]:
    rows = [
        [
            _p(change.when),
            _p(change.actor),
            _p(f"{change.action} {change.object}"),
            _p(change.field),
            _p(change.old, "mono"),
            _p(change.new, "mono"),
        ]
        for change in changes
    ]
    return _tables(
        ["When (UTC)", "Who", "Object", "Field", "Old value", "New value"],
        rows,
        [1.3, 1.1, 1.6, 1.1, 2.2, 2.2],
    )


def _playbook(config: PlaybookConfig) -> list[Flowable]:
    title = f"Playbook: {config.name}"
    if not config.exists:
        title += " (deleted)"
    flowables: list[Flowable] = [_p(title, "h2")]
    if config.exists:
        facts = [
            ["Id and version", _p(f"{config.id}, version {config.version}")],
            ["Enabled", _p(config.enabled)],
            ["Description", _p(config.description)],
            ["Trigger", _p(config.trigger_type)],
            ["Trigger settings", _p(config.trigger_config, "mono")],
            ["Condition mode", _p(config.condition_mode)],
            ["Conditions", _p(config.conditions, "mono")],
            ["Target", _p(config.target_kind)],
            ["Cooldown (minutes)", _p(config.cooldown_minutes)],
            ["Max concurrent runs", _p(config.max_concurrent_runs)],
        ]
        flowables.append(_table(["Setting", "Value"], facts, [1, 4]))
        flowables.append(Spacer(1, 3 * mm))
        flowables.append(_steps_table(config))
    flowables.append(Spacer(1, 3 * mm))
    if config.changes:
        flowables.append(_p(f"Changes to {config.name} in the period", "body"))
        flowables.extend(_changes_tables(config.changes))
    else:
        flowables.append(_p("No changes in the period.", "body"))
    return flowables


def _steps_table(config: PlaybookConfig) -> Flowable:
    if not config.steps:
        return _p("No steps.", "body")
    rows = [
        [
            _p(step.order),
            _p(step.name),
            _p(step.action),
            _p(step.parameters, "mono"),
            _p(
                f"required, times out after {step.approval_timeout_minutes} min"
                if step.requires_approval
                else "not required"
            ),
            _p(
                f"timeout {step.timeout_seconds} s, {step.max_attempts} attempt(s), "
                f"backoff {step.backoff_seconds} s"
            ),
            _p(step.on_failure),
        ]
        for step in config.steps
    ]
    return _table(
        ["#", "Step", "Action", "Parameters", "Approval", "Limits", "On failure"],
        rows,
        [0.3, 1.3, 1.2, 2.6, 1.3, 1.6, 0.9],
    )


def _playbooks(data: ReportData) -> list[Flowable]:
    flowables: list[Flowable] = [PageBreak(), _p("Playbooks", "h1")]
    if not data.playbooks_available:
        return [*flowables, _p("This installation has no playbooks.", "body")]
    if not data.playbooks:
        return [*flowables, _p("No playbooks are configured.", "body")]
    for config in data.playbooks:
        flowables.extend(_playbook(config))
    return flowables


def _other_changes(data: ReportData) -> list[Flowable]:
    flowables: list[Flowable] = [
        PageBreak(),
        _p("Other configuration changes", "h1"),
    ]
    if not data.other_changes:
        return [*flowables, _p("No other changes in the period.", "body")]
    return [*flowables, *_changes_tables(data.other_changes)]


def _event_rows(rows: list[EventRow]) -> list[list[Any]]:
    return [
        [
            row.when.strftime(TIME_FORMAT),
            _plain(row.run_id),
            _plain(row.endpoint_id),
            _cell(row.kind, 28),
            _cell(row.summary, 70),
            _cell(row.outcome, 38),
        ]
        for row in rows
    ]


def _actions(data: ReportData) -> list[Flowable]:
    flowables: list[Flowable] = [PageBreak(), _p("Automated actions", "h1")]
    if not data.actions:
        return [*flowables, _p("No automated actions in the period.", "body")]
    tables = _tables(
        ["When (UTC)", "Run", "Endpoint", "Kind", "What happened", "Outcome"],
        _event_rows(data.actions),
        [1.25, 0.5, 0.6, 1.5, 3.6, 2.0],
    )
    return [*flowables, *tables]


def _approvals(data: ReportData) -> list[Flowable]:
    flowables: list[Flowable] = [PageBreak(), _p("Approvals", "h1")]
    if not data.approvals:
        return [*flowables, _p("No approval decisions in the period.", "body")]
    rows = [
        [
            row.when.strftime(TIME_FORMAT),
            _cell(row.actor, 22),
            _cell(row.kind, 26),
            _cell(row.summary, 70),
            _cell(row.outcome, 38),
        ]
        for row in data.approvals
    ]
    tables = _tables(
        ["When (UTC)", "Who", "Kind", "What", "Decision"],
        rows,
        [1.25, 1.2, 1.4, 3.6, 2.0],
    )
    return [*flowables, *tables]


def story(data: ReportData) -> list[Flowable]:
    """Return the report's flowables, section by section."""
    register_fonts()
    return [
        *_cover(data),
        *_summary(data),
        *_playbooks(data),
        *_other_changes(data),
        *_actions(data),
        *_approvals(data),
    ]


class _NumberedCanvas(Canvas):
    """A canvas that draws its footers after the last page, so each footer
    can show "Page N of M"."""

    footer_text = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending_pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pending_pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pending_pages)
        for number, state in enumerate(self._pending_pages, start=1):
            self.__dict__.update(state)
            self._draw_footer(number, total)
            super().showPage()
        super().save()

    def _draw_footer(self, number: int, total: int) -> None:
        self.setFont(FONT, 8)
        self.setFillColor(colors.HexColor("#445066"))
        self.drawString(MARGIN, 8 * mm, self.footer_text)
        self.drawRightString(PAGE_SIZE[0] - MARGIN, 8 * mm, f"Page {number} of {total}")


def render_pdf(
    data: ReportData, output: IO[bytes], progress: ProgressCallback | None = None
) -> int:
    """Write the report as a PDF to `output` and return its page count.

    `progress` is called with a percentage as ReportLab lays out the story.
    """
    flowables = story(data)
    document = SimpleDocTemplate(
        output,
        pagesize=PAGE_SIZE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 4 * mm,
        title=f"Exec audit report {data.since} to {data.until}",
        author=data.generated_by,
        creator="Exec",
    )
    if progress is not None:
        document.setProgressCallBack(_layout_progress(progress))

    footer = f"{data.organization} · Exec audit report {data.since} to {data.until}"
    canvas_class = type("ReportCanvas", (_NumberedCanvas,), {"footer_text": footer})
    document.build(flowables, canvasmaker=canvas_class)
    return document.page


def _layout_progress(progress: ProgressCallback) -> Callable[[str, int], None]:
    state = {"total": 1, "last": -1}

    def callback(kind: str, value: int) -> None:
        if kind == "SIZE_EST":
            state["total"] = max(int(value), 1)
        elif kind == "PROGRESS":
            percent = min(99, int(100 * value / state["total"]))
            # Report every fifth percent only, so progress costs few writes.
            if percent // 5 != state["last"] // 5:
                state["last"] = percent
                progress(percent)

    return callback
