"""Reference world model and procedural worlds with ground truth (see docs/architecture.md)."""
