"""What the jobs app tells the apps above it, so they can watch jobs without the runner knowing them."""

from django.dispatch import Signal

# Sent once a job has its final status (after its clean-up, which may turn a failure into Completed), outside
# the transaction that wrote it: job=Job. A receiver's error is logged, never the job's.
job_finished = Signal()
