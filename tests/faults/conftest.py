"""The fault suite: the console against servers that die, stall, race and refuse.

Every test records its figure (recovery time, ids lost / duplicated, commands counted) with
`faultkit.figure`; the run lists them in its "fault suite figures" section (tests/conftest.py).
Tests marked `once` add nothing per server: they run in the default-server run only.
"""
