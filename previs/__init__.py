"""Previs: deterministic offline shots (``latentstage render``), scrubbing with memory
snapshots, and a local web viewer (``latentstage view``).

Every frame goes through one adapter, :func:`latentstage.previs.frames.render_frame`, so the
runtime's per-frame step can change in one place.
"""
