"""Measuring what a piece of code costs: peak memory of a call (chapter 05, benchmarks).

    peak_memory(lambda: attention(q, k, v))   # bytes of resident memory the call needed at its peak

Linux only: it reads the kernel's high-water mark of resident memory in /proc/self.
"""
from __future__ import annotations

import re
import sys
from typing import Callable

__all__ = ["peak_memory"]


def peak_memory(fn: Callable[[], object]) -> int:
    """Bytes of resident memory that ``fn()`` needed on top of what was in use before it ran (Linux only).

    peak = VmHWM after the call - VmRSS before it, with VmHWM (the kernel's high-water mark of
    resident memory) reset just before the call. For the difference to see every tensor ``fn``
    creates, glibc is first told to hand big blocks straight back to the system (a fixed mmap
    threshold) and to release the free pages it still holds (``malloc_trim``); torch's CPU
    allocator does not cache, so the result is exact to a few pages.
    """
    if not sys.platform.startswith("linux"):
        raise RuntimeError("peak_memory reads /proc/self and works on Linux only")
    import gc

    gc.collect()
    _return_freed_memory_to_the_system()
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")                                         # reset VmHWM to the current RSS
    result = fn()
    peak = _status_kib("VmHWM")
    del result
    return max(0, peak - before) * 1024


# ----------------------------------------------------------------------------- helpers

def _return_freed_memory_to_the_system() -> None:
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD: new blocks >= 128 KiB come from (and go back to) mmap
        libc.malloc_trim(0)           # give freed heap pages back, so reusing them shows up as new pages
    except (OSError, AttributeError):  # pragma: no cover - musl and friends return big blocks anyway
        pass


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        match = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.MULTILINE)
    if match is None:  # pragma: no cover - every Linux kernel has these fields
        raise RuntimeError(f"/proc/self/status has no {field} line")
    return int(match.group(1))
