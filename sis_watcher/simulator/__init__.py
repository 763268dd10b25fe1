"""
A Canvas LMS stand-in on loopback, faithful to `reference/canvas-sis-api.md`.

`CanvasSimulator` (in `server`) is the entry point; `run_simulator` (in `cli`) runs one alone.
"""
