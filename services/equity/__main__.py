"""Start the equity engine: ``python -m services.equity [--config configs/dev.yaml]``."""

from services.equity.service import EquityService
from shared.runtime.service import service_main

if __name__ == "__main__":
    raise SystemExit(service_main(EquityService))
