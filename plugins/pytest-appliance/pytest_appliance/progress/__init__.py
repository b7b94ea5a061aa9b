"""Live progress reports of any pytest session to the appliance's tracker (``/tm_api/``)."""
