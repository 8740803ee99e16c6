"""Studies: a folder with ``study.yaml`` and sample sheets (donors, mice, recordings, unblinding key)."""

from fmslab.study.blinding import unblind
from fmslab.study.model import Study, load_study
from fmslab.study.validate import Problem, validate_study

__all__ = ["Problem", "Study", "load_study", "unblind", "validate_study"]
