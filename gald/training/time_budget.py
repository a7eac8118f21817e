"""When a training run with a wall-clock budget (`optim.time_budget_s`) should fit its number of steps.

Throughput is timed from the 10th step of a session (the first ones pay for cuDNN autotuning and loader
start-up); the first fit comes after 40 timed steps (or, for short budgets, after 5 once a tenth of the budget
has passed), refits at a quarter and a half of the budget; after that the schedule is fixed. Each fit times
only the steps since the previous one, so a machine that was busy at the start (seen: CI sharing the CPU for
the first 10 minutes) does not drag every later fit.
"""

from __future__ import annotations

WARMUP_STEPS = 10
FIRST_FIT_STEPS = 40
MIN_TIMED_STEPS = 5
REFIT_AT = (0.25, 0.5)


def fitted_total(step: int, elapsed: float, budget: float, steps_timed: int, seconds_timed: float
                 ) -> tuple[int, float]:
    """(total steps that end the run at the budget, measured steps per second)."""
    rate = steps_timed / max(seconds_timed, 1e-9)
    return step + max(int(rate * (budget - elapsed)), 1), rate


class BudgetClock:
    """Per-session timing state; `due` says when to fit and what was timed since the last fit."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.timer: tuple[int, float] | None = None
        self.refits = list(REFIT_AT)

    def due(self, session_steps: int, step: int, now: float, elapsed: float, fitted: bool
            ) -> tuple[int, float] | None:
        """(steps, seconds) timed since the last fit if a fit is due now (the timer restarts), else None."""
        if session_steps == WARMUP_STEPS:
            self.timer = (step, now)
        if self.timer is None:
            return None
        timed = (step - self.timer[0], now - self.timer[1])
        measured = timed[0] >= FIRST_FIT_STEPS or (
            timed[0] >= MIN_TIMED_STEPS and (fitted or elapsed >= 0.1 * self.budget))
        if not measured or (fitted and not (self.refits and elapsed >= self.refits[0] * self.budget)):
            return None
        while self.refits and elapsed >= self.refits[0] * self.budget:
            self.refits.pop(0)
        self.timer = (step, now)
        return timed
