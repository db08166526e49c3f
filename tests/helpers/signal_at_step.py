"""``stance-train`` that sends itself a signal after optimizer step N: a preemption at a known step.

    python signal_at_step.py SIGNAL STEP [overrides...]

The signal is real (``os.kill`` on this process), so it goes through the same
handlers as ``kill -TERM``; only its timing is pinned, which a test killing from
outside cannot do with steps that take milliseconds.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

from stance.cli.train import main

# The package re-exports the function fine_tune under the module's name; fetch the module itself.
fine_tune_module = importlib.import_module("stance.training.fine_tune")

SIGNUM = signal.Signals[sys.argv[1]]
STEP = int(sys.argv[2])
sys.argv = [sys.argv[0], *sys.argv[3:]]


class _GuardThatSignals(fine_tune_module.DivergenceGuard):
    """fine_tune's DivergenceGuard, also sending the signal once step STEP has ended."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == STEP:
            print(f"signal_at_step: sending {SIGNUM.name} after step {STEP}", file=sys.stderr, flush=True)
            os.kill(os.getpid(), SIGNUM)


fine_tune_module.DivergenceGuard = _GuardThatSignals
main()
