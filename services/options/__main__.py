"""Start the options engine: ``python -m services.options [--config configs/dev.yaml]``."""

from services.options.service import OptionsService
from shared.runtime.service import service_main

if __name__ == "__main__":
    raise SystemExit(service_main(OptionsService))
