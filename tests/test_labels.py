"""Every LaTeX label that the code, the tests, the scripts or the documentation cite exists in the PDF's source.

A citation is a word such as ``prop:mincut-oe``: one of the prefixes below, a colon, and a label
name. The PDF's statements are renumbered when the note changes, so the repository refers to them
by label; a label that the source no longer defines is a dangling reference.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEX = ROOT / "paper" / "tensors_strong_hyp_sketch.tex"
PREFIXES = ("thm", "lem", "prop", "cor", "def", "conj", "rem", "ex", "eq", "sec", "tab")
CITATION = re.compile(r"(?<![A-Za-z0-9_\\-])(" + "|".join(PREFIXES) + r"):([A-Za-z][A-Za-z0-9-]*)")
SCANNED = [ROOT / "tt_rnn", ROOT / "tests", ROOT / "scripts", ROOT / "docs", ROOT / "README.md"]
SUFFIXES = {".py", ".md", ".sh", ".txt"}
# matplotlib's Tableau colours ("tab:blue", ...) look like table labels and are not citations
MATPLOTLIB_COLOURS = {f"tab:{c}" for c in ("blue", "orange", "green", "red", "purple", "brown", "pink", "gray",
                                           "grey", "olive", "cyan")}


def defined_labels(text: str) -> set[str]:
    return set(re.findall(r"\\label\{([^}]*)\}", text))


def cited_labels(paths) -> dict[str, list[str]]:
    cited: dict[str, list[str]] = {}
    for base in paths:
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.suffix in SUFFIXES)
        for path in files:
            for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                for prefix, name in CITATION.findall(line):
                    if f"{prefix}:{name}" in MATPLOTLIB_COLOURS:
                        continue
                    cited.setdefault(f"{prefix}:{name}", []).append(
                        f"{path.relative_to(ROOT)}:{lineno}")
    return cited


def test_citation_pattern():
    """The pattern finds citations in prose and code, and ignores LaTeX commands and other words."""
    line = "see ``prop:mincut-oe``, \\ref{thm:strong}, lem:border; not \\ref{x} nor index:3 or def f():"
    assert sorted(f"{p}:{n}" for p, n in CITATION.findall(line)) == ["lem:border", "prop:mincut-oe",
                                                                     "thm:strong"]


def test_every_cited_label_exists_in_the_tex_source():
    labels = defined_labels(TEX.read_text(encoding="utf-8"))
    cited = cited_labels([p for p in SCANNED if p.exists()])
    assert len(cited) >= 20, sorted(cited)  # the tests alone cite more than 20 statements
    missing = {label: where for label, where in cited.items() if label not in labels}
    assert not missing, "labels cited but not defined in the .tex source: " + "; ".join(
        f"{label} ({', '.join(where[:3])})" for label, where in sorted(missing.items()))


def test_a_dangling_label_is_reported(tmp_path):
    """The check can fail: a file citing an undefined label is found."""
    dangling = "lem" + ":no-such-label"  # spelled in two pieces so that this file cites nothing undefined
    (tmp_path / "bad.py").write_text(f'"""See {dangling} of the PDF."""\n')
    labels = defined_labels(TEX.read_text(encoding="utf-8"))
    cited = {label for label in CITATION.findall((tmp_path / "bad.py").read_text())}
    assert ("lem", "no-such-label") in cited and dangling not in labels
