"""The shape of a Yjs update (v1), read before the update is applied.

pycrdt applies an update in one call that holds the GIL, and what that call costs
depends on the update's structure, not its size: a few kilobytes of delete ranges
that each split one large block cost seconds. pycrdt has no way to inspect an update
without applying it, so this module walks the v1 encoding (lib0 varints) far enough
to count its pieces, the structs and delete ranges that each may split a block, and
to list what they depend on. It gives up as soon as the count passes the caller's
limit, so reading a hostile update costs at most that many steps.

The format is Yjs's `encodeStateAsUpdate` (v1): the structs of each client, then the
delete set. Only what Yjs clients send is accepted: XML hooks and weak links, which no
code room uses, are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .protocol import ProtocolError

# Struct kinds: the low five bits of a struct's info byte.
GC, DELETED, JSON, BINARY, STRING, EMBED, FORMAT, TYPE, ANY, DOC = range(10)
SKIP = 10
HAS_ORIGIN, HAS_RIGHT_ORIGIN, HAS_PARENT_SUB = 0x80, 0x40, 0x20
# Shared types a code room's clients create: array, map, text, and the XML ones
# (element and hook carry a name). Weak links (7) and anything newer are refused.
TYPE_REFS = {0, 1, 2, 3, 4, 5, 6}
NAMED_TYPE_REFS = {3, 5}
MAX_ANY_DEPTH = 64


class TooFragmented(ProtocolError):
    """An update with more pieces than one update may carry."""


@dataclass
class UpdateShape:
    """What applying an update will touch, as far as cost and dependencies go."""

    structs: int = 0
    delete_ranges: int = 0
    shared_types: int = 0  # structs that create a nested shared type
    # Per client: the first clock of its structs in the update, and one past the last.
    starts: dict[int, int] = field(default_factory=dict)
    ends: dict[int, int] = field(default_factory=dict)
    # Per client: one past the highest clock a struct or delete range refers to.
    needs: dict[int, int] = field(default_factory=dict)

    @property
    def pieces(self) -> int:
        return self.structs + self.delete_ranges

    def need(self, client: int, clock: int) -> None:
        if clock >= self.needs.get(client, 0):
            self.needs[client] = clock + 1


class _Reader:
    """Reads lib0 encodings, counting the steps it takes against a budget."""

    __slots__ = ("budget", "data", "pos")

    def __init__(self, data: bytes, budget: int) -> None:
        self.data = data
        self.pos = 0
        self.budget = budget

    def steps(self, count: int) -> int:
        """Take `count` steps (structs, ranges, values); `count` back, for `range`."""
        self.budget -= count
        if self.budget < 0:
            raise TooFragmented(
                "the document update has too many pieces (inserts, deleted ranges or "
                "values): send it in smaller steps"
            )
        return count

    def uint(self) -> int:
        data, pos = self.data, self.pos
        try:
            byte = data[pos]
            if byte < 0x80:  # most lengths and kinds: one byte
                self.pos = pos + 1
                return byte
            value, shift = byte & 0x7F, 7
            while shift < 64:
                pos += 1
                byte = data[pos]
                value |= (byte & 0x7F) << shift
                if byte < 0x80:
                    self.pos = pos + 1
                    return value
                shift += 7
        except IndexError:
            pass
        raise ProtocolError("the document update is not a valid Yjs update (truncated)")

    def skip(self, length: int) -> None:
        self.pos += length
        if self.pos > len(self.data):
            raise ProtocolError("the document update is not a valid Yjs update (truncated)")

    def skip_bytes(self) -> None:
        self.skip(self.uint())

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise ProtocolError("the document update is not a valid Yjs update (truncated)")
        self.pos += 1
        return self.data[self.pos - 1]

    def skip_any(self, depth: int = 0) -> None:
        """Skip one lib0 `Any` value (a JSON-like value in binary form)."""
        if depth > MAX_ANY_DEPTH:
            raise ProtocolError("the document update nests values too deeply")
        kind = self.byte()
        if kind in (127, 126, 121, 120):  # undefined, null, false, true
            return
        if kind == 125:  # varint
            self.uint()
        elif kind == 124:  # float32
            self.skip(4)
        elif kind in (123, 122):  # float64, bigint64
            self.skip(8)
        elif kind in (119, 116):  # string, bytes
            self.skip_bytes()
        elif kind == 118:  # object
            for _ in range(self.steps(self.uint())):
                self.skip_bytes()
                self.skip_any(depth + 1)
        elif kind == 117:  # array
            for _ in range(self.steps(self.uint())):
                self.skip_any(depth + 1)
        else:
            raise ProtocolError(
                "the document update is not a valid Yjs update (a value of unknown kind)"
            )


def read_shape(
    update: bytes, max_pieces: int, deletes: dict[int, list[tuple[int, int]]] | None = None
) -> UpdateShape:
    """Count the structs and delete ranges of `update` and what they refer to.

    Raises TooFragmented past `max_pieces` steps (structs, delete ranges, client
    sections, values: having taken at most that many), and ProtocolError if the update
    is not a well-formed v1 update. `deletes`, if given, receives the delete set as
    [start, end) clock ranges per client (the headless client tracks its own deletions
    with it: pycrdt cannot decode a delete set)."""
    shape = UpdateShape()
    reader = _Reader(update, max_pieces)
    for _ in range(reader.steps(reader.uint())):
        structs = reader.steps(reader.uint())
        client = reader.uint()
        clock = reader.uint()
        shape.starts[client] = min(clock, shape.starts.get(client, clock))
        for _ in range(structs):
            length = _read_struct(reader, shape)
            if length == 0:  # no Yjs client writes one, and pycrdt panics on some
                raise ProtocolError("the document update holds an empty struct")
            clock += length
        shape.ends[client] = max(clock, shape.ends.get(client, clock))
        shape.structs += structs
    for _ in range(reader.steps(reader.uint())):
        client = reader.uint()
        ranges = reader.steps(reader.uint())
        for _ in range(ranges):
            clock = reader.uint()
            length = reader.uint()
            if length:
                shape.need(client, clock + length - 1)
                if deletes is not None:
                    deletes.setdefault(client, []).append((clock, clock + length))
        shape.delete_ranges += ranges
    if reader.pos != len(update):
        raise ProtocolError("the document update is not a valid Yjs update (bytes after its end)")
    return shape


def _utf16_length(data: bytes) -> int:
    """A string's length as Yjs counts it (UTF-16 code units)."""
    return len(data.decode("utf-8", "replace").encode("utf-16-le")) // 2


