// The WebSocket close codes a room connection can end with: a copy of
// codecompanion_ext/close_codes.py (tests/test_close_codes.py keeps the two equal).
export const CloseCode = {
  GOING_AWAY: 1001,
  UNSUPPORTED_DATA: 1003,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  KEY_ROTATED: 4403,
  ROOM_NOT_FOUND: 4404,
  ROOM_DELETED: 4410,
  DOCUMENT_TOO_LARGE: 4413,
  ROOM_FULL: 4429,
} as const;

/** Codes after which reconnecting cannot help, and what to tell the person. */
export const FINAL_CLOSE_CODES: Record<number, string> = {
  [CloseCode.KEY_ROTATED]: "This link no longer opens the room.",
  [CloseCode.ROOM_NOT_FOUND]: "This room does not exist.",
  [CloseCode.ROOM_DELETED]: "This room was deleted.",
  [CloseCode.DOCUMENT_TOO_LARGE]:
    "This room is full: it has reached its size limit, so this edit was not saved.",
};
