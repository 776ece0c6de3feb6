"""``latentstage bench --write-docs NAME …``: a benchmark writes its own section of
``docs/benchmarks.md``, so that the page cannot drift from the code.

Each benchmark's section lies between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``
(NAME is the subcommand: ``memory``, ``serve``, ``threads``…). A run with ``--write-docs``
prints as usual and, when the command succeeds, replaces that text with the exact command and
everything it printed; a page without the markers gets them appended in a new section.
"""

from __future__ import annotations

import io
import platform
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The page in a source checkout (bench/ sits beside docs/).
DOCS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def markers(name: str) -> tuple[str, str]:
    """The opening and closing markers of benchmark ``name``'s section."""
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def section(name: str, command: str, output: str, when: str | None = None) -> str:
    """The generated text of a section: the command, then everything it printed."""
    when = when or time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    machine = f"{platform.machine()}, Python {platform.python_version()}"
    lines = [line.rstrip() for line in output.strip("\n").splitlines()]
    head, tail = markers(name)
    again = command.replace("latentstage bench ", "latentstage bench --write-docs ", 1)
    return (f"{head}\n_Written by `{again}` ({when}, {machine}); regenerate it with that "
            "command rather than editing it._\n\n"
            f"```text\n$ {command}\n" + "\n".join(lines) + f"\n```\n{tail}")


def write_section(name: str, command: str, output: str, page: Path = DOCS_PAGE,
                  when: str | None = None) -> Path:
    """Replace benchmark ``name``'s section of ``page`` with ``command`` and its ``output``
    (appended as a new ``## latentstage bench NAME`` section when the page has no markers)."""
    if not page.is_file():
        raise FileNotFoundError(f"--write-docs: {page} does not exist (expected the "
                                "docs/benchmarks.md of a source checkout)")
    text = page.read_text()
    head, tail = markers(name)
    body = section(name, command, output, when)
    pattern = re.compile(re.escape(head) + r".*?" + re.escape(tail), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: body, text, count=1)
    else:
        text = text.rstrip("\n") + f"\n\n## latentstage bench {name}\n\n{body}\n"
    page.write_text(text)
    return page


@dataclass
class Tee(io.TextIOBase):
    """A text stream that writes through to ``inner`` and keeps a copy."""

    inner: io.TextIOBase  # where the text goes as usual (the terminal)
    copy: io.StringIO = field(default_factory=io.StringIO)  # everything written

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.inner.write(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:  # rich then prints plain text, no live spinners
        return False

    def text(self) -> str:
        return self.copy.getvalue()