def _read_struct(reader: _Reader, shape: UpdateShape) -> int:
    """Read one struct; its length in clock units."""
    info = reader.byte()
    kind = info & 0x1F
    if kind in (GC, SKIP):
        return reader.uint()
    if info & HAS_ORIGIN:
        shape.need(reader.uint(), reader.uint())
    if info & HAS_RIGHT_ORIGIN:
        shape.need(reader.uint(), reader.uint())
    if not info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN):
        if reader.uint() == 1:  # parent is a root type, by name
            reader.skip_bytes()
        else:  # parent is a type created by an item
            shape.need(reader.uint(), reader.uint())
        if info & HAS_PARENT_SUB:
            reader.skip_bytes()
    if kind == DELETED:
        return reader.uint()
    if kind == JSON:
        count = reader.steps(reader.uint())
        for _ in range(count):
            reader.skip_bytes()
        return count
    if kind == STRING:
        length = reader.uint()
        start = reader.pos
        reader.skip(length)
        return _utf16_length(reader.data[start : start + length])
    if kind == ANY:
        count = reader.steps(reader.uint())
        for _ in range(count):
            reader.skip_any()
        return count
    if kind in (BINARY, EMBED):
        reader.skip_bytes()
    elif kind == FORMAT:
        reader.skip_bytes()
        reader.skip_bytes()
    elif kind == TYPE:
        shape.shared_types += 1
        type_ref = reader.uint()
        if type_ref not in TYPE_REFS:
            raise ProtocolError(f"the document update creates a shared type of kind {type_ref}")
        if type_ref in NAMED_TYPE_REFS:
            reader.skip_bytes()
    elif kind == DOC:
        reader.skip_bytes()
        reader.skip_any()
    else:
        raise ProtocolError(
            f"the document update is not a valid Yjs update (a struct of unknown kind {kind})"
        )
    return 1
