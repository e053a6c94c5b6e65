"""Every detector, by type and group, and the keyword prefilter that keeps clean text cheap."""

from __future__ import annotations

from collections.abc import Sequence

from . import pii, secrets_cloud, secrets_generic, secrets_keys, secrets_llm, secrets_saas, secrets_vcs
from .detector import Detector, TextView

ALL_DETECTORS: tuple[Detector, ...] = (
    *secrets_cloud.DETECTORS,
    *secrets_vcs.DETECTORS,
    *secrets_saas.DETECTORS,
    *secrets_llm.DETECTORS,
    *secrets_keys.DETECTORS,
    *secrets_generic.DETECTORS,
    *pii.DETECTORS,
)
GROUPS: dict[str, str] = {d.type: d.group for d in ALL_DETECTORS}
DEFAULT_OFF = frozenset({"ip_address"})  # opt-in: name it in dlp.actions


class Prefilter:
    """Picks the detectors worth running on a text from cheap substring tests.

    Case-sensitive keywords are tested with `in` on the text, case-insensitive ones on its lower-cased copy,
    and detectors without a literal (digit-shaped PII) by a shared cheap trigger search. Keyed detectors
    are chosen by the field name instead.
    """

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self.detectors = tuple(detectors)
        cs: dict[str, list[int]] = {}
        ci: dict[str, list[int]] = {}
        triggers: dict[int, tuple[object, list[int]]] = {}
        self._keyed: list[int] = []
        for i, d in enumerate(self.detectors):
            if d.key is not None:
                self._keyed.append(i)
                continue
            for kw in d.keywords:
                cs.setdefault(kw, []).append(i)
            for kw in d.ikeywords:
                ci.setdefault(kw.lower(), []).append(i)
            if d.trigger is not None:
                triggers.setdefault(id(d.trigger), (d.trigger, []))[1].append(i)
            if not (d.keywords or d.ikeywords or d.trigger):
                raise ValueError(f"detector {d.type} has neither keywords nor a trigger")
        self._cs = tuple((k, tuple(v)) for k, v in cs.items())
        self._ci = tuple((k, tuple(v)) for k, v in ci.items())
        self._triggers = tuple((t, tuple(v)) for t, v in triggers.values())

    def candidates(self, view: TextView) -> list[Detector]:
        """The detectors worth running on the view's text (keyed detectors excluded)."""
        hits: set[int] = set()
        text = view.text
        for kw, idxs in self._cs:
            if kw in text:
                hits.update(idxs)
        if self._ci:
            low = view.low
            for kw, idxs in self._ci:
                if kw in low:
                    hits.update(idxs)
        for trig, idxs in self._triggers:
            if trig.search(text):  # type: ignore[attr-defined]
                hits.update(idxs)
        return [self.detectors[i] for i in sorted(hits)]

    def keyed(self, key: str) -> list[Detector]:
        """The keyed detectors whose field-name test `key` passes."""
        if len(key) > 100:
            return []
        return [self.detectors[i] for i in self._keyed if self.detectors[i].applies_to_key(key)]
