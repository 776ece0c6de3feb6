"""The demo's plot explains its marks and shows the revisit figure the report gives."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from latentstage.model.plots import demo_psnr  # noqa: E402


def test_demo_psnr_legend_names_the_marks_and_the_pooled_revisit_psnr(tmp_path, monkeypatch):
    seen = {}
    save = Figure.savefig

    def spy(self, *args, **kwargs):
        ax = self.axes[0]
        seen["legend"] = [t.get_text() for t in ax.get_legend().get_texts()]
        seen["dots"] = ax.collections[0].get_offsets().tolist()
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    pairs = [(0, 8), (1, 9)]
    demo_psnr([20.0] * 10, pairs, [35.0, 100.0], 38.0, tmp_path / "demo_psnr.png")
    legend = seen["legend"]
    assert any("revisit: frame returns to an earlier frame's pose" in t for t in legend)
    assert any("1 identical, drawn at 60" in t for t in legend)
    assert any("pooled over 2 pairs = 38.0 dB" in t for t in legend)
    assert seen["dots"] == [[8.0, 35.0], [9.0, 60.0]]  # at frame j, capped for exact repeats
    assert (tmp_path / "demo_psnr.png").stat().st_size > 0
