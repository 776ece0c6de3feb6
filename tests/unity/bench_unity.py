"""Per-frame managed overhead of the Unity binding under mono against the C library alone.

    python tests/unity/bench_unity.py [--size 640x360] [--frames 100] [--rounds 5]

It starts one server (a tiny untrained checkpoint on the CPU: the server's speed does not enter
the figures, only the client's calls are timed), compiles Bench.cs with the binding (mcs) and
bench_c.c against the library (cc), and runs them alternately ``rounds`` times each against
that server, so load from other processes falls on both alike. Each does the LateUpdate of
LatentStageCamera per frame: submit a Unity pose with a physical lens, acquire the frame once
it has arrived (the wait is not timed), read its header, copy its pixels, release it; and an
idle poll loop. The C# program alternates frames between the LatentStage API and raw P/Invoke
(NativeMethods), which splits its cost into the interop transition and the managed wrapper.
Medians are pooled over all rounds.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

FRAME = ("submit", "acquire", "release")  # one frame's calls (the component copies nothing)
OPS = ("submit", "acquire", "release", "copy", "poll", "state",
       "submit_raw", "acquire_raw", "release_raw", "copy_raw")
LABELS = {
    "submit": "submit a Unity pose + physical lens",
    "acquire": "acquire the arrived frame + read its header",
    "release": "release the frame",
    "copy": "copy the pixels into a buffer",
    "poll": "idle poll (acquire finds none: LS_TIMEOUT)",
    "state": "read the session state",
}


def parse(output: str) -> tuple[dict[str, list[int]], tuple[int, int, int] | None]:
    """Samples per operation (ns) and the C# allocation line (bytes, frames, gen-0 GCs)."""
    samples: dict[str, list[int]] = {op: [] for op in OPS}
    alloc = None
    for line in output.splitlines():
        parts = line.split()
        if parts[:1] == ["sample"]:
            samples[parts[1]].append(int(parts[2]))
        elif parts[:1] == ["alloc"]:
            alloc = (int(parts[1]), int(parts[2]), int(parts[3]))
    return samples, alloc


def run(args: argparse.Namespace) -> dict:
    from latentstage.model.providers import install
    from latentstage.model.world_model import save_tiny_checkpoint
    from latentstage.runtime.core import ServingCore
    from latentstage.runtime.server import ServerConfig, ServerThread
    from latentstage.runtime.sizes import parse_size
    from latentstage.runtime.types import Limits

    install()  # the model package's checkpoint loader, as the CLI registers it
    found = harness.tools()
    library = harness.native_library()
    if not (found["mcs"] and found["mono"] and found["cc"]) or library is None:
        raise SystemExit(f"need mcs, mono, cc and the native library; run:\n{harness.BUILD_HELP}")
    width, height = parse_size(args.size, "--size")
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        exe = harness.compile_tests(tmp / "cs", found["mcs"])
        c_exe = harness.compile_c_bench(tmp / "c", library, found["cc"])
        core = ServingCore.load(str(save_tiny_checkpoint(tmp / "ckpt")), "torch", "cpu",
                       Limits(max_width=max(width, 256), max_height=max(height, 256),
                              memory_capacity=65536), tmp / "snaps")
        env = harness.run_env(library)
        pooled = {"c": {op: [] for op in OPS}, "cs": {op: [] for op in OPS}}
        per_round: dict[str, list[float]] = {"c": [], "cs_raw": [], "cs": []}  # frame medians
        allocs = []
        with ServerThread(core, ServerConfig(port=0)) as server:
            common = [server.target, str(width), str(height), str(args.frames)]
            for r in range(args.rounds):
                for kind, cmd in (("c", [str(c_exe), *common]),
                                  ("cs", ["mono", str(exe), "bench", *common])):
                    proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                                          timeout=1800)
                    if proc.returncode != 0:
                        raise SystemExit(f"{kind} round {r}: {proc.stdout}{proc.stderr}")
                    samples, alloc = parse(proc.stdout)
                    for op in OPS:
                        pooled[kind][op] += samples[op]
                    keys = ((kind, ""), ("cs_raw", "_raw")) if kind == "cs" else ((kind, ""),)
                    for key, suffix in keys:  # one frame's calls, frame by frame
                        calls = (samples[op + suffix] for op in FRAME)
                        totals = [sum(t) for t in zip(*calls, strict=True)]
                        per_round[key].append(statistics.median(totals) / 1000)
                    if alloc:
                        allocs.append(alloc)
    mono = subprocess.run(["mono", "--version"], capture_output=True, text=True).stdout
    return {
        "size": [width, height], "frames_per_round": args.frames, "rounds": args.rounds,
        "median_us": {kind: {op: statistics.median(v) / 1000 for op, v in ops.items() if v}
                      for kind, ops in pooled.items()},
        "frame_us_per_round": per_round,
        "alloc_bytes_per_frame": sum(a[0] for a in allocs) / max(1, sum(a[1] for a in allocs)),
        "gen0_collections": sum(a[2] for a in allocs),
        "mono": mono.splitlines()[0] if mono else "?",
        "machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
    }


def table(result: dict) -> str:
    c, cs = result["median_us"]["c"], result["median_us"]["cs"]
    w, h = result["size"]
    rows = ["| operation (median) | C library | C#: raw P/Invoke | C#: LatentStage API "
            "| managed overhead (API - C) |", "|---|---|---|---|---|"]
    for op in OPS:
        if op.endswith("_raw"):
            continue
        raw = cs.get(op + "_raw")
        label = LABELS[op] + (f" ({w}x{h} BGRA)" if op == "copy" else "")
        raw_cell = f"{raw:.2f} µs" if raw is not None else "n/a"
        rows.append(f"| {label} | {c[op]:.2f} µs | {raw_cell} | {cs[op]:.2f} µs "
                    f"| {cs[op] - c[op]:+.2f} µs |")
    frame_c, frame_cs = sum(c[op] for op in FRAME), sum(cs[op] for op in FRAME)
    frame_raw = sum(cs[op + "_raw"] for op in FRAME)
    rows.append(f"| **per frame** (submit + acquire + release; Unity uploads from the library's "
                f"buffer, no copy) | {frame_c:.2f} µs | {frame_raw:.2f} µs | {frame_cs:.2f} µs "
                f"| **{frame_cs - frame_c:+.2f} µs** |")
    rounds = result["frame_us_per_round"]
    rows.append("\nPer-frame total (submit + acquire + release), median of each round: "
                + "; ".join(f"{name} " + ", ".join(f"{v:.1f}" for v in rounds[key]) + " µs"
                            for key, name in (("c", "C"), ("cs_raw", "C# raw"),
                                              ("cs", "C# API"))) + ".")
    rows.append(f"Managed allocations over the timed frames: "
                f"{result['alloc_bytes_per_frame']:.1f} bytes/frame, "
                f"{result['gen0_collections']} gen-0 collections "
                f"({result['rounds']} x {result['frames_per_round']} frames).")
    rows.append(f"{result['mono']}; {result['machine']}.")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="640x360", help="frame size WIDTHxHEIGHT")
    parser.add_argument("--frames", type=int, default=100, help="timed frames per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each client")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    result = run(args)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
