"""The one device resolver and the CPU thread policy (torch is imported only inside functions).

- :func:`resolve_device`: ``auto``/``cpu``/``cuda[:N]`` as a torch device, and
  :func:`device_option`, the same for a command-line option.
- :func:`choose_threads`: torch's intra-op thread count for serving, from the cores this
  process may use (``os.sched_getaffinity``) and the number of live sessions;
  :class:`ThreadPolicy` applies it on the model thread as sessions open and close.

Why: torch eager runs each operator on all its intra-op threads and waits for the slowest. On a
shared CPU one of them is soon descheduled by another process, and every operator then waits a
scheduler time slice: with torch's default (one thread per core) the demo fell from 30.5 to 5.7
fps when one other process kept a core busy. Fewer threads than usable cores leave room for the
event loop, gRPC, encoding and the neighbours. ``docs/service.md`` ("CPU threads") documents
the policy and its overrides (``--threads``, ``LATENTSTAGE_TORCH_THREADS``).
"""

from __future__ import annotations

import logging
import os
import platform
from pathlib import Path

from latentstage.runtime.errors import InvalidInput

log = logging.getLogger(__name__)

#: Environment variable that fixes torch's intra-op thread count (a positive integer); the
#: ``--threads`` option of a command wins over it.
THREADS_ENV = "LATENTSTAGE_TORCH_THREADS"


def resolve_device(device: str):
    """``auto`` (CUDA when present), ``cpu`` or ``cuda[:N]`` as a ``torch.device``."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise InvalidInput("device", device, "auto, cpu or cuda[:N]")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInput("device", device, "a device this machine has (no CUDA here)")
    try:
        return torch.device(device)
    except RuntimeError:
        raise InvalidInput("device", device, "auto, cpu or cuda[:N]") from None


def device_option(device: str, option: str = "--device"):
    """:func:`resolve_device` for a command-line option: a bad value is a usage error (exit 2)
    naming ``option``."""
    import typer

    try:
        return resolve_device(device)
    except InvalidInput as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from exc


def device_name(device) -> str:
    """The GPU's name, or the CPU model with the torch thread count and the usable cores (for
    benchmark headers)."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {torch.get_num_threads()} torch threads of {usable_cores()} cores"


# ----- CPU threads -----------------------------------------------------------------------------
def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. under ``taskset`` or a
    container's cpuset), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no sched_getaffinity on macOS and Windows
        return os.cpu_count() or 1


def choose_threads(cores: int, sessions: int = 1) -> int:
    """Intra-op threads for torch eager serving ``sessions`` live sessions on ``cores`` usable
    cores.

    One core stays for the event loop, gRPC and encoding, and one more for each further two
    sessions (their encodes and transport run beside the model thread); of the rest at most
    half the cores go to torch, so that another process on the machine takes a free core
    rather than one of torch's threads (which would stall every operator). At least 1.
    """
    reserve = 1 + max(0, sessions - 1) // 2
    return max(1, min(cores - reserve, (cores + 1) // 2))


def threads_override(threads: int | None = None) -> int | None:
    """An explicit thread count: ``threads`` when given, else ``$LATENTSTAGE_TORCH_THREADS``,
    else None (the policy chooses)."""
    if threads is not None:
        if threads < 1:
            raise InvalidInput("threads", threads, "a positive number of threads")
        return threads
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput(THREADS_ENV, text, "a positive integer")
    return int(text)


def configure_threads(device, threads: int | None = None, sessions: int = 1) -> int:
    """Set torch's intra-op thread count for work on ``device`` from this thread on, and
    return it: the override (:func:`threads_override`) when there is one, else on a CPU device
    :func:`choose_threads` for ``sessions``. On CUDA the host threads only launch kernels; the
    count is left alone unless overridden.

    torch applies the count per thread (OpenMP): a thread that already ran an operator keeps
    its count until it calls this itself, so call it on the thread that runs the model.
    """
    import torch

    fixed = threads_override(threads)
    if fixed is None and device.type != "cpu":
        return torch.get_num_threads()
    n = fixed or choose_threads(usable_cores(), sessions)
    if n != torch.get_num_threads():
        torch.set_num_threads(n)
    return n


class ThreadPolicy:
    """The thread count of a server's model thread, following the number of live sessions.

    The core calls :meth:`sessions_changed` when a session opens or closes (on the event loop)
    and :meth:`apply` on the model thread before each frame; the count changes there, between
    frames, only when the policy's choice changed.
    """

    def __init__(self, device, threads: int | None = None):
        self.device = device  # torch.device the model runs on
        self.fixed = threads_override(threads)  # explicit count, or None: the policy chooses
        self.sessions = 1  # live sessions the current choice is for (at least 1)
        self._applied: int | None = None  # count last set on the model thread

    @property
    def wanted(self) -> int | None:
        """The count the model thread should use now (None on CUDA without an override)."""
        if self.fixed is not None:
            return self.fixed
        if self.device.type != "cpu":
            return None
        return choose_threads(usable_cores(), self.sessions)

    def sessions_changed(self, live: int) -> None:
        """Record the number of live sessions (any thread); applied before the next frame."""
        self.sessions = max(1, live)

    def apply(self) -> None:
        """On the model thread: set torch's count if the policy's choice changed."""
        n = self.wanted
        if n is None or n == self._applied:
            return
        import torch

        torch.set_num_threads(n)
        self._applied = n
        log.info("event=torch_threads threads=%d sessions=%d cores=%d", n, self.sessions,
                 usable_cores())
