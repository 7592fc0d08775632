"""Decide from its bytes alone whether an attachment received over WhatsApp may be forwarded."""

import hashlib
import io
import re
import struct
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from typing import NamedTuple

import puremagic

KB, MB = 1024, 1024 * 1024
HEAD = 8192  # bytes sniffed from archive members and for text: covers every signature below
MAX_ARCHIVE_MEMBERS = 1000  # per attachment, nested archives included
MAX_ARCHIVE_BYTES = 50 * MB  # declared uncompressed total; beyond it we refuse rather than decompress
MAX_ARCHIVE_DEPTH = 3

# Meta's limits per message type (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#supported-media-types);
# stickers get the animated one.
DEFAULT_LIMITS: dict[str, int] = {"image": 5 * MB, "audio": 16 * MB, "video": 16 * MB, "sticker": 500 * KB}
DEFAULT_LIMITS["document"] = 100 * MB

EXECUTABLE, SCRIPT, ARCHIVE_WITH_EXECUTABLE = "executable", "script", "archive_with_executable"
TYPE_MISMATCH, TOO_LARGE, NOT_ALLOWED = "type_mismatch", "too_large", "not_allowed"
UNKNOWN_TYPE, EMPTY, ENCRYPTED_ARCHIVE = "unknown_type", "empty", "encrypted_archive"


class _Type(NamedTuple):
    mime: str
    ext: str
    kind: str = ""  # EXECUTABLE or SCRIPT when the content can run


ZIP, OLE = "application/zip", "application/x-ole-storage"
DOC, XLS, PPT = "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"
OOXML = "application/vnd.openxmlformats-officedocument."
ODF = "application/vnd.oasis.opendocument."
ODF_EXTS = {ODF + "text": "odt", ODF + "spreadsheet": "ods", ODF + "presentation": "odp"}
OOXML_PARTS = (
    ("word/", _Type(OOXML + "wordprocessingml.document", "docx")),
    ("xl/", _Type(OOXML + "spreadsheetml.sheet", "xlsx")),
    ("ppt/", _Type(OOXML + "presentationml.presentation", "pptx")),
)
ZIP_FAMILY = {ZIP, *ODF_EXTS, *(found.mime for _, found in OOXML_PARTS)}  # inspected member by member
OFFICE = {DOC, XLS, PPT, *ZIP_FAMILY} - {ZIP}
IMAGES = {"image/jpeg", "image/png", "image/webp"}
ALLOWED: dict[str, frozenset[str]] = {
    "image": frozenset(IMAGES),
    # An MP4/3GP brand does not say whether there is a video track, and Android recorders send
    # audio-only .mp4 files, so audio messages take either container.
    "audio": frozenset({"audio/ogg", "audio/mpeg", "audio/mp4", "audio/aac", "audio/amr", "video/mp4", "video/3gpp"}),
    "video": frozenset({"video/mp4", "video/3gpp"}),
    "sticker": frozenset({"image/webp"}),
    # People photograph a bill and send it "as document", hence the images.
    "document": frozenset({"application/pdf", "text/plain", ZIP, *OFFICE, *IMAGES}),
}

# Programs and scripts by extension: refused by name inside archives; scripts also as top-level text.
EXECUTABLE_EXTS = {"exe", "dll", "scr", "com", "pif", "cpl", "msi", "msp", "mst", "sys", "drv", "ocx", "lnk"}
EXECUTABLE_EXTS |= {"jar", "apk", "dex", "class", "so", "dylib", "appimage", "deb", "rpm"}
EXECUTABLE_EXTS |= {"iso", "img", "vhd", "vhdx", "dmg"}  # disk images dodge Windows' mark-of-the-web
SCRIPT_EXTS = {"bat", "cmd", "ps1", "psm1", "vbs", "vbe", "js", "jse", "mjs", "wsf", "wsh", "hta", "sh", "bash"}
SCRIPT_EXTS |= {"py", "pyw", "pl", "rb", "php", "reg", "scf"}
OTHER_ARCHIVE_EXTS = {"rar", "7z", "gz", "tgz", "bz2", "xz", "tar", "cab", "arj", "lzh", "zst", "cb7", "cbr"}


_UNKNOWN, _ZIP = _Type("", ""), _Type(ZIP, "zip")


