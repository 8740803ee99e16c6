# R DESeq2 reference tables for fmslab's DE engine (tests/test_rnaseq_reference.py).
#
# Usage, from the repository root (Debian: apt-get install r-bioc-deseq2, DESeq2 1.38.3):
#
#     Rscript tests/data/rnaseq/make_reference.R [../shared/data/rnaseq/cerebellum_gse96870]
#
# Inputs: the GSE96870 mouse cerebellum counts in ../shared (see ../shared/README.md). Each design is
# a set of samples (or pseudo-samples built from them, recipe below), a formula and the results
# requested; genes with a total count >= 10 over the design's samples are kept. For every design
# <name>/ holds:
#   coldata.csv         the sample sheet (column `sources`: the GSE96870 samples a pseudo-sample
#                       is built from, `;`-separated; its counts are floor(sum / n_sources) of
#                       floor(counts / divisor), divisor in config.json)
#   config.json         design, contrasts, and R's scalar results (prior variance, trend
#                       coefficients, independent-filtering threshold per contrast, beta prior
#                       variances of lfcShrink(type = "normal"))
#   genes.csv.gz        per gene: size-factor-independent mcols (baseMean, dispGeneEst,
#                       dispGeneIter, dispFit, dispMAP, dispersion, dispOutlier, maxCooks, replace)
#   sizefactors.csv     per sample
#   results_<id>.csv.gz per contrast: results() columns (+ lfcShrink(type = "normal") columns)
# Floats are written with 10 significant digits.

suppressPackageStartupMessages(library(DESeq2))
library(jsonlite)

args <- commandArgs(trailingOnly = TRUE)
shared <- if (length(args) >= 1) args[1] else "../shared/data/rnaseq/cerebellum_gse96870"
out_root <- "tests/data/rnaseq"

counts_all <- as.matrix(read.csv(file.path(shared, "GSE96870_counts_cerebellum.csv"),
                                 row.names = 1, check.names = FALSE))
meta_all <- read.csv(file.path(shared, "GSE96870_coldata_cerebellum.csv"), row.names = 1)
full_ids <- read.csv(file.path(shared, "reference", "mouse_cerebellum", "coldata.csv"))$sample
small_ids <- read.csv(file.path(shared, "reference", "cerebellum_small", "coldata.csv"))$sample

sig <- function(x) if (is.numeric(x)) signif(x, 10) else x

write_gz <- function(df, path) {
  con <- gzfile(path, "w")
  write.csv(df, con, row.names = FALSE, na = "NA")
  close(con)
}

# Pseudo-samples for the 50-sample benchmark design: within each sex x time cell (samples in
# the order of the full design's sheet), the originals, the floor-mean of each sample with the
# next one of its cell (cyclically), and the floor-mean of the cell's first three samples.
fifty <- function() {
  sheet <- meta_all[full_ids, c("sex", "time")]
  rows <- list()
  for (cell in unique(paste(sheet$sex, sheet$time))) {
    ids <- full_ids[paste(sheet$sex, sheet$time) == cell]
    n <- length(ids)
    src <- c(as.list(ids), lapply(seq_len(n), function(i) ids[c(i, i %% n + 1)]), list(ids[1:3]))
    for (k in seq_along(src)) {
      s <- src[[k]]
      rows[[length(rows) + 1]] <- data.frame(
        sample = sprintf("%s_%s_%02d", sheet[ids[1], "sex"], sheet[ids[1], "time"], k),
        sex = sheet[ids[1], "sex"], time = sheet[ids[1], "time"],
        sources = paste(s, collapse = ";"))
    }
  }
  do.call(rbind, rows)
}

plain <- function(ids) {
  data.frame(sample = ids, sex = meta_all[ids, "sex"], time = meta_all[ids, "time"],
             sources = ids)
}

build_counts <- function(coldata, divisor) {
  base <- floor(counts_all / divisor)
  m <- sapply(strsplit(coldata$sources, ";"), function(s) {
    floor(rowSums(base[, s, drop = FALSE]) / length(s))
  })
  m <- matrix(as.integer(m), nrow = nrow(base), dimnames = list(rownames(base), coldata$sample))
  m[rowSums(m) >= 10, , drop = FALSE]
}

