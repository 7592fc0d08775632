"""Reading a campaign's CSV as spreadsheets save it, a row at a time, never the whole file in memory.

The file is UTF-8 with or without a byte order mark (Excel's "CSV UTF-8"); a file that is not valid
UTF-8 is read as Windows-1252, which is what Excel's plain "CSV" saves in Brazil. Fields are separated by
``,`` or by ``;`` (Excel in pt-BR, where the comma is the decimal mark), told apart on the header line.
Quoted fields may hold separators, quotes (doubled) and line breaks. The phone column is the first of
``phone``, ``phone_number``, ``telefone``, ``celular`` or ``whatsapp`` (any case, spaces or hyphens as
underscores); every other column is a template field by its name.
"""

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

PHONE_COLUMNS = ("phone", "phone_number", "phonenumber", "telefone", "celular", "whatsapp")
CHUNK = 64 * 1024
# The longest field a row may have; longer means an unclosed quote swallowed the rest of the file.
csv.field_size_limit(1024 * 1024)


class CsvProblem(Exception):
    """The file cannot be a campaign's list; the message says why in words for the operator."""


@dataclass(frozen=True)
class Header:
    encoding: str
    delimiter: str
    columns: tuple[str, ...]  # as written, stripped
    phone_index: int

    @property
    def phone_column(self) -> str:
        return self.columns[self.phone_index]

    def index_of(self, column: str) -> int | None:
        wanted = column_key(column)
        return next((i for i, name in enumerate(self.columns) if column_key(name) == wanted), None)


def column_key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def encoding_of(file: BinaryIO) -> str:
    """``utf-8-sig`` when the whole file decodes as UTF-8, else ``cp1252``; reads it once, a chunk at a time."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    file.seek(0)
    try:
        while chunk := file.read(CHUNK):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252"
    finally:
        file.seek(0)
    return "utf-8-sig"


def _delimiter(first_line: str) -> str:
    # Outside quotes only: a header "nome; valor" has no comma a quoted field could hide.
    unquoted = re.sub(r'"[^"]*"', "", first_line)
    return ";" if unquoted.count(";") > unquoted.count(",") else ","


def _text(file: BinaryIO, encoding: str) -> io.TextIOWrapper:
    file.seek(0)
    return io.TextIOWrapper(file, encoding=encoding, newline="")


def read_header(file: BinaryIO) -> Header:
    """The file's encoding, separator and columns; raises CsvProblem for an empty file or one without a phone column."""
    encoding = encoding_of(file)
    text = _text(file, encoding)
    try:
        first_line = text.readline()
        while first_line and not first_line.strip():
            first_line = text.readline()
        if not first_line.strip():
            raise CsvProblem("The file is empty: give a header line (phone,name,...) and a row per recipient.")
        delimiter = _delimiter(first_line)
        columns = tuple(cell.strip() for cell in next(csv.reader([first_line], delimiter=delimiter)))
    finally:
        text.detach()
    keys = [column_key(c) for c in columns]
    phone_index = next((keys.index(name) for name in PHONE_COLUMNS if name in keys), None)
    if phone_index is None:
        raise CsvProblem(
            f"The file has no phone column: name one of {', '.join(PHONE_COLUMNS)} "
            f"(its columns are: {', '.join(columns) or 'none'})."
        )
    return Header(encoding=encoding, delimiter=delimiter, columns=columns, phone_index=phone_index)


@dataclass(frozen=True)
class Row:
    line: int  # where the row starts in the file, the header being line 1
    cells: list[str]


def rows(file: BinaryIO, header: Header, *, skip: int = 0) -> Iterator[Row]:
    """The data rows after the header, with their first line's number; blank lines are passed over.

    ``skip`` passes over that many data rows first (an import resumed after its worker died).
    """
    text = _text(file, header.encoding)
    try:
        reader = csv.reader(text, delimiter=header.delimiter)
        seen_header = False
        read = 0
        ended = 0  # the line the last record ended on
        for cells in reader:
            line, ended = ended + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if not seen_header:
                seen_header = True
                continue
            read += 1
            if read > skip:
                yield Row(line, cells)
    except csv.Error as exc:
        raise CsvProblem(f"Line {reader.line_num}: the file is not valid CSV ({exc}).") from None
    finally:
        text.detach()
