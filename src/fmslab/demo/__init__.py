"""Simulated demo study with known ground truth (``fmslab demo``).

Modules: :mod:`~fmslab.demo.design` (donors, codes, cohorts, latent effects),
:mod:`~fmslab.demo.neuron` (conductance model), :mod:`~fmslab.demo.abf_writer` (ABF1 files),
:mod:`~fmslab.demo.ephys`, :mod:`~fmslab.demo.behaviour`, :mod:`~fmslab.demo.skinnerve`,
:mod:`~fmslab.demo.rnaseq` (one simulator per modality) and :mod:`~fmslab.demo.generate`
(writes the study folder, the key and the truth; ``run_demo_analyses`` is the analysis hook).
"""

from fmslab.demo.design import DemoConfig
from fmslab.demo.generate import DemoLayout, generate_demo, run_demo_analyses

__all__ = ["DemoConfig", "DemoLayout", "generate_demo", "run_demo_analyses"]
