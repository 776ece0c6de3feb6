"""CLI commands of the model package: ``train``, ``eval`` and ``demo``.

Heavy imports stay inside the command bodies so that ``latentstage --help`` is fast.
"""

from __future__ import annotations

import shlex
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console

from latentstage.runtime.cli_choices import DEVICE_METAVAR, BackendName
from latentstage.runtime.sizes import size_option


class TrainStage(StrEnum):
    """What ``latentstage train`` trains."""

    autoencoder = "autoencoder"  # the image autoencoder (first)
    generator = "generator"  # the latent generator (after the autoencoder)


console = Console()


def _progress():
    """The shared progress bar (runtime/progress.py) with an info column and the ETA."""
    from latentstage.runtime.progress import progress_bar

    return progress_bar(console, info=True, eta=True, transient=False)


def _device(device: str):
    from latentstage.runtime.device import device_option

    return device_option(device)


def _model_path(model_dir: str) -> Path:
    """The checkpoint directory a ``--model`` value names ("bundled" or "": the bundled one)."""
    from latentstage.model.world_model import bundled_checkpoint_dir

    return bundled_checkpoint_dir() if model_dir in ("", "bundled") else Path(model_dir)


def _load_model(model_dir: str, device):
    from latentstage.model.world_model import WorldModel
    from latentstage.runtime.errors import CorruptFile, Incompatible, NotFound

    path = _model_path(model_dir)
    try:
        return WorldModel.from_pretrained(path, device=device).eval()
    except (NotFound, CorruptFile, Incompatible) as exc:
        console.print(f"[red]cannot load the model: {exc}[/red]")
        raise typer.Exit(2) from exc