def _signature(pattern: bytes, mime: str, ext: str, kind: str = "") -> tuple[re.Pattern[bytes], _Type]:
    return re.compile(pattern, re.DOTALL), _Type(mime, ext, kind)


# Checked before puremagic, whose table reports any ZIP as .docx, HEIC as MP4, and ELF or Mach-O
# without a MIME type. Patterns match at offset 0; the first match wins ("#!AMR" before "#!").
SIGNATURES = (
    _signature(rb"MZ", "application/vnd.microsoft.portable-executable", "exe", EXECUTABLE),
    _signature(rb"\x7fELF", "application/x-executable", "", EXECUTABLE),
    _signature(rb"\xfe\xed\xfa[\xce\xcf]|[\xce\xcf]\xfa\xed\xfe", "application/x-mach-binary", "", EXECUTABLE),
    _signature(rb"\xca\xfe\xba\xbe", "application/java-vm", "class", EXECUTABLE),  # also Mach-O universal
    _signature(rb"dex\n", "application/vnd.android.dex", "dex", EXECUTABLE),
    _signature(rb"L\x00\x00\x00\x01\x14\x02\x00", "application/x-ms-shortcut", "lnk", EXECUTABLE),
    _signature(rb"#!AMR", "audio/amr", "amr"),
    _signature(rb"#!", "text/x-shellscript", "sh", SCRIPT),
    _signature(rb"%PDF-", "application/pdf", "pdf"),
    _signature(rb"\x89PNG\r\n\x1a\n", "image/png", "png"),
    _signature(rb"\xff\xd8\xff", "image/jpeg", "jpg"),
    _signature(rb"RIFF.{4}WEBP", "image/webp", "webp"),
    _signature(rb"OggS.{24}OpusHead", "audio/ogg", "ogg"),  # WhatsApp voice notes: Opus in Ogg
    _signature(rb".{4}ftypM4[ABP] ", "audio/mp4", "m4a"),
    _signature(rb".{4}ftyp3g[p2]", "video/3gpp", "3gp"),
    _signature(rb".{4}ftyp(heic|heix|mif1|msf1)", "image/heic", "heic"),
    _signature(rb".{4}ftypavif", "image/avif", "avif"),
    _signature(rb".{4}ftypqt  ", "video/quicktime", "mov"),
    _signature(rb".{4}ftyp", "video/mp4", "mp4"),
    _signature(rb"ID3|\xff[\xfb\xfa\xf3\xf2]", "audio/mpeg", "mp3"),
    _signature(rb"\xff[\xf1\xf9]", "audio/aac", "aac"),  # ADTS
    _signature(rb"\{\\rtf", "application/rtf", "rtf"),  # text, but a classic carrier of Office exploits
    _signature(rb"PK\x03\x04|PK\x05\x06", ZIP, "zip"),  # the second: an empty archive
    _signature(rb"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLE, ""),
)
# Installers share the OLE2 container with .doc/.xls/.ppt; the root entry's CLSID gives them away.
MSI_CLSIDS = {uuid.UUID(f"000c10{n}-0000-0000-c000-000000000046").bytes_le for n in ("84", "86", "82")}
OLE_STREAMS = (("WordDocument", _Type(DOC, "doc")), ("Workbook", _Type(XLS, "xls")), ("Book", _Type(XLS, "xls")))
OLE_STREAMS += (("PowerPoint Document", _Type(PPT, "ppt")),)
TEXT_BYTES = bytes({7, 8, 9, 10, 11, 12, 13, 27, *range(0x20, 0x100)})  # what file(1) accepts in text
ZIP_ERRORS = (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, ValueError, struct.error, zlib.error)


@dataclass(frozen=True)
class MediaVerdict:
    allowed: bool
    category: str  # image, audio, video, document, sticker, or "" when unknown
    detected_mime: str  # from the bytes, e.g. "application/pdf"
    extension: str  # canonical extension for the detected type, e.g. "pdf"
    sha256: str
    size: int
    reason: str  # "" when allowed, else one of the reason constants above
    detail: str  # a short sentence for admins


@dataclass
class _Budget:
    members: int = MAX_ARCHIVE_MEMBERS
    bytes: int = MAX_ARCHIVE_BYTES


def inspect_media(
    content: bytes,
    *,
    message_type: str,
    declared_mime: str = "",
    filename: str = "",
    limits: dict[str, int] | None = None,
) -> MediaVerdict:
    """Inspect an attachment and decide whether it may be forwarded; never raises for content.

    The type comes from the bytes only: ``declared_mime`` and ``filename`` are the sender's word and
    only appear in the detail, except that a text file named like a script is refused as one.
    """
    found = _sniff(content) if content else _UNKNOWN
    all_limits = {**DEFAULT_LIMITS, **(limits or {})}
    limit = all_limits.get(message_type, all_limits["document"])
    what = f"{found.mime or 'unrecognised content'} (declared {declared_mime or 'nothing'})"

    def verdict(reason: str, detail: str) -> MediaVerdict:
        category = message_type if not reason else _category_of(found.mime)
        sha = hashlib.sha256(content).hexdigest()
        return MediaVerdict(not reason, category, found.mime, found.ext, sha, len(content), reason, detail)

    if not content:
        return verdict(EMPTY, "The attachment has no content.")
    if found.kind:
        return verdict(found.kind, f"Content is {what}: programs and scripts are never forwarded.")
    if _is_text(content[:HEAD]) and _extension(filename) in SCRIPT_EXTS:
        return verdict(SCRIPT, f"Text file named {filename!r}, which would run as a script.")
    if not found.mime:
        return verdict(UNKNOWN_TYPE, f"Content matches no known file type (declared {declared_mime or 'nothing'}).")
    if len(content) > limit:
        return verdict(TOO_LARGE, f"{len(content)} bytes exceed the {limit}-byte limit for {message_type}.")
    if found.mime in ZIP_FAMILY and (problem := _check_archive(content, _Budget(), depth=0)):
        return verdict(*problem)
    if found.mime not in ALLOWED.get(message_type, frozenset()):
        elsewhere = any(found.mime in mimes for mimes in ALLOWED.values())
        return verdict(TYPE_MISMATCH if elsewhere else NOT_ALLOWED, f"{what} is not accepted as {message_type}.")
    return verdict("", "")


def _sniff(data: bytes) -> _Type:
    """The type of ``data`` (non-empty) from its magic numbers, our table first, then puremagic's."""
    head = data[:HEAD]
    for pattern, found in SIGNATURES:
        if pattern.match(head):
            return _zip_type(data) if found.mime == ZIP else _ole_type(data) if found.mime == OLE else found
    is_text = _is_text(head)
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower() if is_text else b""
    if lowered.startswith((b"@echo off", b"@echo on")):
        return _Type("application/x-bat", "bat", SCRIPT)
    if b"<script" in lowered:  # HTML, SVG or HTA that runs JavaScript once opened
        return _Type("text/html", "html", SCRIPT)
    try:
        matches = puremagic.magic_string(data)
    except puremagic.PureError:
        matches = []
    for match in matches:
        # On text puremagic guesses freely (JSON at 0.2): only its confident HTML, XML or vCard count.
        if match.mime_type and match.confidence >= (0.5 if is_text else 0):
            ext = match.extension.lstrip(".").lower()
            kind = EXECUTABLE if ext in EXECUTABLE_EXTS else SCRIPT if ext in SCRIPT_EXTS else ""
            return _Type(match.mime_type, ext, kind)
    return _Type("text/plain", "txt") if is_text else _UNKNOWN


def _zip_type(data: bytes) -> _Type:
    """Tell Office and OpenDocument files from a plain ZIP (JARs and APKs fail the member check)."""
    if _directory_too_big(data, MAX_ARCHIVE_MEMBERS):
        return _ZIP  # _check_archive refuses it
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            # OpenDocument names its type in a first member, "mimetype"; read a bounded prefix only.
            if "mimetype" in names and not archive.getinfo("mimetype").flag_bits & 0x1:
                with archive.open("mimetype") as stream:
                    mime = stream.read(100).decode("ascii", "replace").strip()
                if mime in ODF_EXTS:
                    return _Type(mime, ODF_EXTS[mime])
    except ZIP_ERRORS:
        return _ZIP
    if "[Content_Types].xml" in names:  # Office Open XML: the folder names the application
        for prefix, found in OOXML_PARTS:
            if any(name.startswith(prefix) for name in names):
                return found
    return _ZIP


def _ole_type(data: bytes) -> _Type:
    """Tell an installer from Word, Excel and PowerPoint files inside an OLE2 container."""
    if len(data) >= 52:
        shift, first_directory_sector = struct.unpack_from("<H", data, 30)[0], struct.unpack_from("<i", data, 48)[0]
        root = (first_directory_sector + 1) << shift if 7 <= shift <= 16 and first_directory_sector >= 0 else -1
        if root >= 0 and data[root + 80 : root + 96] in MSI_CLSIDS:
            return _Type("application/x-msi", "msi", EXECUTABLE)
    for stream, found in OLE_STREAMS:
        if (stream.encode("utf-16-le") + b"\x00\x00") in data:  # directory entry names are NUL-terminated
            return found
    return _Type(OLE, "")


def _check_archive(data: bytes, budget: _Budget, *, depth: int) -> tuple[str, str] | None:
    """(reason, detail) when a ZIP-based file hides something unsafe or cannot be bounded, else None.

    Members are judged by name and first bytes; nested ZIPs are read whole, within the budget on
    declared sizes (zipfile never returns more than a member declares).
    """
    if depth > MAX_ARCHIVE_DEPTH:
        return NOT_ALLOWED, "Archives are nested too deeply to inspect."
    too_large = TOO_LARGE, f"Archive holds over {MAX_ARCHIVE_MEMBERS} entries or {MAX_ARCHIVE_BYTES // MB} MB unpacked."
    if _directory_too_big(data, budget.members):
        return too_large
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            budget.members -= len(members)
            budget.bytes -= sum(member.file_size for member in members)
            if budget.members < 0 or budget.bytes < 0:
                return too_large
            if any(member.flag_bits & 0x1 for member in members):
                return ENCRYPTED_ARCHIVE, "Archive is password-protected, so its contents cannot be checked."
            for member in members:
                name = member.filename
                if member.is_dir():
                    continue
                # By name first, whatever the bytes: Office macros live in vbaProject.bin.
                if _extension(name) in EXECUTABLE_EXTS | SCRIPT_EXTS or name.lower().endswith("vbaproject.bin"):
                    return ARCHIVE_WITH_EXECUTABLE, f"Archive contains {name!r}, a program, script or macro."
                with archive.open(member) as stream:
                    head = stream.read(HEAD)
                    found = _sniff(head) if head else _UNKNOWN
                    if found.kind:
                        return ARCHIVE_WITH_EXECUTABLE, f"Archive member {name!r} is {found.mime}."
                    if found.ext in OTHER_ARCHIVE_EXTS:
                        return NOT_ALLOWED, f"Archive member {name!r} is {found.mime}, which we cannot inspect."
                    if found.mime in ZIP_FAMILY and (
                        problem := _check_archive(head + stream.read(), budget, depth=depth + 1)
                    ):
                        return problem
    except ZIP_ERRORS:
        return NOT_ALLOWED, "Archive is damaged and cannot be inspected."
    return None


def _directory_too_big(data: bytes, max_members: int) -> bool:
    """Bound the ZIP central directory from its end record, before zipfile parses every entry."""
    # zipfile walks the directory by its byte size, not its entry count, so both are bounded (1 KB an
    # entry is far above real names); ZIP64 archives set both fields to 0xFF... and count as too big.
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if end < 0 or end + 16 > len(data):
        return False  # no readable record: zipfile will call the archive damaged
    entries, directory_size = struct.unpack_from("<HI", data, end + 10)
    return entries > max_members or directory_size > max_members * KB


def _category_of(mime: str) -> str:
    # Video before audio: audio messages also take MP4 containers, which are video by nature.
    for message_type in ("image", "video", "audio", "sticker", "document"):
        if mime in ALLOWED[message_type]:
            return message_type
    return next((kind for kind in ("image", "audio", "video") if mime.startswith(kind + "/")), "")


def _is_text(head: bytes) -> bool:
    return bool(head) and not head.translate(None, TEXT_BYTES)


def _extension(filename: str) -> str:
    # Windows drops trailing dots and spaces, so "fatura.exe. " runs as an .exe.
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].rstrip(" .").lower()
    return name.rsplit(".", 1)[-1] if "." in name else ""
