"""The appliance's own CI: an observer queues commits, the dispatcher in the server leases them to
runners that pull work, run it in clean checkouts and report. State lives in the database."""
