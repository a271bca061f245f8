"""Why an input record was quarantined: one reason code per kind of defect."""

from __future__ import annotations

MALFORMED_JSON = "malformed_json"  # a line (or array element) that is not valid JSON
INVALID_UTF8 = "invalid_utf8"  # bytes that are not UTF-8, or strings that cannot be encoded
NOT_AN_OBJECT = "not_an_object"  # valid JSON, but not an object
UNKNOWN_FORMAT = "unknown_format"  # no adapter recognises the file's records
MISSING_MESSAGES = "missing_messages"  # no message list, or an empty one
WRONG_TYPE = (
    "wrong_type"  # a field has the wrong type (message list not a list, flag not a bool, ...)
)
MISSING_ROLE = "missing_role"
UNKNOWN_ROLE = "unknown_role"
EMPTY_CONTENT = (
    "empty_content"  # every user message is null or blank (empty messages are otherwise kept)
)
NON_STRING_CONTENT = "non_string_content"
MESSAGE_TOO_LONG = "message_too_long"  # longer than ingest.max_message_chars
NO_USER_TURN = "no_user_turn"
UNREADABLE_FILE = "unreadable_file"  # the file (or its rest) cannot be read: corrupt, truncated

REASONS: tuple[str, ...] = (
    MALFORMED_JSON,
    INVALID_UTF8,
    NOT_AN_OBJECT,
    UNKNOWN_FORMAT,
    MISSING_MESSAGES,
    WRONG_TYPE,
    MISSING_ROLE,
    UNKNOWN_ROLE,
    EMPTY_CONTENT,
    NON_STRING_CONTENT,
    MESSAGE_TOO_LONG,
    NO_USER_TURN,
    UNREADABLE_FILE,
)


class Reject(Exception):
    """Raised by an adapter for a record that cannot become a conversation."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
