# Reference results for tests/test_compare_designs.py, made with Debian bookworm's R 4.2,
# r-cran-lme4, r-cran-lmertest and r-cran-emmeans (needed only to remake this table):
#   Rscript tests/data/compare/designs_reference.R      (from the repository root)
# Inputs: design_k4.csv, design_timecourse.csv, design_invitro.csv (made by make_designs.py).
# Every fit is REML (lmer default); bobyqa is run to a tight tolerance so that the comparison
# measures the arithmetic, not where two optimisers stop on a flat optimum.
# Satterthwaite df everywhere: emmeans with lmer.df = "satterthwaite", lmerTest for F tests.
suppressMessages({library(lmerTest); library(emmeans); library(splines)})
emm_options(lmer.df = "satterthwaite", lmerTest.limit = 1e5, pbkrtest.limit = 0)
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e6))
here <- "tests/data/compare"
rows <- list()
put <- function(dataset, model, test, contrast, day, quantity, value) {
  rows[[length(rows) + 1]] <<- data.frame(dataset = dataset, model = model, test = test,
    contrast = contrast, day = day, quantity = quantity, value = value)
}
weights <- function(levels, target, reference) {
  w <- setNames(numeric(length(levels)), levels); w[target] <- 1; w[reference] <- -1; w
}
planned <- function(dataset, model, fit, emm, contrasts, test = "contrast") {
  lv <- levels(emm)$group
  method <- lapply(contrasts, function(cn) { p <- strsplit(cn, " - ")[[1]]; weights(lv, p[1], p[2]) })
  names(method) <- contrasts
  s <- as.data.frame(summary(contrast(emm, method = method, adjust = "none"), infer = TRUE))
  day <- if ("day" %in% names(s)) as.numeric(as.character(s$day)) else
    if ("dayf" %in% names(s)) as.numeric(as.character(s$dayf)) else NA
  p_holm <- p.adjust(s$p.value, "holm")
  for (i in seq_len(nrow(s))) {
    d <- if (length(day) > 1) day[i] else day
    for (q in c("estimate", "SE", "df", "lower.CL", "upper.CL", "t.ratio", "p.value"))
      put(dataset, model, test, as.character(s$contrast[i]), d, q, s[[q]][i])
    put(dataset, model, test, as.character(s$contrast[i]), d, "p_holm", p_holm[i])
  }
}
omnibus <- function(dataset, model, fit, emm, reference, test = "omnibus") {
  L <- contrast(emm, method = "trt.vs.ctrl", ref = which(levels(emm)$group == reference))@linfct
  ct <- contest(fit, L, joint = TRUE)
  put(dataset, model, test, "", NA, "F", ct[["F value"]])
  put(dataset, model, test, "", NA, "df_num", ct[["NumDF"]])
  put(dataset, model, test, "", NA, "df_den", ct[["DenDF"]])
  put(dataset, model, test, "", NA, "p", ct[["Pr(>F)"]])
}
fitinfo <- function(dataset, model, fit) {
  vc <- as.data.frame(VarCorr(fit))
  for (i in seq_len(nrow(vc))) put(dataset, model, "variance", vc$grp[i], NA, "value", vc$vcov[i])
  put(dataset, model, "fit", "", NA, "reml_loglik", as.numeric(logLik(fit)))
  co <- summary(fit)$coefficients
  for (i in seq_len(nrow(co))) {
    put(dataset, model, "coefficient", rownames(co)[i], NA, "estimate", co[i, 1])
    put(dataset, model, "coefficient", rownames(co)[i], NA, "se", co[i, 2])
    put(dataset, model, "coefficient", rownames(co)[i], NA, "df", co[i, 3])
  }
}
interaction <- function(dataset, model, fit, term) {
  a <- anova(fit)  # type III, Satterthwaite
  put(dataset, model, "group_x_day", "", NA, "F", a[term, "F value"])
  put(dataset, model, "group_x_day", "", NA, "df_num", a[term, "NumDF"])
  put(dataset, model, "group_x_day", "", NA, "df_den", a[term, "DenDF"])
  put(dataset, model, "group_x_day", "", NA, "p", a[term, "Pr(>F)"])
}
three <- c("RA_FMS - RA_noFMS", "RA_FMS - HC", "FMS - HC")

