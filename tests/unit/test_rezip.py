"""The zip writer behind the .xlsx patcher: replaced members hold their new content, the
others are copied compressed byte for byte, and zipfile reads the result back whole."""

from __future__ import annotations

import io
import zipfile
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync import rezip as rezip_module
from sync.rezip import Deflated, ZipNotCopied, deflate, read_member, rezip

names = st.text(alphabet=st.sampled_from("abcxyz/_.-é日"), min_size=1, max_size=12).filter(
    lambda n: not n.startswith("/") and not n.endswith("/") and "//" not in n
)
contents = st.binary(max_size=3000) | st.text(max_size=3000).map(str.encode)


class _Unseekable(io.RawIOBase):
    """A stream zipfile cannot seek back in: it writes data descriptors after members."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def]
        self.buffer += data
        return len(data)


def _zip(members: dict[str, tuple[bytes, int]], *, comment: bytes, streamed: bool) -> bytes:
    if streamed:
        stream = _Unseekable()
        with zipfile.ZipFile(stream, "w") as z:
            for name, (content, method) in members.items():
                info = zipfile.ZipInfo(name)
                info.compress_type = method
                with z.open(info, "w") as member:
                    member.write(content)
            z.comment = comment
        return bytes(stream.buffer)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, (content, method) in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 2, 29, 13, 45, 58))
            info.compress_type = method
            info.external_attr = 0o640 << 16
            info.comment = name.encode()[:5]
            z.writestr(info, content)
        z.comment = comment
    return out.getvalue()


def _infos(data: bytes) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {info.filename: info for info in z.infolist()}


def _raw(data: bytes, name: str) -> bytes:
    """A member's compressed bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.getinfo(name)
        start = info.header_offset
        skip = 30 + int.from_bytes(data[start + 26 : start + 28], "little")
        skip += int.from_bytes(data[start + 28 : start + 30], "little")
        return data[start + skip : start + skip + info.compress_size]


