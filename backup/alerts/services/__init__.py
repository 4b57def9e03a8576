"""incidents: raise, resolve, acknowledge, route to targets; delivery: send with retries; checks: what beat
evaluates; receivers: the signals alerts are raised from."""
