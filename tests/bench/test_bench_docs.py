"""``latentstage bench --write-docs NAME``: a benchmark replaces its own section of the page
(between its markers), with the command next to what it printed, and nothing else."""

from __future__ import annotations

from typer.testing import CliRunner

from latentstage.bench.docs import markers, write_section
from latentstage.runtime.cli import app

PAGE = """# Benchmarks

## Memory
<!-- bench:memory -->
old figures
<!-- /bench:memory -->
Prose after.

## Serve
<!-- bench:serve -->
serve figures
<!-- /bench:serve -->
"""


def test_a_section_is_replaced_between_its_markers_only(tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text(PAGE)
    write_section("memory", "latentstage bench memory --frames 4", "| 64x64 | 2.9x |\n", page,
                  when="2026-01-01")
    text = page.read_text()
    head, tail = markers("memory")
    inside = text.split(head, 1)[1].split(tail, 1)[0]
    assert "old figures" not in text
    assert "$ latentstage bench memory --frames 4\n| 64x64 | 2.9x |\n```" in inside
    assert "`latentstage bench --write-docs memory --frames 4` (2026-01-01" in inside
    assert text.startswith("# Benchmarks\n\n## Memory\n<!-- bench:memory -->")
    assert "<!-- /bench:memory -->\nProse after.\n\n## Serve\n<!-- bench:serve -->\nserve " \
        "figures\n<!-- /bench:serve -->\n" in text


def test_a_page_without_the_markers_gets_a_new_section(tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text(PAGE)
    write_section("threads", "latentstage bench threads", "fps 1.0", page)
    text = page.read_text()
    assert text.startswith(PAGE.rstrip("\n"))
    assert "## latentstage bench threads\n\n<!-- bench:threads -->" in text
    assert text.rstrip().endswith("<!-- /bench:threads -->")


def test_the_command_line_writes_what_the_benchmark_printed(tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text(PAGE)
    args = ["memory", "--frames", "4", "--sizes", "64", "--capacity", "4096"]
    result = CliRunner().invoke(app, ["bench", "--write-docs", "--docs-page", str(page), *args])
    assert result.exit_code == 0, result.output
    inside = page.read_text().split("<!-- bench:memory -->", 1)[1].split("<!-- /bench", 1)[0]
    assert "$ latentstage bench memory --frames 4 --sizes 64 --capacity 4096\n" in inside
    assert "Conditioning per frame after a 4-frame orbit" in inside and "64x64" in inside
    assert "serve figures" in page.read_text()  # the other section is untouched


def test_a_failed_benchmark_writes_nothing(tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text(PAGE)
    result = CliRunner().invoke(app, ["bench", "--write-docs", "--docs-page", str(page),
                                      "memory", "--sizes", "big"])
    assert result.exit_code == 2
    assert page.read_text() == PAGE
