"""Content rules on arrays of distinct text values (vectorised, RE2, linear time).

:func:`text_findings` takes distinct values of one column and the column's *kind* and returns,
per reason, a boolean mask over the values. Kinds:

``"free"``
    Any column that is not a data-model column, and out-of-vocabulary values of closed
    vocabulary columns: every rule.
``"code"``
    Out-of-vocabulary values of a closed-vocabulary column (a site's own codes before mapping,
    such as ``女性`` or ``Multiple Sclerosis``): every rule but the column-share name rules
    (short words read as names). Such a value must be recoded to the vocabulary by the mapping
    or the cohort is refused anyway, without showing it.
``"label"``
    Free-text labels of the data model (``site``): every rule.
``"key"``
    Patient keys (``patient_id``): every rule, with the key rules added (letters only,
    record labels, zero padding, initials plus a date, nine or more digits in a row) and the
    seven-digit rule replaced by the key-density rule of the scanner.
``"text"``
    One text value outside a table (a report title, a label): the identifier rules that make
    sense in running text; no free-text rule and no column-share rules.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import re2

from footdrop_outcomes.guard import _patterns as P

Kind = Literal["free", "code", "label", "key", "text"]

#: Values of this many characters or more are free text (and are not run through the other rules).
FREE_TEXT_CHARS = 60
#: check_text refuses texts longer than this outright (a title or a label is short).
MAX_TEXT_CHARS = 1_000
#: Words (runs of non-space characters) from which a value is free text.
FREE_TEXT_WORDS = 6
#: Letters of scripts without word spaces (CJK, Thai, ...) from which a value is free text.
FREE_TEXT_UNCASED = 20

NAMES = "values look like personal names"
_MIXED_LATIN = re.compile(r"[A-Za-z]")
_MIXED_OTHER = re.compile(r"[\u0370-\u03ff\u0400-\u04ff]")
ZERO_PADDED_REASON = "values look like record numbers kept as text (zero-padded digits)"


@dataclass(frozen=True)
class Rule:
    """One content rule: the reason shown, RE2 patterns (any may match), and how matches count."""

    reason: str
    patterns: tuple[str, ...]
    share: bool = False  # True: refuse only when at least half of the distinct values match
    name_rule: bool = False  # values holding an institution word are exempt
    kinds: frozenset[str] = frozenset({"free", "code", "label", "key", "text"})
    #: The patterns that can match a value of the simple shape ``_patterns.PLAIN``.
    plain: tuple[str, ...] = ()


_TABLE = frozenset({"free", "code", "label", "key"})
_NOT_KEY = frozenset({"free", "code", "label", "text"})
_KEY = frozenset({"key"})
_COMPACT_DATES = P.DATE_PATTERNS[3:5]  # YYYYMMDD, DDMMYYYY
_SHORT_LABELS = P.NATIONAL_ID_FORMATS[0]

_DATE_PLAIN = (*_COMPACT_DATES, *P.DATE_MONTH_COMPACT, P.DATE_BIRTH_LABEL)
HIDDEN = ("values hold hidden characters (zero-width spaces, text-direction controls, soft hyphens): "
          "the text shown is not the text stored")

RULES: tuple[Rule, ...] = (
    Rule(HIDDEN, ("\ue000",)),
    Rule("values look like e-mail addresses", (P.EMAIL,)),
    Rule("values look like web addresses or online identifiers", (P.WEB, *P.ONLINE_IDS)),
    Rule("values look like phone numbers", (P.PHONE_LABELLED, P.PHONE_EXTENSION)),
    Rule("values look like record or national ID numbers", (P.ID_LABELLED, *P.NATIONAL_ID_FORMATS),
         plain=(P.ID_LABELLED, _SHORT_LABELS)),
    Rule("values look like calendar dates (give days since onset)", P.DATE_PATTERNS, plain=_DATE_PLAIN),
    Rule("values look like calendar dates (give days since onset)", (P.DATE_YEAR_MONTH,), kinds=_NOT_KEY),
    Rule("values look like record or national ID numbers (7 or more digits in a row)", (P.LONG_DIGITS,), kinds=_NOT_KEY,
         plain=(P.LONG_DIGITS,)),
    Rule("keys look like record or national ID numbers (9 or more digits in a row)", (P.VERY_LONG_DIGITS,), kinds=_KEY),
    Rule(ZERO_PADDED_REASON, (P.ZERO_PADDED,), kinds=_NOT_KEY, plain=(P.ZERO_PADDED,)),
    Rule("keys look like record numbers kept as text (digits only, zero-padded)", (r"^\s*0\p{Nd}+\s*$",), kinds=_KEY,
         plain=(r"^\s*0\p{Nd}+\s*$",)),
    Rule("keys look like record or national ID numbers (7 or more digits only)", (r"^\s*\p{Nd}{7,}\s*$",), kinds=_KEY,
         plain=(r"^\s*\p{Nd}{7,}\s*$",)),
    Rule("keys look like record or national ID numbers (a record label and a number)", (P.KEY_RECORD_LABEL,),
         kinds=_KEY, plain=(P.KEY_RECORD_LABEL,)),
    Rule("keys hold a date (initials and a birth date?)", (P.KEY_INITIALS_DATE,), kinds=_KEY, plain=(P.KEY_INITIALS_DATE,)),
    Rule("keys look like personal names (letters only)", (P.KEY_LETTERS_ONLY,), kinds=_KEY),
    Rule("values look like full postcodes", (P.POSTCODE, *P.POSTCODE_IN_TEXT)),
    Rule("values look like street addresses", P.STREET_PATTERNS),
    Rule(NAMES, (P.TITLE_NAME,)),  # a title before a name is refused even in "Clinic of Dr Smith"
    Rule(NAMES, (P.PARTICLE_NAME, P.COMMA_NAME, P.RELATION_NAME, P.NAME_LABEL), name_rule=True),
    Rule(NAMES, (P.CAPITALISED_NAME, P.CAPS_NAME, P.INITIAL_NAME), share=True, name_rule=True,
         kinds=frozenset({"free", "label", "key"})),
    Rule(NAMES, (P.UNCASED_NAME,), share=True, name_rule=True, kinds=frozenset({"free", "label", "key"})),
)

_PHONE_EXT = r"(?i)\s*(?:ext\.?|extension|x|#|poste|durchwahl|dw|interno|int\.?|;ext=)\s*\p{Nd}{1,6}\s*$"


#: Below this many values a pattern runs through a compiled, cached RE2 object; above it through
#: pyarrow (vectorised, but it compiles the pattern on every call: ~1 ms, which dominated small scans).
_SMALL = 512


@functools.lru_cache(maxsize=None)
def _compiled(pattern: str) -> Any:
    opts = re2.Options()
    opts.max_mem = 64 << 20  # the Unicode-class patterns need more than RE2's default 8 MB for their DFA
    return re2.compile(pattern, opts)


def _match(values: pa.Array, pattern: str) -> np.ndarray:
    """Which values contain a match of ``pattern`` (RE2 syntax and semantics, linear time)."""
    if len(values) <= _SMALL:
        rx = _compiled(pattern)
        return np.fromiter((v is not None and rx.search(v) is not None for v in values.to_pylist()), bool, len(values))
    return pc.match_substring_regex(values, pattern).to_numpy(zero_copy_only=False).astype(bool)


def _match_any(values: pa.Array, patterns: tuple[str, ...], rows: np.ndarray | None = None) -> np.ndarray:
    """Which values match any of ``patterns`` (only among ``rows`` when given)."""
    out = np.zeros(len(values), bool)
    if rows is not None:
        if rows.size == 0 or not patterns:
            return out
        part = values.take(pa.array(rows)) if rows.size < len(values) else values
        for p in patterns:
            out[rows] |= _match(part, p)
        return out
    for p in patterns:
        out |= _match(values, p)
    return out


def zero_padded(values: pa.Array) -> np.ndarray:
    """Digits only with a leading zero, four or more digits ("0001234"): a record number kept as text."""
    return _match(values, P.ZERO_PADDED)


GROUPED_REASON = "values look like phone, record or national ID numbers (9 or more digits written in groups)"
#: Digits a number written in groups must have to be refused.
GROUPED_DIGITS = 9


def grouped_digits(values: pa.Array) -> np.ndarray:
    """Numbers of 9 or more digits written in groups (``12 34 56 78 90``, ``(415) 555-2671``, ``1234.567.890``).

    The separators between two digits (up to three of space, ``. - / ( )``) are removed twice
    (which joins every group of a run) and the longest run of digits is then measured.
    """
    has = _match(values, P.GROUP_SEPARATOR)
    if not has.any():
        return has
    rows = np.flatnonzero(has)
    part = values.take(pa.array(rows))
    for _ in range(2):
        part = pc.replace_substring_regex(part, P.GROUP_SEPARATOR, r"\1\2")
    out = np.zeros(len(values), bool)
    out[rows] = _match(part, rf"\p{{Nd}}{{{GROUPED_DIGITS},}}")
    return out


_VERHOEFF_D = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
               [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
               [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
               [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_VERHOEFF_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
               [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
               [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]
_SNOMED = re.compile(r"^\s*(?:(?:snomed(?:[\s-]*ct)?|sctid|concept(?:[\s_]*id)?)\s*[:#]?\s*)?([0-9]{6,18})\s*$", re.IGNORECASE)


def _verhoeff_ok(digits: str) -> bool:
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][int(ch)]]
    return c == 0


def snomed_ids(values: list[object]) -> np.ndarray:
    """Which values are SNOMED CT concept identifiers (6 to 18 digits, optionally labelled ``SNOMED``).

    A concept id ends in a partition identifier ``00`` (international) or ``10`` (extension) and a
    Verhoeff check digit; a random number of this length passes both with probability 1 in 500.
    """
    out = np.zeros(len(values), bool)
    for i, v in enumerate(values):
        m = _SNOMED.match(str(v)) if v is not None and len(str(v)) <= 40 else None
        if m:
            d = m.group(1)
            out[i] = d[-3:-1] in ("00", "10") and _verhoeff_ok(d)
    return out


def _phone(values: pa.Array) -> np.ndarray:
    """Bare phone numbers: digits with separators, 9 to 15 digits without the extension."""
    hit = _match(values, P.PHONE)
    if hit.any():
        core = pc.replace_substring_regex(values, _PHONE_EXT, "")
        n = pc.count_substring_regex(core, r"\p{Nd}").to_numpy(zero_copy_only=False)
        hit &= (n >= 9) & (n <= 15)
    return hit


def _free_text(values: pa.Array, lengths: np.ndarray) -> np.ndarray:
    words = pc.count_substring_regex(values, r"\S+").to_numpy(zero_copy_only=False)
    uncased = pc.count_substring_regex(values, r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]"
                                       ).to_numpy(zero_copy_only=False)
    return (lengths >= FREE_TEXT_CHARS) | (words >= FREE_TEXT_WORDS) | (uncased >= FREE_TEXT_UNCASED)


#: Marks a hidden character in a normalised value (a private-use character; see the HIDDEN rule).
_HIDDEN_MARK = "\ue000"

#: Look-alike Cyrillic and Greek letters, read as the Latin letter they imitate (in values that
#: mix Latin with Cyrillic or Greek letters: "Мrs Jones" with a Cyrillic М).
_CONFUSABLES = str.maketrans(
    "АВЕЗКМНОРСТУХЅІЈаеорсуххѕіјһԁԛԝΑΒΕΖΗΙΚΜΝΟΡΤΥΧοαιкмнтвνρτυϲ",
    "ABE3KMHOPCTYXSIJaeopcyxxsijhdqwABEZHIKMNOPTYXoaikmhtbvptuc",
)


@functools.lru_cache(maxsize=1)
def _digit_table() -> dict[int, str]:
    """Every decimal digit of every script -> its ASCII digit (built once, when first needed)."""
    return {c: str(unicodedata.decimal(chr(c))) for c in range(0x80, 0x20000) if chr(c).isdecimal()}  # all decimal digits lie below U+20000


def _fold(text: str) -> str:
    """A value's digits of any script as ASCII digits; look-alike letters as Latin in mixed-script text."""
    text = text.translate(_digit_table())
    if _MIXED_LATIN.search(text) and _MIXED_OTHER.search(text):
        text = text.translate(_CONFUSABLES)
    return text


