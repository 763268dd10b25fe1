"""
A Canvas LMS stand-in on loopback, faithful to docs/canvas.md.

`CanvasSimulator` (in `server`) is the entry point; `run_simulator` (in `cli`) runs one alone.
"""
