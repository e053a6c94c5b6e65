"""Budget stage engine: spend budgets per calendar period, enforced by reserving the worst case and settling."""

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
    "Budget",
    "BudgetConfig",
    "BudgetEngine",
    "BudgetRefusal",
    "BudgetReservation",
    "BudgetSettlement",
    "Charge",
    "Period",
    "Scope",
    "Window",
    "parse_budget_config",
    "window",
]
