"""SIGTERM sent the moment blockd prints its listening line drains and
exits 0 (the handlers are installed before the line is printed), and
SIGINT does the same."""
import signal
import unittest

from blockd_testlib import Daemon


class Signals(unittest.TestCase):
    def test_sigterm_right_after_start_exits_cleanly(self):
        for _ in range(25):
            d = Daemon()
            d.stop()  # SIGTERM immediately; fails unless exit status is 0

    def test_sigint_exits_cleanly(self):
        d = Daemon()
        self.assertEqual(d.get("/v1/health").status_code, 200)
        d.proc.send_signal(signal.SIGINT)
        d.proc.wait(timeout=60)
        d.stop()  # fails unless exit status is 0

    def test_second_signal_during_drain_is_absorbed(self):
        for _ in range(10):
            d = Daemon()
            d.proc.send_signal(signal.SIGTERM)
            d.proc.send_signal(signal.SIGTERM)
            d.stop()  # fails unless exit status is 0


if __name__ == "__main__":
    unittest.main()
