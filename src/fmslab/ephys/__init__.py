"""Current-clamp excitability: reading, spike detection, per-sweep and per-cell features, QC."""
