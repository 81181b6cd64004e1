"""Missing data: multiple imputation by chained equations and Rubin's rules.

An analysis layer: imports the cohort and survival layers, never the report layer.

>>> from footdrop_outcomes.imputation import impute, pool, fit_imputed
"""

from footdrop_outcomes.imputation.mice import (
    ImputationResult,
    fit_imputed,
    impute,
    nelson_aalen_at,
)
from footdrop_outcomes.imputation.pooling import PooledResult, barnard_rubin_df, pool
from footdrop_outcomes.imputation.summaries import (
    PooledComparison,
    PooledTableOne,
    pool_estimates,
    pooled_comparison,
    pooled_table_one,
)

__all__ = ["ImputationResult", "PooledComparison", "PooledResult", "PooledTableOne", "barnard_rubin_df", "fit_imputed", "impute",
           "nelson_aalen_at", "pool", "pool_estimates", "pooled_comparison", "pooled_table_one"]
