"""Start the feed: ``python -m services.feed [--config configs/dev.yaml]``."""

from services.feed.service import FeedService
from shared.runtime.service import service_main

if __name__ == "__main__":
    raise SystemExit(service_main(FeedService))
