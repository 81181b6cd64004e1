"""n=6000 replicates (choice seeds [9000, n, r]) appended to a CSV one by one until a wall deadline."""
import sys, time, warnings, datetime as dt
import numpy as np, pandas as pd
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
warnings.simplefilter("ignore")
import study_turnbull_late_entry as S
n, max_entry, deadline, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
S.MAX_ENTRY = max_entry
S.WEEKS = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 12.0, 26.0)
end = dt.datetime.strptime(deadline, "%H:%M").time()
r = 0
while dt.datetime.utcnow().time() < end:
    t0, c0 = time.perf_counter(), time.process_time()
    rows = pd.DataFrame([{**x, "rep": r} for x in S.one(np.random.default_rng([9000, n, r]), n)])
    rows["n"] = n
    rows.to_csv(out, mode="a", header=(r == 0), index=False)
    with open("./big.log", "a") as fh:
        fh.write(f"n={n} e={max_entry} rep {r} {time.perf_counter()-t0:.1f} s wall {time.process_time()-c0:.1f} s cpu {dt.datetime.utcnow():%H:%M:%S}\n")
    r += 1