def train(
    stage: TrainStage = typer.Argument(..., help="What to train."),
    out: Path = typer.Option(..., "--out", help="Checkpoint directory (created or updated)."),
    device: str = typer.Option("cpu", metavar=DEVICE_METAVAR, help="Where to train."),
    steps: int = typer.Option(None, min=1, help="Optimiser steps (default per stage)."),
    size: str = typer.Option("128x128", help="Training image size WxH (multiples of 8)."),
    batch: int = typer.Option(16, min=1, help="Samples per step."),
    clips: int = typer.Option(192, min=2, help="Training clips (one procedural world each)."),
    clip_frames: int = typer.Option(16, min=2, help="Frames per training clip."),
    lr: float = typer.Option(None, help="Peak learning rate (default per stage)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint."),
    edge_weight: float = typer.Option(
        0.0, min=0.0, help="Weight of an L1 loss on image (autoencoder) or latent (generator) "
        "gradients: keeps edges that MSE blurs."),
    write_policy: str = typer.Option(
        "inference", help="Generator rollouts write back as inference does (inference) or "
        "whole frames at full trust (full, how ref-v1 was trained)."),
    threads: int = typer.Option(0, min=0, help="CPU threads for torch (0: torch's default)."),
    decoder_only: bool = typer.Option(
        False, "--decoder-only", help="Autoencoder: train the decoder alone (the latent space, "
        "and a generator trained on it, stay valid)."),
    max_minutes: float = typer.Option(
        0.0, min=0.0, help="Wall-clock budget (0: none): the run ends at --steps or at this, "
        "whichever comes first, and the learning-rate schedule follows the budget."),
    render_workers: int = typer.Option(
        1, min=1, help="CPU processes that render the training clips."),
    decoder_inputs: str = typer.Option(
        "encoded", help="With --decoder-only: decode fresh encodings of crops (encoded); as "
        "the frame step does, whole frames whose latents come from a memory's readout of other "
        "frames where it covers (readout); or half of each (mixed)."),
    latent_channels: int = typer.Option(
        0, min=0, help="Autoencoder from scratch: latent channels C (0: the default, 12; the "
        "generator's conditioning then has C + 9 channels)."),
) -> None:
    """Train one stage of the reference model on procedural worlds (training seeds only)."""
    import time

    from latentstage.model import train as training
    from latentstage.model.world_model import WorldModel

    stage = str(getattr(stage, "value", stage))
    if stage not in ("autoencoder", "generator"):
        raise typer.BadParameter(f"{stage!r}: expected autoencoder or generator",
                                 param_hint="STAGE")
    if write_policy not in ("inference", "full"):
        raise typer.BadParameter(f"{write_policy!r}: expected inference or full",
                                 param_hint="--write-policy")
    if decoder_inputs not in ("encoded", "readout", "mixed"):
        raise typer.BadParameter(f"{decoder_inputs!r}: expected encoded, readout or mixed",
                                 param_hint="--decoder-inputs")
    if decoder_inputs != "encoded" and not (stage == "autoencoder" and decoder_only):
        raise typer.BadParameter(f"{decoder_inputs} inputs train the decoder alone: add "
                                 "--decoder-only (autoencoder stage)",
                                 param_hint="--decoder-inputs")
    if threads:
        import torch

        torch.set_num_threads(threads)
    dev = _device(device)
    defaults = {"autoencoder": (3000, 2e-3), "generator": (3000, 1e-3)}[stage]
    cfg = training.TrainConfig(
        stage=stage, steps=steps or defaults[0], size=size_option(size, "--size", multiple=8),
        batch=batch, lr=lr or defaults[1], device=str(dev), clips=clips, clip_frames=clip_frames,
        edge_weight=edge_weight, write_policy=write_policy, decoder_only=decoder_only,
        max_seconds=max_minutes * 60, render_workers=render_workers,
        decoder_inputs=decoder_inputs,
        command="latentstage " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    )
    out.mkdir(parents=True, exist_ok=True)
    fresh = stage == "autoencoder" and not (out / "config.json").exists()
    if latent_channels and not fresh:
        raise typer.BadParameter(f"{out} already holds a model; the latent channels are chosen "
                                 "when an autoencoder is trained from scratch (a new --out)",
                                 param_hint="--latent-channels")
    if fresh:
        model = WorldModel.create(native_size=cfg.size, **(
            {"autoencoder": {"latent_channels": latent_channels}} if latent_channels else {}))
    else:
        model = _load_model(str(out), dev)
    started = time.time()
    with _progress() as bar:
        render_task = bar.add_task("rendering clips", total=cfg.clips, info="")
        task = bar.add_task(f"training {stage}", total=cfg.steps, info="")

        def report(p: training.Progress) -> None:
            terms = " ".join(f"{k} {v:.4f}" for k, v in p.extra.items())
            bar.update(task, completed=p.step, info=f"{terms} | {p.samples_per_s:.1f} samples/s")

        fn = training.train_autoencoder if stage == "autoencoder" else training.train_generator
        record = fn(model, cfg, out, report=report, resume=resume,
                    clip_progress=lambda n: bar.update(render_task, completed=n))
    record["device"] = str(dev) if dev.type == "cpu" else f"{dev} ({_gpu_name(dev)})"
    record["wall_seconds"] = time.time() - started
    training.save_record(model, out, stage, cfg, record, fresh=fresh)
    console.print(f"[green]saved[/green] {out} ({stage}: {record['final_losses']})")


def _gpu_name(dev) -> str:
    import torch

    return torch.cuda.get_device_name(dev)


