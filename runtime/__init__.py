"""Serving runtime: camera conventions, latent spatial memory, sessions, backends and the CLI.

The runtime never imports ``latentstage.export`` or the training code (DESIGN.md, "Layout").
"""
