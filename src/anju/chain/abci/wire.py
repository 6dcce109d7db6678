"""Protocol Buffers wire format, just what ABCI needs (protobuf.dev/programming-guides/encoding).

Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. Negative ``int64`` values are
encoded as their 64-bit two's complement. ABCI frames every message on a socket connection with
its length as an unsigned varint.
"""

from __future__ import annotations

from collections.abc import Iterator

VARINT, I64, LEN, I32 = 0, 1, 2, 5
_MASK64 = (1 << 64) - 1


class WireError(ValueError):
    """Bytes that are not a well-formed protobuf message."""


class Truncated(WireError):
    """A varint cut short: the bytes end before it does (on a socket, more may be on their way)."""


_SMALL = [bytes((i,)) for i in range(0x80)]


def uvarint(n: int) -> bytes:
    if 0 <= n < 0x80:
        return _SMALL[n]
    n &= _MASK64
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def read_uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    if pos < len(buf) and buf[pos] < 0x80:
        return buf[pos], pos + 1
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise Truncated("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint too long")


def read_bytes(buf: bytes, pos: int) -> tuple[bytes, int]:
    """A length-delimited value at ``pos`` (its length varint first); return it and the position after."""
    n, pos = read_uvarint(buf, pos)
    if pos + n > len(buf):
        raise WireError("truncated length-delimited field")
    return buf[pos : pos + n], pos + n


def skip_field(buf: bytes, pos: int, key: int) -> int:
    """The position after the value of a field whose key (read already) is ``key``."""
    no, wt = key >> 3, key & 7
    if no == 0:
        raise WireError("field number 0")
    if wt == VARINT:
        return read_uvarint(buf, pos)[1]
    if wt == LEN:
        n, pos = read_uvarint(buf, pos)
        end = pos + n
    elif wt == I64:
        end = pos + 8
    elif wt == I32:
        end = pos + 4
    else:
        raise WireError(f"unsupported wire type {wt}")
    if end > len(buf):
        raise WireError("truncated field")
    return end


def as_int64(n: int) -> int:
    return n - (1 << 64) if n >= 1 << 63 else n


def iter_fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value): an int for varints, bytes for the others."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = read_uvarint(buf, pos)
        no, wt = key >> 3, key & 7
        if no == 0:
            raise WireError("field number 0")
        if wt == VARINT:
            v, pos = read_uvarint(buf, pos)
            yield no, wt, v
        elif wt == LEN:
            n, pos = read_uvarint(buf, pos)
            if pos + n > end:
                raise WireError("truncated length-delimited field")
            yield no, wt, buf[pos : pos + n]
            pos += n
        elif wt == I64:
            if pos + 8 > end:
                raise WireError("truncated fixed64")
            yield no, wt, buf[pos : pos + 8]
            pos += 8
        elif wt == I32:
            if pos + 4 > end:
                raise WireError("truncated fixed32")
            yield no, wt, buf[pos : pos + 4]
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wt}")


def decode(buf: bytes) -> dict[int, list[int | bytes]]:
    """All fields of a message, by number (repeated fields keep their order)."""
    out: dict[int, list[int | bytes]] = {}
    for no, _, v in iter_fields(buf):
        out.setdefault(no, []).append(v)
    return out


class Fields:
    """Typed reads from a decoded message; proto3 defaults for absent fields."""

    __slots__ = ("_f",)

    def __init__(self, buf: bytes) -> None:
        self._f = decode(buf)

    def _last(self, no: int) -> int | bytes | None:
        vs = self._f.get(no)
        return vs[-1] if vs else None

    def num(self, no: int) -> int:
        v = self._last(no)
        if v is None:
            return 0
        if not isinstance(v, int):
            raise WireError(f"field {no} is not a varint")
        return as_int64(v)

    def flag(self, no: int) -> bool:
        return self.num(no) != 0

    def raw(self, no: int) -> bytes:
        v = self._last(no)
        if v is None:
            return b""
        if not isinstance(v, bytes):
            raise WireError(f"field {no} is not length-delimited")
        return v

    def text(self, no: int) -> str:
        return self.raw(no).decode("utf-8", "replace")

    def raws(self, no: int) -> list[bytes]:
        out = []
        for v in self._f.get(no, []):
            if not isinstance(v, bytes):
                raise WireError(f"field {no} is not length-delimited")
            out.append(v)
        return out

    def has(self, no: int) -> bool:
        return no in self._f


# -- encoding: proto3 omits default values, except a message field that is present ------------------
def f_int(no: int, v: int) -> bytes:
    return uvarint(no << 3 | VARINT) + uvarint(v) if v else b""


def f_bool(no: int, v: bool) -> bytes:
    return f_int(no, 1 if v else 0)


def f_bytes(no: int, v: bytes) -> bytes:
    return uvarint(no << 3 | LEN) + uvarint(len(v)) + v if v else b""


def f_str(no: int, v: str) -> bytes:
    return f_bytes(no, v.encode())


def f_msg(no: int, v: bytes) -> bytes:
    """A present sub-message (emitted even when empty: oneof members must be)."""
    return uvarint(no << 3 | LEN) + uvarint(len(v)) + v


def frame(msg: bytes) -> bytes:
    """An ABCI socket frame: unsigned-varint length, then the message."""
    return uvarint(len(msg)) + msg
