"""The ``latentstage bench frames`` command: options, the run in order of risk, and the tables.

The measurement itself is :mod:`latentstage.bench.frames`; this module only sequences the
configurations (each in its own ``try``), writes the results file after each, and prints.
Module level imports only typer and rich (``bench/cli.py`` loads it with every bench command).
"""

from __future__ import annotations

import logging
import math
import shlex
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from latentstage.runtime.cli_choices import DEVICE_METAVAR

log = logging.getLogger(__name__)


def _sizes(text: str, option: str) -> list[tuple[int, int]]:
    from latentstage.runtime.sizes import size_option

    return [size_option(s, option) for s in text.split(",") if s.strip()]


def _names(text: str, option: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [n for n in names if allowed is not None and n not in allowed]
    if not names or bad:
        expected = ", ".join(allowed) if allowed else "a comma-separated list"
        raise typer.BadParameter(f"{text!r}: expected some of {expected}", param_hint=option)
    return names


def _say(console: Console) -> callable:
    return lambda text: console.print(text, highlight=False)


def run_frames(opts, console: Console):
    """Run every configuration of ``opts`` (a :class:`~.frames.FramesOptions`) in order of risk:
    eager, then CUDA graphs, then the long walk (eager), then torch.compile (the slowest to warm
    up and the likeliest to break the device); returns (models, results, long result), the
    results in the order of the options (models, then sizes, then backends)."""
    from latentstage.bench import frames as fr

    say = _say(console)
    started = time.monotonic()
    deadline = started + (opts.budget_s if opts.budget_s is not None else math.inf)
    env = fr.environment(opts.device)
    say(f"device: {env['device_name']}; torch {env['torch']} (CUDA {env['cuda']}), triton "
        f"{env['triton']}, python {env['python']}")
    models, results, long = [], [], None
    for label in opts.models:
        try:
            entry = fr.load_model(label)
        except Exception as exc:
            line, tb = fr.failure(exc)
            say(f"FAILED model {label}: {line}")
            log.error("model %s did not load:\n%s", label, tb)
            results += [fr.ConfigResult(label, s, s, b, status="failed", note=f"model: {line}",
                                        traceback=tb) for b in opts.backends for s in opts.sizes]
            continue
        models.append(entry)
        p = entry.parameters
        say(f"model {label}: {entry.description}; parameters: autoencoder {p['autoencoder']:,}, "
            f"generator {p['generator']:,}, total {p['total']:,}")

    def save(done: bool = False) -> None:  # after each configuration: a killed run keeps them
        fr.write_json(opts.json_path, fr.payload(opts, env, models, results, long, done))

    risk = list(fr.BACKENDS)  # least risky first
    plan = [(m, s, b) for b in sorted(opts.backends, key=risk.index) for s in opts.sizes
            for m in models]
    target = _profile_target(opts, models)
    compiled = [p for p in plan if fr.BACKENDS[p[2]][0]]
    _run_plan([p for p in plan if p not in compiled], opts, deadline, target, console, results,
              save)
    if opts.long:
        long = _long(fr, models, opts, deadline, console)
        save()
    _run_plan(compiled, opts, deadline, target, console, results, save)
    order = {(m.label, tuple(s), b): i for i, (m, s, b) in enumerate(
        (m, s, b) for m in models for s in opts.sizes for b in opts.backends)}
    results.sort(key=lambda r: order.get((r.model, tuple(r.size), r.backend), -1))
    save(True)
    say(f"bench frames took {time.monotonic() - started:.0f} s")
    return models, results, long


def _run_plan(plan, opts, deadline, target, console, results, save) -> None:
    """Each (model, size, backend) of ``plan`` in its own try, saving after each."""
    from latentstage.bench import frames as fr
    from latentstage.runtime.progress import progress_bar

    if not plan:
        return
    with progress_bar(console) as bar:
        task = bar.add_task("configurations", total=len(plan))
        for entry, size, backend in plan:
            bar.update(task, description=f"{entry.label} {size[0]}x{size[1]} {backend}")
            say = _say(bar.console)
            results.append(_one(fr, entry, size, backend, opts, deadline, target, say))
            save()
            bar.advance(task)


def _profile_target(opts, models) -> tuple | None:
    """(model, (W, H), backend) to profile, or None."""
    if opts.profile_path is None or not models:
        return None
    if not opts.profile_config:
        return (models[0].label, tuple(opts.sizes[-1]), "eager")
    return parse_profile_config(opts.profile_config)


def parse_profile_config(text: str) -> tuple[str, tuple[int, int], str]:
    """``MODEL:WxH:BACKEND`` as (model, (W, H), backend); a usage error names the option."""
    from latentstage.bench.frames import BACKENDS

    parts = text.rsplit(":", 2)
    if len(parts) != 3 or parts[2] not in BACKENDS:
        raise typer.BadParameter(f"{text!r}: expected MODEL:WxH:BACKEND, e.g. "
                                 f"bundled:512x512:eager (backends: {', '.join(BACKENDS)})",
                                 param_hint="--profile-config")
    return parts[0], tuple(_sizes(parts[1], "--profile-config")[0]), parts[2]


def _one(fr, entry, size, backend, opts, deadline, target, say):
    """One configuration in its own try: a result whatever happens."""
    from latentstage.model.autoencoder import STRIDE

    result = fr.ConfigResult(entry.label, size, fr.rendered_size(size, STRIDE), backend,
                             goal_fps=fr.GOALS.get(tuple(size)))
    if backend != "eager" and opts.device.type != "cuda":
        result.status = "skipped"
        result.note = "needs CUDA (compile, CUDA graphs)"
        say(f"skipped {result.name}: {result.note}")
        return result
    if time.monotonic() > deadline:
        result.status = "not run: budget"
        say(f"not run: budget: {result.name}")
        return result
    try:
        profile = target == (entry.label, tuple(size), backend)
        result = fr.time_config(entry, size, backend, opts, say, profile=profile)
        padded = "" if tuple(result.rendered) == tuple(size) else (
            f", run at {result.rendered[0]}x{result.rendered[1]} (the next stride multiple)")
        say(f"{result.name}: median {result.median_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
            f"{result.fps:.1f} fps ({result.frames} frames, warm-up {result.warmup_s:.1f} s"
            f"{padded})")
    except Exception as exc:  # any failure is recorded, and the run goes on
        line, tb = fr.failure(exc)
        result.status, result.note, result.traceback = "failed", line, tb
        say(f"FAILED {result.name}: {line}")
        log.error("%s failed:\n%s", result.name, tb)
    finally:
        fr.release(opts.device)
        if backend != "eager":
            fr.reset_compiled()
    return result


def _long(fr, models, opts, deadline, console):
    from latentstage.runtime.progress import progress_bar

    say = _say(console)
    if not models:
        return fr.LongResult("", opts.long_size, 0, opts.long, status="failed", note="no model")
    entry = models[0]
    if time.monotonic() > deadline:
        say("not run: budget: the long walk")
        return fr.LongResult(entry.label, opts.long_size, 0, opts.long, status="not run: budget")
    w, h = opts.long_size
    steps = "the model's default" if opts.long_steps is None else opts.long_steps
    say(f"long walk: {opts.long} frames of {entry.label} at {w}x{h}, eager, memory capacity "
        f"{opts.capacity:,} points, sampler steps {steps}")
    try:
        with progress_bar(console, info=True, eta=True) as bar:
            task = bar.add_task("long walk", total=opts.long, info="")

            def progress(done: int, ms: float) -> None:
                if done % 25 == 0 or done == opts.long:
                    bar.update(task, completed=done, info=f"{ms:.1f} ms")

            result = fr.long_walk(entry, opts, deadline, progress)
        say(f"long walk ({result.status}, {result.frames} frames, steps {result.steps}): frames "
            f"90-110 {result.early_ms:.2f} ms, last 20 {result.late_ms:.2f} ms, ratio "
            f"{result.ratio:.3f} (goal <= 1.1); memory points {result.points_early:,} at frame "
            f"100, {result.points_late:,} at the end, {result.evictions:,} evicted")
    except Exception as exc:
        line, tb = fr.failure(exc)
        say(f"FAILED long walk: {line}")
        log.error("the long walk failed:\n%s", tb)
        result = fr.LongResult(entry.label, opts.long_size, 0, opts.long, status="failed",
                               note=line, traceback=tb)
    finally:
        fr.release(opts.device)
    return result


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def print_tables(console: Console, results, long, device_name: str) -> None:
    """The configurations' table, and the long walk's."""
    table = Table(title=f"latentstage bench frames: FrameStep per frame on {device_name}")
    for col in ("model", "size", "backend", "steps", "frames", "median ms", "p99 ms", "fps",
                "wall ms", "read", "gen", "dec+copy", "write", "GPU MiB", "goal fps", "status"):
        table.add_column(col, justify="left" if col in ("model", "backend", "status") else "right",
                         no_wrap=col != "status")
    status = table.columns[-1]
    status.max_width, status.no_wrap, status.overflow = 44, True, "ellipsis"
    for r in results:
        size = f"{r.size[0]}x{r.size[1]}" + ("" if tuple(r.rendered) == tuple(r.size)
                                             else f" (as {r.rendered[0]}x{r.rendered[1]})")
        goal = "" if r.goal_fps is None else (
            f"{r.goal_fps:.0f}: " + {True: "met", False: "not met", None: "-"}[r.goal_met])
        if r.status != "ok":
            table.add_row(r.model, size, r.backend, *[""] * 12, f"{r.status}: {r.note}"[:120])
            continue
        s = r.shares
        table.add_row(r.model, size, r.backend, str(r.steps), str(r.frames), f"{r.median_ms:.2f}",
                      f"{r.p99_ms:.2f}", f"{r.fps:.1f}", f"{r.wall_median_ms:.2f}",
                      _pct(s["readout"]), _pct(s["generate"]), _pct(s["decode"]), _pct(s["write"]),
                      f"{r.peak_gpu_mib:.0f}" if r.peak_gpu_mib else "-", goal, r.note or "ok")
    console.print(table)
    console.print("read, gen, dec+copy, write: each stage's share of the frame time. "
                  "frame ms: the sum of the frame step's stage clock laps, which are contiguous "
                  "(CUDA events on a GPU, perf_counter on a CPU); decode includes the host copy; "
                  "wall ms: perf_counter around the step call. Goals (issue 15, one H100-class "
                  "GPU): >= 120 fps at 512x512, >= 30 fps at 1280x720 (floor), >= 60 fps at "
                  "1920x1080.", highlight=False)
    if long is None:
        return
    lt = Table(title="Long walk: per-frame cost early against late (goal: ratio <= 1.1)")
    for col in ("model", "size", "steps", "frames", "frames 90-110 ms", "last 20 ms", "ratio",
                "goal", "points @100", "points at end", "evictions", "status"):
        lt.add_column(col, justify="left" if col in ("model", "status") else "right")
    ok = long.status == "ok" or long.status.startswith("cut")
    met = "met" if long.ratio <= 1.1 else "not met"
    lt.add_row(long.model, f"{long.size[0]}x{long.size[1]}", str(long.steps),
               f"{long.frames}/{long.frames_asked}", f"{long.early_ms:.2f}" if ok else "",
               f"{long.late_ms:.2f}" if ok else "", f"{long.ratio:.3f}" if ok else "",
               met if ok and long.ratio else "", f"{long.points_early:,}",
               f"{long.points_late:,}", f"{long.evictions:,}",
               f"{long.status} {long.note}".strip()[:120])
    console.print(lt)


def bench_frames(
    device: str = typer.Option("auto", metavar=DEVICE_METAVAR, help="Where to measure."),
    models: str = typer.Option("bundled,large", help="Comma-separated: bundled, large (untrained, "
                               "realistic widths) or checkpoint directories."),
    sizes: str = typer.Option("512x512,1280x720,1920x1080", help="Comma-separated WIDTHxHEIGHT."),
    backends: str = typer.Option("eager,compile+graphs", help="Comma-separated: eager, graphs "
                                 "(CUDA graphs), compile+graphs (torch.compile + CUDA graphs)."),
    steps: int = typer.Option(None, min=1, max=4, help="Sampler steps [default: the model's]."),
    warmup: int = typer.Option(10, min=0, help="Untimed frames first (compilation happens here)."),
    frames: int = typer.Option(100, min=1, help="Timed frames per configuration."),
    capacity: int = typer.Option(262_144, min=1024, help="Latent memory points (the service's "
                                 "default)."),
    long: int = typer.Option(0, min=0, help="Frames of a long walk of the first model, eager: "
                             "cost at frame 100 against the last frames (0: off; at least 131)."),
    long_size: str = typer.Option("512x512", help="WIDTHxHEIGHT of the long walk."),
    long_steps: int = typer.Option(None, min=0, max=4, help="Sampler steps of the long walk "
                                   "(0: memory-only frames) [default: the model's]."),
    long_s: float = typer.Option(None, min=0.0, help="Seconds at most for the long walk: it "
                                 "stops there and reports the frames it reached [default: none]."),
    budget_s: float = typer.Option(None, min=0.0, help="Seconds after which no configuration "
                                   "starts (and the long walk stops) [default: none]."),
    json_path: Path = typer.Option(None, "--json", help="Write all results here (rewritten "
                                   "after each configuration)."),
    profile: Path = typer.Option(None, help="Write a torch.profiler table of 20 frames of one "
                                 "configuration here."),
    profile_config: str = typer.Option("", help="MODEL:WxH:BACKEND to profile [default: the "
                                       "first model, the last size, eager]."),
) -> None:
    """Frame rate of the frame step (readout, generate, decode, write, host copy) per model,
    size and backend, with CUDA events on a GPU; optionally a long walk (issue 15)."""
    from latentstage.bench.frames import BACKENDS, FramesOptions
    from latentstage.runtime.device import device_option

    if long and long < 131:
        raise typer.BadParameter(f"{long}: 0 (off) or at least 131 frames (frames 90-110 "
                                 "against the last 20)", param_hint="--long")
    opts = FramesOptions(
        device=device_option(device), models=_names(models, "--models"),
        sizes=_sizes(sizes, "--sizes"), backends=_names(backends, "--backends", tuple(BACKENDS)),
        steps=steps, warmup=warmup, frames=frames, capacity=capacity, long=long,
        long_size=_sizes(long_size, "--long-size")[0], long_steps=long_steps, long_s=long_s,
        budget_s=budget_s,
        json_path=json_path, profile_path=profile, profile_config=profile_config,
        command="latentstage " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    if profile_config:
        parse_profile_config(profile_config)  # a malformed value is a usage error, before the run
    console = Console(width=max(Console().width, 200))
    _, results, long_result = run_frames(opts, console)
    from latentstage.bench.frames import environment

    print_tables(console, results, long_result, environment(opts.device)["device_name"])
    if json_path is not None:
        console.print(f"results written to {json_path}")
