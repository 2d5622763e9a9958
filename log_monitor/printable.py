r"""Control characters shown as escapes in text output (newline as `\n`, ESC as `\x1b`): no forged lines; pure."""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0, DEL and C1 controls (ESC starts terminal colour and cursor sequences, NEL is a newline to some viewers);
# the Unicode line and paragraph separators and the bidirectional overrides, which reorder what a reader sees.
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
_UNICODE = [0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_TABLE = str.maketrans(
    {
        **{code: _NAMED.get(chr(code), f"\\x{code:02x}") for code in _CONTROLS},
        **{code: f"\\u{code:04x}" for code in _UNICODE},
    }
)


# Bidirectional controls alone (embeddings, overrides, isolates, marks): a right-to-left override in a label
# makes `gol.htua` read as `auth.log`, in a chat message as in a terminal.
_BIDI_TABLE = str.maketrans(
    {code: f"\\u{code:04x}" for code in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))}
)


def no_bidi(text: str) -> str:
    """`text` with its bidirectional controls written as escapes (`\\u202e`), the rest left as it is."""
    return text.translate(_BIDI_TABLE)


def printable(text: str) -> str:
    """`text` with every control character written as an escape: one line, no terminal sequences."""
    return text.translate(_TABLE)
