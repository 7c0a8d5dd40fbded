"""Run a flow in a background thread and get its result (or exception) later."""

import concurrent.futures as cf

_pool = cf.ThreadPoolExecutor(4)


def run_in_thread(fn, **kwargs) -> cf.Future:
    return _pool.submit(fn, **kwargs)
