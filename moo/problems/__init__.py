"""Problems: the `Problem` type and the synthetic catalogue with known Pareto fronts."""

from moo.problems._problem import Problem
from moo.problems.catalogue import available_problems, get_problem, simplex_grid

__all__ = ["Problem", "available_problems", "get_problem", "simplex_grid"]
