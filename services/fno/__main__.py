"""Start the futures engine: ``python -m services.fno [--config configs/dev.yaml]``."""

from services.fno.service import FnoService
from shared.runtime.service import service_main

if __name__ == "__main__":
    raise SystemExit(service_main(FnoService))
