"""Graceful degradation: a model that cannot be fitted on the data never stops a report.

Real cohorts are small and lopsided: a cause in which nearly every patient recovers makes the
cure model's incidence part not identifiable, a covariate can be constant in a subset, a fit can
fail to converge. :func:`attempt` tries the requested model and then the simpler models the
caller lists, and returns a :class:`ModelAttempt` that says in plain words what was fitted,
what could not be and why. Raw exception text never reaches a page: :func:`plain_reason` turns
a failure into a sentence a clinical reader understands (it never quotes the exception, whose
text may name data values).

Only failures that come from the data are caught (:class:`~footdrop_outcomes.errors.FootdropError`
and numerical failures); programming errors still raise.

>>> def bad():
...     raise FootdropError("the information matrix is singular at the maximum")
>>> a = attempt("Mixture cure model", [("cause + severity", bad)])
>>> a.ok, a.fitted
(False, None)
>>> a.sentence()
'Mixture cure model (cause + severity) could not be fitted: the data cannot pin the model down (typically a group in which nearly every patient, or nearly no patient, recovered). It is not shown.'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from footdrop_outcomes.errors import ConvergenceError, FootdropError

__all__ = ["ModelAttempt", "attempt", "plain_reason", "plain_warning", "DATA_FAILURES"]

#: Exceptions that mean "these data cannot support this model" (not a bug): caught and explained.
DATA_FAILURES: tuple[type[BaseException], ...] = (FootdropError, np.linalg.LinAlgError, ArithmeticError)

_REASONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"singular|not identifiable|collinear|rank", re.I),
     "the data cannot pin the model down (typically a group in which nearly every patient, or nearly no patient, recovered)"),
    (re.compile(r"constant|does not vary|do not vary", re.I), "a term of the model does not vary among the patients analysed"),
    (re.compile(r"no recover|no event|too few|events? in|at least two groups", re.I), "there are too few recoveries in some group"),
    (re.compile(r"converge", re.I), "the fit did not converge"),
]


def plain_reason(exc: BaseException) -> str:
    """Why a fit failed, in plain words, without quoting the exception (it may name values).

    >>> plain_reason(ConvergenceError("Newton did not converge in 100 steps"))
    'the fit did not converge'
    >>> plain_reason(FootdropError("something else"))
    'the model could not be fitted on these data'
    """
    text = str(exc)
    for pattern, reason in _REASONS:
        if pattern.search(text):
            return reason
    if isinstance(exc, ConvergenceError):
        return "the fit did not converge"
    if isinstance(exc, np.linalg.LinAlgError):
        return _REASONS[0][1]
    return "the model could not be fitted on these data"


@dataclass(frozen=True)
class ModelAttempt:
    """What became of one model of a report section.

    Attributes
    ----------
    model : str
        The model in words (``"Mixture cure model"``).
    requested : str
        The specification asked for (a formula, or a short description).
    fitted : str or None
        The specification actually fitted (``requested`` when it worked, a simpler one when the
        report fell back, ``None`` when nothing could be fitted).
    result : object or None
        The fitted result.
    reason : str or None
        Plain-words reason the requested model could not be fitted (``None`` when it was).
    """

    model: str
    requested: str
    fitted: str | None
    result: Any | None
    reason: str | None

    @property
    def ok(self) -> bool:
        """True when some model (requested or simpler) was fitted."""
        return self.result is not None

    @property
    def fell_back(self) -> bool:
        """True when a simpler model than the one requested was fitted."""
        return self.ok and self.fitted != self.requested

    def sentence(self, *, bold: bool = False) -> str:
        """One sentence for the page: empty when the requested model was fitted (``bold``: the
        model's name in Markdown bold, to open a paragraph)."""
        if self.ok and not self.fell_back:
            return ""
        name = f"**{self.model}**" if bold else self.model
        head = f"{name} ({self.requested}) could not be fitted: {self.reason}."
        if self.fell_back:
            return f"{head} The simpler model {self.fitted} is shown instead."
        return f"{head} It is not shown."


def attempt(model: str, candidates: Sequence[tuple[str, Callable[[], Any]]]) -> ModelAttempt:
    """Fit the first candidate that the data support.

    Parameters
    ----------
    model : str
        The model in words, for the sentence on the page.
    candidates : sequence of (str, callable)
        ``(specification, fit)`` pairs, the requested model first, then simpler ones that are
        still sound; ``fit()`` returns the result or raises.

    Returns
    -------
    ModelAttempt
        The reason is that of the *requested* model's failure.
    """
    if not candidates:
        raise ValueError("attempt needs at least one candidate model")
    requested = candidates[0][0]
    reason: str | None = None
    for spec, fit in candidates:
        try:
            result = fit()
        except DATA_FAILURES as exc:
            reason = reason or plain_reason(exc)
            continue
        return ModelAttempt(model, requested, spec, result, reason)
    return ModelAttempt(model, requested, None, None, reason)


def plain_warning(message: str) -> str:
    """A fit's warning as a plain clause for the page: the function-name prefix, anything in
    brackets or after a semicolon (nested exception text, term lists, hints) and digits removed.

    >>> plain_warning("adherence_effect: the cure model could not be fitted, so the Cox model is reported instead "
    ...               "(the information matrix is singular: terms ['incidence:cause[stroke]']); pass cure_model=False")
    'the cure model could not be fitted, so the Cox model is reported instead'
    """
    text = re.sub(r"^\s*[\w.]+:\s+", "", str(message))
    text = re.split(r"\s\(|;\s|\.\s|\n", text, maxsplit=1)[0]
    text = re.sub(r"\d+(?:\.\d+)?", "#", text).strip().rstrip(".")
    return text
