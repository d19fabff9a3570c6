"""Settings every process of the package gets when it imports it."""

import subprocess
import sys


def _thresholds_after_import(before: str = "") -> str:
    code = f"import gc; {before}import monitoring_pipeline; print(gc.get_threshold())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_cycle_scans_are_rarer_unless_the_process_chose_its_own():
    assert _thresholds_after_import() == "(50000, 20, 20)"
    assert _thresholds_after_import("gc.set_threshold(5000, 5, 5); ") == "(5000, 5, 5)"
