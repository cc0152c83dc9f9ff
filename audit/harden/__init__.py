"""``audit harden``: turn a run's confirmed drivers and valid variants into a more robust model.

Public API::

    from audit.harden import HardenConfig, load_harden_config, harden, make_plan
    result = harden(run_id, store=RunStore("reports/runs"), out_dir="artifacts/models/gru-hardened")
    result.to_dict()   # before / after / delta, augmentation counts, driver evidence

Modules: config.py (harden.yaml), augment.py (counterfactual copies, adversarial variants,
REAT-mass regulariser), run.py (plan, retrain, re-audit).
"""

from audit.harden.config import HardenConfig, load_harden_config, parse_harden_config
from audit.harden.run import HardenPlan, HardenResult, harden, make_plan

__all__ = ["HardenConfig", "HardenPlan", "HardenResult", "harden", "load_harden_config", "make_plan",
           "parse_harden_config"]