designs <- list(
  full = list(coldata = plain(full_ids), design = "~ sex + time",
              contrasts = list(d8 = c("time", "Day8", "Day0"), d8_d4 = c("time", "Day8", "Day4")),
              shrink = c("d8", "d8_d4")),
  small = list(coldata = plain(small_ids), design = "~ sex + time",
               contrasts = list(d8 = c("time", "Day8", "Day0")), shrink = "d8"),
  three6 = list(coldata = plain(c("GSM2545337", "GSM2545338", "GSM2545339", "GSM2545344",
                                  "GSM2545336", "GSM2545342")),
                design = "~ time",
                contrasts = list(d4 = c("time", "Day4", "Day0"), d8_d4 = c("time", "Day8", "Day4")),
                shrink = c("d4", "d8_d4")),
  interaction = list(coldata = plain(full_ids), design = "~ sex + time + sex:time",
                     contrasts = list(d8_female = c("time", "Day8", "Day0"),
                                      int_d8 = "sexMale.timeDay8",
                                      d8_male = list("time_Day8_vs_Day0", "sexMale.timeDay8")),
                     shrink = character(0)),
  lrt = list(coldata = plain(full_ids), design = "~ sex + time", reduced = "~ sex",
             contrasts = list(time = "time_Day8_vs_Day0"), shrink = character(0)),
  lowcount = list(coldata = plain(full_ids), design = "~ sex + time", divisor = 20,
                  contrasts = list(d8 = c("time", "Day8", "Day0")), shrink = "d8"),
  n50 = list(coldata = fifty(), design = "~ sex + time",
             contrasts = list(d8 = c("time", "Day8", "Day0")), shrink = "d8")
)

for (name in names(designs)) {
  d <- designs[[name]]
  divisor <- if (is.null(d$divisor)) 1 else d$divisor
  cd <- d$coldata
  cts <- build_counts(cd, divisor)
  cdf <- data.frame(sex = factor(cd$sex), time = factor(cd$time), row.names = cd$sample)
  dds <- DESeqDataSetFromMatrix(cts, cdf, as.formula(d$design))
  t0 <- proc.time()[["elapsed"]]
  if (is.null(d$reduced)) {
    dds <- DESeq(dds, quiet = TRUE)
  } else {
    dds <- DESeq(dds, test = "LRT", reduced = as.formula(d$reduced), quiet = TRUE)
  }
  mc <- mcols(dds)
  cooks <- assays(dds)[["cooks"]]
  genes <- data.frame(
    gene = rownames(dds), baseMean = mc$baseMean, dispGeneEst = mc$dispGeneEst,
    dispGeneIter = mc$dispGeneIter, dispFit = mc$dispFit, dispMAP = mc$dispMAP,
    dispersion = mc$dispersion, dispOutlier = mc$dispOutlier,
    maxCooks = apply(cooks, 1, function(x) if (all(is.na(x))) NA else max(x, na.rm = TRUE)),
    replace = if (is.null(mc$replace)) FALSE else mc$replace,
    allZero = mc$allZero)
  dir <- file.path(out_root, name)
  dir.create(dir, showWarnings = FALSE, recursive = TRUE)
  write.csv(cd, file.path(dir, "coldata.csv"), row.names = FALSE)
  write_gz(data.frame(lapply(genes, sig)), file.path(dir, "genes.csv.gz"))
  write.csv(data.frame(sample = colnames(dds), size_factor = sig(sizeFactors(dds))),
            file.path(dir, "sizefactors.csv"), row.names = FALSE)
  disp_fun <- dispersionFunction(dds)
  info <- list(design = d$design, reduced = d$reduced, divisor = divisor,
               n_genes = nrow(dds), n_samples = ncol(dds), resultsNames = resultsNames(dds),
               dispPriorVar = attr(disp_fun, "dispPriorVar"),
               varLogDispEsts = attr(disp_fun, "varLogDispEsts"),
               trend = as.list(attr(disp_fun, "coefficients")),
               deseq_seconds = proc.time()[["elapsed"]] - t0,
               deseq2 = as.character(packageVersion("DESeq2")), r = R.version.string,
               contrasts = list(), filterThreshold = list(), betaPriorVar = list())
  for (id in names(d$contrasts)) {
    con <- d$contrasts[[id]]
    if (is.character(con) && length(con) == 1) {
      res <- results(dds, name = con, alpha = 0.05)
    } else {
      res <- results(dds, contrast = con, alpha = 0.05)
    }
    tab <- data.frame(gene = rownames(res), baseMean = res$baseMean,
                      log2FoldChange = res$log2FoldChange, lfcSE = res$lfcSE, stat = res$stat,
                      pvalue = res$pvalue, padj = res$padj)
    if (id %in% d$shrink) {
      shr <- lfcShrink(dds, contrast = con, type = "normal", quiet = TRUE)
      tab$log2FC_shrunk_normal <- shr$log2FoldChange
      tab$lfcSE_shrunk_normal <- shr$lfcSE
      info$betaPriorVar[[id]] <- as.list(priorInfo(shr)$betaPriorVar)
    }
    write_gz(data.frame(lapply(tab, sig)), file.path(dir, sprintf("results_%s.csv.gz", id)))
    info$contrasts[[id]] <- con
    info$filterThreshold[[id]] <- unname(metadata(res)$filterThreshold)
  }
  write(toJSON(info, auto_unbox = TRUE, digits = 12, pretty = TRUE), file.path(dir, "config.json"))
  message(name, ": ", nrow(dds), " genes, ", ncol(dds), " samples, prior var ",
          signif(attr(disp_fun, "dispPriorVar"), 6))
}
