"""The model card (``README.md`` next to the weights) and the eval summary in ``config.json``."""

from __future__ import annotations

import json
from pathlib import Path

from latentstage.model.data import heldout_frames
from latentstage.model.eval import autoencoder_psnr


def _photo_psnr(model, size: tuple[int, int]) -> dict | None:
    """The autoencoder's PSNR on scikit-image's natural photos, None without scikit-image."""
    from latentstage.model.metrics import natural_photo_psnr

    try:
        return natural_photo_psnr(model, size)
    except RuntimeError:
        return None


def record_eval(model, checkpoint: Path, report: dict) -> dict:
    """Store the eval summary and the autoencoder's held-out PSNR in the training record,
    save the checkpoint (weights unchanged, so the model id is too) and write the card."""
    training = dict(model.config.training or {})
    size = tuple(model.config.native_size)
    training["eval"] = {
        "autoencoder_psnr_db": autoencoder_psnr(model, heldout_frames(size)),
        "autoencoder_psnr_frames": "model.data.heldout_frames(native_size), 8 frames",
        "autoencoder_photo_psnr_db": _photo_psnr(model, size),
        "aggregate": report["aggregate"],
        "targets": report["targets"],
        "suite": report["cases"],
        "command": report.get("command", ""),
        "runs": report.get("merged_from", []),
    }
    model.set_training_record(training)
    model.save_pretrained(checkpoint)
    write_card(model, checkpoint)
    return training["eval"]


