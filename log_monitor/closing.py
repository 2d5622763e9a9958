"""Closing: the with-statement for the parts that hold a resource until close()."""

from __future__ import annotations

from typing import Self


class Closing:
    """`with part:` closes it at the end, however the block ends."""

    def close(self) -> None:
        """Gives the resource back; subclasses say which."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
