"""The bytes the fakes serve as a customer's media: a real PNG, so the safety check and the admin accept it."""

import struct
import zlib


def png(width: int = 48, height: int = 48, rgb: tuple[int, int, int] = (37, 211, 102)) -> bytes:
    """A solid-colour PNG (WhatsApp green by default)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


SAMPLE_IMAGE = png()
SAMPLE_IMAGE_MIME = "image/png"
