"""Implementations of the `seg-perception` sub-commands (see seg_perception.cli)."""
