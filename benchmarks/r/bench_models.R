#!/usr/bin/env Rscript
# R side of benchmarks/bench_vs_r.py: times the R reference fits (tests/data/r_reference/fit_r.R) on
# one resampled data folder, one model at a time on request, in this one R process (start-up and
# reading the CSVs are not timed).
#
# Usage:  Rscript bench_models.R DATA_DIR
#   DATA_DIR holds surv.csv, tv.csv, interval.csv, long.csv (written by bench_vs_r.py).
# Protocol (stdin / stdout, one line each; model: km logrank cox cox_zph cox_plus_zph cox_tv weibull_ic
# lognormal_ic lmer_reml lmer_ml):
#   "warm <model>"     -> "WARM <k> <number of warnings> <first warning>": one untimed call; k = calls per
#                         timed block, ceiling(0.1 s / its time) if under 0.1 s (at most 100), else 1
#   "block <model> <k>" -> "BLOCK <wall s> <cpu s>": k calls timed together, per call
#   "values <model>"   -> "VALUES key=value ...": the model's estimates (untimed), toolkit names
#   "versions" -> "VERSIONS <text>";  "quit" (or end of input) ends.
# The caller alternates these blocks with the toolkit's and takes the medians.
# Wall = proc.time() "elapsed", CPU = user.self + sys.self of this process.

