"""Reading an artifact's rows out of a stored package, for the artifact page.

The JSON member is the authoritative copy of an artifact. The page reads it
from the stored zip on each request, up to `VIEW_MAX_BYTES`, and filters,
sorts and pages the rows in memory.
"""

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models.fields.files import FieldFile

from forensics.models import PackageArtifact

# NOTE: every page view parses the whole member again, and the parsed rows
# take about five times the JSON's size in memory (17 MiB of process rows grew
# the process by 88 MiB on CPython 3.11). Larger artifacts are offered as a
# download only.
VIEW_MAX_BYTES = 16 * 1024 * 1024
CHUNK_BYTES = 256 * 1024


class TooLargeToShow(Exception):
    """The artifact's JSON member is over VIEW_MAX_BYTES."""


class UnreadableArtifact(Exception):
    """The stored member is missing or not the JSON the format describes."""


@dataclass
class ArtifactTable:
    columns: list[str]
    rows: list[list[Any]]


def column_names(document: dict[str, Any], rows: list[Any]) -> list[str]:
    """Return the declared column names, then any keys the rows add."""
    names: list[str] = []
    for column in document.get("columns") or []:
        name = column.get("name") if isinstance(column, dict) else column
        if isinstance(name, str) and name not in names:
            names.append(name)
    for row in rows:
        if isinstance(row, dict):
            names.extend(key for key in row if key not in names)
    return names


def to_table(document: Any) -> ArtifactTable:
    """Turn an artifact's JSON document into columns and rows of cells."""
    if not isinstance(document, dict) or not isinstance(document.get("rows"), list):
        raise UnreadableArtifact("the JSON member has no list of rows")
    rows = document["rows"]
    columns = column_names(document, rows)
    cells = []
    for row in rows:
        if isinstance(row, dict):
            cells.append([row.get(name) for name in columns])
        elif isinstance(row, list):
            cells.append(row + [None] * (len(columns) - len(row)))
        else:
            cells.append([row])
    return ArtifactTable(columns=columns or ["value"], rows=cells)


def load_table(artifact: PackageArtifact) -> ArtifactTable:
    """Read the artifact's JSON member from the stored package zip."""
    if not artifact.json_member:
        return ArtifactTable(columns=[], rows=[])
    with (
        artifact.package.file.open("rb") as stored,
        zipfile.ZipFile(stored) as archive,
    ):
        try:
            info = archive.getinfo(artifact.json_member)
        except KeyError:
            raise UnreadableArtifact(f"{artifact.json_member} is missing") from None
        if info.file_size > VIEW_MAX_BYTES:
            raise TooLargeToShow(info.file_size)
        try:
            document = json.loads(archive.read(info))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise UnreadableArtifact(f"invalid JSON ({error})") from None
    return to_table(document)


def cell_text(value: Any) -> str:
    """Return a cell as text: strings as they are, other values as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def filter_rows(rows: list[list[Any]], query: str) -> list[list[Any]]:
    """Keep the rows where any cell contains `query`, ignoring case."""
    needle = query.strip().casefold()
    if not needle:
        return rows
    return [
        row for row in rows if any(needle in cell_text(cell).casefold() for cell in row)
    ]


def sort_key(value: Any) -> tuple[int, float, str]:
    # Numbers sort by value before text, so that pid 10 follows pid 9.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, cell_text(value).casefold())


def sort_rows(rows: list[list[Any]], index: int, descending: bool) -> list[list[Any]]:
    """Sort rows by one column; empty cells go last in either direction."""
    present = [row for row in rows if row[index] is not None]
    empty = [row for row in rows if row[index] is None]
    present.sort(key=lambda row: sort_key(row[index]), reverse=descending)
    return present + empty


def stream_member(stored_zip: FieldFile, member: str) -> Iterator[bytes]:
    """Yield one member of a stored zip in chunks, closing the zip at the end."""
    with (
        stored_zip.open("rb") as stored,
        zipfile.ZipFile(stored) as archive,
        archive.open(member) as data,
    ):
        while chunk := data.read(CHUNK_BYTES):
            yield chunk
