"""Write a zip file anew with some members replaced, copying every other member's
compressed bytes as they are; read one member fast.

``zipfile`` can only copy a member by inflating and deflating it again; for a master
workbook whose unchanged sheets hold tens of megabytes of XML that is most of the cost of
patching a few cells. Here an unchanged member's compressed data is copied byte for byte
(its CRC and sizes come from the central directory) and only the replaced members are
compressed. What this writer does not handle (an encrypted member, ZIP64 sizes, more
members than a plain zip holds) raises :class:`ZipNotCopied`; the caller uses ``zipfile``.

Deflate and inflate go through ISA-L (``isal``) where it is installed: a master's 120 MB
sheet deflates in a fifth of zlib's time at its fastest level, and smaller.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from types import ModuleType

_deflater: ModuleType
try:
    from isal import isal_zlib as _deflater
except ImportError:  # no wheel for this platform: the standard library's zlib
    _deflater = zlib

_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_LIMIT = 0xFFFFFFFF
_UTF8_NAME = 0x800
_DEFLATE_VERSION = 20


class ZipNotCopied(Exception):
    """The zip has something this writer does not copy; write it with ``zipfile``."""


@dataclass(frozen=True)
class Deflated:
    """A member's new content, deflated (raw deflate) as it was made, its CRC-32 and size."""

    payload: bytes
    crc: int
    size: int

    def inflated(self) -> bytes:
        """The content itself (for a writer that takes it whole)."""
        return bytes(_deflater.decompress(self.payload, -15))


def deflate(pieces: Iterable[bytes | memoryview], level: int) -> Deflated:
    """Content given piece by piece, deflated at zlib's ``level`` (or ISA-L's nearest) as
    each piece comes: only the deflated bytes are held, so pieces made as they are asked
    for (the rows of a sheet of 100 MB of XML) never all exist at once."""
    packer = _deflater.compressobj(_level(level), zlib.DEFLATED, -15)
    packed, crc, size = [], 0, 0
    for piece in pieces:
        packed.append(packer.compress(piece))
        crc = zlib.crc32(piece, crc)
        size += len(piece)
    packed.append(packer.flush())
    return Deflated(b"".join(packed), crc, size)


def rezip(
    data: bytes,
    replaced: Mapping[str, bytes | Sequence[bytes | memoryview] | Deflated],
    drop: Set[str] = frozenset(),
    level: Callable[[int], int] = lambda _size: 6,
) -> bytes:
    """The zip ``data`` with the members in ``replaced`` holding their new content
    (deflated at zlib's ``level(size)``, or ISA-L's nearest), the members in ``drop``
    left out, and every other member copied compressed as it is, in the same order.

    A new content may be given in pieces, deflated one after another (a sheet of 100 MB
    of XML is then never joined into one more copy), or already deflated (:func:`deflate`).

    Raises:
        ZipNotCopied: see the module's docstring.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        infos = source.infolist()
        comment = source.comment
    if len(infos) >= 0xFFFF:
        raise ZipNotCopied("too many members")
    out: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for info in infos:
        if info.filename in drop:
            continue
        name = info.filename.encode("utf-8")
        flags = info.flag_bits & _UTF8_NAME
        if not name.isascii():
            flags |= _UTF8_NAME
        if info.flag_bits & 0x1:
            raise ZipNotCopied(f"{info.filename} is encrypted")
        if info.filename in replaced:
            content = replaced[info.filename]
            if not isinstance(content, Deflated):
                pieces = [content] if isinstance(content, bytes) else content
                content = deflate(pieces, level(sum(len(piece) for piece in pieces)))
            payload, crc, size = content.payload, content.crc, content.size
            method = zipfile.ZIP_DEFLATED
            version = _DEFLATE_VERSION
        else:
            payload = _payload(data, info)
            method, crc, size = info.compress_type, info.CRC, info.file_size
            version = max(info.extract_version, _DEFLATE_VERSION)
        if max(len(payload), size, offset) >= _LIMIT:
            raise ZipNotCopied(f"{info.filename} needs ZIP64")
        # The fields a local header and its central directory entry share, in order.
        common = (version, flags, method, *_dos_time(info.date_time), crc, len(payload), size)
        out += (_LOCAL.pack(_LOCAL_SIGNATURE, *common, len(name), 0), name, payload)
        central.append(
            _CENTRAL.pack(
                b"PK\x01\x02",
                (info.create_system << 8) | info.create_version,
                *common,
                len(name),
                0,
                len(info.comment),
                0,
                info.internal_attr,
                info.external_attr,
                offset,
            )
            + name
            + info.comment
        )
        offset += _LOCAL.size + len(name) + len(payload)
    directory = b"".join(central)
    if offset + len(directory) >= _LIMIT:
        raise ZipNotCopied("needs ZIP64")
    end = _END.pack(
        b"PK\x05\x06", 0, 0, len(central), len(central), len(directory), offset, len(comment)
    )
    return b"".join([*out, directory, end, comment])


def _level(zlib_level: int) -> int:
    """ISA-L's level (0-3, 3 about zlib's 6) for a zlib level."""
    return zlib_level if _deflater is zlib else min(zlib_level, 3)


def read_member(data: bytes, info: zipfile.ZipInfo) -> bytes:
    """A member's content (what ``ZipFile.read`` gives, CRC checked), inflated by ISA-L
    where it is installed.

    Raises:
        ZipNotCopied: a member this reader does not inflate (encrypted, not deflated).
    """
    if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED):
        raise ZipNotCopied(f"{info.filename} is encrypted or not deflated")
    payload = _payload(data, info)
    content = (
        _deflater.decompress(payload, -15)
        if info.compress_type == zipfile.ZIP_DEFLATED
        else payload
    )
    if len(content) != info.file_size or zlib.crc32(content) != info.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {info.filename!r}")
    return content


def _payload(data: bytes, info: zipfile.ZipInfo) -> bytes:
    """A member's compressed bytes, found through its local header."""
    start = info.header_offset
    header = data[start : start + _LOCAL.size]
    if len(header) < _LOCAL.size or header[:4] != _LOCAL_SIGNATURE:
        raise ZipNotCopied(f"{info.filename}: no local header where the directory says")
    fields = _LOCAL.unpack(header)
    begin = start + _LOCAL.size + fields[9] + fields[10]
    payload = data[begin : begin + info.compress_size]
    if len(payload) != info.compress_size:
        raise ZipNotCopied(f"{info.filename} is cut short")
    return payload


def _dos_time(when: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
    year, month, day, hour, minute, second = when
    return (hour << 11) | (minute << 5) | (second // 2), ((max(year, 1980) - 1980) << 9) | (
        month << 5
    ) | day
