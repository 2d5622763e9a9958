"""Counting newlines in a byte range of a real file, in one thread and split across several."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from log_monitor.linecount import BLOCK, count_newlines


def _count(path: Path, start: int, end: int, parallel_from: int) -> tuple[int, int]:
    fd = os.open(path, os.O_RDONLY)
    try:
        return count_newlines(fd, start, end, parallel_from=parallel_from)
    finally:
        os.close(fd)


def test_a_range_split_across_threads_counts_what_bytes_count_counts(tmp_path: Path) -> None:
    data = (b"short\n" + b"x" * 5000 + b"\n\n\xff\xfe invalid utf-8\n") * 900  # lines across block edges
    assert len(data) > 3 * BLOCK
    path = tmp_path / "big.log"
    path.write_bytes(data)
    start = 12_345
    expected = data.count(b"\n", start)
    assert _count(path, start, len(data), parallel_from=0) == (expected, len(data))
    assert _count(path, start, len(data), parallel_from=1 << 40) == (expected, len(data))


def test_a_file_cut_while_counting_reports_how_far_it_got(tmp_path: Path) -> None:
    path = tmp_path / "cut.log"
    path.write_bytes(b"a\n" * 1000)
    assert _count(path, 0, 5000, parallel_from=0) == (1000, 2000)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=4000), st.integers(min_value=0, max_value=4000), st.integers(min_value=0, max_value=64))
def test_any_bytes_from_any_offset_count_as_bytes_count(data: bytes, start: int, parallel_from: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "any.log"
        path.write_bytes(data)
        start = min(start, len(data))
        assert _count(path, start, len(data), parallel_from) == (data.count(b"\n", start), len(data))
