"""Default room settings, in one place.

`CodeCompanionApp`'s traitlets and the `RoomManager` and `Room` constructors (which
tests and scripts call directly) take their defaults from here, so the layers agree.
"""

from __future__ import annotations

UNLOAD_DELAY = 30.0  # seconds an empty room stays in memory
COMPACT_AFTER = 1000  # stored updates after which a room's history becomes one snapshot
MAX_PEERS_PER_ROOM = 200
MAX_AWARENESS_STATE = 64 * 1024  # bytes of one client's presence state (one connection's)
MAX_PRESENCE_CLIENT_IDS = 4  # presence client ids one connection may ever speak for
MAX_ROOM_PRESENCE = 1024 * 1024  # bytes of presence state one room holds (all clients)
# Bytes queued for one connection that it has not read: a newcomer's greeting (a room at
# MAX_DOCUMENT_SIZE, everyone's presence) and a relayed message of max_message_size fit.
MAX_SEND_BACKLOG = 96 * 1024 * 1024
MAX_ROOM_SEND_BACKLOG = 192 * 1024 * 1024  # the same for a room (a shared frame counts once)
MAX_DOCUMENT_SIZE = 64 * 1024 * 1024  # bytes a room's stored document may grow to
MAX_ROOMS = 100_000  # rooms one server holds (0: no limit)
MAX_UPDATE_MS = 25.0  # estimated loop time one document update may cost, at worst
ROOM_CPU_SHARE = 0.25  # share of one core a room's (and a peer's) updates may use on average
MAX_PARTICIPANTS_PER_ROOM = 500  # names one room lists (0: no limit); a class is far below
JOINS_PER_MINUTE_PER_ADDRESS = 300  # joins one client address may make (0: no limit)
ACTIVITY_INTERVAL = 30.0  # seconds between reports of room edits as server activity
MAX_ROOMS_PER_GROUP = 200  # rooms one group (one roster) may have
MAX_STARTER_CODE_SIZE = 64 * 1024  # bytes of a group's starter code (each room holds a copy)