def as_arrow(values: list[str] | np.ndarray) -> pa.Array:
    """Distinct values as an Arrow string array, normalised for matching.

    NFKC (full-width forms, ligatures, no-break spaces); hidden characters (text-direction
    controls, zero-width spaces, soft hyphens) marked, for the HIDDEN rule refuses them; other
    format characters (zero-width joiners) and leftover combining marks removed; every dash read
    as ``-``; digits of every script as ASCII digits; look-alike Cyrillic and Greek letters read
    as Latin in values that mix the scripts. ASCII values need none of this.
    """
    # a value longer than MAX_TEXT_CHARS is refused by its length alone: keep only its start
    arr = pa.array([v[: MAX_TEXT_CHARS + 1] for v in values], type=pa.large_string())
    if len(arr) == 0:
        return arr
    wide = pc.match_substring_regex(arr, r"[^\x00-\x7F]")
    if not pc.any(wide).as_py():
        return arr
    part = pc.utf8_normalize(pc.filter(arr, wide), form="NFKC")
    part = pc.utf8_ltrim(part, characters="\ufeff")  # a byte-order mark at the start is encoding, not text
    part = pc.replace_substring_regex(part, P.HIDDEN, _HIDDEN_MARK)
    part = pc.replace_substring_regex(part, P.INVISIBLE, "")
    part = pc.replace_substring_regex(part, P.DASHES, "-")
    fold = pc.match_substring_regex(part, r"[^0-9\P{Nd}]|\p{Cyrillic}|\p{Greek}")
    if pc.any(fold).as_py():  # digits of other scripts, look-alike letters: in Python, for these values only
        folded = pa.array([_fold(t) for t in pc.filter(part, fold).to_pylist()], type=pa.large_string())
        part = pc.replace_with_mask(part, fold, folded)
    return pc.replace_with_mask(arr, wide, part.cast(pa.large_string()))


