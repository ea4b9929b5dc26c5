import json, logging, traceback, sys
from shop.orders import average
class JsonFormatter(logging.Formatter):
    def format(self, record):
        out = {"ts": self.formatTime(record), "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(out)
h = logging.StreamHandler(sys.stderr); h.setFormatter(JsonFormatter())
log = logging.getLogger("worker"); log.addHandler(h); log.setLevel(logging.INFO)
log.info("starting")
try:
    average([])
except Exception:
    log.exception("job failed")
log.info("next job")
