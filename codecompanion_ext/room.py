"""One live room: a pycrdt document, the awareness of those present, and their connections.

Every document update is applied once to the server's copy, handed to the writer
(its `RoomJournal`), and relayed only once committed, so a client never holds an
edit from the server that the database lacks. Awareness updates are applied to the
server's own awareness state and only what is new is relayed: y-websocket clients
echo every awareness change they receive, and relaying echoes would multiply
traffic by the room size.

Every link holder may be hostile, so each input is bounded before it costs anything:
an update's shape is read before it is applied (`update_shape`, priced by `edit_cost`),
presence is checked before it is applied, what waits unread for each peer is counted
(`backlog`), and the parts of the document the server owns (`participants`,
`meta.language`) are put back in shape after any peer edits them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pycrdt import (
    Array,
    Awareness,
    Decoder,
    Doc,
    Encoder,
    Map,
    Text,
    YSyncMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    handle_sync_message,
    merge_updates,
)

from . import defaults
from .backlog import SendBacklog
from .close_codes import CloseCode
from .edit_cost import EditCost
from .frames import Broadcast
from .limits import TokenBucket
from .protocol import (
    AwarenessEntry,
    MessageType,
    ProtocolError,
    awareness_clocks,
    parse_awareness_update,
    parse_message,
)
from .room_summary import SummaryTracker
from .store import RoomRecord, RoomStore, RoomSummary, StoreError
from .update_shape import UpdateShape, read_shape
from .validation import DEFAULT_LANGUAGE, is_language
from .writer import Writer

EMPTY_UPDATE = b"\x00\x00"


def _auth_permission_denied(reason: str) -> bytes:
    encoder = Encoder()
    encoder.write_var_uint(MessageType.AUTH)
    encoder.write_var_uint(0)  # y-protocols auth: permission denied
    encoder.write_var_string(reason)
    return encoder.to_bytes()


# Nested shared types (Y.Array, Y.Map, Y.Text inside the roots) a room may ever hold. Code
# rooms need none; yrs deletes them recursively, so a peer nesting tens of thousands
# deep, then deleting them, would overflow the server's stack.
MAX_SHARED_TYPES = 1_000
MISSING_DEPENDENCIES = "the document update builds on edits the server does not have"
VIEW_ONLY_MESSAGE = _auth_permission_denied("view only: this link does not allow editing")
# Sync step 1 of an empty document (an empty state vector): what every newcomer sends.
KNOWS_NOTHING = b"\x00\x01\x00"
# Seconds the clock of a client that left is kept: long enough for late echoes of its last
# state to be recognised (clients echo what they receive at once), short enough that
# reconnecting over and over does not grow the room's awareness metadata.
FORGET_PRESENCE_AFTER = 30.0


@dataclass
class PeerState:
    can_edit: bool
    via_key: bool
    work: TokenBucket  # loop time its document updates cost (EditCost)
    client_ids: set[int] = field(default_factory=set)
    told_view_only: bool = False
    spoofed_awareness: int = 0
    claimed: set[int] = field(default_factory=set)  # every presence client id it spoke for
    name_rule: Callable[[str], str | None] | None = None  # what its presence names may be
    answers: dict[int, bytes] = field(default_factory=dict)  # sync answers awaiting a commit


class DocumentTooLarge(ValueError):
    """An update would grow the room past its size limit; it is refused, not stored."""


class TooMuchWork(ValueError):
    """A peer whose updates keep costing more loop time than its share."""


class PresenceLimit(ValueError):
    """Presence past a connection's or the room's bounds; it is refused, not applied."""


def _stored_shape(update: bytes) -> tuple[int, int]:
    """How many blocks and nested shared types a stored update may have added."""
    try:
        shape = read_shape(update, max_pieces=len(update))
    except ProtocolError:  # stored before these checks, or imported: assume the worst
        return len(update) // 4, len(update) // 4
    return shape.pieces, shape.shared_types


def decode_state(state: bytes) -> dict[int, int]:
    """A state vector (client id -> next clock) from its lib0 encoding."""
    clocks: dict[int, int] = {}
    decoder = Decoder(state)
    for _ in range(decoder.read_var_uint()):
        client = decoder.read_var_uint()
        clocks[client] = decoder.read_var_uint()
    return clocks


def encode_state(clocks: dict[int, int]) -> bytes:
    """The lib0 encoding of a state vector (client id -> next clock)."""
    encoder = Encoder()
    encoder.write_var_uint(len(clocks))
    for client, clock in clocks.items():
        encoder.write_var_uint(client)
        encoder.write_var_uint(clock)
    return encoder.to_bytes()


class Peer(Protocol):
    """A connection to a room; the WebSocket handler is one."""

    def send(self, message: bytes) -> Any:
        """Queue `message`; returns the future of its write on a stream (None if it was not
        queued on one), so the room can bound what waits for the peer to read it."""

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...

    def abort(self) -> None:
        """Drop the connection at once, with everything queued for it."""


class Room:
    """The server's copy of one room's document and everyone connected to it."""

    def __init__(
        self,
        room_id: str,
        store: RoomStore,
        history: list[bytes],
        *,
        log: logging.Logger,
        compact_after: int = defaults.COMPACT_AFTER,
        max_awareness_state: int = defaults.MAX_AWARENESS_STATE,
        max_document_size: int = defaults.MAX_DOCUMENT_SIZE,
        max_update_ms: float = defaults.MAX_UPDATE_MS,
        cpu_share: float = defaults.ROOM_CPU_SHARE,
        max_presence_client_ids: int = defaults.MAX_PRESENCE_CLIENT_IDS,
        max_room_presence: int = defaults.MAX_ROOM_PRESENCE,
        max_send_backlog: int = defaults.MAX_SEND_BACKLOG,
        max_room_send_backlog: int = defaults.MAX_ROOM_SEND_BACKLOG,
        writer: Writer | None = None,
        record: RoomRecord | None = None,
        on_edit: Callable[[], None] | None = None,
        on_summary: Callable[[Room], None] | None = None,
        summary: RoomSummary | None = None,
    ) -> None:
        """`history` is the room's stored updates; `writer` stores new ones (by default a
        writer of its own on `store`); `record` is the room as the rooms table has it (by
        default read from `store`): the document's `participants` and `meta.language` are
        kept in the shape it gives them. `on_edit` is called as each batch of edits is
        relayed (the server's activity, see `activity`). `on_summary`: the room is in a
        group, whose dashboard is told through it when the room's summary may have
        changed (`room_summary`); `summary` is the one last saved."""
        self.room_id = room_id
        self.on_edit = on_edit
        self.max_awareness_state = max_awareness_state
        self.max_presence_client_ids = max_presence_client_ids
        self.max_room_presence = max_room_presence
        self._closing: set[Any] = set()  # slow peers closed, their queues not yet freed
        self.backlog = SendBacklog(
            max_send_backlog, max_room_send_backlog, self._written, self._closing.discard
        )
        self.max_document_size = max_document_size
        self.log = log
        self.failed = False
        self.doc: Doc = Doc()
        self.code = self.doc.get("code", type=Text)
        self.meta = self.doc.get("meta", type=Map)
        self.participants = self.doc.get("participants", type=Array)
        # Raised hands: name -> ISO time (room_summary.py). Peers with edit access own it.
        self.help = self.doc.get("help", type=Map)
        blocks = self.shared_types = 0
        for update in history:
            self.doc.apply_update(update)
            pieces, shared_types = _stored_shape(update)
            blocks += pieces
            self.shared_types += shared_types
        self.cost = EditCost(max_update_ms, cpu_share, blocks)
        record = record or store.get_room(room_id)
        # The record of who joined and of the language; the document mirrors it for editors.
        self._names: list[str] | None = list(record.participants) if record else None
        self._record_language = record.programming_language if record else DEFAULT_LANGUAGE
        self._clocks: dict[int, int] | None = None  # the document's state vector, when read
        self.journal = (writer or Writer(store, log=log)).journal(
            room_id,
            history,
            snapshot=self.doc.get_update,
            language=self._record_language,
            failed=self._storage_failed,
            compact_after=compact_after,
        )
        self._meta_changed = self._participants_changed = True  # checked once loaded
        self._repairing = False
        self._repairs = 0
        self.meta.observe(self._on_meta_change)
        self.participants.observe(self._on_participants_change)

        self.awareness = Awareness(self.doc)
        self.awareness.set_local_state(None)  # the server itself is not a participant
        self._awareness_changes: list[int] = []
        self.awareness.observe(self._on_awareness_update)
        # Each connection and what it may do, and which awareness client speaks through which.
        self.peers: dict[Peer, PeerState] = {}
        self._owners: dict[int, Peer] = {}
        self._outbox: list[tuple[bytes, bytes]] = []  # committed, not yet relayed
        self._awareness_outbox: list[tuple[list[int], Peer | None, bytes | None]] = []
        # Bytes of each present client's state (its JSON), and their sum.
        self._presence_sizes: dict[int, int] = {}
        self.presence_bytes = 0
        # What every newcomer is sent, encoded once until it changes.
        self._presence_message: Broadcast | None = None
        self._full_state: Broadcast | None = None
        self._check_server_parts()  # a history stored before these checks may need repair
        self.tracker: SummaryTracker | None = None
        if on_summary is not None:
            self.tracker = SummaryTracker(self, summary or RoomSummary(), on_summary)

    # -- reading ---------------------------------------------------------------

    @property
    def text(self) -> str:
        return str(self.code)

    @property
    def language(self) -> str | None:
        language = self.meta.get("language")
        return language if isinstance(language, str) else None

    # -- connections -------------------------------------------------------------

    def add_peer(self, peer: Peer, *, can_edit: bool = True, via_key: bool = False) -> None:
        """Greet a newcomer as y-websocket does: our state vector, then who is here.

        The state vector is sent once every edit it counts is committed, so a client may
        take it as "these of my edits are on disk" (after reconnecting, say)."""
        self.peers[peer] = PeerState(
            can_edit=can_edit, via_key=via_key, work=self.cost.peer_budget()
        )
        state_vector = create_sync_message(self.doc)
        self.journal.then(lambda: self._send(peer, state_vector))
        if self.awareness.states:
            self._send(peer, self._presence())

    def restrict_names(self, peer: Peer, rule: Callable[[str], str | None]) -> None:
        """Check every presence name `peer` shows with `rule` (what is wrong with it, or
        None); a name it refuses closes the peer (1008). A hub service's names are vouched
        for this way (hub.py)."""
        self.peers[peer].name_rule = rule

    def remove_peer(self, peer: Peer) -> None:
        """Forget a connection and clear the presence it spoke for."""
        state = self.peers.pop(peer, None)
        client_ids = state.client_ids if state else set()
        for client_id in client_ids:
            del self._owners[client_id]
        if client_ids:
            changed = self._collect_awareness_changes(
                lambda: self.awareness.remove_awareness_states(list(client_ids), peer)
            )
            self._count_presence(changed)
            self._relay_awareness(changed, peer)
        if state and state.claimed:
            self._forget_presence_later(state.claimed)

    def close(self, code: int, reason: str) -> None:
        for peer in list(self.peers):
            peer.close(code, reason)
        self.peers.clear()

    def close_key_peers(self, code: int, reason: str) -> None:
        """Close the connections opened with a room key (after the keys changed). They leave
        the room at once: the close handshake may take seconds, and nothing they send
        meanwhile counts."""
        for peer, state in list(self.peers.items()):
            if state.via_key:
                self.remove_peer(peer)
                peer.close(code, reason)

    # -- incoming messages ---------------------------------------------------------

    def receive(self, peer: Peer, data: bytes) -> float:
        """Handle one message from `peer`: how long to wait before reading its next one
        (0 almost always). Raises ProtocolError for malformed input."""
        if peer not in self.peers:
            return 0.0  # sent after it was put out (keys rotated, room deleted): ignored
        message = parse_message(data)
        if message.type == MessageType.SYNC:
            if message.sync_type == YSyncMessageType.SYNC_STEP1:
                self._answer_sync_step1(peer, data[1:])
            elif not self.peers[peer].can_edit:
                if message.payload != EMPTY_UPDATE:  # the sync reply of an unchanged doc
                    self._refuse_edit(peer)
            elif message.sync_type == YSyncMessageType.SYNC_UPDATE:
                return self._receive_update(peer, message.payload, relay=data)
            else:
                return self._receive_update(peer, message.payload, relay=None)
        elif message.type == MessageType.AWARENESS:
            self._receive_awareness(peer, message.payload, data)
        elif message.type == MessageType.QUERY_AWARENESS:
            self._send(peer, self._presence())
        return 0.0

    def _answer_sync_step1(self, peer: Peer, step1: bytes) -> None:
        newcomer = step1 == KNOWS_NOTHING
        if newcomer:  # the whole document: one encoding shared while anyone waits for it
            reply: bytes | None = self._full_state or Broadcast(
                handle_sync_message(KNOWS_NOTHING, self.doc)
            )
        else:
            try:
                reply = handle_sync_message(step1, self.doc)
            except (ValueError, RuntimeError):
                raise ProtocolError("sync step 1 carries an invalid state vector") from None
        if reply is None or not self._admit(peer, reply):
            return
        # It may carry any applied update: it is sent once they are saved, and counted as
        # waiting for the peer from now on (held by the peer's state, so that it goes if
        # the peer does).
        number = self.backlog.reserve(peer, reply)
        self.peers[peer].answers[number] = reply
        if newcomer:
            self._full_state = reply  # until no one waits for it (`_written`) or an edit
        self.journal.then(lambda: self._send_reserved(peer, number))

    def _send_reserved(self, peer: Peer, number: int) -> None:
        state = self.peers.get(peer)
        message = state.answers.pop(number, None) if state else None
        written = peer.send(message) if message is not None else None
        if written is None:
            self.backlog.release(peer, number)
        else:
            self.backlog.when_written(peer, number, written)

    def _keep_what_was_applied(self, sender: Peer) -> None:
        """Store and relay what an update that pycrdt gave up on left in the document.

        pycrdt integrates an update's structs in order and raises at one it cannot place,
        keeping those before it. They are the server's document now, and newcomers and
        the next compaction would get them: so they are committed like an update of their
        own (pycrdt's encoding, hence valid), and the document never holds what storage
        and the other peers lack."""
        if decode_state(self.doc.get_state()) == self._clocks:
            return  # it gave up on its first struct: nothing was applied
        applied = self.doc.get_update(encode_state(self._clocks))
        self._commit(applied, create_update_message(applied))

    def _crashed(self, sender: Peer) -> None:
        """pycrdt panicked applying an update: the document is unusable (reading it panics
        again). The sender is refused on its own; everyone else is disconnected as after a
        storage failure, and reconnects to a copy loaded from storage, which never held the
        update."""
        self.journal.closed = True  # never a snapshot of the broken document
        self.peers.pop(sender, None)  # closed with its own code, not the others' 1011
        self._fail(f"room {self.room_id}: a document update crashed pycrdt")

    def _refuse_edit(self, peer: Peer) -> None:
        """Drop a view-only peer's document update; say why once (y-websocket auth message)."""
        state = self.peers[peer]
        if not state.told_view_only:
            state.told_view_only = True
            self._send(peer, VIEW_ONLY_MESSAGE)

    def _receive_update(self, peer: Peer, update: bytes, relay: bytes | None) -> float:
        if update == EMPTY_UPDATE:
            return 0.0
        if self.journal.bytes + len(update) > self.max_document_size:
            # Refused as is: compacting here would let a peer make the server rewrite the
            # whole room once per refused edit. Compaction runs on its own schedule.
            raise DocumentTooLarge(
                f"this room is full: its document would exceed {self.max_document_size} bytes"
            )
        shape = read_shape(update, self.cost.max_pieces(self.journal.bytes + len(update)))
        self._check_dependencies(update, shape)
        if self.shared_types + shape.shared_types > MAX_SHARED_TYPES:
            raise ProtocolError(
                f"the document update nests too many shared types (a room holds at most"
                f" {MAX_SHARED_TYPES})"
            )
        self.shared_types += shape.shared_types
        started = time.perf_counter()
        try:
            self.doc.apply_update(update)
        except ValueError:
            raise ProtocolError("the document update is not a valid Yjs update") from None
        except RuntimeError:  # well formed, but an item's parent here is no shared type
            self._keep_what_was_applied(peer)
            raise ProtocolError("the document update does not fit this document") from None
        except BaseException as e:  # pyo3's PanicException: not an Exception
            if type(e).__name__ != "PanicException":
                raise
            self._crashed(peer)
            raise ProtocolError("the document update crashed the CRDT library") from None
        wait = self.cost.applied(shape, time.perf_counter() - started, self.peers[peer].work)
        self._commit(update, relay or create_update_message(update), ends=shape.ends)
        if wait is None:
            raise TooMuchWork("these edits cost the server too much work: slow down and reconnect")
        return wait

    def _check_dependencies(self, update: bytes, shape: UpdateShape) -> None:
        """Refuse an update that builds on edits the server does not have.

        pycrdt would keep it aside as pending, out of `get_update()`: relayed but never
        in a snapshot, so compaction would drop it from storage, and its bytes would
        count toward no limit. No Yjs client sends one: it syncs what the server lacks
        first."""
        if self._clocks is None:
            self._clocks = decode_state(self.doc.get_state())
        clocks, ends = self._clocks, shape.ends
        for client, start in shape.starts.items():
            if start > clocks.get(client, 0):
                raise ProtocolError(MISSING_DEPENDENCIES)
        for client, needed in shape.needs.items():
            if needed > max(clocks.get(client, 0), ends.get(client, 0)):
                raise ProtocolError(MISSING_DEPENDENCIES)

    def _commit(
        self,
        update: bytes,
        message: bytes,
        ends: dict[int, int] | None = None,
    ) -> None:
        """Persist an applied update, then relay it; on a storage failure relay nothing.
        `ends` (from its shape) keeps the state vector current without reading it again."""
        self._full_state = None  # newcomers get the document with this update
        if ends is None or self._clocks is None:
            self._clocks = None  # read again when next needed
        else:
            for client, end in ends.items():
                if end > self._clocks.get(client, 0):
                    self._clocks[client] = end
        self.journal.append(update, lambda: self._committed(update, message))
        self._check_server_parts()

    def _committed(self, update: bytes, message: bytes) -> None:
        if self.failed:
            return
        self._outbox.append((update, message))
        if len(self._outbox) == 1:
            self.journal.then(self._relay_outbox)

    def _relay_outbox(self) -> None:
        """Relay what a batch committed, to every peer, its senders included: getting an
        edit back is a client's acknowledgement that it is on disk (as the reference
        y-websocket server echoes it). One update goes as the bytes received; several are
        merged into one message, so each peer gets one frame per batch however busy the
        room."""
        outbox, self._outbox = self._outbox, []
        if not outbox or self.failed:
            return
        if len(outbox) == 1:
            message = outbox[0][1]
        else:
            message = create_update_message(merge_updates(*(update for update, _ in outbox)))
        self._broadcast(message, None)
        if self.on_edit is not None:
            self.on_edit()
        if self.tracker is not None:
            self.tracker.changed()

    def _broadcast(self, message: bytes, sender: Peer | None) -> None:
        """Send one message to every peer but `sender` (if any), framed once for all."""
        frame = Broadcast(message)
        for peer in list(self.peers):
            if peer is not sender:
                self._send(peer, frame)

    def _send(self, peer: Peer, message: bytes) -> None:
        """Queue `message` for `peer` if the backlog bounds allow it."""
        if self._admit(peer, message):
            self.backlog.track(peer, message, peer.send(message))

    def _admit(self, peer: Peer, message: bytes) -> bool:
        """Whether `message` may wait for `peer` within the backlog bounds. A peer with
        `per_peer` bytes unread is closed (it reconnects and resyncs); past the room's bound,
        the slowest peers are dropped, never the room."""
        if peer not in self.peers:
            return False  # put out meanwhile (a reply waiting for a commit, a slow peer)
        backlog, size = self.backlog, len(message)
        if backlog.queued(peer) + size > backlog.per_peer:
            self._drop_slow(peer, f"too slow: over {backlog.per_peer} bytes wait unread")
            return False
        if backlog.bytes + size <= backlog.per_room:
            return True  # most often: no need to look further
        while backlog.bytes + backlog.added_by(message) > backlog.per_room:
            closing = backlog.slowest(self._closing)
            if closing is not None:  # it was told why; what it did not read is freed now
                closing.abort()
                backlog.forget(closing)
                continue
            slowest = backlog.slowest(self.peers)
            if slowest is None or slowest is peer:
                self._drop_slow(peer, "too slow: this room has too much waiting to be read")
                return False
            self._drop_slow(slowest, "too slow: this room has too much waiting", now=True)
        return True

    def _written(self, frame: bytes) -> None:
        """No peer waits for `frame` any more: a whole document is not kept for nobody."""
        if self._full_state is not None and self._full_state.frame is frame:
            self._full_state = None

    def _drop_slow(self, peer: Peer, reason: str, now: bool = False) -> None:
        """Close a peer that does not read what it is sent; the others go on. `now`: drop
        its connection at once (it would not read a close frame either), so what it has
        queued is freed for those still reading."""
        self.log.warning("room %s: closing a connection: %s", self.room_id, reason)
        self.remove_peer(peer)
        if now:
            peer.abort()
            self.backlog.forget(peer)
        else:
            peer.close(CloseCode.POLICY_VIOLATION, f"{reason}; reconnect")
            if self.backlog.queued(peer):
                self._closing.add(peer)

    def _storage_failed(self, error: StoreError) -> None:
        if not self.failed:
            self._fail(f"cannot save room {self.room_id}: {error}")

    def _fail(self, why: str) -> None:
        """Drop this in-memory copy: clients keep their edits and resend them on reconnect."""
        self.log.error("%s; disconnecting its peers so they resync from storage", why)
        self.failed = True
        self.close(CloseCode.INTERNAL_ERROR, "the server could not save the room")

    # -- server-side edits -------------------------------------------------------------

    def set_language(self, language: str) -> None:
        """Change `meta.language`: peers see it through the document, like any edit."""
        self._edit(lambda: self.meta.__setitem__("language", language))

    def add_participant(self, name: str) -> None:
        """Show a newly joined name to everyone connected (the rooms table stays the record)."""
        if self._names is not None and name not in self._names:
            self._names.append(name)
            self._participants_changed = True
            self._check_server_parts()
        self.journal.writer.settle()  # the REST request that asked answers once it is saved

    def _edit(self, change: Callable[[], None], *, settle: bool = True) -> None:
        """Make a change as the server: persist and relay it like a peer's update."""
        updates: list[bytes] = []
        subscription = self.doc.observe(lambda event: updates.append(event.update))
        try:
            change()
        finally:
            self.doc.unobserve(subscription)
        for update in updates:
            self._commit(update, create_update_message(update))
        if settle:
            self.journal.writer.settle()  # the REST request that asked answers once saved

    def compact(self) -> None:
        """Replace the stored history by one update holding the same state (soon)."""
        self.journal.compact()

    # -- the parts of the document the server owns ----------------------------------------
    #
    # `participants` (the names in the rooms table, in join order) and `meta.language` (a
    # known language) are the server's: editors only display them, and the language menu
    # sets `meta.language`. An edit key may still write anything there, and an applied
    # update cannot be taken back; so after every update that touches them, the server
    # puts them back in shape with an edit of its own, stored and relayed like any other.
    # They are read one element at a time, never with `to_py()`: a peer's nesting must not
    # reach Python's recursion limit.

    def _on_meta_change(self, _event: Any) -> None:
        self._meta_changed = True

    def _on_participants_change(self, _event: Any) -> None:
        self._participants_changed = True

    def _check_server_parts(self) -> None:
        """Repair `meta.language` and `participants` if the last update touched them; a
        valid language a peer chose is mirrored into the rooms table instead."""
        if self._repairing or not (self._meta_changed or self._participants_changed):
            return
        check_meta, check_participants = self._meta_changed, self._participants_changed
        chosen: list[str] = []

        def repair() -> None:
            with self.doc.transaction():  # one update for the whole repair
                if check_meta:
                    language = self.meta.get("language")
                    if is_language(language):
                        chosen.append(language)
                    else:
                        self._note_repair("an invalid meta.language")
                        self.meta["language"] = self._record_language
                if check_participants:
                    self._repair_participants()

        self._repairing = True
        try:
            self._edit(repair, settle=False)
        finally:
            self._repairing = False
            self._meta_changed = self._participants_changed = False
        if chosen:
            self._record_language = chosen[0]
            self.journal.mirror_language(chosen[0])

    def _repair_participants(self) -> None:
        """Make `participants` the recorded names in join order, touching little: keep
        the entries that follow that order, delete the others, append the names missing
        at the end (after a plain join: only that append)."""
        values = [self.participants[i] for i in range(len(self.participants))]
        if self._names is None:  # no record (a room built by hand): keep its names
            self._names = list(dict.fromkeys(v for v in values if isinstance(v, str)))
        names = self._names
        matched = 0
        doomed: list[int] = []
        for index, value in enumerate(values):
            if matched < len(names) and isinstance(value, str) and value == names[matched]:
                matched += 1
            else:
                doomed.append(index)
        if doomed:
            self._note_repair("participants that differ from the record")
            end = len(doomed)  # delete runs of consecutive indices, last run first
            while end:
                start = end - 1
                while start and doomed[start - 1] == doomed[start] - 1:
                    start -= 1
                del self.participants[doomed[start] : doomed[end - 1] + 1]
                end = start
        if matched < len(names):
            self.participants.extend(names[matched:])

    def _note_repair(self, what: str) -> None:
        """Log the first repair of a live room (a hostile peer may cause one per message)."""
        self._repairs += 1
        if self._repairs == 1:
            self.log.warning(
                "room %s: the document held %s; repaired (further repairs not logged)",
                self.room_id,
                what,
            )

    # -- awareness ---------------------------------------------------------------------

    def _on_awareness_update(self, topic: str, event: tuple[dict[str, list[int]], Any]) -> None:
        if topic == "update":
            self._presence_message = None
            changes, _origin = event
            self._awareness_changes = changes["added"] + changes["updated"] + changes["removed"]

    def _collect_awareness_changes(self, apply: Any) -> list[int]:
        self._awareness_changes = []
        apply()
        changed, self._awareness_changes = self._awareness_changes, []
        return changed

    def _is_echo(self, payload: bytes) -> bool:
        """True if every entry is one the server already holds (pycrdt would ignore it)."""
        meta = self.awareness.meta
        for client_id, clock, leaving in awareness_clocks(payload):
            known = meta.get(client_id)
            if known is None or clock > known["clock"]:
                return False
            if clock == known["clock"] and leaving and client_id in self.awareness.states:
                return False
        return True

    def _receive_awareness(self, peer: Peer, payload: bytes, data: bytes) -> None:
        if self._is_echo(payload):
            return
        entries = parse_awareness_update(payload, self.max_awareness_state)
        for entry in entries:
            owner = self._owners.get(entry.client_id)
            if owner is not None and owner is not peer:
                # Someone else's presence: never overwrite it (nor remove it) from here.
                self.peers[peer].spoofed_awareness += 1
                if self.peers[peer].spoofed_awareness == 1:
                    self.log.warning(
                        "room %s: dropped an awareness update for client %d, which another"
                        " connection speaks for",
                        self.room_id,
                        entry.client_id,
                    )
                return
        self._check_names(peer, entries)
        sizes = self._check_presence(peer, self._news(entries))
        changed = self._collect_awareness_changes(
            lambda: self.awareness.apply_awareness_update(payload, peer)
        )
        if not changed:
            return  # an echo of what everyone already has
        self._count_presence(changed, sizes)
        if peer in self.peers:
            for entry in entries:
                if entry.client_id in changed:
                    self._record_owner(peer, entry.client_id, entry.state_json != "null")
        everything_new = len(changed) == len(entries)
        self._relay_awareness(changed, peer, data if everything_new else None)

    def _news(self, entries: list[AwarenessEntry]) -> dict[int, AwarenessEntry]:
        """The entries pycrdt would apply (the last one of each client id)."""
        meta, states = self.awareness.meta, self.awareness.states
        news: dict[int, AwarenessEntry] = {}
        for entry in entries:
            client_id, leaving = entry.client_id, entry.state_json == "null"
            newer = news.get(client_id)
            if newer is not None:
                clock, present = newer.clock, newer.state_json != "null"
            else:
                clock, present = meta.get(client_id, {"clock": 0})["clock"], client_id in states
            if entry.clock > clock or (entry.clock == clock and leaving and present):
                news[client_id] = entry
        return news

    def _check_names(self, peer: Peer, entries: list[AwarenessEntry]) -> None:
        rule = self.peers[peer].name_rule
        if rule is None:
            return
        for entry in entries:
            state = json.loads(entry.state_json)  # parsed and checked once already
            user = state.get("user") if isinstance(state, dict) else None
            name = user.get("name") if isinstance(user, dict) else None
            problem = rule(name) if isinstance(name, str) else None
            if problem:
                raise PresenceLimit(f"presence name refused: {problem}")

    def _check_presence(self, peer: Peer, news: dict[int, AwarenessEntry]) -> dict[int, int]:
        """Refuse presence past its bounds: client ids a connection speaks for over its life,
        bytes of its states together, bytes of the room's. Returns the new states' sizes.

        A y-websocket client has one client id (a reload reconnects with a new connection),
        and every state the room holds is sent to each newcomer, and again at each query."""
        state = self.peers[peer]
        claimed = state.claimed | news.keys()
        if len(claimed) > self.max_presence_client_ids:
            raise PresenceLimit(
                f"one connection may speak for at most {self.max_presence_client_ids}"
                " presence client ids"
            )
        sizes = {
            client_id: 0 if entry.state_json == "null" else len(entry.state_json.encode())
            for client_id, entry in news.items()
        }
        known = self._presence_sizes
        own = sum(sizes.get(c, known.get(c, 0)) for c in state.client_ids | news.keys())
        if own > self.max_awareness_state:
            limit = self.max_awareness_state
            raise PresenceLimit(f"the presence of one connection may total at most {limit} bytes")
        total = self.presence_bytes + sum(size - known.get(c, 0) for c, size in sizes.items())
        if total > max(self.max_room_presence, self.presence_bytes):
            raise PresenceLimit(
                f"this room's presence is full: it holds at most {self.max_room_presence} bytes"
            )
        state.claimed = claimed
        return sizes

    def _count_presence(self, changed: list[int], sizes: dict[int, int] | None = None) -> None:
        """Keep the room's presence bytes current once `changed` clients changed."""
        for client_id in changed:
            self.presence_bytes -= self._presence_sizes.pop(client_id, 0)
            if sizes and client_id in self.awareness.states:
                self._presence_sizes[client_id] = size = sizes.get(client_id, 0)
                self.presence_bytes += size

    def _presence(self) -> Broadcast:
        """Everyone's presence in one message, encoded once until it changes: newcomers and
        queries (query-awareness) share it, so a query costs no encoding and no copy."""
        if self._presence_message is None:
            states = self.awareness.encode_awareness_update(list(self.awareness.states))
            self._presence_message = Broadcast(create_awareness_message(states))
        return self._presence_message

    def _forget_presence_later(self, client_ids: set[int]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a script or a test): kept
            return
        loop.call_later(FORGET_PRESENCE_AFTER, self._forget_presence, list(client_ids))

    def _forget_presence(self, client_ids: list[int]) -> None:
        """Drop the clocks of clients that left a while ago (unless they came back)."""
        for client_id in client_ids:
            if client_id not in self.awareness.states and client_id not in self._owners:
                self.awareness.meta.pop(client_id, None)

    def _record_owner(self, peer: Peer, client_id: int, present: bool) -> None:
        """The connection that last spoke for a client id owns it (it may have reconnected)."""
        previous = self._owners.pop(client_id, None)
        if previous is not None:
            self.peers[previous].client_ids.discard(client_id)
        if present:
            self._owners[client_id] = peer
            self.peers[peer].client_ids.add(client_id)

    def _relay_awareness(self, changed: list[int], sender: Peer, data: bytes | None = None) -> None:
        """Relay presence changes at the end of this loop iteration, all of them together:
        when a whole class renews its presence at once, each peer gets one message."""
        if not changed:
            return
        self._awareness_outbox.append((changed, sender, data))
        if len(self._awareness_outbox) == 1:
            try:
                asyncio.get_running_loop().call_soon(self._send_awareness)
            except RuntimeError:  # no event loop (a script or a test): send now
                self._send_awareness()

    def _send_awareness(self) -> None:
        outbox, self._awareness_outbox = self._awareness_outbox, []
        if not outbox:
            return
        changed, sender, data = outbox[0]
        if len(outbox) > 1:
            changed = list(dict.fromkeys(c for entry in outbox for c in entry[0]))
            senders = {entry[1] for entry in outbox}
            sender = senders.pop() if len(senders) == 1 else None
            data = None
        if data is None:
            data = create_awareness_message(self.awareness.encode_awareness_update(changed))
        self._broadcast(data, sender)
        if self.tracker is not None:
            self.tracker.changed(save=False)  # who is online is not saved
