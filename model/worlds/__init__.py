"""Procedural worlds: scenes, a batched torch ray caster and camera trajectories."""