def text_findings(values: pa.Array, kind: Kind) -> list[tuple[str, np.ndarray]]:
    """Apply every rule of ``kind`` to distinct values; return (reason, mask) for rules that refuse.

    Values of :data:`FREE_TEXT_CHARS` or more characters are refused as free text at once (in
    ``"text"`` kind: over :data:`MAX_TEXT_CHARS`) and the other rules run only on the rest, so
    no rule ever sees a long value.
    """
    n = len(values)
    if n == 0:
        return []
    lengths = pc.utf8_length(values).to_numpy(zero_copy_only=False)
    found: list[tuple[str, np.ndarray]] = []
    limit = MAX_TEXT_CHARS if kind == "text" else FREE_TEXT_CHARS
    long_ = lengths >= limit
    if kind != "text":
        free = _free_text(values, lengths) if not long_.all() else long_
        free |= long_
        if free.any():
            found.append(("values look like free-text notes (6 or more words, or 60 or more characters)", free))
    elif long_.any():
        found.append((f"text is longer than {MAX_TEXT_CHARS} characters", long_))
    short = np.flatnonzero(~long_)
    if short.size == 0:
        return found
    sub = values.take(pa.array(short)) if short.size < n else values
    institution: np.ndarray | None = None
    masks: dict[str, np.ndarray] = {}
    shares: dict[str, np.ndarray] = {}
    plain = _match(sub, P.PLAIN)
    plain_rows, other_rows = np.flatnonzero(plain), np.flatnonzero(~plain)
    for rule in RULES:
        if kind not in rule.kinds:
            continue
        hit = _match_any(sub, rule.patterns, other_rows) | _match_any(sub, rule.plain, plain_rows)
        if rule.name_rule and hit.any():
            if institution is None:
                institution = _match(sub, P.INSTITUTION)
            hit &= ~institution
        if rule.share:  # decided below, on all share rules of the reason together
            shares[rule.reason] = shares.get(rule.reason, np.zeros(len(sub), bool)) | hit
        elif hit.any():
            masks[rule.reason] = masks.get(rule.reason, np.zeros(len(sub), bool)) | hit
    for reason, hit in shares.items():
        if hit.sum() * 2 >= len(sub):
            masks[reason] = masks.get(reason, np.zeros(len(sub), bool)) | hit
    phone = _phone(sub) & ~plain if plain.any() else _phone(sub)
    if phone.any():
        masks["values look like phone numbers"] = masks.get("values look like phone numbers", np.zeros(len(sub), bool)) | phone
    grouped = grouped_digits(sub) & ~plain if plain.any() else grouped_digits(sub)
    if grouped.any():
        masks[GROUPED_REASON] = grouped
    if kind == "code":  # SNOMED CT concept ids in a site's code column are codes, not identifiers
        concept = snomed_ids(sub.to_pylist())
        if concept.any():
            masks = {r: m & ~concept for r, m in masks.items() if (m & ~concept).any()}
    for reason, mask in masks.items():
        full = np.zeros(n, bool)
        full[short] = mask
        found.append((reason, full))
    return found


