"""A polling loop on a thread, the shape every local event source shares."""

import threading
import traceback


class Poller(threading.Thread):
    """`setup()` once, then `poll()` until stopped. `ready` is set once setup is done (a
    Kinesis poller has its LATEST iterators, a tap is subscribed), so events sent after it
    are seen; an error ends the loop and is reported by `stop()`, never swallowed."""

    def __init__(self, name):
        super().__init__(name=name, daemon=True)
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.failure = None

    def setup(self):
        """Runs on the thread before the first poll."""

    def poll(self):
        raise NotImplementedError

    def run(self):
        try:
            self.setup()
            self.ready.set()
            while not self.stopping.is_set():
                self.poll()
        except Exception:  # reported by stop()
            self.failure = f"{self.name}:\n{traceback.format_exc()}"
        finally:
            self.ready.set()

    def stop(self, timeout=90):
        """Stops the loop; returns its failure (or None)."""
        self.stopping.set()
        self.join(timeout)
        if self.is_alive():
            return f"{self.name} did not stop within {timeout} s"
        return self.failure