def evaluate(
    suite: str = typer.Option("builtin", metavar="[builtin|FILE.json]",
                              help="builtin, or a JSON file listing cases."),
    model_dir: str = typer.Option("bundled", "--model", help="Checkpoint directory."),
    out: Path = typer.Option(..., "--out", help="Output directory for report.json and plots."),
    device: str = typer.Option("auto", metavar=DEVICE_METAVAR, help="Where to evaluate."),
    size: str = typer.Option("", help="WxH (default: the model's native size)."),
    steps: int = typer.Option(0, min=0, max=4, help="Sampler steps (0: the model's default)."),
    scale: float = typer.Option(1.0, min=0.01, max=1.0, help="Shorten the builtin suite."),
    jobs: int = typer.Option(
        0, min=0, help="Worker processes, one case each at a time (0: one per CPU core on a "
        "CPU, 1 on CUDA)."),
    yield_ratio: float = typer.Option(
        None, min=0.0, max=1.0, help="The latent memory's trust rule (docs/memory.md); 0 turns "
        "it off, for ablations (default: the memory's own)."),
    update_card: bool = typer.Option(
        False, "--update-card", help="Record the results in the checkpoint's config and card."),
    memories: str = typer.Option(
        "none,rgb,latent", help="Comma-separated memories to run (a subset is quicker, e.g. "
        "latent alone to choose sampler steps; --update-card needs all three)."),
) -> None:
    """Evaluate on held-out worlds with no memory, an RGB point cloud and the latent memory."""
    import json
    import os

    from latentstage.model.eval import MEMORIES, EvalCase, builtin_suite
    from latentstage.model.eval import evaluate as run
    from latentstage.runtime.memory import MemoryConfig

    chosen = tuple(m for m in MEMORIES if m in memories.split(","))
    unknown = set(memories.split(",")) - set(MEMORIES)
    if unknown or not chosen:
        raise typer.BadParameter(f"{memories!r}: expected a comma-separated subset of "
                                 f"{','.join(MEMORIES)}", param_hint="--memories")
    if update_card and chosen != MEMORIES:
        raise typer.BadParameter("the card records all three memories: drop --memories",
                                 param_hint="--update-card")
    dev = _device(device)
    model = _load_model(model_dir, dev)
    if suite == "builtin":
        cases = builtin_suite(scale)
    else:
        try:
            cases = [EvalCase(**c) for c in json.loads(Path(suite).read_text())]
        except (OSError, ValueError, TypeError) as exc:
            raise typer.BadParameter(f"{suite!r}: {exc}", param_hint="--suite") from exc
        if not cases:
            raise typer.BadParameter(f"{suite!r}: the suite lists no cases", param_hint="--suite")
    wh = size_option(size, "--size", multiple=8) if size else tuple(model.config.native_size)
    total = sum(c.frames for c in cases) * len(chosen)
    if jobs == 0:
        jobs = 1 if dev.type == "cuda" else min(os.cpu_count() or 1, len(cases))
    jobs = min(jobs, len(cases))
    steps = steps or model.config.sampler_steps
    if update_card and yield_ratio is not None:
        raise typer.BadParameter("an ablation is not recorded in the card: drop --update-card",
                                 param_hint="--yield-ratio")
    memory_config = MemoryConfig() if yield_ratio is None else MemoryConfig(
        yield_ratio=yield_ratio)
    path = _model_path(model_dir)
    with _progress() as bar:
        task = bar.add_task(f"evaluating ({jobs} job{'s' if jobs > 1 else ''})", total=total,
                            info="")

        def tick(name: str) -> None:
            bar.update(task, advance=1, info=name)

        report = run(model, cases, wh, steps, dev, out, memories=chosen, tick=tick, jobs=jobs,
                     model_dir=path, memory_config=memory_config)
    report["command"] = "latentstage " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    (out / "report.json").write_text(json.dumps(report, indent=2))
    _print_report(report)
    if update_card:
        from latentstage.model.card import record_eval

        record_eval(model, path, report)
        console.print(f"recorded the results in {path / 'config.json'} and README.md")
    console.print(f"report: {out / 'report.json'}")


def eval_merge(
    reports: list[Path] = typer.Argument(..., help="report.json files of disjoint cases."),
    out: Path = typer.Option(..., "--out", help="Where to write the merged report.json."),
    model_dir: str = typer.Option("bundled", "--model", help="Checkpoint the runs used."),
    update_card: bool = typer.Option(
        False, "--update-card", help="Record the results in the checkpoint's config and card."),
) -> None:
    """Merge eval reports of disjoint cases (e.g. indoor and outdoor run in parallel)."""
    import json

    from latentstage.model.eval import merge_reports

    try:
        loaded = [json.loads(p.read_text()) for p in reports]
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="REPORTS") from exc
    report = merge_reports(loaded)
    report["command"] = "latentstage " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    _print_report(report)
    if update_card:
        from latentstage.model.card import record_eval

        model = _load_model(model_dir, _device("cpu"))
        path = _model_path(model_dir)
        record_eval(model, path, report)
        console.print(f"recorded the results in {path / 'config.json'} and README.md")


