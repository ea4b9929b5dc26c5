import logging
from shop.orders import average
logging.basicConfig(format="%(asctime)s %(levelname)s [%(name)s] %(message)s", level=logging.INFO)
log = logging.getLogger("worker")
try:
    average([])
except Exception:
    log.exception("job failed")