@settings(max_examples=60, deadline=None)
@given(
    members=st.dictionaries(
        names, st.tuples(contents, st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    ),
    choices=st.data(),
    comment=st.binary(max_size=20).filter(lambda c: b"PK" not in c),  # zipfile misreads it
    streamed=st.booleans(),
    level=st.sampled_from([1, 6, 9]),
    deflater=st.sampled_from(["isal", "zlib"]),
)
def test_a_rezipped_file_holds_the_new_members_and_copies_the_others_as_they_were(
    members, choices, comment, streamed, level, deflater
):
    data = _zip(members, comment=comment, streamed=streamed)
    picked = (
        choices.draw(st.lists(st.sampled_from(sorted(members)), unique=True)) if members else []
    )
    replaced = {name: choices.draw(contents) for name in picked[1:]}
    drop = set(picked[:1])
    # Each new content whole, in pieces (some of them views), or deflated as its pieces
    # were made (one at a time, from a generator).
    given: dict[str, bytes | list[bytes | memoryview] | Deflated] = {}
    deflated: set[str] = set()
    for name, content in replaced.items():
        cuts = sorted(choices.draw(st.lists(st.integers(0, len(content)), max_size=4)))
        form = choices.draw(st.sampled_from(["whole", "pieces", "deflated"]))
        if form == "whole":
            given[name] = content
        else:
            edges = [0, *cuts, len(content)]
            given[name] = [
                memoryview(content)[a:b] if i % 2 else content[a:b]
                for i, (a, b) in enumerate(zip(edges, edges[1:], strict=False))
            ]
            if form == "deflated":
                deflated.add(name)

    with pytest.MonkeyPatch.context() as patch:
        if deflater == "zlib":  # a platform without isal's wheel
            patch.setattr(rezip_module, "_deflater", zlib)
        for name in deflated:
            pieces = given[name]
            assert isinstance(pieces, list)
            given[name] = made = deflate((piece for piece in pieces), level)
            assert made.inflated() == replaced[name]
        out = rezip(data, given, drop, lambda _size: level)
        fast = {name: read_member(out, info) for name, info in _infos(out).items()}

    with zipfile.ZipFile(io.BytesIO(out)) as z, zipfile.ZipFile(io.BytesIO(data)) as before:
        assert z.testzip() is None
        assert z.namelist() == [n for n in before.namelist() if n not in drop]
        assert z.comment == comment
        for name in z.namelist():
            assert z.read(name) == replaced.get(name, before.read(name))
            assert fast[name] == z.read(name)
            was, now = before.getinfo(name), z.getinfo(name)
            assert (now.date_time, now.external_attr, now.comment) == (
                was.date_time,
                was.external_attr,
                was.comment,
            )
            if name not in replaced:
                assert _raw(out, name) == _raw(data, name)  # copied, not deflated again


def test_an_encrypted_member_is_left_to_zipfile():
    data = bytearray(_zip({"a.xml": (b"<a/>", zipfile.ZIP_STORED)}, comment=b"", streamed=False))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        central = data.index(b"PK\x01\x02")
        data[central + 8] |= 1  # the central directory's flag: encrypted
        assert z.getinfo("a.xml")
    with pytest.raises(ZipNotCopied, match="encrypted"):
        rezip(bytes(data), {})


def test_a_member_read_fast_is_checked_against_its_crc():
    data = bytearray(
        _zip({"a.xml": (b"<a>text</a>", zipfile.ZIP_STORED)}, comment=b"", streamed=False)
    )
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo("a.xml")
    at = data.index(b"<a>text</a>")
    data[at + 3] = ord("T")  # the content changed under its CRC
    with pytest.raises(zipfile.BadZipFile, match="CRC"):
        read_member(bytes(data), info)


@settings(max_examples=60, deadline=None)
@given(
    chunks=st.lists(st.binary(max_size=300), min_size=1, max_size=12),
    limit=st.integers(1, 8),
    cut=st.data(),
)
def test_a_member_deflated_in_segments_reads_back_whole_and_segment_by_segment(
    chunks: list[bytes], limit: int, cut: st.DataObject
) -> None:
    """Segments deflated apart, some copied and some deflated again, joined (two by two
    past the limit an extra field holds): the member reads back whole, CRC checked, and
    any run of its segments inflates to its stretch of the content."""
    if not rezip_module.CAN_SEGMENT:
        pytest.skip("isal is not installed: members are not deflated in segments")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rezip_module, "SEGMENT_LIMIT", limit)
        first = rezip_module.deflate_segments(((i, [chunk]) for i, chunk in enumerate(chunks)), 1)
        assert len(first.segments) <= limit
        # Deflate again the segments from one on, keep the ones before it.
        at = cut.draw(st.integers(0, len(first.segments) - 1))
        table = first.segments
        start = sum(s.size for s in table[:at])
        rest = b"".join(chunks)[start:]
        parts = [rezip_module.copied_segments(first.payload, table, 0, at - 1)] if at else []
        parts.append(rezip_module.deflate_segments([(7, [rest])], 6))
        made = rezip_module.join(parts)
    content = b"".join(chunks)
    assert made.inflated() == content and made.size == len(content)
    old = _zip({"sheet.xml": (b"old", zipfile.ZIP_DEFLATED)}, comment=b"", streamed=False)
    data = rezip(old, {"sheet.xml": made})
    info = _infos(data)["sheet.xml"]
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.read("sheet.xml") == content  # CRC and sizes checked
    found = rezip_module.segments_of(data, info)
    assert found is not None and found[1] == made.segments
    payload, table = found
    first_at = cut.draw(st.integers(0, len(table) - 1))
    last_at = cut.draw(st.integers(first_at, len(table) - 1))
    begin = sum(s.size for s in table[:first_at])
    end = begin + sum(s.size for s in table[first_at : last_at + 1])
    assert rezip_module.inflate_segments(payload, table, first_at, last_at) == content[begin:end]
    # Copied as it is by the next rezip, the member keeps its table.
    again = rezip(data, {})
    assert rezip_module.segments_of(again, _infos(again)["sheet.xml"]) == found