def _fmt(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def write_card(model, checkpoint: Path) -> Path:
    """Write ``README.md``: data, commands, eval numbers and limits, from the config."""
    cfg = model.config
    training = cfg.training or {}
    lines = [
        f"# {cfg.architecture}: the LatentStage reference world model",
        "",
        f"Model id `{model.model_id}`. Native size {cfg.native_size[0]}x{cfg.native_size[1]}, "
        f"latent {cfg.latent['channels']} channels at stride {cfg.latent['stride']}, "
        f"{cfg.sampler_steps} sampler step{'s' if cfg.sampler_steps != 1 else ''} by default.",
        "",
        "**It knows only procedural worlds.** It was trained by this repository's own code on "
        "its procedural indoor rooms and outdoor scenes (`latentstage.model.worlds`), on "
        "training seeds only; it has never seen a photograph and will not generate one. Bring "
        "larger models through the same checkpoint contract and `latentstage export`.",
        "",
        "## Networks",
        f"- autoencoder: `{json.dumps(cfg.autoencoder)}`",
        f"- generator: `{json.dumps(cfg.generator)}`",
        "",
        "## Training",
    ]
    for stage in ("autoencoder", "generator"):
        rec = training.get(stage)
        if not rec:
            continue
        conf = rec.get("config", {})
        losses = ", ".join(f"{k} {_fmt(v, 5)}" for k, v in (rec.get("final_losses") or {}).items())
        lines += [
            f"### {stage}",
            f"- command: `{conf.get('command', '')}`",
            f"- device: {rec.get('device')}; steps: {rec.get('steps')}; batch {conf.get('batch')}; "
            f"wall time {_fmt((rec.get('wall_seconds') or 0) / 60, 1)} min",
            f"- data: {conf.get('clips')} procedural clips x {conf.get('clip_frames')} frames at "
            f"{conf.get('size')}, world seeds from 0 (held-out seeds start at 1,000,000)",
            f"- final losses (smoothed): {losses}",
        ]
        if stage == "generator" and conf.get("write_policy"):
            lines.append(f"- rollouts written back with the `{conf['write_policy']}` policy")
        for run in rec.get("earlier_runs", []):
            lines.append(f"- continued from: `{run.get('command', '')}` ({run.get('steps')} steps "
                         f"on {run.get('clips')} clips, {run.get('device')}, "
                         f"{_fmt((run.get('wall_seconds') or 0) / 60, 1)} min)")
    ev = training.get("eval")
    if ev:
        runs = sorted({(c["trajectory"], c["frames"]) for c in ev.get("suite", [])})
        cases = ", ".join(f"{t} {n} frames" for t, n in runs)
        lines += ["", "## Evaluation (held-out worlds, indoor and outdoor)",
                  f"- cases: {cases}",
                  f"- command: `{ev.get('command', '')}`",
                  *(f"  - from: `{run}`" for run in ev.get("runs", [])),
                  f"- autoencoder PSNR on held-out frames: {_fmt(ev['autoencoder_psnr_db'])} dB",
                  *_photo_lines(ev.get("autoencoder_photo_psnr_db")),
                  "", "Detail is the high-frequency energy of the generated frames over ground "
                  "truth's on the same pixels (`model/metrics.py`; 1.0 = as detailed as the "
                  "world, below 1 a blur, above 1 noise), over all pixels and over the pixels "
                  "the seed frame did not observe (generated).",
                  "", "PSNR at revisits is against ground truth, over the whole frame and "
                  "split into the pixels the seed frame observed and the ones the model "
                  "generated (which it cannot know: the worlds are random).",
                  "", "Revisit PSNR pools the error of all revisit pairs; identical revisits is "
                  "the share of them reproduced bit for bit.",
                  "", "| memory | PSNR | SSIM | revisit PSNR | identical revisits "
                  "| PSNR at revisits | seed-seen px | generated px | detail | detail generated "
                  "| depth AbsRel | fps | median frame ms |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for mem, row in ev["aggregate"].items():
            lines.append(f"| {mem} | {_fmt(row['psnr'])} | {_fmt(row['ssim'], 3)} | "
                         f"{_fmt(row['revisit_psnr'])} | "
                         f"{_fmt(row.get('revisit_identical'))} | {_fmt(row['revisit_gt_psnr'])} | "
                         f"{_fmt(row.get('revisit_gt_psnr_seen'))} | "
                         f"{_fmt(row.get('revisit_gt_psnr_unseen'))} | "
                         f"{_fmt(row.get('detail'), 3)} | {_fmt(row.get('detail_generated'), 3)} | "
                         f"{_fmt(row['depth_absrel'], 3)} | {_fmt(row['fps'], 1)} | "
                         f"{_fmt(row.get('frame_ms_median'), 1)} |")
        lines += ["", "| target (held-out loops) | value | goal | met |", "|---|---|---|---|"]
        for name, row in ev["targets"].items():
            lines.append(f"| {name} | {_fmt(row['value'])} | {row['goal']} | {row['met']} |")
    lines += _selection_lines(training.get("selection"))
    lines += _LIMITS + _policy_lines(training.get("generator"))
    path = checkpoint / "README.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _photo_lines(photos: dict | None) -> list[str]:
    if not photos:
        return []
    each = ", ".join(f"{k} {_fmt(v)}" for k, v in photos.items() if k != "mean")
    return [f"- autoencoder PSNR on scikit-image's natural photos (measured, never trained on): "
            f"{_fmt(photos['mean'])} dB mean ({each})"]


def _selection_lines(selection: dict | None) -> list[str]:
    """How the default sampler steps were chosen (``training["selection"]``), if recorded."""
    if not selection:
        return []
    lines = ["", "## How the sampler steps were chosen", selection.get("rule", ""), "",
             f"On the validation suite, one eval per candidate, e.g. "
             f"`{selection.get('suite', '')}`:", "",
             "| candidate | PSNR | SSIM | detail generated | revisit PSNR (loops) |",
             "|---|---|---|---|---|"]
    for row in selection.get("candidates", []):
        lines.append(f"| {row['name']} | {_fmt(row['psnr'])} | {_fmt(row['ssim'], 3)} | "
                     f"{_fmt(row['detail'], 3)} | {_fmt(row.get('revisit_loops'))} |")
    lines += ["", f"Chosen: **{selection.get('chosen')}**."]
    return lines


_LIMITS = [
    "",
    "## What it can and cannot do",
    "- **It keeps what it has seen.** A place seen once comes back when the camera returns "
    "(revisit PSNR above); the seed frame's pixels come back blurred by the autoencoder and "
    "by reprojection (the seed-seen column, below the autoencoder's PSNR on whole frames).",
    "- **It does not continue the world.** Away from what the memory holds it paints a fog "
    "in the colours at the edge of the readout: no wall texture, furniture or sharp edges. "
    "The detail columns say how little: generated pixels carry well under a tenth of ground "
    "truth's high-frequency energy.",
    "- **Its decoder blurs too.** Even a frame it is given keeps only about a fifth of its "
    "high-frequency energy through encode and decode (16x compression into a light "
    "decoder); the natural-photo PSNR above shows it has learned procedural worlds, not "
    "photographs.",
    "- Procedural worlds only (see above); low resolution by design so that it trains and "
    "runs on a CPU. Trained on a CPU within working sessions: it is undertrained. Retrain on "
    "a GPU with the commands above and more steps and worlds (docs/model.md).",
    "- Against ground truth, a revisited view is only as right as what was first "
    "generated there: the seed frame's pixels come back near the autoencoder's ceiling, "
    "the generated rest cannot match a random world (the seed-seen and generated "
    "columns above).",
]


def _policy_lines(generator: dict | None) -> list[str]:
    """What the generator's training rollouts wrote back, against what inference writes."""
    if not generator:
        return []
    inference = (generator.get("config") or {}).get("write_policy") == "inference"
    if inference:
        return ["- Its generator's last run wrote its self-forcing rollouts back as inference "
                "does: only what the memory lacked, at the trust of generated content "
                "(docs/memory.md)."]
    return ["- Its generator's self-forcing rollouts wrote whole generated frames back at full "
            "trust; inference writes back only what the memory lacked, at the trust of "
            "generated content (docs/memory.md). Runs with `--write-policy inference` (the "
            "default) train as inference writes; session 5's were measured and not kept "
            "(docs/model.md)."]
