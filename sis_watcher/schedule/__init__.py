"""Deliberate pauses of uploads: a person's `pause`, and `schedule.blackout` windows."""