def eval_choose(
    reports: list[Path] = typer.Argument(..., help="report.json files of the candidates, all "
                                         "on the same (validation) suite."),
    memory: str = typer.Option("latent", help="The memory whose aggregates decide."),
    model_dir: str = typer.Option("", "--model", help="With --set-steps: the checkpoint."),
    set_steps: bool = typer.Option(
        False, "--set-steps", help="Make the chosen report's sampler steps the checkpoint's "
        "default and record the choice in its config and card."),
) -> None:
    """Choose among evaluated candidates: the best detail on generated pixels among those
    within 1 dB of the best PSNR and 0.03 of the best SSIM (model/metrics.py, choose)."""
    import json

    from latentstage.model.metrics import (
        PSNR_SLACK_DB,
        REVISIT_FLOOR_DB,
        SSIM_SLACK,
        Candidate,
        choose,
    )

    try:
        loaded = [json.loads(p.read_text()) for p in reports]
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="REPORTS") from exc
    suites = {json.dumps(r["cases"], sort_keys=True) for r in loaded}
    if len(suites) != 1:
        raise typer.BadParameter("the reports ran different suites; compare like with like",
                                 param_hint="REPORTS")
    candidates, by_name = [], {}
    for path, rep in zip(reports, loaded, strict=True):
        row = rep["aggregate"].get(memory)
        if row is None:
            raise typer.BadParameter(f"{path}: no {memory!r} memory in its aggregate",
                                     param_hint="--memory")
        name = f"{rep.get('model')} steps {rep['sampler_steps']}"
        loops = (rep.get("targets", {}).get("latent_revisit_psnr_db", {}).get("value")
                 if memory == "latent" else None)
        cand = Candidate(name, row["psnr"], row["ssim"], row.get("detail_generated"), loops)
        candidates.append(cand)
        by_name[name] = rep
        console.print(f"{name}: PSNR {cand.psnr:.2f} dB, SSIM {cand.ssim:.3f}, detail on "
                      f"generated pixels {cand.detail or float('nan'):.3f}, revisit PSNR on "
                      f"loops {loops or float('nan'):.2f} dB ({path})")
    try:
        chosen = choose(candidates)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="REPORTS") from exc
    console.print(f"[bold]chosen[/bold]: {chosen.name}")
    if not set_steps:
        return
    model = _load_model(model_dir or "bundled", _device("cpu"))
    if by_name[chosen.name].get("model") != model.model_id:
        raise typer.BadParameter(f"the chosen report is of {by_name[chosen.name].get('model')}, "
                                 f"not of {model.model_id}", param_hint="--model")
    training = dict(model.config.training or {})
    training["selection"] = {
        "rule": f"Best detail on generated pixels (closest to 1 in log ratio) among the "
                f"candidates within {PSNR_SLACK_DB:g} dB of the best PSNR and {SSIM_SLACK:g} of "
                f"the best SSIM that keep revisit PSNR on held-out loops >= "
                f"{REVISIT_FLOOR_DB:g} dB, {memory} memory (model/metrics.py, choose).",
        "suite": loaded[0].get("command", ""),
        "candidates": [c.__dict__ for c in candidates],
        "chosen": chosen.name,
    }
    model.set_training_record(training)
    model.set_sampler_steps(int(by_name[chosen.name]["sampler_steps"]))
    path = _model_path(model_dir or "bundled")
    model.save_pretrained(path)
    from latentstage.model.card import write_card

    write_card(model, path)
    console.print(f"set sampler_steps {model.config.sampler_steps} in {path / 'config.json'}")