# 1. k = 4 groups with donor and cell covariates, donor > mouse > cell
d <- read.csv(file.path(here, "design_k4.csv"))
d$group <- factor(d$group, levels = c("HC", "FMS", "RA_FMS", "RA_noFMS"))
fit <- lmer(rheobase_pA ~ group + age + sex + igg_batch + capacitance_pF + (1 | donor_id) +
            (1 | donor_id:mouse_id), data = d, control = ctrl)
emm <- emmeans(fit, ~ group)
fitinfo("k4", "cells", fit); omnibus("k4", "cells", fit, emm, "HC")
planned("k4", "cells", fit, emm, three)

# 2. time course, donor > mouse > day, day as factor / linear / natural spline (3 df)
d <- read.csv(file.path(here, "design_timecourse.csv"))
d$group <- factor(d$group, levels = c("HC", "FMS", "RA_FMS", "RA_noFMS"))
d$dayf <- factor(d$day)
days <- sort(unique(d$day))
fit <- lmer(log10_threshold_g ~ group * dayf + sex + (1 | donor_id) + (1 | donor_id:mouse_id),
            data = d, control = ctrl)
fitinfo("timecourse", "factor", fit)
emm <- emmeans(fit, ~ group)  # averaged over days with equal weights
omnibus("timecourse", "factor", fit, emm, "HC"); planned("timecourse", "factor", fit, emm, three)
planned("timecourse", "factor", fit, emmeans(fit, ~ group | dayf), three, test = "per_day")
interaction("timecourse", "factor", fit, "group:dayf")
fit <- lmer(log10_threshold_g ~ group * day + sex + (1 | donor_id) + (1 | donor_id:mouse_id),
            data = d, control = ctrl)
fitinfo("timecourse", "linear", fit)
emm <- emmeans(fit, ~ group, at = list(day = days))
omnibus("timecourse", "linear", fit, emm, "HC"); planned("timecourse", "linear", fit, emm, three)
planned("timecourse", "linear", fit, emmeans(fit, ~ group | day, at = list(day = days)), three,
        test = "per_day")
interaction("timecourse", "linear", fit, "group:day")
fit <- lmer(log10_threshold_g ~ group * ns(day, df = 3) + sex + (1 | donor_id) +
            (1 | donor_id:mouse_id), data = d, control = ctrl)
fitinfo("timecourse", "spline", fit)
emm <- emmeans(fit, ~ group, at = list(day = days))
omnibus("timecourse", "spline", fit, emm, "HC"); planned("timecourse", "spline", fit, emm, three)
planned("timecourse", "spline", fit, emmeans(fit, ~ group | day, at = list(day = days)), three,
        test = "per_day")
interaction("timecourse", "spline", fit, "group:ns(day, df = 3)")

# 3. in vitro: donor > dish > cell, no mice
d <- read.csv(file.path(here, "design_invitro.csv"))
d$group <- factor(d$group, levels = c("HC", "FMS", "RA_FMS"))
fit <- lmer(rheobase_pA ~ group + igg_batch + capacitance_pF + (1 | donor_id) +
            (1 | donor_id:dish_id), data = d, control = ctrl)
emm <- emmeans(fit, ~ group)
fitinfo("invitro", "cells", fit); omnibus("invitro", "cells", fit, emm, "HC")
planned("invitro", "cells", fit, emm, c("FMS - HC", "RA_FMS - HC", "RA_FMS - FMS"))

out <- do.call(rbind, rows)
write.csv(out, file.path(here, "designs_reference.csv"), row.names = FALSE)
cat(sprintf("R %s, lme4 %s, lmerTest %s, emmeans %s: %d rows\n", getRversion(),
    packageVersion("lme4"), packageVersion("lmerTest"), packageVersion("emmeans"), nrow(out)))
