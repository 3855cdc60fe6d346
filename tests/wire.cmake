nox_unit_test(test_wire)
nox_unit_test(test_quantity)
# Fails allocations one by one; replaces malloc, so it is its own executable.
nox_unit_test(test_wire_oom)
