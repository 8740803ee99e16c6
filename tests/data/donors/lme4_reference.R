# Reference for tests/test_donors_lme4.py: per-donor shrunken effects from lme4.
#
#   cd tests/data/donors && Rscript lme4_reference.R
#
# Simulates an unbalanced nested design (3 groups, donors > mice > cells), writes it to
# donors_input.csv, fits lmer(y ~ group + (1 | donor_id) + (1 | donor_id:mouse_id), REML) with the
# control group HC as reference, and writes for each donor fixef(group) + ranef(donor)
# (effect relative to HC) to donors_lme4.csv, with the fitted variance components.
# A second outcome y_mouse has one row per mouse (only the donor random intercept).
suppressPackageStartupMessages(library(lme4))
set.seed(20261201)
groups <- c(rep("HC", 5), rep("FMS", 5), rep("RA", 3))
shift <- c(HC = 0, FMS = -12, RA = -5)
rows <- list()
mrows <- list()
for (i in seq_along(groups)) {
  d <- sprintf("D%02d", i)
  u <- rnorm(1, 0, 6)
  for (m in seq_len(sample(2:4, 1))) {
    v <- rnorm(1, 0, 3)
    n <- sample(2:6, 1)
    y <- 100 + shift[[groups[i]]] + u + v + rnorm(n, 0, 8)
    rows[[length(rows) + 1]] <- data.frame(
      donor_id = d, mouse_id = sprintf("M%d", m), group = groups[i], y = round(y, 4)
    )
    mrows[[length(mrows) + 1]] <- data.frame(
      donor_id = d, mouse_id = sprintf("M%d", m), group = groups[i],
      y_mouse = round(50 + shift[[groups[i]]] / 2 + u / 2 + rnorm(1, 0, 4), 4)
    )
  }
}
cells <- do.call(rbind, rows)
mice <- do.call(rbind, mrows)
write.csv(cells, "donors_input.csv", row.names = FALSE)
write.csv(mice, "donors_input_mice.csv", row.names = FALSE)

effects <- function(fit, data, outcome) {
  fe <- fixef(fit)
  re <- ranef(fit)$donor_id
  vc <- as.data.frame(VarCorr(fit))
  donors <- unique(data[, c("donor_id", "group")])
  fixed <- ifelse(donors$group == "HC", 0, fe[paste0("group", donors$group)])
  data.frame(
    outcome = outcome, donor_id = donors$donor_id, group = donors$group,
    intercept = fe[["(Intercept)"]], fixed_effect = unname(fixed),
    random_effect = re[donors$donor_id, "(Intercept)"],
    effect_shrunken = unname(fixed) + re[donors$donor_id, "(Intercept)"],
    var_donor = vc$vcov[vc$grp == "donor_id"],
    var_mouse = if (any(vc$grp == "donor_id:mouse_id")) vc$vcov[vc$grp == "donor_id:mouse_id"] else NA,
    var_residual = vc$vcov[vc$grp == "Residual"]
  )
}
cells$group <- relevel(factor(cells$group), ref = "HC")
mice$group <- relevel(factor(mice$group), ref = "HC")
f1 <- lmer(y ~ group + (1 | donor_id) + (1 | donor_id:mouse_id), data = cells, REML = TRUE)
f2 <- lmer(y_mouse ~ group + (1 | donor_id), data = mice, REML = TRUE)
out <- rbind(effects(f1, cells, "y"), effects(f2, mice, "y_mouse"))
write.csv(out, "donors_lme4.csv", row.names = FALSE)
cat(sprintf("lme4 %s, %s\n", packageVersion("lme4"), R.version.string), file = "donors_lme4_version.txt")
