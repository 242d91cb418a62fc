"""Scheduled failover drills (``[[service.drills]]``; omapifo/_drill.py does the work).

Each drill is an APScheduler cron job (crontab fields in UTC) on a scheduler of its own,
in one thread: drills never overlap one another, and a long one (a recovery waits one
MCLT) never holds back the polls. A drill is audited through the pair's own sink (the
service's store), so its maintenance shows in omapifo_maintenance_in_progress and holds
back the alerts it explains. Its result is exported as metrics (in memory: a restarted
service has none until the next drill) and its report is the audit record's detail.
"""
from __future__ import annotations

import logging
from datetime import timezone

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from omapifo import (ConfigError, DrillConfig, DrillReport, FailoverPair, command_start,
                     run_drill)

from . import logs
from .metrics import Metrics

log = logging.getLogger("omapifo.api.drills")
ACTOR = "service:drill"


def trigger(drill: DrillConfig, where: str) -> CronTrigger:
    """The drill's schedule as a trigger in UTC; ConfigError names it when APScheduler
    does not take it (the configuration checked the shape only)."""
    try:
        return CronTrigger.from_crontab(drill.schedule, timezone=timezone.utc)
    except ValueError as exc:
        raise ConfigError(f"{where}.schedule {drill.schedule!r}: {exc}") from None


class Drills:
    def __init__(self, drills: tuple[DrillConfig, ...], pairs: dict[str, FailoverPair],
                 metrics: Metrics) -> None:
        self.drills = drills
        self.pairs = pairs
        self.metrics = metrics
        self.triggers = [trigger(d, f"service.drills.{i}") for i, d in enumerate(drills)]
        self._scheduler: BackgroundScheduler | None = None

    def run(self, index: int) -> DrillReport:
        """Drill ``index`` now, as its schedule would."""
        d = self.drills[index]
        pair = self.pairs[d.pair]
        logs.event(logging.WARNING, "drill-start", pair=d.pair, peer=d.peer,
                   detail=f"scheduled drill: the {d.peer} is shut down and started again")
        report = run_drill(pair, d.peer, start=command_start(d.start_command),
                           reason=d.reason, audit=pair.audit_sink, actor=ACTOR)
        self.metrics.observe_drill(report)
        logs.event(logging.INFO if report.completed else logging.ERROR, "drill-end",
                   pair=d.pair, peer=d.peer, detail=report.message)
        return report

    def _job(self, index: int) -> None:
        try:
            self.run(index)
        except Exception:  # noqa: BLE001 - a drill must never kill the scheduler thread
            log.exception("drill %s of %s failed", self.drills[index].peer,
                          self.drills[index].pair)

    def next_runs(self) -> list[tuple[DrillConfig, str]]:
        """Each drill and when it runs next (ISO 8601, UTC), as the scheduler has it."""
        sched = self._scheduler
        jobs = {j.id: j for j in sched.get_jobs()} if sched is not None else {}
        return [(d, jobs[f"drill/{i}"].next_run_time.isoformat()) if f"drill/{i}" in jobs
                else (d, "") for i, d in enumerate(self.drills)]

    def start(self) -> None:
        if not self.drills or self._scheduler is not None:
            return
        sched = BackgroundScheduler(daemon=True, timezone=timezone.utc,
                                    executors={"default": ThreadPoolExecutor(1)})
        for i, trig in enumerate(self.triggers):
            # a drill missed while the service was down is not made up an hour late into
            # the day: misfire_grace_time bounds how late it may still start
            sched.add_job(self._job, trig, args=[i], id=f"drill/{i}", max_instances=1,
                          coalesce=True, misfire_grace_time=600)
        sched.start()
        self._scheduler = sched

    def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
