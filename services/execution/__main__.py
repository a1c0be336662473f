"""Start execution: ``python -m services.execution [--config configs/dev.yaml]``."""

from services.execution.service import ExecutionService
from shared.runtime.service import service_main

if __name__ == "__main__":
    raise SystemExit(service_main(ExecutionService))
