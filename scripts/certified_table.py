#!/usr/bin/env python3
"""Write docs/certified_cases.md: the certified odd/even unfolding ranks of random integer TT tensors.

Source (default): results/rank/generic_unfolding_ranks.json, written by the notebook
estimate_cp_rank_for_random_tensor.ipynb; its records are ``UnfoldingCertificate.to_dict()``
dictionaries of :mod:`tt_rnn.rank` (keys ``n, r, d, shared, seed, row_modes, prime,
certified_rank, max_possible_rank, alkin_bound, proven_bound, ...``; records written before
the rename carry the same numbers as ``theorem_bound`` and ``khrulkov_bound``).

Fallback: ``--compute`` draws the certificates here with ``tt_rnn.rank.certified_unfolding_rank``
on a small grid (when the notebook's JSON is not available).

``--extend`` adds to the JSON the certificates of ``EXTENSION_GRID`` that it lacks (cases with
``n > r^2``, where the min-cut bound ``r^(d-1)`` is the smallest of the three cuts; single thread,
a few seconds in all) and writes into every record the two bounds the PDF compares it with:
``min_cut_bound`` (proved upper bound, ``tt_rnn.tt.odd_even_min_cut_bound``) and
``proven_bound`` (``min(n, r)^(d/2)``, the proved generic lower bound for equal inner cores).

Only odd/even unfoldings of even order d enter the table. For each (n, r, d) and each kind of
draw (equal inner cores / independent cores) the largest certified rank over the draws is shown;
each one is a proof-grade lower bound on the generic rank of the odd/even unfolding for that
family. Every number and every claim in the generated page is computed here from the records,
and the output is deterministic (no dates, no timings), so tests can compare it with the
committed file.

Usage:
    python scripts/certified_table.py                       # JSON -> docs/certified_cases.md
    python scripts/certified_table.py --output -            # print instead of writing
    python scripts/certified_table.py --compute             # fallback: compute the certificates
    python scripts/certified_table.py --extend              # add EXTENSION_GRID to the JSON, then write
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from tt_rnn.tt import odd_even_min_cut_bound, odd_even_row_modes

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "results" / "rank" / "generic_unfolding_ranks.json"
DEFAULT_OUTPUT = ROOT / "docs" / "certified_cases.md"
# prop:certified of the PDF covers r <= 8 (tests/test_generic_rank.py recomputes its certificates).
CERTIFIED_MAX_R = 8
# Fallback grid for --compute: n < r-1, n = r-1, n = r, n > r, d = 4, 6.
COMPUTE_GRID = [(n, r, d) for d in (4, 6) for (n, r) in [(2, 4), (2, 3), (2, 2), (3, 3), (3, 2), (4, 3)]]
# Cases with n > r^2 (there the min-cut bound r^(d-1) is below r n^(d/2-1) as soon as d >= 4), up to
# the size limit of the GF(p) certificates: r = 2 with n = 5..9, r = 3 with n = 10..12, r = 4 with n = 17;
# then the regime r < n < r^2, the only one where the PDF leaves the generic rank open:
# r = 3 with n = 5..8, r = 4 with n = 5..15, r = 5 with n = 6, 12, 24.
EXTENSION_GRID = ([(n, 2, d) for n in range(5, 10) for d in (2, 4, 6, 8) if n ** d <= 6_000_000]
                  + [(n, 3, d) for n in (10, 11, 12) for d in (2, 4, 6)]
                  + [(17, 4, d) for d in (2, 4)]
                  + [(n, 3, d) for n in range(5, 9) for d in (2, 4, 6)]
                  + [(n, 4, d) for n in range(5, 16) for d in (2, 4, 6) if n ** d <= 3_000_000]
                  + [(n, 5, d) for n in (6, 12, 24) for d in (2, 4)])
EXTENSION_SEEDS = (0, 1, 2)


def load_records(path: Path) -> tuple[list[dict], str]:
    data = json.loads(path.read_text())
    records = data["records"] if isinstance(data, dict) else data
    if isinstance(data, dict) and "extension" in data:  # provenance of the --extend certificates
        for rec in records:
            rec.setdefault("_extension", data["extension"])
    try:
        source = str(path.resolve().relative_to(ROOT))
    except ValueError:
        source = str(path)
    return records, source


def proven_bound(n: int, r: int, d: int) -> int:
    """``min(n, r)^(d // 2)``: the generic CP-rank (and unfolding-rank) lower bound proved for equal cores."""
    return min(n, r) ** (d // 2)


def annotate(record: dict) -> dict:
    """Add ``min_cut_bound`` and ``proven_bound`` to an odd/even record (other fields untouched)."""
    n, r, d = int(record["n"]), int(record["r"]), int(record["d"])
    if list(record["row_modes"]) == odd_even_row_modes(d):
        record["min_cut_bound"] = odd_even_min_cut_bound(n, r, d)
        record["proven_bound"] = proven_bound(n, r, d)
    return record


def compute_records() -> tuple[list[dict], str]:
    from tt_rnn.rank import certified_unfolding_rank

    records = []
    for n, r, d in COMPUTE_GRID:
        for shared in (True, False):
            cert = certified_unfolding_rank(n, r, d, shared=shared, seed=0, numerical=False)
            records.append(annotate(cert.to_dict()))
    return records, "scripts/certified_table.py --compute"


def extend_records(records: list[dict], grid=EXTENSION_GRID, seeds=EXTENSION_SEEDS) -> tuple[list[dict], float]:
    """Append the certificates of ``grid`` x ``seeds`` x (equal, independent cores) not yet present.

    Returns the extended list and the wall time in seconds spent on the new certificates.
    Integer range and primes are the defaults of ``certified_unfolding_rank`` (as in the notebook).
    """
    from tt_rnn.rank import certified_unfolding_rank

    have = {(int(x["n"]), int(x["r"]), int(x["d"]), bool(x["shared"]), int(x["seed"])) for x in records}
    start = time.perf_counter()
    out = list(records)
    for n, r, d in grid:
        for shared in ((True, False) if d > 2 else (False,)):
            for seed in seeds:
                if (n, r, d, shared, seed) in have:
                    continue
                out.append(certified_unfolding_rank(n, r, d, shared=shared, seed=seed).to_dict())
    return [annotate(x) for x in out], time.perf_counter() - start


def summarize(records: list[dict]) -> list[dict]:
    """One row per (n, r, even d): best certified odd/even rank for shared and distinct cores.

    For d = 2 there is no inner core, so the two families coincide (M^eq = M); records of either
    kind then count for both ("equal" is filled from "independent" and vice versa), but such a
    case is not counted as a comparison of the two kinds.
    """
    groups: dict[tuple, dict] = defaultdict(lambda: {True: [], False: []})
    for rec in records:
        n, r, d = int(rec["n"]), int(rec["r"]), int(rec["d"])
        if d % 2 or list(rec["row_modes"]) != odd_even_row_modes(d):
            continue
        groups[(n, r, d)][bool(rec["shared"])].append(rec)
    rows = []
    for (n, r, d), kinds in sorted(groups.items(), key=lambda item: (item[0][2], item[0][0], item[0][1])):
        k = d // 2
        row = {"n": n, "r": r, "d": d,
               "thm1": min(n, r - 1) ** k if r >= 2 else None,
               "thm2": min(n, r) ** k,
               "size": n ** k,
               "upper": odd_even_min_cut_bound(n, r, d)}  # prop:mincut-oe of the PDF
        for shared, key in ((True, "shared"), (False, "distinct")):
            recs = kinds[shared]
            row[key] = max(int(x["certified_rank"]) for x in recs) if recs else None
            row[key + "_draws"] = len(recs)
            for x in recs:  # the record's own bookkeeping must agree with ours
                old = x.get("khrulkov_bound")   # records written before the rename to proven_bound
                if old is not None and int(old) != row["thm2"]:
                    raise ValueError(f"khrulkov_bound mismatch in record {x}")
                if x.get("max_possible_rank") is not None and int(x["max_possible_rank"]) != row["size"]:
                    raise ValueError(f"max_possible_rank mismatch in record {x}")
                if int(x["certified_rank"]) > row["upper"]:
                    raise ValueError(f"certified rank above the min-cut bound of prop:mincut-oe: {x}")
                for key_, value in (("min_cut_bound", row["upper"]), ("proven_bound", row["thm2"])):
                    if x.get(key_) is not None and int(x[key_]) != value:
                        raise ValueError(f"{key_} mismatch in record {x}")
        row["compared"] = row["shared"] is not None and row["distinct"] is not None and d > 2
        if d == 2:  # one family: M^eq = M_{n,r}
            best = max(v for v in (row["shared"], row["distinct"]) if v is not None)
            row["shared"] = row["distinct"] = best
        rows.append(row)
    return rows


def _count_phrase(count: int, total: int) -> str:
    return f"all {total}" if count == total else f"{count} of {total}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def render(rows: list[dict], records: list[dict], source: str) -> str:
    """The Markdown page docs/certified_cases.md: summary sentences and one table, all computed here."""
    if not rows:
        raise ValueError("no odd/even certificates with even d in the records")
    primes = sorted({int(x["prime"]) for x in records})
    ranges = sorted({int(x["integer_range"]) for x in records if x.get("integer_range") is not None})
    draws = sorted({row[k] for row in rows for k in ("shared_draws", "distinct_draws") if row[k]})
    compared = [row for row in rows if row["compared"]]
    equal = [row for row in compared if row["shared"] == row["distinct"]]
    shared_rows = [row for row in rows if row["shared"] is not None]
    above_thm2 = [row for row in shared_rows if row["shared"] >= row["thm2"]]
    strict = [row for row in shared_rows if row["shared"] > row["thm2"]]
    exact = [row for row in shared_rows if row["shared"] == row["upper"]]
    d_values = sorted({row["d"] for row in rows})
    pairs = sorted({(row["n"], row["r"]) for row in rows})

    where = ("`scripts/certified_table.py --compute`" if source.endswith("--compute") else f"`{source}`")
    range_text = (f"integer entries in {{-{ranges[0]}, ..., {ranges[0]}}}" if len(ranges) == 1
                  else "small integer entries")
    draw_text = (("one draw" if draws[0] == 1 else f"{draws[0]} draws") if len(draws) == 1
                 else f"{draws[0]} to {draws[-1]} draws")
    prime_text = f"p = {primes[0]}" if len(primes) == 1 else "p in {" + ", ".join(str(p) for p in primes) + "}"
    out = ["<!-- Generated by scripts/certified_table.py -- do not edit by hand. -->",
           f"<!-- Source: {source} -->",
           "",
           "# Certified odd/even unfolding ranks of random integer TT tensors",
           "",
           "Labels such as `thm:strong` refer to the statements of `tensors_strong_hyp_sketch.pdf` "
           "(see [theory.md](theory.md)). Every rank below is the exact rank over GF(p) of the odd/even "
           "unfolding of one integer point, hence a lower bound on the generic rank over R.",
           "",
           f"The table lists the {len(rows)} cases (n, r, d) with even d certified in {where} "
           f"({range_text}, {draw_text} per case and kind, {prime_text}); each entry is the largest "
           "certified rank over the draws."]
    para = []
    if compared:
        if len(equal) == len(compared):
            para.append(f"In {_count_phrase(len(equal), len(compared))} cases with d >= 4, equal inner "
                        "cores reach the same certified rank as independent cores.")
        else:
            differ = ", ".join(f"({row['n']}, {row['r']}, {row['d']})" for row in compared if row not in equal)
            para.append(f"Equal inner cores reach the same certified rank as independent cores in "
                        f"{_count_phrase(len(equal), len(compared))} cases with d >= 4; they differ in {differ}.")
    strict_text = ""
    if strict:
        n_gt_r = all(row["n"] > row["r"] for row in strict)
        strict_text = (f", and strictly larger in {_plural(len(strict), 'case')}"
                       + (", all with n > r" if n_gt_r else ""))
    para.append(
        f"With equal cores the certified rank is at least min(n, r)^(d/2) in "
        f"{_count_phrase(len(above_thm2), len(shared_rows))} cases, consistent with `thm:strong`"
        f"{strict_text} (the theorem is about almost every core, not about a particular integer draw).")
    out += ["", " ".join(para)]
    wide = [row for row in shared_rows if row["n"] > row["r"] ** 2 and row["d"] >= 4]
    wide_exact = [row for row in wide if row["shared"] == row["upper"]]
    missed = [row for row in shared_rows if row["shared"] != row["upper"]]
    missed_distinct = [row for row in compared if row["distinct"] != row["upper"]]
    para = [f"In {_count_phrase(len(exact), len(shared_rows))} cases the certified rank with equal cores "
            "equals the min-cut bound min(n^(d/2), r n^(d/2-1), r^(d-1)) of `prop:mincut-oe`, an upper "
            "bound at every point, so it is the generic rank of the odd/even unfolding there "
            "(`def:generic`)."]
    if compared:
        para.append(f"With independent cores the certified rank equals the same bound in "
                    f"{_count_phrase(len(compared) - len(missed_distinct), len(compared))} cases with d >= 4.")
    if wide:
        para.append(f"The {_plural(len(wide), 'case')} with n > r^2 and d >= 4 (marked †) have bound "
                    f"r^(d-1); it is attained in {_count_phrase(len(wide_exact), len(wide))} of them, as "
                    "`thm:wide` proves for generic cores.")
    open_rows = [row for row in shared_rows if row["r"] < row["n"] < row["r"] ** 2 and row["d"] >= 4]
    if open_rows:
        divisible = [row for row in open_rows if row["n"] % row["r"] == 0]
        codim = [row for row in open_rows if row["n"] % row["r"]
                 and (row["n"] < 2 * row["r"] or row["n"] > row["r"] ** 2 - 2 * row["r"])]
        certified = [row for row in open_rows if row not in divisible and row not in codim
                     and row["r"] <= CERTIFIED_MAX_R]
        rest = len(open_rows) - len(divisible) - len(codim) - len(certified)
        para.append(
            f"The {_plural(len(open_rows), 'case')} with r < n < r^2 and d >= 4 (marked °) are proved "
            f"by `cor:divisible` when r divides n ({len(divisible)}), by `cor:codim` when n < 2r or n > r^2 - 2r "
            f"({len(codim)}), and by the computer-assisted `prop:certified` (r <= {CERTIFIED_MAX_R}) "
            f"otherwise ({len(certified)})" + (f"; {rest} remain conjectural (`conj:mincut`)." if rest else "."))
    if missed or missed_distinct:
        short = {(row["d"], row["n"], row["r"]) for row in missed + missed_distinct}
        para.append("The bound is not reached by any draw in the cases "
                    + ", ".join(f"({n}, {r}, {d})" for d, n, r in sorted(short)) + ".")
    out += ["", " ".join(para), ""]
    header = ["n", "r", "min(n, r-1)", "q = min(n, r)"] + [f"d = {d}" for d in d_values]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join("---:" for _ in header) + "|")
    by_key = {(row["n"], row["r"], row["d"]): row for row in rows}
    for n, r in pairs:
        cells = [str(n), str(r), str(min(n, r - 1)) if r >= 2 else "-", str(min(n, r))]
        for d in d_values:
            row = by_key.get((n, r, d))
            if row is None:
                cells.append("")
                continue
            if row["shared"] is not None and row["distinct"] is not None and row["shared"] != row["distinct"]:
                cell = f"{row['shared']}/{row['distinct']}"
            else:
                cell = str(row["shared"] if row["shared"] is not None else row["distinct"])
            marks = ("†" if n > r ** 2 and d >= 4 else "") + ("°" if r < n < r ** 2 and d >= 4 else "") + (
                "*" if any(row[k] is not None and row[k] != row["upper"] for k in ("shared", "distinct")) else "")
            cells.append(cell + marks)
        out.append("| " + " | ".join(cells) + " |")
    caption = "For d = 2 there is no inner core and the two families coincide. "
    if compared and len(equal) == len(compared):
        caption += "Independent inner cores give the same certified ranks in every case. "
    elif compared:
        caption += "An entry a/b means a with equal and b with independent inner cores. "
    caption += "†: n > r^2 and d >= 4 (`thm:wide`). °: r < n < r^2 and d >= 4 (`thm:pair`). "
    if any(row[k] is not None and row[k] != row["upper"] for row in rows for k in ("shared", "distinct")):
        caption += "*: below the min-cut bound. "
    caption += "An empty cell was not certified."
    out += ["", caption]
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON,
                        help="certificate records (default: %(default)s)")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT),
                        help="Markdown file to write, '-' for stdout (default: %(default)s)")
    parser.add_argument("--compute", action="store_true",
                        help="compute certificates with tt_rnn.rank instead of reading the JSON")
    parser.add_argument("--extend", action="store_true",
                        help="add the certificates of EXTENSION_GRID missing from the JSON, "
                             "annotate every record with its bounds, rewrite the JSON")
    args = parser.parse_args(argv)
    if args.compute and args.extend:
        parser.error("--compute and --extend exclude each other (--extend needs the JSON)")
    if args.extend:
        if not args.json.exists():
            print(f"certified_table: {args.json} not found (run the notebook first)", file=sys.stderr)
            return 1
        from tt_rnn.rank import blas_single_thread

        data = json.loads(args.json.read_text())
        with blas_single_thread():
            records, seconds = extend_records(data["records"])
        added = len(records) - len(data["records"])
        data["records"] = records
        if added:  # accumulate over runs, so that the totals describe every added certificate
            previous = data.get("extension", {})
            data["extension"] = {
                "grid": "scripts/certified_table.py EXTENSION_GRID, seeds 0, 1, 2, "
                        "equal and independent cores",
                "records_added": previous.get("records_added", 0) + added,
                "time_s": round(previous.get("time_s", 0.0) + seconds, 2), "blas_threads": 1}
        args.json.write_text(json.dumps(data, indent=1) + "\n")
        print(f"certified_table: {args.json}: {added} certificates added in {seconds:.1f} s")
    if args.compute:
        records, source = compute_records()
    else:
        if not args.json.exists():
            print(f"certified_table: {args.json} not found (run the notebook, or use --compute)",
                  file=sys.stderr)
            return 1
        records, source = load_records(args.json)
    text = render(summarize(records), records, source)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
        print(f"certified_table: wrote {args.output} ({len(summarize(records))} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
