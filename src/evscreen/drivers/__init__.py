"""Sources of vehicle data: one module per kind of hardware, plus the simulated vehicle.

Modules are imported lazily through :mod:`evscreen.drivers.registry`, so a package that only a
Raspberry Pi has can never break ``import evscreen`` elsewhere.
"""