def _print_report(report: dict) -> None:
    from rich.table import Table

    rows = {"psnr": "PSNR (dB)", "ssim": "SSIM", "revisit_psnr": "revisit PSNR (dB)",
            "revisit_identical": "identical revisits", "revisit_gt_psnr": "PSNR at revisits",
            "revisit_gt_psnr_seen": "  on seed-seen pixels", "revisit_gt_psnr_unseen":
            "  on generated pixels", "detail": "detail (1 = real)", "detail_generated":
            "  on generated pixels", "detail_uncovered": "  on uncovered pixels",
            "depth_absrel": "depth AbsRel", "fps": "fps",
            "frame_ms_median": "median frame ms"}
    memories = list(report["aggregate"])
    table = Table(title="Aggregate over cases")
    table.add_column("metric")
    for mem in memories:
        table.add_column(mem, justify="right")
    for key, label in rows.items():
        values = [report["aggregate"][m].get(key) for m in memories]
        table.add_row(label, *("-" if v is None else f"{v:.3f}" for v in values))
    console.print(table)
    for name, row in report["targets"].items():
        value = "-" if row["value"] is None else f"{row['value']:.2f}"
        mark = {True: "[green]met[/green]", False: "[red]not met[/red]", None: "-"}[row["met"]]
        console.print(f"{name}: {value} (goal {row['goal']}) {mark}")


def demo(
    out: Path = typer.Option(Path("out/demo"), "--out", help="Output directory."),
    device: str = typer.Option("auto", metavar=DEVICE_METAVAR, help="Where the model runs."),
    frames: int = typer.Option(240, min=8, help="Frames of the loop (leaves and returns)."),
    seed: int = typer.Option(0, min=0, help="Noise seed (frames are deterministic for it)."),
    model_dir: str = typer.Option("bundled", "--model",
                                  help="Checkpoint directory (torch) or engine bundle."),
    backend: BackendName = typer.Option(BackendName.torch, help="Inference backend."),
    threads: int = typer.Option(None, min=1, help="Torch CPU threads (default: the serving "
                                "policy, docs/service.md 'CPU threads'; or "
                                "$LATENTSTAGE_TORCH_THREADS)."),
    strip: Path = typer.Option(
        None, "--strip", help="Also write a PNG strip: frames along the loop, generated above "
        "ground truth (e.g. docs/images/strip.png)."),
) -> None:
    """Fly away from a seed frame and back; write demo.mp4, report.json and a plot."""
    from latentstage.model.demo import run_demo
    from latentstage.runtime.device import configure_threads

    dev = _device(device)
    configure_threads(dev, threads)  # torch's default stalls when another process is busy
    if backend == "torch":
        model = _load_model(model_dir, dev)
    else:
        from latentstage.runtime.backends import load_backend
        from latentstage.runtime.errors import CorruptFile, Incompatible, InvalidInput, NotFound

        try:
            model = load_backend(backend, model_dir, dev)
        except (NotFound, CorruptFile, Incompatible, InvalidInput) as exc:
            console.print(f"[red]cannot load {model_dir!r} with {backend}: {exc}[/red]")
            raise typer.Exit(2) from exc
    with _progress() as bar:
        task = bar.add_task("generating", total=frames, info="")
        report = run_demo(model, out, dev, frames=frames, seed=seed,
                          tick=lambda n: bar.update(task, completed=n), strip=strip)
    console.print(
        f"[bold]demo[/bold] {report['world']['kind']} world {report['world']['seed']}, "
        f"{frames} frames at {report['size'][0]}x{report['size'][1]} on {report['device']}: "
        f"{report['fps']:.1f} fps, PSNR vs ground truth {report['psnr_vs_ground_truth']:.2f} dB, "
        f"revisit PSNR {report['revisit_psnr'] or float('nan'):.2f} dB "
        f"({report['revisit_pairs']} revisited poses), detail {report['detail'] or 0:.2f} "
        "(1 = as detailed as ground truth)"
    )
    if strip is not None:
        console.print(f"wrote {strip} (top: generated, bottom: ground truth)")
    console.print(f"wrote {out / 'demo.mp4'}, {out / 'report.json'}, {out / 'demo_psnr.png'}")