def key_numbers(values: pa.Array) -> np.ndarray:
    """The largest number written in each key, 0 when it has none.

    A key's numbers are its runs of digits; a four-digit year (1900 to 2099) next to another
    number is a study year, not a count (``FD2024-001`` holds the number 1).
    """
    n = len(values)
    out = np.zeros(n, dtype="float64")
    if n == 0:
        return out
    runs = pc.split_pattern_regex(values, r"[^0-9]+")
    flat = pc.list_flatten(runs)
    parent = pc.list_parent_indices(runs).to_numpy(zero_copy_only=False)
    lengths = pc.utf8_length(flat).to_numpy(zero_copy_only=False)
    keep = lengths > 0
    if keep.any():
        nums = pc.cast(pc.filter(flat, pa.array(keep)), pa.float64()).to_numpy(zero_copy_only=False)
        owner = parent[keep]
        runs = np.bincount(owner, minlength=n)
        year = (lengths[keep] == 4) & (nums >= 1900) & (nums <= 2099) & (runs[owner] > 1)
        np.maximum.at(out, owner[~year], nums[~year])
    # digits of other scripts (Arabic-Indic, Devanagari, ...): Python reads them
    other = np.flatnonzero(_match(values, r"[^0-9\P{Nd}]"))
    for i in other:
        text = str(values[int(i)].as_py())
        digits = "".join(ch if ch.isdecimal() else " " for ch in text).split()
        if digits:
            out[i] = max(out[i], max(float(int(d)) for d in digits))
    return out



def key_words(values: pa.Array) -> dict[int, list[str]]:
    """The words (``_patterns.KEY_WORD``: runs of letters read as a name) in each key, lower-cased, by position.

    Runs made only of the letters ``a`` to ``f`` are left out (hexadecimal pseudonyms). The
    scanner refuses a word that no other key holds: a study prefix is shared by every key of a
    study or site (``LEEDS-001``, ``SUBJECT_0042``), a name belongs to one patient (``Jones01``).
    """
    n = len(values)
    has = np.flatnonzero(_match(values, P.KEY_WORD)) if n else np.zeros(0, np.int64)
    out: dict[int, list[str]] = {}
    if has.size == 0:
        return out
    runs = pc.split_pattern_regex(values.take(pa.array(has)), r"[^\p{L}\p{M}]+")
    word = _compiled(rf"^(?:{P.KEY_WORD})$")
    hexadecimal = _compiled(r"^[a-fA-F]+$")
    for i, parts in zip(has.tolist(), runs.to_pylist()):
        words = sorted({w.lower() for w in parts if w and word.search(w) and not hexadecimal.search(w)})
        if words:
            out[i] = words
    return out
