"""Every shipped notebook on every cohort of the real-cohort matrix: prints one line per run.

    python benchmarks/report_matrix.py [--out DIR] [--notebooks outcome_report,...] [--only NAME,...]

The matrix (``tests/report/matrix_cohorts.py``): the README's worked example, each cause alone,
each severity alone, cohorts of 30 and 60 patients, a cohort where one cause all recover and one
never. For each run: whether a PDF was written, seconds, page count, the page problems found
(raw exception text, "nan"/"inf", a model that could not be fitted without a reason, a range over
one group) and which models the report had to leave out. The test run renders a representative
part of it (``tests/report/test_real_cohorts.py``); this script is the whole of it.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "report"))

from matrix_cohorts import MATRIX, page_problems, pdf_text  # noqa: E402

from footdrop_outcomes.report import SCHEMAS, render_report  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None, help="keep the cohorts and PDFs here (default: a temporary folder)")
    ap.add_argument("--notebooks", default=",".join(sorted(SCHEMAS)))
    ap.add_argument("--only", default="", help="comma-separated cohort names (default: all)")
    args = ap.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="report-matrix-"))
    root.mkdir(parents=True, exist_ok=True)
    only = {x for x in args.only.split(",") if x}
    failures = 0
    print(f"{'cohort':28s} {'notebook':24s} {'pdf':>4s} {'s':>6s} {'pages':>5s}  problems / models left out")
    for build in MATRIX:
        if only and build.__name__ not in only:
            continue
        cohort, params = build(root)
        for nb in args.notebooks.split(","):
            out = root / f"{nb}-{build.__name__}.pdf"
            t0 = time.perf_counter()
            try:
                res = render_report(nb, out, cohort=cohort, parameters={**params, "title": f"Matrix {build.__name__}"})
            except Exception as exc:  # noqa: BLE001 - a matrix run reports every failure and goes on
                failures += 1
                print(f"{build.__name__:28s} {nb:24s} {'no':>4s} {time.perf_counter() - t0:6.1f} {'-':>5s}  FAILED: {type(exc).__name__}")
                continue
            text = pdf_text(Path(res.pdf))
            problems = page_problems(text)
            failures += bool(problems)
            left = sorted(set(re.findall(r"(\w[\w -]*?) \([^)]*\) could not be fitted", " ".join(text.split()))))
            pages = len(re.findall(r"Page \d+ of \d+", text))
            print(f"{build.__name__:28s} {nb:24s} {'yes':>4s} {sum(res.seconds.values()):6.1f} {pages:5d}  "
                  f"{'; '.join(problems) or 'ok'}{' | left out: ' + ', '.join(left) if left else ''}")
    print(f"\n{failures} run(s) with a failure or a page problem")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
