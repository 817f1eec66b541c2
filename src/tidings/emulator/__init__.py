"""`tidings emulate`: a throwaway Tidings for test suites (docs/emulator.md).

One process on a temporary SQLite store: the writer is a thread, and the
background workers' passes run one after another on one thread
(`driver.Driver`) instead of each on its own, so that the control API
(`api/emulator.py`) can hold them all still: to forget a workspace's data
(`reset`), to run what is due until nothing is (`Emulator.drain`), and to move
the clock through each due time in order (`Emulator.move_to`).
"""
