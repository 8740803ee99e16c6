# Reference for tests/test_donors_covariate.py: a clinical score as a donor-level covariate,
# fitted by lme4 + lmerTest (Satterthwaite df).
#
#   cd tests/data/donors && Rscript lmertest_covariate.R
#
# Simulates patient donors (FMS and RA groups; 12 donors, 2-4 mice each, 2-6 cells per mouse)
# whose effect depends on a donor-level score FIQR, plus 4 control donors (HC; the Python side
# must leave them out). Writes the cells to covariate_input.csv, one row per mouse to
# covariate_input_mice.csv, the donors' scores to covariate_donors.csv, and the lmerTest
# coefficient of FIQR for
#   y       ~ group + FIQR + (1 | donor_id) + (1 | donor_id:mouse_id)   (patients, cells)
#   y_mouse ~ group + FIQR + (1 | donor_id)                              (patients, mice)
#   y_fms   ~ FIQR + (1 | donor_id) + (1 | donor_id:mouse_id)           (FMS donors only)
# to covariate_lmertest.csv.
suppressPackageStartupMessages({library(lme4); library(lmerTest)})
set.seed(20261202)
groups <- c(rep("HC", 4), rep("FMS", 7), rep("RA", 5))
shift <- c(HC = 0, FMS = -10, RA = -4)
fiqr <- ifelse(groups == "HC", round(runif(length(groups), 0, 10), 1),
               round(runif(length(groups), 30, 90), 1))
rows <- list(); mrows <- list()
for (i in seq_along(groups)) {
  d <- sprintf("D%02d", i)
  u <- rnorm(1, 0, 4)
  slope <- if (groups[i] == "HC") 0 else -0.25
  for (m in seq_len(sample(2:4, 1))) {
    v <- rnorm(1, 0, 3)
    n <- sample(2:6, 1)
    y <- 100 + shift[[groups[i]]] + slope * (fiqr[i] - 60) + u + v + rnorm(n, 0, 8)
    rows[[length(rows) + 1]] <- data.frame(donor_id = d, mouse_id = sprintf("M%d", m),
                                           group = groups[i], y = round(y, 4))
    mrows[[length(mrows) + 1]] <- data.frame(
      donor_id = d, mouse_id = sprintf("M%d", m), group = groups[i],
      y_mouse = round(50 + shift[[groups[i]]] / 2 + slope / 2 * (fiqr[i] - 60) + u / 2 +
                      rnorm(1, 0, 3), 4))
  }
}
cells <- do.call(rbind, rows)
mice <- do.call(rbind, mrows)
donors <- data.frame(donor_id = sprintf("D%02d", seq_along(groups)), FIQR = fiqr)
write.csv(cells, "covariate_input.csv", row.names = FALSE)
write.csv(mice, "covariate_input_mice.csv", row.names = FALSE)
write.csv(donors, "covariate_donors.csv", row.names = FALSE)

coef_row <- function(fit, outcome, subset) {
  s <- summary(fit)$coefficients
  vc <- as.data.frame(VarCorr(fit))
  ci <- s["FIQR", "Estimate"] + c(-1, 1) * qt(0.975, s["FIQR", "df"]) * s["FIQR", "Std. Error"]
  data.frame(
    outcome = outcome, subset = subset, slope = s["FIQR", "Estimate"],
    slope_se = s["FIQR", "Std. Error"], slope_df = s["FIQR", "df"], t = s["FIQR", "t value"],
    p = s["FIQR", "Pr(>|t|)"], slope_low = ci[1], slope_high = ci[2],
    var_donor = vc$vcov[vc$grp == "donor_id"],
    var_mouse = if (any(vc$grp == "donor_id:mouse_id")) vc$vcov[vc$grp == "donor_id:mouse_id"] else NA,
    var_residual = vc$vcov[vc$grp == "Residual"]
  )
}
pc <- merge(cells[cells$group != "HC", ], donors, by = "donor_id")
pm <- merge(mice[mice$group != "HC", ], donors, by = "donor_id")
fc <- merge(cells[cells$group == "FMS", ], donors, by = "donor_id")
f1 <- lmer(y ~ group + FIQR + (1 | donor_id) + (1 | donor_id:mouse_id), data = pc, REML = TRUE)
f2 <- lmer(y_mouse ~ group + FIQR + (1 | donor_id), data = pm, REML = TRUE)
f3 <- lmer(y ~ FIQR + (1 | donor_id) + (1 | donor_id:mouse_id), data = fc, REML = TRUE)
out <- rbind(coef_row(f1, "y", "patients"), coef_row(f2, "y_mouse", "patients"),
             coef_row(f3, "y", "FMS"))
write.csv(out, "covariate_lmertest.csv", row.names = FALSE)
cat(sprintf("lme4 %s, lmerTest %s, %s\n", packageVersion("lme4"), packageVersion("lmerTest"),
            R.version.string), file = "covariate_lmertest_version.txt")
