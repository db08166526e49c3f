"""Thin command-line entry points: compose config, build typed objects, call a stage."""
