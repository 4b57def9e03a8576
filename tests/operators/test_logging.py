"""JSON log lines carry the job id of the job they were written in."""

import io
import json
import logging

from backup.jobs import registry, runner
from backup.jobs.logging import JobIdFilter
from backup.jobs.models import Job, JobStatus, Operation
from portal.logging import JobJsonFormatter


def test_every_line_of_a_job_carries_its_id(alpha, monkeypatch):
    def noisy_handler(ctx):
        logging.getLogger("backup.vms.test").info("checking chunks of %s", ctx.job.item_name)

    monkeypatch.setitem(registry.HANDLERS, Operation.VERIFY, noisy_handler)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JobJsonFormatter())
    handler.addFilter(JobIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        job = Job.objects.create(subscription=alpha, operation=Operation.VERIFY, item_name="Payroll")
        runner.run(job.pk)  # the runner itself, in this process (the worker calls the same function)
        logging.getLogger("backup.other").info("after the job")
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    during = [line for line in lines if line["message"] != "after the job"]
    assert {line["message"] for line in during} >= {"checking chunks of Payroll"}
    assert all(line["job_id"] == job.pk for line in during)
    assert {"time", "level", "logger"} <= set(during[0])
    assert lines[-1]["job_id"] is None
