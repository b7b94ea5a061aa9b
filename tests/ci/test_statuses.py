"""One vocabulary of build statuses: the store, ``/cc.xml`` and the monitor's own-CI source all
name them from ``appliance.ci.statuses``, which the monitor loads without SQLAlchemy."""

import subprocess
import sys

from appliance.ci import statuses
from appliance.ci.views import CCTRAY_STATUS
from appliance.monitor.sources.own_ci import VERDICT_STATES


def test_every_verdict_has_a_cctray_status_and_a_monitor_state():
    assert set(CCTRAY_STATUS) == set(VERDICT_STATES) == set(statuses.VERDICTS)
    assert set(statuses.VERDICTS) | {statuses.CANCELLED} == set(statuses.RESULTS)


def test_the_monitor_reads_the_statuses_without_the_servers_libraries():
    code = (
        "import sys\n"
        "import appliance.monitor.sources.own_ci\n"
        "print(sorted({'sqlalchemy', 'flask'} & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
