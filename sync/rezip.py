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

A big member can be deflated in segments (:func:`deflate_segments`): each ends with a full
flush, so it inflates on its own, and the member's table of segments (compressed and
inflated sizes, CRC-32, a label the writer chose) is kept in its central directory entry,
in an extra field of its own that other readers skip. A writer that changes a few
stretches of a 100 MB member then inflates and deflates those segments alone and copies
the others' compressed bytes (:func:`segments_of`, :func:`inflate_segments`,
:func:`join`). A member some other program wrote has no table, or one its bytes do not
match: it is read whole.
"""

from __future__ import annotations

import io
import itertools
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import astuple, dataclass, replace
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


SEGMENTS_ID = 0x7373
"""The header ID of the extra field that holds a member's table of segments."""

_SEGMENT = struct.Struct("<4L")
_SEGMENTS_VERSION = 1
SEGMENT_LIMIT = (0xFFFF - 4 - 1) // _SEGMENT.size
"""The most segments one extra field holds; more are joined two by two."""

CAN_SEGMENT = hasattr(_deflater, "crc32_combine")
"""Whether segments can be joined here (their CRC-32s combined in C): ISA-L is installed."""


@dataclass(frozen=True)
class Segment:
    """A stretch of a member deflated on its own: ``packed`` compressed bytes that inflate to
    ``size`` bytes with CRC-32 ``crc``; ``label`` is what its writer knows it by (for a
    sheet, the number of the row it starts with; 0 for the first)."""

    packed: int
    size: int
    crc: int
    label: int


@dataclass(frozen=True)
class Deflated:
    """A member's new content, deflated (raw deflate) as it was made, its CRC-32 and size,
    and its segments when it was deflated in segments."""

    payload: bytes | memoryview
    crc: int
    size: int
    segments: tuple[Segment, ...] = ()

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


def deflate_segments(
    segments: Iterable[tuple[int, Iterable[bytes | memoryview]]], level: int, *, final: bool = True
) -> Deflated:
    """Content given segment by segment, each a (label, pieces), deflated so that each
    segment inflates on its own (a full flush ends it).

    Args:
        final: end the deflate stream (the member's last segments); else the result is
            meant to be joined before others (:func:`join`).
    """
    packer = _deflater.compressobj(_level(level), zlib.DEFLATED, -15)
    packed: list[bytes] = []
    table: list[Segment] = []
    for label, pieces in segments:
        crc, size, length = 0, 0, 0
        for piece in pieces:
            out = packer.compress(piece)
            packed.append(out)
            length += len(out)
            crc = zlib.crc32(piece, crc)
            size += len(piece)
        out = packer.flush(_deflater.Z_FULL_FLUSH)
        packed.append(out)
        table.append(Segment(length + len(out), size, crc, label))
    if final:
        out = packer.flush()
        packed.append(out)
        if table:
            table[-1] = replace(table[-1], packed=table[-1].packed + len(out))
        else:
            table.append(Segment(len(out), 0, 0, 0))
    return _whole(b"".join(packed), table)


def join(parts: Sequence[Deflated]) -> Deflated:
    """Segmented contents one after another (every one but the last deflated with
    ``final=False`` or copied from a member's middle)."""
    table = [segment for part in parts for segment in part.segments]
    return _whole(b"".join(part.payload for part in parts), table)


def segments_of(data: bytes, info: zipfile.ZipInfo) -> tuple[bytes, tuple[Segment, ...]] | None:
    """A member's compressed bytes and table of segments, or None when it has no table or
    one its bytes do not match (another program rewrote it)."""
    if not CAN_SEGMENT or info.flag_bits & 0x1 or info.compress_type != zipfile.ZIP_DEFLATED:
        return None
    table = _read_table(info.extra)
    if not table:
        return None
    if sum(s.packed for s in table) != info.compress_size or (
        sum(s.size for s in table) != info.file_size or _combined(table) != info.CRC
    ):
        return None
    try:
        return _payload(data, info), table
    except ZipNotCopied:
        return None


def inflate_segments(
    payload: bytes | memoryview, table: Sequence[Segment], first: int, last: int
) -> bytes:
    """The content of segments ``first`` to ``last`` (inclusive), CRC checked."""
    run = copied_segments(payload, table, first, last)
    content = _deflater.decompressobj(-15).decompress(run.payload)
    if len(content) != run.size or zlib.crc32(content) != run.crc:
        raise zipfile.BadZipFile("a segment does not inflate to what its table says")
    return content


def copied_segments(
    payload: bytes | memoryview, table: Sequence[Segment], first: int, last: int
) -> Deflated:
    """Segments ``first`` to ``last`` (inclusive) as they are, to be joined with others."""
    start = sum(s.packed for s in table[:first])
    chosen = table[first : last + 1]
    return Deflated(
        payload[start : start + sum(s.packed for s in chosen)],
        _combined(chosen),
        sum(s.size for s in chosen),
        tuple(chosen),
    )


def _combined(table: Sequence[Segment]) -> int:
    crc = 0  # the CRC-32 of nothing: combined with one of B, it gives B's
    for segment in table:
        crc = _deflater.crc32_combine(crc, segment.crc, segment.size)
    return crc


def _whole(payload: bytes, table: Sequence[Segment]) -> Deflated:
    """A segmented content, its table joined two by two until an extra field holds it."""
    segments = list(table)
    while len(segments) > SEGMENT_LIMIT:
        pairs = itertools.zip_longest(segments[::2], segments[1::2])
        segments = [a if b is None else _pair(a, b) for a, b in pairs]
    size = sum(s.size for s in segments)
    return Deflated(payload, _combined(segments), size, tuple(segments))


def _pair(a: Segment, b: Segment) -> Segment:
    return Segment(a.packed + b.packed, a.size + b.size, _combined([a, b]), a.label)


def _table_field(table: Sequence[Segment]) -> bytes:
    body = bytes([_SEGMENTS_VERSION]) + b"".join(_SEGMENT.pack(*astuple(s)) for s in table)
    return struct.pack("<2H", SEGMENTS_ID, len(body)) + body


def _own_field(extra: bytes) -> bytes:
    """The table's field among a member's extra fields (b"" when it has none)."""
    while len(extra) >= 4:
        kind, length = struct.unpack("<2H", extra[:4])
        if kind == SEGMENTS_ID:
            return extra[: 4 + length]
        extra = extra[4 + length :]
    return b""


def _read_table(extra: bytes) -> tuple[Segment, ...]:
    field = _own_field(extra)
    body = field[4:]
    if not body or body[0] != _SEGMENTS_VERSION or (len(body) - 1) % _SEGMENT.size:
        return ()
    return tuple(Segment(*fields) for fields in _SEGMENT.iter_unpack(body[1:]))


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
    out: list[bytes | memoryview] = []
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
            extra = _table_field(content.segments) if content.segments else b""
        else:
            payload = _payload(data, info)
            method, crc, size = info.compress_type, info.CRC, info.file_size
            version = max(info.extract_version, _DEFLATE_VERSION)
            extra = _own_field(info.extra)  # its bytes are the same: so is its table
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
                len(extra),
                len(info.comment),
                0,
                info.internal_attr,
                info.external_attr,
                offset,
            )
            + name
            + extra
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
    """A member's compressed bytes, found through its local header (a copy: a view of the
    file, held by the new file's pieces, kept more of the old one alive at a cold cycle's
    peak: 17 MB more at 50 agents)."""
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
