"""Budget stage engine: spend budgets per calendar period, enforced by reserving the worst case and settling."""

from palaryn_proxy.budget.admission import Admitted, Refused, Unchecked, admit
from palaryn_proxy.budget.config import Budget, BudgetConfig, Scope, parse_budget_config
from palaryn_proxy.budget.engine import (
    BudgetEngine,
    BudgetRefusal,
    BudgetReservation,
    BudgetSettlement,
    Charge,
)
from palaryn_proxy.budget.periods import Period, Window, window

__all__ = [
    "Admitted",
    "Budget",
    "BudgetConfig",
    "BudgetEngine",
    "BudgetRefusal",
    "BudgetReservation",
    "BudgetSettlement",
    "Charge",
    "Period",
    "Refused",
    "Scope",
    "Unchecked",
    "Window",
    "admit",
    "parse_budget_config",
    "window",
]
