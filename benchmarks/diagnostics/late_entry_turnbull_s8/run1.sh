#!/bin/bash
cd "$(dirname "$0")/../../.."
B=benchmarks/study_turnbull_late_entry.py
W="1 2 3 4 5 6 8 12 26"
for cfg in "600 400 8" "600 400 0" "2000 150 8" "2000 150 0"; do
  set -- $cfg
  nice -n 10 .venv/bin/python $B --n $1 --reps $2 --max-entry $3 --seed 9000 --per-rep --weeks $W \
    --log benchmarks/diagnostics/late_entry_turnbull_s8/progress.log --out benchmarks/diagnostics/late_entry_turnbull_s8/choice_n$1_e$3.csv > benchmarks/diagnostics/late_entry_turnbull_s8/choice_n$1_e$3.txt 2>&1
done
echo done >> benchmarks/diagnostics/late_entry_turnbull_s8/progress.log
