"""healbot's demo traffic driver: runs a service's real code on a request mix and reports
what happened to every request, measured, never scripted.

Usage: python3 driver.py SERVICE_DIR REQUESTS SEED
Prints one JSON object: {"requests": [...], "tracebacks": [...], "cpu_seconds", "max_rss_kb"}.
"""

import json
import random
import resource
import sys
import time
import traceback


def peak_rss_kb(usage) -> int:
    """This process's own peak RSS. `ru_maxrss` survives exec on Linux, so after a fork from a
    large parent it reports the parent's size; the address space's high-water mark (VmHWM) is
    reset by exec and is the driver's own."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return usage.ru_maxrss


def main() -> None:
    service_dir, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sys.path.insert(0, service_dir)
    import ledger  # noqa: E402
    import payment_processor  # noqa: E402

    # Time the database round trip separately, so postgres_primary gets its own evidence.
    db_time = [0.0]
    original_charge = ledger.Ledger.charge

    def timed_charge(self, account_id, amount_cents):
        start = time.perf_counter()
        try:
            return original_charge(self, account_id, amount_cents)
        finally:
            db_time[0] = (time.perf_counter() - start) * 1000.0

    ledger.Ledger.charge = timed_charge

    # Warm up (imports, caches, allocator) so that a short run is not judged by its cold start.
    warm = random.Random(-seed - 1)
    for _ in range(50):
        try:
            payment_processor.process_payment(f"warmup-{warm.randrange(1_000_000)}", 100)
        except Exception:
            pass

    rng = random.Random(seed)
    requests, tracebacks = [], []
    for i in range(count):
        # Checkout traffic comes through order-service, account top-ups through user-service.
        caller = "order-service" if rng.random() < 0.7 else "user-service"
        user_id = f"user-{rng.randrange(1_000_000)}"
        amount = rng.randrange(100, 50_000)
        db_time[0] = 0.0
        start = time.perf_counter()
        error = None
        try:
            payment_processor.process_payment(user_id, amount)
        except Exception as exc:  # the service's own failures are what we measure
            error = f"{type(exc).__name__}: {exc}"
            if len(tracebacks) < 3:
                tracebacks.append(traceback.format_exc())
        latency_ms = (time.perf_counter() - start) * 1000.0
        requests.append(
            {
                "caller": caller,
                "ok": error is None,
                "latency_ms": round(latency_ms, 4),
                "db_ms": round(db_time[0], 4),
                "error": error,
            }
        )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    json.dump(
        {
            "requests": requests,
            "tracebacks": tracebacks,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "max_rss_kb": peak_rss_kb(usage),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
