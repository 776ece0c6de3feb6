"""Benchmarks (``latentstage bench …``): each prints figures measured in one run, and can write
its own section of ``docs/benchmarks.md`` (``--write-docs``). The serving runtime never imports
this package."""
