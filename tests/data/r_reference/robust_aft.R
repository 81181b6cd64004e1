# Robust (sandwich) variance of the interval-censored AFT: reference values for
# tests/survival/test_aft_robust.py. Run from the project root:
#   Rscript tests/data/r_reference/robust_aft.R > tests/data/r_reference/robust_aft.json
# R 4.2.2, survival 3.5.3. Two kinds of values per distribution:
#   survreg_*  : survreg(..., robust = TRUE) and survreg(..., cluster = grp) as R reports them.
#   written_*  : V (U'U) V with V = survreg's naive variance and U the per-row scores taken by
#                central differences of the per-row log-likelihood written out below (scores
#                summed within grp for the cluster version).
# They differ because residuals.survreg (type "dfbeta") in survival 3.5.3 gives the log(scale)
# score of interval-censored rows (status 3) with the wrong sign: its ds is
# (z2 f(z2) - z1 f(z1)) / (F(z2) - F(z1)), the derivative of log(F(z2) - F(z1)) with respect to
# log(scale) is minus that. The test checks both: the toolkit equals written_*, and with that one
# sign flipped it equals survreg_*.
suppressMessages(library(survival))
d <- read.csv("tests/data/r_reference/interval.csv")
d$cause <- relevel(factor(d$cause), "compression"); d$severity <- relevel(factor(d$severity), "mild")
d$lower2 <- ifelse(d$lower == 0, NA, d$lower)
d$grp <- d$id %% 25
f <- Surv(lower2, upper, type = "interval2") ~ cause + severity + age + diabetes + smoker + adherence
cdf <- list(weibull = function(z) -expm1(-exp(z)), lognormal = pnorm)
out <- list(note = "cluster column: grp = id %% 25; names as survreg's coefficients, then Log(scale)")
for (dist in c("weibull", "lognormal")) {
  r <- survreg(f, data = d, dist = dist)
  X <- model.matrix(r); y <- r$y; st <- y[, 3]; Fw <- cdf[[dist]]
  ll_rows <- function(th) {
    p <- ncol(X); eta <- drop(X %*% th[1:p]); s <- exp(th[p + 1])
    z1 <- (log(y[, 1]) - eta) / s; z2 <- (log(y[, 2]) - eta) / s
    suppressWarnings(ifelse(st == 0, log(1 - Fw(z1)), ifelse(st == 2, log(Fw(z1)), log(Fw(z2) - Fw(z1)))))
  }
  stopifnot(all(st %in% c(0, 2, 3)))
  th <- c(coef(r), log(r$scale))
  U <- sapply(seq_along(th), function(j) { e <- replace(0 * th, j, 1e-5); (ll_rows(th + e) - ll_rows(th - e)) / 2e-5 })
  V <- r$var
  nm <- c(names(coef(r)), "Log(scale)")
  se <- function(v) as.list(setNames(sqrt(diag(v)), nm))
  rob <- survreg(f, data = d, dist = dist, robust = TRUE)
  clu <- survreg(f, data = d, dist = dist, cluster = grp)
  Ug <- rowsum(U, d$grp)
  out[[dist]] <- list(coef = as.list(setNames(th, nm)), se_naive = se(V),
                      survreg_robust = se(rob$var), survreg_cluster = se(clu$var),
                      written_robust = se(V %*% crossprod(U) %*% V), written_cluster = se(V %*% crossprod(Ug) %*% V))
}
cat(jsonlite::toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE))