suppressPackageStartupMessages({
  library(survival)
  library(lme4)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 1) stop("usage: Rscript bench_models.R DATA_DIR")
dir <- args[1]

CAUSE_LEVELS <- c("compression", "neuropathy", "post_surgical", "radiculopathy", "stroke")
SEV_LEVELS <- c("mild", "moderate", "severe")
KM_TIMES <- c(6, 12, 26, 52, 78)
read_data <- function(name) {
  d <- read.csv(file.path(dir, name), stringsAsFactors = FALSE)
  if ("cause" %in% names(d)) d$cause <- factor(d$cause, levels = CAUSE_LEVELS)
  if ("severity" %in% names(d)) d$severity <- factor(d$severity, levels = SEV_LEVELS)
  d
}
surv <- read_data("surv.csv")
tv <- read_data("tv.csv")
ic <- read_data("interval.csv")
ic$lower2 <- ifelse(ic$lower <= 0, NA, ic$lower)  # lower = 0: left-censored (as fit_r.R)
long <- read_data("long.csv")
long$lw <- log1p(long$week)

cox_formula <- Surv(time_weeks, event) ~ cause + severity + age + diabetes + smoker + adherence
tv_formula <- Surv(start, stop, event) ~ cause + severity + age + diabetes + smoker + adherence_in_interval
ic_formula <- Surv(lower2, upper, type = "interval2") ~ cause + severity + age + diabetes + smoker + adherence
lmer_formula <- strength ~ lw * cause + severity + (1 + lw | id)
cox_fit <- NULL  # fitted once, untimed, for cox_zph alone

# Each call computes what the toolkit's call reports (see bench_vs_r.py's module docstring).
models <- list(
  km = function() {
    fit <- survfit(Surv(time_weeks, event) ~ cause, data = surv, conf.type = "log-log")
    list(summary(fit, rmean = max(KM_TIMES))$table, summary(fit, times = KM_TIMES, extend = TRUE))
  },
  logrank = function() {
    sd <- survdiff(Surv(time_weeks, event) ~ cause, data = surv)
    pchisq(sd$chisq, sum(sd$exp > 0) - 1, lower.tail = FALSE)
  },
  cox = function() coxph(cox_formula, data = surv, ties = "efron"),
  cox_zph = function() cox.zph(cox_fit, transform = "km", terms = FALSE),
  cox_plus_zph = function() {
    fit <- coxph(cox_formula, data = surv, ties = "efron")
    cox.zph(fit, transform = "km", terms = FALSE)
  },
  cox_tv = function() coxph(tv_formula, data = tv, ties = "efron"),
  weibull_ic = function() survreg(ic_formula, data = ic, dist = "weibull"),
  lognormal_ic = function() survreg(ic_formula, data = ic, dist = "lognormal"),
  lmer_reml = function() {
    m <- lmer(lmer_formula, data = long, REML = TRUE)
    list(vcov(m), VarCorr(m), logLik(m))
  },
  lmer_ml = function() {
    m <- lmer(lmer_formula, data = long, REML = FALSE)
    list(vcov(m), VarCorr(m), logLik(m))
  }
)

cpu_wall <- function(p) c(p[["user.self"]] + p[["sys.self"]], p[["elapsed"]])
warned <- character(0)

warm <- function(name) {
  # one untimed call (warnings kept, not printed); calls per timed block k = ceiling(0.1 s / its time), 1..100
  if (name == "cox_zph" && is.null(cox_fit)) cox_fit <<- coxph(cox_formula, data = surv, ties = "efron")
  warned <<- character(0)
  p0 <- proc.time()
  withCallingHandlers(invisible(models[[name]]()), warning = function(w) {
    warned <<- c(warned, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  t <- cpu_wall(proc.time() - p0)[2]
  k <- if (t < 0.1) as.integer(min(100, ceiling(0.1 / max(t, 1e-4)))) else 1L
  msg <- if (length(warned)) gsub("[[:space:]]+", " ", warned[1]) else ""
  sprintf("WARM %d %d %s", k, length(warned), msg)
}

block <- function(name, k) {
  f <- models[[name]]
  p0 <- proc.time()
  suppressWarnings(for (i in seq_len(k)) invisible(f()))
  d <- cpu_wall(proc.time() - p0) / k
  sprintf("BLOCK %.6f %.6f", d[2], d[1])
}

# ---- the estimates of one model, for the check that both sides compute the same thing (untimed)
canon <- function(x) {
  x <- sub("^\\(Intercept\\)$", "Intercept", x)
  x <- gsub("cause([a-z_]+)", "cause[\\1]", x)
  gsub("severity([a-z]+)", "severity[\\1]", x)
}
named <- function(prefix, v) setNames(as.numeric(v), paste0(prefix, "[", canon(names(v)), "]"))
zph_values <- function(z) setNames(z$table[, "chisq"], paste0("chisq[", canon(rownames(z$table)), "]"))
values <- function(name) {
  res <- models[[name]]()
  v <- switch(name,
    km = {
      fit <- survfit(Surv(time_weeks, event) ~ cause, data = surv, conf.type = "log-log")
      tab <- summary(fit, rmean = max(KM_TIMES))$table
      g <- sub("^cause=", "", rownames(tab))
      s <- summary(fit, times = KM_TIMES, extend = TRUE)
      c(setNames(tab[, "median"], paste0("median[", g, "]")), setNames(tab[, "rmean"], paste0("rmst[", g, "]")),
        setNames(1 - s$surv, sprintf("recovered_by[%s,%g]", sub("^cause=", "", as.character(s$strata)), s$time)))
    },
    logrank = {
      sd <- survdiff(Surv(time_weeks, event) ~ cause, data = surv)
      c(chisq = sd$chisq)
    },
    cox = c(named("coef", coef(res)), loglik = res$loglik[2], concordance = res$concordance[["concordance"]]),
    cox_tv = c(named("coef", coef(res)), loglik = res$loglik[2]),
    cox_zph = zph_values(res),
    cox_plus_zph = zph_values(res),
    weibull_ic = , lognormal_ic = c(named("coef", coef(res)), log_scale = log(res$scale), loglik = res$loglik[2]),
    lmer_reml = , lmer_ml = {
      m <- lmer(lmer_formula, data = long, REML = name == "lmer_reml", control = lmerControl(calc.derivs = TRUE))
      c(named("coef", fixef(m)), loglik = as.numeric(logLik(m)))
    })
  paste("VALUES", paste(sprintf("%s=%.17g", names(v), v), collapse = " "))
}

con <- file("stdin")
open(con)
cat("READY\n")
flush(stdout())
repeat {
  line <- readLines(con, n = 1)
  if (length(line) == 0 || line == "quit") break
  parts <- strsplit(trimws(line), " +")[[1]]
  out <- if (parts[1] == "versions") {
    sprintf("VERSIONS %s; survival %s; lme4 %s; Matrix %s; BLAS %s", R.version.string,
            packageVersion("survival"), packageVersion("lme4"), packageVersion("Matrix"),
            basename(sessionInfo()$BLAS))
  } else if (parts[1] == "warm" && parts[2] %in% names(models)) {
    warm(parts[2])
  } else if (parts[1] == "values" && parts[2] %in% names(models)) {
    suppressWarnings(values(parts[2]))
  } else if (parts[1] == "block" && parts[2] %in% names(models)) {
    block(parts[2], as.integer(parts[3]))
  } else {
    sprintf("ERROR unknown model %s", parts[1])
  }
  cat(out, "\n", sep = "")
  flush(stdout())
}
close(con)
