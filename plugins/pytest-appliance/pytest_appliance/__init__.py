"""pytest plugins for the build-status appliance, one subpackage each (``orchestration``, ``progress``)."""
