"""Default room settings, in one place.

`CodeCompanionApp`'s traitlets and the `RoomManager` and `Room` constructors (which
tests and scripts call directly) take their defaults from here, so the layers agree.
"""

from __future__ import annotations

UNLOAD_DELAY = 30.0  # seconds an empty room stays in memory
COMPACT_AFTER = 1000  # stored updates after which a room's history becomes one snapshot
MAX_PEERS_PER_ROOM = 200
MAX_AWARENESS_STATE = 64 * 1024  # bytes of one client's presence state
MAX_DOCUMENT_SIZE = 64 * 1024 * 1024  # bytes a room's stored document may grow to
MAX_ROOMS = 100_000  # rooms one server holds (0: no limit)
