"""Reference world model and procedural worlds with ground truth (see DESIGN.md)."""
