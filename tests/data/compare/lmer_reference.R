# Reference fits for tests/test_compare_lme4.py, made with Debian bookworm's R 4.2,
# r-cran-lme4 1.1-31 and r-cran-lmertest 3.1-3 (installed only to make this file):
#   Rscript tests/data/compare/lmer_reference.R
# Inputs: unbalanced_cells_a.csv (its donor variance is estimated at 0: a singular fit) and
# unbalanced_cells_b.csv (all variances positive); seeded synthetic data, 11 donors, unbalanced
# numbers of mice per donor and cells per mouse.
suppressMessages(library(lmerTest))
here <- "tests/data/compare"
rows <- list()
for (name in c("a", "b")) {
  d <- read.csv(file.path(here, sprintf("unbalanced_cells_%s.csv", name)))
  d$group <- relevel(factor(d$group), ref = "HC")
  fit <- lmer(rheobase_pA ~ group + (1 | donor_id) + (1 | donor_id:mouse_id), data = d, REML = TRUE)
  co <- summary(fit)$coefficients  # Satterthwaite df and p from lmerTest
  vc <- as.data.frame(VarCorr(fit))
  rows[[name]] <- data.frame(
    dataset = name,
    quantity = c("intercept", "estimate", "se", "t", "df_satterthwaite", "p_satterthwaite",
                 "var_donor", "var_mouse", "var_residual", "reml_loglik", "singular"),
    value = c(co[1, 1], co[2, 1], co[2, 2], co[2, 4], co[2, 3], co[2, 5],
              vc$vcov[vc$grp == "donor_id"], vc$vcov[vc$grp == "donor_id:mouse_id"],
              vc$vcov[vc$grp == "Residual"], as.numeric(logLik(fit)), as.numeric(isSingular(fit)))
  )
}
out <- do.call(rbind, rows)
write.csv(out, file.path(here, "lmer_reference.csv"), row.names = FALSE)
print(out, digits = 10)
