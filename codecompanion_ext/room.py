"""One live room: a pycrdt document, the awareness of those present, and their connections.

Every document update is applied once to the server's copy, handed to the writer
(its `RoomJournal`), and relayed only once committed, so a client never holds an
edit from the server that the database lacks. Awareness updates are applied to the
server's own awareness state and only what is new is relayed: y-websocket clients
echo every awareness change they receive, and relaying echoes would multiply
traffic by the room size.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pycrdt import (
    Array,
    Awareness,
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
from .close_codes import CloseCode
from .frames import Broadcast
from .protocol import (
    MessageType,
    ProtocolError,
    awareness_clocks,
    parse_awareness_update,
    parse_message,
)
from .store import RoomStore, StoreError
from .writer import Writer

EMPTY_UPDATE = b"\x00\x00"


def _auth_permission_denied(reason: str) -> bytes:
    encoder = Encoder()
    encoder.write_var_uint(MessageType.AUTH)
    encoder.write_var_uint(0)  # y-protocols auth: permission denied
    encoder.write_var_string(reason)
    return encoder.to_bytes()


VIEW_ONLY_MESSAGE = _auth_permission_denied("view only: this link does not allow editing")


@dataclass
class PeerState:
    can_edit: bool
    via_key: bool
    client_ids: set[int] = field(default_factory=set)
    told_view_only: bool = False
    spoofed_awareness: int = 0


class DocumentTooLarge(ValueError):
    """An update would grow the room past its size limit; it is refused, not stored."""


class Peer(Protocol):
    """A connection to a room; the WebSocket handler is one."""

    def send(self, message: bytes) -> None: ...

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


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
        writer: Writer | None = None,
    ) -> None:
        """`history` is the room's stored updates; `writer` stores new ones (by default a
        writer of its own on `store`)."""
        self.room_id = room_id
        self.max_awareness_state = max_awareness_state
        self.max_document_size = max_document_size
        self.log = log
        self.failed = False
        self.doc: Doc = Doc()
        self.code = self.doc.get("code", type=Text)
        self.meta = self.doc.get("meta", type=Map)
        self.participants = self.doc.get("participants", type=Array)
        for update in history:
            self.doc.apply_update(update)
        self.journal = (writer or Writer(store, log=log)).journal(
            room_id,
            history,
            snapshot=self.doc.get_update,
            language=self.language,
            failed=self._storage_failed,
            compact_after=compact_after,
        )
        self._meta_changed = False
        self.meta.observe(self._on_meta_change)

        self.awareness = Awareness(self.doc)
        self.awareness.set_local_state(None)  # the server itself is not a participant
        self._awareness_changes: list[int] = []
        self.awareness.observe(self._on_awareness_update)
        # Each connection and what it may do, and which awareness client speaks through which.
        self.peers: dict[Peer, PeerState] = {}
        self._owners: dict[int, Peer] = {}
        self._outbox: list[tuple[bytes, bytes, Peer | None]] = []  # committed, not yet relayed
        self._awareness_outbox: list[tuple[list[int], Peer | None, bytes | None]] = []

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
        """Greet a newcomer as y-websocket does: our state vector, then who is here."""
        self.peers[peer] = PeerState(can_edit=can_edit, via_key=via_key)
        peer.send(create_sync_message(self.doc))
        if self.awareness.states:
            states = self.awareness.encode_awareness_update(list(self.awareness.states))
            peer.send(create_awareness_message(states))

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
            self._relay_awareness(changed, peer)

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

    def receive(self, peer: Peer, data: bytes) -> None:
        """Handle one message from `peer`; raises ProtocolError for malformed input."""
        if peer not in self.peers:
            return  # sent after it was put out (keys rotated, room deleted): ignored
        message = parse_message(data)
        if message.type == MessageType.SYNC:
            if message.sync_type == YSyncMessageType.SYNC_STEP1:
                self._answer_sync_step1(peer, data[1:])
            elif not self.peers[peer].can_edit:
                if message.payload != EMPTY_UPDATE:  # the sync reply of an unchanged doc
                    self._refuse_edit(peer)
            elif message.sync_type == YSyncMessageType.SYNC_UPDATE:
                self._receive_update(peer, message.payload, relay=data)
            else:
                self._receive_update(peer, message.payload, relay=None)
        elif message.type == MessageType.AWARENESS:
            self._receive_awareness(peer, message.payload, data)
        elif message.type == MessageType.QUERY_AWARENESS:
            states = self.awareness.encode_awareness_update(list(self.awareness.states))
            peer.send(create_awareness_message(states))

    def _answer_sync_step1(self, peer: Peer, step1: bytes) -> None:
        try:
            reply = handle_sync_message(step1, self.doc)
        except ValueError:
            raise ProtocolError("sync step 1 carries an invalid state vector") from None
        if reply is not None:  # it may carry any applied update: send it once they are saved
            self.journal.then(lambda: peer.send(reply) if peer in self.peers else None)

    def _refuse_edit(self, peer: Peer) -> None:
        """Drop a view-only peer's document update; say why once (y-websocket auth message)."""
        state = self.peers[peer]
        if not state.told_view_only:
            state.told_view_only = True
            peer.send(VIEW_ONLY_MESSAGE)

    def _receive_update(self, peer: Peer | None, update: bytes, relay: bytes | None) -> None:
        if update == EMPTY_UPDATE:
            return
        if self.journal.bytes + len(update) > self.max_document_size:
            # Refused as is: compacting here would let a peer make the server rewrite the
            # whole room once per refused edit. Compaction runs on its own schedule.
            raise DocumentTooLarge(
                f"this room is full: its document would exceed {self.max_document_size} bytes"
            )
        try:
            self.doc.apply_update(update)
        except ValueError:
            raise ProtocolError("the document update is not a valid Yjs update") from None
        self._commit(update, relay or create_update_message(update), sender=peer)

    def _commit(self, update: bytes, message: bytes, sender: Peer | None) -> None:
        """Persist an applied update, then relay it; on a storage failure relay nothing."""
        self.journal.append(update, lambda: self._committed(update, message, sender))
        if self._meta_changed:
            self._meta_changed = False
            self.journal.mirror_language(self.language)

    def _committed(self, update: bytes, message: bytes, sender: Peer | None) -> None:
        if self.failed:
            return
        self._outbox.append((update, message, sender))
        if len(self._outbox) == 1:
            self.journal.then(self._relay_outbox)

    def _relay_outbox(self) -> None:
        """Relay what a batch committed: one update as the bytes received; several merged
        into one message, so each peer gets one frame per batch however busy the room."""
        outbox, self._outbox = self._outbox, []
        if not outbox or self.failed:
            return
        if len(outbox) == 1:
            _, message, sender = outbox[0]
        else:
            message = create_update_message(merge_updates(*(update for update, _, _ in outbox)))
            senders = {sender for _, _, sender in outbox}
            # A peer gets its own edits back only inside a merge with others' (Yjs skips them).
            sender = senders.pop() if len(senders) == 1 else None
        self._broadcast(message, sender)

    def _broadcast(self, message: bytes, sender: Peer | None) -> None:
        """Send one message to every peer but its sender, framed once for all of them."""
        frame = Broadcast(message)
        for peer in list(self.peers):
            if peer is not sender:
                peer.send(frame)

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
        if name not in self.participants.to_py():
            self._edit(lambda: self.participants.append(name))

    def _edit(self, change: Callable[[], None]) -> None:
        """Make a change as the server: persist and relay it like a peer's update."""
        updates: list[bytes] = []
        subscription = self.doc.observe(lambda event: updates.append(event.update))
        try:
            change()
        finally:
            self.doc.unobserve(subscription)
        for update in updates:
            self._commit(update, create_update_message(update), sender=None)
        self.journal.writer.settle()  # the REST request that asked answers once it is saved

    def compact(self) -> None:
        """Replace the stored history by one update holding the same state (soon)."""
        self.journal.compact()

    def _on_meta_change(self, _event: Any) -> None:
        self._meta_changed = True

    # -- awareness ---------------------------------------------------------------------

    def _on_awareness_update(self, topic: str, event: tuple[dict[str, list[int]], Any]) -> None:
        if topic == "update":
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
        changed = self._collect_awareness_changes(
            lambda: self.awareness.apply_awareness_update(payload, peer)
        )
        if not changed:
            return  # an echo of what everyone already has
        if peer in self.peers:
            for entry in entries:
                if entry.client_id in changed:
                    self._record_owner(peer, entry.client_id, entry.state_json != "null")
        everything_new = len(changed) == len(entries)
        self._relay_awareness(changed, peer, data if everything_new else None)

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
