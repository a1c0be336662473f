"""Start the risk service: ``python -m services.risk [--config configs/dev.yaml]``."""

from services.risk.service import RiskService
from shared.runtime.service import service_main

if __name__ == "__main__":
    raise SystemExit(service_main(RiskService))
