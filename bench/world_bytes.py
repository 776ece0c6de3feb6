"""Memory per world: what a worker holds for each world it keeps (docs/scale-out.md).

``python -m latentstage.bench.world_bytes [--worlds 4] [--model bundled] [--device cpu]``
loads the model as ``latentstage serve`` does, creates empty worlds at the default memory
capacity, and prints one world's ``MemoryInfo.bytes`` (its buffers, fixed at creation) and the
process's resident memory growth per world (``/proc/self/statm``; Linux only).
"""

from __future__ import annotations

import argparse
import os
import tempfile

from latentstage.model.providers import install


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, default=4, help="empty worlds to create")
    parser.add_argument("--model", default="bundled", help="checkpoint directory or 'bundled'")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    args = parser.parse_args(argv)
    install()
    from latentstage.runtime.core import ServingCore
    from latentstage.runtime.types import EmptySource, Limits, WorldSpec

    with tempfile.TemporaryDirectory() as snaps:
        core = ServingCore.load(args.model, "torch", args.device,
                                Limits(max_worlds=args.worlds + 1), snaps)
        before = _resident_bytes()
        worlds = [core.store.create(WorldSpec(EmptySource(), f"w{i}"))
                  for i in range(args.worlds)]
        grown = (_resident_bytes() - before) / args.worlds
        info = worlds[0].memory.stats()
        print(f"model {core.model.model_id}; capacity {info.capacity:,} points; "
              f"{info.bytes:,} bytes per world ({info.bytes / 2**20:.1f} MiB: its buffers); "
              f"resident memory grew {grown:,.0f} bytes per world over {args.worlds} worlds")
        core.shutdown()


if __name__ == "__main__":
    main()
