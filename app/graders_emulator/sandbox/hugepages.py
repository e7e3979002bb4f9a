"""Huge pages for the zygote's heap, so forking a spare and tearing a child down cost less.

A fork copies one page-table entry per 4 KiB page the zygote has written (~45,000 with the default
preload: 10-20 ms of kernel time per spare on a small VM), and each child's exit drops them again.
A 2 MiB transparent huge page is one entry instead of 512. The preloaded heap is collapsed once,
after the imports and the probe and before the first spare; pages a process writes afterwards are
split back to 4 KiB in that process only (copy-on-write), so most of the heap stays huge.
"""

from __future__ import annotations

import ctypes

from graders_emulator.sandbox.syscalls import libc

MADV_COLLAPSE = 25  # Linux 6.1: back a range with transparent huge pages now, whatever the THP mode
HUGE_PAGE = 2 * 1024 * 1024


def anonymous_ranges(maps: str) -> list[tuple[int, int]]:
    """The huge-page-aligned parts of the private writable anonymous mappings (and the heap) in `maps`."""
    ranges = []
    for line in maps.splitlines():
        fields = line.split()
        if len(fields) < 5 or not fields[1].startswith("rw") or fields[1][3:4] != "p":
            continue
        if len(fields) > 5 and fields[5] != "[heap]":  # file-backed (or a stack): not ours to collapse
            continue
        start, end = (int(part, 16) for part in fields[0].split("-"))
        start = -(-start // HUGE_PAGE) * HUGE_PAGE
        end = end // HUGE_PAGE * HUGE_PAGE
        if end > start:
            ranges.append((start, end))
    return ranges


def collapse() -> int:
    """Collapse what can be; returns the MiB of this process's memory in huge pages afterwards.

    A kernel without MADV_COLLAPSE (or with THP "never") refuses each range and everything stays as
    it was, as do ranges the kernel will not collapse (mostly unpopulated reservations): this only
    ever saves time, never changes what a grader sees.
    """
    madvise = libc()["madvise"]
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    try:
        with open("/proc/self/maps") as maps:
            ranges = anonymous_ranges(maps.read())
    except OSError:
        return 0
    for start, end in ranges:
        madvise(start, end - start, MADV_COLLAPSE)
    return huge_mb()


def huge_mb() -> int:
    """AnonHugePages of this process, in MiB (0 when /proc does not say)."""
    try:
        with open("/proc/self/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("AnonHugePages:"):
                    return int(line.split()[1]) >> 10
    except (OSError, ValueError, IndexError):
        pass
    return 0
