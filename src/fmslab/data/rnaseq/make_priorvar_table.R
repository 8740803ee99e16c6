# Tables behind fmslab's dispersion prior variance with <= 3 residual degrees of freedom
# (fmslab.rnaseq.priorvar). Usage, from the repository root (Debian r-bioc-deseq2 1.38.3):
#
#     Rscript src/fmslab/data/rnaseq/make_priorvar_table.R [../shared/data/rnaseq/cerebellum_gse96870]
#
# With few residual degrees of freedom DESeq2 chooses the prior variance of the log dispersions by
# comparing the histogram of the observed log residuals log(dispGeneEst / dispFit) with simulated
# ones, log(chi2_df / df) + N(0, v), for 200 candidate variances v in [0, 8], after set.seed(2);
# the divergence curve is smoothed with loess(span = 0.2) and minimised on a 1000-point grid.
# Everything in that computation except the observed histogram depends only on R's fixed seed
# and on df, so it is tabulated here:
#
#   priorvar_sim_counts.csv  df, grid index (1..200), counts of the 10,000 simulated values in
#                            the 40 half-unit bins of (-10, 10] (right-closed, as hist())
#   priorvar_loess.csv.gz    the loess smoother as a linear operator (loess with gaussian family
#                            is linear in y): entries (fine index, coarse index, weight) with
#                            |weight| > 1e-14, so predict(loess(y ~ grid, span = 0.2), fine)
#                            equals sum_j weight * y_j
#
# The script then checks the tables against DESeq2's own estimateDispersionsPriorVar() on
# subsets of the GSE96870 samples with 1, 2 and 3 residual df and stops if any value differs.

suppressPackageStartupMessages(library(DESeq2))

args <- commandArgs(trailingOnly = TRUE)
shared <- if (length(args) >= 1) args[1] else "../shared/data/rnaseq/cerebellum_gse96870"
out <- "src/fmslab/data/rnaseq"

breaks <- -20:20 / 2
grid <- seq(0, 8, length.out = 200)
fine <- seq(0, 8, length.out = 1000)
n_draws <- 10000

bin_counts <- function(x) {
  x <- x[x > -10 & x < 10]
  hist(x, breaks = breaks, plot = FALSE)$counts
}

rows <- list()
for (df in 1:3) {
  set.seed(2)
  for (i in seq_along(grid)) {
    sim <- log(rchisq(n_draws, df)) + rnorm(n_draws, 0, sqrt(grid[i])) - log(df)
    rows[[length(rows) + 1]] <- c(df, i, bin_counts(sim))
  }
}
sim <- as.data.frame(do.call(rbind, rows))
names(sim) <- c("df", "grid_index", sprintf("bin%02d", 1:40))
write.csv(sim, file.path(out, "priorvar_sim_counts.csv"), row.names = FALSE)

op <- sapply(seq_along(grid), function(j) {
  y <- numeric(length(grid))
  y[j] <- 1
  predict(loess(y ~ grid, span = 0.2), fine)
})
nz <- which(abs(op) > 1e-14, arr.ind = TRUE)
con <- gzfile(file.path(out, "priorvar_loess.csv.gz"), "w")
write.csv(data.frame(fine_index = nz[, 1], coarse_index = nz[, 2], weight = signif(op[nz], 15)),
          con, row.names = FALSE)
close(con)

# The same computation in R from the tables, checked against DESeq2.
from_tables <- function(logres, df) {
  obs <- bin_counts(logres)
  obs <- obs / (sum(obs) * 0.5)
  s <- as.matrix(sim[sim$df == df, -(1:2)])
  dens <- s / (rowSums(s) * 0.5)
  kl <- apply(dens, 1, function(p) {
    small <- min(c(obs, p)[c(obs, p) > 0])
    sum(obs * (log(obs + small) - log(p + small)))
  })
  max(fine[which.min(op %*% kl)], 0.25)
}

counts_all <- as.matrix(read.csv(file.path(shared, "GSE96870_counts_cerebellum.csv"),
                                 row.names = 1, check.names = FALSE))
meta_all <- read.csv(file.path(shared, "GSE96870_coldata_cerebellum.csv"), row.names = 1)
checks <- list(
  list(ids = c("GSM2545337", "GSM2545343", "GSM2545336", "GSM2545341"), design = ~ sex + time),
  list(ids = c("GSM2545337", "GSM2545338", "GSM2545336", "GSM2545342"), design = ~ time),
  list(ids = c("GSM2545337", "GSM2545338", "GSM2545343", "GSM2545336", "GSM2545342"),
       design = ~ sex + time),
  list(ids = c("GSM2545348", "GSM2545353", "GSM2545349", "GSM2545351", "GSM2545380",
               "GSM2545346"), design = ~ sex + time),
  list(ids = c("GSM2545337", "GSM2545338", "GSM2545339", "GSM2545344", "GSM2545336",
               "GSM2545342"), design = ~ time)
)
for (chk in checks) {
  cts <- counts_all[, chk$ids]
  cts <- cts[rowSums(cts) >= 10, ]
  cd <- data.frame(sex = factor(meta_all[chk$ids, "sex"]), time = factor(meta_all[chk$ids, "time"]))
  dds <- DESeqDataSetFromMatrix(cts, cd, chk$design)
  dds <- estimateSizeFactors(dds)
  dds <- estimateDispersionsGeneEst(dds, quiet = TRUE)
  dds <- estimateDispersionsFit(dds, quiet = TRUE)
  r_value <- estimateDispersionsPriorVar(dds)
  df <- ncol(dds) - ncol(model.matrix(chk$design, cd))
  use <- !is.na(mcols(dds)$dispGeneEst) & mcols(dds)$dispGeneEst >= 1e-6
  logres <- log(mcols(dds)$dispGeneEst[use]) - log(mcols(dds)$dispFit[use])
  ours <- from_tables(logres, df)
  message(sprintf("df %d: DESeq2 %.10g, tables %.10g", df, r_value, ours))
  if (abs(ours - r_value) > 1e-12) stop("tables do not reproduce estimateDispersionsPriorVar")
}
