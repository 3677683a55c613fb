"""The gateway as an appliance: systemd notification and watchdog, signed updates, first boot.

The service calls :class:`~gateway.appliance.sdnotify.Notifier` and
:class:`~gateway.appliance.watchdog.LoopWatchdog`; ``prepaid-gateway update`` drives
:class:`~gateway.appliance.update.Updater`; the image's first-boot unit runs
``python -m gateway.appliance.firstboot``.
"""
